"""Exercise 01's request/response server on a stack port: sockets for control only.

    python3 server.py --port 9100                  # the vNIC's stack port
    python3 server.py --port 9100 --response 1024  # answers repeated to 1 KiB (step 4)
    python3 server.py --port 9100 --fake           # on the host, no netmap

The protocol is exercise 01's (step 4): each request is exactly 32 bytes, the response is
the same 32 bytes reversed — repeated to ``--response`` bytes in step 4; a connection may
send several requests at once or a request in pieces, so partial requests are kept per
connection; a connection is closed at its end of stream.

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

On SIGINT or SIGTERM (or after ``--seconds``) the server prints one JSON line: connections,
requests and its system calls. The checks judge from the load generator and the kernel's
counters, not from this line.
"""

from __future__ import annotations

import argparse
import json
import select
import signal
import socket
import sys
import threading
import time
from dataclasses import asdict, dataclass

from vnic.netmap.memory import BytesLike
from vnic.netmap.stack import Scratchpad, StackPort, lab_interface, listen

MESSAGE = 32  # bytes of a request, and of its reversal
TICK_MS = 200  # poll timeout: how soon a stop request is seen
RETRY_MS = 2  # poll timeout while TX slots wait for a full send buffer (retry soon)


@dataclass
class ServerStats:
    """What :func:`serve` did; ``syscalls`` counts polls, port syncs and accepts."""

    connections: int = 0  # accepted and attached
    closed: int = 0  # closed after their end of stream
    requests: int = 0  # answered
    polls: int = 0
    accepts: int = 0
    txsyncs: int = 0
    rxsyncs: int = 0
    seconds: float = 0.0

    @property
    def syscalls(self) -> int:
        return self.polls + self.accepts + self.txsyncs + self.rxsyncs


def answer(request: BytesLike, size: int) -> bytes:
    """The response to one request: its bytes reversed, repeated to ``size`` bytes."""
    return bytes(request)[::-1] * (size // MESSAGE)


class ReverseServer:
    """The protocol, apart from the event loop: attach connections, answer every complete
    request of a :class:`Scratchpad` by queueing its response on the port, keep partial
    requests, close a connection after its end of stream once its replies have left."""

    def __init__(self, stack: StackPort, response: int = MESSAGE) -> None:
        self.stack = stack
        self.response = response
        self.conns: dict[int, socket.socket] = {}  # fd -> the socket (keeps it open)
        self.partial: dict[int, bytes] = {}  # fd -> the start of an incomplete request
        self.closing: set[int] = set()  # fds at end of stream, replies still leaving
        self.stats = ServerStats()

    def add(self, conn: socket.socket) -> None:
        """Attach an accepted connection to the port; a refused one is closed."""
        # TODO 1: attach conn to the stack port and keep the socket (by its fd) in
        # self.conns; if the port refuses it (OSError), say why on stderr and close it
        try:
            fd = self.stack.attach(conn)
        except OSError as exc:
            print(f"server: {exc}", file=sys.stderr)
            conn.close()
            return
        self.conns[fd] = conn
        # END TODO 1
        self.stats.connections += 1

    def handle(self, pad: Scratchpad) -> None:
        """Queue the responses to every complete request in ``pad``; note the ends."""
        # TODO 2: for each fd of pad.data, its pieces after what self.partial kept: queue
        # answer() of each whole 32 bytes with self.stack.queue(fd, ...), keep the rest
        # (a copy: the views expire); an fd in pad.eof goes to self.closing
        for fd, views in pad.data.items():
            if fd not in self.conns or fd in self.closing:
                continue
            data = b"".join([self.partial.pop(fd, b""), *views])
            whole = len(data) - len(data) % MESSAGE
            if whole:
                replies = [
                    answer(data[i : i + MESSAGE], self.response) for i in range(0, whole, MESSAGE)
                ]
                self.stack.queue(fd, b"".join(replies))
                self.stats.requests += whole // MESSAGE
            if whole < len(data):
                self.partial[fd] = data[whole:]
        for fd in pad.eof:
            if fd in self.conns:
                self.closing.add(fd)
                self.partial.pop(fd, None)  # an incomplete last request gets no answer
        # END TODO 2

    def flush(self) -> None:
        """One flush of every queued reply, then close the connections that are done."""
        self.stack.flush()
        for fd in [fd for fd in self.closing if not self.stack.pending(fd)]:
            self._close(fd)

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
    response: int = MESSAGE,
    *,
    seconds: float | None = None,
    stop: threading.Event | None = None,
) -> ServerStats:
    """Serve the protocol on every connection ``listener`` accepts, with all their data
    through ``stack``, until ``stop`` is set or ``seconds`` have passed; then close the
    connections (not the listener nor the port) and return what was done."""
    server = ReverseServer(stack, response)
    stats = server.stats
    listener.setblocking(False)
    lfd, pfd = listener.fileno(), stack.fileno()
    poller = select.poll()
    poller.register(lfd, select.POLLIN)
    poller.register(pfd, select.POLLIN)
    mask = select.POLLIN
    started = time.monotonic()
    deadline = None if seconds is None else started + seconds
    syncs = (stack.port.txsyncs, stack.port.rxsyncs)
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
            # TODO 3: one poll() of both (RETRY_MS while stack.stalled, else TICK_MS);
            # accept every waiting connection (the listener does not block) and add() it;
            # when the port is readable, handle() one receive (the poll synced the ring:
            # sync=False); then flush() every reply with one TX sync
            ready = dict(poller.poll(RETRY_MS if stack.stalled else TICK_MS))
            stats.polls += 1
            if ready.get(lfd):
                accept_all(listener, server)
            if ready.get(pfd, 0) & select.POLLIN:
                server.handle(stack.receive(sync=not stack.syncs_on_poll))
            server.flush()
            # END TODO 3
    finally:
        server.close_all()
        stats.seconds = time.monotonic() - started
        stats.txsyncs = stack.port.txsyncs - syncs[0]
        stats.rxsyncs = stack.port.rxsyncs - syncs[1]
    return stats


def accept_all(listener: socket.socket, server: ReverseServer) -> None:
    """Accept every connection waiting (the listener is non-blocking) and add it."""
    while True:
        server.stats.accepts += 1
        try:
            conn, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:  # ECONNABORTED, EMFILE: try again at the next poll
            print(f"server: accept: {exc}", file=sys.stderr)
            return
        server.add(conn)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=9100, help="TCP port to listen on")
    parser.add_argument("--response", type=int, default=MESSAGE, help="bytes per answer")
    parser.add_argument("--stack", help="the stack port (default: stack:IF of the vNIC)")
    parser.add_argument("--seconds", type=float, help="stop after this long (default: never)")
    parser.add_argument("--fake", action="store_true", help="no netmap: a loopback fake port")
    args = parser.parse_args()
    if args.response < MESSAGE or args.response % MESSAGE:
        parser.error(f"--response must be a multiple of {MESSAGE}")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    if args.fake:
        from vnic.netmap.testing import FakeStackPort

        stack = StackPort(FakeStackPort(num_slots=256, loopback=True))
    else:
        stack = StackPort.open(args.stack or f"stack:{lab_interface()}")
    with stack, listen(args.port) as listener:
        print(f"listening on {listener.getsockname()[1]}", flush=True)
        stats = serve(listener, stack, args.response, seconds=args.seconds, stop=stop)
    print(json.dumps({**asdict(stats), "syscalls": stats.syscalls}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
