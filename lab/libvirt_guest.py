"""A guest as a libvirt domain: the same QEMU, devices and channels as :class:`lab.vm.Vm`
starts itself, for hosts where guests run under libvirt (a department's hypervisors, a
managed pool).

What libvirt is told, and what is passed through to QEMU as it is:

* libvirt knows the machine: name, memory, CPUs, the kernel and its command line, and
  guest RAM as a shared memfd (``<memoryBacking>``), which the vNIC model maps to DMA;
* the disk, the serial log, the command and human consoles, the 9p shares and the
  vfio-user vNICs go through ``<qemu:commandline>``, as the arguments :class:`lab.vm.Vm`
  gives QEMU directly: the guest sees the same hardware on either backend, and libvirt
  9 has no element for a vfio-user device;
* the QEMU is ringlab's bundle, as ``<emulator>``: a small script beside the bundle that
  execs it with its own loader (libvirt wants one executable; the script's path stays
  the same, so libvirt probes the bundle's capabilities once).

Domains are transient and started with ``VIR_DOMAIN_START_AUTODESTROY``: libvirt destroys
a domain when the connection that started it closes, so a lab killed with SIGKILL leaves
no domain behind, and a destroyed transient domain leaves no definition.

``qemu:///system`` (root) runs QEMU as root without relabelling files (the lab's sockets
and logs are ours); ``qemu:///session`` runs it as the user. A remote URI works when the
libvirt host has the same paths: the bundle, the image, the run directory and the lab's
sockets (docs/setup.rst).
"""

from __future__ import annotations

import contextlib
import functools
import os
import shlex
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from images.qemu import Qemu
from lab.children import command_lines

QEMU_NS = "http://libvirt.org/schemas/domain/qemu/1.0"


class LibvirtError(RuntimeError):
    """libvirt refused or is not there; the message says what to do."""


def default_uri() -> str:
    """``RINGLAB_LIBVIRT_URI``, else the system daemon for root and the session for a user."""
    return os.environ.get("RINGLAB_LIBVIRT_URI") or (
        "qemu:///system" if os.geteuid() == 0 else "qemu:///session"
    )


@functools.cache
def _libvirt() -> Any:
    """libvirt-python, imported and quietened once."""
    try:
        import libvirt
    except ImportError as error:
        raise LibvirtError(
            "the libvirt backend needs libvirt-python: pip install -e '.[libvirt]'"
            " (it builds against Debian's libvirt-dev)"
        ) from error
    # libvirt prints every error on stderr too; ours carry them in their messages
    libvirt.registerErrorHandler(lambda _context, _error: None, None)
    return libvirt


def connect(uri: str) -> Any:
    """An open connection to ``uri``, or :class:`LibvirtError` saying why not."""
    libvirt = _libvirt()
    try:
        return libvirt.open(uri)
    except libvirt.libvirtError as error:
        raise LibvirtError(
            f"cannot connect to libvirt at {uri}: {error}"
            " (is libvirtd running? as root: libvirtd -d, or systemctl start libvirtd)"
        ) from error


def emulator(qemu: Qemu) -> Path:
    """The executable libvirt starts as QEMU: a script that execs the bundle's QEMU with
    its loader and firmware paths.  Written beside the bundle, once."""
    script = f'#!/bin/sh\nexec {shlex.join(qemu.argv)} "$@"\n'
    home = Path(qemu.source) if qemu.source != "system" else None
    if home is None:  # a system QEMU is one executable already
        return Path(qemu.argv[0])
    path = home / "bin" / "qemu-ringlab"
    if not path.exists() or path.read_text() != script:
        temporary = path.with_suffix(f".{os.getpid()}")
        temporary.write_text(script)
        temporary.chmod(0o755)
        temporary.replace(path)
    return path


