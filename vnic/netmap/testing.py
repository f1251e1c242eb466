"""A port without a kernel: a bytearray laid out as spec §4 and a fake kernel that syncs it.

:func:`build_region` lays out a netmap_if pool, a ring pool and a buffer pool exactly as
netmap.ko does after REGISTER (TX rings: head = cur = 0, tail = n - 1; RX rings: all 0;
every slot has its own buffer, buffers 0 and 1 reserved). :class:`FakePort` puts a fake
kernel behind it with the same ``txsync``/``rxsync``/``poll`` as :class:`vnic.netmap.Port`:

* txsync "sends" slots [hwcur, head) at once and hands them all back (tail = head - 1);
* rxsync takes back slots [hwcur, head) and fills free slots with frames queued by
  :meth:`FakePort.deliver`, leaving the one-slot gap before head as the kernel does.

Like the real kernel it keeps its own copies of the indices (``hwcur``, ``hwtail``) and
never trusts the ring's: a head outside the allowed window resets the ring (spec §6.5).
Used by the unit tests and by ``python3 -m vnic.netmap.blast tx --fake``, which measures
the Python side of a TX loop alone.

:class:`FakeStackPort` is a stack port (StackMap, :mod:`vnic.netmap.stack`) the same way:
one ring pair with the PASTE slot layout, a PST_FD_REG that checks what netmap.ko checks,
and a fake TCP behind the rings, or with ``loopback=True`` the attached sockets' real TCP.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import select
import socket
import struct
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from vnic.netmap import abi
from vnic.netmap.memory import Interface, Ring, stack_fields, stack_ptr
from vnic.netmap.names import parse_port_name
from vnic.netmap.port import _error

IF_OBJ_SIZE = 1024  # size of a netmap_if object, as the global allocator's default
PAGE = 4096

_U32 = struct.Struct("=I")
_U64 = struct.Struct("=Q")
_HEAD = abi.NetmapRing.head.offset
_CUR = abi.NetmapRing.cur.offset
_TAIL = abi.NetmapRing.tail.offset
_SLOT = ctypes.sizeof(abi.NetmapSlot)
_SLOT_LEN = struct.Struct("=H")


def _round_up(n: int, to: int) -> int:
    return (n + to - 1) // to * to


@dataclass
class FakeRegion:
    """The memory (``memory``), where the netmap_if is (``nr_offset``, as REGISTER would
    report) and where each ring is, by direction, for the fake kernel."""

    memory: bytearray
    nr_offset: int
    tx_ring_offsets: list[int]  # absolute offsets of all TX rings (hardware, then host)
    rx_ring_offsets: list[int]
    num_buffers: int
    spare_buffers: list[int]  # buffers not in any slot nor in the extra list


def build_region(
    *,
    tx_rings: int = 1,
    rx_rings: int = 1,
    host_tx_rings: int = 1,
    host_rx_rings: int = 1,
    num_slots: int = 64,
    buf_size: int = 2048,
    bound_tx: list[int] | None = None,
    bound_rx: list[int] | None = None,
    extra_buffers: int = 0,
    spare_buffers: int = 8,
    name: str = "eth0",
    offset_mask: int = 0,
    initial_offset: int = 0,
) -> FakeRegion:
    """A region for a port with ``tx_rings`` + ``host_tx_rings`` TX and ``rx_rings`` +
    ``host_rx_rings`` RX rings of ``num_slots`` slots. ``bound_tx``/``bound_rx`` list the
    ring indices bound to the fd (default: the hardware rings, as ALL_NIC). Every ring gets
    ``offset_mask`` and every slot the per-slot offset ``initial_offset`` in its ``ptr``, as
    REGISTER with option OFFSETS does (a stack port: ``offset_mask=0xff``)."""
    n_tx, n_rx = tx_rings + max(1, host_tx_rings), rx_rings + max(1, host_rx_rings)
    bound_tx = list(range(tx_rings)) if bound_tx is None else bound_tx
    bound_rx = list(range(rx_rings)) if bound_rx is None else bound_rx
    ring_size = _round_up(abi.RING_SLOTS_OFFSET + num_slots * _SLOT, abi.NM_CACHE_ALIGN)
    if_pool = 2 * IF_OBJ_SIZE
    nr_offset = IF_OBJ_SIZE  # the second object: code that assumes offset 0 fails
    ring_pool = if_pool
    buf_pool = _round_up(ring_pool + (n_tx + n_rx) * ring_size, PAGE)
    slot_buffers = (n_tx + n_rx) * num_slots
    num_buffers = 2 + slot_buffers + extra_buffers + spare_buffers
    memory = bytearray(buf_pool + num_buffers * buf_size)

    nifp = abi.NetmapIf.from_buffer(memory, nr_offset)
    nifp.ni_name = name.encode()[: abi.IFNAMSIZ - 1]
    nifp.ni_version = abi.NETMAP_API
    nifp.ni_tx_rings, nifp.ni_rx_rings = tx_rings, rx_rings
    nifp.ni_host_tx_rings, nifp.ni_host_rx_rings = max(1, host_tx_rings), max(1, host_rx_rings)
    del nifp  # drop the buffer export of the bytearray

    next_buffer = 2  # buffers 0 and 1 are reserved
    offsets: list[int] = []
    for k in range(n_tx + n_rx):
        at = ring_pool + k * ring_size
        offsets.append(at)
        direction, ringid = (abi.NR_TX, k) if k < n_tx else (abi.NR_RX, k - n_tx)
        bound = ringid in (bound_tx if direction == abi.NR_TX else bound_rx)
        ring = abi.NetmapRing.from_buffer(memory, at)
        ring.buf_ofs = buf_pool - at
        ring.num_slots, ring.nr_buf_size = num_slots, buf_size
        ring.ringid, ring.dir = ringid, direction
        ring.offset_mask = offset_mask
        ring.head = ring.cur = 0
        ring.tail = num_slots - 1 if direction == abi.NR_TX else 0
        del ring
        for i in range(num_slots):
            slot = at + abi.RING_SLOTS_OFFSET + i * _SLOT
            _U32.pack_into(memory, slot, next_buffer)
            _U64.pack_into(memory, slot + abi.NetmapSlot.ptr.offset, initial_offset)
            next_buffer += 1
        ring_ofs = at - nr_offset if bound else 0  # from the netmap_if; 0: not bound
        struct.pack_into("=q", memory, nr_offset + abi.RING_OFS_OFFSET + 8 * k, ring_ofs)

    extra = list(range(next_buffer, next_buffer + extra_buffers))
    for idx, nxt in zip(extra, [*extra[1:], 0], strict=False):
        _U32.pack_into(memory, buf_pool + idx * buf_size, nxt)  # the list runs through word 0
    _U32.pack_into(memory, nr_offset + abi.NetmapIf.ni_bufs_head.offset, extra[0] if extra else 0)
    spare = list(range(next_buffer + extra_buffers, num_buffers))
    return FakeRegion(memory, nr_offset, offsets[:n_tx], offsets[n_tx:], num_buffers, spare)


@dataclass
class FakeKring:
    """The fake kernel's private view of one ring (what netmap calls a kring)."""

    offset: int
    num_slots: int
    hwcur: int = 0
    hwtail: int = 0
    inbox: deque[bytes] = field(default_factory=deque)  # RX: frames waiting for a slot
    sent: list[bytes] = field(default_factory=list)  # TX: with record=True
    frames: int = 0  # TX: frames sent, RX: frames delivered
    resets: int = 0  # bad head/cur seen: the ring was reset (spec §6.5)

    def prev(self, i: int) -> int:
        return self.num_slots - 1 if i == 0 else i - 1


