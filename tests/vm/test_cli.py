"""The lab's command line, end to end: up, status, exec, down, clean, demo."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from lab.provision import Platform
from lab.vm import pids_of_our_qemus
from tests.vm.helpers import RINGLAB, ROOT, ringlab


def test_up_exec_status_down(platform: Platform, runs: Path) -> None:
    up = ringlab("up", "--name", "clitest", "a")
    try:
        assert up.returncode == 0, up.stderr
        done = ringlab("exec", "a", "--name", "clitest", "--", "echo", "hi;", "exit", "7")
        assert done.returncode == 7
        assert done.stdout == "hi\n"
        status = json.loads(ringlab("status", "--json").stdout)["clitest"]
        assert status["vms"]["a"]["alive"] is True
        missing = ringlab("exec", "zz", "--name", "clitest", "--", "true")
        assert missing.returncode == 2 and "no VM 'zz'" in missing.stderr
    finally:
        down = ringlab("down", "--name", "clitest")
    assert down.returncode == 0, down.stderr
    assert pids_of_our_qemus(runs) == []
    assert "clitest" not in ringlab("status", "--json").stdout


def test_up_on_qemus_own_nic_to_compare_by_hand(platform: Platform, runs: Path) -> None:
    up = ringlab("up", "--name", "clinic", "--nic", "virtio-net-pci", "a", "b")
    try:
        assert up.returncode == 0, up.stderr
        driver = ringlab(
            "exec", "a", "--name", "clinic", "--",
            "basename $(readlink /sys/class/net/eth0/device/driver)",
        )  # fmt: skip
        assert driver.stdout.strip() == "virtio_net", driver
        ping = ringlab("exec", "a", "--name", "clinic", "--", "ping", "-c2", "-W3", "198.18.0.2")
        assert ping.returncode == 0, ping.stdout + ping.stderr
        stats = ringlab("stats", "--name", "clinic")
        assert stats.returncode == 2 and "no vNIC fabric" in stats.stderr
    finally:
        down = ringlab("down", "--name", "clinic")
    assert down.returncode == 0, down.stderr
    assert _mentioning(runs) == []


def _mentioning(text: Path) -> list[int]:
    """Processes whose command line mentions ``text`` (QEMUs and the fabric name files
    in the run directory)."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and str(text).encode() in (entry / "cmdline").read_bytes():
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def _described(pids: list[int]) -> str:
    """Each process's command line (for a failed leak check)."""
    lines = []
    for pid in pids:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            lines.append(f"{pid}: {cmdline.decode(errors='replace')[:300]}")
        except OSError:
            lines.append(f"{pid}: gone")
    return "\n".join(lines)


def _exited(pid: int) -> bool:
    """Gone, or a zombie its new parent has not reaped yet (it has exited all the same)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in "ZX"
    except OSError:
        return True


def _socket_dirs(pid: int) -> list[Path]:
    return list(Path(tempfile.gettempdir()).glob(f"ringlab-{pid}-*"))


def test_wired_lab_runs_guests_at_once_and_down_stops_everything(
    platform: Platform, runs: Path
) -> None:
    """The lab page's `up --wired a b`: two wired guests with the driver loaded; an exec to
    b does not wait behind a long one to a; down stops that one and returns when all is
    gone."""
    up = ringlab("up", "--name", "cliwired", "--wired", "a", "b")
    long = None
    try:
        assert up.returncode == 0, up.stderr
        status = json.loads(ringlab("status", "--json").stdout)["cliwired"]
        supervisor = status["pid"]
        assert _socket_dirs(supervisor)
        addresses = ringlab("exec", "a", "--name", "cliwired", "--", "ip -br addr")
        assert "198.18.0.1/15" in addresses.stdout, addresses.stdout
        stats = ringlab("stats", "--name", "cliwired", "--json")
        assert stats.returncode == 0, stats.stderr
        assert set(json.loads(stats.stdout)["ports"]) == {"a", "b"}
        long = subprocess.Popen(
            [*RINGLAB, "exec", "a", "--name", "cliwired", "--", "sleep", "120"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        time.sleep(2)  # a's command is running
        other = ringlab("exec", "b", "--name", "cliwired", "--", "echo", "hi", timeout=60)
        assert other.returncode == 0 and other.stdout == "hi\n", other.stderr
        assert long.poll() is None, "exec b waited behind exec a"
    finally:
        started = time.monotonic()
        down = ringlab("down", "--name", "cliwired", timeout=120)
        took = time.monotonic() - started
    assert down.returncode == 0, down.stderr
    assert "lab cliwired stopped" in down.stdout
    # Everything is gone when down returns, not a moment later.
    left = _mentioning(runs)
    assert left == [], f"outlived down:\n{_described(left)}"
    assert _exited(supervisor)
    assert _socket_dirs(supervisor) == []
    assert not (runs.parent / "labs" / "cliwired").exists()
    assert long is not None
    _, stopped = long.communicate(timeout=10)
    assert long.returncode == 2 and "going down" in stopped
    assert took < 60
    again = ringlab("down", "--name", "cliwired")
    assert again.returncode == 0 and "no lab named 'cliwired' is running" in again.stdout
    plain = ringlab("stats", "--name", "cliwired")
    assert plain.returncode == 2 and "no lab named" in plain.stderr


def test_up_fails_when_a_guest_misses_its_declared_state(platform: Platform, runs: Path) -> None:
    up = ringlab("up", "--name", "clibad", "--modules", "nosuchmodule", "a")
    assert up.returncode == 1, up.stdout + up.stderr
    assert "a did not reach its declared state" in up.stderr
    assert "cannot load module nosuchmodule" in up.stderr
    left = _mentioning(runs)  # the failed lab is torn down before up returns
    assert left == [], f"outlived up:\n{_described(left)}"
    assert "clibad" not in ringlab("status", "--json").stdout


def test_a_killed_supervisor_leaves_a_dead_lab_that_clean_removes(
    platform: Platform, runs: Path
) -> None:
    up = ringlab("up", "--name", "clidead", "a")
    assert up.returncode == 0, up.stderr
    supervisor = json.loads(ringlab("status", "--json").stdout)["clidead"]["pid"]
    sockets = _socket_dirs(supervisor)
    assert sockets
    os.kill(supervisor, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while _mentioning(runs) and time.monotonic() < deadline:
        time.sleep(0.2)  # the QEMUs' parent-death signal
    status = ringlab("status")
    assert "lab clidead: dead" in status.stdout, status.stdout
    assert json.loads(ringlab("status", "--json").stdout)["clidead"]["state"] == "dead"
    clean = ringlab("clean")
    assert clean.returncode == 0, clean.stderr
    assert "stale lab clidead" in clean.stdout
    assert all(str(path) in clean.stdout and not path.exists() for path in sockets)
    assert not (runs.parent / "labs" / "clidead").exists()
    assert "nothing to clean" in ringlab("clean").stdout
    assert "no lab named 'clidead' is running" in ringlab("down", "--name", "clidead").stdout


def test_demo_boots_and_reports_boot_time(platform: Platform) -> None:
    demo = ringlab("demo")
    assert demo.returncode == 0, demo.stderr
    assert "boot to READY" in demo.stdout
    assert "Linux 6.12" in demo.stdout
    assert "doorbells per packet" in demo.stdout and "TCP a → b" in demo.stdout
