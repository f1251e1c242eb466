"""Child processes that must not outlive the lab (QEMUs, the vNIC fabric).

The kernel sends a child a signal of its choosing when the parent dies
(``PR_SET_PDEATHSIG``), so even a SIGKILLed lab or grader leaves nothing running.
"""

from __future__ import annotations

import ctypes
import signal
from collections.abc import Callable

PR_SET_PDEATHSIG = 1


def die_with_parent(signum: int = signal.SIGKILL) -> Callable[[], None]:
    """A ``preexec_fn``: in the child, before exec, ask for ``signum`` when the parent dies."""

    def arm() -> None:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signum)

    return arm
