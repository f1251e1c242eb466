"""An unmodified QEMU attaches the Python vNIC over vfio-user; a stock guest kernel uses it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from lab.provision import Platform
from lab.runs import RunDir
from lab.topology import wired
from lab.vm import Lab
from vnic.model import spec


@pytest.fixture(scope="module")
def vnic_lab(platform: Platform) -> Iterator[Lab]:
    topology = wired(["a"], RunDir.new("test-vnic"), modules=["uio_pci_generic"], hosts=["h"])
    with Lab(topology, platform) as lab:
        lab.start()
        yield lab


def test_guest_enumerates_touches_registers_and_takes_an_interrupt(vnic_lab: Lab) -> None:
    vm = vnic_lab["a"]
    before = _device_counters(vnic_lab)
    result = vm.run("python3 /mnt/project/tests/vm/guest/probe_vnic.py", timeout=60)
    assert result.status == 0, result.output
    facts = json.loads(result.output.strip().splitlines()[-1])
    assert facts["class"] == f"0x{spec.PCI_CLASS_CODE:06x}"
    assert facts["driver"] == "uio_pci_generic"
    assert facts["lab_id"] == 0x524C4142  # "RLAB"
    assert facts["ral1"] == 0xA5A55A5A
    assert facts["irq_count"] >= 1, "the INTx interrupt never reached the guest"
    # The host's view agrees: the device counted the guest's accesses and its interrupt.
    after = _device_counters(vnic_lab)
    assert after["reg_reads"] - before["reg_reads"] >= 3
    assert after["reg_writes"] - before["reg_writes"] >= 5
    assert after["interrupts"] - before["interrupts"] >= 1


def test_device_sits_on_the_pci_bus_with_our_ids(vnic_lab: Lab) -> None:
    out = vnic_lab["a"].run("cat /sys/bus/pci/devices/*/vendor /sys/bus/pci/devices/*/device")
    assert f"0x{spec.PCI_VENDOR_ID:04x}" in out.output.split()
    assert f"0x{spec.PCI_DEVICE_ID:04x}" in out.output.split()


def _device_counters(lab: Lab) -> dict[str, int]:
    assert lab.fabric is not None
    port = lab.fabric.stats()["stats"]["ports"]["a"]
    return dict(port["device"])
