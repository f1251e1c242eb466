"""Exercise 01-sockets graded over the vNIC: the solution scores full marks, the starter
scores nothing for the steps it leaves undone.

These need the vnic.ko driver in the guests (issue 4).  Each test first boots the
exercise's two-VM lab and looks for the interface with the topology's MAC; only
when it is missing is the test skipped, and it says why.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lab.grading.model import GradeReport, find_exercise
from lab.provision import Platform
from lab.runs import RunDir
from lab.topology import wired
from lab.vm import Lab

EXERCISE = find_exercise("01-sockets")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def nic(platform: Platform) -> None:
    topology = wired(list(EXERCISE.vms), RunDir.new("nic-probe"), modules=list(EXERCISE.modules))
    mac = topology.vms[0].mac
    with Lab(topology, platform) as lab:
        lab.start()
        found = lab["a"].run(f"ip -o link | grep -qi '{mac}'").ok
    if not found:
        pytest.skip(
            f"needs the vnic.ko driver (issue 4): guest a has no interface with MAC {mac} "
            f"(kernel log: {topology.run.path / 'a' / 'serial.log'})"
        )


def grade(submission: Path, tmp_path: Path) -> GradeReport:
    """One `ringlab grade`, in its own process as an instructor would run it."""
    out = tmp_path / f"{submission.name}.json"
    done = subprocess.run(
        [sys.executable, "-m", "lab.cli", "grade", EXERCISE.name, "--submission",
         str(submission), "--format", "json", "--out", str(out)],
        capture_output=True, text=True, timeout=240, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return GradeReport.from_json(json.loads(out.read_text()))


def test_solution_scores_full_marks(nic: None, tmp_path: Path) -> None:
    report = grade(EXERCISE.solution, tmp_path)
    by = {r.name: r for r in report.results}
    assert report.score == report.max_score == 11, json.dumps(report.to_json(), indent=1)
    names = {m.name for r in report.results for m in r.measurements}
    assert {"sendto rate", "sendmmsg rate", "system calls/packet", "p99 latency"} <= names
    assert by["sendmmsg"].measurements
    print(f"one grade of 01-sockets: {report.execution_time:.1f} s")


def test_starter_scores_zero_for_every_step(nic: None, tmp_path: Path) -> None:
    report = grade(EXERCISE.starter, tmp_path)
    scores = {r.name: r.score for r in report.results}
    assert scores == {
        "nic_up": 0,
        "parses": 1,
        "sendto": 0,
        "sendmmsg": 0,
        "recvmmsg": 0,
        "request_response": 0,
    }
    steps = [r for r in report.results if r.settings.step is not None]
    assert all(r.status == "failed" for r in steps)
    assert "NotImplementedError: TODO 1" in next(r.output for r in steps if r.name == "sendto")
