"""Exercise 01-sockets over the vNIC: the solution scores full marks, the starter
scores nothing for the steps it leaves undone, a faulty submission loses the faulty step
only; the exercise driver records the wire when asked.

A faulty submission is the solution with one deliberate fault written into it here
(:func:`tests.vm.helpers.with_fault`), so it can never drift from the solution it is a
variant of."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from scapy.all import ARP, rdpcap

from lab.grading.model import GradeReport, find_exercise
from lab.provision import Platform
from tests.vm import helpers
from tests.vm.conftest import BACKENDS, libvirt_domains
from tests.vm.helpers import with_fault

EXERCISE = find_exercise("01-sockets")
ROOT = Path(__file__).resolve().parents[2]


def grade(submission: Path, tmp_path: Path) -> GradeReport:
    return helpers.grade(EXERCISE, submission, tmp_path, timeout=240)


@pytest.mark.parametrize("backend", BACKENDS)
def test_solution_scores_full_marks(
    platform: Platform,
    tmp_path: Path,
    runs: Path,
    backend: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The reference solution, its guests run by either backend (libvirt: no domain of the
    grade outlives it)."""
    monkeypatch.setenv("RINGLAB_BACKEND", backend)
    before = libvirt_domains() if backend == "libvirt" else set()
    report = helpers.grade(EXERCISE, EXERCISE.solution, tmp_path, runs, timeout=240)
    # the guests were libvirt's exactly when asked: each one's run folder keeps its domain
    assert bool(list(runs.rglob("domain.xml"))) == (backend == "libvirt")
    if backend == "libvirt":
        assert libvirt_domains() <= before
    by = {r.name: r for r in report.results}
    assert report.score == report.max_score == 11, json.dumps(report.to_json(), indent=1)
    names = {m.name for r in report.results for m in r.measurements}
    assert {"sendto rate", "sendmmsg rate", "system calls/packet", "p99 latency"} <= names
    assert by["sendmmsg"].measurements
    print(f"one grade of 01-sockets: {report.execution_time:.1f} s")


def test_starter_scores_zero_for_every_step(platform: Platform, tmp_path: Path) -> None:
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


def test_wrong_payloads_lose_step_1_only(platform: Platform, tmp_path: Path) -> None:
    """Step 1 sends every datagram reversed: b's sink counts them as not of this run."""
    broken = with_fault(
        EXERCISE.solution,
        tmp_path / "submission",
        {"sender.py": [("sock.send(data)", "sock.send(data[::-1])")]},
    )
    report = grade(broken, tmp_path)
    by = {r.name: r for r in report.results}
    assert report.score == 8
    assert by["sendto"].status == "failed"
    assert "received 0 of the 1000 datagrams intact" in by["sendto"].output
    assert "1000 not of this run" in by["sendto"].output


def test_exercise_driver_records_the_wire(platform: Platform, tmp_path: Path, runs: Path) -> None:
    work = tmp_path / "work"
    ringlab = [sys.executable, "-m", "lab.cli"]
    subprocess.run([*ringlab, "starter", EXERCISE.name, "--into", str(work)], check=True, cwd=ROOT)
    walk = subprocess.run(
        [*ringlab, "exercise", EXERCISE.name, "--workdir", str(work), "--step", "1", "--pcap"],
        capture_output=True, text=True, timeout=240, cwd=ROOT,
    )  # fmt: skip
    assert walk.returncode == 1, walk.stderr  # the starter's step 1 is undone
    logs = Path(walk.stderr.split("logs of this walk: ")[1].splitlines()[0])
    assert logs.parent == runs
    frames = rdpcap(str(logs / "wire.pcap"))
    assert any(ARP in frame for frame in frames)  # the nic_up check's ping, seen on the wire


def test_a_receiver_that_claims_what_it_never_received_loses_step_3(
    platform: Platform, tmp_path: Path
) -> None:
    """After one real recvmmsg() the receiver makes up all 1000 datagrams with the run's
    nonce: its report is perfect, the kernel's count of what recvmmsg() returned is not."""
    broken = with_fault(
        EXERCISE.solution,
        tmp_path / "submission",
        {
            "receiver.py": [
                ("from udp import MmsgBatch,", "from udp import HEADER, payload, MmsgBatch,"),
                (
                    "        for i in range(n):\n"
                    "            take(slots.data(i))\n"
                    "        got += n\n",
                    "        for seq in range(count):\n"
                    "            take(payload(seq, HEADER.unpack_from(slots.data(0))[1], 64))\n"
                    "        got = count\n",
                ),
            ]
        },
    )
    report = grade(broken, tmp_path)
    by = {r.name: r for r in report.results}
    assert report.score == 9, json.dumps(report.to_json(), indent=1)
    assert by["recvmmsg"].status == "failed"
    assert "says it took 1000 datagrams, but its recvmmsg() calls returned" in by["recvmmsg"].output
