"""Child processes that must not outlive the lab (QEMUs, the vNIC fabric).

The kernel sends a child a signal of its choosing when the parent dies
(``PR_SET_PDEATHSIG``), so even a SIGKILLed lab or grader leaves nothing running.
"""

from __future__ import annotations

import ctypes
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

PR_SET_PDEATHSIG = 1


def die_with_parent(signum: int = signal.SIGKILL) -> Callable[[], None]:
    """A ``preexec_fn``: in the child, before exec, ask for ``signum`` when the parent dies."""

    def arm() -> None:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signum)

    return arm


def command_lines() -> Iterator[tuple[int, bytes]]:
    """Every process on this host with its NUL-separated command line (``/proc``); one
    that ends while we look is skipped."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                yield int(entry.name), (entry / "cmdline").read_bytes()
            except OSError:
                continue
