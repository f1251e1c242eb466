"""Exercise 00-rings: the solution scores full marks, the starter only what it does, and a
driver that programs the device wrongly fails its step with the device's own words for
what it refused, while the lab stays usable for the next step.

Faulty submissions are the solution with one fault written in here
(:func:`tests.vm.helpers.with_fault`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from lab.grading.model import GradeReport, find_exercise
from lab.provision import Platform
from tests.vm import helpers
from tests.vm.helpers import with_fault

EXERCISE = find_exercise("00-rings")
ROOT = Path(__file__).resolve().parents[2]
POINTS = 12


def grade(submission: Path, tmp_path: Path) -> GradeReport:
    return helpers.grade(EXERCISE, submission, tmp_path, timeout=300)


def test_solution_scores_full_marks(platform: Platform, tmp_path: Path) -> None:
    report = grade(EXERCISE.solution, tmp_path)
    assert report.score == report.max_score == POINTS, json.dumps(report.to_json(), indent=1)
    values = {m.name: m.value for r in report.results for m in r.measurements}
    assert values["doorbells/packet"] <= 34 / 1000
    assert values["register reads/packet"] <= 0.02
    print(f"one grade of 00-rings: {report.execution_time:.1f} s; {values}")


def test_starter_earns_what_it_does(platform: Platform, tmp_path: Path) -> None:
    report = grade(EXERCISE.starter, tmp_path)
    scores = {r.name: (r.status, r.score) for r in report.results}
    assert scores["parses"] == ("passed", 1)
    assert scores["reset_and_identify"] == ("failed", 0)
    assert {scores[n][0] for n in ("one_frame", "batches", "receive", "interrupt")} == {"not run"}
    step1 = next(r for r in report.results if r.name == "reset_and_identify")
    assert "NotImplementedError: TODO 1" in step1.output


def test_a_bad_ring_length_fails_tx_with_the_datasheet_rule(
    platform: Platform, tmp_path: Path
) -> None:
    """TDLEN not a multiple of 128: the device stops the queue and counts it; RX still
    works, because every step starts from a reset."""
    broken = with_fault(
        EXERCISE.solution,
        tmp_path / "submission",
        {"driver.py": [('nic.write("TDLEN", size * spec.DESC_SIZE, 0)',
                        'nic.write("TDLEN", size * spec.DESC_SIZE + 8, 0)')]},
    )  # fmt: skip
    report = grade(broken, tmp_path)
    by = {r.name: r for r in report.results}
    assert by["one_frame"].status == "failed"
    assert "queue_errors" in by["one_frame"].output, by["one_frame"].output
    assert "bad ring length" in by["one_frame"].output
    assert by["receive"].status == "passed", by["receive"].output
    assert report.score == POINTS - 2 - 3


def test_a_driver_without_bus_mastering_is_told_so(platform: Platform, tmp_path: Path) -> None:
    """No DMA without the PCI command register's bus-master bit: the device holds it."""
    broken = with_fault(
        EXERCISE.solution,
        tmp_path / "submission",
        {"driver.py": [("        nic.bus_master(True)\n        base = mem.iova(self.ring)\n"
                        '        nic.write("TDBAL"',
                        "        nic.bus_master(False)\n        base = mem.iova(self.ring)\n"
                        '        nic.write("TDBAL"')]},
    )  # fmt: skip
    report = grade(broken, tmp_path)
    by = {r.name: r for r in report.results}
    assert by["one_frame"].status == "failed"
    assert "dma_blocked" in by["one_frame"].output, by["one_frame"].output
    assert by["receive"].status == "passed", by["receive"].output


def test_b_waits_for_a_driver_that_starts_slowly(platform: Platform, tmp_path: Path) -> None:
    """A driver that takes seconds to start (a loaded host, a slow student program) loses no
    datagram: b sends only once the host sees a's device reset by this run and receiving,
    not while the ring an earlier run armed is still there."""
    slow = with_fault(
        EXERCISE.solution,
        tmp_path / "submission",
        {"driver.py": [("    nic = Nic()\n", "    time.sleep(3)\n    nic = Nic()\n")]},
    )
    report = grade(slow, tmp_path)
    by = {r.name: r for r in report.results}
    for step in ("receive", "interrupt"):
        assert by[step].status == "passed", by[step].output


def test_the_exercise_driver_walks_every_step(platform: Platform, tmp_path: Path) -> None:
    """``ringlab exercise 00-rings`` on a working copy with every step done: five steps,
    each with its goal from the handout, all passed, in one lab."""
    work = with_fault(EXERCISE.solution, tmp_path / "work", {})
    walk = subprocess.run(
        [sys.executable, "-m", "lab.cli", "exercise", EXERCISE.name, "--workdir", str(work)],
        capture_output=True, text=True, timeout=400, cwd=ROOT, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    said = walk.stderr  # the walk talks on stderr, as every ringlab command does
    assert walk.returncode == 0, said[-4000:]
    for heading in (
        "Step 1: reset and identify",
        "Step 2: a TX ring",
        "Step 3: batching",
        "Step 4: an RX ring",
        "Step 5 (bonus): an interrupt instead of polling",
    ):
        assert heading in said, said[-4000:]
    assert said.count("booting the lab") == 1
