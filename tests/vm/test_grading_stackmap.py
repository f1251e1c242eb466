"""Exercise 03-stackmap graded in its a — b lab: the reference solution scores full marks
(and its figures are the ones the handout quotes), the starter only what it earns, a server
that sends its answers with sockets passes correctness and loses the zero-copy points, and a
server that leaves one connection waiting fails with that connection named; no QEMU
outlives a grade.

A faulty submission is the solution with a deliberate fault written into it here
(:func:`tests.vm.helpers.with_fault`)."""

from __future__ import annotations

import json
from pathlib import Path

from lab.grading.model import GradeReport, find_exercise
from lab.provision import Platform
from tests.vm import helpers
from tests.vm.helpers import with_fault

EXERCISE = find_exercise("03-stackmap")
POINTS = 16


def grade(submission: Path, tmp_path: Path, runs: Path) -> GradeReport:
    return helpers.grade(EXERCISE, submission, tmp_path, runs)


def scores(report: GradeReport) -> dict[str, float]:
    return {r.name: r.score for r in report.results}


def test_solution_scores_full_marks(platform: Platform, tmp_path: Path, runs: Path) -> None:
    report = grade(EXERCISE.solution, tmp_path, runs)
    assert report.score == report.max_score == POINTS, json.dumps(report.to_json(), indent=1)
    measured = {m.name: m.value for r in report.results for m in r.measurements}
    # the kernel, not the server, said so: every TX slot zero-copy, far fewer system calls
    assert measured["TX slots sent without a copy"] >= 95
    calls = measured["stackmap: system calls/transaction"]
    assert calls < 0.5 * measured["sockets: system calls/transaction"]
    for name in ("response_sizes.json", "response_sizes.png"):
        assert (Path(report.run_dir) / name).is_file(), name


def test_starter_earns_what_it_does(platform: Platform, tmp_path: Path, runs: Path) -> None:
    report = grade(EXERCISE.starter, tmp_path, runs)
    by = scores(report)
    assert by["parses"] == 1 and report.score == 1, json.dumps(report.to_json(), indent=1)
    attach = next(r for r in report.results if r.name == "attach")
    assert attach.status == "failed" and "TODO" in attach.output


def test_answers_sent_with_sockets_lose_the_zero_copy_points(
    platform: Platform, tmp_path: Path, runs: Path
) -> None:
    """Correct, but every answer goes with conn.sendall(): no TX slot at all (and a system
    call per answer)."""
    copier = with_fault(
        EXERCISE.solution,
        tmp_path / "copier",
        {
            "server.py": [
                (
                    '                self.stack.queue(fd, b"".join(replies))\n',
                    '                self.conns[fd].sendall(b"".join(replies))\n',
                )
            ]
        },
    )
    report = grade(copier, tmp_path, runs)
    by = scores(report)
    assert by["serve"] == 4 and by["serve_over_a_lossy_link"] == 2, json.dumps(
        report.to_json(), indent=1
    )
    zero_copy = next(r for r in report.results if r.name == "zero_copy")
    assert by["zero_copy"] == 0 and "without a copy (0%)" in zero_copy.output, zero_copy.output


def test_a_connection_left_waiting_is_named(platform: Platform, tmp_path: Path, runs: Path) -> None:
    """The fifth connection attached is never answered."""
    staller = with_fault(
        EXERCISE.solution,
        tmp_path / "staller",
        {
            "server.py": [
                (
                    "            if fd not in self.conns or fd in self.closing:\n",
                    "            if fd not in self.conns or fd in self.closing or "
                    "fd == sorted(self.conns)[min(4, len(self.conns) - 1)]:\n",
                )
            ]
        },
    )
    report = grade(staller, tmp_path, runs)
    serve = next(r for r in report.results if r.name == "serve")
    assert serve.status == "failed", json.dumps(report.to_json(), indent=1)
    assert "the server left waiting: connection" in serve.output and "a's port" in serve.output
    assert scores(report)["attach"] == 2
