"""The Python netmap bindings without a kernel: ABI layout (spec §3, §4, §8), port names
(§7), ring arithmetic (§5), and fill/receive/swap over a fake region laid out per §4."""

from __future__ import annotations

import ctypes
import errno
import json
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from vnic.netmap import abi, blast
from vnic.netmap.memory import Interface, Ring
from vnic.netmap.names import parse_port_name
from vnic.netmap.port import _control
from vnic.netmap.testing import FakePort, build_region

HEADER = Path(__file__).parents[2] / "vnic/linux/netmap/uapi/net/netmap.h"


def offsets(struct_type: type[ctypes.Structure]) -> dict[str, int]:
    return {name: getattr(struct_type, name).offset for name, *_ in struct_type._fields_}


# --- ABI: sizes and offsets as the spec measured them ---------------------------------------


def test_slot_layout() -> None:
    assert ctypes.sizeof(abi.NetmapSlot) == 16
    assert offsets(abi.NetmapSlot) == {"buf_idx": 0, "len": 4, "flags": 6, "ptr": 8}


def test_ring_layout() -> None:
    assert ctypes.sizeof(abi.NetmapRing) == 256 == abi.RING_SLOTS_OFFSET
    o = offsets(abi.NetmapRing)
    expected = {
        "buf_ofs": 0, "num_slots": 8, "nr_buf_size": 12, "ringid": 16, "dir": 18,
        "head": 20, "cur": 24, "tail": 28, "flags": 32, "ts": 40, "offset_mask": 56,
        "buf_align": 64, "sem": 128,
    }  # fmt: skip
    assert {k: o[k] for k in expected} == expected
    assert ctypes.sizeof(abi.NetmapTimeval) == 16


def test_interface_layout() -> None:
    assert ctypes.sizeof(abi.NetmapIf) == 56 == abi.RING_OFS_OFFSET
    assert offsets(abi.NetmapIf) == {
        "ni_name": 0, "ni_version": 16, "ni_flags": 20, "ni_tx_rings": 24, "ni_rx_rings": 28,
        "ni_bufs_head": 32, "ni_host_tx_rings": 36, "ni_host_rx_rings": 40, "ni_spare1": 44,
    }  # fmt: skip


def test_control_layouts() -> None:
    assert ctypes.sizeof(abi.NmreqHeader) == 88
    assert offsets(abi.NmreqHeader) == {
        "nr_version": 0, "nr_reqtype": 2, "nr_reserved": 4, "nr_name": 8, "nr_options": 72,
        "nr_body": 80,
    }  # fmt: skip
    assert ctypes.sizeof(abi.NmreqRegister) == 56
    assert offsets(abi.NmreqRegister) == {
        "nr_offset": 0, "nr_memsize": 8, "nr_tx_slots": 16, "nr_rx_slots": 20,
        "nr_tx_rings": 24, "nr_rx_rings": 26, "nr_host_tx_rings": 28, "nr_host_rx_rings": 30,
        "nr_mem_id": 32, "nr_ringid": 34, "nr_mode": 36, "nr_extra_bufs": 40, "_pad": 44,
        "nr_flags": 48,
    }  # fmt: skip
    assert ctypes.sizeof(abi.NmreqPortInfoGet) == 32
    assert offsets(abi.NmreqPortInfoGet) == {
        "nr_memsize": 0, "nr_tx_slots": 8, "nr_rx_slots": 12, "nr_tx_rings": 16,
        "nr_rx_rings": 18, "nr_host_tx_rings": 20, "nr_host_rx_rings": 22, "nr_mem_id": 24,
        "pad": 26,
    }  # fmt: skip
    assert ctypes.sizeof(abi.NmreqPoolsInfo) == 64
    assert offsets(abi.NmreqPoolsInfo)["nr_buf_pool_objsize"] == 60
    assert ctypes.sizeof(abi.NmreqOption) == 24
    assert offsets(abi.NmreqOption) == {
        "nro_next": 0, "nro_reqtype": 8, "nro_status": 12, "nro_size": 16,
    }  # fmt: skip
    assert ctypes.sizeof(abi.NmreqPortHdr) == 8


