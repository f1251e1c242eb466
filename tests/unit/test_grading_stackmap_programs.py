"""Exercise 03-stackmap's programs on the host (no VM): the reference server over the fake
stack port of :mod:`vnic.netmap.testing` — requests cut anywhere, replies before the close,
answers repeated to a size — and, in loopback mode (the attached sockets' real TCP behind
the fake rings), under exercise 01's own load generator."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from types import ModuleType

from lab.grading.model import find_exercise
from vnic.netmap.stack import StackPort, listen
from vnic.netmap.testing import FakeStackPort

EXERCISE = find_exercise("03-stackmap")
RR_CLIENT = find_exercise("01-sockets").path / "checks/tools/rr_client.py"


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("stackmap_server", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


server_mod = load(EXERCISE.solution / "server.py")


def stack(num_slots: int = 16) -> tuple[StackPort, FakeStackPort]:
    fake = FakeStackPort(num_slots=num_slots)
    return StackPort(fake), fake


def test_server_answers_requests_cut_anywhere_and_closes_at_the_end(
    tcp_pairs: list[tuple[socket.socket, socket.socket]],
) -> None:
    port, fake = stack(num_slots=32)
    server = server_mod.ReverseServer(port)
    (sa, ca), (sb, _) = tcp_pairs[:2]
    server.add(sa)
    server.add(sb)
    a, b = sa.fileno(), sb.fileno()
    reqs_a = [os.urandom(server_mod.MESSAGE) for _ in range(3)]
    reqs_b = [os.urandom(server_mod.MESSAGE) for _ in range(2)]
    stream_a = b"".join(reqs_a)
    fake.arrive(a, stream_a[:20])  # a request cut in two slots ...
    fake.arrive(b, b"".join(reqs_b))  # ... two whole ones in one
    fake.arrive(a, stream_a[20:70])  # ... and across batches
    server.handle(port.receive())
    server.flush()
    assert fake.stream(b) == b"".join(r[::-1] for r in reqs_b)
    assert fake.stream(a) == reqs_a[0][::-1] + reqs_a[1][::-1]
    fake.arrive(a, stream_a[70:])
    fake.arrive_eof(a)
    server.handle(port.receive())
    server.flush()
    assert fake.stream(a) == b"".join(r[::-1] for r in reqs_a)
    assert a not in server.conns and sa.fileno() == -1  # closed after its end of stream
    assert b in server.conns and server.stats.requests == 5 and server.stats.closed == 1
    assert ca.recv(1) == b""  # the peer sees the close (the fake sent nothing on it)


def test_server_waits_for_the_replies_before_closing(
    tcp_pairs: list[tuple[socket.socket, socket.socket]],
) -> None:
    port, fake = stack(num_slots=32)
    server = server_mod.ReverseServer(port)
    conn = tcp_pairs[0][0]
    server.add(conn)
    fd = conn.fileno()
    fake.sndbuf[fd] = 0
    request = os.urandom(server_mod.MESSAGE)
    fake.arrive(fd, request)
    fake.arrive_eof(fd)
    server.handle(port.receive())
    server.flush()
    assert fd in server.conns and port.pending(fd)  # the reply waits for the send buffer
    del fake.sndbuf[fd]
    server.flush()
    assert fake.stream(fd) == request[::-1] and fd not in server.conns


def test_server_on_a_loopback_stack_port_serves_exercise_01s_client() -> None:
    """The whole server (poll on listener and port, accept, attach, receive, flush, close)
    against exercise 01's own load generator, with the attached sockets' real TCP behind
    the fake port's rings."""
    stop = threading.Event()
    port = StackPort(FakeStackPort(num_slots=64, loopback=True))
    with port, listen(0, "127.0.0.1") as listener:
        result: dict[str, object] = {}

        def run() -> None:
            result.update(stats=server_mod.serve(listener, port, stop=stop))

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        try:
            address = f"127.0.0.1:{listener.getsockname()[1]}"
            run = subprocess.run(
                [sys.executable, str(RR_CLIENT), "--server", address, "--conns", "8",
                 "--requests", "25"],
                capture_output=True, text=True, timeout=60, check=True,
            )  # fmt: skip
        finally:
            stop.set()
            thread.join(10)
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["transactions"] == 200 and out["errors"] == 0, out
    stats = result["stats"]
    assert stats.connections == 8 and stats.requests == 200  # type: ignore[attr-defined]
    assert stats.closed == 8  # type: ignore[attr-defined]


def test_answers_are_repeated_to_the_response_size(
    tcp_pairs: list[tuple[socket.socket, socket.socket]],
) -> None:
    port, fake = stack(num_slots=64)
    server = server_mod.ReverseServer(port, response=1024)
    conn = tcp_pairs[0][0]
    server.add(conn)
    fd = conn.fileno()
    request = os.urandom(server_mod.MESSAGE)
    fake.arrive(fd, request)
    server.handle(port.receive())
    server.flush()
    assert fake.stream(fd) == request[::-1] * 32


def test_the_server_starts_with_only_the_standard_library() -> None:
    help_text = subprocess.run(
        [sys.executable, str(EXERCISE.solution / "server.py"), "--help"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "--port" in help_text and "--response" in help_text
