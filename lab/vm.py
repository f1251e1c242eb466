"""Start QEMU guests directly, drive them, and always tear them down.

A :class:`Vm` is one QEMU process booting the ringlab image under TCG (or KVM
where it truly works), with:

* guest RAM as a shared memfd, so the vNIC model can DMA into it;
* the command channel on a virtio console whose socket *we* listen on (QEMU
  connects at start-up, so nothing the guest says before we look is lost);
* the serial port carrying the kernel log into ``serial.log`` in the run
  directory (a file always accepts, so a chatty kernel is not slowed down by
  a UART waiting for a reader);
* a second virtio console with a shell for humans (``ringlab console``), on a
  socket QEMU listens on: no kernel messages there;
* 9p shares (project and submission read-only, output read-write).

A :class:`Lab` boots several VMs in parallel and is a context manager: on
every exit path (exception, timeout, Ctrl-C, SIGTERM) every QEMU is stopped and
every socket and temporary directory removed.  QEMU children also get
``PR_SET_PDEATHSIG``, so even a SIGKILLed lab leaves no guest running.

READY only says the guest's init is done, not that it did all it was asked:
:meth:`Lab.check` reads what the init logged (``ringlab-init: ...`` in the kernel log,
:func:`init_problems`) and fails if a guest is short of what its spec declares.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

from images.guest import GuestImage
from images.qemu import Qemu
from lab import libvirt_guest
from lab.children import command_lines, die_with_parent
from lab.console import CommandResult, CommandTimeout, Console, ConsoleError
from lab.fabric_process import FabricProcess
from lab.provision import Platform
from lab.runs import RunDir
from lab.topology import ANCHOR_NICS, VNIC, Topology, VmSpec


class VmError(RuntimeError):
    """A guest failed to start or died; the message says where its logs are."""


class QemuProcess:
    """A QEMU this process started: what :class:`Vm` needs of it (as of a libvirt
    :class:`lab.libvirt_guest.Domain`)."""

    def __init__(self, command: list[str], log: Path) -> None:
        self.log_path = log
        with open(log, "ab") as qemu_log:
            self.popen = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=qemu_log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a terminal's ^C goes to us, not to QEMU
                preexec_fn=die_with_parent(signal.SIGKILL),
            )
        self.pid: int | None = self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for QEMU to exit; whether it has."""
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def stop(self, grace: float) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; idempotent."""
        if self.running():
            self.popen.terminate()
            if not self.wait(grace):
                self.popen.kill()
                self.popen.wait()

    def log(self) -> str:
        """What QEMU printed."""
        return self.log_path.read_text(errors="replace")


class Vm:
    """One guest: start, wait for READY, run commands, stop."""

    def __init__(
        self,
        spec: VmSpec,
        qemu: Qemu,
        image: GuestImage,
        run: RunDir,
        sockets: Path,
        accel: str,
        devices: list[dict[str, object]] | None = None,
        libvirt_uri: str | None = None,
    ) -> None:
        self.spec = spec
        #: Extra ``-device`` JSON objects: one vfio-user vNIC (PCI function) per NIC.
        self.devices = devices or []
        self.qemu = qemu
        self.image = image
        self.accel = accel
        self.logs = run.path / spec.name
        self.logs.mkdir(parents=True, exist_ok=True)
        self.sockets = sockets / spec.name
        self.sockets.mkdir(parents=True, exist_ok=True)
        self.console_socket = self.sockets / "console.sock"
        #: Where the guests run: QEMU started here (None), or libvirt at this URI.
        self.libvirt_uri = libvirt_uri
        self.process: QemuProcess | libvirt_guest.Domain | None = None
        self.console: Console | None = None
        self.boot_seconds: float | None = None
        self._listener: socket.socket | None = None
        self._started = 0.0
        self._aborted = False

    def kernel_command_line(self) -> str:
        spec = self.spec
        args = [
            "console=ttyS0",
            "panic=-1",
            "quiet",
            f"ringlab.hostname={spec.name}",
        ]
        if spec.modules:
            args.append("ringlab.modules=" + ",".join(spec.modules))
        # One comma-separated list per setting, in NIC order; an empty entry is a NIC
        # without that address (a forwarder's). One NIC gives the plain form ringlab.mac=M.
        for key in ("mac", "ip", "ip6"):
            values = [getattr(nic, key) or "" for nic in spec.nics]
            if any(values):
                args.append(f"ringlab.{key}=" + ",".join(values))
        return " ".join(args + spec.kernel_args)

    def command_line(self, command_socket: Path) -> list[str]:
        """QEMU's whole command line: the machine, then :meth:`device_arguments`."""
        spec, image = self.spec, self.image
        return self.qemu.command(
            "-name", spec.name,
            "-machine", f"pc,accel={self.accel},memory-backend=ram",
            "-object", f"memory-backend-memfd,id=ram,size={spec.memory_mb}M,share=on",
            "-m", f"{spec.memory_mb}M",
            "-smp", str(spec.cpus),
            "-cpu", "max" if self.accel == "kvm" else "qemu64",
            "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
            "-kernel", str(image.kernel),
            "-initrd", str(image.initrd),
            "-append", self.kernel_command_line(),
            *self.device_arguments(command_socket),
        )  # fmt: skip

    def device_arguments(self, command_socket: Path) -> list[str]:
        """The guest's disk, channels, shares and NICs: the same on either backend."""
        spec, image = self.spec, self.image
        cmd = [
            "-drive", f"file={image.rootfs},if=virtio,format=raw,snapshot=on",
            "-chardev", f"file,id=serial0,path={self.logs / 'serial.log'},append=on",
            "-serial", "chardev:serial0",
            "-device", "virtio-serial-pci",
            "-chardev", f"socket,id=cmd,path={command_socket},server=off",
            "-device", "virtconsole,chardev=cmd",
            "-chardev", f"socket,id=human,path={self.console_socket},server=on,wait=off",
            "-device", "virtconsole,chardev=human",
        ]  # fmt: skip
        for share in spec.shares:
            readonly = ",readonly=on" if share.readonly else ""
            cmd += [
                "-virtfs",
                f"local,path={share.path},mount_tag={share.tag},security_model=none{readonly}",
            ]
        for device in self.devices:
            cmd += ["-device", json.dumps(device, separators=(",", ":"))]
        for number, nic in enumerate(spec.nics):
            if nic.model == VNIC:
                continue
            # An anchor: QEMU's own NIC, its cable a datagram socket pair to the peer's QEMU.
            cmd += [
                "-netdev",
                f"dgram,id=nic{number},local.type=unix,local.path={self.cable_end(nic.port)},"
                f"remote.type=unix,remote.path={self.cable_end(nic.peer or '')}",
                "-device",
                json.dumps({"driver": nic.model, "netdev": f"nic{number}", "mac": nic.mac}),
            ]
        return cmd

    def cable_end(self, port: str) -> Path:
        """The unix datagram socket of an anchor NIC's end of the cable (see
        :func:`lab.topology.anchored`): in the lab's socket directory, where the peer's
        QEMU finds it."""
        return self.sockets.parent / f"cable-{port}.sock"

    def start(self) -> None:
        """Spawn QEMU (returns at once; :meth:`wait_ready` waits for the guest)."""
        command_socket = self.sockets / "cmd.sock"
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(command_socket))
        self._listener.listen(1)
        for nic in self.spec.nics:
            if nic.model != VNIC:  # QEMU binds it: a guest started again finds it taken
                self.cable_end(nic.port).unlink(missing_ok=True)
        self._started = time.monotonic()
        if self.libvirt_uri is None:
            cmd = self.command_line(command_socket)
            (self.logs / "qemu.cmdline").write_text(" ".join(cmd) + "\n")
            self.process = QemuProcess(cmd, self.logs / "qemu.log")
            return
        xml = libvirt_guest.domain_xml(
            # unique on the libvirt host: the lab's socket directory names this lab
            name=f"{self.sockets.parent.name}-{self.spec.name}",
            qemu=self.qemu,
            accel=self.accel,
            memory_mb=self.spec.memory_mb,
            cpus=self.spec.cpus,
            kernel=self.image.kernel,
            initrd=self.image.initrd,
            cmdline=self.kernel_command_line(),
            passthrough=self.device_arguments(command_socket),
            as_root=self.libvirt_uri.endswith("/system") and os.geteuid() == 0,
        )
        (self.logs / "domain.xml").write_text(xml + "\n")
        try:
            self.process = libvirt_guest.Domain(self.libvirt_uri, xml)
        except libvirt_guest.LibvirtError as error:
            raise VmError(f"{self.spec.name}: {error}") from error

    def wait_ready(self, timeout: float = 120.0) -> float:
        """Accept the console connection and wait for READY; return seconds since start."""
        assert self.process is not None and self._listener is not None
        deadline = self._started + timeout
        self._listener.settimeout(0.2)
        while self.console is None:
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                if not self.process.running():
                    raise VmError(self._death_notice("QEMU exited during start-up")) from None
                if time.monotonic() > deadline:
                    raise VmError(self._death_notice("QEMU never opened its console")) from None
                continue
            conn.setblocking(True)
            self.console = Console(conn, self.logs / "console.log")
        self._listener.close()
        self._listener = None
        try:
            self.console.wait_ready(max(1.0, deadline - time.monotonic()))
        except ConsoleError as error:
            raise VmError(self._death_notice(str(error))) from error
        self.boot_seconds = time.monotonic() - self._started
        return self.boot_seconds

    def run(self, command: str, timeout: float = 60.0, check: bool = False) -> CommandResult:
        """Run a shell command in the guest (see :class:`lab.console.Console`)."""
        if self.console is None:
            raise VmError(f"{self.spec.name} is not running")
        try:
            result = self.console.run(command, timeout)
        except CommandTimeout:
            raise  # the guest is alive: the command was interrupted and the channel recovered
        except (ConsoleError, OSError) as error:
            if self._aborted:  # abort() cut the channel (an OSError if it did so mid-send)
                raise VmError(
                    f"{self.spec.name}: command stopped: the lab is going down"
                ) from error
            if not isinstance(error, ConsoleError):
                raise
            if self._exited(within=5.0):
                raise VmError(self._death_notice(str(error))) from error
            raise
        if check and not result.ok:
            raise VmError(
                f"{self.spec.name}: `{command}` exited with {result.status}:\n{result.output}"
            )
        return result

    def abort(self) -> None:
        """Stop the command running in another thread (it raises :class:`VmError` at once)
        and refuse later ones: the guest is about to be stopped."""
        self._aborted = True
        if self.console is not None:
            self.console.abort()

    def init_log(self) -> str:
        """What the guest's init logged (its ``ringlab-init: ...`` kernel log lines), asked
        of the guest: the copy in ``serial.log`` is written in the background, it may lag."""
        return self.run("dmesg | grep -F 'ringlab-init: ' || true", timeout=30).output

    def stop(self, grace: float = 3.0) -> None:
        """Stop QEMU (SIGTERM, then SIGKILL) and release every socket; idempotent."""
        if self.console is not None:
            self.console.close()
            self.console = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if self.process is not None:
            self.process.stop(grace)
        shutil.rmtree(self.sockets, ignore_errors=True)

    def _exited(self, within: float) -> bool:
        """Has QEMU exited (waiting up to ``within`` seconds for it to finish)?"""
        return self.process is None or self.process.wait(within)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.running()

    def kernel_log(self) -> str:
        try:
            return (self.logs / "serial.log").read_text(errors="replace")
        except OSError:
            return ""

    def _death_notice(self, what: str) -> str:
        tail = "\n".join(self.kernel_log().splitlines()[-15:])
        qemu = self.process.log()[-2000:] if self.process is not None else "(not started)"
        return (
            f"{self.spec.name}: {what}\n--- QEMU ---\n{qemu}\n--- kernel log (tail) ---\n{tail}\n"
            f"(logs in {self.logs})"
        )