def test_legacy_nmreq_layout() -> None:
    assert ctypes.sizeof(abi.Nmreq) == 60
    assert offsets(abi.Nmreq) == {
        "nr_name": 0, "nr_version": 16, "nr_offset": 20, "nr_memsize": 24, "nr_tx_slots": 28,
        "nr_rx_slots": 32, "nr_tx_rings": 36, "nr_rx_rings": 38, "nr_ringid": 40, "nr_cmd": 42,
        "nr_arg1": 44, "nr_arg2": 46, "nr_arg3": 48, "nr_flags": 52, "spare2": 56,
    }  # fmt: skip


def test_ioctl_numbers() -> None:
    assert abi.NIOCCTRL == 0xC0586997
    assert abi.NIOCTXSYNC == 0x6994
    assert abi.NIOCRXSYNC == 0x6995
    assert abi.NIOCREGIF == 0xC03C6992
    assert abi.NIOCGINFO == 0xC03C6991


# --- ABI: the same names and values as the C header we ship ----------------------------------

_STRUCTS = {
    "netmap_slot": abi.NetmapSlot,
    "netmap_ring": abi.NetmapRing,
    "netmap_if": abi.NetmapIf,
    "nmreq_header": abi.NmreqHeader,
    "nmreq_option": abi.NmreqOption,
    "nmreq_register": abi.NmreqRegister,
    "nmreq_port_info_get": abi.NmreqPortInfoGet,
    "nmreq_port_hdr": abi.NmreqPortHdr,
    "nmreq_pools_info": abi.NmreqPoolsInfo,
    "nmreq_opt_offsets": abi.NmreqOptOffsets,
    "nmreq_pst_fd_reg": abi.NmreqPstFdReg,
    "nmreq": abi.Nmreq,
}


def _header() -> str:
    return re.sub(r"/\*.*?\*/", "", HEADER.read_text(), flags=re.S)


def test_struct_fields_match_the_c_header() -> None:
    text = _header()
    for c_name, py_type in _STRUCTS.items():
        body = re.search(rf"struct {c_name} \{{(.*?)\n\}}", text, re.S)
        assert body, c_name
        fields = [
            m.group(1)
            for line in body.group(1).split(";")
            if (m := re.search(r"(\w+)\s*(?:\[[^\]]*\])?\s*(?:__attribute__.*)?$", line.strip()))
        ]
        fields = [f for f in fields if f not in ("slot", "ring_ofs")]  # flexible arrays
        assert fields == [name for name, *_ in py_type._fields_], c_name


def test_constants_match_the_c_header() -> None:
    text = _header()
    number = r"#define\s+(\w+)\s+\(?(0x[0-9a-fA-F]+|\d+)\)?\s*$"
    defines = {name: int(value, 0) for name, value in re.findall(number, text, re.M)}
    for enum in re.findall(r"enum \{(.*?)\}", text, re.S):
        value = -1
        for item in enum.replace("\n", " ").split(","):
            if not item.strip():
                continue
            name, _, given = (s.strip() for s in item.partition("="))
            value = int(given, 0) if given else value + 1
            defines[name] = value
    checked = 0
    for name, value in defines.items():
        if name in ("NETMAP_MAX_FRAGS", "NM_CACHE_ALIGN") or hasattr(abi, name):
            assert getattr(abi, name) == value, name
            checked += 1
    assert checked >= 50
    for name in ("NS_BUF_CHANGED", "NR_REG_ONE_SW", "NR_TX_RINGS_ONLY", "NETMAP_REQ_CSB_ENABLE"):
        assert name in defines


