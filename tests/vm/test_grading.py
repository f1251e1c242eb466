"""The grader end to end on the sample exercise (one plain guest, no NIC needed).

The solution scores full marks and the generated starter scores nothing for the
steps it leaves undone; broken submissions (syntax error, hang, kernel crash,
output flood, wrong answers, one that runs the reference solution) grade without
harm, in parallel; Ctrl-C mid-grade leaves no guest behind; the exercise driver
walks the steps on one lab.

A broken submission is the solution with its fault written into it here (:data:`FAULTS`,
made by :func:`tests.vm.helpers.with_fault`), so it can never drift from the solution it
is a variant of; only ``peek``, which is no variant of it, is a fixture.
"""

from __future__ import annotations

import csv
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from lab.grading.starter import FIXTURES
from lab.provision import Platform
from lab.vm import pids_of_our_qemus
from tests.vm.helpers import with_fault

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = FIXTURES / "00-sample"
BROKEN = ROOT / "tests" / "fixtures" / "submissions" / "00-sample"
RINGLAB = [sys.executable, "-m", "lab.cli"]
SQUARES = "    return sum(i * i for i in range(1, n + 1))\n"
DIGEST = "    return hashlib.sha256(Path(path).read_bytes()).hexdigest()\n"
#: The broken submissions: each the solution's answer.py with these ``(old, new)`` edits.
FAULTS = {
    "syntax": [("def squares(n: int) -> int:", "def squares(n: int) -> int")],
    "hang": [(SQUARES, "    while True:  # never returns\n        n += 1\n")],
    "crash": [
        (
            SQUARES,
            '    Path("/proc/sysrq-trigger").write_text("c")  # kills the guest\'s kernel\n'
            "    return 0\n",
        ),
    ],
    "flood": [(DIGEST, '    while True:  # prints forever\n        print("x" * 200)\n')],
    "wrong": [
        (SQUARES, "    return sum(i * i for i in range(n))  # off by one\n"),
        (DIGEST, "    return hashlib.md5(Path(path).read_bytes()).hexdigest()\n"),
    ],
}


def broken(root: Path, name: str) -> Path:
    """The broken submission ``name`` of :data:`FAULTS`, written at ``root / name``."""
    return with_fault(SAMPLE / "solution", root / name, {"answer.py": FAULTS[name]})


def ringlab(*args: str, timeout: float = 200) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*RINGLAB, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )


def test_solution_full_marks_starter_zero_for_undone_steps(
    platform: Platform, tmp_path: Path, runs: Path
) -> None:
    started = time.monotonic()
    done = ringlab(
        "grade", str(SAMPLE), "--submission", str(SAMPLE / "solution"),
        "--hidden", str(SAMPLE / "hidden"), "--format", "gradescope",
        "--out", str(tmp_path / "results.json"),
    )  # fmt: skip
    seconds = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    print(f"one `ringlab grade` of the sample solution: {seconds:.1f} s ({platform.accel})")
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["score"] == 6
    assert all(t["status"] == "passed" for t in results["tests"]), results
    assert [t["visibility"] for t in results["tests"]].count("after_published") == 1
    assert seconds < 60

    starter = ringlab(
        "grade", str(SAMPLE), "--submission", str(SAMPLE / "starter"),
        "--hidden", str(SAMPLE / "hidden"), "--format", "junit",
    )  # fmt: skip
    assert starter.returncode == 0, starter.stderr
    assert 'name="parses"' in starter.stdout
    assert 'name="score" value="1"' in starter.stdout  # only "parses": every step is undone
    assert starter.stdout.count("<failure") == 2 and "NotImplementedError: TODO 1" in starter.stdout
    assert pids_of_our_qemus(runs) == []


