"""Ring rules of TX and RX (spec §4): ownership, doorbells, write-back, splitting, filters."""

from __future__ import annotations

import struct

import pytest

from tests.unit.model_fixtures import BCAST, MAC, frame, make, sent, up
from vnic.model import spec
from vnic.model.device import rss_hash
from vnic.model.testing import RX_DD, RX_EOP, TX_DD, TXD_CMD, TXD_DATA, TXD_EOP, TXD_RS

ENABLE = spec.TXDCTL.mask("ENABLE")


def test_tx_doorbell_is_cheap_and_service_does_the_work() -> None:
    d, drv, wire = up()
    frames = [frame(64, fill=i) for i in range(5)]
    drv.send(0, frames)
    assert wire == []  # the doorbell only recorded the tail
    assert drv.rd(spec.TDT.at(0)) == 5 and drv.rd(spec.TDH.at(0)) == 0
    assert d.service() is False
    assert sent(wire) == frames
    assert drv.rd(spec.TDH.at(0)) == 5
    assert drv.tx_status(0, 4) & TX_DD  # RS on the last: DD written back
    assert drv.tx_status(0, 0) & TX_DD == 0  # no RS: no write-back
    assert drv.reclaim(0) == 5
    c = d.counters()
    assert c["doorbells"] >= 1 and c["tx_frames"] == 5 and c["desc_fetched"] == 5
    assert c["desc_written_back"] == 1 and c["dma_read_bytes"] == 5 * 16 + 5 * 64


def test_tx_budget_splits_work_across_service_calls() -> None:
    d, drv, wire = up(count=64)
    drv.send(0, [frame(fill=i) for i in range(40)], rs_each=True)
    assert d.service(budget=16) is True
    assert len(sent(wire)) == 16
    d.run_until_idle()
    assert len(sent(wire)) == 40


def test_tx_ring_wraps() -> None:
    d, drv, wire = up(count=16)
    for round_ in range(5):
        frames = [frame(fill=round_ * 10 + i) for i in range(10)]
        assert drv.send(0, frames) == 10
        d.run_until_idle()
        assert drv.reclaim(0) == 10
    assert len(sent(wire)) == 50 and len(set(sent(wire))) == 50


def test_tx_multi_descriptor_packet_gathered_to_eop() -> None:
    d, drv, wire = up()
    f = frame(300)
    a, b, c = drv.alloc(100), drv.alloc(100), drv.alloc(100)
    for addr, part in zip((a, b, c), (f[:100], f[100:200], f[200:]), strict=True):
        drv.poke(addr, part)
    ctx = (0, spec.ADV_TX_DESC.format("read").field("DTYP").value("CTXT") | 0x20000000, 0)
    drv.post_raw(
        0,
        [
            ctx,  # a context descriptor takes a slot and sends nothing
            (a, 100 | TXD_DATA, 300 << 14),
            (b, 100 | TXD_DATA, 0),
            (c, 100 | TXD_DATA | TXD_EOP, 0),
        ],
    )
    d.run_until_idle()
    assert sent(wire) == [f]
    assert drv.tx_status(0, 3) & TX_DD


def test_tx_packet_split_by_the_tail_completes_later() -> None:
    d, drv, wire = up()
    f = frame(200)
    a, b = drv.alloc(100), drv.alloc(100)
    drv.poke(a, f[:100])
    drv.poke(b, f[100:])
    drv.post_raw(0, [(a, 100 | TXD_DATA, 200 << 14)], rs_last=False)
    d.run_until_idle()
    assert wire == []
    drv.post_raw(0, [(b, 100 | TXD_DATA | TXD_EOP, 0)])
    d.run_until_idle()
    assert sent(wire) == [f]


def test_tx_pads_short_frames_with_txpaden() -> None:
    d, drv, wire = up()
    drv.send(0, [b"\x02" * 20])
    d.run_until_idle()
    assert sent(wire) == [b"\x02" * 20 + bytes(40)]


def test_tx_legacy_descriptor_accepted() -> None:
    d, drv, wire = up()
    f = frame(64)
    a = drv.alloc(64)
    drv.poke(a, f)
    drv.post_raw(0, [(a, 64 | TXD_EOP, 0)])  # DEXT = 0: legacy layout, same bits
    d.run_until_idle()
    assert sent(wire) == [f]


def test_tx_head_write_back() -> None:
    d, drv, _wire = up()
    drv.tx.clear()
    txq = drv.setup_tx(1, 32, head_wb=True)
    drv.send(1, [frame()] * 7)
    d.run_until_idle()
    assert int.from_bytes(drv.peek(drv.head_wb_addr, 4), "little") == 7
    assert txq.count == 32


def test_tx_disabled_queue_or_te_off_holds_work() -> None:
    d, drv, wire = up()
    drv.clear_bits(spec.DMATXCTL.at(), spec.DMATXCTL.mask("TE"))
    drv.send(0, [frame()])
    d.run_until_idle()
    assert wire == []
    drv.set_bits(spec.DMATXCTL.at(), spec.DMATXCTL.mask("TE"))
    d.run_until_idle()
    assert len(sent(wire)) == 1


