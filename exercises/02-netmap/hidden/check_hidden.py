"""Hidden checks of exercise 02-netmap (graded with ``--hidden``; students see them once the
grades are published): the forwarder under a burst larger than its TX ring, and with
frames of every size.  The helpers are those of ``checks/check_netmap.py``."""

from __future__ import annotations

import importlib.util
import secrets
from pathlib import Path
from typing import Any

import pytest

from lab.grading.plugin import Budget
from lab.grading.session import GradingSession

_spec = importlib.util.spec_from_file_location(
    "ringlab_02_netmap_checks", Path(__file__).parents[1] / "checks" / "check_netmap.py"
)
assert _spec is not None and _spec.loader is not None
base: Any = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(base)

TOOLS = base.TOOLS
#: More than m.b's TX ring of 512 holds, sent as fast as nmgen goes: the forwarder must
#: wait for TX room and lose nothing (m.a's RX ring of 4096 holds the burst meanwhile).
BURST = 3000


@pytest.mark.check(
    points=1,
    timeout=45,
    step=4,
    visible=False,
    depends=["forwarder_delivers"],
    hint="a TX ring has room for fewer frames than the RX ring holds: move what fits, "
    "sync, and come back for the rest",
)
def test_burst_larger_than_the_ring(
    grading: GradingSession, lab: Any, guest: Budget, measure: Any
) -> None:
    """Step 4, hidden: a burst of 3000 frames at full speed, without a copy"""
    base.learn_interfaces(lab, guest)
    nonce = secrets.randbits(63)
    eth_a = base.iface(grading, "a", "a")
    sender = f"nmgen tx -i netmap:{eth_a} -n {BURST} -b 256 -N {nonce:#x}"
    found = base.run_forwarder(grading, guest, BURST, sender, nonce)
    base.assert_forwarded(guest, found)
    base.assert_zero_copy(found, measure)


@pytest.mark.check(
    points=1,
    timeout=60,
    step=4,
    visible=False,
    depends=["forwarder_delivers"],
    hint="a slot's len travels with its buffer: swap both",
)
def test_every_frame_size(grading: GradingSession, lab: Any, guest: Budget, measure: Any) -> None:
    """Step 4, hidden: frames of every size from 60 to 1514 bytes arrive byte for byte"""
    names = base.learn_interfaces(lab, guest)
    nonce = secrets.token_hex(8)
    count = 1514 - 60 + 1
    src = next(nic.mac for nic in lab["a"].spec.nics)
    sender = base.python(f"{TOOLS}/sizes.py tx netmap:{names['a']} --nonce {nonce}")
    receiver = base.python(
        f"{TOOLS}/sizes.py rx netmap:{names['b']} --nonce {nonce} --src {src} --idle 20"
    )
    # The sender is Python too: it may take seconds to start under TCG, so the forwarder
    # and the receiver wait longer for the first frame than with nmgen.
    found = base.run_forwarder(grading, guest, count, sender, 0, receiver, idle=20)
    assert found["blast"].ok, f"the exercise's sender failed: {found['blast'].explain()}"
    got = found["got"].report("the exercise's receiver in b")
    assert got["good"] == count and got["bad"] == 0, (
        f"b received {got['good']} of the {count} frames intact, {got['bad']} changed "
        f"({'; '.join(got['examples'])}), missing sizes {got['missing_sizes']}...: "
        + base.where_forwarded(guest, found)
    )
    base.assert_zero_copy(found, measure)