# --- port names (spec §7) ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kernel_name", "mode", "ring", "flags"),
    [
        ("netmap:eth0", "eth0", abi.NR_REG_ALL_NIC, 0, 0),
        ("netmap:eth0-1", "eth0", abi.NR_REG_ONE_NIC, 1, 0),
        ("netmap:eth0^", "eth0", abi.NR_REG_SW, 0, 0),
        ("netmap:eth0^2", "eth0", abi.NR_REG_ONE_SW, 2, 0),
        ("netmap:eth0*", "eth0", abi.NR_REG_NIC_SW, 0, 0),
        ("netmap:eth0/R", "eth0", abi.NR_REG_ALL_NIC, 0, abi.NR_RX_RINGS_ONLY),
        ("netmap:eth0-3/Tx", "eth0", abi.NR_REG_ONE_NIC, 3, abi.NR_TX_RINGS_ONLY | abi.NR_EXCLUSIVE),  # noqa: E501
        ("netmap:enp0s3.100/x", "enp0s3.100", abi.NR_REG_ALL_NIC, 0, abi.NR_EXCLUSIVE),
        ("netmap:eth0{1", "eth0{1", abi.NR_REG_ALL_NIC, 0, 0),
        ("netmap:eth0}ab", "eth0}ab", abi.NR_REG_ALL_NIC, 0, 0),
        ("vale0:p1", "vale0:p1", abi.NR_REG_ALL_NIC, 0, 0),
        ("vale:p_2/rt", "vale:p_2", abi.NR_REG_ALL_NIC, 0, abi.NR_MONITOR_RX | abi.NR_MONITOR_TX),
    ],
)  # fmt: skip
def test_port_names(text: str, kernel_name: str, mode: int, ring: int, flags: int) -> None:
    name = parse_port_name(text)
    assert (name.kernel_name, name.mode, name.ring_id, name.flags) == (
        kernel_name,
        mode,
        ring,
        flags,
    )
    assert name.mem_id == 0 and name.text == text


def test_port_name_interface_and_mem_id() -> None:
    name = parse_port_name("netmap:eth1-0/T@2")
    assert name.interface == "eth1" and name.mem_id == 2 and name.mode_name == "ONE_NIC"
    assert parse_port_name("vale0:p1").interface is None


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("eth0", "must start with 'netmap:'"),
        ("netmap:", "expected an interface name"),
        ("netmap:eth0-", "cannot parse '-'"),
        ("netmap:br-lan", "cannot parse '-lan'"),
        ("netmap:eth0-4095", "out of range"),
        ("netmap:eth0/q", "unknown flag 'q'"),
        ("netmap:eth0/", "must be followed by flags"),
        ("netmap:eth0/RT", "/R and /T together"),
        ("netmap:eth0@0", "memory region id"),
        ("netmap:eth0@conf:rings=2", "memory region id"),
        ("netmap:eth0-1^", "cannot parse"),
        ("vale0", "valeSWITCH:PORT"),
        ("netmap:" + "e" * 64, "longer than 63 bytes"),
    ],
)
def test_bad_port_names(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=re.escape(why)):
        parse_port_name(text)


# --- the netmap_if: which rings are bound -----------------------------------------------------


def test_interface_lists_only_bound_rings() -> None:
    region = build_region(tx_rings=4, rx_rings=4, bound_tx=[1], bound_rx=[1])
    nifp = Interface(memoryview(region.memory), region.nr_offset)
    assert nifp.name == "eth0"
    assert (nifp.num_tx_rings, nifp.num_rx_rings) == (4, 4)
    assert len(nifp.ring_ofs) == (4 + 1) + (4 + 1)
    assert [r.ringid for r in nifp.tx_rings] == [1] and nifp.tx_rings[0].dir == abi.NR_TX
    assert [r.ringid for r in nifp.rx_rings] == [1] and nifp.rx_rings[0].dir == abi.NR_RX


