"""StackMap's Python side without a kernel (stackmap-api §3-§9, §12): the PASTE slot layout,
the per-fd batch view of RX, TX filling (a full ring, a full send buffer), end of stream,
attach's checks, the counters, REGISTER with option OFFSETS."""

from __future__ import annotations

import ctypes
import errno
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vnic.netmap import abi
from vnic.netmap.memory import Interface, stack_fields, stack_ptr
from vnic.netmap.names import parse_port_name
from vnic.netmap.port import parse_counters
from vnic.netmap.stack import StackPort, listen
from vnic.netmap.testing import FakePort, FakeStackPort, build_region

ROOT = Path(__file__).parents[2]
HEADER = ROOT / "vnic/linux/netmap/uapi/net/netmap.h"


def stack(num_slots: int = 16, offset: int = 0, doff: int = 0) -> tuple[StackPort, FakeStackPort]:
    fake = FakeStackPort(num_slots=num_slots, offset=offset)
    return StackPort(fake, doff=doff), fake


# --- the ABI: as netmap.h says --------------------------------------------------------------


def test_stack_structures_and_constants_match_the_header() -> None:
    assert ctypes.sizeof(abi.NmreqOptOffsets) == 56  # NETMAP_ABI_CHECK in the header
    assert abi.NmreqOptOffsets.nro_max_offset.offset == 24
    assert abi.NmreqOptOffsets.nro_offset_bits.offset == 40
    assert ctypes.sizeof(abi.NmreqPstFdReg) == 8
    assert (abi.NETMAP_REQ_PST_FD_REG, abi.NETMAP_REQ_OPT_OFFSETS) == (18, 5)
    text = HEADER.read_text()
    defines = dict(re.findall(r"#define\s+(NM_PST_\w+)\s+(0x[0-9a-fA-F]+|\d+)(?:ULL)?\s", text))
    assert len(defines) == 6
    for name, value in defines.items():
        assert getattr(abi, name) == int(value, 0), name
    assert f'#define NM_STACK_PREFIX\t"{abi.NM_STACK_PREFIX}"' in text


def test_stack_port_names() -> None:
    name = parse_port_name("stack:eth0")
    assert (name.kernel_name, name.interface, name.mode) == ("stack:eth0", "eth0", 1)
    for bad in ("stack:eth0-1", "stack:eth0/T", "stack:", "stack:eth0@1"):
        with pytest.raises(ValueError, match="a stack port is 'stack:IFNAME'"):
            parse_port_name(bad)
    with pytest.raises(ValueError, match="or 'stack:'"):
        parse_port_name("eth0")


# --- slot.ptr: fd, doff and the generic offset side by side ---------------------------------


@given(
    fd=st.integers(0, 2**32 - 1),
    doff=st.integers(0, 1023),
    offset=st.integers(0, 255),
    high=st.integers(0, 2**14 - 1),
)
def test_ptr_round_trips_and_ignores_the_unused_bits(
    fd: int, doff: int, offset: int, high: int
) -> None:
    ptr = stack_ptr(fd, doff, offset)
    assert ptr == offset | fd << 8 | doff << 40 and ptr < 1 << 50
    assert stack_fields(ptr) == (fd, doff, offset)
    assert stack_fields(ptr | high << 50) == (fd, doff, offset)


def test_values_that_would_bleed_into_a_neighbour_are_refused() -> None:
    for fd, doff, offset in [(2**32, 0, 0), (-1, 0, 0), (0, 1024, 0), (0, -1, 0), (0, 0, 256)]:
        with pytest.raises(ValueError, match=r"outside|does not fit"):
            stack_ptr(fd, doff, offset)


