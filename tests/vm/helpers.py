"""What the VM tests do to guests, in one place: run a command that must succeed, wait,
check that a kernel did not complain; grade an exercise as an instructor would
(:func:`grade`), and the faulty submissions graded, each a solution with a fault written
into it (:func:`with_fault`), so it can never drift from the solution it is a variant
of."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from lab.grading.model import Exercise, GradeReport
from lab.vm import Vm, pids_of_our_qemus

ROOT = Path(__file__).resolve().parents[2]
RINGLAB = [sys.executable, "-m", "lab.cli"]


def ringlab(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``ringlab ARGS`` in its own process, from the project's root, as a user runs it."""
    return subprocess.run(
        [*RINGLAB, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )


#: What a guest kernel logs when our modules went wrong (oops, WARN_ON, leaks, page_pool).
BAD_LOG = (
    "BUG:",
    "WARNING:",
    "Oops",
    "general protection",
    "stalled pool shutdown",
    "kmemleak",
    "refcount_t",
)


def ok(vm: Vm, cmd: str, timeout: float = 60) -> str:
    """Run ``cmd`` in the guest; its output, or a failed assertion naming guest and status."""
    result = vm.run(cmd, timeout=timeout)
    assert result.status == 0, f"{vm.spec.name}: {cmd!r} failed ({result.status}):\n{result.output}"
    return result.output


def wait(cond: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``cond`` until it holds; fail after ``timeout`` seconds, saying ``what``."""
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def wait_addressed(vm: Vm, eth: str, timeout: float = 10) -> None:
    """Wait until ``eth``, bound again by its driver, is up with the guest's addresses: the
    guest's init configures a lab NIC that reappears (its link watcher)."""
    want = [address for address in (vm.spec.ip, vm.spec.ip6) if address]

    def configured() -> bool:
        shown = vm.run(f"ip -o addr show dev {eth}; ip -o link show dev {eth}").output
        return all(address in shown for address in want) and ",UP" in shown

    wait(configured, timeout, f"{eth} up with {', '.join(want)} again")


def assert_kernel_quiet(vm: Vm) -> None:
    """The guest's kernel log has none of :data:`BAD_LOG`."""
    log = vm.kernel_log()
    bad = [word for word in BAD_LOG if word in log]
    assert not bad, f"{vm.spec.name}: kernel complained ({bad}):\n{log[-3000:]}"


def last_json(text: str) -> dict[str, Any]:
    """The last JSON line of a guest tool's output."""
    lines = [ln for ln in text.splitlines() if ln.startswith("{")]
    assert lines, f"no JSON result in:\n{text}"
    return dict(json.loads(lines[-1]))


def with_fault(
    solution: Path, submission: Path, faults: Mapping[str, Sequence[tuple[str, str]]]
) -> Path:
    """A copy of ``solution`` at ``submission`` with, in each file of ``faults``, each of
    its ``(old, new)`` edits made."""
    shutil.copytree(solution, submission)
    for file, edits in faults.items():
        source = (submission / file).read_text()
        for old, new in edits:
            assert old in source, f"the solution's {file} no longer holds {old!r}: update the fault"
            source = source.replace(old, new)
        (submission / file).write_text(source)
    return submission


def grade(
    exercise: Exercise,
    submission: Path,
    tmp_path: Path,
    runs: Path | None = None,
    *extra: str,
    timeout: float = 400,
) -> GradeReport:
    """One ``ringlab grade``, in its own process as an instructor would run it; with
    ``runs`` (the test's run directories), no QEMU of it may be left afterwards."""
    out = tmp_path / f"{submission.name}.json"
    done = subprocess.run(
        [sys.executable, "-m", "lab.cli", "grade", exercise.name, "--submission",
         str(submission), "--format", "json", "--out", str(out), *extra],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    if runs is not None:
        assert pids_of_our_qemus(runs) == [], "a QEMU of the grade outlived it"
    return GradeReport.from_json(json.loads(out.read_text()))