@pytest.mark.parametrize("host_rings", [0, 1, 3])
def test_rx_entries_start_after_t_plus_max_1_ht(host_rings: int) -> None:
    """NETMAP_RXRING indexes past max(1, HT) host TX entries: a host entry always exists."""
    region = build_region(
        tx_rings=2, rx_rings=2, host_tx_rings=host_rings, host_rx_rings=host_rings,
        bound_tx=[0, 1, 2], bound_rx=[0, 1, 2],
    )  # fmt: skip
    nifp = Interface(memoryview(region.memory), region.nr_offset)
    host = max(1, host_rings)
    assert nifp.num_host_tx_rings == host
    assert [r.offset for r in nifp.tx_rings] == region.tx_ring_offsets[:3]
    assert [r.offset for r in nifp.rx_rings] == region.rx_ring_offsets[:3]
    assert [r.host for r in nifp.rx_rings] == [False, False, True]
    assert all(r.dir == abi.NR_RX for r in nifp.rx_rings)


def test_interface_refuses_a_ring_outside_the_region() -> None:
    region = build_region()
    struct.pack_into("=q", region.memory, region.nr_offset + abi.RING_OFS_OFFSET, 1 << 40)
    with pytest.raises(ValueError, match="outside the region"):
        Interface(memoryview(region.memory), region.nr_offset)


def test_extra_buffers_list() -> None:
    region = build_region(extra_buffers=3)
    nifp = Interface(memoryview(region.memory), region.nr_offset)
    extra = nifp.extra_buffers()
    assert len(extra) == 3 and len(set(extra)) == 3 and min(extra) >= 2
    assert nifp.bufs_head == extra[0]
    assert Interface(memoryview(build_region().memory), 1024).extra_buffers() == []


# --- ring arithmetic (spec §5) ----------------------------------------------------------------


def test_ring_after_register() -> None:
    with FakePort(build_region(num_slots=64)) as port:
        tx, rx = port.tx_rings[0], port.rx_rings[0]
        assert (tx.head, tx.cur, tx.tail, tx.num_slots, tx.buf_size) == (0, 0, 63, 64, 2048)
        assert tx.space() == 63 and not tx.empty and not tx.tx_pending()
        assert (rx.head, rx.tail, rx.space()) == (0, 0, 0) and rx.empty
        assert tx.next(62) == 63 and tx.next(63) == 0


def test_ring_of_a_size_not_a_power_of_two() -> None:
    with FakePort(build_region(num_slots=100)) as port:
        tx = port.tx_rings[0]
        assert tx.next(99) == 0
        assert tx.fill(bytes(60), 1000) == 99  # all but the gap slot
        assert tx.head == 99 and tx.empty and tx.tx_pending()
        port.txsync()
        assert tx.tail == 98 and tx.space() == 99 and not tx.tx_pending()


def test_buffer_arithmetic_is_netmap_buf() -> None:
    region = build_region()
    mem = memoryview(region.memory)
    ring = Interface(mem, region.nr_offset).tx_rings[0]
    hdr = abi.NetmapRing.from_buffer_copy(region.memory, ring.offset)
    slot = ring.slot(5)
    expected = ring.offset + hdr.buf_ofs + slot.buf_idx * hdr.nr_buf_size
    ring.buffer(5)[:4] = b"\xde\xad\xbe\xef"
    assert region.memory[expected : expected + 4] == b"\xde\xad\xbe\xef"
    assert len(ring.buffer(5)) == 2048
    with pytest.raises(IndexError):
        ring.slot(64)
    slot.buf_idx = region.num_buffers  # one past the pool
    with pytest.raises(IndexError, match="outside the pool"):
        ring.buffer(5)


def test_slot_view_reads_and_writes_shared_memory() -> None:
    region = build_region()
    ring = Interface(memoryview(region.memory), region.nr_offset).tx_rings[0]
    s = ring.slot(3)
    s.len, s.flags = 1514, abi.NS_REPORT
    raw = abi.NetmapSlot.from_buffer_copy(region.memory, ring.offset + 256 + 3 * 16)
    assert (raw.len, raw.flags, raw.buf_idx) == (1514, abi.NS_REPORT, s.buf_idx)
    assert "len=1514" in repr(s)


