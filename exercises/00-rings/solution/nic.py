"""The vNIC from user space: its registers by name, and DMA memory whose bus addresses you know.

You drive the device with no kernel driver, the way ixy drives a real 82599:

* **Registers.**  BAR0 is mapped from sysfs (``/sys/bus/pci/devices/ADDR/resource0``).  Every
  load or store there is a real MMIO access: the guest's CPU traps, QEMU forwards it over
  vfio-user, and the device model on the host answers it and counts it (``reg_reads``,
  ``reg_writes``, ``doorbells``).  Names, offsets and bit fields come from the register spec
  (``vnic/model/spec.py``), the same data the datasheet is generated from.
* **DMA memory.**  One 2 MiB huge page (``memfd_create`` with ``MFD_HUGETLB``): physically
  contiguous, and never moved or swapped while mapped.  ``/proc/self/pagemap`` tells its
  physical address.  The lab's guests have no IOMMU, so the address the device needs in a
  descriptor (its bus address, IOVA) is that guest-physical address.  On a real machine you
  would bind the function to ``vfio-pci`` and map the memory through the IOMMU instead, so
  that a wrong address could not reach the rest of RAM; here the device model refuses any
  address outside guest memory and counts it (``tx_drop_dma``, ``rx_drop_dma``, ``queue_errors``).
* **Interrupts** (step 5): :class:`Interrupts` binds the function to ``uio_pci_generic``,
  whose ``/dev/uioN`` a program reads to sleep until the device raises INTx.
* **Frames.**  :func:`udp_frame`, :func:`datagram` and :func:`udp_payload` build and read
  the frames the exercise sends, so the steps are about rings, not about checksums.

Everything here needs root (the guest's shell is root).
"""

from __future__ import annotations

import contextlib
import mmap
import os
import select
import struct
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, "/mnt/project")  # the lab's project share: the register spec
sys.path.insert(0, "/mnt/project/exercises/01-sockets/checks/tools")  # exercise 01's sink
from udp_tool import FILLER, HEADER

from vnic.model import spec

PCI_DEVICES = Path("/sys/bus/pci/devices")
PCI_COMMAND = 0x04  # offset of the command register in config space
PCI_COMMAND_MEMORY = 1 << 1  # the function answers accesses to its BARs
PCI_COMMAND_MASTER = 1 << 2  # the function may master the bus: DMA
PCI_COMMAND_INTX_DISABLE = 1 << 10  # the function's INTx line is masked
HUGE_PAGE = 2 << 20
PAGE = 4096
REGISTERS = {r.name: r for r in spec.REGISTERS}


class NicError(RuntimeError):
    """The vNIC or the memory could not be set up; the message says what to do."""


def find_vnic() -> str:
    """The PCI address (``0000:00:04.0``) of the guest's vNIC: the only 1234:7c01 function."""
    found = [
        dev.name
        for dev in sorted(PCI_DEVICES.iterdir())
        if int((dev / "vendor").read_text(), 16) == spec.PCI_VENDOR_ID
        and int((dev / "device").read_text(), 16) == spec.PCI_DEVICE_ID
    ]
    if len(found) != 1:
        raise NicError(f"expected one vNIC (1234:7c01), found {found or 'none'}")
    return found[0]


