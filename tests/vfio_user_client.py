"""A tiny vfio-user client for tests: speaks to a server the way QEMU 11.1 does.

Blocking, one request at a time, with helpers for the start-up order of specs/vfio-user.md
(VERSION, DMA_MAP of guest RAM, GET_INFO, REGION_INFO 0-5 and 7, IRQ_INFO ERR, SET_IRQS).
Guest RAM is a memfd shared with the server, so a test can play driver: write descriptors
into `ram`, ring a doorbell with a posted write, and wait for an eventfd.
"""

from __future__ import annotations

import array
import json
import mmap
import os
import select
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass

from vnic.model import vfio_user as vu

QEMU_CAPS = {
    "capabilities": {
        "migration": {"pgsize": 4096, "max_bitmap_size": 268435456},
        "max_msg_fds": 16,
        "max_data_xfer_size": 1048576,
        "pgsizes": 4096,
        "max_dma_maps": 65535,
        "write_multiple": True,
    }
}


class ProtocolError(Exception):
    """The server answered with an error reply."""

    def __init__(self, command: int, err: int) -> None:
        super().__init__(f"command {command}: {os.strerror(err)} ({err})")
        self.command = command
        self.errno = err


@dataclass
class Reply:
    msg_id: int
    command: int
    flags: int
    error: int
    payload: bytes


