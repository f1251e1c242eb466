"""The shared memory of a port, seen from the program: the netmap_if, rings, slots, buffers.

Everything here works on a *region*: a writable byte memoryview laid out as spec §4 says
(netmap_if pool, ring pool, buffer pool). For a real port the region is the mmap of
/dev/netmap; in the unit tests it is a bytearray built by :mod:`vnic.netmap.testing`. No
code in this file makes a system call, which is the point: ring arithmetic, filling and
receiving can be tested without a kernel.

Who owns what (spec §6.1)::

        head            tail
    ----|xxxxxxxxxxxxxxx|-------------       x = slots the program owns: [head, tail)
     the kernel's        the kernel's        - = the kernel's: [tail, head)

The program writes ``head`` and ``cur``; the kernel writes ``tail``, and only during a sync
(an ioctl or poll). On TX, [head, tail) are free slots to fill; on RX, received frames.

Speed: under TCG a guest runs Python about 50 times slower than the host, so the batch
methods (:meth:`Ring.fill`, :meth:`Ring.fill_frames`, :meth:`Ring.receive`,
:meth:`Ring.swap_batch`, and for stack ports :meth:`Ring.fill_stack` and
:meth:`Ring.receive_stack`) do one Python
loop over the slots with one C-level operation per slot, and touch the ring's indices and
the slots' length fields once per batch.

A stack port's slot (StackMap, ``vnic/netmap/stack.py``) says more than "this buffer, this
many bytes": its 64-bit ``ptr`` carries three fields, PASTE's layout (stackmap-api §5.2)::

    bit 63        50 49      40 39                              8 7        0
        |  unused   |   doff   |              fd                |  offset  |

``offset`` is netmap's generic per-slot offset (the bits ``ring.offset_mask`` selects): the
slot's area starts that many bytes into the buffer. ``fd`` names the socket the data belongs
to; ``doff`` is where the data starts in the area; ``len`` counts from the offset, so the
data is ``len - doff`` bytes at ``buffer + offset + doff``. :func:`stack_ptr` and
:func:`stack_fields` encode and decode the word; :class:`Slot` has ``fd``, ``doff``,
``offset`` and ``data``.
"""

from __future__ import annotations

import ctypes
import struct
from array import array
from collections.abc import Sequence
from functools import lru_cache
from typing import overload

from vnic.netmap import abi

# Word indices of the live fields, taken from the ctypes layout (the one source of truth).
_HEAD = abi.NetmapRing.head.offset // 4
_CUR = abi.NetmapRing.cur.offset // 4
_TAIL = abi.NetmapRing.tail.offset // 4
_RING_FLAGS = abi.NetmapRing.flags.offset // 4
_SLOT_SIZE = ctypes.sizeof(abi.NetmapSlot)  # 16 bytes
_SLOT_WORDS = _SLOT_SIZE // 4  # a slot as 32-bit words: buf_idx at word 0
_SLOT_HALVES = _SLOT_SIZE // 2  # a slot as 16-bit halves: len at 2, flags at 3
_BUF_IDX = abi.NetmapSlot.buf_idx.offset // 4
_LEN = abi.NetmapSlot.len.offset // 2
_FLAGS = abi.NetmapSlot.flags.offset // 2
_SLOT_QUADS = _SLOT_SIZE // 8  # a slot as 64-bit words: ptr at 1
_PTR_Q = abi.NetmapSlot.ptr.offset // 8

BytesLike = bytes | bytearray | memoryview  # what a slot's data can be given as
SEQ_SIZE = 8  # a sequence number is a big-endian u64
FIRST_BUFFER = 2  # buffers 0 and 1 are reserved (spec §4.1)


@lru_cache(maxsize=32)
def _frame_struct(size: int, seq_offset: int) -> struct.Struct:
    """A Struct that writes a whole frame in one call: bytes before the sequence number, the
    number (big-endian u64), bytes after. One ``pack_into`` per slot is the fastest way we
    measured to put a numbered frame into a buffer (about twice as fast as a slice copy
    followed by a separate ``pack_into`` of the number)."""
    return struct.Struct(f">{seq_offset}sQ{size - seq_offset - SEQ_SIZE}s")


# --- a stack port's slot.ptr (stackmap-api §5.2) ---------------------------------------------

