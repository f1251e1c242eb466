"""The grading commands of the CLI that need no VM: starter, report, error paths."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from lab.grading.model import CheckResult, CheckSettings, GradeReport, Status

ROOT = Path(__file__).resolve().parents[2]


def ringlab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lab.cli", *args], capture_output=True, text=True, cwd=ROOT
    )


def test_starters_check_and_copy(tmp_path: Path) -> None:
    assert ringlab("starter", "--check").returncode == 0
    done = ringlab("starter", "01-sockets", "--into", str(tmp_path / "mine"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "mine" / "sender.py").read_text().startswith("# GENERATED")
    again = ringlab("starter", "01-sockets", "--into", str(tmp_path / "mine"))
    assert again.returncode == 1 and "not empty" in again.stderr


def test_report_renders_a_saved_grade(tmp_path: Path) -> None:
    report = GradeReport(
        "01-sockets",
        "s",
        [CheckResult("parses", "parses", CheckSettings(points=1), Status.PASSED, 1.0)],
    )
    saved = tmp_path / "r.json"
    saved.write_text(json.dumps(report.to_json()))
    gradescope = ringlab("report", str(saved), "--format", "gradescope")
    assert json.loads(gradescope.stdout)["score"] == 1.0
    assert "<testsuites>" in ringlab("report", str(saved), "--format", "junit").stdout


def test_unknown_exercise_is_a_clear_error() -> None:
    done = ringlab("grade", "99", "--submission", ".")
    assert done.returncode == 1
    assert "no exercise '99' (known: 00-rings, 01-sockets, 02-netmap, 03-stackmap)" in done.stderr


def test_an_ungradable_submission_is_graded_out_of_every_point(tmp_path: Path) -> None:
    """No lab boots for a missing folder, yet the report lists every check at zero."""
    out = tmp_path / "results.json"
    done = ringlab(
        "grade", "01-sockets", "--submission", str(tmp_path / "missing"),
        "--format", "gradescope", "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 1 and "is not a directory" in done.stderr
    results = json.loads(out.read_text())
    assert results["score"] == 0
    names = {test["name"] for test in results["tests"]}
    assert {
        "the submission can be graded",
        "Step 1: 1000 datagrams, one sendto() each, all reach b intact",
    } <= names
    assert sum(test["max_score"] for test in results["tests"]) == 11