def test_tx_multiple_queues_share_the_budget() -> None:
    d, drv, wire = make()
    drv.setup_tx(0, 64)
    drv.setup_tx(1, 64)
    drv.send(0, [frame(fill=0)] * 40)
    drv.send(1, [frame(fill=1)] * 40)
    d.service(budget=40)
    d.service(budget=40)
    got = sent(wire)
    assert got.count(frame(fill=1)) >= 20  # queue 1 was not starved by queue 0
    d.run_until_idle()
    assert len(sent(wire)) == 80


def test_rx_delivers_and_writes_back_length_and_status() -> None:
    d, drv, _ = up()
    frames = [frame(64 + i, fill=i) for i in range(10)]
    assert d.receive(frames) == 10
    assert drv.rd(spec.RDH.at(0)) == 10
    _pi, _hi, _rss, st, ln, _vlan = drv.rx_desc(0, 3)
    assert st & RX_DD and st & RX_EOP and ln == 67
    assert drv.poll(0) == frames
    assert drv.rd(spec.RDT.at(0)) == 9  # one behind next_to_clean


def test_rx_no_descriptor_drops_and_counts() -> None:
    d, drv, _ = up(count=8)
    assert d.receive([frame()] * 10) == 7  # N - 1 slots were handed over
    assert d.counters()["rx_drop_no_desc"] == 3
    assert len(drv.poll(0)) == 7
    assert d.receive([frame()] * 3) == 3


def test_rx_ring_wraps_with_refill() -> None:
    d, drv, _ = up(count=16)
    got = []
    for i in range(10):
        frames = [frame(fill=i * 8 + k) for k in range(8)]
        assert d.receive(frames) == 8
        got += drv.poll(0)
    assert len(got) == 80 and len(set(got)) == 80