class Nic:
    """One vNIC function: BAR0 mapped, the kernel driver let go, and its PCI command bits.

    ``read("TDT", 0)`` and ``write("TDT", 5, 0)`` access queue 0's TDT; the index is
    the register array's (a queue number for per-queue registers).
    """

    def __init__(self, address: str | None = None) -> None:
        self.address = address or find_vnic()
        self.sysfs = PCI_DEVICES / self.address
        driver = self.sysfs / "driver"
        if driver.exists():  # vnic.ko owns it: let go, as ixy does with ixgbe
            (driver / "unbind").write_text(self.address)
        (self.sysfs / "enable").write_text("1")  # memory decoding on: the BARs answer
        fd = os.open(self.sysfs / "resource0", os.O_RDWR | os.O_SYNC)
        try:
            self._bar = mmap.mmap(fd, spec.BAR0_SIZE, mmap.MAP_SHARED)
        finally:
            os.close(fd)
        # Exactly one 32-bit load or store per access, as the spec asks: a memoryview of
        # 'I' items copies whole words (struct.pack_into would store byte by byte).
        self._words = memoryview(self._bar).cast("I")

    def read(self, name: str, index: int = 0) -> int:
        """One register read: a trapped MMIO access (the device counts ``reg_reads``)."""
        return int(self._words[REGISTERS[name].at(index) // 4])

    def write(self, name: str, value: int, index: int = 0) -> None:
        """One register write (``reg_writes``; TDT and RDT also count as ``doorbells``)."""
        self._words[REGISTERS[name].at(index) // 4] = value & 0xFFFF_FFFF

    def bus_master(self, on: bool) -> None:
        """Allow (or forbid) the function to master the bus, in its PCI command register.

        A PCI function without it must not touch memory: the vNIC then holds its DMA and
        counts ``dma_blocked``.  Reading and writing config space goes through the kernel
        (sysfs), not through BAR0, so the device's register counters do not see it."""
        self.command(PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER if on else PCI_COMMAND_MEMORY,
                     0 if on else PCI_COMMAND_MASTER)  # fmt: skip

    def command(self, set_bits: int, clear_bits: int) -> None:
        """Set and clear bits of the PCI command register (config space, through sysfs)."""
        with open(self.sysfs / "config", "r+b", buffering=0) as config:
            config.seek(PCI_COMMAND)
            command = int.from_bytes(config.read(2), "little")
            config.seek(PCI_COMMAND)
            config.write(((command | set_bits) & ~clear_bits).to_bytes(2, "little"))

    def close(self) -> None:
        self._words.release()
        self._bar.close()


class Interrupts:
    """The function's INTx line, through ``uio_pci_generic`` (step 5).

    The kernel module takes the interrupt, masks INTx in the PCI command register and
    wakes whoever reads ``/dev/uioN``; the program unmasks it again by clearing that bit
    (uio_pci_generic has no unmask of its own).  The registers stay mapped through sysfs
    as before: uio_pci_generic maps nothing itself.  It clears bus mastering when the
    program closes ``/dev/uioN``, so that no DMA outlives its driver.
    """

    def __init__(self, nic: Nic) -> None:
        subprocess.run(["modprobe", "uio_pci_generic"], check=True)
        driver = Path("/sys/bus/pci/drivers/uio_pci_generic")
        if not (nic.sysfs / "driver").exists():
            # teach the driver our ID once per boot (that binds it too); known: bind by hand
            with contextlib.suppress(OSError):
                (driver / "new_id").write_text(f"{spec.PCI_VENDOR_ID:04x} {spec.PCI_DEVICE_ID:04x}")
        if not (nic.sysfs / "driver").exists():
            (driver / "bind").write_text(nic.address)
        (uio,) = (nic.sysfs / "uio").iterdir()
        self._fd = os.open(f"/dev/{uio.name}", os.O_RDONLY)
        self._nic = nic

    def arm(self) -> None:
        """Unmask INTx: the next interrupt (or one already pending) wakes :meth:`wait`."""
        self._nic.command(0, PCI_COMMAND_INTX_DISABLE)

    def wait(self, seconds: float) -> bool:
        """Sleep until an interrupt or ``seconds``; whether one came."""
        if not select.select([self._fd], [], [], seconds)[0]:
            return False
        os.read(self._fd, 4)  # the count of interrupts so far
        return True

    def close(self) -> None:
        os.close(self._fd)


def bits(register: str, *names: str, **values: int) -> int:
    """A value for ``register`` with the named one-bit fields set and the named wider
    fields given: ``bits("TXDCTL", "ENABLE")``, ``bits("SRRCTL", BSIZEPKT=2)``."""
    r = REGISTERS[register]
    value = r.mask(*names)
    for name, v in values.items():
        f = r.field(name)
        if not 0 <= v < 1 << f.width:
            raise ValueError(f"{register}.{name} is {f.width} bits wide: {v} does not fit")
        value |= v << f.lsb
    return value


def desc_bits(layout: spec.Descriptor, fmt: str, word: str, *names: str, **values: int) -> int:
    """A descriptor word with the named fields, as :func:`bits` for registers:
    ``desc_bits(spec.ADV_TX_DESC, "read", "cmd_type_len", "EOP", "RS", DTALEN=60)``."""
    w = layout.format(fmt).word(word)
    fields = {f.name: f for f in w.fields}
    value = 0
    for name in names:
        value |= fields[name].mask
    for name, v in values.items():
        f = fields[name]
        if not 0 <= v < 1 << f.width:
            raise ValueError(f"{word}.{name} is {f.width} bits wide: {v} does not fit")
        value |= v << f.lsb
    return value


class DmaMemory:
    """A 2 MiB huge page the device can reach, handed out in aligned pieces.

    ``alloc`` returns an offset into :attr:`buf` (a writable memoryview of the page: what
    your program reads and writes) and :meth:`iova` turns an offset into the address the
    device needs in a register or a descriptor.
    """

    def __init__(self) -> None:
        _ensure_huge_pages(1)
        try:
            fd = os.memfd_create("ringlab-dma", os.MFD_HUGETLB)
        except OSError as e:
            raise NicError(f"no huge page for DMA memory ({e}): see /proc/meminfo") from e
        try:
            os.ftruncate(fd, HUGE_PAGE)
            self._map = mmap.mmap(fd, HUGE_PAGE, mmap.MAP_SHARED)
        finally:
            os.close(fd)
        self.buf = memoryview(self._map)
        self.buf[0] = 0  # touch it: the page exists (and is pinned) from here on
        self._phys = _physical_address(self.buf)
        self._next = 0

    def alloc(self, size: int, align: int = spec.RING_ALIGN) -> int:
        """``size`` bytes at a multiple of ``align``; their offset into :attr:`buf`."""
        start = -(-self._next // align) * align
        if start + size > HUGE_PAGE:
            raise NicError(f"DMA memory full: {size} bytes do not fit in 2 MiB")
        self._next = start + size
        return start

    def iova(self, offset: int) -> int:
        """The bus address of byte ``offset`` of :attr:`buf`."""
        return self._phys + offset

    def close(self) -> None:
        self.buf.release()
        self._map.close()


def _ensure_huge_pages(wanted: int) -> None:
    """Reserve huge pages if the kernel has fewer free ones than ``wanted``."""
    meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    free = int(meminfo.get("HugePages_Free", "0").split()[0])
    if free < wanted:
        total = Path("/proc/sys/vm/nr_hugepages")
        total.write_text(str(int(total.read_text()) + wanted - free))


def _physical_address(view: memoryview) -> int:
    """The physical address of the first byte of ``view`` (one entry of /proc/self/pagemap:
    bit 63 says the page is present, bits 0-54 are its frame number)."""
    virtual = _address_of(view)
    with open("/proc/self/pagemap", "rb") as pagemap:
        pagemap.seek(virtual // PAGE * 8)
        (entry,) = struct.unpack("<Q", pagemap.read(8))
    frame = entry & ((1 << 55) - 1)
    if not entry >> 63 or frame == 0:
        raise NicError("pagemap gave no physical address for the DMA page (run as root)")
    return frame * PAGE + virtual % PAGE


def _address_of(view: memoryview) -> int:
    import ctypes

    return ctypes.addressof(ctypes.c_char.from_buffer(view))


# ----------------------------------------------------------------------------------------
# Frames: Ethernet, IPv4, UDP
# ----------------------------------------------------------------------------------------

ETHERTYPE_IPV4 = 0x0800
UDP = 17


def mac_bytes(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def _sum16(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def udp_frame(
    src_mac: str, dst_mac: str, src_ip: str, dst_ip: str, port: int, payload: bytes
) -> bytes:
    """An Ethernet frame carrying one UDP datagram to ``dst_ip:port``, checksums and all,
    padded to the 60 bytes Ethernet needs."""
    src, dst = bytes(map(int, src_ip.split("."))), bytes(map(int, dst_ip.split(".")))
    udp_len = 8 + len(payload)
    pseudo = src + dst + struct.pack("!BBH", 0, UDP, udp_len)
    udp = struct.pack("!HHHH", port, port, udp_len, 0) + payload
    checksum = 0xFFFF - _sum16(pseudo + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", checksum) + udp[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, 0, 0x4000, 64, UDP, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", 0xFFFF - _sum16(ip)) + ip[12:]
    frame = mac_bytes(dst_mac) + mac_bytes(src_mac) + struct.pack("!H", ETHERTYPE_IPV4) + ip + udp
    return frame.ljust(spec.MIN_FRAME, b"\0")


def datagram(seq: int, nonce: bytes, size: int) -> bytes:
    """Datagram ``seq`` of a run: exercise 01's format (sequence number, the run's nonce,
    filler), which the sink in the other guest checks."""
    return HEADER.pack(seq, nonce) + FILLER[: max(0, size - HEADER.size)]


def udp_payload(frame: bytes, port: int) -> bytes | None:
    """The payload of ``frame`` if it is an IPv4 UDP datagram to ``port``, else None."""
    if len(frame) < 42 or struct.unpack_from("!H", frame, 12)[0] != ETHERTYPE_IPV4:
        return None
    ihl = (frame[14] & 0x0F) * 4
    if frame[23] != UDP or len(frame) < 14 + ihl + 8:
        return None
    dst_port, length = struct.unpack_from("!2xHH", frame, 14 + ihl)
    if dst_port != port or length < 8:
        return None
    return bytes(frame[14 + ihl + 8 : 14 + ihl + length])
