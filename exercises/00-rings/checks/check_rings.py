"""Checks of exercise 00-rings: a user-space driver in VM a programs the vNIC itself.

What counts is what the host saw: the device model's own counters for a's port (resets,
register reads, doorbells, frames, and the error counters a wrong register value or
descriptor trips) and what reached the other guest, b, whose kernel and the exercise's
sink check every datagram.  The student's driver.py only prints what it did; that is
reported, never trusted, except for the checksum of what it received, which it cannot
produce without the frames.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import secrets
import time
from pathlib import Path
from typing import Any

import pytest

from lab.grading.plugin import Budget
from lab.grading.session import GradingSession
from vnic.model import spec

SUB = "/mnt/submission"
SINK = "/mnt/project/exercises/01-sockets/checks/tools/udp_tool.py"
A_IP, B_IP = "198.18.0.1", "198.18.0.2"
FILES = ("driver.py", "nic.py")
SIZE = 32  # payload bytes: a 74-byte frame
FRAME_LEN = 14 + 20 + 8 + SIZE
BATCH = 32
TX_COUNT = 1000
RX_COUNT = 2000
RX_RATE = 4000  # datagrams/s from b: a Python poller under TCG keeps up with this
#: Counters that mean the device refused something the driver did, with the datasheet's
#: words for each (spec.LAB_COUNTERS): quoted when a step fails.
TROUBLE = (
    "reg_ignored",
    "reg_write_ro",
    "reg_write_unknown",
    "queue_errors",
    "tx_drop_dma",
    "tx_drop_length",
    "tx_drop_bad_desc",
    "rx_drop_dma",
    "rx_drop_no_desc",
    "rx_drop_disabled",
    "dma_blocked",
)
DOCS = {c.name: c.doc for c in spec.LAB_COUNTERS}


def _udp_tool() -> Any:
    """Exercise 01's sink, for its datagram format (the host computes what b sent)."""
    path = Path(__file__).resolve().parents[2] / "01-sockets" / "checks" / "tools" / "udp_tool.py"
    loaded = importlib.util.spec_from_file_location("udp_tool", path)
    assert loaded and loaded.loader
    module = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(module)
    return module


def device(grading: GradingSession, port: str = "a") -> dict[str, int]:
    """The device counters of ``port``, read on the host."""
    return dict(grading.lab.port_counters()[port]["device"])


def grew(before: dict[str, int], after: dict[str, int], key: str) -> int:
    return int(after.get(key, 0)) - int(before.get(key, 0))


def trouble(before: dict[str, int], after: dict[str, int]) -> str:
    """What the device refused while the step ran, in the datasheet's words."""
    found = [
        f"{k} +{grew(before, after, k)} ({DOCS[k]})" for k in TROUBLE if grew(before, after, k)
    ]
    return "; the device counted " + "; ".join(found) if found else ""


def driver(command: str) -> str:
    return f"cd {SUB} && python3 driver.py {command}"


@pytest.mark.check(
    points=0,
    timeout=60,
    hint="not your code: the lab did not come up; see serial.log",
)
def test_lab_up(grading: GradingSession, lab: Any, guest: Budget) -> None:
    """a has the vNIC, b's NIC is up and knows a's MAC"""
    found = guest.run("a", "grep -l 0x7c01 /sys/bus/pci/devices/*/device")
    assert found.ok, f"guest a has no vNIC (1234:7c01) on its PCI bus: {found.explain()}"
    mac_a, mac_b = lab["a"].spec.mac, lab["b"].spec.mac
    up = guest.run("b", f"ip -o link | grep -qi '{mac_b}'")
    assert up.ok, f"guest b has no interface with MAC {mac_b} (is vnic.ko loaded?)"
    # a answers no ARP (no kernel driver there): b learns a's MAC from the topology; and
    # b's sink gets a deep receive buffer, since a user-space driver sends faster than
    # b's emulated CPU takes datagrams.
    neigh = guest.run(
        "b",
        f"i=$(ip -o link | awk -F': ' 'tolower($0) ~ /{mac_b}/ {{print $2; exit}}'); "
        f"ip neigh replace {A_IP} lladdr {mac_a} dev $i nud permanent && "
        "sysctl -qw net.core.rmem_max=16777216",
    )
    assert neigh.ok, neigh.explain()


@pytest.mark.check(points=1, timeout=5, hint="Run each file with python3: it names the line.")
def test_parses(grading: GradingSession) -> None:
    """Every file of the submission is valid Python"""
    grading.assert_python_parses(FILES)


