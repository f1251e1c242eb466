"""The domain a guest becomes under the libvirt backend: what libvirt is told, and that
everything else reaches QEMU as the lab's own backend gives it (no libvirt needed)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from images.qemu import Qemu
from lab import libvirt_guest

ARGS = ["-device", '{"driver":"vfio-user-pci","socket":{"type":"unix","path":"/t/a.sock"}}']


def domain(tmp_path: Path, accel: str = "tcg", as_root: bool = True) -> ET.Element:
    (tmp_path / "bin").mkdir(exist_ok=True)
    qemu = Qemu(
        (str(tmp_path / "lib/ld.so"), str(tmp_path / "bin/qemu-system-x86_64")),
        "11.1",
        str(tmp_path),
    )
    xml = libvirt_guest.domain_xml(
        "ringlab-1-x-a", qemu, accel, 512, 1, Path("/k"), Path("/i"), "console=ttyS0 a=<b>",
        ARGS, as_root,
    )  # fmt: skip
    return ET.fromstring(xml)


def test_the_machine_is_libvirts_and_the_devices_pass_through(tmp_path: Path) -> None:
    d = domain(tmp_path)
    assert d.get("type") == "qemu" and d.findtext("name") == "ringlab-1-x-a"
    assert d.find("memory").text == "512" and d.find("memory").get("unit") == "MiB"  # type: ignore[union-attr]
    # guest RAM a shared memfd: the vNIC model maps it to DMA
    assert d.find("memoryBacking/source").get("type") == "memfd"  # type: ignore[union-attr]
    assert d.find("memoryBacking/access").get("mode") == "shared"  # type: ignore[union-attr]
    assert d.findtext("os/cmdline") == "console=ttyS0 a=<b>"  # escaped, and back
    assert d.find("features/acpi") is not None  # else libvirt 9 passes -no-acpi to QEMU 11
    args = [a.get("value") for a in d.iter(f"{{{libvirt_guest.QEMU_NS}}}arg")]
    assert args == ARGS
    assert d.find("seclabel").get("relabel") == "no"  # type: ignore[union-attr]


def test_the_emulator_is_a_script_that_runs_the_bundle(tmp_path: Path) -> None:
    d = domain(tmp_path)
    script = Path(d.findtext("devices/emulator") or "")
    assert script == tmp_path / "bin/qemu-ringlab"
    text = script.read_text()
    assert text.startswith("#!/bin/sh\nexec ") and text.endswith('qemu-system-x86_64 "$@"\n')
    assert script.stat().st_mode & 0o111
    mtime = script.stat().st_mtime_ns
    domain(tmp_path)  # the same script again: not rewritten, so libvirt's probe stays valid
    assert script.stat().st_mtime_ns == mtime


def test_a_users_session_has_no_dac_label_and_kvm_asks_for_kvm(tmp_path: Path) -> None:
    d = domain(tmp_path, accel="kvm", as_root=False)
    assert d.find("seclabel") is None
    assert d.get("type") == "kvm" and d.find("cpu").get("mode") == "maximum"  # type: ignore[union-attr]
