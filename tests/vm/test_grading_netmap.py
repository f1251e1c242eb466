"""Exercise 02-netmap in the chain a — m — b: the solution scores full marks (the hidden
checks too), the starter only what it earns, and each faulty submission loses the step it
breaks, with a message that says what the kernel or the device saw; no QEMU outlives a
grade.

A faulty submission is the solution with deliberate faults written into it here
(:func:`with_fault`), so it can never drift from the solution it is a variant of."""

from __future__ import annotations

import json
from pathlib import Path

from lab.grading.model import GradeReport, find_exercise
from lab.provision import Platform
from tests.vm import helpers
from tests.vm.helpers import with_fault

EXERCISE = find_exercise("02-netmap")
#: The visible checks' points, and the hidden ones'.
VISIBLE, HIDDEN = 13, 2

SWAP_BATCH = "    return sum(rx.swap_batch(tx) for rx in src.rx_rings)\n"


def slot_by_slot(per_slot: str, give_back: str = "        rx.advance(n)\n") -> str:
    """The solution's move() written out slot by slot, with ``per_slot`` as the body of the
    loop over the slots both rings own and ``give_back`` returning the RX slots: the faulty
    forwarders differ from the solution in those lines only."""
    return (
        "    moved = 0\n"
        "    for rx in src.rx_rings:\n"
        "        n = min(rx.space(), tx.space())\n"
        "        i, j = rx.head, tx.head\n"
        "        for _ in range(n):\n"
        f"{per_slot}"
        "            i, j = rx.next(i), tx.next(j)\n"
        f"{give_back}"
        "        tx.advance(n)\n"
        "        moved += n\n"
        "    return moved\n"
    )


def grade(submission: Path, tmp_path: Path, runs: Path, hidden: bool = False) -> GradeReport:
    extra = ["--hidden", str(EXERCISE.path / "hidden")] if hidden else []
    return helpers.grade(EXERCISE, submission, tmp_path, runs, *extra)


def scores(report: GradeReport) -> dict[str, float]:
    return {r.name: r.score for r in report.results}


def test_solution_scores_full_marks(platform: Platform, tmp_path: Path, runs: Path) -> None:
    report = grade(EXERCISE.solution, tmp_path, runs, hidden=True)
    assert report.score == report.max_score == VISIBLE + HIDDEN, json.dumps(
        report.to_json(), indent=1
    )
    measured = {m.name: m.value for m in report.measurements()}
    assert {"rate m received", "system calls/packet", "rate b received"} <= set(measured)
    zero_copy = next(r for r in report.results if r.name == "forwarder_zero_copy")
    assert zero_copy.measurements[0].value >= 5000
    assert measured["syscalls/packet at batch 1"] >= 1.0
    assert measured["syscalls/packet at batch 256"] < 0.02
    run = Path(report.run_dir)
    curve = json.loads((run / "batch_curve.json").read_text())
    assert set(curve) == {"1", "4", "16", "64", "256"}
    assert (run / "batch_curve.png").is_file() or (run / "batch_curve.svg").is_file()
    by = {r.name: r.seconds for r in report.results}
    print(f"\none grade of 02-netmap, hidden checks included: {report.execution_time:.1f} s")
    print("seconds per check:", json.dumps(by))
    print("measured:", json.dumps({k: round(v, 4) for k, v in measured.items()}))


def test_starter_earns_only_what_it_does(platform: Platform, tmp_path: Path, runs: Path) -> None:
    report = grade(EXERCISE.starter, tmp_path, runs)
    assert scores(report) == {
        "nic_up": 0,
        "parses": 1,
        "batched_tx": 0,
        "poll_rx": 0,
        "batch_curve": 0,
        "forwarder_delivers": 0,
        "forwarder_zero_copy": 0,
    }, json.dumps(report.to_json(), indent=1)
    by = {r.name: r for r in report.results}
    assert "NotImplementedError: TODO 1" in by["batched_tx"].output
    assert "NotImplementedError: TODO 2" in by["poll_rx"].output
    assert "NotImplementedError: TODO 4" in by["forwarder_delivers"].output
    assert by["batch_curve"].status == "not run"  # it stands on step 1


def test_bad_ring_indices_lose_step_1_and_a_copy_loses_zero_copy(
    platform: Platform, tmp_path: Path, runs: Path
) -> None:
    """tx.py leaves head at num_slots (it forgot to wrap to 0): netmap.ko refuses the sync
    with EINVAL and says so in the log; fwd.py copies each frame into the TX buffer: every
    frame arrives, the device counts no frame sent from the buffer its RX DMA wrote."""
    broken = with_fault(
        EXERCISE.solution,
        tmp_path / "faulty",
        {
            "tx.py": [
                (
                    "seq=sent, seq_offset=SEQ_OFFSET)\n",
                    "seq=sent, seq_offset=SEQ_OFFSET)\n"
                    "        ring.head = ring.cur = ring.num_slots  # forgot to wrap to 0\n",
                )
            ],
            "fwd.py": [
                (
                    SWAP_BATCH,
                    slot_by_slot(
                        "            length = rx.slot(i).len\n"
                        "            tx.buffer(j)[:length] = rx.buffer(i)[:length]\n"
                        "            tx.slot(j).len = length\n"
                    ),
                )
            ],
        },
    )
    report = grade(broken, tmp_path, runs)
    by = {r.name: r for r in report.results}
    assert scores(report) == {
        "nic_up": 0,
        "parses": 1,
        "batched_tx": 0,
        "poll_rx": 3,
        "batch_curve": 0,
        "forwarder_delivers": 2,
        "forwarder_zero_copy": 0,
    }, json.dumps(report.to_json(), indent=1)
    step1 = by["batched_tx"].output
    assert "refused your ring with EINVAL" in step1 and "bad head 4096" in step1, step1
    assert by["batch_curve"].status == "not run"
    assert "were copied" in by["forwarder_zero_copy"].output


def test_a_forwarder_that_never_gives_rx_slots_back_loses_step_4(
    platform: Platform, tmp_path: Path, runs: Path
) -> None:
    broken = with_fault(
        EXERCISE.solution,
        tmp_path / "hoarder",
        {
            "fwd.py": [
                (
                    SWAP_BATCH,
                    slot_by_slot(
                        "            rx.swap(i, tx, j)\n",
                        give_back="        # never rx.advance(n)\n",
                    ),
                )
            ]
        },
    )
    report = grade(broken, tmp_path, runs)
    by = {r.name: r for r in report.results}
    assert report.score == VISIBLE - 4, json.dumps(report.to_json(), indent=1)
    message = by["forwarder_delivers"].output
    assert "for want of a free RX slot" in message and "give the RX slots back" in message, message
    assert by["forwarder_zero_copy"].status == "not run"


def test_a_forwarder_that_writes_a_bad_buffer_index_loses_step_4(
    platform: Platform, tmp_path: Path, runs: Path
) -> None:
    broken = with_fault(
        EXERCISE.solution,
        tmp_path / "badindex",
        {
            "fwd.py": [
                (
                    SWAP_BATCH,
                    slot_by_slot(
                        "            rx.swap(i, tx, j)\n"
                        "            tx.slot(j).buf_idx += 100000  # not a buffer of the pool\n"
                    ),
                )
            ]
        },
    )
    report = grade(broken, tmp_path, runs)
    by = {r.name: r for r in report.results}
    assert report.score == VISIBLE - 4, json.dumps(report.to_json(), indent=1)
    message = by["forwarder_delivers"].output
    assert "rejected a buffer index" in message and "bad buf_idx" in message, message