def test_advance_and_release() -> None:
    with FakePort(build_region(num_slots=8)) as port:
        tx = port.tx_rings[0]
        tx.advance(5)
        assert (tx.head, tx.cur) == (5, 5)
        with pytest.raises(ValueError, match="owns 2"):
            tx.advance(3)
        assert tx.release() == 2 and tx.head == 7 and tx.empty


# --- batches: fill, fill_frames, receive ------------------------------------------------------


def test_fill_numbers_frames_and_sets_lengths() -> None:
    with FakePort(build_region(num_slots=16)) as port:
        tx = port.tx_rings[0]
        frame = bytes(range(60))
        assert tx.fill(frame, 4, seq=100) == 4
        assert (tx.head, tx.cur) == (4, 4)
        assert [tx.slot(i).len for i in range(5)] == [60, 60, 60, 60, 0]
        port.txsync()
        sent = port.sent()
        assert len(sent) == 4
        for k, f in enumerate(sent):
            assert f[:14] == frame[:14] and f[22:] == frame[22:]
            assert int.from_bytes(f[14:22], "big") == 100 + k


def test_fill_wraps_and_stops_when_full() -> None:
    with FakePort(build_region(num_slots=16)) as port:
        tx = port.tx_rings[0]
        seq = 0
        for _ in range(5):
            n = tx.fill(bytes(64), 10, seq=seq, seq_offset=20)
            seq += n
            port.txsync()
        sent = port.sent()
        assert len(sent) == seq == 50
        assert [int.from_bytes(f[20:28], "big") for f in sent] == list(range(50))
        assert tx.fill(bytes(64), 100) == 15  # a ring of 16 holds 15
        assert tx.fill(bytes(64), 100) == 0


def test_fill_without_sequence_and_bad_sizes() -> None:
    with FakePort(build_region(num_slots=8, buf_size=256)) as port:
        tx = port.tx_rings[0]
        assert tx.fill(b"\xaa" * 256, 2) == 2
        port.txsync()
        assert port.sent() == [b"\xaa" * 256] * 2
        with pytest.raises(ValueError, match="does not fit"):
            tx.fill(bytes(257), 1)
        with pytest.raises(ValueError, match="does not fit"):
            tx.fill(bytes(20), 1, seq=0, seq_offset=14)
        with pytest.raises(ValueError):
            tx.fill(b"", 1)


def test_fill_frames_variable_lengths_with_wrap() -> None:
    with FakePort(build_region(num_slots=8)) as port:
        tx = port.tx_rings[0]
        tx.advance(6)
        port.txsync()  # head = 6: the next batch wraps
        port.sent().clear()
        frames = [bytes([i]) * (60 + i) for i in range(5)]
        assert tx.fill_frames(frames) == 5 and tx.head == 3
        port.txsync()
        assert port.sent() == frames
        with pytest.raises(ValueError, match="does not fit"):
            tx.fill_frames([bytes(4000)])


def test_receive_copies_and_returns_slots() -> None:
    with FakePort(build_region(num_slots=8)) as port:
        rx = port.rx_rings[0]
        frames = [bytes([i]) * (60 + i) for i in range(20)]
        port.deliver(frames)
        got: list[bytes] = []
        for _ in range(10):
            port.rxsync()  # takes back what was received, refills with what is queued
            got += rx.receive(max_frames=5)
            got += rx.receive()
        assert got == frames
        assert rx.head == rx.tail == rx.cur


def test_receive_refuses_a_length_beyond_the_buffer() -> None:
    with FakePort(build_region(num_slots=8)) as port:
        rx = port.rx_rings[0]
        port.deliver([bytes(60)])
        port.rxsync()
        rx.slot(0).len = 4000
        with pytest.raises(ValueError, match="more than 2048"):
            rx.receive()