#: Guest modules that make a vNIC port a network interface: with one loaded at boot, a
#: NIC without an interface is a failure; without, the guest loads its driver later.
NETDEV_DRIVERS = frozenset({VNIC, *ANCHOR_NICS.values()})
_INIT_COMPLAINT = re.compile(r"ringlab-init: (.+?)\s*$", re.MULTILINE)
_NO_INTERFACE = re.compile(r"no interface with MAC (\S+)")


def init_problems(spec: VmSpec, kernel_log: str) -> list[str]:
    """What a guest's init could not do of what ``spec`` declares, from its complaints in
    the kernel log (``images/init/ringlab-init`` logs ``ringlab-init: cannot load module
    M``, ``cannot mount share T``, ``no interface with MAC M``...).  Every complaint is a
    problem, except a NIC without an interface when no driver for it is loaded at boot."""
    driven = bool(NETDEV_DRIVERS & set(spec.modules))
    ports = {nic.mac: nic.port for nic in spec.nics}
    problems = []
    for complaint in _INIT_COMPLAINT.findall(kernel_log):
        if missing := _NO_INTERFACE.fullmatch(complaint):
            if not driven:
                continue
            complaint += f" (port {ports.get(missing.group(1), '?')})"
        problems.append(complaint)
    return list(dict.fromkeys(problems))  # once each, in the order logged