class FakePort:
    """A :class:`vnic.netmap.Port` look-alike over :func:`build_region`'s memory: the same
    ``tx_rings``, ``rx_rings``, ``txsync``, ``rxsync`` and ``poll``, no kernel needed."""

    def __init__(self, region: FakeRegion | None = None, *, record: bool = True) -> None:
        self.region = build_region() if region is None else region
        self.record = record  # keep a copy of every frame sent (slower)
        self.memory = memoryview(self.region.memory)
        self.interface = Interface(self.memory, self.region.nr_offset)
        self.tx_rings: list[Ring] = self.interface.tx_rings
        self.rx_rings: list[Ring] = self.interface.rx_rings
        self.txsyncs = self.rxsyncs = self.polls = 0
        self.tx_krings = [self._kring(r) for r in self.tx_rings]
        for k in self.tx_krings:
            k.hwtail = k.num_slots - 1
        self.rx_krings = [self._kring(r) for r in self.rx_rings]

    def _kring(self, ring: Ring) -> FakeKring:
        return FakeKring(ring.offset, ring.num_slots)

    def __enter__(self) -> FakePort:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.interface._detach()

    def deliver(self, frames: list[bytes], ring: int = 0) -> None:
        """Queue frames for RX ring ``ring`` (its index in ``rx_rings``); the next rxsync
        or poll puts them into the ring."""
        self.rx_krings[ring].inbox.extend(frames)

    def sent(self, ring: int = 0) -> list[bytes]:
        return self.tx_krings[ring].sent

    def txsync(self) -> None:
        self.txsyncs += 1
        for k in self.tx_krings:
            self._txsync(k)

    def rxsync(self) -> None:
        self.rxsyncs += 1
        for k in self.rx_krings:
            self._rxsync(k)

    def poll(self, timeout_ms: int = -1, rx: bool = True, tx: bool = False) -> bool:
        """Sync like netmap's poll (TX always, RX when asked) and say whether a ring of a
        requested direction has ``cur != tail``. Never blocks: nothing else would run."""
        self.polls += 1
        for k in self.tx_krings:
            self._txsync(k)
        if rx:
            for k in self.rx_krings:
                self._rxsync(k)
        rings = (self.rx_rings if rx else []) + (self.tx_rings if tx else [])
        return any(r.cur != r.tail for r in rings)

    # --- the fake kernel -------------------------------------------------------------------

    def _read(self, k: FakeKring, field_offset: int) -> int:
        return int(_U32.unpack_from(self.memory, k.offset + field_offset)[0])

    def _write(self, k: FakeKring, field_offset: int, value: int) -> None:
        _U32.pack_into(self.memory, k.offset + field_offset, value)

    def _valid(self, k: FakeKring, head: int, cur: int, limit: int) -> bool:
        """head in the circular window [hwcur, limit] and cur in [head, limit] (spec §6.4)."""
        n = k.num_slots

        def dist(a: int, b: int) -> int:
            return (b - a) % n

        window = dist(k.hwcur, limit)
        return (
            head < n
            and cur < n
            and dist(k.hwcur, head) <= window
            and dist(head, cur) <= dist(head, limit)
        )

    def _reset(self, k: FakeKring) -> None:
        k.resets += 1
        self._write(k, _HEAD, k.hwcur)
        self._write(k, _CUR, k.hwcur)

    def _txsync(self, k: FakeKring) -> None:
        head, cur = self._read(k, _HEAD), self._read(k, _CUR)
        if not self._valid(k, head, cur, k.hwtail):
            self._reset(k)
        else:
            count = (head - k.hwcur) % k.num_slots
            if self.record:
                k.sent += [self._frame(k, i % k.num_slots) for i in range(k.hwcur, k.hwcur + count)]
            k.frames += count
            k.hwcur = head
            k.hwtail = k.prev(head)  # sent at once: every slot but the gap is free again
        self._write(k, _TAIL, k.hwtail)

    def _rxsync(self, k: FakeKring) -> None:
        head, cur = self._read(k, _HEAD), self._read(k, _CUR)
        if not self._valid(k, head, cur, k.hwtail):
            self._reset(k)
        else:
            k.hwcur = head  # slots [hwcur, head) come back to the kernel
        stop = k.prev(k.hwcur)
        while k.inbox and k.hwtail != stop:
            frame = k.inbox.popleft()
            start = self._buffer_offset(k, k.hwtail)
            self.memory[start : start + len(frame)] = frame
            slot = k.offset + abi.RING_SLOTS_OFFSET + k.hwtail * _SLOT
            _SLOT_LEN.pack_into(self.memory, slot + abi.NetmapSlot.len.offset, len(frame))
            k.hwtail = 0 if k.hwtail + 1 == k.num_slots else k.hwtail + 1
            k.frames += 1
        self._write(k, _TAIL, k.hwtail)

    def _buffer_offset(self, k: FakeKring, i: int) -> int:
        ring = abi.NetmapRing.from_buffer_copy(self.memory[k.offset : k.offset + 256])
        buf_idx = self._read(k, abi.RING_SLOTS_OFFSET + i * _SLOT)
        return k.offset + ring.buf_ofs + buf_idx * ring.nr_buf_size

    def _frame(self, k: FakeKring, i: int) -> bytes:
        slot = k.offset + abi.RING_SLOTS_OFFSET + i * _SLOT
        length = _SLOT_LEN.unpack_from(self.memory, slot + abi.NetmapSlot.len.offset)[0]
        start = self._buffer_offset(k, i)
        return bytes(self.memory[start : start + length])


