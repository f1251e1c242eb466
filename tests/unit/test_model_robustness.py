"""Hostile input never crashes the model or escapes the DMA maps (issue 3, item 3)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.model_fixtures import MAC, FakeClock, frame, make, sent, up
from vnic.model import spec
from vnic.model.device import Vnic
from vnic.model.memory import GuestMemory
from vnic.model.testing import RX_DD, RX_EOP, TX_DD, TXD_CMD, TXD_DATA, TXD_EOP, TXD_RS

ENABLE = spec.TXDCTL.mask("ENABLE")
RXE = spec.ADV_RX_DESC.format("wb").field("ERR_RXE").mask
FAR = 0x7_0000_0000  # nothing is mapped there


def test_tx_buffer_outside_maps_is_dropped_and_completed() -> None:
    d, drv, wire = up()
    drv.post_raw(0, [(FAR, 64 | TXD_DATA | TXD_EOP, 0)])
    d.run_until_idle()
    assert wire == [] and d.counters()["tx_drop_dma"] == 1
    assert drv.tx_status(0, 0) & TX_DD  # the slot completes: the driver is not stuck
    drv.send(0, [frame()])
    d.run_until_idle()
    assert len(sent(wire)) == 1


def test_tx_buffer_running_past_the_end_of_memory() -> None:
    d, drv, wire = up()
    end = drv.mem.base + drv.mem.size
    drv.post_raw(0, [(end - 10, 64 | TXD_DATA | TXD_EOP, 0)])
    d.run_until_idle()
    assert wire == [] and d.counters()["tx_drop_dma"] == 1


def test_tx_zero_length_giant_and_bad_type() -> None:
    d, drv, wire = up()
    buf = drv.alloc(16384)
    drv.post_raw(
        0,
        [
            (buf, 0 | TXD_DATA | TXD_EOP, 0),  # zero length
            (buf, 8000 | TXD_DATA, 0),
            (buf, 8000 | TXD_DATA | TXD_EOP, 0),  # 16000 > 9728
            (buf, 64 | 0x20000000 | 0x00500000 | TXD_EOP, 0),  # DEXT with DTYP 5
        ],
    )
    d.run_until_idle()
    c = d.counters()
    assert wire == [] and c["tx_drop_length"] == 2 and c["tx_drop_bad_desc"] == 1


def test_tx_ring_outside_maps_stops_the_queue() -> None:
    d, drv, wire = make()
    drv.wr(spec.TDBAL.at(0), 0)
    drv.wr(spec.TDBAH.at(0), FAR >> 32)
    drv.wr(spec.TDLEN.at(0), 4096)
    drv.wr(spec.TXDCTL.at(0), ENABLE)
    drv.wr(spec.TDT.at(0), 10)
    assert d.service() is False
    assert drv.rd(spec.TXDCTL.at(0)) & ENABLE == 0
    assert d.counters()["queue_errors"] == 1 and wire == []


def test_ring_straddling_the_end_of_memory_stops_the_queue() -> None:
    d, drv, _ = make()
    end = drv.mem.base + drv.mem.size
    drv.wr(spec.RDBAL.at(0), end - 1024)
    drv.wr(spec.RDLEN.at(0), 4096)
    drv.wr(spec.RXDCTL.at(0), ENABLE)
    drv.wr(spec.RDT.at(0), 100)
    assert d.receive([frame()]) == 0
    assert drv.rd(spec.RXDCTL.at(0)) & ENABLE == 0
    assert d.counters()["queue_errors"] == 1


def test_tail_past_the_ring_is_ignored() -> None:
    d, drv, wire = up(count=16)
    ignored = d.counters()["reg_ignored"]
    drv.wr(spec.TDT.at(0), 16)
    drv.wr(spec.TDT.at(0), 0xFFFF_FFFF)
    drv.wr(spec.RDT.at(0), 16)
    assert drv.rd(spec.TDT.at(0)) == 0 and drv.rd(spec.RDT.at(0)) == 15
    assert d.service() is False and wire == []
    assert d.counters()["reg_ignored"] == ignored + 3


def test_rx_buffer_outside_maps_sets_error_bit() -> None:
    d, drv, _ = up(count=16)
    rxq = drv.rx[0]
    drv.poke(rxq.base, struct.pack("<QQ", FAR, 0))
    assert d.receive([frame(fill=1), frame(fill=2)]) == 1
    _pi, _hi, _rss, staterr, length, _vlan = drv.rx_desc(0, 0)
    assert staterr & (RX_DD | RX_EOP | RXE) == RX_DD | RX_EOP | RXE and length == 0
    assert drv.poll(0) == [b"", frame(fill=2)]
    assert d.counters()["rx_drop_dma"] == 1


def test_runts_and_empty_frames_are_dropped() -> None:
    d, _drv, _ = up()
    assert d.receive([b"", b"\x01", bytes(13)]) == 0
    assert d.counters()["rx_drop_runt"] == 3
    assert d.receive([]) == 0


@pytest.mark.parametrize("n", [14, 42, 59])
def test_runts_are_counted_and_dropped(n: int) -> None:
    """Ethernet's minimum is 60 bytes before the FCS: anything shorter is a runt (RUC)."""
    d, drv, _ = up()
    assert d.receive([frame(n, fill=1), frame(60, fill=2)]) == 1
    assert drv.poll(0) == [frame(60, fill=2)]
    assert d.counters()["rx_drop_runt"] == 1
    assert drv.rd(spec.RUC.at()) == 1 and drv.rd(spec.RLEC.at()) == 1


