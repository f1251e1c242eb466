"""The lab counter ``tx_zero_copy``: a frame sent from the buffer its guest received it in.

A guest with two ports is two devices on one guest RAM: here two :class:`Vnic` on one
:class:`FakeMemory`, each with its own mini-driver (in separate halves of the memory), sharing
one :class:`ZeroCopyRecord`. Device 1 receives, device 2 transmits from a buffer address.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.unit.model_fixtures import FakeClock, frame, sent
from vnic.model import spec
from vnic.model.device import Vnic
from vnic.model.engines import ZeroCopyRecord
from vnic.model.memory import FakeMemory
from vnic.model.testing import TXD_CMD, TXD_EOP, TXD_PAYLEN_SHIFT, MiniDriver

MEM = 8 << 20
CTXT = (0, 0x20000000 | 0x00200000, 0)  # DEXT | DTYP=CTXT: takes a slot, sends nothing


@dataclass
class Port:
    dev: Vnic
    drv: MiniDriver
    wire: list[list[bytes]]


def port(mem: FakeMemory, n: int, record: ZeroCopyRecord | None, count: int = 64) -> Port:
    """Device ``n`` (0, 1, ...) of a guest: its driver allocates from its own part of ``mem``."""
    dev = Vnic(mem, bytes([2, 0, 0, 0, 0, n + 1]), clock=FakeClock(), zero_copy=record)
    wire: list[list[bytes]] = []
    dev.transmit = wire.append
    drv = MiniDriver(dev, mem)
    drv._brk = mem.base + n * (1 << 20) + 0x1000  # no overlap with the other drivers
    drv.reset_and_init()
    drv.setup_tx(0, count)
    drv.setup_rx(0, count)
    return Port(dev, drv, wire)


@pytest.fixture
def guest() -> tuple[Port, Port]:
    """The middlebox m of a — m — b: ports m.a and m.b, one RAM, one record."""
    mem = FakeMemory(MEM)
    record = ZeroCopyRecord()
    return port(mem, 0, record), port(mem, 1, record)


def rx_buffers(p: Port, frames: list[bytes]) -> list[int]:
    """Deliver ``frames`` from the wire; the buffer addresses they were DMA'd to."""
    rxq = p.drv.rx[0]
    first = rxq.next_to_clean
    assert p.dev.receive(frames) == len(frames)
    assert p.drv.poll(0) == frames
    return [rxq.buf_base + ((first + i) % rxq.count) * rxq.buf_size for i in range(len(frames))]


def tx_from(p: Port, buffers: list[tuple[int, int]], legacy: bool = False) -> list[bytes]:
    """Transmit one-buffer frames from (address, length) without copying; what went out."""
    if legacy:  # DEXT = 0: not the fast path's layout, so descriptor by descriptor
        descs = [(addr, ln | TXD_EOP, 0) for addr, ln in buffers]
    else:
        descs = [(addr, ln | TXD_CMD, ln << TXD_PAYLEN_SHIFT) for addr, ln in buffers]
    before = len(sent(p.wire))
    p.drv.post_raw(0, descs)
    p.dev.run_until_idle()
    p.drv.reclaim(0)
    return sent(p.wire)[before:]


def zero_copy(p: Port) -> int:
    return p.dev.counters()["tx_zero_copy"]


def test_a_frame_sent_from_the_buffer_it_arrived_in_counts(guest: tuple[Port, Port]) -> None:
    ma, mb = guest
    f = frame(60, fill=1)
    (x,) = rx_buffers(ma, [f])
    assert tx_from(mb, [(x, len(f))]) == [f]
    assert zero_copy(mb) == 1 and zero_copy(ma) == 0
    # the entry was consumed: sending the same buffer again is no new forward
    assert tx_from(mb, [(x, len(f))]) == [f]
    assert zero_copy(mb) == 1


