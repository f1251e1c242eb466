"""The one event loop of a fabric process: sockets, timers and device work on one thread.

Why one thread and bounded slices: QEMU waits for the answer to every register read and gives
up for good after `x-msg-timeout` (specs/vfio-user.md). A doorbell may hand the model hundreds
of TX descriptors, and a busy wire keeps RX going, so if TX/RX work ran inline inside the
register write that rang the doorbell, the next register read (from this or another VM) would
wait behind all of it. Instead a doorbell only records work; the loop answers every message
that is ready, then gives each device with pending work one `service(budget)` slice, then looks
at the sockets again. Register reads wait at most one slice. Since everything — vfio-user
sockets, the control socket, host endpoints, wire timers, device work — runs here, no state is
ever touched by two threads and nothing needs a lock.

Vocabulary:
    reader/writer  a callback run when a file descriptor is readable/writable
    timer          a callback run once at a `clock()` time (wire delay, shaping, reorder flush)
    service        an object with `service(budget) -> bool` (True: more work remains) and
                   `next_deadline() -> float | None` (e.g. interrupt moderation timers); the
                   vNIC model is one
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import os
import selectors
import socket
import time
from collections.abc import Callable
from functools import partial
from typing import Any, Protocol

log = logging.getLogger(__name__)

# How many descriptors/frames one service slice may move. Small enough that a register read
# waiting behind a slice is answered within a millisecond or so, large enough that the
# per-slice overhead is amortised over a batch.
SERVICE_BUDGET = 256


class Service(Protocol):
    def service(self, budget: int = ...) -> bool: ...

    def next_deadline(self) -> float | None: ...


class Timer:
    """Handle of a scheduled callback; `cancel()` makes it a no-op."""

    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback: Callable[[], None] | None = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True
        self.callback = None


class EventLoop:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._selector = selectors.DefaultSelector()
        # fd -> [reader, writer]; one selector key per fd with the events derived from it.
        self._handlers: dict[int, list[Callable[[], None] | None]] = {}
        self._fileobjs: dict[int, Any] = {}
        self._timers: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self._services: list[Service] = []
        self._busy: dict[int, Service] = {}  # id(service) -> service, insertion-ordered
        self._stopping = False
        self.service_budget = SERVICE_BUDGET
        self.errors = 0
        # Self-pipe: lets stop() from another thread or a signal handler (via
        # signal.set_wakeup_fd(loop.wakeup_fd)) interrupt a select() that may sleep.
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.add_reader(self._wake_r, self._drain_wakeups)

    @property
    def wakeup_fd(self) -> int:
        return self._wake_w.fileno()

    def _drain_wakeups(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    def interrupt(self) -> None:
        """Wake the loop from another thread (thread-safe: one byte on a socket)."""
        # OSError: a wakeup is already pending (buffer full), or the loop is closed.
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    # -- file descriptors ------------------------------------------------------------------

    def _update(self, fd: int) -> None:
        reader, writer = self._handlers[fd]
        events = (selectors.EVENT_READ if reader else 0) | (selectors.EVENT_WRITE if writer else 0)
        registered = fd in self._selector.get_map()
        if events == 0:
            if registered:
                self._selector.unregister(fd)
            del self._handlers[fd]
            self._fileobjs.pop(fd, None)
        elif registered:
            self._selector.modify(fd, events)
        else:
            self._selector.register(fd, events)

    @staticmethod
    def _fd(fileobj: Any) -> int:
        return fileobj if isinstance(fileobj, int) else fileobj.fileno()

    def add_reader(self, fileobj: Any, callback: Callable[[], None]) -> None:
        fd = self._fd(fileobj)
        self._handlers.setdefault(fd, [None, None])[0] = callback
        self._fileobjs[fd] = fileobj
        self._update(fd)

    def listen(
        self,
        path: str,
        on_connection: Callable[[socket.socket], None],
        kind: int = socket.SOCK_STREAM,
        backlog: int = 8,
    ) -> socket.socket:
        """A unix socket listening at ``path``; each new connection goes to ``on_connection``.

        A socket file left at ``path`` by a crashed run is replaced.
        """
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        listener = socket.socket(socket.AF_UNIX, kind)
        listener.bind(path)
        listener.listen(backlog)
        listener.setblocking(False)

        def accept() -> None:
            try:
                sock, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            on_connection(sock)

        self.add_reader(listener, accept)
        return listener

    def remove_reader(self, fileobj: Any) -> None:
        fd = self._fd(fileobj)
        if fd in self._handlers:
            self._handlers[fd][0] = None
            self._update(fd)

    def add_writer(self, fileobj: Any, callback: Callable[[], None]) -> None:
        fd = self._fd(fileobj)
        self._handlers.setdefault(fd, [None, None])[1] = callback
        self._fileobjs[fd] = fileobj
        self._update(fd)

    def remove_writer(self, fileobj: Any) -> None:
        fd = self._fd(fileobj)
        if fd in self._handlers:
            self._handlers[fd][1] = None
            self._update(fd)

    # -- timers ----------------------------------------------------------------------------

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        timer = Timer(when, callback)
        heapq.heappush(self._timers, (when, next(self._seq), timer))
        return timer

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        return self.call_at(self.clock() + delay, callback)

    # -- device work -----------------------------------------------------------------------

    def add_service(self, service: Service) -> None:
        self._services.append(service)

    def remove_service(self, service: Service) -> None:
        if service in self._services:
            self._services.remove(service)
        self._busy.pop(id(service), None)

    def wake(self, service: Service) -> None:
        """Something happened (doorbell, frames arrived) that may give `service` work."""
        self._busy[id(service)] = service

    # -- running ---------------------------------------------------------------------------

    def stop(self) -> None:
        """Make run() return after the current iteration; safe from other threads."""
        self._stopping = True
        self.interrupt()

    def _guard(self, what: str, fn: Callable[[], Any]) -> Any:
        # One misbehaving callback (a bug, a hostile peer) must not take down the fabric
        # and with it every VM attached to it: log, count and carry on.
        try:
            return fn()
        except Exception:
            self.errors += 1
            log.exception("event loop: %s failed", what)
            return None

    def _timeout(self, limit: float | None) -> float | None:
        if self._busy:
            return 0.0
        now = self.clock()
        nearest: float | None = None
        if self._timers:
            nearest = self._timers[0][0]
        for svc in self._services:
            deadline = self._guard("next_deadline", svc.next_deadline)
            if deadline is not None and (nearest is None or deadline < nearest):
                nearest = deadline
        timeout = None if nearest is None else max(0.0, nearest - now)
        if limit is not None:
            timeout = limit if timeout is None else min(timeout, limit)
        return timeout

    def run_once(self, timeout: float | None = None) -> None:
        """Wait for I/O (at most `timeout` s), then run ready handlers, due timers and one
        service slice per busy device."""
        for key, events in self._selector.select(self._timeout(timeout)):
            handlers = self._handlers.get(key.fd)
            if handlers is None:
                continue
            reader = handlers[0]
            if events & selectors.EVENT_READ and reader is not None:
                self._guard("reader", reader)
            handlers = self._handlers.get(key.fd)  # the reader may have closed the fd
            if handlers and events & selectors.EVENT_WRITE and handlers[1] is not None:
                self._guard("writer", handlers[1])

        now = self.clock()
        while self._timers and self._timers[0][0] <= now:
            _, _, timer = heapq.heappop(self._timers)
            if not timer.cancelled and timer.callback is not None:
                callback, timer.callback = timer.callback, None
                self._guard("timer", callback)

        for svc in self._services:
            deadline = self._guard("next_deadline", svc.next_deadline)
            if deadline is not None and deadline <= now:
                self._busy[id(svc)] = svc
        for key_id, svc in list(self._busy.items()):
            more = self._guard("service", partial(svc.service, self.service_budget))
            if not more:
                self._busy.pop(key_id, None)

    def run(self, until: Callable[[], bool] | None = None, timeout: float | None = None) -> None:
        """Run until `stop()` is called, `until()` is true, or `timeout` seconds passed."""
        self._stopping = False
        end = None if timeout is None else self.clock() + timeout
        while not self._stopping and not (until is not None and until()):
            remaining = None
            if end is not None:
                remaining = end - self.clock()
                if remaining <= 0:
                    return
            # Wake at least every 0.5 s, a safety net should a wakeup be lost.
            self.run_once(0.5 if remaining is None else min(remaining, 0.5))

    def close(self) -> None:
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()
        self._handlers.clear()
        self._fileobjs.clear()
        self._timers.clear()
