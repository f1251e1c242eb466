"""A minimal driver in Python for the vNIC model: the tests and the benchmark act as the driver.

It programs the device through its registers exactly as a guest driver does (spec §5), keeps
its rings in a :class:`~vnic.model.memory.FakeMemory`, rings doorbells once per batch and
checks write-back. Ring words are the course's: ``next_to_use`` (the next slot software
fills) and ``next_to_clean`` (the next slot software expects the device to complete).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from vnic.model import spec
from vnic.model.device import Vnic
from vnic.model.memory import FakeMemory

_TXD = struct.Struct(spec.ADV_TX_DESC.format("read").struct_format)
_RXD_READ = struct.Struct(spec.ADV_RX_DESC.format("read").struct_format)
_RXWB = struct.Struct(spec.ADV_RX_DESC.format("wb").struct_format)
_TXF = spec.ADV_TX_DESC.format("read")
TXD_CMD = (
    _TXF.field("EOP").mask
    | _TXF.field("IFCS").mask
    | _TXF.field("DEXT").mask
    | _TXF.field("DTYP").value("DATA")
)
TXD_EOP = _TXF.field("EOP").mask
TXD_RS = _TXF.field("RS").mask
TXD_DATA = _TXF.field("DEXT").mask | _TXF.field("DTYP").value("DATA")
TXD_PAYLEN_SHIFT = _TXF.field("PAYLEN").lsb
TX_DD = spec.ADV_TX_DESC.format("wb").field("DD").mask
RX_DD = spec.ADV_RX_DESC.format("wb").field("DD").mask
RX_EOP = spec.ADV_RX_DESC.format("wb").field("EOP").mask
RX_ERRORS = 0xFFF00000
DS = spec.DESC_SIZE


@dataclass
class TxQueue:
    """Driver state of one TX ring."""

    q: int
    base: int
    count: int
    buf_base: int  # slot i's buffer is at buf_base + i * buf_size
    buf_size: int
    next_to_use: int = 0
    next_to_clean: int = 0
    rs_slots: list[int] = field(default_factory=list)  # slots with RS, oldest first

    def free(self) -> int:
        """Slots software may fill: one always stays empty."""
        return (self.next_to_clean - self.next_to_use - 1) % self.count


@dataclass
class RxQueue:
    """Driver state of one RX ring."""

    q: int
    base: int
    count: int
    buf_base: int
    buf_size: int
    next_to_clean: int = 0
    template: bytes = b""  # the ring's read-format image: every slot armed


class MiniDriver:
    """Brings a :class:`Vnic` up per spec §5 and moves frames through its rings."""

    def __init__(self, dev: Vnic, mem: FakeMemory) -> None:
        self.dev = dev
        self.mem = mem
        self._brk = mem.base + 0x1000  # bump allocator; page 0 stays unused
        self.tx: dict[int, TxQueue] = {}
        self.rx: dict[int, RxQueue] = {}
        self.irqs: list[int] = []  # vectors signalled, in order
        dev.signal_vector = self.irqs.append

    # -- registers and memory -------------------------------------------------------------

    def rd(self, offset: int) -> int:
        return self.dev.read_register(offset, 4)

    def wr(self, offset: int, value: int) -> None:
        self.dev.write_register(offset, 4, value)

    def set_bits(self, offset: int, bits: int) -> None:
        self.wr(offset, self.rd(offset) | bits)

    def clear_bits(self, offset: int, bits: int) -> None:
        self.wr(offset, self.rd(offset) & ~bits)

    def alloc(self, size: int, align: int = 4096) -> int:
        """DMA memory from the fake guest RAM (never freed)."""
        addr = -(-self._brk // align) * align
        if addr + size > self.mem.base + self.mem.size:
            raise MemoryError("fake guest memory exhausted")
        self._brk = addr + size
        return addr

    def poke(self, addr: int, data: bytes) -> None:
        o = addr - self.mem.base
        self.mem.buffer[o : o + len(data)] = data

    def peek(self, addr: int, length: int) -> bytes:
        o = addr - self.mem.base
        return bytes(self.mem.buffer[o : o + length])

    # -- bring-up (spec §5) -----------------------------------------------------------------

    def reset_and_init(self, promisc: bool = True) -> None:
        """Steps 1-7 and 10 of spec §5: reset, wait for ready, link, stats, RX/TX global."""
        # 1-2: mask interrupts, reset, mask again
        self.wr(spec.EIMC.at(), 0xFFFFFFFF)
        self.rd(spec.EICR.at())
        self.wr(spec.CTRL.at(), spec.CTRL.mask("RST", "LNK_RST"))
        assert self.rd(spec.CTRL.at()) & spec.CTRL.mask("RST", "LNK_RST") == 0
        self.wr(spec.EIMC.at(), 0xFFFFFFFF)
        # 3: EEPROM auto-read and DMA init done
        assert self.rd(spec.EEC.at()) & spec.EEC.mask("ARD")
        assert self.rd(spec.RDRXCTL.at()) & spec.RDRXCTL.mask("DMAIDONE")
        # 4: link to 10G serial
        autoc = self.rd(spec.AUTOC.at()) & ~spec.AUTOC.mask("LMS")
        self.wr(
            spec.AUTOC.at(),
            autoc | spec.AUTOC.field("LMS").value("10G_SERIAL") | spec.AUTOC.mask("AN_RESTART"),
        )
        # 5: read the statistics once to clear them
        for off in (
            spec.GPRC.at(),
            spec.GPTC.at(),
            spec.GORCL.at(),
            spec.GORCH.at(),
            spec.GOTCL.at(),
            spec.GOTCH.at(),
            spec.MPC.at(0),
        ):
            self.rd(off)
        # 6: RX global
        self.clear_bits(spec.RXCTRL.at(), spec.RXCTRL.mask("RXEN"))
        self.set_bits(spec.HLREG0.at(), spec.HLREG0.mask("RXCRCSTRP"))
        self.set_bits(spec.RDRXCTL.at(), spec.RDRXCTL.mask("CRCSTRIP"))
        self.set_bits(spec.FCTRL.at(), spec.FCTRL.mask("BAM"))
        self.set_bits(spec.CTRL_EXT.at(), spec.CTRL_EXT.mask("NS_DIS"))
        self.set_bits(spec.RXCTRL.at(), spec.RXCTRL.mask("RXEN"))
        # 7: TX global
        self.set_bits(spec.HLREG0.at(), spec.HLREG0.mask("TXCRCEN", "TXPADEN"))
        self.wr(spec.DTXMXSZRQ.at(), 0xFFFF)
        self.clear_bits(spec.RTTDCS.at(), spec.RTTDCS.mask("ARBDIS"))
        self.set_bits(spec.DMATXCTL.at(), spec.DMATXCTL.mask("TE"))
        # 10: promiscuous
        if promisc:
            self.set_bits(spec.FCTRL.at(), spec.FCTRL.mask("MPE", "UPE"))

    def setup_tx(
        self, q: int, count: int = 512, buf_size: int = 2048, head_wb: bool = False
    ) -> TxQueue:
        """Program TX ring ``q`` and enable it (spec §4.3 step 1, §5 step 8)."""
        base = self.alloc(count * DS)
        txq = TxQueue(q, base, count, self.alloc(count * buf_size), buf_size)
        self.wr(spec.TDBAL.at(q), base & 0xFFFFFFFF)
        self.wr(spec.TDBAH.at(q), base >> 32)
        self.wr(spec.TDLEN.at(q), count * DS)
        self.wr(spec.TDH.at(q), 0)
        self.wr(spec.TDT.at(q), 0)
        if head_wb:
            self.head_wb_addr = self.alloc(64)
            self.wr(spec.TDWBAH.at(q), self.head_wb_addr >> 32)
            self.wr(
                spec.TDWBAL.at(q), (self.head_wb_addr & 0xFFFFFFFC) | spec.TDWBAL.mask("HEAD_WB_EN")
            )
        self.wr(spec.TXDCTL.at(q), spec.TXDCTL.mask("ENABLE") | 32 | 1 << 8 | 1 << 16)
        assert self.rd(spec.TXDCTL.at(q)) & spec.TXDCTL.mask("ENABLE"), "TX queue not enabled"
        self.tx[q] = txq
        return txq

    def setup_rx(self, q: int, count: int = 512, buf_size: int = 2048) -> RxQueue:
        """Program RX ring ``q``, arm every slot but one, enable it (spec §4.2 step 1)."""
        base = self.alloc(count * DS)
        rxq = RxQueue(q, base, count, self.alloc(count * buf_size), buf_size)
        srrctl = (buf_size // 1024) | spec.SRRCTL.field("DESCTYPE").value("ADV_ONEBUF")
        self.wr(spec.SRRCTL.at(q), srrctl | spec.SRRCTL.mask("DROP_EN"))
        self.wr(spec.RDBAL.at(q), base & 0xFFFFFFFF)
        self.wr(spec.RDBAH.at(q), base >> 32)
        self.wr(spec.RDLEN.at(q), count * DS)
        self.wr(spec.RDH.at(q), 0)
        self.wr(spec.RDT.at(q), 0)
        rxq.template = b"".join(
            _RXD_READ.pack(rxq.buf_base + i * buf_size, 0) for i in range(count)
        )
        self.poke(base, rxq.template)
        self.wr(spec.RXDCTL.at(q), spec.RXDCTL.mask("ENABLE"))
        assert self.rd(spec.RXDCTL.at(q)) & spec.RXDCTL.mask("ENABLE"), "RX queue not enabled"
        self.wr(spec.RDT.at(q), count - 1)  # one slot stays empty (ixy)
        self.rx[q] = rxq
        return rxq

    def enable_msix(self, itr: int = 0) -> None:
        """Spec §5 step 9: MSI-X mode; RX and TX of queue q on vector q, other on NUM_QUEUES."""
        self.wr(spec.GPIE.at(), spec.GPIE.mask("MSIX_MODE", "PBA_SUPPORT", "EIAME"))
        for q in range(spec.NUM_QUEUES):
            entry = 0x80 | q
            ivar = self.rd(spec.IVAR.at(q >> 1))
            for d in (0, 1):
                shift = 16 * (q & 1) + 8 * d
                ivar = (ivar & ~(0xFF << shift)) | entry << shift
            self.wr(spec.IVAR.at(q >> 1), ivar)
            self.wr(spec.EITR.at(q), itr)
        self.wr(spec.IVAR_MISC.at(), (0x80 | spec.NUM_QUEUES) << 8)
        queues = (1 << spec.NUM_QUEUES) - 1
        self.wr(spec.EIAC.at(), queues)
        self.wr(spec.EIAM.at(), queues)
        self.wr(spec.EIMS.at(), queues | spec.EICR.mask("LSC"))

    # -- TX -----------------------------------------------------------------------------------

    def send(self, q: int, frames: list[bytes], rs_each: bool = False) -> int:
        """Post ``frames`` (one buffer each) and ring the doorbell once. Returns how many fit.

        RS is set on the last descriptor of the batch (or on each with ``rs_each``)."""
        txq = self.tx[q]
        n = min(len(frames), txq.free())
        if not n:
            return 0
        slot = txq.next_to_use
        for i, frame in enumerate(frames[:n]):
            buf = txq.buf_base + slot * txq.buf_size
            self.poke(buf, frame)
            rs = TXD_RS if rs_each or i == n - 1 else 0
            self.poke(
                txq.base + slot * DS,
                _TXD.pack(buf, len(frame) | TXD_CMD | rs, len(frame) << TXD_PAYLEN_SHIFT),
            )
            if rs:
                txq.rs_slots.append(slot)
            slot = (slot + 1) % txq.count
        txq.next_to_use = slot
        self.wr(spec.TDT.at(q), slot)
        return n

    def post_raw(self, q: int, descs: list[tuple[int, int, int]], rs_last: bool = True) -> None:
        """Post raw (buffer_addr, cmd_type_len, olinfo_status) descriptors and ring once."""
        txq = self.tx[q]
        slot = txq.next_to_use
        for i, (addr, ctl, olinfo) in enumerate(descs):
            if rs_last and i == len(descs) - 1:
                ctl |= TXD_RS
                txq.rs_slots.append(slot)
            self.poke(txq.base + slot * DS, _TXD.pack(addr, ctl, olinfo))
            slot = (slot + 1) % txq.count
        txq.next_to_use = slot
        self.wr(spec.TDT.at(q), slot)

    def tx_status(self, q: int, slot: int) -> int:
        txq = self.tx[q]
        return int.from_bytes(self.peek(txq.base + slot * DS + 12, 4), "little")

    def reclaim(self, q: int) -> int:
        """Reclaim completed descriptors by the DD bit of RS slots. Returns slots freed."""
        txq = self.tx[q]
        freed = 0
        while txq.rs_slots and self.tx_status(q, txq.rs_slots[0]) & TX_DD:
            last = txq.rs_slots.pop(0)
            n = (last - txq.next_to_clean) % txq.count + 1
            freed += n
            txq.next_to_clean = (last + 1) % txq.count
        return freed

    # -- RX -----------------------------------------------------------------------------------

    def rx_desc(self, q: int, slot: int) -> tuple[int, int, int, int, int, int]:
        """The write-back fields of RX slot ``slot``."""
        rxq = self.rx[q]
        return _RXWB.unpack(self.peek(rxq.base + slot * DS, DS))

    def poll(self, q: int, limit: int = 1 << 30) -> list[bytes]:
        """Take completed frames (joining multi-descriptor ones), re-arm, move RDT once.

        A frame whose last descriptor carries an error bit is returned as ``b""``."""
        rxq = self.rx[q]
        frames: list[bytes] = []
        parts: list[bytes] = []
        slot = rxq.next_to_clean
        seen = 0
        while len(frames) < limit and seen < rxq.count - 1:
            _pi, _hi, _rss, staterr, length, _vlan = self.rx_desc(q, slot)
            if not staterr & RX_DD:
                break
            parts.append(self.peek(rxq.buf_base + slot * rxq.buf_size, length))
            if staterr & RX_EOP:
                frames.append(b"" if staterr & RX_ERRORS else b"".join(parts))
                parts = []
            self.poke(
                rxq.base + slot * DS, _RXD_READ.pack(rxq.buf_base + slot * rxq.buf_size, 0)
            )  # re-arm: hdr_addr 0 clears DD
            slot = (slot + 1) % rxq.count
            seen += 1
            if not parts:
                rxq.next_to_clean = slot
        if seen:
            self.wr(spec.RDT.at(q), (rxq.next_to_clean - 1) % rxq.count)
        return frames


class BatchDriver(MiniDriver):
    """The benchmark's driver: whole batches of identical frames, no per-frame Python work.

    TX slots are pre-filled with one frame; posting a batch copies a ready-made descriptor
    image into the ring (that also clears old DD bits) and writes TDT once. RX checks DD on
    the last slot of the expected batch, re-arms the batch with one copy and writes RDT once.
    """

    def prepare_tx(self, q: int, frame: bytes) -> None:
        txq = self.tx[q]
        image = []
        for slot in range(txq.count):
            buf = txq.buf_base + slot * txq.buf_size
            self.poke(buf, frame)
            image.append(_TXD.pack(buf, len(frame) | TXD_CMD, len(frame) << TXD_PAYLEN_SHIFT))
        self._tx_image = b"".join(image)

    def _copy_image(self, base: int, image: bytes, first: int, n: int, count: int) -> None:
        end = first + n
        if end <= count:
            self.poke(base + first * DS, image[first * DS : end * DS])
        else:
            self.poke(base + first * DS, image[first * DS :])
            self.poke(base, image[: (end - count) * DS])

    def post_batch(self, q: int, n: int) -> int:
        """Hand ``n`` pre-filled frames to the device (RS on the last), one doorbell."""
        txq = self.tx[q]
        n = min(n, txq.free())
        if not n:
            return 0
        first = txq.next_to_use
        self._copy_image(txq.base, self._tx_image, first, n, txq.count)
        last = (first + n - 1) % txq.count
        off = txq.base + last * DS + 8
        ctl = int.from_bytes(self.peek(off, 4), "little")
        self.poke(off, (ctl | TXD_RS).to_bytes(4, "little"))
        txq.rs_slots.append(last)
        txq.next_to_use = (last + 1) % txq.count
        self.wr(spec.TDT.at(q), txq.next_to_use)
        return n

    def take_batch(self, q: int, n: int) -> int:
        """Consume up to ``n`` received frames: check DD, re-arm, one doorbell."""
        rxq = self.rx[q]
        first = rxq.next_to_clean
        # find how many of the next n slots are done: DD of the last tells for all before it
        lo, hi = 0, n
        while lo < hi:
            mid = (lo + hi + 1) // 2
            slot = (first + mid - 1) % rxq.count
            if int.from_bytes(self.peek(rxq.base + slot * DS + 8, 4), "little") & RX_DD:
                lo = mid
            else:
                hi = mid - 1
        if lo:
            self._copy_image(rxq.base, rxq.template, first, lo, rxq.count)
            rxq.next_to_clean = (first + lo) % rxq.count
            self.wr(spec.RDT.at(q), (rxq.next_to_clean - 1) % rxq.count)
        return lo
