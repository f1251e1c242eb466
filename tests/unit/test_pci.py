"""PCI config space and MSI-X table of the vNIC function (no VM, no socket)."""

from __future__ import annotations

import struct

from vnic.model import pci
from vnic.model.pci import IrqMode, PciFunction, identity_from_spec


def func() -> PciFunction:
    return PciFunction(identity_from_spec())


def rd(f: PciFunction, off: int, size: int) -> int:
    return int.from_bytes(f.config_read(off, size), "little")


def wr(f: PciFunction, off: int, size: int, value: int) -> None:
    f.config_write(off, value.to_bytes(size, "little"))


def test_identity_matches_spec() -> None:
    from vnic.model import spec

    f = func()
    assert rd(f, 0, 2) == spec.PCI_VENDOR_ID
    assert rd(f, 2, 2) == spec.PCI_DEVICE_ID
    assert rd(f, 0x09, 3) == spec.PCI_CLASS_CODE
    assert rd(f, 0x2C, 2) == spec.PCI_SUBSYSTEM_VENDOR_ID
    assert rd(f, 0x3D, 1) == 1  # INTA
    assert f.bar_sizes == {0: spec.BAR0_SIZE, 4: spec.BAR4_SIZE}


def test_identity_is_read_only() -> None:
    f = func()
    before = f.config_read(0, 0x10)
    wr(f, 0, 4, 0xFFFFFFFF)
    wr(f, 0x08, 4, 0xFFFFFFFF)
    after = f.config_read(0, 0x10)
    assert before[:4] == after[:4]
    assert before[8:12] == after[8:12]


def test_capability_list_walks_msi_then_msix() -> None:
    f = func()
    assert rd(f, 0x06, 2) & pci.PCI_STATUS_CAP_LIST
    seen = []
    ptr = rd(f, 0x34, 1)
    while ptr:
        seen.append(rd(f, ptr, 1))
        ptr = rd(f, ptr + 1, 1)
    assert seen == [pci.PCI_CAP_ID_MSI, pci.PCI_CAP_ID_MSIX]
    ctrl = rd(f, pci.MSIX_CAP + 2, 2)
    assert (ctrl & 0x7FF) + 1 == f.msix.vectors
    assert rd(f, pci.MSIX_CAP + 4, 4) == 0x0000 | 4  # table in BAR4 at 0
    assert rd(f, pci.MSIX_CAP + 8, 4) == 0x2000 | 4  # PBA in BAR4 at 0x2000


def test_bar_sizing_like_hardware() -> None:
    f = func()
    for bar, size in f.bar_sizes.items():
        low = 0x10 + 4 * bar
        assert rd(f, low, 4) & 0x7 == pci.PCI_BASE_ADDRESS_MEM_TYPE_64
        wr(f, low, 4, 0xFFFFFFFF)
        wr(f, low + 4, 4, 0xFFFFFFFF)
        sized = rd(f, low, 4)
        assert sized & ~0xF == ~(size - 1) & 0xFFFFFFF0
        assert (~(sized & ~0xF) & 0xFFFFFFFF) + 1 == size
        assert rd(f, low + 4, 4) == 0xFFFFFFFF
        wr(f, low, 4, 0xFEB00000)
        wr(f, low + 4, 4, 0)
        assert f.bar_address(bar) == 0xFEB00000
    # unimplemented BARs stay zero
    wr(f, 0x18, 4, 0xFFFFFFFF)
    assert rd(f, 0x18, 4) == 0
    wr(f, 0x30, 4, 0xFFFFFFFF)  # no expansion ROM
    assert rd(f, 0x30, 4) == 0


def test_command_and_status_bits() -> None:
    f = func()
    wr(f, 0x04, 2, 0xFFFF)
    cmd = rd(f, 0x04, 2)
    assert cmd & pci.PCI_COMMAND_MEMORY and cmd & pci.PCI_COMMAND_MASTER
    assert cmd & pci.PCI_COMMAND_INTX_DISABLE
    assert not cmd & 0x1  # no I/O space
    assert f.intx_disabled
    f.intx_status = True
    assert rd(f, 0x06, 2) & pci.PCI_STATUS_INTERRUPT
    f.intx_status = False
    assert not rd(f, 0x06, 2) & pci.PCI_STATUS_INTERRUPT
    # error bits are write-1-to-clear; writing the status word never sets anything
    f.config[0x07] |= 0x80
    wr(f, 0x06, 2, 0x8000)
    assert not rd(f, 0x06, 2) & 0x8000
    assert rd(f, 0x06, 2) & pci.PCI_STATUS_CAP_LIST


def test_irq_mode_follows_capabilities() -> None:
    f = func()
    assert f.irq_mode is IrqMode.INTX
    wr(f, pci.MSI_CAP + 2, 2, 1)
    assert f.irq_mode is IrqMode.MSI
    wr(f, pci.MSIX_CAP + 2, 2, pci.PCI_MSIX_FLAGS_ENABLE)
    assert f.irq_mode is IrqMode.MSIX
    # the table size field is read-only
    assert rd(f, pci.MSIX_CAP + 2, 2) & 0x7FF == f.msix.vectors - 1


def test_msix_mask_pending_and_unmask() -> None:
    f = func()
    wr(f, pci.MSIX_CAP + 2, 2, pci.PCI_MSIX_FLAGS_ENABLE)
    t = f.msix
    assert t.masked(3)  # reset state: masked
    assert not f.msix_fire(3)
    assert t.pending(3)
    assert t.read(0x2000, 8) == struct.pack("<Q", 1 << 3)
    # guest programs the entry, then unmasks through vector control
    t.write(3 * 16, struct.pack("<IIII", 0xFEE00000, 0, 0x4041, 1))
    assert t.message(3) == (0xFEE00000, 0x4041)
    unmasked = t.write(3 * 16 + 12, struct.pack("<I", 0))
    assert unmasked == [3]
    assert f.msix_deliverable() == [3]
    assert not t.pending(3)
    assert f.msix_fire(3)


def test_msix_function_mask_holds_everything() -> None:
    f = func()
    wr(f, pci.MSIX_CAP + 2, 2, pci.PCI_MSIX_FLAGS_ENABLE | pci.PCI_MSIX_FLAGS_MASKALL)
    f.msix.set_masked(0, False)
    assert not f.msix_fire(0)
    assert f.msix_deliverable() == []
    wr(f, pci.MSIX_CAP + 2, 2, pci.PCI_MSIX_FLAGS_ENABLE)
    assert f.msix_deliverable() == [0]


def test_pba_is_read_only_and_out_of_range_is_harmless() -> None:
    f = func()
    f.msix.write(0x2000, b"\xff" * 8)
    assert f.msix.read(0x2000, 8) == bytes(8)
    assert f.msix.read(0x1000, 4) == bytes(4)  # hole between table and PBA
    assert f.msix.write(0x3FFC, b"\x01\x02\x03\x04") == []
    assert not f.msix_fire(10_000)


def test_reset_restores_power_on_state() -> None:
    f = func()
    fresh = f.config_read(0, 256)
    wr(f, 0x04, 2, 0x0406)
    wr(f, 0x10, 4, 0xFEB00000)
    wr(f, pci.MSIX_CAP + 2, 2, pci.PCI_MSIX_FLAGS_ENABLE)
    f.msix.set_masked(1, False)
    f.msix.set_pending(2, True)
    f.reset()
    assert f.config_read(0, 256) == fresh
    assert f.msix.masked(1) and not f.msix.pending(2)