def test_batches_refuse_indices_no_ring_can_have() -> None:
    region = build_region(num_slots=8)
    port = FakePort(region)
    tx = port.tx_rings[0]
    struct.pack_into("=I", region.memory, tx.offset + abi.NetmapRing.tail.offset, 8)
    with pytest.raises(ValueError, match=r"outside 0\.\.7"):
        tx.fill(bytes(60), 1)
    struct.pack_into("=I", region.memory, tx.offset + abi.NetmapRing.tail.offset, 7)
    tx.slot(0).buf_idx = 1 << 30
    with pytest.raises(ValueError, match="beyond the pool"):
        tx.fill(bytes(60), 1)


def test_fake_kernel_resets_a_ring_with_a_bad_head() -> None:
    with FakePort(build_region(num_slots=8)) as port:
        rx = port.rx_rings[0]
        rx.head = rx.cur = 5  # beyond tail: the program does not own those slots
        port.rxsync()
        assert port.rx_krings[0].resets == 1 and rx.head == 0


# --- zero-copy swap ---------------------------------------------------------------------------


def test_swap_exchanges_buffers_and_marks_both() -> None:
    with FakePort(build_region(num_slots=8)) as port:
        rx, tx = port.rx_rings[0], port.tx_rings[0]
        port.deliver([b"\x01" * 70])
        port.rxsync()
        rx_buf, tx_buf = rx.slot(0).buf_idx, tx.slot(0).buf_idx
        rx.swap(0, tx, 0)
        assert (rx.slot(0).buf_idx, tx.slot(0).buf_idx) == (tx_buf, rx_buf)
        assert tx.slot(0).len == 70 and rx.slot(0).len == 0
        assert rx.slot(0).flags & abi.NS_BUF_CHANGED and tx.slot(0).flags & abi.NS_BUF_CHANGED
        assert bytes(tx.buffer(0)[:70]) == b"\x01" * 70
        tx.advance(1)
        rx.advance(1)
        port.txsync()
        assert port.sent() == [b"\x01" * 70]


def test_swap_batch_moves_buffers_across_the_wrap_of_both_rings() -> None:
    """Both rings wrap at different slots; every buffer moves with its length, both
    sides are marked NS_BUF_CHANGED, both heads advance, and the frames leave intact."""
    with FakePort(build_region(num_slots=8)) as port:
        rx, tx = port.rx_rings[0], port.tx_rings[0]
        port.deliver([bytes([9]) * 60] * 5)  # move both rings' heads off slot 0 first
        port.rxsync()
        rx.release()
        tx.fill(b"\x00" * 60, 3)
        port.txsync()
        port.rxsync()
        frames = [bytes([i]) * (60 + i) for i in range(6)]
        port.deliver(frames)
        port.rxsync()
        assert (rx.head, tx.head) == (5, 3) and rx.space() == 6
        before_rx = [rx.slot((5 + k) % 8).buf_idx for k in range(6)]
        before_tx = [tx.slot((3 + k) % 8).buf_idx for k in range(6)]
        assert rx.swap_batch(tx, 6) == 6
        assert (rx.head, rx.cur, tx.head, tx.cur) == (3, 3, 1, 1)
        for k in range(6):
            r, t = rx.slot((5 + k) % 8), tx.slot((3 + k) % 8)
            assert (r.buf_idx, t.buf_idx) == (before_tx[k], before_rx[k])
            assert t.len == 60 + k and r.flags & t.flags & abi.NS_BUF_CHANGED
        port.txsync()
        assert port.sent()[-6:] == frames


