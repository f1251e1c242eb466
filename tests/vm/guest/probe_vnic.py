"""Run inside a guest: find the vNIC, touch its registers, take one interrupt.

No driver of ours is involved: BAR0 is mapped through sysfs and the interrupt
comes through the stock kernel's uio_pci_generic (INTx).  Prints one JSON
object; the host test cross-checks it against the device's own counters.
"""

import json
import mmap
import os
import select
import struct
import sys
from pathlib import Path

from vnic.model import spec


def find_device() -> Path:
    for dev in Path("/sys/bus/pci/devices").iterdir():
        vendor = int((dev / "vendor").read_text(), 16)
        device = int((dev / "device").read_text(), 16)
        if (vendor, device) == (spec.PCI_VENDOR_ID, spec.PCI_DEVICE_ID):
            return dev
    sys.exit("no vNIC on the PCI bus")


def main() -> None:
    dev = find_device()
    facts = {"slot": dev.name, "class": (dev / "class").read_text().strip()}
    uio = Path("/sys/bus/pci/drivers/uio_pci_generic")
    (uio / "new_id").write_text(f"{spec.PCI_VENDOR_ID:04x} {spec.PCI_DEVICE_ID:04x}")
    facts["driver"] = os.path.basename(os.readlink(dev / "driver"))
    uio_dev = "/dev/" + next((dev / "uio").iterdir()).name

    fd = os.open(dev / "resource0", os.O_RDWR | os.O_SYNC)
    bar = mmap.mmap(fd, spec.BAR0_SIZE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)

    def read(offset: int) -> int:
        return struct.unpack_from("<I", bar, offset)[0]

    def write(offset: int, value: int) -> None:
        struct.pack_into("<I", bar, offset, value)

    facts["lab_id"] = read(spec.LAB_ID.at())
    write(spec.RAL.at(1), 0xA5A55A5A)
    facts["ral1"] = read(spec.RAL.at(1))

    # One interrupt: enable a cause, then set it by software.  uio_pci_generic
    # leaves INTx enabled after probe and masks it (PCI command bit 10) when it fires.
    irq = os.open(uio_dev, os.O_RDWR)
    lsc = spec.EICR.mask("LSC")
    write(spec.EIMC.at(), 0xFFFFFFFF)
    write(spec.EICR.at(), 0xFFFFFFFF)
    write(spec.EIMS.at(), lsc)
    write(spec.EICS.at(), lsc)
    ready, _, _ = select.select([irq], [], [], 10)
    facts["irq_count"] = struct.unpack("<I", os.read(irq, 4))[0] if ready else 0
    facts["eicr"] = read(spec.EICR.at())
    print(json.dumps(facts))


if __name__ == "__main__":
    main()