def test_store_bad_packets_delivers_runts_with_a_header() -> None:
    d, drv, _ = up()
    drv.set_bits(spec.FCTRL.at(), spec.FCTRL.mask("SBP"))
    assert d.receive([frame(42, fill=1), bytes(13), frame(60, fill=2)]) == 2
    assert drv.poll(0) == [frame(42, fill=1), frame(60, fill=2)]
    assert d.counters()["rx_drop_runt"] == 1  # no header: dropped all the same
    assert drv.rd(spec.RUC.at()) == 2  # undersize, stored or not


def test_runts_for_other_addresses_are_filtered_not_counted_as_runts() -> None:
    d, drv, _ = up(promisc=False)
    other = bytes.fromhex("020000000099")
    assert d.receive([frame(42, dst=other), frame(42)]) == 0
    c = d.counters()
    assert c["rx_drop_filter"] == 1 and c["rx_drop_runt"] == 1
    assert drv.rd(spec.RUC.at()) == 1  # RUC counts frames that passed the address filter


class _NoTouching:
    """A guest memory the device must not use: every attribute access fails the test."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"guest memory touched ({name}) while bus mastering is off")


def test_no_dma_while_bus_mastering_is_off_and_resume_when_on() -> None:
    d, drv, wire = up()
    before = d.counters()
    d.set_bus_master(False)
    memory, d.memory = d.memory, _NoTouching()  # type: ignore[assignment]
    txq = drv.tx[0]  # the driver writes its memory directly, the device's view is gone
    drv.poke(txq.buf_base, frame(fill=1))
    drv.poke(txq.base, struct.pack("<QII", txq.buf_base, TXD_CMD | TXD_RS | 64, 0))
    drv.wr(spec.TDT.at(0), 1)  # a doorbell with work: the fetch waits
    d.run_until_idle()
    assert d.receive([frame(fill=2), frame(fill=3)]) == 0
    after = d.counters()
    assert wire == [] and after["desc_fetched"] == before["desc_fetched"]
    assert after["dma_blocked"] - before["dma_blocked"] == 3  # 1 doorbell, 2 frames
    assert after["rx_drop_disabled"] == before["rx_drop_disabled"]
    assert (before["rx_on"], after["rx_on"]) == (1, 0)  # what a grader waits on before sending
    d.memory = memory
    d.set_bus_master(True)  # TX resumes where it stopped
    d.run_until_idle()
    assert sent(wire) == [frame(fill=1)]
    assert d.receive([frame(fill=4)]) == 1 and drv.poll(0) == [frame(fill=4)]


def test_bus_mastering_off_holds_queued_tx_work() -> None:
    d, drv, wire = up()
    drv.send(0, [frame(fill=1)])  # kicked, not yet served
    d.set_bus_master(False)
    assert d.service() is False and wire == []
    assert d.counters()["dma_blocked"] == 1
    d.set_bus_master(True)
    d.run_until_idle()
    assert sent(wire) == [frame(fill=1)]


def test_head_write_back_outside_maps_stops_the_queue() -> None:
    d, drv, _wire = up()
    drv.wr(spec.TDWBAH.at(0), FAR >> 32)
    drv.wr(spec.TDWBAL.at(0), spec.TDWBAL.mask("HEAD_WB_EN"))
    drv.send(0, [frame()])
    d.run_until_idle()
    assert d.counters()["queue_errors"] == 1
    assert drv.rd(spec.TXDCTL.at(0)) & ENABLE == 0


def test_unmapping_under_a_running_queue() -> None:
    d, drv, _wire = up()
    drv.send(0, [frame()] * 3)
    drv.mem.unmap_all()
    d.run_until_idle()
    assert d.receive([frame()]) == 0
    assert d.counters()["queue_errors"] == 2


# --- fuzzing ---------------------------------------------------------------------------------

GUARD = 4096
SIZE = 256 * 1024
BASE = 0x10_0000


def guarded() -> tuple[bytearray, Vnic]:
    """A device whose only DMA map is the middle of a larger buffer: the guard bytes on both
    sides are not mapped and must never change."""
    backing = bytearray(b"\xa5" * (GUARD + SIZE + GUARD))
    mem = GuestMemory()
    mem.map(BASE, SIZE, memoryview(backing)[GUARD : GUARD + SIZE])
    dev = Vnic(mem, MAC, clock=FakeClock())
    return backing, dev


def guards_intact(backing: bytearray) -> bool:
    return backing[:GUARD] == b"\xa5" * GUARD and backing[-GUARD:] == b"\xa5" * GUARD


# addresses near and across the map's edges, plus anywhere
addrs = st.one_of(
    st.integers(BASE - 8192, BASE + SIZE + 8192),
    st.integers(0, 2**64 - 1),
)
descs = st.tuples(addrs, st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    tx=st.lists(descs, max_size=40),
    rx=st.lists(descs, max_size=40),
    frames=st.lists(st.binary(max_size=3000), max_size=20),
    tdt=st.one_of(st.integers(0, 63), st.integers(0, 2**32 - 1)),
    rdt=st.integers(0, 63),
    bsize=st.integers(0, 0x7F),
    split=st.booleans(),
)
def test_fuzz_descriptors_never_escape(
    tx: list[tuple[int, int, int]],
    rx: list[tuple[int, int, int]],
    frames: list[bytes],
    tdt: int,
    rdt: int,
    bsize: int,
    split: bool,
) -> None:
    backing, dev = guarded()
    mem = dev.memory

    def wr(offset: int, value: int) -> None:
        dev.write_register(offset, 4, value)

    wr(spec.DMATXCTL.at(), spec.DMATXCTL.mask("TE"))
    wr(spec.RXCTRL.at(), spec.RXCTRL.mask("RXEN"))
    wr(spec.FCTRL.at(), spec.FCTRL.mask("UPE", "MPE", "BAM", "SBP"))  # runts stored too
    wr(spec.HLREG0.at(), spec.HLREG0.mask("JUMBOEN", "TXPADEN"))
    wr(spec.MAXFRS.at(), 16000 << 16)
    tx_ring, rx_ring = BASE, BASE + 4096
    for i, (a, c, o) in enumerate(tx):
        mem.write(tx_ring + 16 * i, struct.pack("<QII", a, c, o))
    for i, (a, c, o) in enumerate(rx):
        mem.write(rx_ring + 16 * i, struct.pack("<QII", a, c, o))
    wr(spec.TDBAL.at(0), tx_ring)
    wr(spec.TDLEN.at(0), 1024)
    wr(spec.TXDCTL.at(0), ENABLE)
    wr(spec.RDBAL.at(0), rx_ring)
    wr(spec.RDLEN.at(0), 1024)
    wr(spec.SRRCTL.at(0), bsize | (0 if split else 1 << 25))
    wr(spec.RXDCTL.at(0), ENABLE)
    wr(spec.TDT.at(0), tdt)
    wr(spec.RDT.at(0), rdt)
    dev.receive(frames)  # from the wire: before LPBK, which isolates the port from it
    wr(spec.HLREG0.at(), spec.HLREG0.mask("LPBK", "JUMBOEN"))  # TX comes back to RX
    dev.run_until_idle()
    assert guards_intact(backing)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 0x1FFFF), st.sampled_from([1, 2, 4, 8]), st.integers(0, 2**64 - 1)
        ),
        max_size=60,
    ),
    st.lists(st.binary(min_size=0, max_size=200), max_size=8),
)
def test_fuzz_register_writes_never_raise(
    writes: list[tuple[int, int, int]], frames: list[bytes]
) -> None:
    backing, dev = guarded()
    # point every ring at the map so that random enables find something to chew on
    for q in range(spec.NUM_QUEUES):
        dev.write_register(spec.TDBAL.at(q), 4, BASE + q * 2048)
        dev.write_register(spec.RDBAL.at(q), 4, BASE + 0x20000 + q * 2048)
    for off, size, value in writes:
        dev.write_register(
            off & ~(size - 1) if off % 7 else off, size, value & ((1 << (8 * size)) - 1)
        )
        dev.read_register(off, size)
        dev.service()
    dev.receive(frames)
    dev.run_until_idle()
    dev.counters()
    assert guards_intact(backing)