@pytest.mark.check(
    points=2,
    timeout=90,
    step=1,
    depends=["lab_up", "parses"],
    hint="reset_and_identify(): CTRL.RST, wait until it reads 0, then RAL(0), RAH(0), LINKS",
)
def test_reset_and_identify(grading: GradingSession, lab: Any, guest: Budget, measure: Any) -> None:
    """Step 1: the device was reset and the MAC and link read from its registers"""
    before = device(grading)
    run = guest.run("a", driver("identify"))
    after = device(grading)
    assert run.ok, run.explain()
    said = run.report("driver.py identify")
    assert grew(before, after, "resets") >= 1, "the device saw no reset (CTRL.RST)"
    reads = grew(before, after, "reg_reads")
    measure("register reads", reads)
    assert reads >= 3, f"the device saw {reads} register reads: RAL, RAH and LINKS are three"
    expected = lab["a"].spec.mac.lower()
    assert str(said.get("mac", "")).lower() == expected, (
        f"driver.py says the MAC is {said.get('mac')!r}; RAL(0)/RAH(0) hold {expected}"
    )
    assert said.get("link_up") is True, f"the link is up (LINKS.LINK_UP), driver.py said {said}"


def send(
    grading: GradingSession, lab: Any, guest: Budget, port: int, count: int
) -> tuple[dict[str, Any], dict[str, Any], dict[str, int], dict[str, int]]:
    """b's sink waits for ``count`` datagrams on ``port``; driver.py in a sends them.
    The sink's report, the driver's, and a's device counters before and after."""
    nonce = secrets.token_hex(8)
    guest.start("b", f"python3 {SINK} sink --port {port} --count {count} --nonce {nonce}", "sink")
    guest.listening("b", port, "sink", "u")
    before = device(grading)
    run = guest.run(
        "a",
        driver(
            f"send --dst-mac {lab['b'].spec.mac} --dst-ip {B_IP} --src-ip {A_IP} --port {port}"
            f" --nonce {nonce} --count {count} --batch {BATCH} --size {SIZE}"
        ),
    )
    sunk = guest.collect("b", "sink", stop=not run.ok)
    after = device(grading)
    assert run.ok, run.explain() + trouble(before, after)
    return sunk.report("the exercise's sink"), run.report("driver.py send"), before, after


@pytest.mark.check(
    points=2,
    timeout=90,
    step=2,
    depends=["reset_and_identify"],
    hint="TxRing: bus mastering, TDBAL/TDBAH/TDLEN, TDH = TDT = 0, DMATXCTL.TE, TXDCTL.ENABLE;"
    " one descriptor with EOP, IFCS, RS, DEXT, DTYP=3 and the length; then TDT",
)
def test_one_frame(grading: GradingSession, lab: Any, guest: Budget) -> None:
    """Step 2: one frame through a TX ring reaches b's kernel intact"""
    sink, _, before, after = send(grading, lab, guest, 9100, 1)
    sent = grew(before, after, "tx_frames")
    assert sink["valid"] == 1, (
        f"b's kernel took {sink['valid']} valid datagrams of 1 ({sink['foreign']} not of this"
        f" run); a's device sent {sent} frames" + trouble(before, after)
    )
    assert sent == 1, f"a's device sent {sent} frames for one" + trouble(before, after)
    length = grew(before, after, "tx_bytes")
    assert length == FRAME_LEN, f"the frame on the wire was {length} bytes, not {FRAME_LEN}"


@pytest.mark.check(
    points=3,
    timeout=120,
    step=3,
    depends=["one_frame"],
    hint="send_batched(): fill up to a batch of descriptors, one TDT write per batch; take"
    " descriptors back when their DD is set in memory, never by reading TDH",
)
def test_batches(grading: GradingSession, lab: Any, guest: Budget, measure: Any) -> None:
    """Step 3: 1000 frames in batches of 32, in order, one doorbell per batch, no reads"""
    sink, said, before, after = send(grading, lab, guest, 9101, TX_COUNT)
    assert sink["valid"] == TX_COUNT and sink["duplicates"] == 0, (
        f"b received {sink['valid']} of {TX_COUNT} datagrams intact ({sink['duplicates']}"
        f" duplicates); a's device sent {grew(before, after, 'tx_frames')}" + trouble(before, after)
    )
    assert sink["out_of_order"] == 0, f"{sink['out_of_order']} datagrams came out of order"
    doorbells = grew(before, after, "doorbells")
    reads = grew(before, after, "reg_reads")
    measure("doorbells/packet", doorbells / TX_COUNT)
    measure("register reads/packet", reads / TX_COUNT)
    measure("send seconds (driver's clock)", float(said.get("seconds", 0.0)))
    # the batches, plus the TDH and TDT writes of the bring-up
    allowed = math.ceil(TX_COUNT / BATCH) + 2
    assert doorbells <= allowed, (
        f"{doorbells} doorbells (TDT writes) for {TX_COUNT} frames: at most {allowed} with"
        f" batches of {BATCH}"
    )
    # reset, identity and bring-up need a few; per packet there should be none
    assert reads <= TX_COUNT // 50, (
        f"{reads} register reads for {TX_COUNT} frames: each is a trapped access (tens of"
        " microseconds here); reclaim from the DD bits in memory"
    )


def receiving(before: dict[str, int], now: dict[str, int]) -> str:
    """Why a's device, reset by driver.py since ``before``, cannot yet take frames into RX
    queue 0 ("" when it can).  The reset matters: until driver.py's own reset, the ring
    an earlier run armed still looks ready."""
    if not grew(before, now, "resets"):
        return "driver.py never reset a's device (every command starts from a reset)"
    if not now.get("rxq0_free"):
        return "a's RX queue 0 never had a free descriptor (RDT never moved past RDH)"
    if not now.get("rx_on"):
        return "a's device never started receiving (RXCTRL.RXEN or bus mastering off)"
    return ""


