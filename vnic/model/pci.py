"""PCI face of the vNIC: type-0 config space, the MSI and MSI-X capabilities, and the MSI-X
table and pending-bit array (PBA) that live in BAR4.

This is what the guest's PCI core and `lspci` see before any driver loads. The layout follows
specs/ixgbe-subset.md §1 (64-bit memory BAR0 with the registers, 64-bit memory BAR4 with the
MSI-X table at 0x0000 and the PBA at 0x2000) on a conventional PCI function (256-byte config
space, which QEMU's vfio-user client takes to mean "not PCIe").

Config map::

    0x00 vendor/device   0x04 command/status   0x08 revision/class   0x0c cacheline/.../header
    0x10 BAR0 (low, high)  0x18 BAR2/3 unused   0x20 BAR4 (low, high)  0x28 unused BAR5/cardbus
    0x2c subsystem       0x30 no expansion ROM  0x34 capability pointer -> 0x50
    0x3c interrupt line/pin (INTA)
    0x50 MSI capability  (1 vector, 64-bit address)            -> next 0x70
    0x70 MSI-X capability (table BIR 4 @ 0, PBA BIR 4 @ 0x2000) -> end of list

Writes go through per-byte masks, like real hardware: read-only bits keep their value,
write-1-to-clear status bits clear, and BAR sizing (write all ones, read back) returns the
size mask because the BAR's low address bits are not writable.

Nothing here talks to sockets: the vfio-user server (`vfio_user_server.py`) asks this
module "may vector v fire now?" and gets back either "yes" or "pending" (PBA set), and after
an unmask it asks which pending vectors became deliverable.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import Enum

CONFIG_SIZE = 256

# Standard header offsets (PCI Local Bus spec, type-0 header).
PCI_VENDOR_ID = 0x00
PCI_DEVICE_ID = 0x02
PCI_COMMAND = 0x04
PCI_STATUS = 0x06
PCI_REVISION_ID = 0x08
PCI_CLASS_PROG = 0x09
PCI_CACHE_LINE_SIZE = 0x0C
PCI_LATENCY_TIMER = 0x0D
PCI_HEADER_TYPE = 0x0E
PCI_BAR0 = 0x10
PCI_SUBSYSTEM_VENDOR_ID = 0x2C
PCI_SUBSYSTEM_ID = 0x2E
PCI_CAPABILITY_LIST = 0x34
PCI_INTERRUPT_LINE = 0x3C
PCI_INTERRUPT_PIN = 0x3D

PCI_COMMAND_MEMORY = 0x0002
PCI_COMMAND_MASTER = 0x0004
PCI_COMMAND_PARITY = 0x0040
PCI_COMMAND_SERR = 0x0100
PCI_COMMAND_INTX_DISABLE = 0x0400

PCI_STATUS_INTERRUPT = 0x0008  # INTx level inside the function, whatever INTX_DISABLE says
PCI_STATUS_CAP_LIST = 0x0010
# Error bits (parity, target/master abort, SERR, detected parity): write 1 to clear.
PCI_STATUS_W1C = 0xF900

PCI_BASE_ADDRESS_MEM_TYPE_64 = 0x04

PCI_CAP_ID_MSI = 0x05
PCI_CAP_ID_MSIX = 0x11

MSI_CAP = 0x50
MSIX_CAP = 0x70

PCI_MSI_FLAGS_ENABLE = 0x0001
PCI_MSI_FLAGS_64BIT = 0x0080

PCI_MSIX_FLAGS_QSIZE = 0x07FF
PCI_MSIX_FLAGS_MASKALL = 0x4000
PCI_MSIX_FLAGS_ENABLE = 0x8000

MSIX_ENTRY_SIZE = 16
MSIX_ENTRY_VECTOR_CTRL = 12
MSIX_VECTOR_MASKED = 0x1

# BARs this function implements; the others read as 0 and ignore writes (size 0).
BAR_REGS = 0
BAR_MSIX = 4


@dataclass(frozen=True)
class PciIdentity:
    """What the guest's PCI core matches drivers against, plus the BAR geometry."""

    vendor_id: int
    device_id: int
    class_code: int  # 24 bits: base class, subclass, programming interface
    revision: int = 0x01
    subsystem_vendor_id: int = 0
    subsystem_id: int = 0
    bar0_size: int = 0x20000
    msix_vectors: int = 16
    msix_table_offset: int = 0x0000
    msix_pba_offset: int = 0x2000

    @property
    def bar4_size(self) -> int:
        """Smallest power of two holding table and PBA (QEMU asserts BAR sizes are powers
        of two), at least a page so the BAR can be mapped on its own."""
        end = max(
            self.msix_table_offset + self.msix_vectors * MSIX_ENTRY_SIZE,
            self.msix_pba_offset + 8 * ((self.msix_vectors + 63) // 64),
        )
        size = 4096
        while size < end:
            size *= 2
        return size


def identity_from_spec() -> PciIdentity:
    """The identity the device model's spec declares (one source of truth: `vnic.model.spec`)."""
    from vnic.model import spec

    ident = PciIdentity(
        vendor_id=spec.PCI_VENDOR_ID,
        device_id=spec.PCI_DEVICE_ID,
        class_code=spec.PCI_CLASS_CODE,
        revision=spec.PCI_REVISION,
        subsystem_vendor_id=spec.PCI_SUBSYSTEM_VENDOR_ID,
        subsystem_id=spec.PCI_SUBSYSTEM_ID,
        bar0_size=spec.BAR0_SIZE,
        msix_vectors=spec.NUM_VECTORS,
        msix_table_offset=spec.MSIX_TABLE_OFFSET,
        msix_pba_offset=spec.MSIX_PBA_OFFSET,
    )
    if spec.MSIX_TABLE_BAR != BAR_MSIX or ident.bar4_size != spec.BAR4_SIZE:
        raise ValueError("spec's MSI-X BAR layout disagrees with pci.py")
    return ident


class IrqMode(Enum):
    """Which interrupt mechanism the guest has switched on in config space."""

    INTX = "intx"
    MSI = "msi"
    MSIX = "msix"


class MsixTable:
    """The MSI-X table (16 bytes per vector) and PBA (one bit per vector) in BAR4.

    A vector fires only when MSI-X is enabled, the function mask is clear and its own mask bit
    is clear; otherwise its pending bit is set and the message goes out on unmask (PCI Local Bus
    spec 3.0, §6.8.2). The address/data words are stored for the guest to read back: the
    message itself travels as an eventfd signal the VMM gave us, not as a memory write.
    """

    def __init__(self, vectors: int, table_offset: int, pba_offset: int) -> None:
        if not 1 <= vectors <= 2048:
            raise ValueError("MSI-X supports 1..2048 vectors")
        self.vectors = vectors
        self.table_offset = table_offset
        self.pba_offset = pba_offset
        self.table = bytearray(vectors * MSIX_ENTRY_SIZE)
        self.pba = bytearray(8 * ((vectors + 63) // 64))
        self.reset()

    def reset(self) -> None:
        """Every vector masked, nothing pending: the reset state the spec requires."""
        self.table[:] = bytes(len(self.table))
        for v in range(self.vectors):
            self.table[v * MSIX_ENTRY_SIZE + MSIX_ENTRY_VECTOR_CTRL] = MSIX_VECTOR_MASKED
        self.pba[:] = bytes(len(self.pba))

    # -- per-vector state ------------------------------------------------------------------

    def masked(self, vector: int) -> bool:
        return bool(self.table[vector * MSIX_ENTRY_SIZE + MSIX_ENTRY_VECTOR_CTRL] & 1)

    def set_masked(self, vector: int, masked: bool) -> None:
        at = vector * MSIX_ENTRY_SIZE + MSIX_ENTRY_VECTOR_CTRL
        self.table[at] = (self.table[at] & ~1) | int(masked)

    def pending(self, vector: int) -> bool:
        return bool(self.pba[vector >> 3] & (1 << (vector & 7)))

    def set_pending(self, vector: int, pending: bool) -> None:
        if pending:
            self.pba[vector >> 3] |= 1 << (vector & 7)
        else:
            self.pba[vector >> 3] &= ~(1 << (vector & 7)) & 0xFF

    def message(self, vector: int) -> tuple[int, int]:
        """(64-bit address, 32-bit data) the guest programmed for this vector."""
        lo, hi, data, _ = struct.unpack_from("<IIII", self.table, vector * MSIX_ENTRY_SIZE)
        return (hi << 32) | lo, data

    # -- BAR4 accesses ---------------------------------------------------------------------

    def contains(self, offset: int, size: int) -> bool:
        return self._locate(offset, size) is not None

    def _locate(self, offset: int, size: int) -> tuple[bytearray, int] | None:
        for base, store in ((self.table_offset, self.table), (self.pba_offset, self.pba)):
            if base <= offset and offset + size <= base + len(store):
                return store, offset - base
        return None

    def read(self, offset: int, size: int) -> bytes:
        """Bytes at `offset` in BAR4; holes between table and PBA read as zero."""
        found = self._locate(offset, size)
        if found is None:
            return bytes(size)
        store, at = found
        return bytes(store[at : at + size])

    def write(self, offset: int, data: bytes) -> list[int]:
        """Guest store into BAR4. PBA writes are ignored (it is read-only); in an entry only
        bit 0 of vector control is writable. Returns the vectors whose mask went 1 -> 0."""
        found = self._locate(offset, len(data))
        if found is None or found[0] is self.pba:
            return []
        _, at = found
        before = [self.masked(v) for v in range(self.vectors)]
        for i, byte in enumerate(data):
            pos = at + i
            field = pos % MSIX_ENTRY_SIZE
            if field == MSIX_ENTRY_VECTOR_CTRL:
                self.table[pos] = (self.table[pos] & ~1) | (byte & 1)
            elif field < MSIX_ENTRY_VECTOR_CTRL:
                self.table[pos] = byte
        first = at // MSIX_ENTRY_SIZE
        last = (at + len(data) - 1) // MSIX_ENTRY_SIZE
        return [v for v in range(first, last + 1) if before[v] and not self.masked(v)]


class PciFunction:
    """Config space of one PCI function plus its MSI-X table.

    The transport reads `intx_status` from the device model before every config read so
    status bit 3 always tells the truth (uio_pci_generic checks it in its interrupt handler).
    """

    def __init__(self, identity: PciIdentity) -> None:
        if identity.bar0_size & (identity.bar0_size - 1) or identity.bar0_size < 16:
            raise ValueError("BAR0 size must be a power of two")
        self.identity = identity
        self.bar_sizes = {BAR_REGS: identity.bar0_size, BAR_MSIX: identity.bar4_size}
        self.msix = MsixTable(
            identity.msix_vectors, identity.msix_table_offset, identity.msix_pba_offset
        )
        self.config = bytearray(CONFIG_SIZE)
        self._wmask = bytearray(CONFIG_SIZE)  # 1 = guest may write this bit
        self._w1cmask = bytearray(CONFIG_SIZE)  # 1 = writing 1 clears this bit
        self.intx_status = False
        self._build()

    # -- layout ----------------------------------------------------------------------------

    def _put(self, offset: int, fmt: str, value: int, wmask: int = 0, w1c: int = 0) -> None:
        struct.pack_into(fmt, self.config, offset, value)
        struct.pack_into(fmt, self._wmask, offset, wmask)
        struct.pack_into(fmt, self._w1cmask, offset, w1c)

    def _build(self) -> None:
        ident = self.identity
        self.config[:] = bytes(CONFIG_SIZE)
        self._wmask[:] = bytes(CONFIG_SIZE)
        self._w1cmask[:] = bytes(CONFIG_SIZE)
        self._put(PCI_VENDOR_ID, "<H", ident.vendor_id)
        self._put(PCI_DEVICE_ID, "<H", ident.device_id)
        # No I/O BAR, so I/O-space enable stays 0; memory, bus master, parity, SERR and
        # INTx-disable are the bits a driver toggles.
        self._put(
            PCI_COMMAND,
            "<H",
            0,
            wmask=PCI_COMMAND_MEMORY
            | PCI_COMMAND_MASTER
            | PCI_COMMAND_PARITY
            | PCI_COMMAND_SERR
            | PCI_COMMAND_INTX_DISABLE,
        )
        self._put(PCI_STATUS, "<H", PCI_STATUS_CAP_LIST, w1c=PCI_STATUS_W1C)
        self._put(PCI_REVISION_ID, "<B", ident.revision)
        self.config[PCI_CLASS_PROG : PCI_CLASS_PROG + 3] = ident.class_code.to_bytes(3, "little")
        self._put(PCI_CACHE_LINE_SIZE, "<B", 0, wmask=0xFF)
        self._put(PCI_LATENCY_TIMER, "<B", 0, wmask=0xFF)
        self._put(PCI_HEADER_TYPE, "<B", 0x00)
        for bar, size in self.bar_sizes.items():
            # 64-bit non-prefetchable memory BAR: the low log2(size) address bits are
            # hard-wired to zero, which is exactly what makes sizing by writing ~0 work.
            low = PCI_BAR0 + 4 * bar
            self._put(low, "<I", PCI_BASE_ADDRESS_MEM_TYPE_64, wmask=~(size - 1) & 0xFFFFFFF0)
            self._put(low + 4, "<I", 0, wmask=0xFFFFFFFF)
        self._put(PCI_SUBSYSTEM_VENDOR_ID, "<H", ident.subsystem_vendor_id)
        self._put(PCI_SUBSYSTEM_ID, "<H", ident.subsystem_id)
        self._put(PCI_CAPABILITY_LIST, "<B", MSI_CAP)
        self._put(PCI_INTERRUPT_LINE, "<B", 0, wmask=0xFF)
        self._put(PCI_INTERRUPT_PIN, "<B", 1)  # INTA#

        # MSI: one vector, 64-bit address, no per-vector masking.
        self._put(MSI_CAP, "<B", PCI_CAP_ID_MSI)
        self._put(MSI_CAP + 1, "<B", MSIX_CAP)
        self._put(MSI_CAP + 2, "<H", PCI_MSI_FLAGS_64BIT, wmask=PCI_MSI_FLAGS_ENABLE)
        self._put(MSI_CAP + 4, "<I", 0, wmask=0xFFFFFFFC)  # address low, dword aligned
        self._put(MSI_CAP + 8, "<I", 0, wmask=0xFFFFFFFF)  # address high
        self._put(MSI_CAP + 12, "<H", 0, wmask=0xFFFF)  # data

        # MSI-X: table and PBA both in BAR4 (offset | BIR in the low 3 bits).
        self._put(MSIX_CAP, "<B", PCI_CAP_ID_MSIX)
        self._put(MSIX_CAP + 1, "<B", 0)
        self._put(
            MSIX_CAP + 2,
            "<H",
            (ident.msix_vectors - 1) & PCI_MSIX_FLAGS_QSIZE,
            wmask=PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL,
        )
        self._put(MSIX_CAP + 4, "<I", ident.msix_table_offset | BAR_MSIX)
        self._put(MSIX_CAP + 8, "<I", ident.msix_pba_offset | BAR_MSIX)

    def reset(self) -> None:
        """Function reset: config space and MSI-X table back to power-on values."""
        self._build()
        self.msix.reset()
        self.intx_status = False

    # -- config accesses -------------------------------------------------------------------

    def config_read(self, offset: int, size: int) -> bytes:
        if offset < 0 or size < 0 or offset + size > CONFIG_SIZE:
            raise ValueError("config access out of range")
        status = self.config[PCI_STATUS] & ~PCI_STATUS_INTERRUPT
        self.config[PCI_STATUS] = status | (PCI_STATUS_INTERRUPT if self.intx_status else 0)
        return bytes(self.config[offset : offset + size])

    def config_write(self, offset: int, data: bytes) -> None:
        if offset < 0 or offset + len(data) > CONFIG_SIZE:
            raise ValueError("config access out of range")
        for i, byte in enumerate(data):
            at = offset + i
            wmask, w1c = self._wmask[at], self._w1cmask[at]
            value = (self.config[at] & ~wmask) | (byte & wmask)
            self.config[at] = value & ~(byte & w1c) & 0xFF

    def _word(self, offset: int) -> int:
        return int.from_bytes(self.config[offset : offset + 2], "little")

    # -- what the transport asks ---------------------------------------------------------

    @property
    def command(self) -> int:
        return self._word(PCI_COMMAND)

    @property
    def bus_master(self) -> bool:
        """Command bit 2: the function may master the bus (DMA). Clear after reset."""
        return bool(self.command & PCI_COMMAND_MASTER)

    @property
    def intx_disabled(self) -> bool:
        return bool(self.command & PCI_COMMAND_INTX_DISABLE)

    @property
    def msi_enabled(self) -> bool:
        return bool(self._word(MSI_CAP + 2) & PCI_MSI_FLAGS_ENABLE)

    @property
    def msix_enabled(self) -> bool:
        return bool(self._word(MSIX_CAP + 2) & PCI_MSIX_FLAGS_ENABLE)

    @property
    def msix_function_masked(self) -> bool:
        return bool(self._word(MSIX_CAP + 2) & PCI_MSIX_FLAGS_MASKALL)

    @property
    def irq_mode(self) -> IrqMode:
        # MSI-X wins over MSI if a confused guest enables both (Linux never does).
        if self.msix_enabled:
            return IrqMode.MSIX
        if self.msi_enabled:
            return IrqMode.MSI
        return IrqMode.INTX

    def bar_address(self, bar: int) -> int:
        lo, hi = struct.unpack_from("<II", self.config, PCI_BAR0 + 4 * bar)
        return ((hi << 32) | lo) & ~0xF

    def msix_fire(self, vector: int) -> bool:
        """The device wants vector `vector`. True: send the message now. False: it was
        latched in the PBA (masked, function-masked or out of range is dropped)."""
        if not 0 <= vector < self.msix.vectors:
            return False
        if self.msix_function_masked or self.msix.masked(vector):
            self.msix.set_pending(vector, True)
            return False
        return True

    def msix_deliverable(self) -> list[int]:
        """Pending vectors that may fire now; their pending bits are cleared (the message is
        considered sent by the caller)."""
        if not self.msix_enabled or self.msix_function_masked:
            return []
        out = []
        for v in range(self.msix.vectors):
            if self.msix.pending(v) and not self.msix.masked(v):
                self.msix.set_pending(v, False)
                out.append(v)
        return out