def test_swap_batch_stops_at_the_fuller_ring_and_at_count() -> None:
    with FakePort(build_region(num_slots=8)) as port:
        rx, tx = port.rx_rings[0], port.tx_rings[0]
        tx.fill(b"\x00" * 60, 5)  # 7 free slots, 5 taken: 2 left
        port.deliver([b"\x01" * 60] * 4)
        port.rxsync()
        assert rx.swap_batch(tx, 1) == 1
        assert rx.swap_batch(tx) == 1  # only one free TX slot was left
        assert rx.space() == 2 and tx.space() == 0
        assert rx.swap_batch(tx) == 0
        with pytest.raises(ValueError, match="itself"):
            rx.swap_batch(rx)


def test_swap_refuses_rings_of_another_region() -> None:
    with (
        FakePort() as a,
        FakePort(build_region(spare_buffers=3)) as b,
        pytest.raises(ValueError, match="same memory region"),
    ):
        a.tx_rings[0].swap(0, b.rx_rings[0], 0)


# --- the port's system calls, without netmap --------------------------------------------------


def test_kernel_errors_name_the_request() -> None:
    fd = os.open("/dev/null", os.O_RDWR)
    try:
        with pytest.raises(OSError, match="NIOCCTRL REGISTER of 'eth0' failed") as info:
            _control(fd, abi.NETMAP_REQ_REGISTER, "eth0", abi.NmreqRegister())
        assert info.value.errno == errno.ENOTTY
    finally:
        os.close(fd)


def test_the_package_needs_only_the_standard_library() -> None:
    code = (
        "import sys, vnic.netmap, vnic.netmap.blast, vnic.netmap.testing; "
        "print(sorted(m for m in sys.modules if m.startswith('vnic.model')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        cwd=Path(__file__).parents[2],
    )  # fmt: skip
    assert out.stdout.strip() == "[]"


# --- blast: the benchmark's TX loop and the RX check ------------------------------------------


def test_transmit_sends_numbered_frames() -> None:
    with FakePort(build_region(num_slots=32)) as port:
        frame = blast.build_frame(bytes.fromhex("020000000002"), b"N" * 8, 60)
        stats = blast.transmit(port, frame, 10.0, batch=8, count=100)
        assert stats["packets"] == 100 and stats["drained"]
        assert stats["syncs"] >= 100 // 8 and stats["slots_per_sync"] <= 8
        sent = port.sent()
        assert [int.from_bytes(f[14:22], "big") for f in sent] == list(range(100))
        assert sent[0][:6] == b"\xff" * 6 and sent[0][12:14] == b"\x88\xb5"
        assert sent[0][22:30] == b"N" * 8 and len(sent[0]) == 60


def test_receive_checks_sequence_numbers() -> None:
    with FakePort(build_region(num_slots=16)) as port:
        template = blast.build_frame(blast.FALLBACK_MAC, b"K" * 8, 60)

        def numbered(seq: int, nonce: bytes = b"K" * 8) -> bytes:
            return template[:14] + seq.to_bytes(8, "big") + nonce + template[30:]

        seqs = [0, 1, 2, 4, 3, 5, 5, 9]
        port.deliver([numbered(s) for s in seqs] + [numbered(6, b"X" * 8), bytes(60)])
        stats = blast.receive(port, 5.0, expect=10, idle=0.05)
        assert stats["packets"] == 8 and stats["unique"] == 7 and stats["frames"] == 10
        assert stats["duplicates"] == 1 and stats["out_of_order"] == 1
        assert stats["lost"] == 3 and stats["foreign"] == 2
        assert stats["nonce"] == (b"K" * 8).hex()


def test_sequence_check_without_expect() -> None:
    check = blast.SequenceCheck()
    for s in [10, 11, 13, 12, 12, 1 << 40]:
        check.add(s)
    assert (check.unique, check.duplicates, check.out_of_order, check.invalid) == (4, 1, 1, 1)
    assert check.lost() == 0
    check.add(20)
    assert check.lost() == 6