def test_slot_fields_set_only_their_own_bits() -> None:
    with FakeStackPort(num_slots=8) as fake:
        slot = fake.tx_rings[0].slot(3)
        slot.ptr = 1 << 63 | stack_ptr(0, 0, 0)  # an unused bit, kept by every setter
        slot.fd = 2**32 - 1
        assert (slot.fd, slot.doff, slot.offset) == (2**32 - 1, 0, 0)
        slot.doff = 1023
        slot.offset = 255
        assert (slot.fd, slot.doff, slot.offset) == (2**32 - 1, 1023, 255)
        slot.fd = 7
        assert slot.ptr == 1 << 63 | stack_ptr(7, 1023, 255)
        for field, value in [("doff", 1024), ("fd", 2**32), ("offset", 256), ("fd", -1)]:
            with pytest.raises(ValueError, match="outside"):
                setattr(slot, field, value)
        assert slot.ptr == 1 << 63 | stack_ptr(7, 1023, 255)  # nothing changed
        assert fake.tx_rings[0].slot(2).ptr == 0 and fake.tx_rings[0].slot(4).ptr == 0


def test_offset_follows_the_rings_offset_mask() -> None:
    with FakePort(build_region(num_slots=8)) as port:  # a NIC port: offset_mask 0
        slot = port.tx_rings[0].slot(0)
        slot.ptr = 0x12
        assert slot.offset == 0
        with pytest.raises(ValueError, match="outside the mask"):
            slot.offset = 1


def test_slot_data_is_a_view_of_len_minus_doff_bytes_after_offset_plus_doff() -> None:
    with FakeStackPort(num_slots=8, offset=16) as fake:
        ring = fake.tx_rings[0]
        slot = ring.slot(1)
        ring.buffer(1)[16 + 4 : 16 + 9] = b"hello"
        slot.ptr, slot.len = stack_ptr(5, 4, 16), 4 + 5
        assert bytes(slot.data) == b"hello" and slot.fd == 5
        slot.data[:1] = b"J"  # in place, no copy
        assert bytes(ring.buffer(1)[20:25]) == b"Jello"
        slot.len = 2048  # would end past the buffer
        with pytest.raises(ValueError, match="inside a 2048-byte buffer"):
            _ = slot.data


# --- RX: the per-fd batch view (the scratchpad) ---------------------------------------------


def test_receive_groups_slots_per_fd_in_stream_order_without_copying() -> None:
    port, fake = stack(num_slots=16, offset=8)
    room = 2048 - 8
    big = bytes(range(256)) * 20  # 5120 bytes: three slots
    fake.arrive(5, b"a1")
    fake.arrive(7, big)
    fake.arrive(5, b"a2")
    fake.arrive(9, b"c")
    pad = port.receive()
    assert list(pad.data) == [5, 7, 9] and pad.eof == []
    assert [bytes(v) for v in pad.data[5]] == [b"a1", b"a2"]
    assert [len(v) for v in pad.data[7]] == [room, room, len(big) - 2 * room]
    assert pad.joined(7) == big and pad.joined(1) == b""
    assert (pad.slots, pad.nbytes) == (6, 2 + len(big) + 2 + 1) and pad
    rx = fake.rx_rings[0]
    assert rx.head == rx.tail == 6  # the slots went back to the kernel at once
    assert pad.data[9][0].obj is fake.region.memory  # a view of the buffer itself
    assert fake.rx_rings[0].slot(0).offset == 8
    fake.arrive(9, b"d")
    again = port.receive()
    with pytest.raises(ValueError, match="released"):
        bytes(pad.data[5][0])  # the last batch's views expire with the next sync
    assert again.joined(9) == b"d" and port.received_slots == 7


def test_receive_wraps_the_ring_and_leaves_the_gap() -> None:
    port, fake = stack(num_slots=8)
    for i in range(20):
        fake.arrive(3 + i % 2, bytes([i]) * 10)
    seen: dict[int, bytes] = {3: b"", 4: b""}
    while pads := port.receive():
        assert pads.slots <= 7  # one slot always stays empty
        for fd in pads.data:
            seen[fd] += pads.joined(fd)
    assert seen[3] == b"".join(bytes([i]) * 10 for i in range(0, 20, 2))
    assert seen[4] == b"".join(bytes([i]) * 10 for i in range(1, 20, 2))
    assert fake.counts["rx_slots"] == 20 and fake.counts["rx_bytes"] == 200


