"""``ringlab watch`` as a person uses it: in a terminal (tmux), over a lab with traffic,
read off the screen, quit with ``q``."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab.provision import Platform
from tests.vm.helpers import ROOT, ringlab

LAB = f"watch{os.getpid()}"
TMUX = ["tmux", "-L", LAB]  # a tmux server of its own: nothing of the user's is touched

pytestmark = pytest.mark.skipif(
    shutil.which("tmux") is None, reason="tmux is missing (images/host_tools.py ensure test)"
)


def screen() -> str:
    return subprocess.run(
        [*TMUX, "capture-pane", "-p", "-t", LAB], capture_output=True, text=True, check=True
    ).stdout


def numbers_of(text: str, port: str) -> dict[str, int]:
    """Port ``port``'s panel as read off the screen: its rates and txq0's head."""
    panel = text.split(f"─ {port} ", 1)[1]
    rates = re.search(r"doorbells/s.*\n\W*([\d,]+)\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)", panel)
    txq0 = re.search(r"txq0\s+\S+\s+(\d+)\s+(\d+)\s+(\d+)", panel)
    assert rates and txq0, f"no rates or txq0 row in {port}'s panel:\n{text}"
    doorbells, irqs, tx, rx = (int(v.replace(",", "")) for v in rates.groups())
    return {"doorbells": doorbells, "irqs": irqs, "tx": tx, "rx": rx, "head": int(txq0[1])}


def wait_for(predicate_text: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while True:
        text = screen()
        if predicate_text in text:
            return text
        assert time.monotonic() < deadline, f"{predicate_text!r} never showed:\n{text}"
        time.sleep(0.3)


def test_watch_shows_the_rings_move_and_quits_on_q(platform: Platform, runs: Path) -> None:
    up = ringlab("up", "--name", LAB, "--wired", "a", "b")
    assert up.returncode == 0, up.stderr
    try:
        subprocess.run(
            [*TMUX, "new-session", "-d", "-s", LAB, "-x", "160", "-y", "50",
             f"{sys.executable} -m lab.cli watch {LAB}"],
            check=True, cwd=ROOT,
        )  # fmt: skip
        first = wait_for("txq0")
        assert f"ringlab watch {LAB}" in first and "a-b" in first and "rxq0" in first
        traffic = subprocess.Popen(
            [sys.executable, "-m", "lab.cli", "exec", "a", "--name", LAB, "--",
             "ping", "-q", "-i", "0.01", "-c", "1000", "198.18.0.2"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            before = numbers_of(first, "a")
            seen: list[dict[str, int]] = []
            deadline = time.monotonic() + 30
            # the rates and the rings come from separate reads: wait until both moved
            while time.monotonic() < deadline and not (
                any(s["tx"] > 10 for s in seen) and seen[-1]["head"] != before["head"]
            ):
                time.sleep(0.5)
                seen.append(numbers_of(screen(), "a"))
            busy = max(seen, key=lambda s: s["tx"])
            assert busy["tx"] > 10 and busy["rx"] > 10, seen  # echo requests out, replies in
            assert busy["doorbells"] > 0 and busy["irqs"] > 0, seen
            assert seen[-1]["head"] != before["head"], "txq0's head never moved on screen"
        finally:
            traffic.kill()
            traffic.wait()
        subprocess.run([*TMUX, "send-keys", "-t", LAB, "q"], check=True)
        deadline = time.monotonic() + 10
        while (
            subprocess.run([*TMUX, "has-session", "-t", LAB], capture_output=True).returncode == 0
        ):
            assert time.monotonic() < deadline, f"q did not end ringlab watch:\n{screen()}"
            time.sleep(0.2)
    finally:
        subprocess.run([*TMUX, "kill-server"], capture_output=True)
        down = ringlab("down", "--name", LAB)
    assert down.returncode == 0, down.stderr