def test_broken_submissions_grade_without_harm(
    platform: Platform, tmp_path: Path, runs: Path
) -> None:
    submissions = tmp_path / "submissions"
    shutil.copytree(BROKEN, submissions)  # peek
    for name in FAULTS:
        broken(submissions, name)
    out = tmp_path / "grades"
    done = ringlab(
        "grade-batch", str(SAMPLE), str(submissions), "--jobs", "2",
        "--hidden", str(SAMPLE / "hidden"), "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with open(out / "grades.csv") as handle:
        rows = {row["submission"]: row for row in csv.DictReader(handle)}
    scores = {name: float(row["score"]) for name, row in rows.items()}
    assert scores == {"syntax": 0, "hang": 3, "crash": 3, "flood": 4, "wrong": 1, "peek": 1}, rows
    assert all(row["error"] == "" for row in rows.values())

    def result(name: str, check: str) -> dict[str, object]:
        report = json.loads((out / f"{name}.json").read_text())
        return next(r for r in report["results"] if r["name"] == check)

    assert "line 10: expected ':'" in str(result("syntax", "parses")["output"])
    assert result("syntax", "digest")["status"] == "not run"
    assert "did not finish within 12 s" in str(result("hang", "squares")["output"])
    assert "the guest died" in str(result("crash", "squares")["output"])
    assert result("crash", "digest")["status"] == "passed"  # on a freshly booted guest
    flood = str(result("flood", "digest")["output"])
    assert "output cut" in flood and len(flood) < 2000
    assert "squares(" in str(result("wrong", "squares")["output"])
    assert "No such file" in str(result("peek", "squares")["output"])  # no solution to run
    assert pids_of_our_qemus(runs) == []


def test_ctrl_c_mid_grade_leaves_no_guest(platform: Platform, tmp_path: Path, runs: Path) -> None:
    grader = subprocess.Popen(
        [*RINGLAB, "grade", str(SAMPLE), "--submission", str(broken(tmp_path, "hang"))],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not pids_of_our_qemus(runs) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(8)  # booted, inside the hanging check
    grader.send_signal(signal.SIGINT)
    _, stderr = grader.communicate(timeout=60)
    assert grader.returncode == 130, stderr
    assert "interrupted" in stderr
    assert pids_of_our_qemus(runs) == []


def test_exercise_driver_walks_the_steps_on_one_lab(platform: Platform, tmp_path: Path) -> None:
    work = tmp_path / "work"
    copied = ringlab("starter", str(SAMPLE), "--into", str(work))
    assert copied.returncode == 0, copied.stderr
    starter = ringlab("exercise", str(SAMPLE), "--workdir", str(work), "--step", "1")
    assert starter.returncode == 1
    assert "Step 1" in starter.stderr and "hint" in starter.stderr
    assert "NotImplementedError: TODO 1" in starter.stderr and "where to look" in starter.stderr
    # the student solves the steps in their working copy
    shutil.copy(SAMPLE / "solution" / "answer.py", work / "answer.py")
    solved = ringlab("exercise", str(SAMPLE), "--workdir", str(work))
    assert solved.returncode == 0, solved.stderr
    assert solved.stderr.count("booting the lab") == 1
    assert "Step 2" in solved.stderr and "failed" not in solved.stderr


def test_background_programs_and_the_budget(platform: Platform, runs: Path) -> None:
    """What network checks stand on: a server started in the background, waited for,
    stopped; a program that ends by itself is collected with its status and output."""
    from lab.grading.model import Exercise
    from lab.grading.session import GradingSession

    session = GradingSession.create(Exercise.load(SAMPLE), SAMPLE / "solution", "bg")
    try:
        lab = session.lab
        lab.start("a", "echo started; sleep 30", 20, "server")
        lab.start("a", "echo done; exit 3", 20, "quick")
        quick = lab.collect("a", "quick", 10)
        assert (quick.status, quick.output.strip(), quick.timed_out) == (3, "done", False)
        stopped = lab.collect("a", "server", 5, stop=True)
        assert "started" in stopped.output and not stopped.timed_out
        assert lab.run("a", "pgrep -x sleep", 5).status == 1  # the program is gone
        hung = lab.run("a", "sleep 60", 2)
        assert hung.timed_out and hung.seconds < 10
        assert lab.run("a", "echo still usable", 5).output.strip() == "still usable"
        assert lab.boots == 1
    finally:
        session.close()
    assert pids_of_our_qemus(runs) == []