def test_blast_main_fake_prints_one_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["tx", "netmap:eth0", "--fake", "--seconds", "0.2", "--batch", "64", "--size", "60"]
    assert blast.main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert {"pps", "packets", "syncs", "slots_per_sync"} <= result.keys()
    assert result["packets"] > 0 and result["slots_per_sync"] == 64.0


def test_blast_main_rejects_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        blast.main(["tx", "eth0", "--fake"])
    assert "must start with 'netmap:'" in capsys.readouterr().err
    assert blast.main(["tx", "netmap:eth0", "--fake", "--size", "20"]) == 2


def test_ring_works_over_any_writable_buffer() -> None:
    """Ring needs only a writable byte memoryview: the same class for mmap and bytearray."""
    region = build_region(num_slots=8)
    ring = Ring(memoryview(region.memory), region.tx_ring_offsets[0])
    assert ring.space() == 7 and "TX 0" in repr(ring)


# --- Port over a file laid out like the region: open, mmap, rings, sync, close ----------------


def test_port_open_maps_the_region_and_syncs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """REGISTER and the syncs are faked at the ioctl; the mmap, the netmap_if at nr_offset
    and the rings are the real code path, over a file holding a fake region."""
    from vnic.netmap import port as port_module

    region = build_region(tx_rings=2, rx_rings=2, bound_tx=[1], bound_rx=[1])
    path = tmp_path / "region"
    path.write_bytes(region.memory)
    calls: list[tuple[int, str]] = []

    def fake_ioctl(fd: int, request: int, arg: object = 0) -> int:
        if request == abi.NIOCCTRL:
            assert isinstance(arg, abi.NmreqHeader)
            assert (arg.nr_version, arg.nr_reqtype) == (14, abi.NETMAP_REQ_REGISTER)
            reg = abi.NmreqRegister.from_address(arg.nr_body)
            calls.append((request, f"{arg.nr_name.decode()} {reg.nr_mode} {reg.nr_ringid}"))
            reg.nr_offset, reg.nr_memsize = region.nr_offset, len(region.memory)
            reg.nr_tx_rings = reg.nr_rx_rings = 2
            reg.nr_mem_id = 1
        else:
            calls.append((request, ""))
        return 0

    monkeypatch.setattr(port_module, "_open_device", lambda: os.open(path, os.O_RDWR))
    monkeypatch.setattr(port_module.fcntl, "ioctl", fake_ioctl)
    with port_module.Port.open("netmap:eth0-1") as port:
        assert calls == [(abi.NIOCCTRL, f"eth0 {abi.NR_REG_ONE_NIC} 1")]
        assert [r.ringid for r in port.tx_rings] == [1] and port.tx_rings[0].mem_id == 1
        assert port.tx_rings[0].fill(bytes(60), 3, seq=7) == 3
        port.txsync()
        port.rxsync()
        assert calls[1:] == [(abi.NIOCTXSYNC, ""), (abi.NIOCRXSYNC, "")]
        assert port.poll(0, rx=True, tx=True)  # a regular file is always ready
        assert (port.txsyncs, port.rxsyncs, port.polls) == (1, 1, 1)
        assert "ONE_NIC" in repr(port)
        kept = port.tx_rings[0].buffer(0)
        with pytest.warns(RuntimeWarning, match="still alive"):
            port.close()
        del kept
    on_disk = path.read_bytes()  # MAP_SHARED: the writes reached the "kernel's" memory
    ring = Interface(memoryview(bytearray(on_disk)), region.nr_offset).tx_rings[0]
    assert ring.head == 3 and ring.slot(2).len == 60
    assert int.from_bytes(ring.buffer(2)[14:22], "big") == 9


def test_port_open_without_the_module() -> None:
    if os.path.exists(abi.NETMAP_DEVICE):
        pytest.skip("this machine has netmap")
    from vnic.netmap import Port

    with pytest.raises(FileNotFoundError, match=r"is netmap\.ko loaded"):
        Port.open("netmap:eth0")
