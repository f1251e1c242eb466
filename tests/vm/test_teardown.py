"""Nothing is left behind: not on Ctrl-C during boot, not when the lab process is killed;
on either backend (the lab's own QEMU processes, or libvirt domains)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab.provision import Platform
from lab.vm import pids_of_our_qemus
from tests.vm.conftest import BACKENDS, libvirt_domains, libvirt_uri

BOOT_AND_WAIT = """
import sys
from lab import provision
from lab.runs import RunDir
from lab.topology import default_specs
from lab.vm import Lab, terminate_on_sigterm
p = provision.ensure()
t = default_specs(["a", "b"], RunDir.new("test-teardown"))
with terminate_on_sigterm(), Lab(t, p) as lab:
    print("SOCKETS", lab._sockets, flush=True)
    lab.start()
    print("BOOTED", flush=True)
    import time; time.sleep(600)
"""


def _start(backend: str) -> tuple[subprocess.Popen[str], Path]:
    if backend == "libvirt":
        libvirt_uri()  # or skip, saying why
    child = subprocess.Popen(
        [sys.executable, "-c", BOOT_AND_WAIT],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "RINGLAB_BACKEND": backend},
    )
    assert child.stdout is not None
    line = child.stdout.readline()
    assert line.startswith("SOCKETS "), line
    return child, Path(line.split()[1])


def _wait_gone(pids: list[int], timeout: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [pid for pid in pids if Path(f"/proc/{pid}").exists()]
        if not alive:
            return []
        time.sleep(0.1)
    return alive


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_boot_leaves_nothing(
    platform: Platform, runs: Path, signum: signal.Signals, backend: str
) -> None:
    child, sockets = _start(backend)
    time.sleep(1.5)  # QEMU is running, the guests are still booting
    ours = pids_of_our_qemus(runs)
    assert len(ours) == 2, "both QEMUs should be running mid-boot"
    child.send_signal(signum)
    child.wait(30)
    assert _wait_gone(ours) == []
    assert not sockets.exists()
    if backend == "libvirt":
        assert libvirt_domains(sockets.name) == set()


@pytest.mark.parametrize("backend", BACKENDS)
def test_killed_lab_process_takes_its_guests_along(
    platform: Platform, runs: Path, backend: str
) -> None:
    """SIGKILL gives no chance to clean up: the QEMUs' parent-death signal must do it, or
    libvirt, which destroys a domain started with AUTODESTROY when its connection closes."""
    child, sockets = _start(backend)
    time.sleep(1.5)
    ours = pids_of_our_qemus(runs)
    assert ours
    if backend == "libvirt":
        assert len(libvirt_domains(sockets.name)) == 2
    os.kill(child.pid, signal.SIGKILL)
    child.wait(10)
    assert _wait_gone(ours) == []
    if backend == "libvirt":
        assert libvirt_domains(sockets.name) == set()
