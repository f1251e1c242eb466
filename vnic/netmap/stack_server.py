"""Exercise 01's request/response server on a stack port: sockets for control only.

    python3 -m vnic.netmap.stack_server --port 9100                # the vNIC's stack port
    python3 -m vnic.netmap.stack_server --port 9100 --stack stack:eth1 --seconds 60
    python3 -m vnic.netmap.stack_server --port 9100 --fake         # on the host, no netmap

The protocol is exercise 01's (``exercises/01-sockets``, step 4): each request is exactly 32
bytes, the response is the same 32 bytes reversed; a connection may send several requests
at once or a request in pieces, so partial requests are kept per connection; a connection is
closed at its end of stream. ``checks/tools/rr_client.py`` of that exercise drives this server
exactly as it drives the sockets one, so the two are measured by the same client.

What changes is where the bytes go. The listening socket and ``accept()`` stay sockets (the
control path); every accepted connection is attached to the stack port, and from then on
its data moves only through the port's rings (the data path):

1. one ``poll()`` waits on the listening socket and the port's fd together;
2. new connections are accepted and attached (PST_FD_REG);
3. one receive takes every connection's new data: the kernel's poll already synced the RX
   ring, so that costs no system call; the per-connection *scratchpad* says whose data is
   whose;
4. the replies of all connections are queued, and one ``flush()`` (NIOCTXSYNC) hands them
   all to TCP, without a copy from the TX buffers;
5. a connection whose stream ended is closed once its replies have left the ring.

Two system calls per batch, however many connections it served: the sockets server makes
two or more per request (``select``, ``recv``, ``send``). On SIGINT or SIGTERM (or after
``--seconds``) the server prints one JSON line: connections, requests, system calls and the
port's counters from ``/proc/net/netmap``. As a library: :func:`serve` (a listening socket
and an open :class:`~vnic.netmap.stack.StackPort`), or :func:`run` (opens both).
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vnic.netmap.memory import BytesLike
from vnic.netmap.stack import Scratchpad, SendReport, StackPort

MESSAGE = 32  # bytes of a request, and of its response
DEFAULT_PORT = 9100  # exercise 01's rr_server.py
TICK_MS = 200  # poll timeout: how soon a stop request is seen
RETRY_MS = 2  # poll timeout while TX slots wait for a full send buffer (retry soon)
DRIVER = "vnic"  # the stack port of the first interface this driver runs


@dataclass
class ServerStats:
    """What :func:`serve` did; ``syscalls`` counts polls, port syncs and accepts."""

    connections: int = 0  # accepted and attached
    refused: int = 0  # accepted, but the port would not attach them (closed at once)
    closed: int = 0  # closed after their end of stream
    requests: int = 0  # answered
    bytes_in: int = 0
    bytes_out: int = 0
    batches: int = 0  # receives that brought data
    polls: int = 0
    accepts: int = 0
    txsyncs: int = 0
    rxsyncs: int = 0
    seconds: float = 0.0

    @property
    def syscalls(self) -> int:
        return self.polls + self.accepts + self.txsyncs + self.rxsyncs


class ReverseServer:
    """The protocol, apart from the event loop: attach connections, answer every complete
    request of a :class:`Scratchpad` by queueing its reversal on the port, keep partial
    requests, close a connection after its end of stream once its replies have left."""

    def __init__(self, stack: StackPort) -> None:
        self.stack = stack
        self.conns: dict[int, socket.socket] = {}  # fd -> the socket (keeps it open)
        self.partial: dict[int, bytes] = {}  # fd -> the start of an incomplete request
        self.closing: set[int] = set()  # fds at end of stream, replies still leaving
        self.stats = ServerStats()

    def add(self, conn: socket.socket) -> bool:
        """Attach an accepted connection to the port; a refused one is closed."""
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # the kernel forces it too
        try:
            fd = self.stack.attach(conn)
        except OSError as exc:
            print(f"stack_server: {exc}", file=sys.stderr)
            conn.close()
            self.stats.refused += 1
            return False
        self.conns[fd] = conn
        self.stats.connections += 1
        return True

    def handle(self, pad: Scratchpad) -> None:
        """Queue the answers to every complete request in ``pad``; note the ends."""
        for fd, views in pad.data.items():
            if fd in self.conns and fd not in self.closing:
                self._answer(fd, views)
        for fd in pad.eof:
            if fd in self.conns:
                self.closing.add(fd)
                self.partial.pop(fd, None)  # an incomplete last request gets no answer
        self.stats.bytes_in += pad.nbytes
        self.stats.batches += bool(pad.nbytes)

    def _answer(self, fd: int, views: list[memoryview]) -> None:
        partial = self.partial.pop(fd, b"")
        data: BytesLike = views[0]  # the common case: one slot, whole requests, no copy yet
        if partial or len(views) > 1:
            data = b"".join([partial, *views])
        whole = len(data) - len(data) % MESSAGE
        if whole:
            steps = range(0, whole, MESSAGE)
            replies = b"".join([bytes(data[i : i + MESSAGE])[::-1] for i in steps])
            self.stack.queue(fd, replies)
            self.stats.requests += whole // MESSAGE
            self.stats.bytes_out += whole
        if whole < len(data):
            self.partial[fd] = bytes(data[whole:])  # a copy: the view expires

    def flush(self) -> SendReport:
        """One flush of every queued reply, then close the connections that are done."""
        report = self.stack.flush()
        if self.closing:
            for fd in [fd for fd in self.closing if not self.stack.pending(fd)]:
                self._close(fd)
        return report

    def _close(self, fd: int) -> None:
        self.closing.discard(fd)
        self.partial.pop(fd, None)
        self.stack.forget(fd)
        self.conns.pop(fd).close()
        self.stats.closed += 1

    def close_all(self) -> None:
        for fd in list(self.conns):
            self._close(fd)


def serve(
    listener: socket.socket,
    stack: StackPort,
    *,
    seconds: float | None = None,
    stop: threading.Event | None = None,
) -> ServerStats:
    """Serve exercise 01's protocol on every connection ``listener`` accepts, with all
    their data through ``stack``, until ``stop`` is set or ``seconds`` have passed; then
    close the connections (not the listener nor the port) and return what was done."""
    server = ReverseServer(stack)
    stats = server.stats
    listener.setblocking(False)
    lfd, pfd = listener.fileno(), stack.fileno()
    poller = select.poll()
    poller.register(lfd, select.POLLIN)
    poller.register(pfd, select.POLLIN)
    mask = select.POLLIN
    started = time.monotonic()
    deadline = None if seconds is None else started + seconds
    syncs0 = (stack.port.txsyncs, stack.port.rxsyncs)
    try:
        while not (stop is not None and stop.is_set()):
            if deadline is not None and time.monotonic() >= deadline:
                break
            # POLLOUT only while replies wait for free slots: a ring with room is always
            # writable, and asking for it then would make poll() return at once, forever.
            want = select.POLLIN | (select.POLLOUT if stack.backlog else 0)
            if want != mask:
                poller.modify(pfd, want)
                mask = want
            ready = dict(poller.poll(RETRY_MS if stack.stalled else TICK_MS))
            stats.polls += 1
            if ready.get(lfd):
                _accept_all(listener, server)
            events = ready.get(pfd, 0)
            if events & (select.POLLERR | select.POLLNVAL):
                raise OSError(f"stack_server: poll on {stack.name} returned {events:#x}")
            if events & select.POLLIN:
                server.handle(stack.receive(sync=not stack.syncs_on_poll))
            server.flush()
    finally:
        server.close_all()
        stats.seconds = time.monotonic() - started
        stats.txsyncs = stack.port.txsyncs - syncs0[0]
        stats.rxsyncs = stack.port.rxsyncs - syncs0[1]
    return stats


def _accept_all(listener: socket.socket, server: ReverseServer) -> None:
    """Accept every connection waiting (the listener is non-blocking) and attach it."""
    while True:
        server.stats.accepts += 1
        try:
            conn, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:  # ECONNABORTED, EMFILE: try again at the next poll
            print(f"stack_server: accept: {exc}", file=sys.stderr)
            return
        server.add(conn)


def listen(port: int, host: str = "0.0.0.0") -> socket.socket:
    """The listening socket, as exercise 01's server makes it."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(256)
    return listener