_FD_MAX = abi.NM_PST_FD_MASK >> abi.NM_PST_FD_SHIFT


def stack_ptr(fd: int, doff: int = 0, offset: int = 0) -> int:
    """The ``ptr`` word of a stack port's slot carrying data of socket ``fd``, starting
    ``doff`` bytes into the slot's area, which starts ``offset`` bytes into the buffer.
    A value that does not fit its field raises ValueError: it would change its neighbour."""
    if not 0 <= fd <= _FD_MAX:
        raise ValueError(f"fd {fd} does not fit the 32 bits of slot.ptr bits 8-39")
    if not 0 <= doff <= abi.NM_PST_DOFF_MAX:
        raise ValueError(f"doff {doff} is outside 0..{abi.NM_PST_DOFF_MAX} (ptr bits 40-49)")
    if not 0 <= offset <= abi.NM_PST_OFFSET_MASK:
        raise ValueError(f"offset {offset} is outside 0..{abi.NM_PST_OFFSET_MASK} (bits 0-7)")
    return offset | fd << abi.NM_PST_FD_SHIFT | doff << abi.NM_PST_DOFF_SHIFT


def stack_fields(ptr: int) -> tuple[int, int, int]:
    """``(fd, doff, offset)`` of a stack port's ``ptr`` word; bits 50-63 are ignored."""
    return (
        (ptr & abi.NM_PST_FD_MASK) >> abi.NM_PST_FD_SHIFT,
        (ptr & abi.NM_PST_DOFF_MASK) >> abi.NM_PST_DOFF_SHIFT,
        ptr & abi.NM_PST_OFFSET_MASK,
    )


class _PtrField:
    """One field of ``slot.ptr``, read and written by mask and shift with the other bits
    kept: PASTE's ``nm_pst_getfd``/``nm_pst_setfd`` and ``nm_pst_getdoff``/``setdoff``.
    A value too big for the field raises ValueError instead of spilling into the next."""

    def __init__(self, mask: int, shift: int, doc: str) -> None:
        self.mask, self.shift, self.limit = mask, shift, mask >> shift
        self.__doc__ = doc

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, slot: None, owner: type) -> _PtrField: ...

    @overload
    def __get__(self, slot: Slot, owner: type) -> int: ...

    def __get__(self, slot: Slot | None, owner: type) -> _PtrField | int:
        if slot is None:
            return self
        return (slot.ptr & self.mask) >> self.shift

    def __set__(self, slot: Slot, value: int) -> None:
        if not 0 <= value <= self.limit:
            raise ValueError(f"slot {slot.index}: {self.name} {value} is outside 0..{self.limit}")
        slot.ptr = (slot.ptr & ~self.mask) | value << self.shift


