"""The TX and RX engines: descriptors and frames between guest memory and the wire.

These functions are the hot path of ringlab (the ``model_forward_pps`` benchmark runs
through them), so they are written for speed:

* one bounds check of the whole descriptor ring per batch (``GuestMemory.region``), then
  ``struct`` unpack/pack straight on a ``memoryview`` of it;
* the common case (each packet one buffer, all buffers in one DMA region) is handled for a
  whole run of slots at once: ``map`` over the unpacked fields does the per-descriptor work
  in C, and the bounds of all buffers are checked with one ``min`` and one ``max``;
* anything else (multi-buffer packets, context descriptors, checksum offloads, bad input)
  goes descriptor by descriptor through the ``_slow`` paths, which are written for clarity;
  the checksums are computed in ``checksum.py``. RX checks them (one Python call per
  frame) only when RXCSUM asks (``Device.rx_csum``); without, the fast paths pay one test
  of one byte per descriptor on TX (no IXSM/TXSM) and one test per run on RX;
* counters are summed in locals and added once per batch.

The devices of a guest with two or more ports share a :class:`ZeroCopyRecord`: RX notes which
frame it wrote at which address, TX counts the frames it sends unchanged from such an
address (``tx_zero_copy``). A single-port device has none and pays one ``is None`` per batch.

Bad input (addresses outside the DMA maps, zero lengths, giants, unknown descriptor types)
drops the frame and counts it; a ring outside the maps stops its queue (``queue_fault``).

The engines see their device through :class:`Device`, the few attributes they read of a
:class:`~vnic.model.device.Vnic`; this module does not import the device.
"""

from __future__ import annotations

import struct
from array import array
from collections import deque
from collections.abc import Callable
from functools import lru_cache
from itertools import compress, repeat
from operator import add, and_, eq, itemgetter, or_, sub
from typing import TYPE_CHECKING, Protocol, cast

from vnic.model import spec
from vnic.model.checksum import TXD_IXSM, TXD_TXSM, context, rx_status, tx_checksum
from vnic.model.memory import DmaError, GuestMemory

if TYPE_CHECKING:
    from vnic.model.interrupts import InterruptUnit
    from vnic.model.rings import Ring, RxRing, TxRing

_TXD = struct.Struct(spec.ADV_TX_DESC.format("read").struct_format)  # <QII
_TX_DTALEN = spec.ADV_TX_DESC.format("read").field("DTALEN").mask
_TX_DTYP = spec.ADV_TX_DESC.format("read").field("DTYP")
_TX_DTYP_MASK = _TX_DTYP.mask
_TX_DTYP_DATA = _TX_DTYP.value("DATA")
_TX_DTYP_CTXT = _TX_DTYP.value("CTXT")
_TX_EOP = spec.ADV_TX_DESC.format("read").field("EOP").mask
_TX_RS = spec.ADV_TX_DESC.format("read").field("RS").mask
_TX_DEXT = spec.ADV_TX_DESC.format("read").field("DEXT").mask
_TX_WB_STATUS = spec.ADV_TX_DESC.format("wb").word("status").offset
_TX_DD = spec.ADV_TX_DESC.format("wb").field("DD").mask
_STATUS = struct.Struct("<I")
_CTX_IDX = spec.ADV_TX_CTXT_DESC.format("read").field("IDX")
_TX_CSUM = TXD_IXSM | TXD_TXSM
#: olinfo_status bits 15:8 (POPTS): one byte of each descriptor
_TX_POPTS_BYTE = spec.ADV_TX_DESC.format("read").word("olinfo_status").offset + 1
#: the byte values without IXSM and TXSM: deleting them leaves b"" if no slot asks for either
_NO_CSUM = bytes(b for b in range(256) if not b << 8 & _TX_CSUM)

_RX_ADDR = struct.Struct("<Q")  # pkt_addr of the read format
_RXWB = struct.Struct(spec.ADV_RX_DESC.format("wb").struct_format)  # <HHIIHH
_RX_DD = spec.ADV_RX_DESC.format("wb").field("DD").mask
_RX_EOP = spec.ADV_RX_DESC.format("wb").field("EOP").mask
_RX_RXE = spec.ADV_RX_DESC.format("wb").field("ERR_RXE").mask
_LRXWB = struct.Struct(spec.LEGACY_RX_DESC.format("wb").struct_format)  # <QHHBBH
_LRX_DD = spec.LEGACY_RX_DESC.format("wb").field("DD").mask
_LRX_EOP = spec.LEGACY_RX_DESC.format("wb").field("EOP").mask
_LRX_RXE = spec.LEGACY_RX_DESC.format("wb").field("RXE").mask

