"""A stand-in for :class:`lab.vm.Lab` so the supervisor can be tested without QEMU.

A fake guest "runs" a command that is a number of seconds by sleeping that long (or
until :meth:`FakeVm.abort`), and reports what its init logged from ``INIT_LOG``.
``python -m tests.unit.fake_lab --name NAME VM...`` serves a fake lab the way
``python -m lab.supervisor`` serves a real one.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import Any

from lab import supervisor
from lab.console import CommandResult
from lab.topology import Topology, VmSpec
from lab.vm import Lab, VmError

#: What each fake guest's init wrote to the kernel log, by guest name.
INIT_LOG: dict[str, str] = {}
#: How long the fake teardown takes (the real one stops QEMUs and the fabric).
TEARDOWN_SECONDS = 0.5


class FakeVm:
    def __init__(self, spec: VmSpec, logs: Path) -> None:
        self.spec = spec
        self.logs = logs / spec.name
        self.console_socket = logs / spec.name / "console.sock"
        self.process = None
        self.boot_seconds = 0.1
        self.alive = True
        self.stopped = False
        self._abort = threading.Event()

    def run(self, command: str, timeout: float = 60.0) -> CommandResult:
        if self._abort.wait(float(command)):
            raise VmError(f"{self.spec.name}: command stopped: the lab is going down")
        return CommandResult(command, 0, f"{self.spec.name} slept {command}\n", float(command))

    def abort(self) -> None:
        self._abort.set()

    def init_log(self) -> str:
        return INIT_LOG.get(self.spec.name, "")


class FakeLab:
    #: Every fake lab made in this process, newest last.
    made: list[FakeLab] = []  # noqa: RUF012 - a test's record

    def __init__(self, topology: Topology, platform: Any) -> None:
        self.topology = topology
        self.run = topology.run
        self.fabric = None
        self.vms = {spec.name: FakeVm(spec, self.run.path) for spec in topology.vms}
        self.stopped_at: float | None = None
        FakeLab.made.append(self)

    def check(self) -> None:
        Lab.check(self)  # type: ignore[arg-type]  # the real check, over fake guests

    def start(self) -> dict[str, float]:
        return {name: 0.1 for name in self.vms}

    def stop(self) -> None:
        time.sleep(TEARDOWN_SECONDS)
        for vm in self.vms.values():
            vm.stopped = True
        self.stopped_at = time.monotonic()

    def __enter__(self) -> FakeLab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def patch(monkeypatch: Any) -> None:
    """Make ``lab.supervisor`` serve fake labs (a pytest ``monkeypatch``, or this module)."""
    monkeypatch.setattr(supervisor, "Lab", FakeLab)
    monkeypatch.setattr(supervisor.provision, "ensure", lambda: None)


class _Setter:
    @staticmethod
    def setattr(target: Any, name: str, value: Any) -> None:
        setattr(target, name, value)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True)
    parser.add_argument("vms", nargs="+")
    args = parser.parse_args()
    patch(_Setter)
    return supervisor.serve(args.name, args.vms)


if __name__ == "__main__":
    sys.exit(main())