class VfioUserClient:
    def __init__(self, path: str | None = None, sock: socket.socket | None = None) -> None:
        if sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            assert path is not None
            sock.connect(path)
        self.sock = sock
        self.sock.settimeout(5.0)
        self.next_id = 0
        self.ram: mmap.mmap | None = None
        self.ram_fd: int | None = None
        self.eventfds: dict[tuple[int, int], int] = {}

    # -- raw messages ------------------------------------------------------------------------

    def send_raw(self, data: bytes, fds: list[int] | None = None) -> None:
        if fds:
            anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())]
            self.sock.sendmsg([data], anc)
        else:
            self.sock.sendall(data)

    def message(self, command: int, payload: bytes = b"", flags: int = 0) -> tuple[int, bytes]:
        msg_id = self.next_id
        self.next_id = (self.next_id + 1) & 0xFFFF
        size = vu.HEADER_SIZE + len(payload)
        return msg_id, vu.HEADER.pack(msg_id, command, size, flags, 0) + payload

    def recv_exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("server closed the connection")
            buf += chunk
        return bytes(buf)

    def recv_reply(self) -> Reply:
        hdr = self.recv_exact(vu.HEADER_SIZE)
        msg_id, command, size, flags, error = vu.HEADER.unpack(hdr)
        payload = self.recv_exact(size - vu.HEADER_SIZE) if size > vu.HEADER_SIZE else b""
        return Reply(msg_id, command, flags, error, payload)

    def request(
        self, command: int, payload: bytes = b"", fds: list[int] | None = None, check: bool = True
    ) -> Reply:
        msg_id, data = self.message(command, payload)
        self.send_raw(data, fds)
        reply = self.recv_reply()
        assert reply.msg_id == msg_id and reply.command == command, reply
        assert reply.flags & vu.FLAG_TYPE_MASK == vu.TYPE_REPLY
        # QEMU's reply buffer is its request (plus the data, for a region read).
        room = len(payload) + (
            vu.REGION_RW.unpack_from(payload)[2]
            if command == vu.REGION_READ and len(payload) >= vu.REGION_RW.size
            else 0
        )
        assert len(reply.payload) <= room, "reply larger than QEMU's buffer: stream lost"
        if check and reply.flags & vu.FLAG_ERROR:
            raise ProtocolError(command, reply.error)
        return reply

    def post(self, command: int, payload: bytes) -> None:
        """A message with NO_REPLY (posted write)."""
        _, data = self.message(command, payload, vu.FLAG_NO_REPLY)
        self.send_raw(data)

    # -- typed requests ----------------------------------------------------------------------

    def version(self, caps: dict[str, object] | None = None) -> dict[str, object]:
        text = json.dumps(caps or QEMU_CAPS).encode() + b"\0"
        reply = self.request(vu.VERSION, struct.pack("<HH", 0, 0) + text)
        major, minor = struct.unpack_from("<HH", reply.payload)
        assert (major, minor) == (0, 0)
        body = reply.payload[4:]
        assert body.endswith(b"\0"), "VERSION reply must be NUL-terminated"
        result: dict[str, object] = json.loads(body[:-1])
        return result

    def map_ram(self, size: int, iova: int = 0) -> mmap.mmap:
        fd = os.memfd_create("guest-ram")
        os.ftruncate(fd, size)
        self.ram = mmap.mmap(fd, size, flags=mmap.MAP_SHARED)
        self.ram_fd = fd
        self.dma_map(iova, size, fd=fd, offset=0)
        return self.ram

    def dma_map(
        self, iova: int, size: int, fd: int | None = None, offset: int = 0, writable: bool = True
    ) -> Reply:
        flags = vu.DMA_MAP_FLAG_READ | (vu.DMA_MAP_FLAG_WRITE if writable else 0)
        payload = vu.DMA_MAP_STRUCT.pack(32, flags, offset, iova, size)
        return self.request(vu.DMA_MAP, payload, [fd] if fd is not None else None)

    def dma_unmap(self, iova: int, size: int, all_: bool = False) -> Reply:
        flags = vu.DMA_UNMAP_FLAG_ALL if all_ else 0
        return self.request(vu.DMA_UNMAP, vu.DMA_UNMAP_STRUCT.pack(24, flags, iova, size))

    def device_info(self) -> tuple[int, int, int]:
        reply = self.request(vu.DEVICE_GET_INFO, struct.pack("<IIII", 16, 0, 0, 0))
        _argsz, flags, regions, irqs = struct.unpack("<IIII", reply.payload)
        return flags, regions, irqs

    def region_info(self, index: int) -> tuple[int, int]:
        """(flags, size) of a region."""
        reply = self.request(vu.DEVICE_GET_REGION_INFO, vu.REGION_INFO.pack(32, 0, index, 0, 0, 0))
        _argsz, flags, idx, _cap, size, _off = vu.REGION_INFO.unpack(reply.payload)
        assert idx == index
        return flags, size

    def irq_info(self, index: int) -> tuple[int, int]:
        """(flags, count) of an IRQ index."""
        reply = self.request(vu.DEVICE_GET_IRQ_INFO, vu.IRQ_INFO.pack(16, 0, index, 0))
        _argsz, flags, idx, count = vu.IRQ_INFO.unpack(reply.payload)
        assert idx == index
        return flags, count

    def set_irqs(
        self,
        index: int,
        flags: int,
        start: int,
        count: int,
        fds: list[int] | None = None,
        data: bytes = b"",
    ) -> Reply:
        payload = vu.IRQ_SET.pack(20 + len(data), flags, index, start, count) + data
        return self.request(vu.DEVICE_SET_IRQS, payload, fds)

    def wire_eventfds(self, index: int, start: int, count: int) -> list[int]:
        fds = [os.eventfd(0, os.EFD_NONBLOCK) for _ in range(count)]
        self.set_irqs(index, vu.IRQ_SET_DATA_EVENTFD | vu.IRQ_SET_ACTION_TRIGGER, start, count, fds)
        for i, fd in enumerate(fds):
            self.eventfds[(index, start + i)] = fd
        return fds

    def read(self, region: int, offset: int, count: int) -> bytes:
        reply = self.request(vu.REGION_READ, vu.REGION_RW.pack(offset, region, count))
        off, reg, cnt = vu.REGION_RW.unpack_from(reply.payload)
        assert (off, reg, cnt) == (offset, region, count)
        return reply.payload[vu.REGION_RW.size :]

    def read32(self, region: int, offset: int) -> int:
        return int.from_bytes(self.read(region, offset, 4), "little")

    def write(self, region: int, offset: int, data: bytes) -> None:
        self.request(vu.REGION_WRITE, vu.REGION_RW.pack(offset, region, len(data)) + data)

    def write32(self, region: int, offset: int, value: int, posted: bool = False) -> None:
        data = value.to_bytes(4, "little")
        if posted:
            self.post(vu.REGION_WRITE, vu.REGION_RW.pack(offset, region, 4) + data)
        else:
            self.write(region, offset, data)

    def config_read16(self, offset: int) -> int:
        return int.from_bytes(self.read(vu.REGION_CONFIG, offset, 2), "little")

    def config_write16(self, offset: int, value: int) -> None:
        self.write(vu.REGION_CONFIG, offset, value.to_bytes(2, "little"))

    def reset(self) -> None:
        self.request(vu.DEVICE_RESET)

    # -- QEMU's start-up order -----------------------------------------------------------------

    def qemu_startup(self, ram_size: int = 1 << 20) -> None:
        """VERSION -> DMA_MAP -> GET_INFO -> REGION_INFO 0-5, 7 -> IRQ_INFO(ERR) ->
        SET_IRQS (INTx, ERR) -> config read -> INTx disable, command, RESET, INTx enable."""
        self.version()
        self.map_ram(ram_size)
        flags, regions, irqs = self.device_info()
        assert flags & vu.DEVICE_FLAGS_PCI and flags & vu.DEVICE_FLAGS_RESET
        assert 8 <= regions <= 100 and 3 <= irqs <= 50
        for index in (0, 1, 2, 3, 4, 5, 7):
            self.region_info(index)
        self.irq_info(vu.IRQ_ERR)
        self.wire_eventfds(vu.IRQ_INTX, 0, 1)
        self.wire_eventfds(vu.IRQ_ERR, 0, 1)
        self.read(vu.REGION_CONFIG, 0, 256)
        # machine reset
        self.set_irqs(vu.IRQ_INTX, vu.IRQ_SET_DATA_NONE | vu.IRQ_SET_ACTION_TRIGGER, 0, 0)
        self.config_write16(0x04, 0)
        self.reset()
        self.wire_eventfds(vu.IRQ_INTX, 0, 1)

    def close(self) -> None:
        self.sock.close()
        for fd in self.eventfds.values():
            os.close(fd)
        self.eventfds.clear()
        if self.ram is not None:
            self.ram.close()
            self.ram = None
        if self.ram_fd is not None:
            os.close(self.ram_fd)
            self.ram_fd = None


def eventfd_count(fd: int) -> int:
    """Read (and reset) an eventfd's counter; 0 if nothing was signalled."""
    try:
        return os.eventfd_read(fd)
    except BlockingIOError:
        return 0


def wait_eventfd(fd: int, timeout: float, pump: Callable[[], None] | None = None) -> int:
    """Wait until `fd` is signalled; `pump` runs the server's loop in the same thread."""
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pump is not None:
            pump()
        ready, _, _ = select.select([fd], [], [], 0 if pump else end - time.monotonic())
        if ready:
            return eventfd_count(fd)
    return 0