def test_end_of_stream_is_one_slot_with_len_equal_to_doff() -> None:
    port, fake = stack()
    fake.arrive(5, b"last words")
    fake.arrive_eof(5)
    fake.arrive_eof(6)  # no data at all before the end
    pad = port.receive()
    assert pad.joined(5) == b"last words" and pad.eof == [5, 6]
    assert 6 not in pad.data and pad.slots == 3 and pad.nbytes == 10
    slot = fake.rx_rings[0].slot(2)
    assert (slot.len, slot.doff, slot.fd) == (0, 0, 6)
    # a kernel that put the end at doff 10: still the end (len == doff), still no data
    rx = fake.rx_rings[0]
    s = rx.slot(rx.tail)
    s.ptr, s.len = stack_ptr(8, 10, 0), 10
    fake.rx_krings[0].hwtail = rx.next(rx.tail)
    fake._write(fake.rx_krings[0], abi.NetmapRing.tail.offset, rx.next(rx.tail))
    pad = port.receive(sync=False)
    assert pad.eof == [8] and pad.data == {}


def test_receive_refuses_slots_that_point_outside_their_buffer() -> None:
    port, fake = stack()
    fake.arrive(5, b"x" * 100)
    fake.rxsync()
    rx = fake.rx_rings[0]
    for ptr, length in [(stack_ptr(5, 101, 0), 100), (stack_ptr(5, 0, 255), 2000)]:
        rx.slot(0).ptr, rx.slot(0).len = ptr, length
        with pytest.raises(ValueError, match="not inside a 2048-byte buffer"):
            port.receive(sync=False)
        assert rx.head == 0  # nothing was taken


# --- TX: fill, one sync, a full ring, a full send buffer ------------------------------------


def test_send_fills_slots_in_place_and_sent_slots_get_fresh_buffers(
    tcp_pairs: list[tuple[socket.socket, socket.socket]],
) -> None:
    port, fake = stack(num_slots=16, offset=8, doff=4)
    a, b = (port.attach(conn) for conn, _ in tcp_pairs[:2])
    tx = fake.tx_rings[0]
    buffers = [tx.slot(i).buf_idx for i in range(3)]
    tx.slot(0).flags = abi.NS_BUF_CHANGED  # the kernel's note from an earlier sync
    fake.txsyncs = 0
    report = port.send_batch([(a, b"hello"), (b, bytearray(b"world")), (a, memoryview(b"!"))])
    assert (report.slots, report.nbytes, report.taken, report.in_ring) == (3, 11, 3, 0)
    assert fake.txsyncs == 1 and report.queued == 0
    assert fake.stream(a) == b"hello!" and fake.stream(b) == b"world"
    slot = tx.slot(0)
    assert (slot.fd, slot.doff, slot.offset, slot.len) == (a, 4, 8, 4 + 5)
    # TCP keeps a sent buffer until it is acknowledged: the slot has another one now
    assert [tx.slot(i).buf_idx for i in range(3)] != buffers
    assert all(tx.slot(i).flags & abi.NS_BUF_CHANGED for i in range(3))
    assert (tx.head, tx.tail) == (3, 2)  # everything sent: tail = head - 1
    tx.slot(3).flags = abi.NS_BUF_CHANGED
    assert tx.fill_stack([(a, b"again")], doff=4, offset=8) == 1
    assert tx.slot(3).flags == 0  # the kernel's note was for us: we changed no buffer
    assert port.flush().taken == 1  # nothing queued, but a slot in the ring: one sync
    assert fake.stream(a) == b"hello!again" and fake.counts["tx_zerocopy"] == 4
    assert port.flush().slots == 0 and fake.txsyncs == 2  # nothing to do: no system call