@pytest.mark.parametrize("buf_kib, n", [(1, 3000), (2, 9000), (1, 1024), (1, 1025)])
def test_rx_frame_larger_than_buffer_spans_descriptors(buf_kib: int, n: int) -> None:
    d, drv, _ = make()
    drv.set_bits(spec.HLREG0.at(), spec.HLREG0.mask("JUMBOEN"))
    drv.wr(spec.MAXFRS.at(), 9728 + 4 << 16)
    drv.setup_rx(0, 32, buf_kib * 1024)
    f = frame(n)
    assert d.receive([f, frame(64)]) == 2
    parts = -(-n // (buf_kib * 1024))
    for slot in range(parts):
        st = drv.rx_desc(0, slot)[3]
        assert st & RX_DD and bool(st & RX_EOP) == (slot == parts - 1)
    assert drv.poll(0) == [f, frame(64)]


def test_rx_giant_without_jumbo_is_dropped() -> None:
    d, _drv, _ = up()
    assert d.receive([frame(1518), frame(1519)]) == 1
    assert d.counters()["rx_drop_giant"] == 1


def test_rx_legacy_descriptors() -> None:
    d, drv, _ = make()
    rxq = drv.setup_rx(0, 16)
    drv.wr(spec.SRRCTL.at(0), 2)  # DESCTYPE = LEGACY, 2 KiB
    f = frame(100)
    assert d.receive([f]) == 1
    addr, length, _csum, status, errors, _vlan = struct.unpack("<QHHBBH", drv.peek(rxq.base, 16))
    assert addr == rxq.buf_base and length == 100 and status == 3 and errors == 0
    assert drv.peek(rxq.buf_base, 100) == f


def test_rx_filter_unicast_broadcast_multicast() -> None:
    d, drv, _ = up(promisc=False)
    other = bytes.fromhex("020000000099")
    mcast = bytes.fromhex("01005e000001")
    assert d.receive([frame(dst=MAC), frame(dst=other), frame(dst=BCAST), frame(dst=mcast)]) == 2
    assert d.counters()["rx_drop_filter"] == 2
    drv.set_bits(spec.FCTRL.at(), spec.FCTRL.mask("MPE"))
    assert d.receive([frame(dst=mcast)]) == 1
    drv.clear_bits(spec.FCTRL.at(), spec.FCTRL.mask("BAM", "MPE"))
    assert d.receive([frame(dst=BCAST), frame(dst=mcast)]) == 0
    # a second receive address
    drv.wr(spec.RAL.at(1), int.from_bytes(other[:4], "little"))
    drv.wr(spec.RAH.at(1), int.from_bytes(other[4:], "little") | spec.RAH.mask("AV"))
    assert d.receive([frame(dst=other)]) == 1
    drv.set_bits(spec.FCTRL.at(), spec.FCTRL.mask("UPE"))
    assert d.receive([frame(dst=bytes.fromhex("02aabbccddee"))]) == 1


def test_rx_multicast_table() -> None:
    d, drv, _ = up(promisc=False)
    mcast = bytes.fromhex("01005e0000ab")
    drv.wr(spec.MCSTCTRL.at(), spec.MCSTCTRL.mask("MFE"))  # MO = 0: bits 47:36
    h = ((mcast[4] >> 4) | (mcast[5] << 4)) & 0xFFF
    assert d.receive([frame(dst=mcast)]) == 0
    drv.wr(spec.MTA.at(h >> 5), 1 << (h & 31))
    assert d.receive([frame(dst=mcast)]) == 1


def test_rx_disabled_paths_drop() -> None:
    d, drv, _ = up()
    drv.clear_bits(spec.RXCTRL.at(), spec.RXCTRL.mask("RXEN"))
    assert d.receive([frame()]) == 0
    drv.set_bits(spec.RXCTRL.at(), spec.RXCTRL.mask("RXEN"))
    drv.clear_bits(spec.RXDCTL.at(0), spec.RXDCTL.mask("ENABLE"))
    assert d.receive([frame()]) == 0
    assert d.counters()["rx_drop_disabled"] == 2


def test_rss_spreads_flows_over_queues() -> None:
    d, drv, _ = make()
    for q in range(4):
        drv.setup_rx(q, 64)
    for i in range(32):
        drv.wr(spec.RETA.at(i), 0x03020100)  # entries 0,1,2,3 repeating
    drv.wr(spec.MRQC.at(), spec.MRQC.mask("RSSEN"))
    frames = []
    for port in range(40):
        ip = bytes.fromhex("4500002e00000000401100000a0000010a000002")
        udp = port.to_bytes(2, "big") + b"\x00\x35\x00\x1a\x00\x00"
        frames.append(MAC + MAC + b"\x08\x00" + ip + udp + bytes(18))
    assert d.receive(frames) == 40
    hashes = [drv.rx_desc(q, 0)[2] for q in range(4)]
    received = [drv.poll(q) for q in range(4)]
    per_queue = [len(r) for r in received]
    assert sum(per_queue) == 40 and sum(1 for n in per_queue if n) >= 3
    for q in range(4):
        assert (hashes[q] != 0) == (per_queue[q] != 0)  # RSS hash written back
        if received[q]:  # the hash of the frame in that slot, not just any
            assert hashes[q] == rss_hash(received[q][0])


def test_loopback_sends_tx_to_own_rx() -> None:
    d, drv, wire = up()
    drv.set_bits(spec.HLREG0.at(), spec.HLREG0.mask("LPBK"))
    drv.send(0, [frame(fill=7)])
    d.run_until_idle()
    assert wire == [] and drv.poll(0) == [frame(fill=7)]


def test_loopback_isolates_the_port_from_the_wire() -> None:
    d, drv, wire = up()
    drv.set_bits(spec.HLREG0.at(), spec.HLREG0.mask("LPBK"))
    assert d.receive([frame(fill=1), frame(fill=2)]) == 0  # from the wire: dropped
    assert d.counters()["rx_drop_loopback"] == 2 and drv.poll(0) == []
    drv.send(0, [frame(fill=7)])
    d.run_until_idle()
    assert wire == [] and drv.poll(0) == [frame(fill=7)]  # its own TX still comes back
    drv.clear_bits(spec.HLREG0.at(), spec.HLREG0.mask("LPBK"))
    assert d.receive([frame(fill=3)]) == 1 and drv.poll(0) == [frame(fill=3)]


def test_two_devices_back_to_back() -> None:
    a, da, _ = up()
    b, db, _ = up()
    a.transmit = b.receive
    frames = [frame(64 + i, fill=i) for i in range(30)]
    da.send(0, frames)
    a.run_until_idle()
    assert db.poll(0) == frames


def test_queue_enable_needs_valid_length() -> None:
    d, drv, _ = make()
    for bad in (0, 100, 16 * 7, spec.MAX_RING_BYTES + 128):
        drv.wr(spec.TDLEN.at(2), bad)
        drv.wr(spec.TXDCTL.at(2), ENABLE)
        assert drv.rd(spec.TXDCTL.at(2)) & ENABLE == 0
    drv.wr(spec.TDLEN.at(2), 128)
    drv.wr(spec.TXDCTL.at(2), ENABLE)
    assert drv.rd(spec.TXDCTL.at(2)) & ENABLE
    assert d.counters()["queue_errors"] == 4


def test_txd_constants_match_the_spec_file() -> None:
    # spec §3.3: EOP | IFCS | DEXT | DTYP_DATA, and RS
    assert TXD_CMD == 0x01000000 | 0x02000000 | 0x20000000 | 0x00300000
    assert TXD_RS == 0x08000000


def test_the_counters_say_where_each_ring_stands() -> None:
    """What `ringlab watch` draws: size, head and tail of every queue, 0 while it is off."""
    d, drv, _ = up(count=64)
    drv.send(0, [frame(), frame()])
    d.run_until_idle()
    c = d.counters()
    assert (c["txq0_size"], c["txq0_head"], c["txq0_tail"]) == (64, 2, 2)
    assert c["rxq0_size"] == 64 and (c["rxq0_tail"] - c["rxq0_head"]) % 64 == c["rxq0_free"]
    assert c["txq1_size"] == c["txq1_head"] == c["txq1_tail"] == 0  # not set up