def lab_interface(driver: str = DRIVER) -> str:
    """The first network interface run by ``driver`` (the lab's vNIC), from sysfs."""
    for dev in sorted(Path("/sys/class/net").iterdir()):
        link = dev / "device" / "driver"
        if link.is_symlink() and os.path.basename(os.readlink(link)) == driver:
            return dev.name
    raise LookupError(f"no network interface is run by {driver}.ko: name one with --stack")


def run(
    port: int = DEFAULT_PORT,
    stack_name: str | None = None,
    *,
    seconds: float | None = None,
    stop: threading.Event | None = None,
    fake: bool = False,
    on_ready: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Open the listening socket and the stack port (``stack:`` + the vNIC's interface
    unless named; with ``fake`` the loopback :class:`~vnic.netmap.testing.FakeStackPort`),
    serve, and return the result as :func:`main` prints it. ``on_ready(port)`` is called
    once both are open (port 0 picks a free one)."""
    if fake:
        from vnic.netmap.testing import FakeStackPort

        stack = StackPort(FakeStackPort(num_slots=256, loopback=True))
    else:
        stack = StackPort.open(stack_name or f"stack:{lab_interface()}")
    with stack, listen(port) as listener:
        if on_ready is not None:
            on_ready(listener.getsockname()[1])
        stats = serve(listener, stack, seconds=seconds, stop=stop)
        try:
            counters: dict[str, int] | None = None if fake else stack.counters()
        except (OSError, LookupError):
            counters = None
    result: dict[str, Any] = {"port": stack.name, **asdict(stats), "syscalls": stats.syscalls}
    result["syscalls_per_request"] = stats.syscalls / stats.requests if stats.requests else None
    result["counters"] = counters
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="TCP port to listen on")
    parser.add_argument("--stack", help="the stack port (default: stack:IF of the vNIC)")
    parser.add_argument("--seconds", type=float, help="stop after this long (default: never)")
    parser.add_argument("--fake", action="store_true", help="no netmap: a loopback fake port")
    args = parser.parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    def ready(port: int) -> None:
        print(f"listening on {port}", flush=True)  # what exercise 01's server prints

    try:
        result = run(
            args.port, args.stack, seconds=args.seconds, stop=stop, fake=args.fake, on_ready=ready
        )
    except (OSError, LookupError, ValueError) as exc:
        print(f"stack_server: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
