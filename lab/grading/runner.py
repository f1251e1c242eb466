"""One grade from start to end, and many in parallel.

:func:`grade` stages the submission, runs the exercise's checks (and the hidden
ones) with pytest in this process, and returns the report the plugin built (handed
over in memory; the plugin also writes it to ``results.json`` in the run directory,
the grade's record).  The lab is made fresh
for this submission and stopped on every path; pytest turns Ctrl-C into an exit
code, which is turned back into :class:`KeyboardInterrupt` after teardown.

:func:`grade_batch` grades each folder of a directory in its own ``ringlab grade``
process (a crash or leak in one grade cannot touch another) and writes a CSV.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import pytest

from lab.grading import plugin
from lab.grading.model import CheckResult, Exercise, GradeReport, Status
from lab.grading.session import GradingSession, SubmissionError

#: A grade that takes longer than this has a grader bug: kill it, report no grade.
GRADE_TIMEOUT = 1800.0
#: The plugin's JSON report in a grade's run directory (what a later grade may read back).
RESULTS_FILE = "results.json"
#: pytest's own configuration for a grade: nothing from the project's pytest settings.
PYTEST_INI = """[pytest]
python_files = check_*.py
python_functions = test_*
addopts =
"""


def pytest_args(
    exercise: Exercise,
    grading_dir: Path,
    hidden: Path | None,
    extra: list[str] | None = None,
) -> list[str]:
    ini = grading_dir / "pytest.ini"
    ini.write_text(PYTEST_INI)
    args = [
        str(exercise.checks),
        *([str(hidden)] if hidden else []),
        "-c", str(ini),
        "--rootdir", str(exercise.path),
        "--import-mode=importlib",
        "-p", "lab.grading.plugin",
        "-p", "no:cacheprovider",
        "-p", "no:timeout",  # our budget, not pytest-timeout's
        "-q", "-rN",
        # The plugin is imported before pytest could rewrite its asserts: that is fine.
        "-W", "ignore::pytest.PytestAssertRewriteWarning",
        "--grade-report", str(grading_dir / RESULTS_FILE),
    ]  # fmt: skip
    return args + (extra or [])


def run_checks(
    session: GradingSession,
    hidden: Path | None = None,
    extra: list[str] | None = None,
) -> GradeReport:
    """Run the checks in this process against ``session``'s lab; return the report.

    pytest's own terminal output goes to ``pytest.log`` in the run directory.
    """
    grading_dir = session.lab.run_dir.path
    args = pytest_args(session.exercise, grading_dir, hidden, extra)
    args += ["--submission", str(session.submission)]
    log = grading_dir / "pytest.log"

    class Register:
        """Hands the session to the plugin under its well-known name, and keeps the
        config, in whose stash the plugin leaves the report."""

        config: pytest.Config | None = None

        @pytest.hookimpl(tryfirst=True)
        def pytest_configure(self, config: pytest.Config) -> None:
            self.config = config
            config.pluginmanager.register(session, plugin.SESSION_PLUGIN)

    register = Register()
    # The plugin writes the file afresh: an older one must not pass for this run's.
    (grading_dir / RESULTS_FILE).unlink(missing_ok=True)
    started = time.monotonic()
    with open(log, "a") as sink, contextlib.redirect_stdout(sink):
        code = pytest.main(args, plugins=[register])
    if code == pytest.ExitCode.INTERRUPTED:
        raise KeyboardInterrupt("grading interrupted")
    built = register.config.stash.get(plugin.report_key, None) if register.config else None
    # The plugin's report names the session's exercise and run directory; without one
    # (pytest stopped before the session ended) they are the session's all the same.
    report = (
        built
        if built is not None
        else GradeReport(session.exercise.name, str(session.submission), run_dir=str(grading_dir))
    )
    if not report.results:
        report.errors.append(f"no check ran (pytest exit {int(code)}); see {log}")
    report.execution_time = time.monotonic() - started
    return report


def grade(
    exercise: Exercise,
    submission: Path,
    hidden: Path | None = None,
    label: str | None = None,
) -> GradeReport:
    """Grade one submission in a fresh lab; the lab is gone when this returns or raises."""
    started = time.monotonic()
    try:
        session = GradingSession.create(exercise, submission, label or f"grade-{exercise.name}")
    except SubmissionError as error:
        report = GradeReport(exercise.name, str(submission), errors=[str(error)])
        return _all_failed(report, str(error), exercise, hidden)
    try:
        report = run_checks(session, hidden)
    finally:
        session.close()
    report.submission = str(submission)
    report.execution_time = time.monotonic() - started
    return report


def collect_checks(exercise: Exercise, hidden: Path | None = None) -> list[CheckResult]:
    """Every check of the exercise with its settings, as pytest collects them (none runs)."""
    found: list[CheckResult] = []

    class Collect:
        @pytest.hookimpl(trylast=True)
        def pytest_collection_finish(self, session: pytest.Session) -> None:
            for item in session.items:
                settings = item.stash[plugin.settings_key]
                title = plugin.check_title(item)
                found.append(
                    CheckResult(plugin.check_name(item), title, settings, Status.NOT_RUN, 0.0)
                )

    with (
        tempfile.TemporaryDirectory(prefix="ringlab-collect-") as tmp,
        open(os.devnull, "w") as sink,
        contextlib.redirect_stdout(sink),
    ):
        pytest.main([*pytest_args(exercise, Path(tmp), hidden), "--collect-only"], [Collect()])
    return found


def _all_failed(
    report: GradeReport, why: str, exercise: Exercise, hidden: Path | None
) -> GradeReport:
    """A submission that cannot be graded still gets a report listing every check at 0,
    so its score is out of the exercise's points, as everyone else's."""
    checks = collect_checks(exercise, hidden)
    for check in checks:
        check.output = f"not run: {why}"
    report.results = [
        CheckResult(name="submission", title="the submission can be graded",
                    settings=plugin.CheckSettings(points=0), status=Status.FAILED,
                    score=0.0, output=why),
        *checks,
    ]  # fmt: skip
    return report


# -- many submissions ---------------------------------------------------------------------------


def grade_batch(
    exercise: Exercise,
    root: Path,
    jobs: int,
    out_dir: Path,
    hidden: Path | None = None,
    progress: Callable[[str, GradeReport | None], None] | None = None,
) -> list[tuple[str, GradeReport | None]]:
    """Grade every folder under ``root`` with ``jobs`` graders; write ``grades.csv``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    submissions = sorted(p for p in root.iterdir() if p.is_dir())

    def one(path: Path) -> tuple[str, GradeReport | None]:
        target = out_dir / f"{path.name}.json"
        cmd = [sys.executable, "-m", "lab.cli", "grade", str(exercise.path),
               "--submission", str(path), "--format", "json", "--out", str(target)]  # fmt: skip
        if hidden:
            cmd += ["--hidden", str(hidden)]
        with open(out_dir / f"{path.name}.log", "w") as log:
            try:
                subprocess.run(
                    cmd,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    timeout=GRADE_TIMEOUT,
                )
            except subprocess.TimeoutExpired:  # killed; its guests die with it (PDEATHSIG)
                return path.name, None
        try:
            return path.name, GradeReport.from_json(json.loads(target.read_text()))
        except (OSError, ValueError, KeyError):
            return path.name, None

    results: list[tuple[str, GradeReport | None]] = []
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(one, path) for path in submissions]
        for future in as_completed(futures):
            name, report = future.result()
            results.append((name, report))
            if progress is not None:
                progress(name, report)
    results.sort()
    write_csv(out_dir / "grades.csv", results)
    return results


def write_csv(path: Path, results: list[tuple[str, GradeReport | None]]) -> None:
    names: list[str] = []
    for _, report in results:
        for r in report.results if report else []:
            if r.name not in names:
                names.append(r.name)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["submission", "score", "max_score", "seconds", *names, "error"])
        for name, report in results:
            if report is None:
                writer.writerow([name, 0, "", "", *([""] * len(names)), "the grader failed"])
                continue
            by_name = {r.name: r for r in report.results}
            writer.writerow(
                [name, f"{report.score:g}", f"{report.max_score:g}",
                 f"{report.execution_time:.1f}",
                 *(f"{by_name[n].score:g}" if n in by_name else "" for n in names),
                 "; ".join(report.errors)]
            )  # fmt: skip
