"""The grading plugin, run by pytest in a subprocess (pytester): marker, settings,
dependencies, the host-side backstop, measurements and the JSON results."""

from __future__ import annotations

import json

import pytest

from lab.grading.model import GradeReport, Status

pytest_plugins = ["pytester"]

CHECKS = """
import time
import pytest

@pytest.mark.check(points=2, hint="look at f")
def test_good(measure):
    '''The good one'''
    measure("pps", 1234.5, "packets/s", leaderboard=True)

@pytest.mark.check(points=3, hint="read the message", step=1)
def test_bad():
    assert 1 + 1 == 3, "one and one make two"

@pytest.mark.check(points=1, depends=["bad"], step=1)
def test_after_bad():
    pass

@pytest.mark.check(points=1, depends=["good"], step=2)
def test_after_good():
    pass

@pytest.mark.check(points=1, timeout=0.2, step=2)
def test_hangs():
    time.sleep(30)

def test_unmarked():
    raise RuntimeError("boom")
"""


def grade(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, GradeReport]:
    pytester.makepyfile(check_things=CHECKS)
    pytester.makeconftest("import lab.grading.plugin as p\np.BACKSTOP = 0.3\n")
    report_file = pytester.path / "results.json"
    result = pytester.runpytest_subprocess(
        "-p", "lab.grading.plugin", "-p", "no:timeout", "-o", "python_files=check_*.py",
        "--grade-report", str(report_file), *args,
    )  # fmt: skip
    return result, GradeReport.from_json(json.loads(report_file.read_text()))


def test_results_points_dependencies_and_backstop(pytester: pytest.Pytester) -> None:
    result, report = grade(pytester)
    by = {r.name: r for r in report.results}
    assert list(by) == ["good", "bad", "after_bad", "after_good", "hangs", "unmarked"]
    assert by["good"].status is Status.PASSED and by["good"].score == 2
    assert by["good"].title == "The good one"
    assert by["good"].measurements[0].value == 1234.5
    assert by["bad"].status is Status.FAILED and by["bad"].score == 0
    # the check's own message, without pytest's rewritten comparison after it
    assert by["bad"].output == "one and one make two"
    assert by["bad"].settings.hint == "read the message"
    assert by["after_bad"].status is Status.NOT_RUN
    assert "needs check 'bad'" in by["after_bad"].output
    assert by["after_good"].status is Status.PASSED
    assert by["hangs"].status is Status.FAILED and "timed out" in by["hangs"].output
    assert by["hangs"].seconds < 5
    assert by["unmarked"].settings.points == 1 and "RuntimeError: boom" in by["unmarked"].output
    assert report.score == 3 and report.max_score == 9
    result.stdout.fnmatch_lines(["*ringlab grading: default check budget 60 s*"])


def test_step_selects_its_checks_and_outside_dependencies_count_as_met(
    pytester: pytest.Pytester,
) -> None:
    _, report = grade(pytester, "--step", "2")
    by = {r.name: r.status for r in report.results}
    # step-less checks run with every step; "good" ran, so after_good runs
    assert by == {
        "good": Status.PASSED,
        "after_good": Status.PASSED,
        "hangs": Status.FAILED,
        "unmarked": Status.FAILED,
    }


def test_timeout_precedence_marker_option_env(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(
        check_t="""
import pytest
from lab.grading.plugin import settings_key

@pytest.mark.check(timeout=7)
def test_marked(request):
    assert request.node.stash[settings_key].timeout == 7

def test_default(request):
    assert request.node.stash[settings_key].timeout == EXPECTED
"""
    )
    pytester.makeini("[pytest]\ncheck_timeout = 11\n")
    base = ["-p", "lab.grading.plugin", "-p", "no:timeout", "-o", "python_files=check_*.py"]
    monkeypatch.setenv("RINGLAB_CHECK_TIMEOUT", "9")
    for expected, extra in ((9, []), (5, ["--check-timeout", "5"])):
        pytester.makeconftest(f"import builtins\nbuiltins.EXPECTED = {expected}\n")
        pytester.runpytest_subprocess(*base, *extra).assert_outcomes(passed=2)
    monkeypatch.delenv("RINGLAB_CHECK_TIMEOUT")
    pytester.makeconftest("import builtins\nbuiltins.EXPECTED = 11\n")
    pytester.runpytest_subprocess(*base).assert_outcomes(passed=2)


def test_another_plugin_can_take_over_the_timer(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        check_t="""
import time, pytest

@pytest.mark.check(timeout=0.1)
def test_slow():
    time.sleep(0.5)
"""
    )
    pytester.makeconftest(
        "import lab.grading.plugin as p\np.BACKSTOP = 0.0\n"
        "def pytest_ringlab_check_set_timer(item, settings):\n    return 'mine'\n"
        "def pytest_ringlab_check_cancel_timer(item):\n    return 'mine'\n"
    )
    result = pytester.runpytest_subprocess(
        "-p", "lab.grading.plugin", "-p", "no:timeout", "-o", "python_files=check_*.py"
    )
    result.assert_outcomes(passed=1)