def domain_xml(
    name: str,
    qemu: Qemu,
    accel: str,
    memory_mb: int,
    cpus: int,
    kernel: Path,
    initrd: Path,
    cmdline: str,
    passthrough: list[str],
    as_root: bool,
) -> str:
    """The transient domain of one guest; ``passthrough`` are QEMU arguments given as they
    are (see the module docstring)."""
    ET.register_namespace("qemu", QEMU_NS)
    domain = ET.Element("domain", type="kvm" if accel == "kvm" else "qemu")

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        element = ET.SubElement(parent, tag, attrs)
        element.text = text
        return element

    sub(domain, "name", name)
    sub(domain, "memory", str(memory_mb), unit="MiB")
    backing = sub(domain, "memoryBacking")
    sub(backing, "source", type="memfd")
    sub(backing, "access", mode="shared")
    sub(domain, "vcpu", str(cpus))
    os_ = sub(domain, "os")
    sub(os_, "type", "hvm", arch="x86_64", machine="pc")
    sub(os_, "kernel", str(kernel))
    sub(os_, "initrd", str(initrd))
    sub(os_, "cmdline", cmdline)
    # ACPI on, as QEMU's default: without it libvirt 9 passes -no-acpi, which QEMU 10 dropped
    sub(sub(domain, "features"), "acpi")
    if accel == "kvm":
        sub(domain, "cpu", mode="maximum")
    else:
        cpu = sub(domain, "cpu", mode="custom", match="exact")
        sub(cpu, "model", "qemu64", fallback="forbid")
    for event in ("on_poweroff", "on_reboot", "on_crash"):
        sub(domain, event, "destroy")  # a guest that stops is done, as with -no-reboot
    devices = sub(domain, "devices")
    sub(devices, "emulator", str(emulator(qemu)))
    sub(devices, "controller", type="usb", model="none")
    sub(devices, "memballoon", model="none")
    if as_root:
        label = sub(domain, "seclabel", type="static", model="dac", relabel="no")
        sub(label, "label", "+0:+0")
    commandline = sub(domain, f"{{{QEMU_NS}}}commandline")
    for arg in passthrough:
        sub(commandline, f"{{{QEMU_NS}}}arg", value=arg)
    return ET.tostring(domain, encoding="unicode")


class Domain:
    """One running transient domain and the connection that keeps it (see the module
    docstring): the same few operations :class:`lab.vm.Vm` needs of a QEMU process."""

    def __init__(self, uri: str, xml: str) -> None:
        libvirt = _libvirt()
        self.uri = uri
        self._connection = connect(uri)
        try:
            self._domain = self._connection.createXML(xml, libvirt.VIR_DOMAIN_START_AUTODESTROY)
        except libvirt.libvirtError as error:
            self._connection.close()
            raise LibvirtError(f"libvirt at {uri} did not start the guest: {error}") from error
        self.name: str = self._domain.name()

    @property
    def pid(self) -> int | None:
        """QEMU's process id, when it runs on this host (libvirt names it ``guest=NAME``)."""
        mark = f"guest={self.name},".encode()
        return next((pid for pid, cmdline in command_lines() if mark in cmdline), None)

    def running(self) -> bool:
        try:
            return bool(self._domain.isActive())
        except _libvirt().libvirtError:  # a transient domain that ended is gone
            return False

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the guest to end; whether it has."""
        deadline = time.monotonic() + timeout
        while self.running():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    def stop(self, grace: float) -> None:
        """SIGTERM to QEMU (libvirt's graceful destroy), then SIGKILL; then let go of the
        connection.  Idempotent."""
        libvirt = _libvirt()
        if self._connection is None:
            return
        for flags in (libvirt.VIR_DOMAIN_DESTROY_GRACEFUL, libvirt.VIR_DOMAIN_DESTROY_DEFAULT):
            if not self.running():
                break
            # it may end meanwhile, or not take SIGTERM: the next step says
            with contextlib.suppress(libvirt.libvirtError):
                self._domain.destroyFlags(flags)
            self.wait(grace)
        self._connection.close()
        self._connection = None

    def log(self) -> str:
        """What libvirt and QEMU wrote in the domain's log, when it is on this host."""
        for folder in (
            Path("/var/log/libvirt/qemu"),
            Path.home() / ".cache/libvirt/qemu/log",
        ):
            try:
                return (folder / f"{self.name}.log").read_text(errors="replace")
            except OSError:
                continue
        return f"(no log of domain {self.name} on this host)"