class Slot:
    """A view of one slot: reads and writes go straight to the shared memory."""

    __slots__ = ("index", "ring")

    def __init__(self, ring: Ring, index: int) -> None:
        self.ring = ring
        self.index = index

    @property
    def buf_idx(self) -> int:
        return self.ring._words[self.index * _SLOT_WORDS + _BUF_IDX]

    @buf_idx.setter
    def buf_idx(self, value: int) -> None:
        """Changing it without also setting NS_BUF_CHANGED leaves the NIC on the old buffer."""
        self.ring._words[self.index * _SLOT_WORDS + _BUF_IDX] = value

    @property
    def len(self) -> int:
        return self.ring._halves[self.index * _SLOT_HALVES + _LEN]

    @len.setter
    def len(self, value: int) -> None:
        self.ring._halves[self.index * _SLOT_HALVES + _LEN] = value

    @property
    def flags(self) -> int:
        return self.ring._halves[self.index * _SLOT_HALVES + _FLAGS]

    @flags.setter
    def flags(self, value: int) -> None:
        self.ring._halves[self.index * _SLOT_HALVES + _FLAGS] = value

    @property
    def ptr(self) -> int:
        """The 64-bit word after flags: per-slot offsets, and on a stack port fd and doff."""
        return self.ring._quads[self.index * _SLOT_QUADS + _PTR_Q]

    @ptr.setter
    def ptr(self, value: int) -> None:
        self.ring._quads[self.index * _SLOT_QUADS + _PTR_Q] = value

    # A stack port's fields (PASTE's layout): generated from the masks, not hand-written.
    fd = _PtrField(abi.NM_PST_FD_MASK, abi.NM_PST_FD_SHIFT, "The socket of the slot's data.")
    doff = _PtrField(abi.NM_PST_DOFF_MASK, abi.NM_PST_DOFF_SHIFT, "Data start, from the offset.")

    @property
    def offset(self) -> int:
        """netmap's generic per-slot offset (NETMAP_ROFFSET): the bits of ptr that the
        ring's ``offset_mask`` selects (none on a NIC port, bits 0-7 on a stack port)."""
        return self.ptr & self.ring.offset_mask

    @offset.setter
    def offset(self, value: int) -> None:
        mask = self.ring.offset_mask
        if not 0 <= value <= mask or value & ~mask:
            raise ValueError(f"slot {self.index}: offset {value} is outside the mask {mask:#x}")
        self.ptr = (self.ptr & ~mask) | value

    @property
    def data(self) -> memoryview:
        """A stack port slot's data, in place: ``len - doff`` bytes at buffer + offset +
        doff (writable; valid while the slot is the program's)."""
        offset, doff, length = self.offset, self.doff, self.len
        if doff > length or offset + length > self.ring.buf_size:
            raise ValueError(
                f"slot {self.index}: offset {offset}, doff {doff} and len {length} do not "
                f"describe data inside a {self.ring.buf_size}-byte buffer"
            )
        return self.ring.buffer_of(self.buf_idx)[offset + doff : offset + length]

    def __repr__(self) -> str:
        return f"Slot({self.index}, buf_idx={self.buf_idx}, len={self.len}, flags={self.flags:#x})"


