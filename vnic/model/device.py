"""The ringlab vNIC: registers, queues, interrupts and statistics, as pure logic.

:class:`Vnic` has no sockets and no threads. The vfio-user server calls
:meth:`Vnic.read_register` / :meth:`Vnic.write_register` for BAR0 accesses and
:meth:`Vnic.service` from its event loop; its port on the wire (``wire.DevicePort``) calls
:meth:`Vnic.receive` with frames from the wire and sets :attr:`Vnic.transmit`; the PCI
transport sets :attr:`Vnic.signal_vector`.
Unit tests drive it directly over a :class:`~vnic.model.memory.FakeMemory`.

Registers go through a handler table (STYLE habit 2): every decoded offset has a read and a
write handler; most are a plain store, named handlers exist only where an access has an
effect (doorbells, masks, write-1-to-clear, read-to-clear statistics). Unknown offsets read 0.
Bad writes are two events, counted apart and traced at DEBUG on this module's logger, as
QEMU's models log "write to read-only register" apart from "write to unknown register": a
write to a read-only register (``reg_write_ro``) and a write where no register is
(``reg_write_unknown``: unknown offset, misaligned, odd size). Both are otherwise ignored.
An 8- or 16-bit write to a rw register is a read-modify-write through the handlers: the
register's live value (its read handler, side-effect free for rw registers) with the written
bytes merged in goes to its write handler, as a 32-bit write would (``spec.REGISTER_ACCESS``).

The device masters the bus (reads and writes guest memory) only while the PCI command
register's bus-master bit is set; the transport tells it with :meth:`Vnic.set_bus_master`.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Callable
from functools import partial

from vnic.model import spec
from vnic.model.engines import ZeroCopyRecord, rx_run, tx_run
from vnic.model.interrupts import InterruptUnit
from vnic.model.memory import GuestMemory
from vnic.model.rings import Ring, RxRing, TxRing

_M32 = 0xFFFFFFFF
_CTRL_SELF_CLEAR = spec.CTRL.mask("RST", "LNK_RST")
_DCTL_ENABLE = spec.RXDCTL.mask("ENABLE")
_SRRCTL_BSIZE = spec.SRRCTL.field("BSIZEPKT")
_SRRCTL_DESCTYPE = spec.SRRCTL.field("DESCTYPE")
_RXEN = spec.RXCTRL.mask("RXEN")
_TE = spec.DMATXCTL.mask("TE")
_HEAD_WB_EN = spec.TDWBAL.mask("HEAD_WB_EN")
_FCTRL_UPE = spec.FCTRL.mask("UPE")
_FCTRL_MPE = spec.FCTRL.mask("MPE")
_FCTRL_BAM = spec.FCTRL.mask("BAM")
_FCTRL_SBP = spec.FCTRL.mask("SBP")
_MFE = spec.MCSTCTRL.mask("MFE")
_MO = spec.MCSTCTRL.field("MO")
_RAH_AV = spec.RAH.mask("AV")
_HL_JUMBOEN = spec.HLREG0.mask("JUMBOEN")
_HL_TXPADEN = spec.HLREG0.mask("TXPADEN")
_HL_LPBK = spec.HLREG0.mask("LPBK")
_MFS = spec.MAXFRS.field("MFS")
_LINKS_UP = spec.LINKS.mask("LINK_UP", "KX_AN_COMP") | spec.LINKS.field("SPEED").value("10G")
_LSC = spec.EICR.mask("LSC")
_DMAIDONE = spec.RDRXCTL.mask("DMAIDONE")
_LAB_LINK_DOWN = spec.LABCTL.mask("LINK_DOWN")
_LAB_CLEAR = spec.LABCTL.mask("CLEAR_COUNTERS")
_MRQC_RSSEN = spec.MRQC.mask("RSSEN")
_RXCSUM_ON = spec.RXCSUM.mask("IPOFL", "TUOFL")
_BASE_LOW_MASK = _M32 & ~(spec.RING_ALIGN - 1)  # RDBAL/TDBAL bits 6:0 read 0
_STD_MAX_FRAME = 1518  # 1500 + header + VLAN tag; the wire carries no FCS
_BCAST = b"\xff" * 6

log = logging.getLogger(__name__)

_DECODE = spec.decode_map()
#: statistics split in a low and a high register: reading low latches high
_STAT_PAIRS = {
    "GORCL": "GORC",
    "GOTCL": "GOTC",
    "TORL": "TOR",
    "QBRC_L": "QBRC",
    "QBTC_L": "QBTC",
}
_STAT_HIGH = {
    "GORCH": "GORC",
    "GOTCH": "GOTC",
    "TORH": "TOR",
    "QBRC_H": "QBRC",
    "QBTC_H": "QBTC",
}


def _nothing(*_args: object) -> None:
    return None


class Vnic:
    """One ixgbe-like NIC function over a guest memory.

    ``transmit`` (device → wire, a batch of frames) is set by its port on the wire;
    ``signal_vector`` ("send the MSI-X message of vector v"; 0 in legacy mode, where the
    transport uses :attr:`intx_level` for INTx) is set by the PCI transport.
    ``rx_refilled`` (called on every RX doorbell, after RDT moved) is set by its port for
    the wire's flow control, which :meth:`rx_room` serves too.
    ``zero_copy`` is the record this device shares with the other devices of its guest
    (the topology gives one to each guest with two or more ports), or None: no
    ``tx_zero_copy`` counting, and nothing extra per frame.
    Bus mastering starts on, for a device driven without a PCI transport (unit tests,
    benchmarks); the vfio-user server turns it off at once, as its config space resets.
    """

    def __init__(
        self,
        memory: GuestMemory,
        mac: bytes,
        *,
        num_queues: int = spec.NUM_QUEUES,
        clock: Callable[[], float] = time.monotonic,
        name: str = "vnic",
        zero_copy: ZeroCopyRecord | None = None,
    ) -> None:
        if len(mac) != 6:
            raise ValueError("a MAC address is 6 bytes")
        if not 1 <= num_queues <= spec.NUM_QUEUES:
            raise ValueError(f"num_queues must be 1..{spec.NUM_QUEUES}")
        self.memory = memory
        self.mac = bytes(mac)
        self.num_queues = num_queues
        self.clock = clock
        self.name = name
        self.zero_copy = zero_copy
        self.transmit: Callable[[list[bytes]], object] = _nothing
        self.signal_vector: Callable[[int], object] = _nothing
        self.rx_refilled: Callable[[], object] = _nothing

        #: lab counters (spec.LAB_COUNTERS): monotonic, survive reset
        self.lab: dict[str, int] = dict.fromkeys((c.name for c in spec.LAB_COUNTERS), 0)
        #: totals behind statistics registers that are not lab counters
        self.totals: dict[str, int] = dict.fromkeys(
            ("mprc", "bprc", "mptc", "bptc", "tpr", "tor", "runts_stored"), 0
        )
        self.rx = [RxRing(q) for q in range(spec.NUM_QUEUES)]
        self.tx = [TxRing(q) for q in range(spec.NUM_QUEUES)]
        self.irq = InterruptUnit(lambda v: self.signal_vector(v), clock, self.lab)
        self._kicked: dict[TxRing, None] = {}  # TX rings with work, in service order
        self._cable_up = True
        self._link = True
        self._bus_master = True  # PCI command bit 2, as the transport last said
        self._tx_on = False  # DMATXCTL.TE
        self._tx_go = False  # the TX engine may run: TE and bus mastering
        self._rx_on = False  # RX may DMA: RXCTRL.RXEN, link up and bus mastering
        self._regs: dict[int, int] = {}
        self._stat_base: dict[str, int] = {}
        self._stat_latch: dict[str, int] = {}
        self._lab_latch: dict[int, int] = {}
        self._rd: dict[int, Callable[[], int]] = {}
        self._wr: dict[int, Callable[[int], None]] = {}
        self._stat_sources = self._make_stat_sources()
        self._build_handlers()
        self.reset()

    # =========================================================================================
    # The contract with the transport and the wire
    # =========================================================================================

    @property
    def intx_level(self) -> bool:
        """Level of the legacy interrupt line: (EICR & EIMS) != 0."""
        return self.irq.intx_level

    def read_register(self, offset: int, size: int) -> int:
        """A BAR0 read of ``size`` (1, 2, 4 or 8) bytes at ``offset``."""
        self.lab["reg_reads"] += 1
        if size == 4 and not offset & 3:
            h = self._rd.get(offset)
            return h() if h is not None else 0
        if size == 8 and not offset & 7:
            return self._read32(offset) | self._read32(offset + 4) << 32
        if size in (1, 2) and (offset & 3) + size <= 4:
            shift = (offset & 3) * 8
            return (self._read32(offset & ~3) >> shift) & ((1 << (8 * size)) - 1)
        return 0  # misaligned or odd size: real hardware returns garbage, we return 0

    def write_register(self, offset: int, size: int, value: int) -> None:
        """A BAR0 write of ``size`` (1, 2, 4 or 8) bytes at ``offset``."""
        self.lab["reg_writes"] += 1
        if size == 4 and not offset & 3:
            h = self._wr.get(offset)
            if h is not None:
                h(value & _M32)
            else:
                self._write_unknown(offset, size, value)
            return
        if size == 8 and not offset & 7:
            self._write32(offset, value & _M32)
            self._write32(offset + 4, (value >> 32) & _M32)
            return
        if size in (1, 2) and (offset & 3) + size <= 4:
            aligned = offset & ~3
            shift = (offset & 3) * 8
            mask = ((1 << (8 * size)) - 1) << shift
            bits = (value << shift) & mask
            dec = _DECODE.get(aligned)
            if dec is not None and dec[0].access is spec.Access.RW:
                # keep the other bytes of the live value (a head, a tail, an interrupt
                # register: not a stored copy); w1c/w1s/wo bytes of 0 change nothing
                bits |= self._rd[aligned]() & ~mask
            self._write32(aligned, bits)
            return
        self._write_unknown(offset, size, value)

    def receive(self, frames: list[bytes]) -> int:
        """Frames from the wire into the RX rings. Returns how many were delivered.

        Frames that cannot be delivered are dropped and counted by reason: MAC loopback
        (HLREG0.LPBK isolates the port from the wire), RX off or link down, bus mastering
        off, address filter, runt or giant, no free descriptor (MPC), bad buffer address.
        """
        if self._loopback:
            self.lab["rx_drop_loopback"] += len(frames)
            return 0
        return self._rx(frames)

    def _rx(self, frames: list[bytes]) -> int:
        """The MAC's receive side: frames from the wire, or looped back from TX."""
        n = len(frames)
        if not n:
            return 0
        lab = self.lab
        lens = list(map(len, frames))
        tot = self.totals
        tot["tpr"] += n
        tot["tor"] += sum(lens)
        if not self._rx_on:  # RX off, link down or bus mastering off: one test for all
            if self._rxen and self._link:
                lab["dma_blocked"] += n
            else:
                lab["rx_drop_disabled"] += n
            return 0
        if min(lens) < spec.MIN_FRAME or max(lens) > self._rx_max or not self._promisc:
            frames = self._rx_filter(frames)
            if not frames:
                return 0
        if self._rss:
            return self._rx_rss(frames)
        ring = self.rx[0]
        if not ring.enabled:
            lab["rx_drop_disabled"] += len(frames)
            return 0
        return rx_run(self, ring, frames, None)

    def rx_room(self, frames: list[bytes]) -> int:
        """How many of ``frames``, from the first, :meth:`receive` would now take without
        dropping one for want of a free descriptor: what the wire's flow control asks
        before it delivers. Changes nothing. All of them while :meth:`receive` drops every
        frame for another reason (loopback, RX off, link down, bus mastering off): those are
        not waited for. With RSS each frame needs room in the queue its hash picks, and the
        first that finds none stops the rest, as the head of the 82599's packet buffer
        does. Frames the filters would drop count as if they went into the ring."""
        n = len(frames)
        if not n or self._loopback or not self._rx_on:
            return n
        rx_max = self._rx_max
        if not self._rss:
            ring = self.rx[0]
            return ring.room(frames, rx_max) if ring.enabled else n
        rings = {q: self.rx[q] for q in set(self._reta) if self.rx[q].enabled}
        if all(r.free >= n and rx_max <= r.bufsize for r in rings.values()):
            return n  # room for all, whichever queue each goes to
        free = {q: r.free for q, r in rings.items()}
        reta = self._reta
        for i, frame in enumerate(frames):
            q = reta[rss_hash(frame) & 127]
            if q not in free:
                continue  # its queue is off: dropped, not waited for
            need = rings[q].needs(len(frame), rx_max)
            if need > free[q]:
                return i
            free[q] -= need
        return n

    def service(self, budget: int = 512) -> bool:
        """Run the TX engines on kicked queues (up to ``budget`` descriptors in all) and fire
        throttled interrupts that are due. Returns True if TX work remains."""
        kicked = self._kicked
        if kicked:
            out: list[bytes] = []
            left = budget
            for ring in list(kicked):
                if left <= 0:
                    break
                left -= tx_run(self, ring, left, out)
                kicked.pop(ring, None)
                if ring.enabled and ring.head != ring.tail:
                    kicked[ring] = None  # more to do: to the back of the line, for fairness
            if out:
                if self._loopback:
                    self._rx(out)  # to its own RX, not to the wire
                else:
                    self.transmit(out)
        if self.irq.pending:
            self.irq.service_due()
        return bool(kicked)

    def run_until_idle(self, max_rounds: int = 100_000) -> None:
        """Call :meth:`service` until no TX work remains (for tests and benchmarks)."""
        for _ in range(max_rounds):
            if not self.service():
                return
        raise RuntimeError("TX did not go idle")

    def next_deadline(self) -> float | None:
        """When :meth:`service` must run again for a throttled interrupt, else None."""
        return self.irq.next_deadline()

    def reset(self) -> None:
        """Device reset (CTRL.RST or CTRL.LNK_RST, vfio-user DEVICE_RESET): registers to
        their reset values, queues off, interrupts masked, statistics zero. Lab counters,
        the cable and bus mastering (PCI config space, not a device register) survive."""
        self._regs = {}
        for r in spec.REGISTERS:
            for i in range(r.count):
                self._regs[r.at(i)] = r.reset
        mac = self.mac
        self._regs[spec.RAL.at(0)] = int.from_bytes(mac[:4], "little")
        self._regs[spec.RAH.at(0)] = int.from_bytes(mac[4:], "little") | _RAH_AV
        for ring in (*self.rx, *self.tx):
            ring.reset()
        self._kicked.clear()
        self.irq.reset()
        self._stat_latch.clear()
        self._lab_latch.clear()
        for key, fn in self._stat_sources.items():
            self._stat_base[key] = fn()
        self._link = self._cable_up
        self._tx_on = self._tx_go = False
        self._update_cached()

    def set_bus_master(self, on: bool) -> None:
        """The PCI command register's bus-master bit (the transport calls this after every
        config write and reset). While it is clear the engines do not touch guest memory:
        frames from the wire are dropped, TX doorbells and the TX work already queued wait,
        all counted in ``dma_blocked``; TX goes on from TDH when the bit is set again."""
        on = bool(on)
        if on == self._bus_master:
            return
        self._bus_master = on
        if not on and self._kicked:
            self.lab["dma_blocked"] += len(self._kicked)
            self._kicked.clear()
        self._update_gates()

    def set_link(self, up: bool) -> None:
        """The cable: connected (True) or not. A change of the link raises EICR.LSC."""
        self._cable_up = up
        self._update_link()

    def counters(self) -> dict[str, int]:
        """Lab counters, per-queue packets/bytes and totals, for the control socket."""
        out = dict(self.lab)
        for ring in self.rx[: self.num_queues]:
            out[f"rxq{ring.qid}_frames"] = ring.frames
            out[f"rxq{ring.qid}_bytes"] = ring.bytes
            # descriptors the device may fill now (flow control waits while it is 0)
            out[f"rxq{ring.qid}_free"] = ring.free if ring.enabled and ring.count else 0
        for tring in self.tx[: self.num_queues]:
            out[f"txq{tring.qid}_frames"] = tring.frames
            out[f"txq{tring.qid}_bytes"] = tring.bytes
        # where each ring stands, for `ringlab watch` (size 0: the queue is off)
        for kind, rings in (("rxq", self.rx), ("txq", self.tx)):
            for r in rings[: self.num_queues]:
                on = r.enabled and r.count
                out[f"{kind}{r.qid}_size"] = r.count if on else 0
                out[f"{kind}{r.qid}_head"] = r.head if on else 0
                out[f"{kind}{r.qid}_tail"] = r.tail if on else 0
        for key, v in self.totals.items():
            out[f"total_{key}"] = v
        out["link_up"] = int(self._link)
        out["bus_master"] = int(self._bus_master)
        out["rx_on"] = int(self._rx_on)  # RXCTRL.RXEN, link up and bus mastering: RX may DMA
        return out

    # =========================================================================================
    # For the engines
    # =========================================================================================

    @property
    def link_up(self) -> bool:
        return self._link

    def queue_fault(self, ring: Ring) -> None:
        """Stop a queue whose ring is invalid or not in DMA memory (ENABLE reads back 0)."""
        ring.enabled = False
        if isinstance(ring, TxRing):
            ring.drop_partial()
            self._kicked.pop(ring, None)
            off = spec.TXDCTL.at(ring.qid)
        else:
            off = spec.RXDCTL.at(ring.qid)
        self._regs[off] &= ~_DCTL_ENABLE
        self.lab["queue_errors"] += 1

    # =========================================================================================
    # Register plumbing
    # =========================================================================================

    def _read32(self, offset: int) -> int:
        h = self._rd.get(offset)
        return h() if h is not None else 0

    def _write32(self, offset: int, value: int) -> None:
        h = self._wr.get(offset)
        if h is not None:
            h(value)
        else:
            self._write_unknown(offset, 4, value)

    def _load(self, canon: int) -> int:
        return self._regs[canon]

    def _store(self, canon: int, value: int) -> None:
        self._regs[canon] = value

    def _zero(self) -> int:
        return 0

    def _write_ro(self, offset: int, value: int) -> None:
        """The write handler of read-only registers (ro, rc): count, trace, ignore."""
        self.lab["reg_write_ro"] += 1
        r, i = _DECODE[offset]
        log.debug(
            "%s: reg_write_ro %s(%d) at 0x%05X: 0x%08X ignored", self.name, r.name, i, offset, value
        )

    def _write_unknown(self, offset: int, size: int, value: int) -> None:
        """A write where no register is (unknown offset, misaligned, odd size): count, trace."""
        self.lab["reg_write_unknown"] += 1
        log.debug(
            "%s: reg_write_unknown at 0x%05X, %d bytes: 0x%X ignored",
            self.name,
            offset,
            size,
            value,
        )

    def _build_handlers(self) -> None:
        """Fill the read/write handler tables: named handlers first, defaults for the rest."""
        rd: dict[tuple[str, int], Callable[[], int]] = {}
        wr: dict[tuple[str, int], Callable[[int], None]] = {}
        irq = self.irq

        def store_then(name: str, i: int, after: Callable[[], None]) -> None:
            canon = spec.register(name).at(i)

            def write(value: int) -> None:
                self._regs[canon] = value
                after()

            wr[name, i] = write

        def set_irq(attr: str) -> Callable[[int], None]:
            return partial(setattr, irq, attr)

        # general and link
        wr["CTRL", 0] = self._w_ctrl
        rd["LINKS", 0] = lambda: _LINKS_UP if self._link else 0
        for name in (
            "HLREG0",
            "MAXFRS",
            "RXCTRL",
            "RXCSUM",
            "DMATXCTL",
            "FCTRL",
            "MCSTCTRL",
            "MRQC",
        ):
            store_then(name, 0, self._update_cached)
        wr["RDRXCTL", 0] = lambda v: self._store(spec.RDRXCTL.at(0), v | _DMAIDONE)

        # interrupts
        rd["EICR", 0] = irq.read_eicr
        wr["EICR", 0] = irq.write_eicr
        wr["EICS", 0] = irq.write_eics
        rd["EIMS", 0] = lambda: irq.eims
        wr["EIMS", 0] = irq.write_eims
        wr["EIMC", 0] = irq.write_eimc
        rd["EIAC", 0] = lambda: irq.eiac
        wr["EIAC", 0] = set_irq("eiac")
        rd["EIAM", 0] = lambda: irq.eiam
        wr["EIAM", 0] = set_irq("eiam")
        rd["GPIE", 0] = lambda: irq.gpie
        wr["GPIE", 0] = set_irq("gpie")
        rd["IVAR_MISC", 0] = lambda: irq.ivar_misc
        wr["IVAR_MISC", 0] = set_irq("ivar_misc")
        for i in range(spec.NUM_IVAR):
            rd["IVAR", i] = partial(lambda i: irq.ivar[i], i)
            wr["IVAR", i] = partial(lambda i, v: irq.ivar.__setitem__(i, v), i)
        for v in range(spec.NUM_VECTORS):
            rd["EITR", v] = partial(lambda v: irq.eitr[v], v)
            wr["EITR", v] = partial(irq.write_eitr, v)
        low16 = 0xFFFF  # only vectors 0..15 exist: the _EX views carry them in register 0
        rd["EIMS_EX", 0] = lambda: irq.eims & low16
        wr["EIMS_EX", 0] = lambda v: irq.write_eims(v & low16)
        wr["EIMC_EX", 0] = lambda v: irq.write_eimc(v & low16)
        wr["EICS_EX", 0] = lambda v: irq.write_eics(v & low16)
        rd["EIAM_EX", 0] = lambda: irq.eiam & low16
        wr["EIAM_EX", 0] = lambda v: setattr(irq, "eiam", (irq.eiam & ~low16) | (v & low16))
        for name in ("EIMS_EX", "EIAM_EX"):
            rd[name, 1] = self._zero
        for name in ("EIMS_EX", "EIMC_EX", "EICS_EX", "EIAM_EX"):
            wr[name, 1] = _nothing

        # receive address filter and RSS table: the hot path tests cached copies
        for i in range(spec.NUM_RAR):
            store_then("RAL", i, self._update_cached)
            store_then("RAH", i, self._update_cached)
        for i in range(spec.MTA.count):
            store_then("MTA", i, self._update_cached)
        for i in range(spec.RETA.count):
            store_then("RETA", i, self._update_cached)

        # queues
        for q in range(spec.NUM_QUEUES):
            rxr, txr = self.rx[q], self.tx[q]
            rd["RDH", q] = partial(lambda r: r.head, rxr)
            rd["RDT", q] = partial(lambda r: r.tail, rxr)
            rd["TDH", q] = partial(lambda r: r.head, txr)
            rd["TDT", q] = partial(lambda r: r.tail, txr)
            wr["RDH", q] = partial(self._w_head, rxr)
            wr["TDH", q] = partial(self._w_head, txr)
            wr["RDT", q] = partial(self._w_rdt, rxr)
            wr["TDT", q] = partial(self._w_tdt, txr)
            for reg, ring in (
                (spec.RDBAL, rxr),
                (spec.RDBAH, rxr),
                (spec.RDLEN, rxr),
                (spec.TDBAL, txr),
                (spec.TDBAH, txr),
                (spec.TDLEN, txr),
            ):
                wr[reg.name, q] = partial(self._w_base, ring, reg.at(q), reg.offset & 0xF == 0)
            wr["RXDCTL", q] = partial(self._w_dctl, rxr, spec.RXDCTL.at(q))
            wr["TXDCTL", q] = partial(self._w_dctl, txr, spec.TXDCTL.at(q))
            wr["SRRCTL", q] = partial(self._w_srrctl, rxr)
            wr["TDWBAL", q] = partial(self._w_head_wb, txr, spec.TDWBAL.at(q))
            wr["TDWBAH", q] = partial(self._w_head_wb, txr, spec.TDWBAH.at(q))

        # statistics (read-to-clear) and the lab block
        for r in spec.REGISTERS:
            if r.access is spec.Access.RC:
                for i in range(r.count):
                    rd[r.name, i] = self._make_stat_reader(r.name, i)
        wr["LABCTL", 0] = self._w_labctl
        for i, c in enumerate(spec.LAB_COUNTERS):
            rd["LABC_LO", i] = partial(self._r_lab_lo, i, c.name)
            rd["LABC_HI", i] = partial(self._r_lab_hi, i)

        # defaults, then the tables keyed by every decoded offset (aliases included)
        for off, (r, i) in _DECODE.items():
            canon = r.at(i)
            key = (r.name, i)
            read = rd.get(key)
            if read is None:
                read = self._zero if r.access is spec.Access.WO else partial(self._load, canon)
            write = wr.get(key)
            if write is None:
                if r.access is spec.Access.RW:
                    write = partial(self._store, canon)
                elif r.access in (spec.Access.RO, spec.Access.RC):
                    write = partial(self._write_ro, off)
                else:
                    raise AssertionError(f"{r.name} ({r.access}) needs a write handler")
            self._rd[off] = read
            self._wr[off] = write

    # -- named write handlers ------------------------------------------------------------------

    def _w_ctrl(self, value: int) -> None:
        if value & _CTRL_SELF_CLEAR:
            # RST or LNK_RST: both reset the device, as on the 82599 (LNK_RST also restarts
            # the link, which is back at once here). Instantaneous: both already read 0.
            self.reset()
            self.lab["resets"] += 1
            return
        self._regs[spec.CTRL.at(0)] = value & ~_CTRL_SELF_CLEAR

    def _w_labctl(self, value: int) -> None:
        if value & _LAB_CLEAR:
            for k in self.lab:
                self.lab[k] = 0
        self._regs[spec.LABCTL.at(0)] = value & ~_LAB_CLEAR
        self._update_link()

    def _w_head(self, ring: Ring, value: int) -> None:
        if ring.enabled and value >= ring.count:
            self.lab["reg_ignored"] += 1
            return
        ring.head = value & 0xFFFF
        if isinstance(ring, TxRing):
            ring.drop_partial()
            self._kick(ring)

    def _w_tdt(self, ring: TxRing, value: int) -> None:
        """TX doorbell, cheap on purpose: record the tail; ``service()`` does the work."""
        self.lab["doorbells"] += 1
        if not ring.enabled:
            ring.tail = value & 0xFFFF  # checked against the ring size when enabled
            return
        if value >= ring.count:
            self.lab["reg_ignored"] += 1  # a tail past the ring is ignored
            return
        ring.tail = value
        if value != ring.head:
            if self._tx_go:
                self._kicked[ring] = None
            elif self._tx_on:
                self.lab["dma_blocked"] += 1  # bus mastering off: the fetch waits

    def _w_rdt(self, ring: RxRing, value: int) -> None:
        """RX doorbell: hand descriptors [RDH, value) to the device. Bookkeeping only."""
        self.lab["doorbells"] += 1
        if not ring.enabled:
            ring.tail = value & 0xFFFF
            return
        if value >= ring.count:
            self.lab["reg_ignored"] += 1
            return
        ring.tail = value
        self.rx_refilled()

    def _kick(self, ring: TxRing) -> None:
        if ring.enabled and ring.head != ring.tail and self._tx_go:
            self._kicked[ring] = None

    def _w_base(self, ring: Ring, canon: int, is_low: bool, value: int) -> None:
        if is_low:
            value &= _BASE_LOW_MASK
        self._regs[canon] = value
        if ring.enabled:  # re-programming a live ring: take the new values, or stop it
            self._latch(ring)

    def _w_dctl(self, ring: Ring, canon: int, value: int) -> None:
        self._regs[canon] = value
        if value & _DCTL_ENABLE:
            if not ring.enabled:
                ring.enabled = True
                if not self._latch(ring):
                    return
        elif ring.enabled:
            ring.enabled = False
            if isinstance(ring, TxRing):
                ring.drop_partial()
                self._kicked.pop(ring, None)
        if isinstance(ring, TxRing):
            self._kick(ring)

    def _latch(self, ring: Ring) -> bool:
        """Take base and length of an enabled ring from its registers; stop it if invalid."""
        q = ring.qid
        if isinstance(ring, TxRing):
            bal, bah, ln = spec.TDBAL.at(q), spec.TDBAH.at(q), spec.TDLEN.at(q)
        else:
            bal, bah, ln = spec.RDBAL.at(q), spec.RDBAH.at(q), spec.RDLEN.at(q)
        base = self._regs[bah] << 32 | self._regs[bal]
        if ring.latch(base, self._regs[ln]):
            return True
        self.queue_fault(ring)  # ENABLE reads back 0: the driver's poll tells it
        return False

    def _w_srrctl(self, ring: RxRing, value: int) -> None:
        self._regs[spec.SRRCTL.at(ring.qid)] = value
        kib = (value & _SRRCTL_BSIZE.mask) >> _SRRCTL_BSIZE.lsb
        ring.bufsize = max(1, kib) * 1024
        ring.legacy = value & _SRRCTL_DESCTYPE.mask == _SRRCTL_DESCTYPE.value("LEGACY")

    def _w_head_wb(self, ring: TxRing, canon: int, value: int) -> None:
        self._regs[canon] = value
        q = ring.qid
        low = self._regs[spec.TDWBAL.at(q)]
        if low & _HEAD_WB_EN:
            ring.head_wb = self._regs[spec.TDWBAH.at(q)] << 32 | (low & ~3)
        else:
            ring.head_wb = None

    # -- derived state ----------------------------------------------------------------------

    def _update_cached(self) -> None:
        """Recompute what the hot paths test, after a write to a register they depend on."""
        regs = self._regs
        hl = regs[spec.HLREG0.at(0)]
        self.tx_pad = bool(hl & _HL_TXPADEN)
        self._loopback = bool(hl & _HL_LPBK)
        if hl & _HL_JUMBOEN:
            mfs = (regs[spec.MAXFRS.at(0)] & _MFS.mask) >> _MFS.lsb
            self._rx_max = max(spec.ETH_HLEN, min(mfs - 4, spec.MAX_FRAME))
        else:
            self._rx_max = _STD_MAX_FRAME
        self._rxen = bool(regs[spec.RXCTRL.at(0)] & _RXEN)
        self._tx_on = bool(regs[spec.DMATXCTL.at(0)] & _TE)
        self._update_gates()
        fctrl = regs[spec.FCTRL.at(0)]
        self._upe = bool(fctrl & _FCTRL_UPE)
        self._mpe = bool(fctrl & _FCTRL_MPE)
        self._bam = bool(fctrl & _FCTRL_BAM)
        self._sbp = bool(fctrl & _FCTRL_SBP)
        self._promisc = self._upe and self._mpe and self._bam
        mc = regs[spec.MCSTCTRL.at(0)]
        self._mfe = bool(mc & _MFE)
        self._mo = (mc & _MO.mask) >> _MO.lsb
        rar = set()
        for i in range(spec.NUM_RAR):
            rah = regs[spec.RAH.at(i)]
            if rah & _RAH_AV:
                ral = regs[spec.RAL.at(i)]
                rar.add(ral.to_bytes(4, "little") + (rah & 0xFFFF).to_bytes(2, "little"))
        self._rar = rar
        self._rss = bool(regs[spec.MRQC.at(0)] & _MRQC_RSSEN)
        self.rx_csum = regs[spec.RXCSUM.at(0)] & _RXCSUM_ON  # engines.rx_run checks these
        reta = b"".join(regs[spec.RETA.at(i)].to_bytes(4, "little") for i in range(32))
        self._reta = [(e & 0xF) % self.num_queues for e in reta]

    def _update_gates(self) -> None:
        """The one flag per direction the hot paths test per batch; TX starts when it opens."""
        tx_was = self._tx_go
        self._tx_go = self._tx_on and self._bus_master
        self._rx_on = self._rxen and self._link and self._bus_master
        if self._tx_go and not tx_was:
            for ring in self.tx:
                self._kick(ring)

    def _update_link(self) -> None:
        ctl = self._regs.get(spec.LABCTL.at(0), 0)
        up = self._cable_up and not ctl & _LAB_LINK_DOWN
        if up != self._link:
            self._link = up
            self._update_gates()
            self.irq.set_cause(_LSC)

    # -- RX filtering and RSS ---------------------------------------------------------------

    def _mta_hit(self, dst: bytes) -> bool:
        # 12 hash bits from the top of the address; MCSTCTRL.MO picks which
        shift = (4, 3, 2, 0)[self._mo]
        h = ((dst[4] >> shift) | (dst[5] << (8 - shift))) & 0xFFF
        return bool(self._regs[spec.MTA.at(h >> 5)] >> (h & 31) & 1)

    def _rx_filter(self, frames: list[bytes]) -> list[bytes]:
        """Drop frames the address filter rejects, then runts and giants (counted), so that
        RUC and ROC count frames that passed the filter, as on the 82599. A frame shorter
        than a header is a runt before any filter; with FCTRL.SBP the other runts are kept."""
        lab = self.lab
        rx_max = self._rx_max
        out = []
        for f in frames:
            ln = len(f)
            if ln < spec.ETH_HLEN:
                lab["rx_drop_runt"] += 1
                continue
            if not self._promisc:
                dst = f[:6]
                if dst in self._rar:
                    pass
                elif f[0] & 1:
                    if dst == _BCAST:
                        ok = self._bam
                    else:
                        ok = self._mpe or (self._mfe and self._mta_hit(dst))
                    if not ok:
                        lab["rx_drop_filter"] += 1
                        continue
                elif not self._upe:
                    lab["rx_drop_filter"] += 1
                    continue
            if ln < spec.MIN_FRAME:
                if not self._sbp:
                    lab["rx_drop_runt"] += 1
                    continue
                self.totals["runts_stored"] += 1
            elif ln > rx_max:
                lab["rx_drop_giant"] += 1
                continue
            out.append(f)
        return out

    def _rx_rss(self, frames: list[bytes]) -> int:
        """Spread frames over the queues by RETA[hash & 127] (MRQC.RSSEN)."""
        hashes = list(map(rss_hash, frames))
        reta = self._reta
        queues = [reta[h & 127] for h in hashes]
        if queues.count(queues[0]) == len(queues):  # one flow, or one queue: one run
            groups = {queues[0]: (frames, hashes)}
        else:
            groups = {}
            for f, h, q in zip(frames, hashes, queues, strict=True):
                g = groups.setdefault(q, ([], []))
                g[0].append(f)
                g[1].append(h)
        done = 0
        for q, (fs, hs) in groups.items():
            ring = self.rx[q]
            if ring.enabled:
                done += rx_run(self, ring, fs, hs)
            else:
                self.lab["rx_drop_disabled"] += len(fs)
        return done

    # -- statistics registers ---------------------------------------------------------------

    def _make_stat_sources(self) -> dict[str, Callable[[], int]]:
        """Monotonic totals behind the read-to-clear registers (keyed by statistic)."""
        lab, tot, rx, tx = self.lab, self.totals, self.rx, self.tx
        src: dict[str, Callable[[], int]] = {
            "GPRC": lambda: sum(r.frames for r in rx),
            "GORC": lambda: sum(r.bytes for r in rx),
            "GPTC": lambda: sum(r.frames for r in tx),
            "GOTC": lambda: sum(r.bytes for r in tx),
            "BPRC": lambda: tot["bprc"],
            "MPRC": lambda: tot["mprc"],
            "BPTC": lambda: tot["bptc"],
            "MPTC": lambda: tot["mptc"],
            "TPR": lambda: tot["tpr"],
            "TOR": lambda: tot["tor"],
            "TPT": lambda: sum(r.frames for r in tx),
            "MPC0": lambda: lab["rx_drop_no_desc"] + lab["rx_drop_disabled"],
            "RUC": lambda: lab["rx_drop_runt"] + tot["runts_stored"],
            "ROC": lambda: lab["rx_drop_giant"],
            "RLEC": lambda: lab["rx_drop_runt"] + tot["runts_stored"] + lab["rx_drop_giant"],
        }
        for q in range(spec.NUM_QUEUES):
            src[f"QPRC{q}"] = partial(lambda r: r.frames, rx[q])
            src[f"QBRC{q}"] = partial(lambda r: r.bytes, rx[q])
            src[f"QPTC{q}"] = partial(lambda r: r.frames, tx[q])
            src[f"QBTC{q}"] = partial(lambda r: r.bytes, tx[q])
        return src

    def _make_stat_reader(self, name: str, i: int) -> Callable[[], int]:
        reg = spec.register(name)
        suffix = str(i) if reg.is_array else ""
        if name in _STAT_PAIRS:
            return partial(self._r_stat_lo, _STAT_PAIRS[name] + suffix)
        if name in _STAT_HIGH:
            return partial(self._r_stat_hi, _STAT_HIGH[name] + suffix)
        key = name + suffix
        if key in self._stat_sources:
            return partial(self._r_stat, key)
        return self._zero  # CRCERRS and friends: nothing on our wire goes wrong that way

    def _r_stat(self, key: str) -> int:
        total = self._stat_sources[key]()
        v = total - self._stat_base[key]
        self._stat_base[key] = total
        return min(v, _M32)  # a 32-bit statistic saturates

    def _r_stat_lo(self, key: str) -> int:
        total = self._stat_sources[key]()
        v = total - self._stat_base[key]
        self._stat_base[key] = total
        self._stat_latch[key] = (v >> 32) & _M32
        return v & _M32

    def _r_stat_hi(self, key: str) -> int:
        return self._stat_latch.pop(key, 0)

    def _r_lab_hi(self, i: int) -> int:
        return self._lab_latch.get(i, 0)

    def _r_lab_lo(self, i: int, name: str) -> int:
        v = self.lab[name]
        self._lab_latch[i] = (v >> 32) & _M32
        return v & _M32


def rss_hash(frame: bytes) -> int:
    """ringlab's RSS hash: CRC-32 of IP addresses and TCP/UDP ports; 0 for other frames."""
    et = frame[12:14]
    if et == b"\x08\x00" and len(frame) >= 34:
        ihl = (frame[14] & 0xF) * 4
        key = frame[26:34]
        frag = int.from_bytes(frame[20:22], "big") & 0x3FFF
        if frame[23] in (6, 17) and not frag:
            key += frame[14 + ihl : 18 + ihl]
        return zlib.crc32(key)
    if et == b"\x86\xdd" and len(frame) >= 54:
        key = frame[22:54]
        if frame[20] in (6, 17):
            key += frame[54:58]
        return zlib.crc32(key)
    return 0