def receive_from_b(
    grading: GradingSession, guest: Budget, port: int, options: str
) -> tuple[dict[str, int], dict[str, int]]:
    """driver.py receive (with ``options``) in a while b sends RX_COUNT datagrams; every one
    must arrive intact, none dropped.  a's device counters before and after."""
    nonce = secrets.token_hex(8)
    before = device(grading)
    links = grading.lab.ensure().fabric.stats()["stats"]["links"]
    held_before = links["a-b"]["directions"]["b->a"]["pause_drops"]
    command = f"receive --port {port} --nonce {nonce} --count {RX_COUNT} --size {SIZE} {options}"
    guest.start("a", driver(command), "rx")
    # b sends once the host sees the device ready, not after a guess at the driver's pace,
    # which a loaded host outruns
    deadline = time.monotonic() + 60
    while why := receiving(before, now := device(grading)):
        if time.monotonic() > deadline:
            ended = guest.collect("a", "rx", stop=True)
            raise AssertionError(why + trouble(before, now) + f"\n{ended.explain()}")
        time.sleep(0.2)
    blast = guest.run(
        "b",
        f"python3 {SINK} blast --dest {A_IP}:{port} --count {RX_COUNT} --size {SIZE}"
        f" --rate {RX_RATE} --nonce {nonce}",
    )
    assert blast.ok, blast.explain()
    run = guest.collect("a", "rx")
    after = device(grading)
    links = grading.lab.ensure().fabric.stats()["stats"]["links"]
    assert run.ok, run.explain() + trouble(before, after)
    said = run.report("driver.py receive")
    tool = _udp_tool()
    filler = tool.FILLER[: SIZE - tool.HEADER.size]
    payloads = b"".join(tool.HEADER.pack(s, bytes.fromhex(nonce)) + filler for s in range(RX_COUNT))
    arrived = grew(before, after, "rx_frames")
    assert said.get("received") == RX_COUNT, (
        f"driver.py took {said.get('received')} of {RX_COUNT} datagrams; a's device wrote"
        f" {arrived} frames into its RX ring" + trouble(before, after)
    )
    assert said.get("sha256") == hashlib.sha256(payloads).hexdigest(), (
        "the payloads driver.py received are not the ones b sent, in order"
    )
    assert grew(before, after, "rx_drop_no_desc") == 0, trouble(before, after)
    lost = links["a-b"]["directions"]["b->a"]["pause_drops"] - held_before
    assert lost == 0, f"the wire dropped {lost} frames it held for a's full RX ring"
    return before, after


@pytest.mark.check(
    points=3,
    timeout=150,
    step=4,
    depends=["reset_and_identify"],
    hint="RxRing: SRRCTL, RDBAL/RDBAH/RDLEN, RDH = RDT = 0, RXDCTL.ENABLE, every descriptor"
    " armed, RDT, RXCTRL.RXEN; receive(): DD, length, re-arm, one RDT write per batch",
)
def test_receive(grading: GradingSession, guest: Budget, measure: Any) -> None:
    """Step 4: 2000 datagrams from b, every one received intact, none dropped"""
    before, after = receive_from_b(grading, guest, 9102, "")
    doorbells = grew(before, after, "doorbells")
    measure("RDT writes/packet", doorbells / RX_COUNT)
    assert doorbells <= RX_COUNT // 8, (
        f"{doorbells} RDT writes for {RX_COUNT} frames: give descriptors back in batches"
    )


@pytest.mark.check(
    points=1,
    timeout=150,
    step=5,
    depends=["receive"],
    hint="route_rx_interrupt(): IVAR(0) = 0x80 (RX queue 0 to EICR bit 0), EIMS bit 0;"
    " wait_for_frames(): irq.arm(), irq.wait(), then read EICR to clear the cause",
)
def test_interrupt(grading: GradingSession, guest: Budget, measure: Any) -> None:
    """Step 5 (bonus): the same 2000 datagrams, sleeping on the device's interrupt"""
    before_uio = guest.run("a", "cat /sys/class/uio/uio*/event 2>/dev/null || echo 0")
    before, after = receive_from_b(grading, guest, 9103, "--interrupt")
    raised = grew(before, after, "interrupts")
    taken = guest.run("a", "cat /sys/class/uio/uio*/event")
    assert taken.ok, (
        f"no uio device in a: was the function bound to uio_pci_generic? {taken.explain()}"
    )
    delivered = int(taken.output.split()[0]) - int((before_uio.output.split() or ["0"])[0])
    measure("interrupts raised by the device", raised)
    measure("interrupts the kernel delivered to driver.py", delivered)
    assert raised >= 1, "the device raised no interrupt (IVAR(0) and EIMS route RX queue 0)"
    assert delivered >= 1, "uio delivered no interrupt to driver.py (it never waited on one)"