class Lab:
    """A topology made live: the vNIC fabric, then the guests, booted in parallel.

    A context manager that always cleans up: guests first, then the fabric.
    """

    def __init__(self, topology: Topology, platform: Platform) -> None:
        self.topology = topology
        self.run = topology.run
        self.platform = platform
        remove_stale_socket_dirs()
        # Sockets live in a short path (unix socket paths are limited to 108 bytes).
        self._sockets = Path(tempfile.mkdtemp(prefix=f"ringlab-{os.getpid()}-"))
        self.fabric = (
            FabricProcess(topology.network, self._sockets / "fabric", self.run.path / "fabric")
            if topology.network
            else None
        )
        self.vms = {
            spec.name: Vm(
                spec,
                platform.qemu,
                platform.image,
                self.run,
                self._sockets,
                platform.accel,
                libvirt_uri=platform.libvirt_uri,
            )
            for spec in topology.vms
        }

    def __getitem__(self, name: str) -> Vm:
        return self.vms[name]

    def start(self, timeout: float = 120.0) -> dict[str, float]:
        """Start the fabric, boot every guest at once; return each one's seconds to READY."""
        if self.fabric is not None:
            self.fabric.start()
            for vm in self.vms.values():
                vm.devices = [self.fabric.qemu_device(nic.port) for nic in vm.spec.nics]
        for vm in self.vms.values():
            vm.start()
        errors: list[BaseException] = []

        def wait(vm: Vm) -> None:
            try:
                vm.wait_ready(timeout)
            except BaseException as error:  # reported below, in the caller's thread
                errors.append(error)

        threads = [
            threading.Thread(target=wait, args=(vm,), daemon=True) for vm in self.vms.values()
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        return {name: vm.boot_seconds or 0.0 for name, vm in self.vms.items()}

    def check(self) -> None:
        """After :meth:`start`: raise :class:`VmError` unless every guest reached the state
        its spec declares (modules loaded, shares mounted, an interface per NIC when its
        driver is loaded at boot); see :func:`init_problems`."""
        failures = []
        for name, vm in self.vms.items():
            if problems := init_problems(vm.spec, vm.init_log()):
                failures.append(
                    f"{name} did not reach its declared state: {'; '.join(problems)} "
                    f"(kernel log: {vm.logs / 'serial.log'})"
                )
        if failures:
            raise VmError("\n".join(failures))

    def stop(self) -> None:
        for vm in self.vms.values():
            vm.stop()
        if self.fabric is not None:
            self.fabric.stop()
        shutil.rmtree(self._sockets, ignore_errors=True)

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def terminate_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM (and SIGHUP) into KeyboardInterrupt so ``with Lab`` cleans up."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def remove_stale_socket_dirs() -> list[Path]:
    """Remove our socket directories (``ringlab-<pid>-*``) of labs whose process died
    without cleaning up (SIGKILL); return those removed."""
    removed = []
    for directory in sorted(Path(tempfile.gettempdir()).glob("ringlab-*-*")):
        pid = directory.name.split("-")[1]
        try:
            mine = directory.is_dir() and directory.stat().st_uid == os.getuid()
        except OSError:
            continue
        if mine and pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(directory, ignore_errors=True)
            if not directory.exists():
                removed.append(directory)
    return removed


def pids_of_our_qemus(runs: Path | None = None) -> list[int]:
    """QEMU processes whose command line carries a ringlab socket (for leak checks);
    with ``runs``, only those whose logs go under that runs directory (other labs may
    run on the machine meanwhile)."""
    return [
        pid
        for pid, cmdline in command_lines()
        if b"qemu-system" in cmdline
        and b"/ringlab-" in cmdline
        and (runs is None or str(runs).encode() in cmdline)
    ]
