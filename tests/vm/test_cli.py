"""The lab's command line, end to end: up, status, exec, down, demo."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from lab.provision import Platform
from lab.vm import pids_of_our_qemus

RINGLAB = [sys.executable, "-m", "lab.cli"]
ROOT = Path(__file__).resolve().parents[2]


def ringlab(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*RINGLAB, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )


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


def test_wired_lab_shows_its_fabric_counters(platform: Platform) -> None:
    up = ringlab("up", "--name", "cliwired", "--wired", "", "a", "b")
    try:
        assert up.returncode == 0, up.stderr
        stats = ringlab("stats", "--name", "cliwired", "--json")
        assert stats.returncode == 0, stats.stderr
        ports = json.loads(stats.stdout)["ports"]
        assert set(ports) == {"a", "b"}
    finally:
        assert ringlab("down", "--name", "cliwired").returncode == 0
    plain = ringlab("stats", "--name", "cliwired")
    assert plain.returncode == 2 and "no lab named" in plain.stderr


def test_demo_boots_and_reports_boot_time(platform: Platform) -> None:
    demo = ringlab("demo")
    assert demo.returncode == 0, demo.stderr
    assert "boot to READY" in demo.stdout
    assert "Linux 6.12" in demo.stdout
    assert "doorbells per packet" in demo.stdout and "TCP a → b" in demo.stdout
