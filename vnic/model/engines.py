"""The TX and RX engines: descriptors and frames between guest memory and the wire.

These two functions are the hot path of ringlab (the ``model_forward_pps`` benchmark runs
through them), so they are written for speed, in this order of importance:

* one bounds check of the whole descriptor ring per batch (``GuestMemory.region``), then
  plain ``memoryview`` indexing and ``struct`` unpack/pack on it;
* buffer addresses are checked against the last region used, a few integer comparisons,
  falling back to a full lookup only when a buffer is elsewhere;
* counters are summed in locals and added once per batch.

Bad input (addresses outside the DMA maps, zero lengths, giants, unknown descriptor types)
drops the frame and counts it; a ring outside the maps stops its queue (``queue_fault``).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from vnic.model import spec
from vnic.model.memory import DmaError

if TYPE_CHECKING:
    from vnic.model.device import Vnic
    from vnic.model.rings import RxRing, TxRing

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


def tx_run(dev: Vnic, ring: TxRing, budget: int, out: list[bytes]) -> int:
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

    lab = dev.lab
    pad = dev.tx_pad
    link = dev.link_up
    pieces = ring.pieces
    plen = ring.plen
    pbad = ring.pbad
    # the buffer region used last: most buffers sit in the same one
    cstart = 0
    cend = -1
    cmv = desc
    frames = 0
    nbytes = 0
    mcast = 0
    bcast = 0
    rbytes = 0
    dd_writes = 0
    n_start = len(out)

    first = head
    left = n
    while left:
        last = min(count, first + left)
        slot = first
        for addr, ctl, _olinfo in _TXD.iter_unpack(desc[first * _DS : last * _DS]):
            if ctl & _TX_DEXT and ctl & _TX_DTYP_MASK != _TX_DTYP_DATA:
                if ctl & _TX_DTYP_MASK == _TX_DTYP_CTXT:
                    # offload context: nothing to send; the slot is used all the same
                    if ctl & _TX_RS:
                        _STATUS.pack_into(desc, slot * _DS + _TX_WB_STATUS, _TX_DD)
                        dd_writes += 1
                    slot += 1
                    continue
                pbad = pbad or "tx_drop_bad_desc"
            ln = ctl & _TX_DTALEN
            if pbad:
                pass
            elif ln == 0:
                pbad = "tx_drop_length"
            else:
                o = addr - cstart
                if o < 0 or addr + ln > cend:
                    try:
                        r = mem.region(addr, ln)
                    except DmaError:
                        r = None
                    if r is None:
                        pbad = "tx_drop_dma"
                    else:
                        cstart, cend, cmv = r.iova, r.end, r.mv
                        o = addr - cstart
                if not pbad:
                    rbytes += ln
                    if ctl & _TX_EOP and not pieces:
                        # the common case: a whole packet in one buffer
                        frame = cmv[o : o + ln].tobytes()
                        if ln < 60 and pad:
                            frame += bytes(60 - ln)
                        out.append(frame)
                        ln = len(frame)
                        nbytes += ln
                        frames += 1
                        if frame[0] & 1:
                            if frame[:6] == _BCAST:
                                bcast += 1
                            else:
                                mcast += 1
                        if ctl & _TX_RS:
                            _STATUS.pack_into(desc, slot * _DS + _TX_WB_STATUS, _TX_DD)
                            dd_writes += 1
                        slot += 1
                        continue
                    plen += ln
                    if plen > spec.MAX_FRAME:
                        pbad = "tx_drop_length"
                    else:
                        pieces.append(cmv[o : o + ln].tobytes())
            if ctl & _TX_EOP:
                if pbad:
                    lab[pbad] += 1
                else:
                    frame = b"".join(pieces)
                    if len(frame) < 60 and pad:
                        frame += bytes(60 - len(frame))
                    out.append(frame)
                    nbytes += len(frame)
                    frames += 1
                    if frame[0] & 1:
                        if frame[:6] == _BCAST:
                            bcast += 1
                        else:
                            mcast += 1
                pieces = []
                plen = 0
                pbad = ""
            if ctl & _TX_RS:
                _STATUS.pack_into(desc, slot * _DS + _TX_WB_STATUS, _TX_DD)
                dd_writes += 1
            slot += 1
        left -= last - first
        first = 0

    head = (head + n) % count
    ring.head = head
    ring.pieces = pieces
    ring.plen = plen
    ring.pbad = pbad
    if not link and frames:
        # the link is down: the descriptors complete, the frames go nowhere
        del out[n_start:]
        lab["tx_drop_link"] += frames
        frames = nbytes = mcast = bcast = 0
    ring.frames += frames
    ring.bytes += nbytes
    lab["tx_frames"] += frames
    lab["tx_bytes"] += nbytes
    lab["desc_fetched"] += n
    lab["desc_written_back"] += dd_writes
    lab["dma_read_bytes"] += n * _DS + rbytes
    lab["dma_write_bytes"] += dd_writes * 4
    tot = dev.totals
    tot["mptc"] += mcast
    tot["bptc"] += bcast
    written = dd_writes
    if ring.head_wb is not None:
        try:
            mem.write(ring.head_wb, _STATUS.pack(head))
            lab["dma_write_bytes"] += 4
            written += 1
        except DmaError:
            dev.queue_fault(ring)
    if written:
        dev.irq.queue_event(ring.qid, True)
    return n


def rx_run(dev: Vnic, ring: RxRing, frames: list[bytes], hashes: list[int] | None) -> int:
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
    cstart = 0
    cend = -1
    cmv = desc
    done = 0
    nbytes = 0
    used = 0
    mcast = 0
    bcast = 0
    dropped_dma = 0
    nodesc = 0
    fast = not ring.legacy and hashes is None

    for k, frame in enumerate(frames):
        ln = len(frame)
        if fast and ln <= bufsize and free:
            off = head * _DS
            addr = _RX_ADDR.unpack_from(desc, off)[0]
            o = addr - cstart
            if o >= 0 and addr + ln <= cend:
                cmv[o : o + ln] = frame
                _RXWB.pack_into(desc, off, 0, 0, 0, _RX_DD | _RX_EOP, ln, 0)
                head += 1
                if head == count:
                    head = 0
                free -= 1
                used += 1
                done += 1
                nbytes += ln
                if frame[0] & 1:
                    if frame[:6] == _BCAST:
                        bcast += 1
                    else:
                        mcast += 1
                continue
        # general path: another buffer region, a split frame, legacy descriptors, RSS
        need = -(-ln // bufsize)
        if need > free:
            nodesc += 1
            continue
        pos = 0
        ok = True
        while pos < ln:
            off = head * _DS
            addr = _RX_ADDR.unpack_from(desc, off)[0]
            chunk = min(bufsize, ln - pos)
            eop = pos + chunk >= ln
            try:
                r = mem.region(addr, chunk, write=True)
            except DmaError:
                ok = False
                chunk = 0
                eop = True  # end the frame here: the driver sees EOP with the error bit
            else:
                o = addr - r.iova
                r.mv[o : o + chunk] = frame[pos : pos + chunk]
                cstart, cend, cmv = r.iova, r.end, r.mv
            rss = hashes[k] if hashes is not None else 0
            if ring.legacy:
                st = _LRX_DD | (_LRX_EOP if eop else 0)
                _LRXWB.pack_into(desc, off, addr, chunk, 0, st, 0 if ok else _LRX_RXE, 0)
            else:
                st = _RX_DD | (_RX_EOP if eop else 0) | (0 if ok else _RX_RXE)
                _RXWB.pack_into(desc, off, 0, 0, rss, st, chunk, 0)
            head += 1
            if head == count:
                head = 0
            free -= 1
            used += 1
            pos += chunk
            if eop:
                break
        if ok:
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