_DS = spec.DESC_SIZE
_BCAST = b"\xff" * 6


_TX_FAST_MASK_HI = (_TX_DEXT | _TX_DTYP_MASK | _TX_EOP) >> 16
_TX_FAST_VAL_HI = (_TX_DEXT | _TX_DTYP_DATA | _TX_EOP) >> 16
_DD_EOP_WORDS = memoryview(_STATUS.pack(_RX_DD | _RX_EOP) * (spec.MAX_RING_BYTES // _DS)).cast("I")
_FIRST_BYTE = itemgetter(0)
_DST = itemgetter(slice(0, 6))


@lru_cache(maxsize=64)
def _batch(one: str, k: int) -> struct.Struct:
    """A Struct for ``k`` consecutive descriptors of format ``one`` (e.g. "QII")."""
    return struct.Struct("<" + one * k)


class _RxWbImage(dict[int, bytes]):
    """Advanced RX write-back of one descriptor by length, status still 0 (written last)."""

    def __missing__(self, length: int) -> bytes:
        wb = _RXWB.pack(0, 0, 0, 0, length, 0)
        self[length] = wb
        return wb


_RX_WB_IMAGE = _RxWbImage()


def _count_groups(frames: list[bytes]) -> tuple[int, int]:
    """(multicast, broadcast) frames among ``frames``, counted without a Python loop."""
    group = sum(map(and_, map(_FIRST_BYTE, frames), repeat(1)))
    if not group:
        return 0, 0
    bcast = sum(map(_BCAST.__eq__, map(_DST, frames)))
    return group - bcast, bcast


class ZeroCopyRecord(dict[int, bytes]):
    """Guest-physical address -> the frame RX DMA last wrote there, shared by the devices of
    one guest (they DMA into the same guest RAM, at the same addresses: there is no IOMMU).

    TX looks up the buffer address of every one-buffer frame it sends and pops the entry: a
    frame equal to it left the guest from the very buffer it arrived in, unchanged — a
    zero-copy forward (``tx_zero_copy``). Comparing the bytes makes a buffer the guest
    rewrote, or a stale entry, count 0; popping makes each arrival count at most once.

    Bounded: RX clears the record before adding to it once it holds more than ``LIMIT``
    entries. Entries that TX never consumes are frames the guest kept (its stack took them,
    or a forwarder dropped them) at addresses not reused since; a netmap forwarder reuses a
    fixed pool of buffers and vnic.ko a page pool, so they stay below it, while a driver
    taking fresh RX buffers from anywhere in RAM would grow it without end. The entries in
    flight (received, not yet sent: at most the guest's ring slots) are what a clear
    forgets, once per ``LIMIT`` unconsumed arrivals. Memory: the entries hold the received
    frames themselves, at most ``LIMIT`` x 1.5 KB (about 50 MB) with standard frames.
    """

    LIMIT = 1 << 15


class Device(Protocol):
    """What the engines read of their device (a Vnic: checked where it calls them)."""

    memory: GuestMemory
    lab: dict[str, int]
    totals: dict[str, int]
    tx_pad: bool
    rx_csum: int  # RXCSUM.IPOFL | RXCSUM.TUOFL: which checksums RX checks (0: none)
    zero_copy: ZeroCopyRecord | None
    irq: InterruptUnit

    @property
    def link_up(self) -> bool: ...

    def queue_fault(self, ring: Ring) -> None: ...


# -------------------------------------------------------------------------------------------
# TX
# -------------------------------------------------------------------------------------------


def tx_run(dev: Device, ring: TxRing, budget: int, out: list[bytes]) -> int:
    """Fetch and process up to ``budget`` descriptors of ``ring`` (spec §4.3).

    Complete good packets are appended to ``out``. Returns the descriptors consumed.
    """
    count = ring.count
    head = ring.head
    n = (ring.tail - head) % count
    if n > budget:
        n = budget
    if n == 0:
        return 0
    mem = dev.memory
    try:
        rr = mem.region(ring.base, count * _DS, write=True)
    except DmaError:
        dev.queue_fault(ring)
        return 0
    o0 = ring.base - rr.iova
    desc = rr.mv[o0 : o0 + count * _DS]
    pad = dev.tx_pad
    record = dev.zero_copy
    n_start = len(out)
    frames = nbytes = rbytes = dd = zero_copy = 0
    first = head
    left = n
    while left:
        last = min(count, first + left)
        done = None
        if not ring.pieces and not ring.pbad:
            done = _tx_fast(mem, desc, first, last - first, pad, out, record)
        if done is None:
            done = _tx_slow(dev, ring, desc, first, last, out, record)
        frames += done[0]
        nbytes += done[1]
        rbytes += done[2]
        dd += done[3]
        zero_copy += done[4]
        left -= last - first
        first = 0
    head = (head + n) % count
    ring.head = head

    lab = dev.lab
    if frames and not dev.link_up:
        # the link is down: the descriptors complete, the frames go nowhere
        del out[n_start:]
        lab["tx_drop_link"] += frames
        frames = nbytes = zero_copy = 0
    if zero_copy:
        lab["tx_zero_copy"] += zero_copy
    if frames:
        mcast, bcast = _count_groups(out[n_start:])
        tot = dev.totals
        tot["mptc"] += mcast
        tot["bptc"] += bcast
    ring.frames += frames
    ring.bytes += nbytes
    lab["tx_frames"] += frames
    lab["tx_bytes"] += nbytes
    lab["desc_fetched"] += n
    lab["desc_written_back"] += dd
    lab["dma_read_bytes"] += n * _DS + rbytes
    lab["dma_write_bytes"] += dd * 4
    if ring.head_wb is not None:
        try:
            mem.write(ring.head_wb, _STATUS.pack(head))
            lab["dma_write_bytes"] += 4
            dd += 1
        except DmaError:
            dev.queue_fault(ring)
    if dd:
        dev.irq.queue_event(ring.qid, True)
    return n


def _tx_fast(
    mem: GuestMemory,
    desc: memoryview,
    first: int,
    k: int,
    pad: bool,
    out: list[bytes],
    record: ZeroCopyRecord | None,
) -> tuple[int, int, int, int, int] | None:
    """The common case, without a Python loop per descriptor: ``k`` advanced data
    descriptors, each a whole packet (EOP), all buffers in one DMA region. None if not.
    With a ``record``, its entries for the buffers are popped and the unchanged frames
    counted (the last item of the result)."""
    # cmd_type_len unpacked as two halves: DTALEN (15:0) and the type/command bits (31:16)
    flat = _batch("QHHI", k).unpack_from(desc, first * _DS)
    cmds = flat[2::4]
    for cmd in set(cmds):  # a handful of distinct values at most
        if cmd & _TX_FAST_MASK_HI != _TX_FAST_VAL_HI:
            return None
    lens = flat[1::4]
    if min(lens) < (spec.MIN_FRAME if pad else 1) or max(lens) > spec.MAX_FRAME:
        return None
    # one byte of each descriptor, IXSM/TXSM among its bits (a contiguous copy, then a
    # strided slice of the bytes: faster than a strided memoryview)
    popts = desc[first * _DS : (first + k) * _DS].tobytes()[_TX_POPTS_BYTE::_DS]
    if popts.translate(None, _NO_CSUM):
        return None  # a checksum offload: the slow path
    addrs = flat[0::4]
    try:
        r = mem.region(addrs[0], 0)
    except DmaError:
        return None
    starts = list(map(sub, addrs, repeat(r.iova))) if r.iova else addrs
    ends = list(map(add, starts, lens))
    if min(starts) < 0 or max(ends) > r.size:
        return None
    copier = r.copier
    if isinstance(copier, memoryview):
        out += map(bytes, map(copier.__getitem__, map(slice, starts, ends)))
    else:  # an mmap: its slices are bytes already
        get = cast(Callable[[slice], bytes], copier.__getitem__)
        out += map(get, map(slice, starts, ends))
    zero_copy = 0
    if record is not None:
        arrived = map(record.pop, addrs, repeat(None))
        zero_copy = sum(map(eq, arrived, out[len(out) - k :]))
    dd = 0
    rs = _TX_RS >> 16
    for slot in compress(range(first, first + k), map(and_, cmds, repeat(rs))):
        _STATUS.pack_into(desc, slot * _DS + _TX_WB_STATUS, _TX_DD)
        dd += 1
    total = sum(lens)
    return k, total, total, dd, zero_copy


def _tx_slow(
    dev: Device,
    ring: TxRing,
    desc: memoryview,
    first: int,
    last: int,
    out: list[bytes],
    record: ZeroCopyRecord | None,
) -> tuple[int, int, int, int, int]:
    """Descriptor by descriptor: multi-buffer packets, context descriptors, bad input.
    With a ``record``, one-buffer packets are checked against it as in :func:`_tx_fast`."""
    mem = dev.memory
    lab = dev.lab
    pad = dev.tx_pad
    pieces = ring.pieces
    plen = ring.plen
    pbad = ring.pbad
    frames = nbytes = rbytes = dd = zero_copy = 0
    arrived = None
    slot = first
    popts = ring.popts
    for addr, ctl, olinfo in _TXD.iter_unpack(desc[first * _DS : last * _DS]):
        if ctl & _TX_DEXT and ctl & _TX_DTYP_MASK != _TX_DTYP_DATA:
            if ctl & _TX_DTYP_MASK == _TX_DTYP_CTXT:
                # offload context: stored under its IDX; nothing to send, the slot is used
                # all the same. An IDX beyond the queue's contexts is a bad descriptor: the
                # packet it belongs to (the one it precedes) is dropped.
                idx = (olinfo & _CTX_IDX.mask) >> _CTX_IDX.lsb
                if idx < len(ring.contexts):
                    ring.contexts[idx] = context(addr & 0xFFFFFFFF, ctl)
                else:
                    pbad = pbad or "tx_drop_bad_desc"
                if ctl & _TX_RS:
                    _STATUS.pack_into(desc, slot * _DS + _TX_WB_STATUS, _TX_DD)
                    dd += 1
                slot += 1
                continue
            pbad = pbad or "tx_drop_bad_desc"
        if popts < 0:  # the packet's first data descriptor: its offload request
            popts = olinfo if ctl & _TX_DEXT else 0  # legacy: bytes 12-15 are not olinfo
        ln = ctl & _TX_DTALEN
        if pbad:
            pass
        elif ln == 0 or plen + ln > spec.MAX_FRAME:
            pbad = "tx_drop_length"
        else:
            try:
                pieces.append(mem.read(addr, ln))
                plen += ln
                rbytes += ln
            except DmaError:
                pbad = "tx_drop_dma"
            if record is not None:
                arrived = record.pop(addr, None)
        if ctl & _TX_EOP:
            if pbad:
                lab[pbad] += 1
            else:
                if arrived is not None and len(pieces) == 1 and arrived == pieces[0]:
                    zero_copy += 1
                frame = b"".join(pieces)
                if popts & _TX_CSUM:  # checksums over the whole frame, before padding
                    frame, outcome = tx_checksum(ring.contexts, frame, popts)
                    lab[outcome] += 1
                if len(frame) < spec.MIN_FRAME and pad:
                    frame += bytes(spec.MIN_FRAME - len(frame))
                out.append(frame)
                nbytes += len(frame)
                frames += 1
            pieces = []
            plen = 0
            pbad = ""
            popts = -1
        arrived = None
        if ctl & _TX_RS:
            _STATUS.pack_into(desc, slot * _DS + _TX_WB_STATUS, _TX_DD)
            dd += 1
        slot += 1
    ring.pieces = pieces
    ring.plen = plen
    ring.pbad = pbad
    ring.popts = popts
    return frames, nbytes, rbytes, dd, zero_copy


# -------------------------------------------------------------------------------------------
# RX
# -------------------------------------------------------------------------------------------


def rx_run(dev: Device, ring: RxRing, frames: list[bytes], hashes: list[int] | None = None) -> int:
    """Write ``frames`` into the free descriptors of ``ring`` (spec §4.2).

    ``frames`` have passed the length and address filters. Frames that find no free
    descriptor are dropped and counted (MPC). ``hashes`` are RSS hashes for the write-back.
    Returns the frames delivered.
    """
    count = ring.count
    head = ring.head
    free = (ring.tail - head) % count
    lab = dev.lab
    mem = dev.memory
    try:
        rr = mem.region(ring.base, count * _DS, write=True)
    except DmaError:
        dev.queue_fault(ring)
        lab["rx_drop_disabled"] += len(frames)
        return 0
    o0 = ring.base - rr.iova
    desc = rr.mv[o0 : o0 + count * _DS]
    bufsize = ring.bufsize
    lens = list(map(len, frames))
    done = nbytes = used = mcast = bcast = 0
    pos = 0
    record = dev.zero_copy
    if record is not None and len(record) > record.LIMIT:
        record.clear()  # the bound (see ZeroCopyRecord): before adding, not after
    csum = dev.rx_csum  # RXCSUM: checksums are checked (advanced write-back only)

    if not ring.legacy and max(lens) <= bufsize:
        # one descriptor per frame: whole runs of slots at once
        m = min(len(frames), free)
        while pos < m:
            k = min(m - pos, count - head)
            run = frames[pos : pos + k]
            run_lens = lens[pos : pos + k]
            run_hashes = hashes[pos : pos + k] if hashes is not None else None
            run_csum = list(map(rx_status, run, repeat(csum))) if csum else None
            if not _rx_fast(mem, desc, head, run, run_lens, run_hashes, record, run_csum):
                break
            head = (head + k) % count
            free -= k
            used += k
            done += k
            nbytes += sum(run_lens)
            pos += k
        if done:
            mcast, bcast = _count_groups(frames[:done])

    # the general path: split frames, legacy descriptors, RSS hashes, buffers elsewhere
    dropped_dma = nodesc = 0
    for k in range(pos, len(frames)):
        frame = frames[k]
        ln = lens[k]
        need = -(-ln // bufsize)
        if need > free:
            nodesc += 1
            continue
        rss = hashes[k] if hashes is not None else 0
        cs = rx_status(frame, csum) if csum and not ring.legacy else 0
        at = 0
        ok = True
        while True:
            off = head * _DS
            addr = _RX_ADDR.unpack_from(desc, off)[0]
            chunk = min(bufsize, ln - at)
            try:
                mem.write(addr, frame[at : at + chunk])
            except DmaError:
                ok = False
                chunk = 0
            eop = not ok or at + chunk >= ln  # a DMA error ends the frame: EOP + error bit
            # status last: a driver that sees DD must also see the length
            if ring.legacy:
                st = _LRX_DD | (_LRX_EOP if eop else 0)
                _LRXWB.pack_into(desc, off, addr, chunk, 0, 0, 0 if ok else _LRX_RXE, 0)
                desc[off + 12] = st
            else:
                st = _RX_DD | (_RX_EOP if eop else 0) | (0 if ok else _RX_RXE)
                if cs and eop and ok:  # checksum bits are valid on the last descriptor
                    st |= cs
                _RXWB.pack_into(desc, off, 0, 0, rss, 0, chunk, 0)
                _STATUS.pack_into(desc, off + 8, st)
            head += 1
            if head == count:
                head = 0
            free -= 1
            used += 1
            at += chunk
            if eop:
                break
        if ok:
            if record is not None and need == 1:  # addr: the frame's one buffer
                record[addr] = frame
            done += 1
            nbytes += ln
            if frame[0] & 1:
                if frame[:6] == _BCAST:
                    bcast += 1
                else:
                    mcast += 1
        else:
            dropped_dma += 1

    ring.head = head
    ring.frames += done
    ring.bytes += nbytes
    lab["rx_frames"] += done
    lab["rx_bytes"] += nbytes
    lab["rx_drop_no_desc"] += nodesc
    lab["rx_drop_dma"] += dropped_dma
    lab["desc_fetched"] += used
    lab["desc_written_back"] += used
    lab["dma_read_bytes"] += used * 8
    lab["dma_write_bytes"] += nbytes + used * _DS
    tot = dev.totals
    tot["mprc"] += mcast
    tot["bprc"] += bcast
    if used:
        dev.irq.queue_event(ring.qid, False)
    return done


def _rx_fast(
    mem: GuestMemory,
    desc: memoryview,
    head: int,
    frames: list[bytes],
    lens: list[int],
    hashes: list[int] | None,
    record: ZeroCopyRecord | None,
    csum: list[int] | None = None,
) -> bool:
    """Write ``frames`` into the consecutive slots from ``head``, one each, without a Python
    loop per frame (with their RSS ``hashes`` and checksum status bits ``csum`` in the
    write-back, if any), noting in ``record``, if any, which frame went to which address.
    False (nothing written) unless all buffers lie in one writable region."""
    k = len(frames)
    addrs = _batch("QQ", k).unpack_from(desc, head * _DS)[0::2]
    try:
        r = mem.region(addrs[0], 0, write=True)
    except DmaError:
        return False
    starts = list(map(sub, addrs, repeat(r.iova)))
    ends = list(map(add, starts, lens))
    if min(starts) < 0 or max(ends) > r.size:
        return False
    deque(map(r.mv.__setitem__, map(slice, starts, ends), frames), 0)
    if record is not None:
        record.update(zip(addrs, frames, strict=True))
    # Write-back in two steps: everything but the status, then the status words. One large
    # copy may become visible in any order; a driver that sees DD must see the length too.
    seg = desc[head * _DS : (head + k) * _DS]
    seg[:] = b"".join(map(_RX_WB_IMAGE.__getitem__, lens))
    words = seg.cast("I")
    if hashes is not None:
        words[1::4] = array("I", hashes)  # the RSS hash field of each write-back
    if csum is None:
        words[2::4] = _DD_EOP_WORDS[:k]
    else:
        words[2::4] = array("I", map(or_, csum, repeat(_RX_DD | _RX_EOP)))
    return True