def test_a_whole_batch_on_the_fast_path(guest: tuple[Port, Port]) -> None:
    ma, mb = guest
    frames = [frame(64 + i, fill=i) for i in range(20)]
    addrs = rx_buffers(ma, frames)
    assert len(ma.dev.zero_copy or ()) == 20
    # every other frame copied first (a copying forwarder would do that to all)
    copy = mb.drv.alloc(2048 * 10)
    buffers = []
    for i, (addr, f) in enumerate(zip(addrs, frames, strict=True)):
        if i % 2:
            at = copy + (i // 2) * 2048
            mb.drv.poke(at, f)
            buffers.append((at, len(f)))
        else:
            buffers.append((addr, len(f)))
    assert tx_from(mb, buffers) == frames
    assert zero_copy(mb) == 10


def test_the_descriptor_by_descriptor_path_counts_too(guest: tuple[Port, Port]) -> None:
    ma, mb = guest
    frames = [frame(100, fill=i) for i in range(3)]
    addrs = rx_buffers(ma, frames)
    assert tx_from(mb, [(a, 100) for a in addrs], legacy=True) == frames
    assert zero_copy(mb) == 3
    # a context descriptor in front sends the batch down the slow path as well
    more = [frame(80, fill=9)]
    (x,) = rx_buffers(ma, more)
    mb.drv.post_raw(0, [CTXT, (x, 80 | TXD_CMD, 80 << TXD_PAYLEN_SHIFT)])
    mb.dev.run_until_idle()
    assert sent(mb.wire)[-1] == more[0] and zero_copy(mb) == 4


def test_a_copy_sent_from_another_buffer_counts_nothing(guest: tuple[Port, Port]) -> None:
    ma, mb = guest
    f = frame(64, fill=3)
    rx_buffers(ma, [f])
    assert mb.drv.send(0, [f]) == 1  # the mini-driver copies into its own TX buffer
    mb.dev.run_until_idle()
    assert sent(mb.wire) == [f]
    assert zero_copy(mb) == 0


def test_a_buffer_rewritten_before_tx_counts_nothing(guest: tuple[Port, Port]) -> None:
    ma, mb = guest
    f = frame(64, fill=4)
    (x,) = rx_buffers(ma, [f])
    other = frame(64, fill=5)
    ma.drv.poke(x, other)  # the guest wrote other bytes into the buffer: not forwarded
    assert tx_from(mb, [(x, 64)]) == [other]
    assert tx_from(mb, [(x, 64)], legacy=True) == [other]
    # a prefix of the frame is not the frame either
    (y,) = rx_buffers(ma, [f])
    assert tx_from(mb, [(y, 60)]) == [f[:60]]
    assert zero_copy(mb) == 0


def test_frames_received_in_several_buffers_are_not_recorded(guest: tuple[Port, Port]) -> None:
    ma, mb = guest
    ma.drv.set_bits(spec.HLREG0.at(), spec.HLREG0.mask("JUMBOEN"))
    ma.drv.wr(spec.MAXFRS.at(), 9728 + 4 << 16)
    small, big = frame(64, fill=6), frame(3000, fill=7)
    addrs = rx_buffers(ma, [small, big])  # a split frame: the RX general path for both
    record = ma.dev.zero_copy
    assert record is not None and list(record.items()) == [(addrs[0], small)]
    assert tx_from(mb, [(addrs[0], 64)]) == [small]
    assert zero_copy(mb) == 1


def test_a_device_of_another_guest_counts_nothing(guest: tuple[Port, Port]) -> None:
    ma, _ = guest
    # another guest's device on the same addresses (same memory here), with its own record
    other = port(ma.drv.mem, 2, ZeroCopyRecord())
    f = frame(64, fill=8)
    (x,) = rx_buffers(ma, [f])
    assert tx_from(other, [(x, 64)]) == [f]
    assert zero_copy(other) == 0


def test_a_single_port_device_keeps_no_record() -> None:
    p = port(FakeMemory(MEM), 0, None)
    assert p.dev.zero_copy is None
    f = frame(64)
    (x,) = rx_buffers(p, [f])
    assert tx_from(p, [(x, 64)]) == [f]  # a reflector on one port: not counted
    assert zero_copy(p) == 0


def test_the_link_down_sends_nothing_and_counts_nothing(guest: tuple[Port, Port]) -> None:
    ma, mb = guest
    f = frame(64, fill=2)
    (x,) = rx_buffers(ma, [f])
    mb.dev.set_link(False)
    assert tx_from(mb, [(x, 64)]) == []
    assert zero_copy(mb) == 0


def test_the_record_is_bounded(guest: tuple[Port, Port], monkeypatch: pytest.MonkeyPatch) -> None:
    ma, mb = guest
    monkeypatch.setattr(ZeroCopyRecord, "LIMIT", 8)
    record = ma.dev.zero_copy
    assert record is not None
    for i in range(10):  # frames the guest keeps, never forwarded
        rx_buffers(ma, [frame(64, fill=i * 10 + k) for k in range(5)])
        assert len(record) <= 8 + 5  # cleared before adding once over the limit
    # what arrived after the last clear still counts
    f = frame(64, fill=99)
    (x,) = rx_buffers(ma, [f])
    assert tx_from(mb, [(x, 64)]) == [f]
    assert zero_copy(mb) == 1
