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
"""

from __future__ import annotations

import ctypes
import struct
from collections import deque
from dataclasses import dataclass, field

from vnic.netmap import abi
from vnic.netmap.memory import Interface, Ring

IF_OBJ_SIZE = 1024  # size of a netmap_if object, as the global allocator's default
PAGE = 4096

_U32 = struct.Struct("=I")
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
) -> FakeRegion:
    """A region for a port with ``tx_rings`` + ``host_tx_rings`` TX and ``rx_rings`` +
    ``host_rx_rings`` RX rings of ``num_slots`` slots. ``bound_tx``/``bound_rx`` list the
    ring indices bound to the fd (default: the hardware rings, as ALL_NIC)."""
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
        ring.head = ring.cur = 0
        ring.tail = num_slots - 1 if direction == abi.NR_TX else 0
        del ring
        for i in range(num_slots):
            _U32.pack_into(memory, at + abi.RING_SLOTS_OFFSET + i * _SLOT, next_buffer)
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