class Ring:
    """One netmap ring at byte ``offset`` of ``region``.

    The constant fields (num_slots, buf_size, ...) are read once, here; ``head``, ``cur``,
    ``tail`` and the slots are read from the shared memory on every access, because the
    kernel changes them at every sync.
    """

    def __init__(
        self, region: memoryview, offset: int, *, host: bool = False, mem_id: int = 0
    ) -> None:
        if offset < 0 or offset + abi.RING_SLOTS_OFFSET > len(region):
            raise ValueError(f"ring at offset {offset} is outside the region of {len(region)} B")
        hdr = abi.NetmapRing.from_buffer_copy(region[offset : offset + abi.RING_SLOTS_OFFSET])
        self.offset = offset
        self.num_slots: int = hdr.num_slots
        self.buf_size: int = hdr.nr_buf_size
        self.ringid: int = hdr.ringid
        self.dir: int = hdr.dir
        self.host = host  # a host (software) ring: frames from or to the OS stack
        self.mem_id = mem_id  # buffers can be swapped only between rings of one allocator
        slots_end = offset + abi.RING_SLOTS_OFFSET + self.num_slots * _SLOT_SIZE
        if self.num_slots == 0 or slots_end > len(region):
            raise ValueError(f"ring at offset {offset}: {self.num_slots} slots do not fit")
        self.buffers_offset = offset + hdr.buf_ofs  # NETMAP_BUF(ring, 0), 64-bit arithmetic
        if self.buf_size == 0 or not 0 <= self.buffers_offset <= len(region):
            raise ValueError(
                f"ring at offset {offset}: buffers at {self.buffers_offset}, size "
                f"{self.buf_size}, are outside the region of {len(region)} B"
            )
        self.num_buffers = (len(region) - self.buffers_offset) // self.buf_size
        self.offset_mask: int = hdr.offset_mask  # ptr bits that are the per-slot offset
        self._mem = region
        self._ctl = region[offset : offset + abi.RING_SLOTS_OFFSET].cast("I")
        slots = region[offset + abi.RING_SLOTS_OFFSET : slots_end]
        self._words = slots.cast("I")  # the slot array as 32-bit words
        self._halves = slots.cast("H")  # ... and as 16-bit halves, for len and flags
        self._quads = slots.cast("Q")  # ... and as 64-bit words, for ptr

    def __repr__(self) -> str:
        kind = ("TX", "RX")[self.dir] if self.dir in (0, 1) else f"dir{self.dir}"
        host = " host" if self.host else ""
        return (
            f"<Ring {kind}{host} {self.ringid}: {self.num_slots} slots, head {self.head} "
            f"cur {self.cur} tail {self.tail}>"
        )

    # --- the three indices (spec §6.1) ----------------------------------------------------

    @property
    def head(self) -> int:
        """First slot the program owns; moving it forward hands slots to the kernel."""
        return self._ctl[_HEAD]

    @head.setter
    def head(self, value: int) -> None:
        self._ctl[_HEAD] = value

    @property
    def cur(self) -> int:
        """Wake-up point: poll() waits until tail moves past it. Usually equal to head."""
        return self._ctl[_CUR]

    @cur.setter
    def cur(self, value: int) -> None:
        self._ctl[_CUR] = value

    @property
    def tail(self) -> int:
        """First slot the kernel owns. Read-only: the kernel overwrites it at every sync."""
        return self._ctl[_TAIL]

    @property
    def flags(self) -> int:
        """Ring flags, NR_TIMESTAMP and NR_FORWARD."""
        return self._ctl[_RING_FLAGS]

    @flags.setter
    def flags(self, value: int) -> None:
        self._ctl[_RING_FLAGS] = value

    # --- helper arithmetic (spec §5) --------------------------------------------------------

    def next(self, i: int) -> int:
        """nm_ring_next: the slot after i, wrapping at num_slots (not always a power of 2)."""
        i += 1
        return 0 if i == self.num_slots else i

    def space(self) -> int:
        """nm_ring_space: slots the program owns, [head, tail)."""
        head, tail = self._indices()
        n = tail - head
        return n + self.num_slots if n < 0 else n

    @property
    def empty(self) -> bool:
        """nm_ring_empty: no slot for the program (TX: ring full; RX: nothing received)."""
        return self.head == self.tail

    def tx_pending(self) -> bool:
        """nm_tx_pending: frames handed over but not yet sent. A drained TX ring has
        head == tail + 1, because the kernel always keeps one slot as the gap."""
        return self.next(self.tail) != self.head

    def slot(self, i: int) -> Slot:
        if not 0 <= i < self.num_slots:
            raise IndexError(f"slot {i} of a ring of {self.num_slots}")
        return Slot(self, i)

    def buffer(self, i: int) -> memoryview:
        """The whole buffer (buf_size bytes) of slot i, writable; the frame is its first
        ``slot(i).len`` bytes. Hold it only as long as the slot is yours."""
        return self.buffer_of(self.slot(i).buf_idx)

    def buffer_of(self, buf_idx: int) -> memoryview:
        """Buffer ``buf_idx`` of the pool (NETMAP_BUF), e.g. an extra buffer; any ring of
        the region reaches every buffer."""
        if not 0 <= buf_idx < self.num_buffers:
            raise IndexError(f"buffer {buf_idx} is outside the pool of {self.num_buffers}")
        start = self.buffers_offset + buf_idx * self.buf_size  # NETMAP_BUF
        return self._mem[start : start + self.buf_size]

    def advance(self, count: int) -> None:
        """Move head and cur forward by ``count`` slots: give them to the kernel at the next
        sync (TX: to send; RX: to refill)."""
        if not 0 <= count <= self.space():
            raise ValueError(f"cannot advance {count} slots: the program owns {self.space()}")
        head = self.head + count
        if head >= self.num_slots:
            head -= self.num_slots
        self._ctl[_HEAD] = self._ctl[_CUR] = head

    def release(self) -> int:
        """Give every slot in [head, tail) back to the kernel (RX: drop what is unread).
        Returns how many."""
        n = self.space()
        self.advance(n)
        return n

    # --- batches ---------------------------------------------------------------------------

    def fill(
        self, frame: bytes, count: int, *, seq: int | None = None, seq_offset: int = 14
    ) -> int:
        """Copy ``frame`` into up to ``count`` free slots from head, set their len, advance
        head and cur; returns how many slots were filled (fewer when the ring is full).

        With ``seq``, the i-th frame carries ``seq + i`` as a big-endian u64 at byte
        ``seq_offset`` (14: right after the Ethernet header). The caller adds the return
        value to its counter. Slot flags are left alone. No system call: the frames leave
        at the next txsync() or poll().
        """
        size = len(frame)
        if not 0 < size <= min(self.buf_size, 0xFFFF):
            raise ValueError(f"a {size}-byte frame does not fit a {self.buf_size}-byte buffer")
        if seq is not None and not 0 <= seq_offset <= size - SEQ_SIZE:
            raise ValueError(f"sequence number at {seq_offset} does not fit a {size}-B frame")
        head, tail = self._indices()
        n = min(count, self._space(head, tail))
        mem, base, bsize = self._mem, self.buffers_offset, self.buf_size
        done = 0
        for first, last in self._runs(head, n):
            buffers = self._buffers_of(first, last)
            if seq is None:
                for b in buffers:
                    start = base + b * bsize
                    mem[start : start + size] = frame
            else:
                pack = _frame_struct(size, seq_offset).pack_into
                before, after = frame[:seq_offset], frame[seq_offset + SEQ_SIZE :]
                numbers = range(seq + done, seq + done + last - first)
                for b, number in zip(buffers, numbers, strict=True):
                    pack(mem, base + b * bsize, before, number, after)
            self._set_lengths(first, last, array("H", [size]) * (last - first))
            done += last - first
        self._move_head(head, n)
        return n

    def fill_frames(self, frames: Sequence[bytes]) -> int:
        """Copy as many of ``frames`` as fit into the free slots from head, one frame per
        slot, set their len, advance head and cur; returns how many were taken."""
        head, tail = self._indices()
        n = min(len(frames), self._space(head, tail))
        mem, base, bsize = self._mem, self.buffers_offset, self.buf_size
        lengths = array("H")
        for f in frames[:n]:
            if not 0 < len(f) <= bsize:
                raise ValueError(f"a {len(f)}-byte frame does not fit a {bsize}-byte buffer")
            lengths.append(len(f))
        done = 0
        for first, last in self._runs(head, n):
            batch = frames[done : done + last - first]
            for b, f in zip(self._buffers_of(first, last), batch, strict=True):
                start = base + b * bsize
                mem[start : start + len(f)] = f
            self._set_lengths(first, last, lengths[done : done + last - first])
            done += last - first
        self._move_head(head, n)
        return n

    def receive(self, max_frames: int | None = None) -> list[bytes]:
        """Copy out the frames in [head, tail) (at most ``max_frames``), then advance head and
        cur past them so the kernel can refill those slots at the next rxsync() or poll().
        Each slot gives one bytes object; a frame split with NS_MOREFRAG gives several."""
        head, tail = self._indices()
        n = self._space(head, tail)
        if max_frames is not None:
            n = min(n, max_frames)
        mem, base, bsize = self._mem, self.buffers_offset, self.buf_size
        frames: list[bytes] = []
        for first, last in self._runs(head, n):
            buffers = self._buffers_of(first, last)
            lengths = self._halves[
                first * _SLOT_HALVES + _LEN : last * _SLOT_HALVES : _SLOT_HALVES
            ].tolist()
            if max(lengths) > bsize:
                raise ValueError(f"ring {self.ringid}: a slot claims more than {bsize} bytes")
            frames += [
                mem[base + b * bsize : base + b * bsize + ln].tobytes()
                for b, ln in zip(buffers, lengths, strict=True)
            ]
        self._move_head(head, n)
        return frames

    def swap(self, i: int, other: Ring, j: int) -> None:
        """Zero-copy forwarding: exchange the buffers of slot i here and slot j of ``other``
        (with their lengths: a length describes the buffer it travels with) and mark both
        NS_BUF_CHANGED so each NIC re-points its descriptor. Both rings must use the same
        memory region (same nr_mem_id); otherwise a buffer index means nothing there."""
        if other.mem_id != self.mem_id or other.num_buffers != self.num_buffers:
            raise ValueError("swap: the two rings are not in the same memory region")
        a, b = self.slot(i), other.slot(j)
        a.buf_idx, b.buf_idx = b.buf_idx, a.buf_idx
        a.len, b.len = b.len, a.len
        a.flags |= abi.NS_BUF_CHANGED
        b.flags |= abi.NS_BUF_CHANGED

    def swap_batch(self, other: Ring, count: int | None = None) -> int:
        """Zero-copy forwarding of a batch: :meth:`swap` the slots from head here with the
        free slots from head of ``other`` (up to ``count``, and as many as both rings own),
        then advance both heads past them; returns how many moved.

        The same effect as a loop of ``swap`` and one ``advance`` on each ring, but with
        strided reads and writes of the slots' fields, a handful per run of slots instead
        of a dozen Python operations per slot. No byte of a frame is copied."""
        if other is self:
            raise ValueError("swap_batch: a ring cannot forward into itself")
        if other.mem_id != self.mem_id or other.num_buffers != self.num_buffers:
            raise ValueError("swap: the two rings are not in the same memory region")
        head, tail = self._indices()
        other_head, other_tail = other._indices()
        n = min(self._space(head, tail), other._space(other_head, other_tail))
        if count is not None:
            n = min(n, max(0, count))
        done = 0
        while done < n:  # runs that wrap in neither ring
            i, j = (head + done) % self.num_slots, (other_head + done) % other.num_slots
            run = min(n - done, self.num_slots - i, other.num_slots - j)
            mine, theirs = self._fields(i, i + run), other._fields(j, j + run)
            self._put_fields(i, i + run, theirs)
            other._put_fields(j, j + run, mine)
            done += run
        self._move_head(head, n)
        other._move_head(other_head, n)
        return n

    # --- batches of a stack port (stackmap-api §7, §8) ------------------------------------------

    def fill_stack(
        self, pieces: Sequence[tuple[int, BytesLike]], *, doff: int = 0, offset: int = 0
    ) -> int:
        """Put one ``(fd, data)`` piece into each free TX slot from head, as many as fit,
        and advance head and cur past them; returns how many pieces were taken.

        Each slot gets the data at buffer + ``offset`` + ``doff`` (one copy, straight into
        the buffer the kernel will hand to TCP), ``len = doff + len(data)`` and ``ptr`` =
        (fd, doff, offset). Its flags are cleared: the ``NS_BUF_CHANGED`` the kernel left
        there told *us* that the slot has a fresh buffer (TCP keeps a sent one until it is
        acknowledged), which is why the buffer index is read here, at every fill. Pieces
        must be bytes-like, 1 to ``buf_size - offset - doff`` bytes. No system call: the
        data leaves at the next txsync() or poll()."""
        if not 0 <= doff <= abi.NM_PST_DOFF_MAX:
            raise ValueError(f"doff {doff} is outside 0..{abi.NM_PST_DOFF_MAX}")
        if offset < 0 or offset & ~self.offset_mask:
            raise ValueError(f"offset {offset} does not fit the ring's offset mask")
        room = min(self.buf_size - offset, 0xFFFF) - doff
        head, tail = self._indices()
        n = min(len(pieces), self._space(head, tail))
        for fd, data in pieces[:n]:
            if not 0 < len(data) <= room or not 0 <= fd <= _FD_MAX:
                raise ValueError(f"a {len(data)}-byte piece of fd {fd} does not fit a slot")
        mem, base, bsize = self._mem, self.buffers_offset, self.buf_size
        tags = offset | doff << abi.NM_PST_DOFF_SHIFT
        done = 0
        for first, last in self._runs(head, n):
            lengths, ptrs = array("H"), array("Q")
            batch = pieces[done : done + last - first]
            for b, (fd, data) in zip(self._buffers_of(first, last), batch, strict=True):
                start = base + b * bsize + offset + doff
                mem[start : start + len(data)] = data
                lengths.append(doff + len(data))
                ptrs.append(tags | fd << abi.NM_PST_FD_SHIFT)
            self._set_lengths(first, last, lengths)
            self._quads[first * _SLOT_QUADS + _PTR_Q : last * _SLOT_QUADS : _SLOT_QUADS] = ptrs
            flags = slice(first * _SLOT_HALVES + _FLAGS, last * _SLOT_HALVES, _SLOT_HALVES)
            self._halves[flags] = array("H", bytes(2 * (last - first)))
            done += last - first
        self._move_head(head, n)
        return n

    def receive_stack(self, max_slots: int | None = None) -> tuple[list[int], list[memoryview]]:
        """The slots in [head, tail) of a stack port's RX ring as two lists in ring order:
        each slot's fd and a memoryview of its data in place (``len - doff`` bytes at
        buffer + offset + doff; an empty view is end of stream). Then head and cur move past
        them: the kernel may refill those buffers at the next rxsync() or poll(), so the
        views are valid until then, and what is kept longer must be copied (``bytes(v)``).
        A slot whose fields point outside its buffer raises ValueError, head unmoved."""
        head, tail = self._indices()
        n = self._space(head, tail)
        if max_slots is not None:
            n = min(n, max(0, max_slots))
        mem, base, bsize, mask = self._mem, self.buffers_offset, self.buf_size, self.offset_mask
        fds: list[int] = []
        views: list[memoryview] = []
        for first, last in self._runs(head, n):
            buffers = self._buffers_of(first, last)
            lengths = self._halves[
                first * _SLOT_HALVES + _LEN : last * _SLOT_HALVES : _SLOT_HALVES
            ].tolist()
            ptrs = self._quads[first * _SLOT_QUADS + _PTR_Q : last * _SLOT_QUADS : _SLOT_QUADS]
            for i, (b, length, ptr) in enumerate(
                zip(buffers, lengths, ptrs.tolist(), strict=True), first
            ):
                offset = ptr & mask
                doff = (ptr & abi.NM_PST_DOFF_MASK) >> abi.NM_PST_DOFF_SHIFT
                if doff > length or offset + length > bsize:
                    raise ValueError(
                        f"ring {self.ringid}: slot {i} has offset {offset}, doff {doff}, len "
                        f"{length}: not inside a {bsize}-byte buffer"
                    )
                start = base + b * bsize + offset
                fds.append((ptr & abi.NM_PST_FD_MASK) >> abi.NM_PST_FD_SHIFT)
                views.append(mem[start + doff : start + length])
        self._move_head(head, n)
        return fds, views

    def stack_fds_pending(self) -> set[int]:
        """TX: the fds of slots handed to the kernel but not yet taken, [tail + 1, head):
        a sync stops at a slot whose socket has a full send buffer, and retries it (and
        everything after it) at the next sync."""
        head, tail = self._indices()
        first = self.next(tail)
        fds: set[int] = set()
        for a, b in self._runs(first, self._space(first, head)):
            ptrs = self._quads[a * _SLOT_QUADS + _PTR_Q : b * _SLOT_QUADS : _SLOT_QUADS]
            fds.update((p & abi.NM_PST_FD_MASK) >> abi.NM_PST_FD_SHIFT for p in ptrs.tolist())
        return fds

    def _fields(self, first: int, last: int) -> tuple[array[int], array[int]]:
        """buf_idx and len of slots [first, last), in two strided reads."""
        words = self._words[first * _SLOT_WORDS + _BUF_IDX : last * _SLOT_WORDS : _SLOT_WORDS]
        halves = self._halves[first * _SLOT_HALVES + _LEN : last * _SLOT_HALVES : _SLOT_HALVES]
        return array("I", words.tolist()), array("H", halves.tolist())

    def _put_fields(self, first: int, last: int, fields: tuple[array[int], array[int]]) -> None:
        """Give slots [first, last) these buffers and lengths, and mark them NS_BUF_CHANGED."""
        buffers, lengths = fields
        self._words[first * _SLOT_WORDS + _BUF_IDX : last * _SLOT_WORDS : _SLOT_WORDS] = buffers
        self._set_lengths(first, last, lengths)
        at = slice(first * _SLOT_HALVES + _FLAGS, last * _SLOT_HALVES, _SLOT_HALVES)
        changed = abi.NS_BUF_CHANGED
        self._halves[at] = array("H", [f | changed for f in self._halves[at].tolist()])

    # --- internals ---------------------------------------------------------------------------

    def _indices(self) -> tuple[int, int]:
        """Read head and tail once; refuse values no ring can have (never trust the other
        side: a wrong tail from a kernel being written would otherwise corrupt memory)."""
        head, tail = self._ctl[_HEAD], self._ctl[_TAIL]
        if head >= self.num_slots or tail >= self.num_slots:
            raise ValueError(
                f"ring {self.ringid}: head {head} / tail {tail} outside 0..{self.num_slots - 1}"
            )
        return head, tail

    def _space(self, head: int, tail: int) -> int:
        n = tail - head
        return n + self.num_slots if n < 0 else n

    def _runs(self, head: int, n: int) -> list[tuple[int, int]]:
        """The n slots from head as at most two contiguous runs [first, last) of the slot
        array: one before the wrap, one after."""
        end = head + n
        if end <= self.num_slots:
            return [(head, end)] if n else []
        return [(head, self.num_slots), (0, end - self.num_slots)]

    def _buffers_of(self, first: int, last: int) -> list[int]:
        """buf_idx of slots [first, last) in one strided read, checked against the pool."""
        words = self._words[first * _SLOT_WORDS + _BUF_IDX : last * _SLOT_WORDS : _SLOT_WORDS]
        buffers = words.tolist()
        if buffers and max(buffers) >= self.num_buffers:
            raise ValueError(
                f"ring {self.ringid}: a slot in [{first}, {last}) has a buffer index beyond the "
                f"pool of {self.num_buffers}"
            )
        return buffers

    def _set_lengths(self, first: int, last: int, lengths: array[int]) -> None:
        """len of slots [first, last) in one strided write."""
        self._halves[first * _SLOT_HALVES + _LEN : last * _SLOT_HALVES : _SLOT_HALVES] = lengths

    def _move_head(self, head: int, n: int) -> None:
        head += n
        if head >= self.num_slots:
            head -= self.num_slots
        self._ctl[_HEAD] = self._ctl[_CUR] = head

    def _detach(self) -> None:
        """Let go of the shared memory (before munmap); the ring is unusable afterwards."""
        for view in (self._ctl, self._words, self._halves, self._quads):
            view.release()


