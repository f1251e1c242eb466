"""Exercise 01-sockets' programs on the host's loopback (no VM): the solution and the
exercise's tools work together, and the starter fails exactly the steps it leaves undone.

The graded runs over the vNIC are in tests/vm/test_grading_sockets.py.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from lab.grading.model import find_exercise

EXERCISE = find_exercise("01-sockets")
TOOLS = EXERCISE.checks / "tools"
NONCE = "00112233aabbccdd"


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(folder: Path, *args: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, *args], cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    first = proc.stdout.readline()  # "listening ...": bound before anyone sends
    assert "listening" in first, first
    return proc


def run(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=folder, capture_output=True, text=True, timeout=30
    )


def report(text: str) -> dict[str, float]:
    return dict(json.loads(text.strip().splitlines()[-1]))


@pytest.mark.parametrize(("send", "receive"), [("sendto", "recvfrom"), ("sendmmsg", "recvmmsg")])
def test_solution_sender_and_receiver(send: str, receive: str) -> None:
    port = free_port(socket.SOCK_DGRAM)
    receiver = start(EXERCISE.solution, "receiver.py", "--port", str(port), "--count", "500",
                     "--nonce", NONCE, "--mode", receive, "--idle", "3")  # fmt: skip
    sent = run(EXERCISE.solution, "sender.py", "--dest", f"127.0.0.1:{port}", "--count", "500",
               "--nonce", NONCE, "--mode", send, "--batch", "32")  # fmt: skip
    out, _ = receiver.communicate(timeout=30)
    assert sent.returncode == 0, sent.stderr
    calls = report(sent.stdout)["calls"]
    assert calls == 500 if send == "sendto" else calls <= 500 // 32 + 1
    got = report(out)
    assert got["valid"] == 500 and got["seq_sum"] == 500 * 499 // 2


def test_tools_sink_counts_the_solution_and_rejects_foreign_traffic() -> None:
    port = free_port(socket.SOCK_DGRAM)
    sink = start(TOOLS, "udp_tool.py", "sink", "--port", str(port), "--count", "300",
                 "--nonce", NONCE, "--idle", "2")  # fmt: skip
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stray:
        stray.sendto(b"not of this run", ("127.0.0.1", port))
    run(EXERCISE.solution, "sender.py", "--dest", f"127.0.0.1:{port}", "--count", "300",
        "--nonce", NONCE, "--mode", "sendmmsg")  # fmt: skip
    got = report(sink.communicate(timeout=30)[0])
    assert (got["valid"], got["foreign"], got["duplicates"]) == (300, 1, 0)
    # The kernel's arrival stamps span the run, and no more than the sink's own clock saw.
    assert 0 < got["arrival_seconds"] <= got["seconds"] + 0.01


def test_solution_request_response_server_under_load() -> None:
    port = free_port(socket.SOCK_STREAM)
    server = start(EXERCISE.solution, "rr_server.py", "--port", str(port))
    try:
        load = run(TOOLS, "rr_client.py", "--server", f"127.0.0.1:{port}", "--conns", "16",
                   "--requests", "50")  # fmt: skip
    finally:
        server.kill()
        server.communicate()
    got = report(load.stdout)
    assert got["errors"] == 0 and got["transactions"] == 800
    assert 0 < got["p50_us"] <= got["p99_us"]


@pytest.mark.parametrize(("mode", "step"), [("sendto", 1), ("sendmmsg", 2)])
def test_starter_fails_the_undone_step(mode: str, step: int) -> None:
    sent = run(EXERCISE.starter, "sender.py", "--dest", "127.0.0.1:9", "--count", "5",
               "--mode", mode)  # fmt: skip
    assert sent.returncode != 0
    assert f"NotImplementedError: TODO {step}" in sent.stderr
