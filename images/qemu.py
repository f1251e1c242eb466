"""QEMU >= 10.1 with ``vfio-user-pci``: the host's own if it qualifies, else a bundle.

The bundle is QEMU from Debian trixie-backports, installed into a throw-away
private root, then copied out with every library it links (found by asking
the root's own ``ld.so --list``), that ``ld.so`` itself and the firmware
directories.  It runs on an older host by starting the bundle's ``ld.so`` with
``--library-path``, and needs ``-L`` firmware paths because QEMU looks for its
data relative to the program it thinks it is, which is now ``ld.so``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from images import debian
from images.cache import Layer, hash_text
from images.namespace import remove_tree
from images.progress import ProvisionError, Steps

MIN_VERSION = (10, 1)
PACKAGE = "qemu-system-x86"
#: Where the firmware lives inside a Debian root; kept at the same relative
#: places in the bundle so the symlinks among them still resolve.
FIRMWARE_DIRS = ("usr/share/qemu", "usr/share/seabios", "usr/lib/ipxe/qemu")
RECIPE = f"bundle-v1 {debian.SUITE} {debian.BACKPORTS} {PACKAGE} {' '.join(FIRMWARE_DIRS)}"


@dataclass(frozen=True)
class Qemu:
    """How to start a usable ``qemu-system-x86_64``."""

    argv: tuple[str, ...]  # program (and loader arguments) to exec
    version: str
    source: str  # "system" or the bundle's directory

    def command(self, *args: str) -> list[str]:
        return [*self.argv, *args]


def parse_version(text: str) -> tuple[int, int]:
    match = re.search(r"version (\d+)\.(\d+)", text)
    if not match:
        raise ValueError(f"no QEMU version in {text!r}")
    return int(match.group(1)), int(match.group(2))


def probe(argv: list[str]) -> tuple[str, bool] | None:
    """(version, has vfio-user-pci) of a QEMU command, or None if it does not run."""
    try:
        version = subprocess.run(
            [*argv, "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
        devices = subprocess.run(
            [*argv, "-device", "help"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    first = version.splitlines()[0] if version else ""
    return first, '"vfio-user-pci"' in devices


def system_qemu() -> Qemu | None:
    """The host's ``qemu-system-x86_64`` if it is new enough and has vfio-user."""
    program = shutil.which("qemu-system-x86_64")
    if program is None:
        return None
    found = probe([program])
    if found is None:
        return None
    version, has_vfio_user = found
    if parse_version(version) < MIN_VERSION or not has_vfio_user:
        return None
    return Qemu((program,), version, "system")


def bundle_layer() -> Layer:
    return Layer("qemu", hash_text(RECIPE))


def bundle_qemu(layer: Layer) -> Qemu:
    root = layer.path
    argv = (
        str(root / "lib/ld-linux-x86-64.so.2"),
        "--library-path",
        str(root / "lib"),
        str(root / "bin/qemu-system-x86_64"),
        *(arg for d in FIRMWARE_DIRS for arg in ("-L", str(root / d))),
    )
    return Qemu(argv, str(layer.manifest().get("version", "?")), str(root))


def find() -> Qemu | None:
    """The QEMU ringlab will use, without building anything."""
    if qemu := system_qemu():
        return qemu
    layer = bundle_layer()
    return bundle_qemu(layer) if layer.exists() else None


def ensure(steps: Steps) -> Qemu:
    """The QEMU to use, building the bundle on first use (~30 s, cached)."""
    if qemu := find():
        return qemu
    layer = bundle_layer()
    with steps.step("QEMU bundle from Debian trixie-backports"):
        out = layer.build_dir()
        root = out.with_name(out.name + ".root")
        try:
            debian.debootstrap(steps, root, include=[])
            steps.note("installing qemu-system-x86 from backports")
            debian.apt_install(steps, root, [PACKAGE], release=debian.BACKPORTS)
            version = debian.package_version(steps, root, PACKAGE)
            _copy_bundle(steps, root, out)
            layer.commit(out, {"version": version, "package": PACKAGE, "recipe": RECIPE})
        finally:
            remove_tree(root)
            remove_tree(out)
    qemu = bundle_qemu(layer)
    found = probe(list(qemu.argv))
    if found is None or not found[1]:
        raise ProvisionError(f"the QEMU bundle in {layer.path} does not run or lacks vfio-user-pci")
    return Qemu(qemu.argv, found[0], qemu.source)


def _copy_bundle(steps: Steps, root: Path, out: Path) -> None:
    """Binary + the libraries ld.so resolves for it + ld.so + firmware."""
    loader = root / "lib64/ld-linux-x86-64.so.2"
    libpath = f"{root}/usr/lib/x86_64-linux-gnu:{root}/lib/x86_64-linux-gnu"
    binary = root / "usr/bin/qemu-system-x86_64"
    listing = steps.run([str(loader), "--library-path", libpath, "--list", str(binary)])
    (out / "bin").mkdir()
    (out / "lib").mkdir()
    shutil.copy2(binary, out / "bin")
    for line in listing.splitlines():
        # "libz.so.1 => /…/libz.so.1 (0x…)" or "/lib64/ld-linux-x86-64.so.2 (0x…)"
        match = re.search(r"(?:=>\s*)?(/\S+)\s+\(0x", line)
        if match:
            library = Path(match.group(1))
            name = line.split()[0] if "=>" in line else library.name
            shutil.copy2(library.resolve(), out / "lib" / Path(name).name)
    shutil.copy2(loader.resolve(), out / "lib/ld-linux-x86-64.so.2")
    for firmware in FIRMWARE_DIRS:
        if (root / firmware).is_dir():
            shutil.copytree(root / firmware, out / firmware, symlinks=True)
    _repoint_absolute_links(out, root)


def _repoint_absolute_links(out: Path, root: Path) -> None:
    """Firmware symlinks point at absolute /usr/... paths of the root: make them relative."""
    for link in out.rglob("*"):
        if link.is_symlink():
            target = Path(link.readlink())
            if target.is_absolute():
                inside = out / target.relative_to("/")
                link.unlink()
                if inside.exists():
                    link.symlink_to(os.path.relpath(inside, link.parent))
                else:
                    resolved = (root / target.relative_to("/")).resolve()
                    if resolved.is_file():
                        shutil.copy2(resolved, link)
