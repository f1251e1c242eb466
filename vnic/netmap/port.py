"""A netmap port: open /dev/netmap, REGISTER, mmap, sync, poll, close (spec §2, §3, §6).

This is the only file of the package that makes system calls. Each one is a single line
you can find in the spec: ``NIOCCTRL`` with a REGISTER body, ``mmap`` of ``nr_memsize``
bytes, ``NIOCTXSYNC``/``NIOCRXSYNC``, ``poll``. What comes back from the kernel is read
through :mod:`vnic.netmap.memory`, the same code the unit tests run over a bytearray.
netmap.ko's counters, ``/proc/net/netmap``, are parsed here too (:func:`parse_counters`).
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import mmap
import os
import select
import warnings
from collections.abc import Mapping, Sequence

from vnic.netmap import abi
from vnic.netmap.memory import Interface, Ring
from vnic.netmap.names import PortName, parse_port_name

# Why a request may fail, in the words of the spec, added to the kernel's errno.
_HINTS = {
    errno.ENOENT: "no such interface (or it has no netmap support)",
    errno.ENXIO: "no such interface, or the fd is not bound to a port",
    errno.EBUSY: "the port or its rings are in use (another program, /x, or a kernel user)",
    errno.EINVAL: "the kernel refused the request (mode, ring number, memory id or version)",
    errno.EIO: "the port needs virtio-net headers, or its rings are stopped",
    errno.ENOMEM: "the kernel could not allocate the rings or buffers",
    errno.ENOTTY: "this fd is not /dev/netmap, or the module does not know the ioctl",
    errno.EOPNOTSUPP: "not part of ringlab's netmap: VALE, pipes, monitors, request "
    "options (but OFFSETS on a stack port), or an interface without a native adapter",
}

PROC_COUNTERS = "/proc/net/netmap"


def _error(exc: OSError, what: str, hints: Mapping[int, str] | None = None) -> OSError:
    """The kernel's errno with a message that names the request that failed; ``hints``
    (errno -> why) replace the general ones for a request whose errors mean other things."""
    code = exc.errno or errno.EIO
    hint = (hints or {}).get(code) or _HINTS.get(code)
    message = f"netmap: {what} failed: {os.strerror(code)}" + (f" ({hint})" if hint else "")
    return OSError(code, message)


def _open_device() -> int:
    try:
        return os.open(abi.NETMAP_DEVICE, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        raise FileNotFoundError(
            errno.ENOENT, f"netmap: {abi.NETMAP_DEVICE} does not exist (is netmap.ko loaded?)"
        ) from None
    except OSError as exc:
        raise _error(exc, f"open {abi.NETMAP_DEVICE}") from None


def _control(
    fd: int,
    reqtype: int,
    name: str,
    body: ctypes.Structure,
    *,
    options: Sequence[ctypes.Structure] = (),
    hints: Mapping[int, str] | None = None,
) -> None:
    """One NIOCCTRL: a header naming the port and the request, pointing at ``body``. The
    kernel reads and writes ``body`` in place through the pointer (spec §3.1). ``options``
    (structures that start with an :class:`abi.NmreqOption`, e.g. ``NmreqOptOffsets``) are
    chained through ``nro_next``; one the kernel refused raises OSError naming it."""
    heads = [abi.NmreqOption.from_buffer(option) for option in options]
    for head, following in zip(heads, options[1:], strict=False):
        head.nro_next = ctypes.addressof(following)
    if heads:
        heads[-1].nro_next = 0  # the end of the list
    hdr = abi.NmreqHeader()
    hdr.nr_version = abi.NETMAP_API
    hdr.nr_reqtype = reqtype
    hdr.nr_name = name.encode()
    hdr.nr_options = ctypes.addressof(options[0]) if options else 0
    hdr.nr_body = ctypes.addressof(body)
    what = f"NIOCCTRL {abi.REQUEST_NAMES.get(reqtype, reqtype)} of {name or 'no port'!r}"
    try:
        fcntl.ioctl(fd, abi.NIOCCTRL, hdr)
    except OSError as exc:
        refused = [h for h in heads if h.nro_status != 0]
        if refused:
            what += " (refused: " + ", ".join(_option_status(h) for h in refused) + ")"
        raise _error(exc, what, hints) from None
    refused = [h for h in heads if h.nro_status != 0]
    if refused:
        raise OSError(
            refused[0].nro_status,
            f"netmap: {what}: the kernel refused {', '.join(map(_option_status, refused))}",
        )


def _option_status(head: abi.NmreqOption) -> str:
    name = abi.OPTION_NAMES.get(head.nro_reqtype, str(head.nro_reqtype))
    return f"option {name}: {os.strerror(head.nro_status)}"


class Port:
    """A port bound to this process: its rings are in ``tx_rings`` and ``rx_rings``.

    Open it with :meth:`Port.open`; close it with :meth:`close` or a ``with`` block. The
    kernel releases the port when the fd and the mapping are gone.
    """

    #: poll() on the fd syncs the bound rings (RX with POLLIN; TX always), so a program
    #: that polled need not sync again before it reads the rings (spec §6).
    syncs_on_poll = True

    def __init__(self, name: PortName, fd: int, reg: abi.NmreqRegister) -> None:
        self.name = name
        self.reg = reg  # REGISTER as the kernel answered: geometry, nr_mem_id, nr_memsize
        self._fd = fd
        self._mapping = mmap.mmap(
            fd, reg.nr_memsize, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ | mmap.PROT_WRITE
        )
        self._region = memoryview(self._mapping)
        try:
            self.interface = Interface(self._region, reg.nr_offset, mem_id=reg.nr_mem_id)
        except ValueError as exc:  # a netmap_if we cannot trust: say so, unmap
            self._region.release()
            self._mapping.close()
            raise OSError(errno.EPROTO, f"netmap: {name.text!r}: {exc}") from None
        self.tx_rings: list[Ring] = self.interface.tx_rings
        self.rx_rings: list[Ring] = self.interface.rx_rings
        self._poller = select.poll()
        self._poll_events = 0
        self.txsyncs = self.rxsyncs = self.polls = 0  # system calls made, for the figures

    @classmethod
    def open(
        cls,
        name: str,
        *,
        extra_buffers: int = 0,
        tx_slots: int = 0,
        rx_slots: int = 0,
        flags: int = 0,
        options: Sequence[ctypes.Structure] = (),
    ) -> Port:
        """Bind the port ``name`` (e.g. ``netmap:eth0``, ``netmap:eth0-1/T``, see
        :mod:`vnic.netmap.names`). ``extra_buffers`` asks for buffers outside the rings
        (``reg.nr_extra_bufs`` says how many were granted); ``tx_slots``/``rx_slots`` ask
        for a ring size the kernel may ignore; ``flags`` adds NR_* bits to the name's;
        ``options`` go with REGISTER (a stack port takes ``abi.NmreqOptOffsets``)."""
        spec = parse_port_name(name)
        reg = abi.NmreqRegister()
        reg.nr_mode = spec.mode
        reg.nr_ringid = spec.ring_id
        reg.nr_flags = spec.flags | flags
        reg.nr_mem_id = spec.mem_id
        reg.nr_extra_bufs = extra_buffers
        reg.nr_tx_slots, reg.nr_rx_slots = tx_slots, rx_slots
        fd = _open_device()
        try:
            _control(fd, abi.NETMAP_REQ_REGISTER, spec.kernel_name, reg, options=options)
            if reg.nr_memsize == 0 or reg.nr_offset >= reg.nr_memsize:
                raise OSError(
                    errno.EPROTO,
                    f"netmap: REGISTER of {spec.kernel_name!r} returned nr_offset "
                    f"{reg.nr_offset} and nr_memsize {reg.nr_memsize}",
                )
            return cls(spec, fd, reg)
        except BaseException:
            os.close(fd)
            raise

    def __enter__(self) -> Port:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._fd < 0 else f"fd {self._fd}"
        return (
            f"<Port {self.name.text} ({self.name.mode_name}, {state}): "
            f"{len(self.tx_rings)} TX, {len(self.rx_rings)} RX rings bound>"
        )

    def fileno(self) -> int:
        """The fd, for select/poll/selectors in a program's own event loop."""
        return self._fd

    def control(
        self, reqtype: int, body: ctypes.Structure, *, hints: Mapping[int, str] | None = None
    ) -> None:
        """A NIOCCTRL request about this port, on its own fd (e.g. PST_FD_REG, which
        attaches a socket to a stack port); ``hints`` explain the request's errnos."""
        _control(self._fd, reqtype, self.name.kernel_name, body, hints=hints)

    def txsync(self) -> None:
        """NIOCTXSYNC: send the slots before head on every bound TX ring, reclaim sent
        ones, update tail. One call per batch, not per frame: it is the doorbell."""
        self.txsyncs += 1
        try:
            fcntl.ioctl(self._fd, abi.NIOCTXSYNC)
        except OSError as exc:
            raise _error(exc, f"NIOCTXSYNC on {self.name.text!r}") from None

    def rxsync(self) -> None:
        """NIOCRXSYNC: return the slots before head on every bound RX ring, expose newly
        received frames up to tail."""
        self.rxsyncs += 1
        try:
            fcntl.ioctl(self._fd, abi.NIOCRXSYNC)
        except OSError as exc:
            raise _error(exc, f"NIOCRXSYNC on {self.name.text!r}") from None

    def poll(self, timeout_ms: int = -1, rx: bool = True, tx: bool = False) -> bool:
        """Wait until a bound ring of a requested direction has ``cur != tail`` (RX: frames
        beyond cur; TX: free slots beyond cur), or ``timeout_ms`` passes (-1: forever).
        The kernel syncs the rings as part of poll, so no txsync/rxsync is needed around
        it. Returns False on timeout. POLLERR (the kernel reset a ring whose head or cur
        was invalid, spec §6.5) raises OSError."""
        events = (select.POLLIN if rx else 0) | (select.POLLOUT if tx else 0)
        if events != self._poll_events:
            self._poller.register(self._fd, events)  # re-registering only changes the mask
            self._poll_events = events
        self.polls += 1
        try:
            ready = self._poller.poll(timeout_ms)
        except OSError as exc:
            raise _error(exc, f"poll on {self.name.text!r}") from None
        revents = ready[0][1] if ready else 0
        if revents & (select.POLLERR | select.POLLNVAL):
            raise OSError(
                errno.EIO,
                f"netmap: poll on {self.name.text!r} returned POLLERR: a ring's head or cur "
                "was invalid and the kernel reset it, or the fd is not bound",
            )
        return bool(revents & events)

    def close(self) -> None:
        """Unmap and close. A buffer view (``ring.buffer(i)``) still alive keeps the mapping,
        and so the port, until it is dropped; a warning says so."""
        if self._fd < 0:
            return
        self.interface._detach()
        self._region.release()
        try:
            self._mapping.close()
        except BufferError:
            warnings.warn(
                f"netmap: views of {self.name.text!r}'s memory are still alive; the mapping "
                "and the port are released when the last one is dropped",
                RuntimeWarning,
                stacklevel=2,
            )
        os.close(self._fd)
        self._fd = -1