# --- a stack port ----------------------------------------------------------------------------

_SLOT_FIELDS = struct.Struct("=IHHQ")  # buf_idx, len, flags, ptr
NM_PST_FD_MAX = 65535  # netmap.ko's limit on attached fds (ENOMEM beyond)
FAKE_COUNTERS = (
    "attached", "tx_slots", "tx_zerocopy", "tx_copied", "tx_eagain", "tx_no_spare", "tx_dropped",
    "held", "completions", "copied_late", "rx_slots", "rx_zerocopy", "rx_bytes", "rx_eof",
)  # fmt: skip


class FakeStackPort(FakePort):
    """A stack port without a kernel: ``stack:eth0`` with one TX and one RX ring
    (``offset_mask`` 0xff, every slot's offset ``offset``) and a fake kernel behind them.

    * :meth:`control` does PST_FD_REG with netmap.ko's checks: fd < 3, not a socket, not a
      connected TCP socket: EINVAL; fd > 65535: ENOMEM; attached already: EBUSY. A socket
      closed since (its fd gone or now another file) counts as detached, as in the kernel.
    * txsync hands each slot in [hwcur, head) to "TCP": an attached fd's data is appended to
      ``streams[fd]`` and the slot gets a fresh buffer (``NS_BUF_CHANGED``; TCP acknowledges
      at once, so the old one goes back to the spare pool). ``sndbuf[fd]`` (bytes its send
      buffer still takes; absent: unlimited) stops the sync at a slot that does not fit:
      tail stays before it and the next sync retries. As in nm_stack.c, a slot with
      ``len <= doff`` is taken and skipped; one of an fd not attached, or whose data would
      end beyond its buffer, is taken and counted in ``tx_dropped``, not sent.
    * rxsync takes back [hwcur, head), then fills free slots with what :meth:`arrive` and
      :meth:`arrive_eof` queued, in order: data cut at buf_size - offset bytes per slot,
      doff 0; an end of stream is one slot with len 0.
    * ``loopback=True``: the attached sockets are the data's ends: rxsync reads what
      arrived on them (end of stream when the peer closes), txsync sends on them, and
      :meth:`fileno` is an epoll fd that polls readable while one of them is. A whole
      StackMap server then runs on the host against real TCP clients.

    ``counts`` holds what a ``stack`` line of /proc/net/netmap would say (:meth:`proc_line`).
    """

    syncs_on_poll = False  # polling fileno() (an epoll fd) syncs nothing: receive() must

    def __init__(
        self,
        *,
        num_slots: int = 64,
        buf_size: int = 2048,
        offset: int = 0,
        spare_buffers: int = 64,
        loopback: bool = False,
        name: str = "stack:eth0",
    ) -> None:
        region = build_region(
            num_slots=num_slots, buf_size=buf_size, spare_buffers=spare_buffers,
            host_tx_rings=0, host_rx_rings=0, name=name,
            offset_mask=abi.NM_PST_OFFSET_MASK, initial_offset=offset,
        )  # fmt: skip
        super().__init__(region, record=False)
        self.name = parse_port_name(name)
        self.offset = offset
        self.loopback = loopback
        self.attached: dict[int, int] = {}  # fd -> inode of its socket when attached
        self.ended: set[int] = set()  # fds whose end of stream was delivered (loopback)
        self.streams: dict[int, bytearray] = {}  # what "TCP" was given to send, per fd
        self.sndbuf: dict[int, int] = {}
        self.counts = dict.fromkeys(FAKE_COUNTERS, 0)
        self._rx_queue: deque[tuple[int, bytes]] = deque()
        self._partial: dict[int, int] = {}  # loopback: TX slot -> bytes of it already sent
        self._epoll = select.epoll()

    def fileno(self) -> int:
        return self._epoll.fileno()

    def close(self) -> None:
        super().close()
        self._epoll.close()

    # --- control ---------------------------------------------------------------------------

    def control(
        self, reqtype: int, body: ctypes.Structure, *, hints: Mapping[int, str] | None = None
    ) -> None:
        what = f"NIOCCTRL {abi.REQUEST_NAMES.get(reqtype, reqtype)} of {self.name.text!r}"
        if reqtype != abi.NETMAP_REQ_PST_FD_REG or not isinstance(body, abi.NmreqPstFdReg):
            raise _error(OSError(errno.EOPNOTSUPP, ""), what, hints)
        fd = body.fd
        code = self._refusal(fd)
        if code:
            raise _error(OSError(code, os.strerror(code)), what, hints)
        self.attached[fd] = os.fstat(fd).st_ino
        self.counts["attached"] += 1
        self.ended.discard(fd)
        self.streams[fd] = bytearray()
        if self.loopback:
            try:
                self._epoll.register(fd, select.EPOLLIN)
            except FileExistsError:
                self._epoll.modify(fd, select.EPOLLIN)

    def _refusal(self, fd: int) -> int:
        """The errno netmap.ko answers PST_FD_REG of ``fd`` with, 0 if it accepts it."""
        if fd > NM_PST_FD_MAX:
            return errno.ENOMEM
        if fd < 3:
            return errno.EINVAL
        if self._alive(fd):
            return errno.EBUSY
        try:
            sock = socket.socket(fileno=fd)
        except OSError:
            return errno.EINVAL  # not open, or not a socket
        try:
            tcp = (
                sock.family in (socket.AF_INET, socket.AF_INET6)
                and sock.type == socket.SOCK_STREAM
                and sock.getsockopt(socket.SOL_SOCKET, socket.SO_PROTOCOL) == socket.IPPROTO_TCP
            )
            sock.getpeername()  # a listening or unconnected socket has no peer
        except OSError:
            return errno.EINVAL
        finally:
            sock.detach()
        return 0 if tcp else errno.EINVAL

    def _alive(self, fd: int) -> bool:
        """``fd`` is attached and still the socket it was (not closed, not reused)."""
        inode = self.attached.get(fd)
        if inode is None:
            return False
        try:
            if os.fstat(fd).st_ino == inode:
                return True
        except OSError:
            pass
        del self.attached[fd]  # closed: the kernel would have detached it
        return False

    # --- what TCP did ---------------------------------------------------------------------------

    def arrive(self, fd: int, data: bytes) -> None:
        """TCP accepted ``data`` for ``fd``: the next rxsync puts it into the RX ring."""
        if data:
            self._rx_queue.append((fd, bytes(data)))

    def arrive_eof(self, fd: int) -> None:
        """``fd``'s peer closed (FIN or RST): one slot with len == doff, after its data."""
        self._rx_queue.append((fd, b""))

    def stream(self, fd: int) -> bytes:
        """Everything TX slots handed to ``fd``'s TCP so far."""
        return bytes(self.streams.get(fd, b""))

    def proc_line(self) -> str:
        """This port's line of /proc/net/netmap, as netmap.ko would write it."""
        values = " ".join(f"{k}={v}" for k, v in self.counts.items())
        return f"stack {self.name.text} socks={len(self.attached)} {values}"

    # --- the fake kernel's syncs -----------------------------------------------------------------

    def _txsync(self, k: FakeKring) -> None:
        head, cur = self._read(k, _HEAD), self._read(k, _CUR)
        if not self._valid(k, head, cur, k.hwtail):
            self._reset(k)
        else:
            i = k.hwcur
            while i != head and self._send_slot(k, i):
                i = 0 if i + 1 == k.num_slots else i + 1
            k.hwcur = i
            k.hwtail = k.prev(i)  # everything taken is free again, the gap before hwcur
        self._write(k, _TAIL, k.hwtail)

    def _send_slot(self, k: FakeKring, i: int) -> bool:
        """Hand slot ``i`` to TCP; False: stop the sync here (send buffer full, no spare)."""
        at = k.offset + abi.RING_SLOTS_OFFSET + i * _SLOT
        buf_idx, length, flags, ptr = _SLOT_FIELDS.unpack_from(self.memory, at)
        fd, doff, offset = stack_fields(ptr)
        bsize = self.tx_rings[0].buf_size
        if length <= doff:
            return True  # nothing to send: taken, not counted
        if (
            offset + length > bsize
            or not 2 <= buf_idx < self.region.num_buffers
            or not self._alive(fd)
        ):
            self.counts["tx_dropped"] += 1
            return True
        start = self._buffer_offset(k, i) + offset
        data = bytes(self.memory[start + doff : start + length])
        limit = self.sndbuf.get(fd)
        if limit is not None and len(data) > limit:
            self.counts["tx_eagain"] += 1
            return False
        if not self.region.spare_buffers:
            self.counts["tx_no_spare"] += 1
            return False
        if self.loopback:
            done = self._partial.pop(i, 0)
            sent = self._sock_send(fd, data[done:])
            if sent < 0:  # the connection is gone
                self.counts["tx_dropped"] += 1
                return True
            if done + sent < len(data):
                self._partial[i] = done + sent
                self.counts["tx_eagain"] += 1
                return False
        if limit is not None:
            self.sndbuf[fd] = limit - len(data)
        self.streams[fd] += data
        fresh = self.region.spare_buffers.pop(0)
        self.region.spare_buffers.append(buf_idx)  # acknowledged at once: back to the pool
        _SLOT_FIELDS.pack_into(self.memory, at, fresh, length, flags | abi.NS_BUF_CHANGED, ptr)
        for key in ("tx_slots", "tx_zerocopy", "completions"):
            self.counts[key] += 1
        return True

    def _rxsync(self, k: FakeKring) -> None:
        head, cur = self._read(k, _HEAD), self._read(k, _CUR)
        if not self._valid(k, head, cur, k.hwtail):
            self._reset(k)
        else:
            k.hwcur = head  # slots [hwcur, head) come back to the kernel
        if self.loopback:
            self._read_sockets()
        room = self.rx_rings[0].buf_size - self.offset
        stop = k.prev(k.hwcur)
        queue = self._rx_queue
        while queue and k.hwtail != stop:
            fd, data = queue[0]
            chunk = data[:room]
            if len(data) > room:
                queue[0] = (fd, data[room:])
            else:
                queue.popleft()
            start = self._buffer_offset(k, k.hwtail) + self.offset
            self.memory[start : start + len(chunk)] = chunk
            at = k.offset + abi.RING_SLOTS_OFFSET + k.hwtail * _SLOT
            buf_idx = _U32.unpack_from(self.memory, at)[0]
            _SLOT_FIELDS.pack_into(
                self.memory, at, buf_idx, len(chunk), 0, stack_ptr(fd, 0, self.offset)
            )
            self.counts["rx_slots"] += 1
            self.counts["rx_bytes"] += len(chunk)
            self.counts["rx_eof"] += not chunk
            k.hwtail = 0 if k.hwtail + 1 == k.num_slots else k.hwtail + 1
            k.frames += 1
        self._write(k, _TAIL, k.hwtail)

    # --- loopback: the attached sockets' own TCP -------------------------------------------------

    def _read_sockets(self) -> None:
        for fd, _ in self._epoll.poll(0):
            if fd in self.ended or not self._alive(fd):
                self._unwatch(fd)
                continue
            while (data := self._sock_recv(fd)) is not None:
                self._rx_queue.append((fd, data))
                if not data:  # end of stream: delivered once
                    self.ended.add(fd)
                    self._unwatch(fd)
                    break

    def _unwatch(self, fd: int) -> None:
        with contextlib.suppress(OSError):  # closed: epoll forgot it already
            self._epoll.unregister(fd)

    @staticmethod
    def _sock_recv(fd: int) -> bytes | None:
        """What arrived on ``fd``, b"" at end of stream (or reset), None if nothing now."""
        sock = socket.socket(fileno=fd)
        try:
            return sock.recv(65536, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return None
        except OSError:
            return b""
        finally:
            sock.detach()

    @staticmethod
    def _sock_send(fd: int, data: bytes) -> int:
        """Bytes of ``data`` the socket took now (0: send buffer full; -1: it is gone)."""
        sock = socket.socket(fileno=fd)
        try:
            return sock.send(data, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return 0
        except OSError:
            return -1
        finally:
            sock.detach()