class Interface:
    """The netmap_if of one bound fd (read-only for the program) and the rings it binds.

    ``tx_rings`` and ``rx_rings`` hold only the rings bound to this fd: ``ring_ofs`` has an
    entry for every ring of the port (hardware rings, then at least one host ring, per
    direction), and 0 marks one that is not ours.
    """

    def __init__(self, region: memoryview, offset: int, *, mem_id: int = 0) -> None:
        end = offset + abi.RING_OFS_OFFSET
        if offset < 0 or end > len(region):
            raise ValueError(f"netmap_if at {offset} is outside the region of {len(region)} B")
        nifp = abi.NetmapIf.from_buffer_copy(region[offset:end])
        self.offset = offset
        self.name: str = nifp.ni_name.decode(errors="replace")
        self.flags: int = nifp.ni_flags
        self.num_tx_rings: int = nifp.ni_tx_rings  # T
        self.num_rx_rings: int = nifp.ni_rx_rings  # R
        self.num_host_tx_rings: int = max(1, nifp.ni_host_tx_rings)  # HT, at least 1 entry
        self.num_host_rx_rings: int = max(1, nifp.ni_host_rx_rings)  # HR
        n_tx = self.num_tx_rings + self.num_host_tx_rings
        n_rx = self.num_rx_rings + self.num_host_rx_rings
        if end + 8 * (n_tx + n_rx) > len(region):
            raise ValueError(f"netmap_if at {offset}: {n_tx} + {n_rx} ring offsets do not fit")
        ring_ofs = struct.unpack_from(f"={n_tx + n_rx}q", region, end)
        self.ring_ofs: tuple[int, ...] = ring_ofs
        self.tx_rings = [
            Ring(region, offset + o, host=i >= self.num_tx_rings, mem_id=mem_id)
            for i, o in enumerate(ring_ofs[:n_tx])
            if o != 0
        ]
        self.rx_rings = [
            Ring(region, offset + o, host=i >= self.num_rx_rings, mem_id=mem_id)
            for i, o in enumerate(ring_ofs[n_tx:])
            if o != 0
        ]
        self._region = region

    @property
    def bufs_head(self) -> int:
        """ni_bufs_head: first extra buffer, 0 when there is none."""
        at = self.offset + abi.NetmapIf.ni_bufs_head.offset
        return int(struct.unpack_from("=I", self._region, at)[0])

    def extra_buffers(self) -> list[int]:
        """The indices of the extra buffers (REGISTER's nr_extra_bufs), following the list
        that starts at ni_bufs_head and goes through the first u32 of each buffer."""
        rings = self.tx_rings + self.rx_rings
        if not rings:
            return []
        ring, out = rings[0], list[int]()
        idx = self.bufs_head
        while idx != 0 and len(out) < ring.num_buffers:
            out.append(idx)
            idx = int.from_bytes(ring.buffer_of(idx)[:4], "little")
        return out

    def _detach(self) -> None:
        for ring in self.tx_rings + self.rx_rings:
            ring._detach()