def port_info(name: str) -> abi.NmreqPortInfoGet:
    """PORT_INFO_GET: a port's ring and slot counts and memory size, without binding it."""
    spec = parse_port_name(name)
    info = abi.NmreqPortInfoGet()
    info.nr_mem_id = spec.mem_id
    fd = _open_device()
    try:
        _control(fd, abi.NETMAP_REQ_PORT_INFO_GET, spec.kernel_name, info)
    finally:
        os.close(fd)
    return info


def pools_info(name: str | None = None, mem_id: int = 0) -> abi.NmreqPoolsInfo:
    """POOLS_INFO_GET: offsets, object counts and sizes of the three pools of the memory
    region used by port ``name`` (or of allocator ``mem_id`` when no name is given)."""
    kernel_name = parse_port_name(name).kernel_name if name else ""
    pools = abi.NmreqPoolsInfo()
    pools.nr_mem_id = mem_id
    fd = _open_device()
    try:
        _control(fd, abi.NETMAP_REQ_POOLS_INFO_GET, kernel_name, pools)
    finally:
        os.close(fd)
    return pools


def parse_counters(text: str) -> dict[str, dict[str, int]]:
    """netmap.ko's ``/proc/net/netmap``: every line is a name of one or more words, then
    ``key=value`` pairs; returns ``{name: {key: value}}``, e.g. ``["port eth0"]["txslots"]``,
    ``["ring eth0 tx0"]["hwcur"]``, ``["stack stack:eth0"]["socks"]``, ``["region"]``.
    Keys this code has never heard of are kept; values that are not integers are left out."""
    counters: dict[str, dict[str, int]] = {}
    for line in text.splitlines():
        words = line.split()
        name = " ".join(w for w in words if "=" not in w)
        if not words or not name:
            continue
        values = counters.setdefault(name, {})
        for key, _, value in (w.partition("=") for w in words if "=" in w):
            try:
                values[key] = int(value, 10)
            except ValueError:
                continue
    return counters


def read_counters(path: str = PROC_COUNTERS) -> dict[str, dict[str, int]]:
    """:func:`parse_counters` of the file (in a guest with netmap.ko loaded)."""
    with open(path) as f:
        return parse_counters(f.read())
