"""StackMap from Python: the kernel's TCP for control, a netmap port for the data.

StackMap (Yasukata et al., USENIX ATC '16; its successor PASTE, NSDI '18) keeps the kernel's
TCP/IP and changes only how an application hands it data. Sockets stay the **control path**:
``socket``, ``bind``, ``listen``, ``accept``, ``connect``, ``setsockopt``, ``close``. The **data
path** is a netmap port, the *stack port* ``stack:eth0``, in the same shared region as the
NIC ports (stackmap-api §3, §4)::

    listener.accept() ─► conn ─► port.attach(conn)          control: ordinary sockets
    port.receive()  ─► {fd: [data, ...]}   one RXSYNC for every connection's new data
    port.send_batch([(fd, reply), ...])    one TXSYNC for every connection's replies

What a slot carries. A stack port's ring mixes the data of many connections; its slots say
whose it is in ``slot.ptr`` (PASTE's layout, :mod:`vnic.netmap.memory`): ``fd`` in bits
8-39, ``doff`` in bits 40-49, the generic netmap offset in bits 0-7. The data is ``len -
doff`` bytes at buffer + offset + doff.

* RX (after NIOCRXSYNC or poll(POLLIN)): slots [head, tail) hold what TCP accepted, in order,
  for the attached sockets: ``doff`` 0, ``len`` the data bytes. Consecutive slots of one fd
  are an in-order piece of its byte stream; fds interleave. End of stream (FIN or RST) is one
  slot with ``len == doff``. :meth:`StackPort.receive` groups a batch per fd: the paper's
  *scratchpad* (:class:`Scratchpad`), memoryviews into the buffers themselves, no copy.
* TX: the program writes its data into a free slot's buffer, sets ``len``, ``fd`` and
  ``doff``, moves head; one NIOCTXSYNC hands every slot to its socket's TCP **without a
  copy**. TCP must keep those bytes until the peer acknowledges them (it may retransmit), so
  the kernel gives a sent slot a *fresh buffer* (new ``buf_idx``, ``NS_BUF_CHANGED``) and
  takes the old one back later: never keep a pointer to a TX buffer across a sync. After a
  sync that sent everything, tail = head - 1. When a socket's send buffer is full the sync
  stops at its slot and the next sync retries from there: nothing is lost, but the slots
  after it wait too. What does not fit the ring waits in Python (:meth:`StackPort.queue`).

Example, an echo server (each connection's bytes go back to it)::

    with StackPort.open("stack:eth0") as port:
        ...  # accept connections on a listening socket, port.attach(conn) each
        while True:
            port.poll(1000)                     # the kernel syncs the RX ring
            pad = port.receive(sync=False)      # ... so no second system call here
            port.send_batch((fd, b"".join(views)) for fd, views in pad.data.items())
            for fd in pad.eof:
                ...  # close the socket (after its replies left: port.pending(fd))

Exercise 03's reference solution (``exercises/03-stackmap/solution/server.py``) is the
course's request/response server written this way.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from vnic.netmap import abi
from vnic.netmap.memory import BytesLike, Ring
from vnic.netmap.names import PortName
from vnic.netmap.port import PROC_COUNTERS, Port, read_counters

# What PST_FD_REG's errnos mean (stackmap-api §4), instead of the general REGISTER hints.
_ATTACH_HINTS = {
    errno.EINVAL: "not a connected TCP socket (a listening or UDP socket, fd 0-2, or a "
    "socket with kTLS or another ULP), or this port is not a stack port",
    errno.ENOMEM: "only fds up to 65535 can be attached",
    errno.EBUSY: "this socket is already attached to a stack port",
    errno.ENXIO: "the stack port is gone (its interface went away)",
}


class StackSyncPort(Protocol):
    """What :class:`StackPort` needs of a port: :class:`vnic.netmap.Port` or the fake one
    of :mod:`vnic.netmap.testing`."""

    name: PortName
    tx_rings: list[Ring]
    rx_rings: list[Ring]
    syncs_on_poll: bool
    txsyncs: int  # system calls made, for the figures
    rxsyncs: int

    def fileno(self) -> int: ...

    def txsync(self) -> None: ...

    def rxsync(self) -> None: ...

    def poll(self, timeout_ms: int = -1, rx: bool = True, tx: bool = False) -> bool: ...

    def control(
        self, reqtype: int, body: ctypes.Structure, *, hints: Mapping[int, str] | None = None
    ) -> None: ...

    def close(self) -> None: ...


@dataclass
class Scratchpad:
    """One :meth:`StackPort.receive`: the RX ring's new slots, grouped per connection.

    ``data[fd]`` is the connection's new bytes in stream order, as memoryviews of the RX
    buffers themselves (one per slot; nothing was copied); fds appear in the order their
    first slot did. ``eof`` lists the fds whose stream ended (FIN or RST) in this batch;
    their data, if any, comes before the end. The views are valid until the next
    :meth:`StackPort.receive` or :meth:`StackPort.poll` (which release them: using one after
    raises ValueError) or any other sync of the port: copy what you keep, ``bytes(view)``.
    """

    data: dict[int, list[memoryview]] = field(default_factory=dict)
    eof: list[int] = field(default_factory=list)
    slots: int = 0  # slots of the batch, end-of-stream slots included
    nbytes: int = 0  # data bytes of the batch

    def __bool__(self) -> bool:
        return self.slots > 0

    def joined(self, fd: int) -> bytes:
        """The new bytes of ``fd`` in one bytes object (a copy)."""
        return b"".join(self.data.get(fd, ()))


@dataclass(frozen=True)
class SendReport:
    """What one :meth:`StackPort.flush` (``send``, ``send_batch``) did."""

    slots: int  # TX slots filled by this call
    nbytes: int  # data bytes in them
    taken: int  # slots the kernel took in this sync: handed to TCP, or dropped and counted
    in_ring: int  # slots handed over but not yet taken: a send buffer was full (retried)
    queued: int  # bytes still waiting in Python: the ring had no free slot for them


class StackPort:
    """A stack port: attach connected TCP sockets, then move their data through one ring
    pair with one system call per batch (see the module's documentation).

    Open it with :meth:`StackPort.open` (or wrap a port: ``StackPort(port)``); close it with
    :meth:`close` or a ``with`` block. ``offset`` is the generic per-slot offset this program
    writes into its TX slots (default: the one REGISTER put into the slots), ``doff`` the
    data offset (default 0). Each TX slot carries up to ``room`` = buf_size - offset - doff
    data bytes. RX slots carry their own offset, which the kernel chose; it is read per slot.
    """

    def __init__(
        self,
        port: StackSyncPort,
        *,
        offset: int | None = None,
        doff: int = 0,
        proc: str = PROC_COUNTERS,
    ) -> None:
        if len(port.tx_rings) != 1 or len(port.rx_rings) != 1:
            raise OSError(
                errno.EPROTO,
                f"{port.name.text!r}: a stack port binds one TX and one RX ring, not "
                f"{len(port.tx_rings)} and {len(port.rx_rings)}",
            )
        self.tx, self.rx = port.tx_rings[0], port.rx_rings[0]
        for ring in (self.tx, self.rx):
            if ring.offset_mask != abi.NM_PST_OFFSET_MASK:
                raise OSError(
                    errno.EPROTO,
                    f"{port.name.text!r}: ring offset_mask is {ring.offset_mask:#x}, a stack "
                    f"port's is {abi.NM_PST_OFFSET_MASK:#x}: is this a stack port?",
                )
        if offset is None:  # REGISTER wrote the port's offset into every slot
            offset = self.tx.slot(self.tx.head).offset
        if not 0 <= offset <= abi.NM_PST_OFFSET_MASK or not 0 <= doff <= abi.NM_PST_DOFF_MAX:
            raise ValueError(f"offset {offset} or doff {doff} is outside 0..255 or 0..1023")
        self.room = min(self.tx.buf_size - offset, 0xFFFF) - doff
        if self.room <= 0:
            raise ValueError(f"offset {offset} + doff {doff} leave no room in a TX buffer")
        self.port = port
        self.offset, self.doff = offset, doff
        self.proc = proc
        self._queue: deque[tuple[int, memoryview]] = deque()  # (fd, at most room bytes)
        self._fresh = 0  # entries at the queue's end that may still be the caller's memory
        self._queued: dict[int, int] = {}  # fd -> bytes in _queue
        self._queued_bytes = 0
        self._views: list[memoryview] = []  # the last receive(), released by the next
        self.sent_slots = self.sent_bytes = 0  # what this program put into TX slots
        self.received_slots = self.received_bytes = 0

    @classmethod
    def open(
        cls,
        name: str = "stack:eth0",
        *,
        offset: int | None = None,
        max_offset: int | None = None,
        doff: int = 0,
        slots: int = 0,
    ) -> StackPort:
        """Bind the stack port ``name`` (``stack:IFNAME``) with REGISTER. With ``offset``
        (and ``max_offset``), option OFFSETS makes every slot's data area start that many
        bytes into its buffer (room to prepend a header in place); without, the offset is
        0. netmap.ko fixes the offset of its RX slots when the stack port is first created,
        so received data may start elsewhere: every RX slot says where. ``slots`` asks for a
        ring size (the kernel may keep its own: parameter ``stack_slots``, 1024)."""
        if not name.startswith(abi.NM_STACK_PREFIX):
            raise ValueError(f"{name!r}: a stack port's name starts with 'stack:'")
        options: list[ctypes.Structure] = []
        if offset is not None or max_offset is not None:
            opt = abi.NmreqOptOffsets()
            opt.nro_opt.nro_reqtype = abi.NETMAP_REQ_OPT_OFFSETS
            opt.nro_opt.nro_size = ctypes.sizeof(opt)
            opt.nro_initial_offset = offset or 0
            opt.nro_max_offset = max(offset or 0, max_offset or 0)
            opt.nro_offset_bits = 8  # bits 0-7 of ptr: the rest is fd and doff
            options.append(opt)
        port = Port.open(name, tx_slots=slots, rx_slots=slots, options=options)
        try:
            return cls(port, offset=offset, doff=doff)
        except BaseException:
            port.close()
            raise

    def __enter__(self) -> StackPort:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"<StackPort {self.name}: TX {self.tx.num_slots} slots, {self.backlog} B queued; "
            f"RX {self.rx.num_slots} slots>"
        )

    @property
    def name(self) -> str:
        """The port's name, e.g. ``stack:eth0``."""
        return self.port.name.text

    @property
    def syncs_on_poll(self) -> bool:
        """poll() on :meth:`fileno` syncs the rings: after it, ``receive(sync=False)``."""
        return self.port.syncs_on_poll

    def fileno(self) -> int:
        """The port's fd, for a program's own poll() beside its listening socket. A poll
        with POLLIN syncs the RX ring, which ends the last :class:`Scratchpad`'s validity."""
        return self.port.fileno()

    # --- control: sockets --------------------------------------------------------------------

    def attach(self, sock: socket.socket | int) -> int:
        """Attach a connected TCP socket (or its fd) to the port (PST_FD_REG) and return its
        fd: from now on its data arrives in the RX ring, data arrived before included, and
        it sends what TX slots with its fd carry. Keep the socket object open: closing it
        (or losing the last reference to it) detaches it. ``EINVAL``: not a connected TCP
        socket; ``ENOMEM``: fd > 65535; ``EBUSY``: already attached."""
        fd = sock if isinstance(sock, int) else sock.fileno()
        self.port.control(abi.NETMAP_REQ_PST_FD_REG, abi.NmreqPstFdReg(fd=fd), hints=_ATTACH_HINTS)
        return fd

    # --- TX: queue, fill, one sync -----------------------------------------------------------

    def queue(self, fd: int, data: BytesLike) -> int:
        """Queue ``data`` for socket ``fd``, cut into pieces of at most ``room`` bytes (one
        TX slot each; memoryview slices, no copy yet); returns the bytes queued. Nothing is
        sent before :meth:`flush`; data of one fd leaves in the order it was queued."""
        view = memoryview(data)
        if view.format != "B" or view.ndim != 1 or not view.c_contiguous:
            view = view.cast("B") if view.c_contiguous else memoryview(view.tobytes())
        if not 0 <= fd <= 0xFFFFFFFF:
            raise ValueError(f"fd {fd} cannot be named in slot.ptr")
        size, room = len(view), self.room
        if size == 0:
            return 0
        pieces = [(fd, view[i : i + room]) for i in range(0, size, room)]
        self._queue.extend(pieces)
        self._fresh += len(pieces)
        self._queued[fd] = self._queued.get(fd, 0) + size
        self._queued_bytes += size
        return size

    def flush(self) -> SendReport:
        """Fill free TX slots with queued pieces (one copy each, straight into the buffer
        TCP will send from), then one NIOCTXSYNC, also when only slots a full send buffer
        held back are waiting (to retry them). No system call when there is nothing to do.
        What did not fit stays queued and is copied out of the caller's memory first, so
        the caller may reuse its buffers (and the RX views may expire) once this returns."""
        tx, queue = self.tx, self._queue
        before = tx.tail
        filled = nbytes = 0
        count = min(len(queue), tx.space())
        if count:
            pieces = [queue.popleft() for _ in range(count)]
            try:
                filled = tx.fill_stack(pieces, doff=self.doff, offset=self.offset)
            except BaseException:
                queue.extendleft(reversed(pieces))  # never lose data, even on a bug
                raise
            for fd, view in pieces:
                size = len(view)
                nbytes += size
                left = self._queued[fd] - size
                if left:
                    self._queued[fd] = left
                else:
                    del self._queued[fd]
            self._queued_bytes -= nbytes
            self.sent_slots += filled
            self.sent_bytes += nbytes
        if filled or tx.tx_pending():
            self.port.txsync()
        self._own_leftovers()
        taken = (tx.tail - before) % tx.num_slots
        in_ring = (tx.head - tx.next(tx.tail)) % tx.num_slots
        return SendReport(filled, nbytes, taken, in_ring, self._queued_bytes)

    def send(self, fd: int, data: BytesLike) -> SendReport:
        """:meth:`queue` then :meth:`flush`: send ``data`` on ``fd`` with one sync."""
        self.queue(fd, data)
        return self.flush()

    def send_batch(self, items: Iterable[tuple[int, BytesLike]]) -> SendReport:
        """Queue every ``(fd, data)``, then :meth:`flush` once: the replies of many
        connections leave with one system call."""
        for fd, data in items:
            self.queue(fd, data)
        return self.flush()

    @property
    def backlog(self) -> int:
        """Bytes queued in Python, waiting for free TX slots."""
        return self._queued_bytes

    @property
    def stalled(self) -> bool:
        """TX slots were handed over but the kernel has not taken them (a send buffer was
        full): a later sync (:meth:`flush`, :meth:`poll`) must retry them."""
        return self.tx.tx_pending()

    def pending(self, fd: int) -> bool:
        """Data of ``fd`` is still queued in Python or waiting in the TX ring: close its
        socket only when this is False, or that data is dropped."""
        return fd in self._queued or (self.stalled and fd in self.tx.stack_fds_pending())

    def forget(self, fd: int) -> int:
        """Drop what is queued in Python for ``fd`` (its socket is gone); returns bytes."""
        dropped = self._queued.pop(fd, 0)
        if dropped:
            self._queue = deque(item for item in self._queue if item[0] != fd)
            self._queued_bytes -= dropped
            self._fresh = min(self._fresh, len(self._queue))
        return dropped

    # --- RX: one sync, the scratchpad ----------------------------------------------------------

    def receive(self, *, sync: bool = True) -> Scratchpad:
        """One batch: NIOCRXSYNC (unless ``sync=False``, right after a poll that did it),
        then the slots in [head, tail) grouped per fd (:class:`Scratchpad`), and head moved
        past them: the slots go back to the kernel, which refills them at the next sync. The
        last batch's views are released first."""
        self._own_leftovers()  # queued pieces of the last batch's views: copy them now
        self._release_views()
        if sync:
            self.port.rxsync()
        fds, views = self.rx.receive_stack()
        pad = Scratchpad(slots=len(fds))
        data, nbytes = pad.data, 0
        for fd, view in zip(fds, views, strict=True):
            if view:
                nbytes += len(view)
                pieces = data.get(fd)
                if pieces is None:
                    data[fd] = [view]
                else:
                    pieces.append(view)
            else:  # len == doff: end of stream
                pad.eof.append(fd)
        pad.nbytes = nbytes
        self._views = views
        self.received_slots += pad.slots
        self.received_bytes += nbytes
        return pad

    def poll(self, timeout_ms: int = -1, rx: bool = True, tx: bool = False) -> bool:
        """Wait for new RX data (and/or free TX slots with ``tx=True``); the kernel syncs
        the rings, so follow with ``receive(sync=False)``. Releases the last batch's views."""
        if rx:
            self._own_leftovers()
            self._release_views()
        return self.port.poll(timeout_ms, rx=rx, tx=tx)

    # --- counters, close -----------------------------------------------------------------------

    def counters(self) -> dict[str, int]:
        """netmap.ko's line for this port in ``/proc/net/netmap`` as numbers: attached
        sockets (``socks``), TX slots taken (``tx_slots``) and how (``tx_zerocopy``,
        ``tx_copied``, ``tx_dropped``), syncs stopped by a full send buffer (``tx_eagain``)
        or by want of a fresh buffer (``tx_no_spare``), buffers TCP still holds (``held``)
        and has given back (``completions``), RX slots, bytes and ends of stream. Keys the
        kernel adds later are kept (:func:`vnic.netmap.port.parse_counters`); ``attached``
        counts every PST_FD_REG that succeeded."""
        key = f"stack {self.name}"
        counters = read_counters(self.proc)
        if key not in counters:
            raise LookupError(f"{self.proc} has no line {key!r} (is the port still open?)")
        return counters[key]

    def close(self) -> None:
        """Release the last batch's views, then close the port (attached sockets stay
        open: they are the program's)."""
        self._release_views()
        self.port.close()

    # --- internals -----------------------------------------------------------------------------

    def _release_views(self) -> None:
        for view in self._views:
            view.release()
        self._views = []

    def _own_leftovers(self) -> None:
        """Copy queued pieces that still point into memory the caller may change (its
        bytearray, an RX buffer) into bytes of our own; only the entries queued since the
        last flush can be such, and they are at the queue's end."""
        queue = self._queue
        for k in range(max(0, len(queue) - self._fresh), len(queue)):
            fd, view = queue[k]
            if type(view.obj) is not bytes:
                queue[k] = (fd, memoryview(view.tobytes()))
        self._fresh = 0


# --- what a stack-port server needs besides the port ---------------------------------------------


def listen(port: int, host: str = "0.0.0.0") -> socket.socket:
    """A listening TCP socket, as exercise 01's server makes it (port 0: a free one)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(256)
    return listener


def lab_interface(driver: str = "vnic") -> str:
    """The first network interface run by ``driver`` (the lab's vNIC), from sysfs: its
    stack port is ``"stack:" + lab_interface()``."""
    for dev in sorted(Path("/sys/class/net").iterdir()):
        link = dev / "device" / "driver"
        if link.is_symlink() and os.path.basename(os.readlink(link)) == driver:
            return dev.name
    raise LookupError(f"no network interface is run by {driver}.ko: name the stack port")
