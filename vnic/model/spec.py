"""The ringlab vNIC, as data: PCI identity, registers, descriptors, lab counters.

This file is the single source of truth for the hardware a student programs. Everything else is
derived from it:

* the device model (``vnic/model/device.py``) looks registers and bits up here by name;
* ``python -m vnic.model.codegen`` writes the C header the guest driver includes
  (``vnic/linux/vnic_regs.h``) and the datasheet tables (``docs/reference/datasheet.rst``).

The programming model is a subset of the Intel 82599 (ixgbe), see
``/work/shared/specs/ixgbe-subset.md`` ("the spec" below; section numbers such as §2.3 refer to
it). Offsets and bits of the ixgbe registers are the spec's. Where the spec leaves a choice open,
the choice ringlab made is written in the register's description. The *lab* block at
``0x18000`` is ringlab's own: counters a real NIC would not have, but a student wants to see.

Every register is 32 bits wide and little-endian; offsets are byte offsets into BAR0.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# ---------------------------------------------------------------------------------------------
# PCI identity (§1)
# ---------------------------------------------------------------------------------------------

#: QEMU's vendor ID (used by its "bochs" display 1234:1111 and the "edu" device 1234:11e8).
#: No stock Linux driver's id table claims 1234:7c01, so nothing but vnic.ko binds to it.
PCI_VENDOR_ID = 0x1234
PCI_DEVICE_ID = 0x7C01
PCI_SUBSYSTEM_VENDOR_ID = 0x1234
PCI_SUBSYSTEM_ID = 0x0001
PCI_REVISION = 0x01
PCI_CLASS_CODE = 0x020000  # network controller, Ethernet

BAR0_SIZE = 0x20000  # 128 KiB of registers (64-bit memory BAR)
BAR4_SIZE = 0x4000  # MSI-X table and PBA (64-bit memory BAR)
MSIX_TABLE_BAR = 4
MSIX_TABLE_OFFSET = 0x0000
MSIX_PBA_OFFSET = 0x2000
MSIX_ENTRY_SIZE = 16

# ---------------------------------------------------------------------------------------------
# Sizes of the device
# ---------------------------------------------------------------------------------------------

NUM_QUEUES = 8  # TX/RX queue pairs; netmap gets one ring per queue
NUM_VECTORS = 16  # MSI-X vectors: EICR bits 15:0 name them one to one in MSI-X mode
NUM_RAR = 16  # receive address (RAL/RAH) entries
NUM_IVAR = NUM_QUEUES // 2  # each IVAR register routes two queue pairs
DESC_SIZE = 16  # bytes per descriptor, RX and TX, read and write-back
RING_ALIGN = 128  # RDLEN/TDLEN must be a non-zero multiple of this (8 descriptors)
MAX_RING_BYTES = 0x80000  # 32768 descriptors: heads and tails are 16-bit
MAX_FRAME = 9728  # largest frame the wire carries (jumbo), without FCS
MIN_FRAME = 60  # shortest Ethernet frame without FCS: TX pads to it (HLREG0.TXPADEN), RX
#                drops shorter ones as runts (RUC) unless FCTRL.SBP
ETH_HLEN = 14  # a received frame shorter than this has no header: a runt, always dropped
ITR_UNIT_S = 2e-6  # one unit of EITR.ITR_INTERVAL (bits 11:3) is 2 µs (§4.4)


class Access(StrEnum):
    """How software may access a register."""

    RW = "rw"  #: read/write, plain storage unless the description says otherwise
    RO = "ro"  #: read-only; writes are ignored and counted (``reg_write_ro``)
    RC = "rc"  #: read-to-clear (statistics)
    W1C = "w1c"  #: write 1 to clear a bit
    W1S = "w1s"  #: write 1 to set a bit; read returns the bits
    WO = "wo"  #: write-only; reads return 0


@dataclass(frozen=True)
class Field:
    """A bit field: ``width`` bits starting at bit ``lsb``; ``values`` names encodings."""

    name: str
    lsb: int
    width: int = 1
    doc: str = ""
    values: tuple[tuple[str, int], ...] = ()

    @property
    def mask(self) -> int:
        return ((1 << self.width) - 1) << self.lsb

    @property
    def msb(self) -> int:
        return self.lsb + self.width - 1

    def value(self, name: str) -> int:
        """The named encoding, already shifted into place."""
        for vname, v in self.values:
            if vname == name:
                return v << self.lsb
        raise KeyError(f"{self.name} has no value {name}")


@dataclass(frozen=True)
class Register:
    """A register, or an array of ``count`` registers ``stride`` bytes apart.

    ``aliases`` are further base offsets that decode to the same array (e.g. the 82598-style
    receive address table at 0x05400 besides the 82599 one at 0x0A200).
    """

    name: str
    offset: int
    access: Access
    reset: int
    doc: str
    section: str
    fields: tuple[Field, ...] = ()
    count: int = 1
    stride: int = 4
    aliases: tuple[int, ...] = ()
    index_doc: str = "n"

    @property
    def is_array(self) -> bool:
        return self.count > 1

    def at(self, i: int = 0) -> int:
        """Offset of element ``i``."""
        if not 0 <= i < self.count:
            raise IndexError(f"{self.name}({i}): only {self.count}")
        return self.offset + self.stride * i

    def decodings(self) -> list[tuple[int, int]]:
        """Every (index, offset) that decodes to this register, aliases included."""
        out: list[tuple[int, int]] = []
        for base in (self.offset, *self.aliases):
            out.extend((i, base + self.stride * i) for i in range(self.count))
        return out

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.name} has no field {name}")

    def mask(self, *names: str) -> int:
        """OR of the masks of the named fields."""
        m = 0
        for n in names:
            m |= self.field(n).mask
        return m


def _f(name: str, lsb: int, width: int = 1, doc: str = "", **values: int) -> Field:
    return Field(name, lsb, width, doc, tuple(values.items()))


REGISTERS: list[Register] = []


def _reg(
    name: str,
    offset: int,
    access: Access,
    doc: str,
    *fields: Field,
    reset: int = 0,
    count: int = 1,
    stride: int = 4,
    aliases: tuple[int, ...] = (),
    section: str,
    index_doc: str = "n",
) -> Register:
    r = Register(
        name, offset, access, reset, doc, section, fields, count, stride, aliases, index_doc
    )
    REGISTERS.append(r)
    return r


#: How BAR0 answers accesses of each size (the datasheet's introduction).
REGISTER_ACCESS = (
    "Accesses of 4 bytes at a 4-byte aligned offset are the rule; an 8-byte access at an"
    " 8-byte aligned offset is two 4-byte accesses, the lower register first. A 1- or 2-byte"
    " access inside one register acts on those bytes only, as a PCIe access with byte enables:"
    " a narrow read returns its bytes of what a 4-byte read returns, with the same side"
    " effects (a narrow read of a read-to-clear statistic clears all of it); a narrow write"
    " to an rw register merges its bytes into the register's live value (what a read returns"
    " now: for heads, tails and the interrupt registers that is the device's own state, not"
    " a stored copy) and writes the result, with the effects a 4-byte write of that value has"
    " (a 16-bit write to a tail is a doorbell); to a w1c, w1s or wo register the other bytes"
    " are 0, which change nothing; to an ro or rc register it is ignored and counted"
    " (reg_write_ro), as a 4-byte write is. The 82599 datasheet asks for 32-bit accesses but"
    " does not forbid narrower ones, so the model honours them rather than refusing them;"
    " vnic.ko and ixgbe use 32-bit accesses only. Any other access (misaligned, across"
    " registers, other sizes) reads 0 and its writes are ignored and counted"
    " (reg_write_unknown)."
)

#: What the PCI command register's bus-master bit means to the device (the datasheet says it).
BUS_MASTER = (
    "The device reads and writes guest memory (descriptors, buffers, head write-back) only"
    " while bit 2 of the PCI command register (bus master enable) is set, as a PCI function"
    " must; it is clear after reset, and drivers set it (pci_set_master). While it is clear,"
    " frames from the wire are dropped, and TX doorbells and the TX work already queued wait:"
    " both counted in the lab counter dma_blocked. When the bit is set again, TX goes on"
    " from TDH. Register accesses and interrupts are not affected."
)

RW, RO, RC, W1C, W1S, WO = Access.RW, Access.RO, Access.RC, Access.W1C, Access.W1S, Access.WO
Q = NUM_QUEUES

# --- General and link (§2.1) -----------------------------------------------------------------
S = "General and link"
CTRL = _reg(
    "CTRL",
    0x00000,
    RW,
    "Device control. RST and LNK_RST each reset the whole device, as on the 82599: registers,"
    " queues, interrupts and statistics to their reset values (lab counters and PCI config"
    " space survive). LNK_RST also restarts the link (MAC, PCS, auto-negotiation); ixgbe uses"
    " it alone as its global reset while the link is down. Both read back 0 at once (the"
    " reset is instantaneous in the model) and the link is back as soon as the reset is done,"
    " so the two bits act alike and neither raises LSC.",
    _f("GIO_DIS", 2, doc="PCIe master disable request"),
    _f("LNK_RST", 3, doc="link reset: a device reset that also restarts the link (self-clearing)"),
    _f("RST", 26, doc="software reset of the whole device (self-clearing)"),
    section=S,
)
STATUS = _reg(
    "STATUS",
    0x00008,
    RO,
    "Device status.",
    _f("LAN_ID", 2, 2, "port number (always 0)"),
    _f("GIO", 19, doc="PCIe master enable status"),
    reset=0x00080000,
    section=S,
)
CTRL_EXT = _reg(
    "CTRL_EXT",
    0x00018,
    RW,
    "Extended control (stored, no effect).",
    _f("PFRSTD", 14, doc="PF reset done"),
    _f("NS_DIS", 16, doc="no-snoop disable"),
    _f("RO_DIS", 17, doc="relaxed ordering disable"),
    _f("DRV_LOAD", 28, doc="driver loaded"),
    section=S,
)
EEC = _reg(
    "EEC",
    0x10010,
    RO,
    "EEPROM control. There is no EEPROM; ARD (auto-read done) "
    "always reads 1 so drivers waiting for it go on.",
    _f("ARD", 9, doc="EEPROM auto-read done (always 1)"),
    reset=0x00000200,
    section=S,
)
AUTOC = _reg(
    "AUTOC",
    0x042A0,
    RW,
    "Auto-negotiation control (stored, no effect: the link is up whenever the port is connected).",
    _f("10G_PMA_PMD", 7, 2, "10G PMA/PMD select", XAUI=0),
    _f("AN_RESTART", 12, doc="restart auto-negotiation"),
    _f("LMS", 13, 3, "link mode select", **{"10G_SERIAL": 3}),
    section=S,
)
LINKS = _reg(
    "LINKS",
    0x042A4,
    RO,
    "Link status: LINK_UP|SPEED_10G while the port is connected and LABCTL.LINK_DOWN is clear.",
    _f("SPEED", 28, 2, "link speed", **{"100M": 1, "1G": 2, "10G": 3}),
    _f("LINK_UP", 30, doc="link is up"),
    _f("KX_AN_COMP", 31, doc="auto-negotiation complete"),
    section=S,
)
HLREG0 = _reg(
    "HLREG0",
    0x04240,
    RW,
    "MAC control. TXPADEN pads short TX frames to 60 bytes, "
    "JUMBOEN lets RX accept frames up to MAXFRS.MFS. LPBK (MAC loopback) isolates the port "
    "from the wire, as on the 82599: what the port transmits comes back to its own RX and "
    "does not reach the wire, frames from the wire are dropped (rx_drop_loopback). Frames "
    "on the ringlab wire carry no FCS, so the CRC bits have no effect.",
    _f("TXCRCEN", 0, doc="append CRC on TX"),
    _f("RXCRCSTRP", 1, doc="strip CRC on RX"),
    _f("JUMBOEN", 2, doc="accept jumbo frames"),
    _f("TXPADEN", 10, doc="pad short TX frames"),
    _f("LPBK", 15, doc="MAC loopback: transmitted frames are received, the wire is ignored"),
    reset=0x00000403,
    section=S,
)
MAXFRS = _reg(
    "MAXFRS",
    0x04268,
    RW,
    "Max frame size (with FCS) accepted on RX when HLREG0.JUMBOEN is set; otherwise 1522.",
    _f("MFS", 16, 16, "max frame size in bytes, including the 4-byte FCS"),
    reset=1522 << 16,
    section=S,
)

# --- Interrupts (§2.2, §4.4, §4.5) -----------------------------------------------------------
S = "Interrupts"
_CAUSES = (
    _f("RTX_QUEUE", 0, 16, "queue causes; in MSI-X mode bit v = vector v"),
    _f("FLOW_DIR", 16),
    _f("RX_MISS", 17),
    _f("PCI", 18),
    _f("MAILBOX", 19),
    _f("LSC", 20, doc="link status change"),
    _f("LINKSEC", 21),
    _f("MNG", 22),
    _f("TS", 23, doc="thermal sensor"),
    _f("GPI_SDP0", 24),
    _f("GPI_SDP1", 25),
    _f("GPI_SDP2", 26),
    _f("ECC", 28),
    _f("TCP_TIMER", 30),
    _f("OTHER", 31, doc="interrupt cause active"),
)
EICR = _reg(
    "EICR",
    0x00800,
    W1C,
    "Extended interrupt cause. Write 1 clears. In legacy (INTx/MSI)"
    " mode a read also clears it; in MSI-X mode it does not (EIAC auto-clears instead).",
    *_CAUSES,
    section=S,
)
EICS = _reg(
    "EICS",
    0x00808,
    WO,
    "Interrupt cause set: a 1 sets the EICR bit (software interrupt).",
    *_CAUSES,
    section=S,
)
EIAC = _reg(
    "EIAC",
    0x00810,
    RW,
    "Auto-clear: in MSI-X mode these EICR bits clear when their vector's message is sent.",
    *_CAUSES,
    section=S,
)
EITR = _reg(
    "EITR",
    0x00820,
    RW,
    "Interrupt throttle of vector n: at most one message per "
    "ITR_INTERVAL x 2 µs; 0 = no throttling. Linux writes (µs << 2).",
    _f("ITR_INTERVAL", 3, 9, "minimum interval, in 2 µs units"),
    _f("LLI_MOD", 15, doc="low-latency moderation (ignored)"),
    _f("CNT_WDIS", 31, doc="write does not reset the counter (ignored)"),
    count=NUM_VECTORS,
    section=S,
)
EIMS = _reg(
    "EIMS",
    0x00880,
    W1S,
    "Interrupt mask set: a 1 enables the cause; read returns the enabled causes.",
    *_CAUSES,
    section=S,
)
EIMC = _reg(
    "EIMC", 0x00888, WO, "Interrupt mask clear: a 1 disables the cause.", *_CAUSES, section=S
)
EIAM = _reg(
    "EIAM",
    0x00890,
    RW,
    "Auto-mask: with GPIE.EIAME, these EIMS bits clear when their vector's message is sent.",
    *_CAUSES,
    section=S,
)
GPIE = _reg(
    "GPIE",
    0x00898,
    RW,
    "General-purpose interrupt enable.",
    _f("MSIX_MODE", 4, doc="MSI-X mode: EICR bits 15:0 are vectors"),
    _f("OCD", 5, doc="other clear disable (ignored)"),
    _f("EIMEN", 6, doc="EIMS enable on EICS (ignored)"),
    _f("EIAME", 30, doc="enable auto-masking by EIAM"),
    _f("PBA_SUPPORT", 31, doc="PBA support (ignored)"),
    section=S,
)
_IVAR_ENTRY = "entry: bits 5:0 vector (MSI-X) or EICR bit (legacy), bit 7 valid"
IVAR = _reg(
    "IVAR",
    0x00900,
    RW,
    "Queue to vector map for queue pairs 2i and 2i+1. Driver "
    "formula: IVAR(q >> 1), bit position 16*(q & 1) + 8*dir (dir 0 RX, 1 TX).",
    _f("RX_Q0", 0, 8, "RX queue 2i " + _IVAR_ENTRY),
    _f("TX_Q0", 8, 8, "TX queue 2i " + _IVAR_ENTRY),
    _f("RX_Q1", 16, 8, "RX queue 2i+1 " + _IVAR_ENTRY),
    _f("TX_Q1", 24, 8, "TX queue 2i+1 " + _IVAR_ENTRY),
    count=NUM_IVAR,
    section=S,
    index_doc="i",
)
IVAR_MISC = _reg(
    "IVAR_MISC",
    0x00A00,
    RW,
    "Vector of the non-queue causes (LSC and the other bits 31:16).",
    _f("TCP_TIMER", 0, 8, "TCP timer " + _IVAR_ENTRY),
    _f("OTHER", 8, 8, "other causes " + _IVAR_ENTRY),
    section=S,
)
EICS_EX = _reg(
    "EICS_EX",
    0x00A90,
    WO,
    "64-bit view of EICS for vectors; i = 0 covers vectors 31:0 (only 15:0 exist).",
    count=2,
    section=S,
    index_doc="i",
)
EIMS_EX = _reg(
    "EIMS_EX", 0x00AA0, W1S, "64-bit view of EIMS for vectors.", count=2, section=S, index_doc="i"
)
EIMC_EX = _reg(
    "EIMC_EX", 0x00AB0, WO, "64-bit view of EIMC for vectors.", count=2, section=S, index_doc="i"
)
EIAM_EX = _reg(
    "EIAM_EX", 0x00AD0, RW, "64-bit view of EIAM for vectors.", count=2, section=S, index_doc="i"
)

# --- Receive (§2.3, §4.2) --------------------------------------------------------------------
S = "Receive"
_DCTL = (
    _f("PTHRESH", 0, 7, "prefetch threshold (ignored)"),
    _f("HTHRESH", 8, 7, "host threshold (ignored)"),
    _f("WTHRESH", 16, 7, "write-back threshold (ignored: write-back is immediate)"),
    _f("ENABLE", 25, doc="queue enable; reads back 1 only once the ring is valid"),
    _f("SWFLSH", 26, doc="software flush (ignored)"),
)
RDBAL = _reg(
    "RDBAL",
    0x01000,
    RW,
    "RX ring base, low 32 bits; bits 6:0 read 0 (128-byte alignment).",
    count=Q,
    stride=0x40,
    section=S,
)
RDBAH = _reg("RDBAH", 0x01004, RW, "RX ring base, high 32 bits.", count=Q, stride=0x40, section=S)
RDLEN = _reg(
    "RDLEN",
    0x01008,
    RW,
    "RX ring length in bytes (descriptors x 16). Must be a "
    "non-zero multiple of 128, at most 0x80000, when the queue is enabled; otherwise "
    "the queue stays disabled.",
    count=Q,
    stride=0x40,
    section=S,
)
RDH = _reg(
    "RDH",
    0x01010,
    RW,
    "RX head: the next descriptor the device fills. Software writes "
    "it only while the queue is disabled (to 0).",
    count=Q,
    stride=0x40,
    section=S,
)
RDT = _reg(
    "RDT",
    0x01018,
    RW,
    "RX tail (doorbell): the device owns descriptors [RDH, RDT). A "
    "value >= the ring size is ignored and counted.",
    count=Q,
    stride=0x40,
    section=S,
)
RXDCTL = _reg(
    "RXDCTL",
    0x01028,
    RW,
    "RX queue control.",
    *_DCTL,
    _f("VME", 30, doc="VLAN strip (ignored)"),
    count=Q,
    stride=0x40,
    section=S,
)
SRRCTL = _reg(
    "SRRCTL",
    0x02100,
    RW,
    "RX buffer layout of queue n. BSIZEPKT is the buffer size "
    "in KiB (0 acts as 1 KiB); a frame larger than one buffer spans several "
    "descriptors, EOP on the last. Header-split types act like ADV_ONEBUF.",
    _f("BSIZEPKT", 0, 7, "packet buffer size, 1 KiB units"),
    _f("BSIZEHDR", 8, 6, "header buffer size, 64-byte units (ignored)"),
    _f("RDMTS", 22, 3, "descriptor minimum threshold (ignored)"),
    _f("DESCTYPE", 25, 3, "descriptor type", LEGACY=0, ADV_ONEBUF=1, HDR_SPLIT=2, HDR_ALWAYS=5),
    _f("DROP_EN", 28, doc="drop when no descriptor (the model always drops)"),
    reset=0x00000402,
    count=Q,
    section=S,
)
DCA_RXCTRL = _reg(
    "DCA_RXCTRL",
    0x02200,
    RW,
    "RX DCA control (stored, no effect).",
    _f("DESC_RRO_EN", 12, doc="relaxed ordering of descriptor write-back; drivers clear it"),
    reset=0x00001000,
    count=Q,
    section=S,
)
RDRXCTL = _reg(
    "RDRXCTL",
    0x02F00,
    RW,
    "RX DMA control. DMAIDONE always reads 1.",
    _f("CRCSTRIP", 1, doc="strip CRC (the wire carries none)"),
    _f("DMAIDONE", 3, doc="DMA init done (always 1)"),
    reset=0x00000008,
    section=S,
)
RXCTRL = _reg(
    "RXCTRL", 0x03000, RW, "Receive control.", _f("RXEN", 0, doc="global receive enable"), section=S
)
RXPBSIZE = _reg(
    "RXPBSIZE",
    0x03C00,
    RW,
    "RX packet buffer size (stored, no effect).",
    count=8,
    section=S,
    index_doc="i",
)
RXCSUM = _reg(
    "RXCSUM",
    0x05000,
    RW,
    "RX checksum control. With IPOFL and TUOFL (the bits of the 8254x/igb family; the 82599 "
    "always checks) the device checks each received frame's IPv4 header and TCP/UDP checksums "
    "and reports them in the advanced write-back (IPCS, L4CS, UDPCS; IPE, TCPE); legacy "
    "descriptors get no checksum bits. Off after reset, so a driver that does not ask pays "
    "nothing.",
    _f("IPOFL", 8, doc="check IPv4 header checksums (IPCS, ERR_IPE)"),
    _f(
        "TUOFL",
        9,
        doc="check TCP and UDP checksums over IPv4 and IPv6 (L4CS, UDPCS, ERR_TCPE); not "
        "checked: IPv4 fragments, IPv6 extension headers, VLAN-tagged frames",
    ),
    _f("IPPCSE", 12, doc="stored, no effect"),
    _f("PCSD", 13, doc="stored, no effect"),
    section=S,
)
FCTRL = _reg(
    "FCTRL",
    0x05080,
    RW,
    "Filter control. A frame is accepted if its destination is "
    "in an RAL/RAH entry with AV, or it is broadcast and BAM, or multicast and (MPE or "
    "its MTA bit with MCSTCTRL.MFE), or unicast and UPE. An accepted frame shorter than 60 "
    "bytes (a runt: Ethernet's minimum without FCS) is counted in RUC and dropped, unless "
    "SBP; a frame shorter than a 14-byte header is always dropped.",
    _f(
        "SBP",
        1,
        doc="store bad packets: runts of 14 to 59 bytes are delivered (as they are, no error"
        " bit) instead of dropped; still counted in RUC",
    ),
    _f("MPE", 8, doc="multicast promiscuous"),
    _f("UPE", 9, doc="unicast promiscuous"),
    _f("BAM", 10, doc="accept broadcast"),
    _f("PMCF", 12),
    _f("DPF", 13),
    _f("RFCE", 15),
    section=S,
)
VLNCTRL = _reg("VLNCTRL", 0x05088, RW, "VLAN control (stored, no effect).", section=S)
MCSTCTRL = _reg(
    "MCSTCTRL",
    0x05090,
    RW,
    "Multicast filter control.",
    _f(
        "MO",
        0,
        2,
        "which destination bits index the MTA: 0 = bits 47:36, 1 = 46:35, 2 = 45:34, 3 = 43:32",
    ),
    _f("MFE", 2, doc="multicast filter (MTA) enable"),
    section=S,
)
MTA = _reg(
    "MTA",
    0x05200,
    RW,
    "Multicast table array: 4096 hash bits.",
    count=128,
    section=S,
    index_doc="i",
)
RAL = _reg(
    "RAL",
    0x0A200,
    RW,
    "Receive address i, bytes 0-3 (byte 0 in bits 7:0). Entry 0 "
    "holds the port's MAC after reset. Also decoded at 0x05400 + 8i.",
    count=NUM_RAR,
    stride=8,
    aliases=(0x05400,),
    section=S,
    index_doc="i",
)
RAH = _reg(
    "RAH",
    0x0A204,
    RW,
    "Receive address i, bytes 4-5, and valid bit. Also decoded at 0x05404 + 8i.",
    _f("RAH", 0, 16, "MAC bytes 4-5"),
    _f("AV", 31, doc="address valid"),
    count=NUM_RAR,
    stride=8,
    aliases=(0x05404,),
    section=S,
    index_doc="i",
)
MRQC = _reg(
    "MRQC",
    0x05818,
    RW,
    "Multiple RX queues. With RSSEN, frames are spread over the "
    "queues by RETA, indexed by a hash of the IPv4/IPv6 addresses and TCP/UDP ports "
    "(ringlab's hash is CRC-32, not Toeplitz); otherwise everything goes to queue 0.",
    _f("RSSEN", 0, doc="RSS enable"),
    section=S,
)
RETA = _reg(
    "RETA",
    0x05C00,
    RW,
    "RSS redirection table: 128 one-byte entries, 4 per register; "
    "bits 3:0 of an entry name the queue (modulo the queue count).",
    count=32,
    section=S,
    index_doc="i",
)

# --- Transmit (§2.4, §4.3) -------------------------------------------------------------------
S = "Transmit"
TDBAL = _reg(
    "TDBAL",
    0x06000,
    RW,
    "TX ring base, low 32 bits; bits 6:0 read 0.",
    count=Q,
    stride=0x40,
    section=S,
)
TDBAH = _reg("TDBAH", 0x06004, RW, "TX ring base, high 32 bits.", count=Q, stride=0x40, section=S)
TDLEN = _reg(
    "TDLEN",
    0x06008,
    RW,
    "TX ring length in bytes; same rule as RDLEN.",
    count=Q,
    stride=0x40,
    section=S,
)
TDH = _reg(
    "TDH",
    0x06010,
    RW,
    "TX head: the next descriptor the device fetches.",
    count=Q,
    stride=0x40,
    section=S,
)
TDT = _reg(
    "TDT",
    0x06018,
    RW,
    "TX tail (doorbell): the device sends descriptors [TDH, TDT). "
    "The write only records the tail; the TX engine runs after it.",
    count=Q,
    stride=0x40,
    section=S,
)
TXDCTL = _reg("TXDCTL", 0x06028, RW, "TX queue control.", *_DCTL, count=Q, stride=0x40, section=S)
TDWBAL = _reg(
    "TDWBAL",
    0x06038,
    RW,
    "Head write-back address, low 32 bits. With HEAD_WB_EN the "
    "device writes TDH (32 bits) to this address after each batch, so the driver "
    "needs no register read.",
    _f("HEAD_WB_EN", 0, doc="head write-back enable"),
    count=Q,
    stride=0x40,
    section=S,
)
TDWBAH = _reg(
    "TDWBAH", 0x0603C, RW, "Head write-back address, high 32 bits.", count=Q, stride=0x40, section=S
)
DMATXCTL = _reg(
    "DMATXCTL",
    0x04A80,
    RW,
    "TX DMA control.",
    _f("TE", 0, doc="global transmit enable"),
    _f("GDV", 3, doc="global double VLAN (ignored)"),
    _f("VT", 16, 16, "VLAN ether type (ignored)"),
    reset=0x81000000,
    section=S,
)
TXPBSIZE = _reg(
    "TXPBSIZE",
    0x0CC00,
    RW,
    "TX packet buffer size (stored, no effect).",
    count=8,
    section=S,
    index_doc="i",
)
DTXMXSZRQ = _reg(
    "DTXMXSZRQ", 0x08100, RW, "Max TX DMA request size (stored, no effect).", section=S
)
RTTDCS = _reg(
    "RTTDCS",
    0x04900,
    RW,
    "TX DCB control (stored, no effect).",
    _f("ARBDIS", 6, doc="arbiter disable"),
    section=S,
)

# --- Statistics (§2.5): all read-to-clear ----------------------------------------------------
S = "Statistics"
CRCERRS = _reg("CRCERRS", 0x04000, RC, "CRC errors (always 0).", section=S)
ILLERRC = _reg("ILLERRC", 0x04004, RC, "Illegal byte errors (always 0).", section=S)
ERRBC = _reg("ERRBC", 0x04008, RC, "Error bytes (always 0).", section=S)
MLFC = _reg("MLFC", 0x04034, RC, "MAC local faults (always 0).", section=S)
MRFC = _reg("MRFC", 0x04038, RC, "MAC remote faults (always 0).", section=S)
RLEC = _reg("RLEC", 0x04040, RC, "Length errors: RUC plus ROC.", section=S)
MPC = _reg(
    "MPC",
    0x03FA0,
    RC,
    "Missed packets: i = 0 counts frames dropped for want of a free "
    "RX descriptor (or RX disabled); others read 0.",
    count=8,
    section=S,
    index_doc="i",
)
GPRC = _reg("GPRC", 0x04074, RC, "Good packets received.", section=S)
BPRC = _reg("BPRC", 0x04078, RC, "Broadcast packets received.", section=S)
MPRC = _reg("MPRC", 0x0407C, RC, "Multicast packets received.", section=S)
GPTC = _reg("GPTC", 0x04080, RC, "Good packets transmitted.", section=S)
GORCL = _reg(
    "GORCL",
    0x04088,
    RC,
    "Good octets received, low 32 bits. Read L first: it latches H and clears the counter.",
    section=S,
)
GORCH = _reg("GORCH", 0x0408C, RC, "Good octets received, high bits latched by GORCL.", section=S)
GOTCL = _reg(
    "GOTCL", 0x04090, RC, "Good octets transmitted, low 32 bits (latches GOTCH).", section=S
)
GOTCH = _reg("GOTCH", 0x04094, RC, "Good octets transmitted, high bits.", section=S)
RUC = _reg(
    "RUC",
    0x040A4,
    RC,
    "Receive undersize: frames shorter than 60 bytes that passed the address filter, dropped"
    " or (FCTRL.SBP) stored, and frames shorter than a header.",
    section=S,
)
RFC = _reg("RFC", 0x040A8, RC, "Receive fragments (always 0).", section=S)
ROC = _reg("ROC", 0x040AC, RC, "Receive oversize: giants dropped.", section=S)
RJC = _reg("RJC", 0x040B0, RC, "Receive jabber (always 0).", section=S)
TORL = _reg(
    "TORL",
    0x040C0,
    RC,
    "Total octets received (all arriving frames), low 32 bits (latches TORH).",
    section=S,
)
TORH = _reg("TORH", 0x040C4, RC, "Total octets received, high bits.", section=S)
TPR = _reg("TPR", 0x040D0, RC, "Total packets received, whatever became of them.", section=S)
TPT = _reg("TPT", 0x040D4, RC, "Total packets transmitted.", section=S)
MPTC = _reg("MPTC", 0x040F0, RC, "Multicast packets transmitted.", section=S)
BPTC = _reg("BPTC", 0x040F4, RC, "Broadcast packets transmitted.", section=S)
QPRC = _reg("QPRC", 0x01030, RC, "Packets received by queue n.", count=Q, stride=0x40, section=S)
QBRC_L = _reg(
    "QBRC_L",
    0x01034,
    RC,
    "Bytes received by queue n, low 32 bits (latches H).",
    count=Q,
    stride=0x40,
    section=S,
)
QBRC_H = _reg(
    "QBRC_H", 0x01038, RC, "Bytes received by queue n, high bits.", count=Q, stride=0x40, section=S
)
QPTC = _reg("QPTC", 0x06030, RC, "Packets transmitted by queue n.", count=Q, stride=0x40, section=S)
QBTC_L = _reg(
    "QBTC_L",
    0x08700,
    RC,
    "Bytes transmitted by queue n, low 32 bits (latches H).",
    count=Q,
    stride=8,
    section=S,
)
QBTC_H = _reg(
    "QBTC_H", 0x08704, RC, "Bytes transmitted by queue n, high bits.", count=Q, stride=8, section=S
)

# --- ringlab lab block (ours, not ixgbe) -----------------------------------------------------


@dataclass(frozen=True)
class LabCounter:
    """A 64-bit lab counter: read LABC_LO(i) first (it latches LABC_HI(i)), then LABC_HI(i)."""

    name: str
    doc: str


#: The lab counters, in register order. They never clear on read and survive device resets;
#: only LABCTL.CLEAR_COUNTERS (or restarting the fabric) zeroes them. ``ethtool -S`` shows them.
LAB_COUNTERS: tuple[LabCounter, ...] = (
    LabCounter("doorbells", "tail register writes (TDT and RDT)"),
    LabCounter("reg_reads", "BAR0 register reads"),
    LabCounter("reg_writes", "BAR0 register writes"),
    LabCounter("reg_ignored", "writes of a bad value, ignored: a head or tail past its ring"),
    LabCounter("desc_fetched", "descriptors read from guest memory"),
    LabCounter("desc_written_back", "descriptors written back to guest memory"),
    LabCounter("dma_read_bytes", "bytes read from guest memory (descriptors and buffers)"),
    LabCounter("dma_write_bytes", "bytes written to guest memory (incl. write-backs)"),
    LabCounter("interrupts", "interrupt messages sent (MSI-X, MSI or INTx assertions)"),
    LabCounter("interrupts_deferred", "interrupts delayed by EITR throttling"),
    LabCounter("tx_frames", "frames transmitted onto the wire"),
    LabCounter("tx_bytes", "bytes transmitted onto the wire"),
    LabCounter("rx_frames", "frames written to RX rings"),
    LabCounter("rx_bytes", "bytes written to RX rings"),
    LabCounter("rx_drop_no_desc", "frames dropped: no free RX descriptor"),
    LabCounter("rx_drop_disabled", "frames dropped: RX off, queue disabled or link down"),
    LabCounter("rx_drop_filter", "frames dropped by the address filter (FCTRL, RAL/RAH, MTA)"),
    LabCounter(
        "rx_drop_runt",
        "frames dropped: shorter than 60 bytes (with FCTRL.SBP: shorter than an Ethernet header)",
    ),
    LabCounter("rx_drop_giant", "frames dropped: longer than the max frame size"),
    LabCounter("rx_drop_dma", "frames dropped: RX buffer address not in DMA-mapped memory"),
    LabCounter("tx_drop_dma", "frames dropped: TX buffer address not in DMA-mapped memory"),
    LabCounter("tx_drop_length", "frames dropped: a zero-length buffer or longer than 9728"),
    LabCounter(
        "tx_drop_bad_desc",
        "frames dropped: descriptor type neither data nor context, or a context descriptor"
        " with IDX above 1 (the packet it precedes is dropped)",
    ),
    LabCounter("tx_drop_link", "frames dropped: link down"),
    LabCounter("queue_errors", "queues stopped: bad ring length or ring outside DMA memory"),
    LabCounter(
        "tx_zero_copy",
        "frames sent from a buffer that holds, unchanged, a frame RX DMA of this guest wrote"
        " at that very address: forwarded without a copy (guests with two or more ports)",
    ),
    LabCounter("reg_write_ro", "writes to read-only registers (ro, rc), ignored"),
    LabCounter(
        "reg_write_unknown",
        "writes where no register is (unknown offsets, misaligned or odd sizes), ignored",
    ),
    LabCounter(
        "tx_csum_offloaded",
        "frames whose checksums the device inserted as IXSM and TXSM asked (IPv4 header,"
        " TCP or UDP)",
    ),
    LabCounter(
        "tx_csum_bad_context",
        "frames with IXSM or TXSM sent unchanged: no context stored at their IDX (IDX above 1,"
        " or none since the queue started), IXSM with a context that is not IPv4 or has IPLEN"
        " below 20, or a header or checksum field beyond the frame",
    ),
    LabCounter(
        "tx_csum_unsupported",
        "frames with TXSM sent unchanged: their context's L4 type is SCTP (or the reserved 3)",
    ),
    LabCounter("rx_drop_loopback", "frames from the wire dropped: HLREG0.LPBK isolates the port"),
    LabCounter(
        "dma_blocked",
        "DMA not done, PCI bus mastering off: frames from the wire dropped, TX doorbells and"
        " queued TX work held until it is set again",
    ),
    LabCounter("resets", "software resets: writes of CTRL with RST or LNK_RST set"),
)
LAB_COUNTER_INDEX = {c.name: i for i, c in enumerate(LAB_COUNTERS)}

S = "Lab (ringlab only)"
LAB_ID = _reg(
    "LAB_ID",
    0x18000,
    RO,
    'Reads 0x524C4142 ("RLAB"): the lab block is present.',
    reset=0x524C4142,
    section=S,
)
LAB_VERSION = _reg(
    "LAB_VERSION",
    0x18004,
    RO,
    "Version of this register interface.",
    _f("MINOR", 0, 16),
    _f("MAJOR", 16, 16),
    reset=0x00010000,
    section=S,
)
LABCTL = _reg(
    "LABCTL",
    0x18008,
    RW,
    "Lab control.",
    _f("LINK_DOWN", 0, doc="force the link down (tests of link handling)"),
    _f("CLEAR_COUNTERS", 1, doc="zero all lab counters (self-clearing)"),
    section=S,
)
LAB_NCOUNTERS = _reg(
    "LAB_NCOUNTERS", 0x1800C, RO, "Number of lab counters.", reset=len(LAB_COUNTERS), section=S
)
LABC_LO = _reg(
    "LABC_LO",
    0x18100,
    RO,
    "Lab counter i, low 32 bits; reading it latches LABC_HI(i).",
    count=len(LAB_COUNTERS),
    stride=8,
    section=S,
    index_doc="i",
)
LABC_HI = _reg(
    "LABC_HI",
    0x18104,
    RO,
    "Lab counter i, high 32 bits as latched by LABC_LO(i).",
    count=len(LAB_COUNTERS),
    stride=8,
    section=S,
    index_doc="i",
)

del S

# ---------------------------------------------------------------------------------------------
# Constants the driver needs besides registers
# ---------------------------------------------------------------------------------------------

#: (name, value, doc) emitted as #defines.
CONSTANTS: tuple[tuple[str, int, str], ...] = (
    ("NUM_QUEUES", NUM_QUEUES, "TX/RX queue pairs"),
    ("NUM_VECTORS", NUM_VECTORS, "MSI-X vectors"),
    ("NUM_RAR", NUM_RAR, "receive address entries"),
    ("DESC_SIZE", DESC_SIZE, "bytes per descriptor"),
    ("RING_ALIGN", RING_ALIGN, "ring length granularity and base alignment, bytes"),
    ("MAX_RING_BYTES", MAX_RING_BYTES, "largest RDLEN/TDLEN"),
    ("MAX_FRAME", MAX_FRAME, "largest frame on the wire, bytes, without FCS"),
    ("IVAR_ALLOC_VAL", 0x80, "IVAR entry valid bit"),
    ("IVAR_VECTOR_MASK", 0x3F, "IVAR entry vector bits"),
    ("BAR0_SIZE", BAR0_SIZE, "register BAR size"),
    ("MSIX_BAR", MSIX_TABLE_BAR, "BAR holding the MSI-X table and PBA"),
    ("MSIX_TABLE_OFFSET", MSIX_TABLE_OFFSET, "MSI-X table offset in its BAR"),
    ("MSIX_PBA_OFFSET", MSIX_PBA_OFFSET, "MSI-X PBA offset in its BAR"),
    ("LAB_ID_MAGIC", 0x524C4142, "LAB_ID value"),
)

# ---------------------------------------------------------------------------------------------
# Descriptors (§3). Each format is a list of little-endian words; fields are bits of a word.
# ---------------------------------------------------------------------------------------------

_WORD_FMT = {1: "B", 2: "H", 4: "I", 8: "Q"}


@dataclass(frozen=True)
class Word:
    """One little-endian scalar of a descriptor (``size`` bytes at byte ``offset``)."""

    name: str
    offset: int
    size: int
    doc: str
    fields: tuple[Field, ...] = ()


@dataclass(frozen=True)
class DescFormat:
    """One view of a 16-byte descriptor: ``read`` (software writes) or ``wb`` (write-back)."""

    name: str
    doc: str
    words: tuple[Word, ...]

    @property
    def struct_format(self) -> str:
        """A ``struct`` format covering all 16 bytes, one item per word."""
        pos = 0
        fmt = "<"
        for w in self.words:
            if w.offset != pos:
                raise ValueError(f"{self.name}: gap before {w.name}")
            fmt += _WORD_FMT[w.size]
            pos += w.size
        if pos != DESC_SIZE:
            raise ValueError(f"{self.name}: {pos} bytes, not {DESC_SIZE}")
        return fmt

    def word(self, name: str) -> Word:
        for w in self.words:
            if w.name == name:
                return w
        raise KeyError(name)

    def field(self, name: str) -> Field:
        for w in self.words:
            for f in w.fields:
                if f.name == name:
                    return f
        raise KeyError(name)


@dataclass(frozen=True)
class Descriptor:
    """A descriptor layout. ``prefix`` names its C macros (``VNIC_<prefix>_<FIELD>``)."""

    name: str
    c_name: str
    prefix: str
    doc: str
    formats: tuple[DescFormat, ...]

    def format(self, name: str) -> DescFormat:
        for f in self.formats:
            if f.name == name:
                return f
        raise KeyError(name)


ADV_RX_DESC = Descriptor(
    "Advanced receive descriptor",
    "vnic_adv_rx_desc",
    "RXD",
    "Used when SRRCTL.DESCTYPE is ADV_ONEBUF (or a header-split type). Software re-arms a slot "
    "by writing both quadwords of the read format: hdr_addr = 0 clears the stale DD bit. With "
    "RXCSUM.IPOFL or TUOFL the last descriptor of a frame (EOP) carries its checksum bits; "
    "without, they are 0.",
    (
        DescFormat(
            "read",
            "software to device: where to put the frame",
            (
                Word("pkt_addr", 0, 8, "packet buffer address (IOVA)"),
                Word("hdr_addr", 8, 8, "header buffer address (0; bit 0 overlaps DD)"),
            ),
        ),
        DescFormat(
            "wb",
            "device to software: what arrived",
            (
                Word(
                    "pkt_info",
                    0,
                    2,
                    "packet type (0: not parsed by the model)",
                    (
                        _f("RSSTYPE", 0, 4, "RSS type"),
                        _f("PKTTYPE", 4, 12, "packet type"),
                    ),
                ),
                Word(
                    "hdr_info",
                    2,
                    2,
                    "header info (0)",
                    (
                        _f("RSCCNT", 1, 4, "RSC count"),
                        _f("HDRLEN", 5, 10, "header length"),
                        _f("SPH", 15, doc="split header"),
                    ),
                ),
                Word("rss", 4, 4, "RSS hash (ringlab's CRC-32 hash when MRQC.RSSEN, else 0)"),
                Word(
                    "status_error",
                    8,
                    4,
                    "extended status (19:0) and errors (31:20)",
                    (
                        _f("DD", 0, doc="descriptor done"),
                        _f("EOP", 1, doc="end of packet"),
                        _f("VP", 3, doc="VLAN packet"),
                        _f("UDPCS", 4, doc="the L4CS checksum is a UDP one"),
                        _f(
                            "L4CS",
                            5,
                            doc="TCP or UDP checksum checked (RXCSUM.TUOFL), over IPv4 or IPv6;"
                            " not set for IPv4 fragments, UDP over IPv4 with checksum 0 (none"
                            " sent), IPv6 extension headers, VLAN tags, IP lengths beyond the"
                            " frame",
                        ),
                        _f("IPCS", 6, doc="IPv4 header checksum checked (RXCSUM.IPOFL)"),
                        _f("ERR_LE", 25, doc="length error"),
                        _f(
                            "ERR_RXE", 29, doc="RX error: the buffer was not in DMA memory; no data"
                        ),
                        _f(
                            "ERR_TCPE",
                            30,
                            doc="TCP or UDP checksum wrong (with L4CS; over IPv6 a UDP"
                            " checksum of 0 is wrong)",
                        ),
                        _f("ERR_IPE", 31, doc="IPv4 header checksum wrong (with IPCS)"),
                    ),
                ),
                Word("length", 12, 2, "bytes written into this descriptor's buffer"),
                Word("vlan", 14, 2, "VLAN tag (0)"),
            ),
        ),
    ),
)

LEGACY_RX_DESC = Descriptor(
    "Legacy receive descriptor",
    "vnic_legacy_rx_desc",
    "LRXD",
    "Used when SRRCTL.DESCTYPE is LEGACY. One format: software writes buffer_addr, the device "
    "writes the rest.",
    (
        DescFormat(
            "wb",
            "one format for both directions",
            (
                Word("buffer_addr", 0, 8, "packet buffer address (IOVA)"),
                Word("length", 8, 2, "bytes written into the buffer"),
                Word("csum", 10, 2, "fragment checksum (0)"),
                Word(
                    "status",
                    12,
                    1,
                    "status",
                    (
                        _f("DD", 0, doc="descriptor done"),
                        _f("EOP", 1, doc="end of packet"),
                    ),
                ),
                Word(
                    "errors",
                    13,
                    1,
                    "errors",
                    (_f("RXE", 7, doc="RX error: the buffer was not in DMA memory"),),
                ),
                Word("vlan", 14, 2, "VLAN tag (0)"),
            ),
        ),
    ),
)

ADV_TX_DESC = Descriptor(
    "Advanced transmit data descriptor",
    "vnic_adv_tx_desc",
    "TXD",
    "A packet is one or more data descriptors, EOP on the last. Minimal one-buffer packet: "
    "cmd_type_len = len | EOP | IFCS | RS | DEXT | DTYP_DATA, olinfo_status = len << 14. "
    "IXSM and TXSM in the first data descriptor of a packet insert checksums into the whole "
    "frame (all its buffers) before it is sent, as the context stored under IDX says (see the "
    "context descriptor); the bits of the packet's other descriptors are ignored. "
    "Legacy descriptors (DEXT = 0) share the length, EOP, RS and DD bits and are accepted too, "
    "without offloads (CSO, CSS and IC are ignored).",
    (
        DescFormat(
            "read",
            "software to device: what to send",
            (
                Word("buffer_addr", 0, 8, "buffer address (IOVA)"),
                Word(
                    "cmd_type_len",
                    8,
                    4,
                    "length, type and command",
                    (
                        _f("DTALEN", 0, 16, "bytes in this buffer"),
                        _f("DTYP", 20, 4, "descriptor type", CTXT=2, DATA=3),
                        _f("EOP", 24, doc="end of packet"),
                        _f("IFCS", 25, doc="insert FCS (the wire has none)"),
                        _f("RS", 27, doc="report status: write back DD"),
                        _f("DEXT", 29, doc="advanced descriptor"),
                        _f("VLE", 30, doc="insert VLAN (ignored)"),
                        _f("TSE", 31, doc="TCP segmentation (ignored)"),
                    ),
                ),
                Word(
                    "olinfo_status",
                    12,
                    4,
                    "offload info",
                    (
                        _f("STA", 0, 4, "status, written by the device"),
                        _f("IDX", 4, 3, "context index: the context IXSM and TXSM use (0-1)"),
                        _f("CC", 7, doc="check context (ignored)"),
                        _f("IXSM", 8, doc="insert the IPv4 header checksum (context IDX)"),
                        _f("TXSM", 9, doc="insert the TCP or UDP checksum (context IDX)"),
                        _f("PAYLEN", 14, 18, "total packet length, on the first descriptor"),
                    ),
                ),
            ),
        ),
        DescFormat(
            "wb",
            "device to software, for descriptors with RS",
            (
                Word("rsvd", 0, 8, "reserved (untouched)"),
                Word("nxtseq_seed", 8, 4, "reserved (untouched)"),
                Word("status", 12, 4, "status", (_f("DD", 0, doc="descriptor done"),)),
            ),
        ),
    ),
)

ADV_TX_CTXT_DESC = Descriptor(
    "Advanced transmit context descriptor",
    "vnic_adv_tx_context_desc",
    "TXCTX",
    "Offload context (DTYP_CTXT): where a packet's IP and L4 headers start and which L4 "
    "checksum to insert. It uses one slot (DD written back with RS) and is stored in its queue "
    "under its IDX, 0 or 1, until overwritten, the queue is disabled or its TDH written, or the "
    "device resets; an IDX above 1 is a bad descriptor: the packet it precedes is dropped "
    "(tx_drop_bad_desc). A packet whose first data descriptor has IXSM or TXSM uses the "
    "context its own IDX names. IXSM (TUCMD_IPV4, IPLEN >= 20): the IPv4 header checksum at "
    "MACLEN + 10 is recomputed over IPLEN bytes at MACLEN. TXSM: the driver puts the "
    "pseudo-header sum into the L4 checksum field (TCP: MACLEN + IPLEN + 16; UDP: + 6), as "
    "Linux's CHECKSUM_PARTIAL does; the device sums the frame from MACLEN + IPLEN to its end, "
    "that field included, and stores the complement there (UDP: 0 as 0xFFFF). The IP header "
    "is not parsed: IPv4 and IPv6 alike. A frame whose request cannot be met is sent "
    "unchanged and counted: no context at IDX, IXSM without TUCMD_IPV4, a field beyond the "
    "frame (tx_csum_bad_context); SCTP (tx_csum_unsupported).",
    (
        DescFormat(
            "read",
            "software to device",
            (
                Word(
                    "vlan_macip_lens",
                    0,
                    4,
                    "header lengths: where the IP header and the L4 header start",
                    (
                        _f(
                            "IPLEN",
                            0,
                            9,
                            "IP header length, IPv4 options or IPv6 extension headers included:"
                            " the L4 header is at MACLEN + IPLEN",
                        ),
                        _f("MACLEN", 9, 7, "MAC header length: the IP header's offset"),
                        _f("VLAN", 16, 16, "VLAN tag (ignored)"),
                    ),
                ),
                Word("seqnum_seed", 4, 4, "sequence number seed (ignored)"),
                Word(
                    "type_tucmd_mlhl",
                    8,
                    4,
                    "type and L4 command",
                    (
                        _f(
                            "TUCMD_IPV4", 10, doc="IPv4 packet: IXSM may insert its header checksum"
                        ),
                        _f(
                            "TUCMD_L4T",
                            11,
                            2,
                            "L4 type for TXSM: its checksum field is at +16 (TCP), +6 (UDP);"
                            " SCTP is not supported",
                            UDP=0,
                            TCP=1,
                            SCTP=2,
                        ),
                        _f("DTYP", 20, 4, "descriptor type", CTXT=2),
                        _f("DEXT", 29, doc="advanced descriptor"),
                    ),
                ),
                Word(
                    "mss_l4len_idx",
                    12,
                    4,
                    "context index and segmentation",
                    (
                        _f(
                            "IDX",
                            4,
                            3,
                            "context index: the slot (0-1) this context is stored in; above 1,"
                            " a bad descriptor",
                        ),
                        _f("L4LEN", 8, 8, "L4 header length (for TSO, ignored)"),
                        _f("MSS", 16, 16, "maximum segment size (for TSO, ignored)"),
                    ),
                ),
            ),
        ),
    ),
)

DESCRIPTORS: tuple[Descriptor, ...] = (ADV_RX_DESC, LEGACY_RX_DESC, ADV_TX_DESC, ADV_TX_CTXT_DESC)

SECTIONS: tuple[str, ...] = tuple(dict.fromkeys(r.section for r in REGISTERS))


def register(name: str) -> Register:
    """The register called ``name``."""
    for r in REGISTERS:
        if r.name == name:
            return r
    raise KeyError(name)


def decode_map() -> dict[int, tuple[Register, int]]:
    """Every decoded BAR0 offset -> (register, index). Raises if two registers collide."""
    out: dict[int, tuple[Register, int]] = {}
    for r in REGISTERS:
        for i, off in r.decodings():
            if off in out:
                other = out[off][0].name
                raise ValueError(f"{r.name}({i}) at {off:#x} collides with {other}")
            if off % 4 or not 0 <= off < BAR0_SIZE:
                raise ValueError(f"{r.name}({i}) at bad offset {off:#x}")
            out[off] = (r, i)
    return out
