"""The vfio-user protocol: the messages between QEMU's `vfio-user-pci` device and a server.

This file holds the protocol alone, no device and no server: command numbers, message flags,
the struct of each command's payload, region and IRQ indices, passing file descriptors, and
`Connection`, which reads whole messages off a socket and buffers what it writes. The server
is `vfio_user_server.py` (it imports this); the test client `tests/vfio_user_client.py` speaks
through the same names. The protocol is QEMU's docs/interop/vfio-user.rst; what QEMU 11.1
really sends, and in which order, is in specs/vfio-user.md.

* Framing: 16-byte header (id, command, size, flags, error), file descriptors in SCM_RIGHTS on
  the message's first bytes. We read the header alone, then exactly the rest, so the fds that
  arrive belong to the message whose header we read (a larger read could glue an fd-less
  message to the next one and misattribute its fds).
* A size no client can mean (see `MAX_MESSAGE`) leaves a stream that cannot be trusted any
  more: `Connection` raises ConnectionError, and the reader closes the connection.
"""

from __future__ import annotations

import array
import contextlib
import os
import socket
import struct

# -- protocol constants (docs/interop/vfio-user.rst) -------------------------------------

HEADER = struct.Struct("<HHIII")  # id, command, size, flags, error
HEADER_SIZE = HEADER.size

VERSION = 1
DMA_MAP = 2
DMA_UNMAP = 3
DEVICE_GET_INFO = 4
DEVICE_GET_REGION_INFO = 5
DEVICE_GET_REGION_IO_FDS = 6
DEVICE_GET_IRQ_INFO = 7
DEVICE_SET_IRQS = 8
REGION_READ = 9
REGION_WRITE = 10
DMA_READ = 11
DMA_WRITE = 12
DEVICE_RESET = 13
DIRTY_PAGES = 14
REGION_WRITE_MULTI = 15
DEVICE_FEATURE = 16

COMMAND_NAMES = {
    VERSION: "version",
    DMA_MAP: "dma_map",
    DMA_UNMAP: "dma_unmap",
    DEVICE_GET_INFO: "get_info",
    DEVICE_GET_REGION_INFO: "region_info",
    DEVICE_GET_REGION_IO_FDS: "region_io_fds",
    DEVICE_GET_IRQ_INFO: "irq_info",
    DEVICE_SET_IRQS: "set_irqs",
    REGION_READ: "region_read",
    REGION_WRITE: "region_write",
    DMA_READ: "dma_read",
    DMA_WRITE: "dma_write",
    DEVICE_RESET: "reset",
    DIRTY_PAGES: "dirty_pages",
    REGION_WRITE_MULTI: "write_multi",
    DEVICE_FEATURE: "feature",
}

FLAG_TYPE_MASK = 0xF
TYPE_REQUEST = 0x0
TYPE_REPLY = 0x1
FLAG_NO_REPLY = 0x10
FLAG_ERROR = 0x20

# vfio_device_info.flags
DEVICE_FLAGS_RESET = 1 << 0
DEVICE_FLAGS_PCI = 1 << 1

# Region indices of a vfio PCI device.
REGION_BAR0 = 0
REGION_BAR4 = 4
REGION_ROM = 6
REGION_CONFIG = 7
REGION_VGA = 8
NUM_REGIONS = 9

REGION_INFO_FLAG_READ = 1 << 0
REGION_INFO_FLAG_WRITE = 1 << 1
REGION_INFO = struct.Struct("<IIIIQQ")  # argsz, flags, index, cap_offset, size, offset

# IRQ indices.
IRQ_INTX = 0
IRQ_MSI = 1
IRQ_MSIX = 2
IRQ_ERR = 3
IRQ_REQ = 4
NUM_IRQS = 5

IRQ_INFO_EVENTFD = 1 << 0
IRQ_INFO_MASKABLE = 1 << 1
IRQ_INFO_AUTOMASKED = 1 << 2
IRQ_INFO_NORESIZE = 1 << 3
IRQ_INFO = struct.Struct("<IIII")  # argsz, flags, index, count