def test_data_longer_than_a_slot_is_cut_into_slots(
    tcp_pairs: list[tuple[socket.socket, socket.socket]],
) -> None:
    port, fake = stack(num_slots=16, offset=16, doff=66)
    fd = port.attach(tcp_pairs[0][0])
    data = os.urandom(10_000)
    assert port.room == 2048 - 16 - 66
    report = port.send(fd, data)
    assert report.slots == -(-10_000 // port.room) and fake.stream(fd) == data


def test_a_full_ring_keeps_the_rest_in_python_and_loses_nothing(
    tcp_pairs: list[tuple[socket.socket, socket.socket]],
) -> None:
    port, fake = stack(num_slots=8)
    a, b = (port.attach(conn) for conn, _ in tcp_pairs[:2])
    fake.sndbuf[a] = fake.sndbuf[b] = 0  # TCP takes nothing: the ring fills up
    small = [(fd, bytes([97 + i]) * 50) for i in range(9) for fd in (a, b)]
    mine = bytearray(b"M" * 500)  # the caller's buffer, reused after send
    report = port.send_batch([(a, b"A" * 3000), (b, b"B" * 100), *small, (b, mine)])
    assert report.slots == 7 and report.taken == 0 and report.in_ring == 7
    assert report.queued == 3000 + 100 + 18 * 50 + 500 - report.nbytes > 0
    assert port.backlog == report.queued and port.stalled
    assert port.pending(a) and port.pending(b)
    mine[:] = b"X" * 500  # what stayed queued was copied: the caller may reuse its buffer
    del fake.sndbuf[a], fake.sndbuf[b]
    while port.backlog or port.stalled:
        port.flush()
    want_a = b"A" * 3000 + b"".join(bytes([97 + i]) * 50 for i in range(9))
    want_b = b"B" * 100 + b"".join(bytes([97 + i]) * 50 for i in range(9)) + b"M" * 500
    assert fake.stream(a) == want_a and fake.stream(b) == want_b
    assert not port.pending(a) and not port.pending(b)


def test_a_full_send_buffer_stops_the_sync_at_its_slot_and_the_next_retries(
    tcp_pairs: list[tuple[socket.socket, socket.socket]],
) -> None:
    port, fake = stack(num_slots=16)
    a, b = (port.attach(conn) for conn, _ in tcp_pairs[:2])
    fake.sndbuf[a] = 10  # a's TCP takes 10 more bytes, then its send buffer is full
    report = port.send_batch([(b, b"b1"), (a, b"a" * 8), (a, b"a" * 8), (b, b"b2")])
    assert (report.slots, report.taken, report.in_ring, report.queued) == (4, 2, 2, 0)
    tx = fake.tx_rings[0]
    assert tx.tail == 1 and tx.head == 4  # tail just before the refused slot
    assert fake.stream(a) == b"a" * 8 and fake.stream(b) == b"b1"  # b2 waits behind a
    assert port.pending(a) and port.pending(b) and port.stalled
    assert fake.counts["tx_eagain"] == 1
    fake.sndbuf[a] = 100  # a's peer acknowledged: room again
    report = port.flush()  # no new data, but a sync to retry
    assert (report.slots, report.taken, report.in_ring) == (0, 2, 0)
    assert fake.stream(a) == b"a" * 16 and fake.stream(b) == b"b1b2"
    assert not port.stalled and tx.tail == 3


def test_slots_the_kernel_cannot_send_are_taken_and_counted(
    tcp_pairs: list[tuple[socket.socket, socket.socket]],
) -> None:
    port, fake = stack()
    a = port.attach(tcp_pairs[0][0])
    report = port.send_batch([(99, b"nobody"), (a, b"ok")])  # fd 99 is not attached
    assert report.taken == 2 and fake.stream(a) == b"ok" and 99 not in fake.streams
    assert fake.counts["tx_dropped"] == 1


def test_forget_drops_what_is_queued_for_one_fd(
    tcp_pairs: list[tuple[socket.socket, socket.socket]],
) -> None:
    port, fake = stack(num_slots=4)
    a, b = (port.attach(conn) for conn, _ in tcp_pairs[:2])
    fake.sndbuf[a] = 0
    port.send_batch([(a, b"x" * 2048 * 3), (b, b"y" * 10), (a, b"z")])  # 3 slots fit
    assert port.backlog == 11 and port.forget(a) == 1 and port.backlog == 10
    assert port.pending(a)  # its slots in the ring are the kernel's: not forgotten
    del fake.sndbuf[a]
    while port.backlog or port.stalled:
        port.flush()
    assert fake.stream(a) == b"x" * 2048 * 3 and fake.stream(b) == b"y" * 10


def test_queue_refuses_what_slot_ptr_cannot_name() -> None:
    port, _ = stack()
    with pytest.raises(ValueError, match="cannot be named"):
        port.queue(-1, b"x")
    assert port.queue(5, b"") == 0 and port.backlog == 0


# --- control: attach, REGISTER with OFFSETS, counters --------------------------------------


def test_attach_checks_what_netmap_ko_checks(
    tcp_pairs: list[tuple[socket.socket, socket.socket]],
) -> None:
    port, _ = stack()
    conn = tcp_pairs[0][0]
    assert port.attach(conn) == conn.fileno()
    with pytest.raises(OSError, match=r"PST_FD_REG.*already attached") as info:
        port.attach(conn)
    assert info.value.errno == errno.EBUSY
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with listen(0, "127.0.0.1") as listener, udp:
        cases = [
            (listener, errno.EINVAL),
            (udp, errno.EINVAL),
            (2, errno.EINVAL),
            (70000, errno.ENOMEM),
        ]
        for what, code in cases:
            with pytest.raises(OSError) as info:
                port.attach(what)
            assert info.value.errno == code, what
    r, w = os.pipe()
    try:
        with pytest.raises(OSError, match="not a connected TCP socket"):
            port.attach(r)
    finally:
        os.close(r)
        os.close(w)


def test_a_closed_socket_is_detached_and_its_fd_may_be_attached_again(
    tcp_pairs: list[tuple[socket.socket, socket.socket]],
) -> None:
    port, fake = stack()
    conn, other = tcp_pairs[0][0], tcp_pairs[1][0]
    fd = port.attach(conn)
    conn.close()
    assert port.send(fd, b"lost").taken == 1 and fake.counts["tx_dropped"] == 1
    os.dup2(other.fileno(), fd)  # the number is reused for another socket
    try:
        assert port.send(fd, b"lost too").taken == 1 and fake.counts["tx_dropped"] == 2
        assert port.attach(fd) == fd  # not EBUSY: it is not the socket attached before
        port.send(fd, b"new")
        assert fake.stream(fd) == b"new"
    finally:
        os.close(fd)


def test_stack_port_refuses_a_port_that_is_not_one() -> None:
    with FakePort(build_region(num_slots=8)) as plain:
        plain.name = parse_port_name("netmap:eth0")  # type: ignore[attr-defined]
        with pytest.raises(OSError, match="offset_mask is 0x0") as info:
            StackPort(plain)  # type: ignore[arg-type]
        assert info.value.errno == errno.EPROTO
    with pytest.raises(ValueError, match="no room"):
        StackPort(FakeStackPort(num_slots=8, buf_size=1024), offset=200, doff=1023)
    with pytest.raises(ValueError, match="outside"):
        StackPort(FakeStackPort(num_slots=8), offset=256)


def test_open_registers_the_stack_port_with_the_offsets_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """REGISTER is faked at the ioctl; the option list, the mmap, the rings are real."""
    from vnic.netmap import port as port_module

    region = build_region(
        num_slots=32, host_tx_rings=0, host_rx_rings=0, offset_mask=0xFF, initial_offset=24
    )
    path = tmp_path / "region"
    path.write_bytes(region.memory)
    seen: list[tuple[str, int, tuple[int, int, int, int, int]]] = []
    refuse = [0]

    def fake_ioctl(fd: int, request: int, arg: object = 0) -> int:
        if request == abi.NIOCCTRL:
            assert isinstance(arg, abi.NmreqHeader)
            reg = abi.NmreqRegister.from_address(arg.nr_body)
            opt = abi.NmreqOptOffsets.from_address(arg.nr_options)
            head = opt.nro_opt
            seen.append(
                (
                    arg.nr_name.decode(),
                    reg.nr_mode,
                    (head.nro_reqtype, head.nro_size, head.nro_next, opt.nro_initial_offset,
                     opt.nro_max_offset),
                )
            )  # fmt: skip
            assert opt.nro_offset_bits == 8
            head.nro_status = refuse[0]
            if refuse[0]:
                raise OSError(refuse[0], os.strerror(refuse[0]))
            reg.nr_offset, reg.nr_memsize, reg.nr_mem_id = region.nr_offset, len(region.memory), 1
        return 0

    monkeypatch.setattr(port_module, "_open_device", lambda: os.open(path, os.O_RDWR))
    monkeypatch.setattr(port_module.fcntl, "ioctl", fake_ioctl)
    with StackPort.open("stack:eth0", offset=24, max_offset=64) as port:
        assert seen == [("stack:eth0", abi.NR_REG_ALL_NIC, (5, 56, 0, 24, 64))]
        assert port.offset == 24 and port.room == 2048 - 24 and port.name == "stack:eth0"
        assert port.tx.num_slots == 32 and port.syncs_on_poll
    refuse[0] = errno.EINVAL
    with pytest.raises(OSError, match=r"refused: option OFFSETS: Invalid argument"):
        StackPort.open("stack:eth0", offset=300)
    with pytest.raises(ValueError, match="starts with 'stack:'"):
        StackPort.open("netmap:eth0")


PROC = """\
region users=2 size=36245504 buffers=16384 free_buffers=13310
port eth0 active=1 users=1 ioctls=10 polls=4 txsyncs=3 txslots=99 rxsyncs=5 rxslots=7 host_drops=0
ring eth0 tx0 users=1 syncs=3 slots=99 bad_syncs=0 head=5 cur=5 tail=4 hwcur=5 hwtail=4
port stack:eth0 active=1 users=1 ioctls=2 polls=9
stack stack:eth0 socks=2 tx_slots=40 tx_zerocopy=39 tx_copied=1 tx_eagain=0 tx_no_spare=0 \
tx_dropped=0 held=3 completions=36 copied_late=0 rx_slots=41 rx_bytes=1312 rx_eof=2 new_key=7 \
state=up
"""


def test_counters_of_every_line_are_parsed_generically(tmp_path: Path) -> None:
    counters = parse_counters(PROC)
    assert counters["region"]["free_buffers"] == 13310
    assert counters["port eth0"]["txslots"] == 99
    assert counters["ring eth0 tx0"]["hwtail"] == 4
    line = counters["stack stack:eth0"]
    assert line["socks"] == 2 and line["rx_eof"] == 2 and line["completions"] == 36
    assert line["new_key"] == 7 and "state" not in line  # unknown keys kept; only numbers
    path = tmp_path / "netmap"
    path.write_text(PROC)
    port = StackPort(FakeStackPort(), proc=str(path))
    assert port.counters() == line
    path.write_text("region users=0\n")
    with pytest.raises(LookupError, match="no line 'stack stack:eth0'"):
        port.counters()


def test_the_fake_writes_the_line_netmap_ko_writes(
    tcp_pairs: list[tuple[socket.socket, socket.socket]], tmp_path: Path
) -> None:
    fake = FakeStackPort()
    port = StackPort(fake, proc=str(tmp_path / "netmap"))
    port.attach(tcp_pairs[0][0])
    fake.arrive_eof(tcp_pairs[0][0].fileno())
    port.receive()
    (tmp_path / "netmap").write_text(fake.proc_line() + "\n")
    counters = port.counters()
    assert counters["socks"] == 1 and counters["rx_eof"] == 1
    assert set(counters) == {"socks", *fake.counts}


def test_the_modules_run_in_a_guest_with_only_the_standard_library() -> None:
    code = (
        "import sys, vnic.netmap.stack; "
        "print(sorted(m for m in sys.modules if m.startswith(('vnic.model', 'lab'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]"


def test_the_interface_of_a_region_without_host_rings() -> None:
    region = build_region(host_tx_rings=0, host_rx_rings=0, offset_mask=0xFF, initial_offset=3)
    nifp = Interface(memoryview(region.memory), region.nr_offset)
    assert len(nifp.tx_rings) == len(nifp.rx_rings) == 1
    assert nifp.tx_rings[0].offset_mask == 0xFF and nifp.rx_rings[0].slot(5).offset == 3
