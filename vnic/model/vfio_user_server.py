"""vfio-user server for one vNIC: the socket QEMU's `vfio-user-pci` device talks to.

This file is transport only: it answers the messages `vfio_user.py` defines (the protocol:
constants, payload structs, fd passing, `Connection`). Every message ends in a one-line call
into the device model (`read_register`, `write_register`, `reset`) or the PCI face (`pci.py`);
the model never sees a socket. Facts about the client are in specs/vfio-user.md; the ones
that shape this code:

* Messages arrive whole, with their fds, through `vfio_user.Connection` (framing: see there).
* A reply may not be larger than the request (QEMU's receive buffer is the request's size),
  hence the short, NUL-terminated VERSION reply.
* Memory-BAR writes are posted (flag 0x10) and never answered; no region advertises MMAP,
  because that makes QEMU stop posting writes for the whole device.
* Bad input gets an error reply, or the connection is closed when the stream cannot be trusted
  any more (size lies). The process never dies; a disconnect resets the device, drops the DMA
  maps and waits for the next QEMU.

Interrupts: the model calls `signal_vector(v)`. With MSI-X enabled in config space the vector
fires through its eventfd if unmasked, else its PBA bit is set and it fires on unmask. With
MSI, the MSI eventfd. Otherwise INTx: after every access the line is recomputed from
`device.intx_level`; a rising line signals the INTx eventfd once and counts as masked until
QEMU sends UNMASK (it does when the guest touches a BAR), then we signal again if still high.

Bus mastering: after every config write and every config reset the device is told the
command register's bus-master bit (`set_bus_master`); it does no DMA while the bit is clear.

QEMU emulates the MSI-X table itself and never forwards table writes; it tells us a vector is
live by handing us its eventfd. So assigning an eventfd unmasks that vector in our copy of
the table and removing it masks it; SET_IRQS MASK/UNMASK and direct BAR4 writes (from other
clients, or tests) act on the same bits.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import mmap
import os
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from vnic.model.loop import EventLoop
from vnic.model.pci import BAR_MSIX, BAR_REGS, CONFIG_SIZE, IrqMode, PciFunction
from vnic.model.vfio_user import (
    COMMAND_NAMES,
    DEVICE_FLAGS_PCI,
    DEVICE_FLAGS_RESET,
    DEVICE_GET_INFO,
    DEVICE_GET_IRQ_INFO,
    DEVICE_GET_REGION_INFO,
    DEVICE_RESET,
    DEVICE_SET_IRQS,
    DMA_MAP,
    DMA_MAP_FLAG_WRITE,
    DMA_MAP_STRUCT,
    DMA_UNMAP,
    DMA_UNMAP_FLAG_ALL,
    DMA_UNMAP_STRUCT,
    FLAG_ERROR,
    FLAG_NO_REPLY,
    FLAG_TYPE_MASK,
    HEADER,
    HEADER_SIZE,
    IRQ_ERR,
    IRQ_INFO,
    IRQ_INFO_AUTOMASKED,
    IRQ_INFO_EVENTFD,
    IRQ_INFO_MASKABLE,
    IRQ_INFO_NORESIZE,
    IRQ_INTX,
    IRQ_MSI,
    IRQ_MSIX,
    IRQ_SET,
    IRQ_SET_ACTION_MASK,
    IRQ_SET_ACTION_MASK_ALL,
    IRQ_SET_ACTION_TRIGGER,
    IRQ_SET_DATA_BOOL,
    IRQ_SET_DATA_EVENTFD,
    IRQ_SET_DATA_MASK,
    IRQ_SET_DATA_NONE,
    NUM_IRQS,
    NUM_REGIONS,
    REGION_BAR0,
    REGION_BAR4,
    REGION_CONFIG,
    REGION_INFO,
    REGION_INFO_FLAG_READ,
    REGION_INFO_FLAG_WRITE,
    REGION_READ,
    REGION_RW,
    REGION_WRITE,
    REGION_WRITE_MULTI,
    TYPE_REPLY,
    TYPE_REQUEST,
    VERSION,
    WRITE_MULTI_DATA,
    WRITE_MULTI_ENTRY,
    Connection,
    close_fds,
)

log = logging.getLogger(__name__)

# Limits we enforce on the client.
MAX_MSG_FDS = 16  # fds in one message, as the VERSION reply advertises
MESSAGES_PER_WAKEUP = 512  # then let the loop service devices and other sockets

VERSION_CAPS = {"capabilities": {"max_msg_fds": MAX_MSG_FDS, "write_multiple": True}}


class VfioUserError(Exception):
    """Answer the current request with this errno."""

    def __init__(self, err: int, why: str = "") -> None:
        super().__init__(why or os.strerror(err))
        self.errno = err


class Memory(Protocol):
    def map(self, iova: int, size: int, buffer: Any, writable: bool) -> None: ...

    def unmap(self, iova: int, size: int) -> None: ...

    def unmap_all(self) -> None: ...


class Device(Protocol):
    signal_vector: Callable[[int], object]

    @property
    def intx_level(self) -> bool: ...

    def read_register(self, offset: int, size: int) -> int: ...

    def write_register(self, offset: int, size: int, value: int) -> None: ...

    def set_bus_master(self, on: bool) -> None: ...

    def reset(self) -> None: ...


@dataclass
class DmaRegion:
    iova: int
    size: int
    writable: bool
    mapping: mmap.mmap | None  # None: no fd (ROM/BIOS range), nothing we can touch


@dataclass
class TransportCounters:
    """What the transport saw; the device model counts its own events."""

    connects: int = 0
    disconnects: int = 0
    messages: int = 0
    replies: int = 0
    error_replies: int = 0
    posted_writes: int = 0
    posted_write_errors: int = 0
    region_reads: int = 0
    region_writes: int = 0
    config_reads: int = 0
    config_writes: int = 0
    dma_maps: int = 0
    dma_unmaps: int = 0
    resets: int = 0
    bad_messages: int = 0
    irq_msix: int = 0
    irq_msi: int = 0
    irq_intx: int = 0
    irq_pending: int = 0
    irq_lost: int = 0
    by_command: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, int]:
        out = {k: v for k, v in self.__dict__.items() if isinstance(v, int)}
        out.update({f"cmd_{k}": v for k, v in self.by_command.items()})
        return out


def _eventfd_signal(fd: int) -> bool:
    try:
        os.eventfd_write(fd, 1)
        return True
    except OSError:
        # Not an eventfd, or its counter is saturated: the interrupt is lost, not fatal.
        return False


class VfioUserServer:
    """Serves `device` on a listening unix socket at `path`, one client at a time."""

    def __init__(
        self,
        path: str,
        device: Device,
        memory: Memory,
        pci: PciFunction,
        loop: EventLoop,
        *,
        name: str = "vnic",
        on_activity: Callable[[], None] | None = None,
    ) -> None:
        self.path = path
        self.device = device
        self.memory = memory
        self.pci = pci
        self.loop = loop
        self.name = name
        # Called after each batch of messages: the fabric uses it to wake the device's
        # service slice (a doorbell only records work, see loop.py).
        self.on_activity = on_activity
        self.counters = TransportCounters()
        self.conn: Connection | None = None
        self.dma: dict[int, DmaRegion] = {}
        self.irq_fds: dict[int, dict[int, int]] = {i: {} for i in range(NUM_IRQS)}
        self.intx_masked = False
        device.signal_vector = self._signal
        self._sync_bus_master()  # config space starts with bus mastering off
        self._handlers: dict[int, Callable[[int, bytes, list[int]], bytes | None]] = {
            VERSION: self._version,
            DMA_MAP: self._dma_map,
            DMA_UNMAP: self._dma_unmap,
            DEVICE_GET_INFO: self._get_info,
            DEVICE_GET_REGION_INFO: self._region_info,
            DEVICE_GET_IRQ_INFO: self._irq_info,
            DEVICE_SET_IRQS: self._set_irqs,
            REGION_READ: self._region_read,
            REGION_WRITE: self._region_write,
            DEVICE_RESET: self._device_reset,
            REGION_WRITE_MULTI: self._write_multi,
        }
        self.listener = loop.listen(path, self._accept, backlog=4)

    # -- connection life cycle -------------------------------------------------------------

    def _accept(self, sock: socket.socket) -> None:
        if self.conn is not None:
            # One PCI function, one VMM: a second client would see half-programmed rings.
            log.warning("%s: refusing a second client while one is connected", self.name)
            sock.close()
            return
        self.counters.connects += 1
        self.conn = Connection(sock)
        self.loop.add_reader(sock, self._readable)
        log.info("%s: client connected", self.name)

    def disconnect(self) -> None:
        """Drop the client and return to power-on state, ready for a restarted QEMU."""
        conn = self.conn
        if conn is None:
            return
        self.counters.disconnects += 1
        self.loop.remove_reader(conn.sock)
        self.loop.remove_writer(conn.sock)
        conn.close()
        for fds in self.irq_fds.values():
            close_fds(list(fds.values()))
            fds.clear()
        self._safe_device_reset()
        self.pci.reset()
        self._sync_bus_master()
        self.intx_masked = False
        self._drop_dma_all()
        self.conn = None  # last: from now on a new client may connect
        log.info("%s: client disconnected; device reset", self.name)

    def close(self) -> None:
        self.disconnect()
        self.loop.remove_reader(self.listener)
        self.listener.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def _sync_bus_master(self) -> None:
        """Tell the device the command register's bus-master bit (it may DMA only then)."""
        self.device.set_bus_master(self.pci.bus_master)

    def _safe_device_reset(self) -> None:
        try:
            self.device.reset()
        except Exception:
            log.exception("%s: device reset failed", self.name)

    # -- message pump ----------------------------------------------------------------------

    def _readable(self) -> None:
        conn = self.conn
        if conn is None:
            return
        try:
            for _ in range(MESSAGES_PER_WAKEUP):
                msg = conn.read_message()
                if msg is None:
                    break
                self.handle(conn, *msg)
                if conn.closed:
                    break
        except ConnectionError as exc:
            log.info("%s: %s", self.name, exc)
            if not isinstance(exc, EOFError):
                self.counters.bad_messages += 1
            self.disconnect()
            return
        except OSError as exc:
            log.warning("%s: socket error %s", self.name, exc)
            self.disconnect()
            return
        if conn.closed:
            self.disconnect()
            return
        if conn.outbuf:
            self.loop.add_writer(conn.sock, self._writable)
        self._update_intx()
        if self.on_activity is not None:
            self.on_activity()

    def _writable(self) -> None:
        conn = self.conn
        if conn is None:
            return
        try:
            if conn.flush():
                self.loop.remove_writer(conn.sock)
        except OSError:
            self.disconnect()

    def handle(
        self,
        conn: Connection,
        hdr: tuple[int, int, int, int, int],
        payload: bytes,
        fds: list[int],
        fds_truncated: bool,
    ) -> None:
        """Run one message and send its reply (unless posted). Owns `fds`: whatever a handler
        does not keep is closed here."""
        msg_id, command, _size, flags, _err = hdr
        self.counters.messages += 1
        name = COMMAND_NAMES.get(command, f"unknown_{command}")
        self.counters.by_command[name] = self.counters.by_command.get(name, 0) + 1
        kind = flags & FLAG_TYPE_MASK
        if kind == TYPE_REPLY:
            # We never send requests (guest RAM is shared, no DMA_READ/WRITE), so a reply is
            # stray: ignore it rather than answer an answer.
            self.counters.bad_messages += 1
            close_fds(fds)
            return
        no_reply = bool(flags & FLAG_NO_REPLY)
        reply: bytes | None = None
        err = 0
        try:
            if kind != TYPE_REQUEST:
                raise VfioUserError(errno.EINVAL, "unknown message type")
            if fds_truncated or len(fds) > MAX_MSG_FDS:
                raise VfioUserError(errno.EINVAL, "too many file descriptors")
            handler = self._handlers.get(command)
            if handler is None:
                raise VfioUserError(errno.ENOSYS, f"unsupported command {command}")
            reply = handler(flags, payload, fds)
        except VfioUserError as exc:
            err = exc.errno
            log.debug("%s: %s failed: %s", self.name, name, exc)
        except Exception:
            # A bug in the model must not kill the fabric: answer EIO and keep serving.
            err = errno.EIO
            log.exception("%s: %s raised", self.name, name)
        finally:
            close_fds(fds)  # handlers that keep an fd take it out of the list
        if no_reply:
            if err:
                self.counters.posted_write_errors += 1
            return
        if err:
            self.counters.error_replies += 1
            conn.send(HEADER.pack(msg_id, command, HEADER_SIZE, TYPE_REPLY | FLAG_ERROR, err))
        else:
            body = reply or b""
            self.counters.replies += 1
            conn.send(HEADER.pack(msg_id, command, HEADER_SIZE + len(body), TYPE_REPLY, 0) + body)

    # -- handlers: negotiation and discovery -------------------------------------------------

    def _version(self, flags: int, payload: bytes, fds: list[int]) -> bytes:
        if len(payload) < 4:
            raise VfioUserError(errno.EINVAL, "short VERSION")
        major, _minor = struct.unpack_from("<HH", payload)
        if major != 0:
            raise VfioUserError(errno.ENOTSUP, f"protocol major {major}")
        # QEMU's buffer for the reply is its own request: our JSON must be shorter than its.
        room = len(payload) - 4
        choices: tuple[dict[str, Any], ...] = (VERSION_CAPS, {"capabilities": {}}, {})
        for caps in choices:
            text = json.dumps(caps, separators=(",", ":")).encode() + b"\0"
            if len(text) <= room:
                break
        else:
            raise VfioUserError(errno.EINVAL, "VERSION request too short for any reply")
        return struct.pack("<HH", 0, 0) + text

    def _get_info(self, flags: int, payload: bytes, fds: list[int]) -> bytes:
        if len(payload) < 16:
            raise VfioUserError(errno.EINVAL, "short GET_INFO")
        flags_out = DEVICE_FLAGS_RESET | DEVICE_FLAGS_PCI
        return struct.pack("<IIII", 16, flags_out, NUM_REGIONS, NUM_IRQS)

    def region_size(self, index: int) -> int:
        if index == REGION_BAR0:
            return self.pci.bar_sizes[BAR_REGS]
        if index == REGION_BAR4:
            return self.pci.bar_sizes[BAR_MSIX]
        if index == REGION_CONFIG:
            return CONFIG_SIZE
        return 0

    def _region_info(self, flags: int, payload: bytes, fds: list[int]) -> bytes:
        if len(payload) < REGION_INFO.size:
            raise VfioUserError(errno.EINVAL, "short REGION_INFO")
        argsz, _flags, index, _cap, _size, _off = REGION_INFO.unpack_from(payload)
        if argsz < REGION_INFO.size:
            raise VfioUserError(errno.EINVAL, "argsz too small")
        if index >= NUM_REGIONS:
            raise VfioUserError(errno.EINVAL, f"no region {index}")
        size = self.region_size(index)
        rflags = REGION_INFO_FLAG_READ | REGION_INFO_FLAG_WRITE if size else 0
        # Never MMAP (see module docstring), so no capabilities, no fd, offset unused.
        return REGION_INFO.pack(REGION_INFO.size, rflags, index, 0, size, 0)

    def _irq_info(self, flags: int, payload: bytes, fds: list[int]) -> bytes:
        if len(payload) < IRQ_INFO.size:
            raise VfioUserError(errno.EINVAL, "short IRQ_INFO")
        _argsz, _flags, index, _count = IRQ_INFO.unpack_from(payload)
        if index >= NUM_IRQS:
            raise VfioUserError(errno.EINVAL, f"no irq index {index}")
        count, iflags = self.irq_count(index), IRQ_INFO_EVENTFD
        if index == IRQ_INTX:
            iflags |= IRQ_INFO_MASKABLE | IRQ_INFO_AUTOMASKED
        elif index in (IRQ_MSI, IRQ_MSIX):
            iflags |= IRQ_INFO_NORESIZE | (IRQ_INFO_MASKABLE if index == IRQ_MSIX else 0)
        return IRQ_INFO.pack(IRQ_INFO.size, iflags, index, count)

    def irq_count(self, index: int) -> int:
        return {IRQ_INTX: 1, IRQ_MSI: 1, IRQ_MSIX: self.pci.msix.vectors, IRQ_ERR: 1}.get(index, 0)

    # -- handlers: DMA ---------------------------------------------------------------------

    def _dma_map(self, flags: int, payload: bytes, fds: list[int]) -> bytes:
        if len(payload) < DMA_MAP_STRUCT.size:
            raise VfioUserError(errno.EINVAL, "short DMA_MAP")
        _argsz, mflags, offset, iova, size = DMA_MAP_STRUCT.unpack_from(payload)
        if size == 0 or iova + size > 1 << 64 or len(fds) > 1:
            raise VfioUserError(errno.EINVAL, "bad DMA_MAP")
        writable = bool(mflags & DMA_MAP_FLAG_WRITE)
        if any(r.iova < iova + size and iova < r.iova + r.size for r in self.dma.values()):
            raise VfioUserError(errno.EEXIST, "DMA range overlaps a mapped one")
        mapping = None
        buffer: Any = None
        if fds:
            # mmap wants a page-aligned file offset: map from the page start and slice.
            page = mmap.ALLOCATIONGRANULARITY
            skew = offset % page
            prot = mmap.PROT_READ | (mmap.PROT_WRITE if writable else 0)
            try:
                mapping = mmap.mmap(
                    fds[0], size + skew, flags=mmap.MAP_SHARED, prot=prot, offset=offset - skew
                )
            except (OSError, ValueError, OverflowError) as exc:
                raise VfioUserError(errno.EINVAL, f"cannot mmap DMA fd: {exc}") from None
            buffer = memoryview(mapping)[skew : skew + size] if skew else mapping
        region = DmaRegion(iova, size, writable, mapping)
        if buffer is not None:
            try:
                self.memory.map(iova, size, buffer, writable)
            except Exception as exc:
                if isinstance(buffer, memoryview):
                    buffer.release()
                if mapping is not None:
                    mapping.close()
                raise VfioUserError(errno.EINVAL, f"memory.map refused: {exc}") from None
        # Without an fd (ROM/BIOS ranges) the range is recorded but not reachable: DMA there
        # fails in the model exactly like DMA to an unmapped address.
        self.dma[iova] = region
        self.counters.dma_maps += 1
        return b""

    def _dma_unmap(self, flags: int, payload: bytes, fds: list[int]) -> bytes:
        if len(payload) < DMA_UNMAP_STRUCT.size:
            raise VfioUserError(errno.EINVAL, "short DMA_UNMAP")
        _argsz, uflags, iova, size = DMA_UNMAP_STRUCT.unpack_from(payload)
        self.counters.dma_unmaps += 1
        if uflags & DMA_UNMAP_FLAG_ALL:
            self._drop_dma_all()
            return b""
        doomed = [r for r in self.dma.values() if iova <= r.iova and r.iova + r.size <= iova + size]
        if not doomed:
            raise VfioUserError(errno.EINVAL, "no DMA mapping in that range")
        for region in doomed:
            del self.dma[region.iova]
            if region.mapping is not None:
                try:
                    self.memory.unmap(region.iova, region.size)
                except Exception:
                    log.exception("%s: memory.unmap", self.name)
                self._close_mapping(region)
        return b""

    def _drop_dma_all(self) -> None:
        try:
            self.memory.unmap_all()
        except Exception:
            log.exception("%s: memory.unmap_all", self.name)
        for region in self.dma.values():
            self._close_mapping(region)
        self.dma.clear()

    @staticmethod
    def _close_mapping(region: DmaRegion) -> None:
        if region.mapping is None:
            return
        # BufferError: a view of it is still alive somewhere; the mapping goes when it does.
        with contextlib.suppress(BufferError):
            region.mapping.close()

    # -- handlers: regions -----------------------------------------------------------------

    def _check_access(self, region: int, offset: int, count: int) -> None:
        size = self.region_size(region)
        if size == 0:
            raise VfioUserError(errno.EINVAL, f"region {region} not implemented")
        if count == 0 or offset + count > size:
            raise VfioUserError(errno.EINVAL, "access outside the region")
        if region != REGION_CONFIG and count not in (1, 2, 4, 8):
            raise VfioUserError(errno.EINVAL, f"BAR access of {count} bytes")

    def read_region(self, region: int, offset: int, count: int) -> bytes:
        self._check_access(region, offset, count)
        if region == REGION_CONFIG:
            self.counters.config_reads += 1
            self.pci.intx_status = self._intx_level()
            return self.pci.config_read(offset, count)
        if region == REGION_BAR4:
            return self.pci.msix.read(offset, count)
        self.counters.region_reads += 1
        value = self.device.read_register(offset, count)
        return (value & ((1 << (8 * count)) - 1)).to_bytes(count, "little")

    def write_region(self, region: int, offset: int, data: bytes) -> None:
        count = len(data)
        self._check_access(region, offset, count)
        if region == REGION_CONFIG:
            self.counters.config_writes += 1
            self.pci.config_write(offset, data)
            self._sync_bus_master()
            self._deliver_pending()
            return
        if region == REGION_BAR4:
            self.pci.msix.write(offset, data)
            self._deliver_pending()
            return
        self.counters.region_writes += 1
        self.device.write_register(offset, count, int.from_bytes(data, "little"))

    def _region_read(self, flags: int, payload: bytes, fds: list[int]) -> bytes:
        if len(payload) < REGION_RW.size:
            raise VfioUserError(errno.EINVAL, "short REGION_READ")
        offset, region, count = REGION_RW.unpack_from(payload)
        data = self.read_region(region, offset, count)
        return REGION_RW.pack(offset, region, count) + data

    def _region_write(self, flags: int, payload: bytes, fds: list[int]) -> bytes:
        if len(payload) < REGION_RW.size:
            raise VfioUserError(errno.EINVAL, "short REGION_WRITE")
        offset, region, count = REGION_RW.unpack_from(payload)
        data = payload[REGION_RW.size :]
        if count != len(data):
            raise VfioUserError(errno.EINVAL, "REGION_WRITE count does not match its data")
        if flags & FLAG_NO_REPLY:
            self.counters.posted_writes += 1
        self.write_region(region, offset, data)
        return REGION_RW.pack(offset, region, count)

    def _write_multi(self, flags: int, payload: bytes, fds: list[int]) -> bytes:
        if len(payload) < 8:
            raise VfioUserError(errno.EINVAL, "short WRITE_MULTI")
        (n,) = struct.unpack_from("<Q", payload)
        if n > (len(payload) - 8) // WRITE_MULTI_ENTRY.size:
            raise VfioUserError(errno.EINVAL, "WRITE_MULTI count exceeds its data")
        failed = 0
        for i in range(n):
            offset, region, count, data = WRITE_MULTI_ENTRY.unpack_from(
                payload, 8 + i * WRITE_MULTI_ENTRY.size
            )
            if not 0 < count <= WRITE_MULTI_DATA:
                failed += 1
                continue
            try:
                self.counters.posted_writes += 1
                self.write_region(region, offset, data[:count])
            except VfioUserError:
                failed += 1  # posted: nobody to tell, but keep going with the rest
        if failed:
            raise VfioUserError(errno.EINVAL, f"{failed} of {n} writes refused")
        return b""

    def _device_reset(self, flags: int, payload: bytes, fds: list[int]) -> bytes:
        self.counters.resets += 1
        self.device.reset()
        self.pci.reset()
        self._sync_bus_master()
        # The client still owns its eventfds across a reset; vectors it wired stay live.
        for vector in self.irq_fds[IRQ_MSIX]:
            if vector < self.pci.msix.vectors:
                self.pci.msix.set_masked(vector, False)
        self.intx_masked = False
        return b""

    # -- handlers: interrupts --------------------------------------------------------------

    def _set_irqs(self, flags: int, payload: bytes, fds: list[int]) -> bytes:
        if len(payload) < IRQ_SET.size:
            raise VfioUserError(errno.EINVAL, "short SET_IRQS")
        _argsz, sflags, index, start, count = IRQ_SET.unpack_from(payload)
        data_kind = sflags & IRQ_SET_DATA_MASK
        action = sflags & IRQ_SET_ACTION_MASK_ALL
        if index >= NUM_IRQS or bin(data_kind).count("1") != 1 or bin(action).count("1") != 1:
            raise VfioUserError(errno.EINVAL, "bad SET_IRQS index or flags")
        limit = self.irq_count(index)
        if start + count > limit or (count == 0 and not data_kind & IRQ_SET_DATA_NONE):
            raise VfioUserError(errno.EINVAL, "SET_IRQS range outside the index")
        vectors = range(start, start + count)
        bools = b""
        if data_kind & IRQ_SET_DATA_BOOL:
            bools = payload[IRQ_SET.size : IRQ_SET.size + count]
            if len(bools) != count:
                raise VfioUserError(errno.EINVAL, "SET_IRQS bool data missing")
        if data_kind & IRQ_SET_DATA_EVENTFD and fds and len(fds) != count:
            raise VfioUserError(errno.EINVAL, "SET_IRQS wants one fd per vector")
        if data_kind & IRQ_SET_DATA_NONE and fds:
            raise VfioUserError(errno.EINVAL, "SET_IRQS DATA_NONE with fds")

        selected = [v for i, v in enumerate(vectors) if not bools or bools[i]]
        if action == IRQ_SET_ACTION_TRIGGER:
            if data_kind & IRQ_SET_DATA_EVENTFD:
                self._assign(index, vectors, fds)
            elif data_kind & IRQ_SET_DATA_NONE and count == 0:
                self._assign(index, range(limit), [])  # disable the whole index
            else:
                for v in selected:  # a software trigger, as if the device fired
                    self._fire(index, v)
        elif action == IRQ_SET_ACTION_MASK:
            if data_kind & IRQ_SET_DATA_EVENTFD:
                raise VfioUserError(errno.ENOTSUP, "mask eventfds are not supported")
            self._mask(index, selected, True)
        else:
            if data_kind & IRQ_SET_DATA_EVENTFD:
                raise VfioUserError(errno.ENOTSUP, "unmask eventfds are not supported")
            self._mask(index, selected, False)
        return b""

    def _assign(self, index: int, vectors: range, fds: list[int]) -> None:
        table = self.irq_fds[index]
        for i, v in enumerate(vectors):
            old = table.pop(v, None)
            if old is not None:
                close_fds([old])
            if fds:
                fd = fds[i]
                os.set_blocking(fd, False)  # never let a bogus fd block the whole fabric
                table[v] = fd
            if index == IRQ_MSIX:
                self.pci.msix.set_masked(v, not fds)
        if fds:
            fds.clear()  # kept: handle() must not close them
        if index == IRQ_INTX:
            self.intx_masked = False
        self._deliver_pending()

    def _mask(self, index: int, vectors: list[int], masked: bool) -> None:
        if index == IRQ_INTX:
            self.intx_masked = masked
            if not masked:
                self._update_intx()  # QEMU lowered the line: signal again if still high
        elif index == IRQ_MSIX:
            for v in vectors:
                self.pci.msix.set_masked(v, masked)
            self._deliver_pending()
        else:
            raise VfioUserError(errno.EINVAL, "index cannot be masked")

    def _fire(self, index: int, vector: int) -> None:
        fd = self.irq_fds[index].get(vector)
        if fd is not None and _eventfd_signal(fd):
            if index == IRQ_MSIX:
                self.counters.irq_msix += 1
            elif index == IRQ_MSI:
                self.counters.irq_msi += 1
            elif index == IRQ_INTX:
                self.counters.irq_intx += 1
        else:
            self.counters.irq_lost += 1

    # -- interrupts from the model ---------------------------------------------------------

    def _signal(self, vector: int) -> None:
        """`device.signal_vector`: the model wants vector `vector` delivered."""
        mode = self.pci.irq_mode
        if mode is IrqMode.MSIX:
            if self.pci.msix_fire(vector):
                self._fire(IRQ_MSIX, vector)
            else:
                self.counters.irq_pending += 1
        elif mode is IrqMode.MSI:
            self._fire(IRQ_MSI, 0)
        else:
            self._update_intx()

    def _deliver_pending(self) -> None:
        for v in self.pci.msix_deliverable():
            self._fire(IRQ_MSIX, v)
        self._update_intx()

    def _intx_level(self) -> bool:
        try:
            return bool(self.device.intx_level)
        except Exception:
            log.exception("%s: intx_level", self.name)
            return False

    def _update_intx(self) -> None:
        """Recompute the INTx line; signal its eventfd on a rising edge if not masked."""
        level = self._intx_level()
        self.pci.intx_status = level
        asserted = level and self.pci.irq_mode is IrqMode.INTX and not self.pci.intx_disabled
        if not asserted or self.intx_masked or 0 not in self.irq_fds[IRQ_INTX]:
            return
        self._fire(IRQ_INTX, 0)
        # Automasked, as vfio does for level interrupts: QEMU unmasks when the guest touches
        # a BAR, and we signal again then if the line is still high.
        self.intx_masked = True

    def stats(self) -> dict[str, Any]:
        return {
            "connected": self.conn is not None,
            "dma_regions": len(self.dma),
            "irq_mode": self.pci.irq_mode.value,
            **self.counters.as_dict(),
        }