IRQ_SET_DATA_NONE = 1 << 0
IRQ_SET_DATA_BOOL = 1 << 1
IRQ_SET_DATA_EVENTFD = 1 << 2
IRQ_SET_ACTION_MASK = 1 << 3
IRQ_SET_ACTION_UNMASK = 1 << 4
IRQ_SET_ACTION_TRIGGER = 1 << 5
IRQ_SET_DATA_MASK = IRQ_SET_DATA_NONE | IRQ_SET_DATA_BOOL | IRQ_SET_DATA_EVENTFD
IRQ_SET_ACTION_MASK_ALL = IRQ_SET_ACTION_MASK | IRQ_SET_ACTION_UNMASK | IRQ_SET_ACTION_TRIGGER
IRQ_SET = struct.Struct("<IIIII")  # argsz, flags, index, start, count

DMA_MAP_FLAG_READ = 1 << 0
DMA_MAP_FLAG_WRITE = 1 << 1
DMA_MAP_STRUCT = struct.Struct("<IIQQQ")  # argsz, flags, offset, iova, size
DMA_UNMAP_FLAG_ALL = 1 << 1
DMA_UNMAP_STRUCT = struct.Struct("<IIQQ")  # argsz, flags, iova, size

REGION_RW = struct.Struct("<QII")  # offset, region, count
WRITE_MULTI_ENTRY = struct.Struct("<QII8s")
WRITE_MULTI_DATA = 8

# Limits of the framing. QEMU's default max_data_xfer_size is 1 MiB; anything larger than
# that plus a header is a lie about the size and desynchronises the stream.
MAX_MESSAGE = 1024 * 1024 + 4096
FD_SLOTS = 64  # ancillary space: room to notice (and close) more fds than a server allows


class ClientClosed(ConnectionError, EOFError):
    """Orderly end of the stream (QEMU quit or was killed)."""


def recv_fds(sock: socket.socket, nbytes: int) -> tuple[bytes, list[int], bool]:
    """recvmsg for up to `nbytes` bytes plus SCM_RIGHTS fds. Returns (data, fds, truncated)."""
    data, ancdata, msg_flags, _ = sock.recvmsg(nbytes, socket.CMSG_SPACE(FD_SLOTS * 4))
    fds: list[int] = []
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            arr = array.array("i")
            arr.frombytes(payload[: len(payload) - len(payload) % arr.itemsize])
            fds.extend(arr)
    return data, fds, bool(msg_flags & socket.MSG_CTRUNC)


def close_fds(fds: list[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


class Connection:
    """One connected client: incremental, exact-boundary reading and buffered writing."""

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.header = b""
        self.body = bytearray()
        self.need = 0  # body bytes still expected for the current message
        self.fds: list[int] = []
        self.fds_truncated = False
        self.outbuf = bytearray()
        self.closed = False

    def read_message(self) -> tuple[tuple[int, int, int, int, int], bytes, list[int], bool] | None:
        """Next complete message, or None if the socket has no more data right now.

        Raises ConnectionError on EOF or a size that cannot be trusted."""
        if len(self.header) < HEADER_SIZE:
            try:
                data, fds, truncated = recv_fds(self.sock, HEADER_SIZE - len(self.header))
            except (BlockingIOError, InterruptedError):
                return None
            self.fds.extend(fds)
            self.fds_truncated |= truncated
            if not data:
                raise ClientClosed("client closed the connection")
            self.header += data
            if len(self.header) < HEADER_SIZE:
                return None
            size = HEADER.unpack(self.header)[2]
            if size < HEADER_SIZE or size > MAX_MESSAGE:
                raise ConnectionError(f"message size {size} cannot be trusted")
            self.need = size - HEADER_SIZE
            self.body = bytearray()
        while self.need:
            try:
                data = self.sock.recv(self.need)
            except (BlockingIOError, InterruptedError):
                return None
            if not data:
                raise ConnectionError("client closed the connection mid-message")
            self.body += data
            self.need -= len(data)
        hdr = HEADER.unpack(self.header)
        msg = (hdr, bytes(self.body), self.fds, self.fds_truncated)
        self.header, self.body, self.fds, self.fds_truncated = b"", bytearray(), [], False
        return msg

    def send(self, data: bytes) -> None:
        if self.outbuf:
            self.outbuf += data
            return
        try:
            sent = self.sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        if sent < len(data):
            self.outbuf += data[sent:]

    def flush(self) -> bool:
        """Write buffered output; True when everything is out."""
        while self.outbuf:
            try:
                sent = self.sock.send(self.outbuf)
            except (BlockingIOError, InterruptedError):
                return False
            del self.outbuf[:sent]
        return True

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            close_fds(self.fds)
            self.fds = []
            self.sock.close()
