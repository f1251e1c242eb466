"""vfio-user protocol: the server against a tiny client that behaves like QEMU 11.1."""

from __future__ import annotations

import errno
import os
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.conftest import StubDevice
from tests.vfio_user_client import ProtocolError, VfioUserClient, eventfd_count, wait_eventfd
from vnic.model import pci
from vnic.model import vfio_user as vu
from vnic.model.loop import EventLoop
from vnic.model.memory import GuestMemory
from vnic.model.pci import PciFunction, identity_from_spec
from vnic.model.vfio_user_server import MAX_MSG_FDS, MESSAGES_PER_WAKEUP, VfioUserServer


class Served:
    def __init__(self, tmp: Path) -> None:
        self.loop = EventLoop()
        self.memory = GuestMemory()
        self.device = StubDevice(self.memory)
        self.pci = PciFunction(identity_from_spec())
        self.path = str(tmp / "vnic.sock")
        self.server = VfioUserServer(
            self.path,
            self.device,
            self.memory,
            self.pci,
            self.loop,
            on_activity=lambda: self.loop.wake(self.device),
        )
        self.loop.add_service(self.device)
        self.thread = threading.Thread(target=self.loop.run, daemon=True)
        self.thread.start()

    def client(self) -> VfioUserClient:
        return VfioUserClient(self.path)

    def stop(self) -> None:
        self.loop.stop()
        self.thread.join(5)
        self.server.close()
        self.loop.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    s = Served(tmp_path)
    yield s
    s.stop()


@pytest.fixture
def client(served: Served) -> Iterator[VfioUserClient]:
    c = served.client()
    c.qemu_startup()
    yield c
    c.close()


def sync(c: VfioUserClient) -> None:
    """A round trip: everything sent before it has been handled."""
    c.read(vu.REGION_BAR0, 0, 4)


def test_startup_sequence_and_discovery(served: Served, client: VfioUserClient) -> None:
    assert client.region_info(0) == (3, 0x20000)
    for index in (1, 2, 3, 5, 6, 8):
        assert client.region_info(index)[1] == 0
    flags, size = client.region_info(4)
    assert size == served.pci.bar_sizes[4] and size & (size - 1) == 0
    flags, size = client.region_info(7)
    assert size == 256 and not flags & 4  # never MMAP
    assert client.irq_info(vu.IRQ_ERR)[1] == 1
    assert client.irq_info(vu.IRQ_MSIX)[1] == served.pci.msix.vectors
    assert served.device.resets >= 1
    assert len(served.memory.regions) == 1


def test_version_reply_is_short_and_terminated(served: Served) -> None:
    c = served.client()
    caps = c.version()
    assert caps["capabilities"]["write_multiple"] is True  # type: ignore[index]
    # a client with a tiny JSON still gets a reply no larger than its request
    small = c.version({"x": 1})
    assert small == {}
    c.close()


def test_config_space_over_the_wire(client: VfioUserClient) -> None:
    from vnic.model import spec

    cfg = client.read(vu.REGION_CONFIG, 0, 256)
    assert struct.unpack_from("<HH", cfg) == (spec.PCI_VENDOR_ID, spec.PCI_DEVICE_ID)
    client.write(vu.REGION_CONFIG, 0x10, b"\xff\xff\xff\xff")
    assert client.read32(vu.REGION_CONFIG, 0x10) & ~0xF == ~(0x20000 - 1) & 0xFFFFFFF0


def test_register_read_write_and_posted(served: Served, client: VfioUserClient) -> None:
    client.write32(vu.REGION_BAR0, 0x5400, 0x12345678)
    assert client.read32(vu.REGION_BAR0, 0x5400) == 0x12345678
    before = served.server.counters.replies
    for i in range(50):
        client.write32(vu.REGION_BAR0, 0x6018, i, posted=True)
    assert client.read32(vu.REGION_BAR0, 0x6018) == 49  # the read's reply is the next message
    assert served.server.counters.replies == before + 1
    assert served.server.counters.posted_writes == 50
    # 8-byte accesses reach the model as one access
    client.write(vu.REGION_BAR0, 0x100, struct.pack("<Q", 0x1111222233334444))
    assert served.device.writes[-1] == (0x100, 8, 0x1111222233334444)
    assert client.read(vu.REGION_BAR0, 0x100, 8) == struct.pack("<Q", 0x1111222233334444)


def test_write_multi(served: Served, client: VfioUserClient) -> None:
    entries = [
        vu.WRITE_MULTI_ENTRY.pack(0x6018 + 0x40 * i, 0, 4, i.to_bytes(8, "little"))
        for i in range(3)
    ]
    client.post(vu.REGION_WRITE_MULTI, struct.pack("<Q", 3) + b"".join(entries))
    sync(client)
    assert [served.device.regs[0x6018 + 0x40 * i] for i in range(3)] == [0, 1, 2]


def test_msix_interrupt_through_eventfd(served: Served, client: VfioUserClient) -> None:
    client.config_write16(pci.MSIX_CAP + 2, pci.PCI_MSIX_FLAGS_ENABLE)
    client.set_irqs(vu.IRQ_INTX, vu.IRQ_SET_DATA_NONE | vu.IRQ_SET_ACTION_TRIGGER, 0, 0)
    fds = client.wire_eventfds(vu.IRQ_MSIX, 0, 4)
    client.write32(vu.REGION_BAR0, 0x800, 2, posted=True)
    assert wait_eventfd(fds[2], 2.0) == 1
    assert eventfd_count(fds[1]) == 0
    # masked by the client: latched in the PBA, delivered on unmask
    client.set_irqs(vu.IRQ_MSIX, vu.IRQ_SET_DATA_NONE | vu.IRQ_SET_ACTION_MASK, 1, 1)
    client.write32(vu.REGION_BAR0, 0x800, 1, posted=True)
    sync(client)
    assert eventfd_count(fds[1]) == 0
    pba = int.from_bytes(client.read(vu.REGION_BAR4, 0x2000, 8), "little")
    assert pba & 2
    client.set_irqs(vu.IRQ_MSIX, vu.IRQ_SET_DATA_NONE | vu.IRQ_SET_ACTION_UNMASK, 1, 1)
    assert wait_eventfd(fds[1], 2.0) == 1
    # a guest writing the table's vector-control word masks too
    client.write(vu.REGION_BAR4, 2 * 16 + 12, b"\x01\x00\x00\x00")
    client.write32(vu.REGION_BAR0, 0x800, 2, posted=True)
    sync(client)
    assert eventfd_count(fds[2]) == 0
    client.write(vu.REGION_BAR4, 2 * 16 + 12, b"\x00\x00\x00\x00")
    assert wait_eventfd(fds[2], 2.0) == 1
    # function mask
    client.config_write16(pci.MSIX_CAP + 2, pci.PCI_MSIX_FLAGS_ENABLE | pci.PCI_MSIX_FLAGS_MASKALL)
    client.write32(vu.REGION_BAR0, 0x800, 0, posted=True)
    sync(client)
    assert eventfd_count(fds[0]) == 0
    client.config_write16(pci.MSIX_CAP + 2, pci.PCI_MSIX_FLAGS_ENABLE)
    assert wait_eventfd(fds[0], 2.0) == 1


def test_msi_interrupt(client: VfioUserClient) -> None:
    client.config_write16(pci.MSI_CAP + 2, pci.PCI_MSI_FLAGS_ENABLE)
    (fd,) = client.wire_eventfds(vu.IRQ_MSI, 0, 1)
    client.write32(vu.REGION_BAR0, 0x800, 0, posted=True)
    assert wait_eventfd(fd, 2.0) == 1


def test_intx_automask_and_unmask_dance(served: Served, client: VfioUserClient) -> None:
    fd = client.eventfds[(vu.IRQ_INTX, 0)]
    client.write32(vu.REGION_BAR0, 0x804, 1, posted=True)  # line goes high
    assert wait_eventfd(fd, 2.0) == 1
    status = client.config_read16(0x06)
    assert status & pci.PCI_STATUS_INTERRUPT
    # still high, but masked until QEMU unmasks
    client.write32(vu.REGION_BAR0, 0x0, 0, posted=True)
    sync(client)
    assert eventfd_count(fd) == 0
    client.set_irqs(vu.IRQ_INTX, vu.IRQ_SET_DATA_NONE | vu.IRQ_SET_ACTION_UNMASK, 0, 1)
    assert wait_eventfd(fd, 2.0) == 1  # re-signalled: the line is still high
    client.write32(vu.REGION_BAR0, 0x804, 0, posted=True)  # driver acks: line low
    client.set_irqs(vu.IRQ_INTX, vu.IRQ_SET_DATA_NONE | vu.IRQ_SET_ACTION_UNMASK, 0, 1)
    sync(client)
    assert eventfd_count(fd) == 0
    assert not client.config_read16(0x06) & pci.PCI_STATUS_INTERRUPT
    # INTx disable in the command register keeps the line quiet, status still tells
    client.config_write16(0x04, pci.PCI_COMMAND_INTX_DISABLE)
    client.write32(vu.REGION_BAR0, 0x804, 1, posted=True)
    sync(client)
    assert eventfd_count(fd) == 0
    assert client.config_read16(0x06) & pci.PCI_STATUS_INTERRUPT
    client.config_write16(0x04, 0)
    assert wait_eventfd(fd, 2.0) == 1


def test_device_reset_and_dma_unmap(served: Served, client: VfioUserClient) -> None:
    resets = served.device.resets
    client.reset()
    assert served.device.resets == resets + 1
    client.dma_unmap(0, 1 << 20)
    assert served.memory.regions == ()
    with pytest.raises(ProtocolError) as exc:
        client.dma_unmap(0, 1 << 20)
    assert exc.value.errno == errno.EINVAL


def test_dma_map_shares_guest_ram(served: Served, client: VfioUserClient) -> None:
    assert client.ram is not None
    client.ram[0x1000:0x1004] = b"ring"
    assert served.memory.read(0x1000, 4) == b"ring"
    served.memory.write(0x2000, b"wb")
    assert client.ram[0x2000:0x2002] == b"wb"
    # a read-only range without fd (ROM) is accepted but not reachable
    client.dma_map(0xFFFC0000, 0x40000, fd=None, writable=False)
    assert len(served.memory.regions) == 1
    client.dma_unmap(0xFFFC0000, 0x40000)
    # overlapping maps are refused
    with pytest.raises(ProtocolError):
        client.dma_map(0x1000, 0x1000, fd=client.ram_fd, offset=0x1000)


def test_dma_map_unaligned_offset(served: Served, client: VfioUserClient) -> None:
    assert client.ram is not None
    client.ram[0x3010:0x3014] = b"abcd"
    client.dma_map(0x40000000, 0x100, fd=client.ram_fd, offset=0x3010)
    assert served.memory.read(0x40000000, 4) == b"abcd"


def test_errors_are_answered(served: Served, client: VfioUserClient) -> None:
    def err(command: int, payload: bytes) -> int:
        reply = client.request(command, payload, check=False)
        assert reply.flags & vu.FLAG_ERROR and len(reply.payload) == 0
        return reply.error

    assert err(99, b"") == errno.ENOSYS
    assert err(vu.DMA_READ, b"\0" * 16) == errno.ENOSYS
    assert err(vu.REGION_READ, b"\0" * 4) == errno.EINVAL  # short
    assert err(vu.REGION_READ, vu.REGION_RW.pack(0, 2, 4)) == errno.EINVAL  # size-0 region
    assert err(vu.REGION_READ, vu.REGION_RW.pack(0x20000, 0, 4)) == errno.EINVAL  # past BAR0
    assert err(vu.REGION_READ, vu.REGION_RW.pack(0, 0, 3)) == errno.EINVAL  # odd size
    assert err(vu.REGION_READ, vu.REGION_RW.pack(250, 7, 8)) == errno.EINVAL  # past config
    assert err(vu.REGION_READ, vu.REGION_RW.pack(0, 77, 4)) == errno.EINVAL  # no region
    assert err(vu.REGION_WRITE, vu.REGION_RW.pack(0, 0, 8) + b"1234") == errno.EINVAL
    assert err(vu.DEVICE_GET_REGION_INFO, vu.REGION_INFO.pack(32, 0, 42, 0, 0, 0)) == errno.EINVAL
    assert err(vu.DEVICE_GET_IRQ_INFO, vu.IRQ_INFO.pack(16, 0, 9, 0)) == errno.EINVAL
    assert err(vu.DEVICE_SET_IRQS, vu.IRQ_SET.pack(20, 0x24, vu.IRQ_MSIX, 0, 999)) == errno.EINVAL
    assert err(vu.DEVICE_SET_IRQS, vu.IRQ_SET.pack(20, 0x3F, 0, 0, 1)) == errno.EINVAL
    assert err(vu.REGION_READ, vu.REGION_RW.pack(0xDEAD0, 0, 4)) == errno.EINVAL
    assert served.server.counters.error_replies >= 14
    # still serving
    assert client.read32(vu.REGION_CONFIG, 0) != 0


def test_model_exception_becomes_eio(served: Served, client: VfioUserClient) -> None:
    served.device.regs.clear()
    served.pci.bar_sizes[0] = 0x100000  # make the stub's trap offset reachable
    reply = client.request(vu.REGION_READ, vu.REGION_RW.pack(0xDEAD0, 0, 4), check=False)
    assert reply.flags & vu.FLAG_ERROR and reply.error == errno.EIO
    assert client.read32(vu.REGION_CONFIG, 0) != 0


def test_too_many_fds_is_refused(client: VfioUserClient) -> None:
    fds = [os.eventfd(0) for _ in range(MAX_MSG_FDS + 4)]
    try:
        payload = vu.IRQ_SET.pack(20, 0x24, vu.IRQ_MSIX, 0, len(fds))
        reply = client.request(vu.DEVICE_SET_IRQS, payload, fds, check=False)
        assert reply.flags & vu.FLAG_ERROR
    finally:
        for fd in fds:
            os.close(fd)
    assert client.read32(vu.REGION_CONFIG, 0) != 0


def test_posted_bad_write_is_silent(served: Served, client: VfioUserClient) -> None:
    client.post(vu.REGION_WRITE, vu.REGION_RW.pack(0x7FFFFFF, 0, 4) + b"abcd")
    assert client.read32(vu.REGION_CONFIG, 0) != 0  # the next reply is the read's
    assert served.server.counters.posted_write_errors == 1


def wait_for(pred: object, timeout: float = 2.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():  # type: ignore[operator]
            return True
        time.sleep(0.005)
    return False


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x01\x00",  # short header, then EOF
        vu.HEADER.pack(1, 9, 8, 0, 0),  # size smaller than a header
        vu.HEADER.pack(1, 9, 0xFFFFFFF0, 0, 0),  # size lies: huge
        vu.HEADER.pack(1, 9, 100, 0, 0) + b"x" * 10,  # body shorter than announced, then EOF
        os.urandom(64),
    ],
)
def test_malformed_stream_closes_and_server_keeps_serving(
    served: Served, client: VfioUserClient, garbage: bytes
) -> None:
    client.sock.sendall(garbage)
    client.sock.shutdown(socket.SHUT_WR)
    assert wait_for(lambda: served.server.conn is None)
    client.close()
    assert len(served.memory.regions) == 0  # maps dropped
    again = served.client()
    again.qemu_startup()
    assert again.read32(vu.REGION_CONFIG, 0) != 0
    again.close()


def test_bus_master_bit_reaches_the_device(served: Served, client: VfioUserClient) -> None:
    """The device may master the bus (DMA) only while the command register says so."""
    master = served.device.bus_master
    assert master[-1] is False  # power-on and after the machine reset: off
    client.config_write16(0x04, pci.PCI_COMMAND_MEMORY | pci.PCI_COMMAND_MASTER)
    assert master[-1] is True
    client.config_write16(0x04, pci.PCI_COMMAND_MEMORY)
    assert master[-1] is False
    client.config_write16(0x04, pci.PCI_COMMAND_MEMORY | pci.PCI_COMMAND_MASTER)
    client.reset()  # DEVICE_RESET resets config space: bus mastering off again
    assert master[-1] is False


def test_disconnect_resets_and_accepts_a_new_qemu(served: Served, client: VfioUserClient) -> None:
    client.write32(vu.REGION_BAR0, 0x5400, 7)
    client.config_write16(0x04, 0x0006)
    resets = served.device.resets
    client.close()
    assert wait_for(lambda: served.server.conn is None)
    assert served.device.resets == resets + 1
    assert served.memory.regions == ()
    assert served.server.irq_fds[vu.IRQ_INTX] == {}
    c2 = served.client()
    c2.qemu_startup()
    assert c2.read32(vu.REGION_BAR0, 0x5400) == 0
    assert c2.config_read16(0x04) == 0
    c2.close()


def test_second_client_is_refused(served: Served, client: VfioUserClient) -> None:
    other = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    other.connect(served.path)
    other.settimeout(2)
    assert other.recv(16) == b""  # closed by the server
    other.close()
    assert client.read32(vu.REGION_CONFIG, 0) != 0


def test_doorbell_wakes_service_slices(served: Served, client: VfioUserClient) -> None:
    client.write32(vu.REGION_BAR0, 0x808, 5, posted=True)
    # A posted write has no reply: wait for its effect (work is 0 before it lands, too).
    assert wait_for(lambda: served.device.services >= 5)
    assert wait_for(lambda: served.device.work == 0)


def test_real_vnic_behind_the_transport(tmp_path: Path) -> None:
    """The actual device model served over vfio-user: the MAC is in RAL0/RAH0."""
    from vnic.model import spec
    from vnic.model.topology import vnic_factory

    loop = EventLoop()
    mac = bytes.fromhex("02000000000a")
    port = vnic_factory("a", {"mac": mac, "queues": 2}, loop, str(tmp_path / "a.sock"))
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    c = VfioUserClient(str(tmp_path / "a.sock"))
    try:
        c.qemu_startup()
        assert c.read32(vu.REGION_BAR0, spec.RAL.at(0)) == int.from_bytes(mac[:4], "little")
        assert c.read32(vu.REGION_BAR0, spec.RAH.at(0)) & 0xFFFF == int.from_bytes(
            mac[4:], "little"
        )
        counters = port.device.counters()  # type: ignore[attr-defined]
        assert counters["reg_reads"] >= 2
    finally:
        c.close()
        loop.stop()
        thread.join(5)
        port.close()
        loop.close()


def posted_write(msg_id: int, offset: int, value: int) -> bytes:
    payload = vu.REGION_RW.pack(offset, vu.REGION_BAR0, 4) + value.to_bytes(4, "little")
    size, flags = vu.HEADER_SIZE + len(payload), vu.TYPE_REQUEST | vu.FLAG_NO_REPLY
    return vu.HEADER.pack(msg_id, vu.REGION_WRITE, size, flags, 0) + payload


def test_queued_messages_are_cut_apart_and_fds_find_theirs() -> None:
    """Three messages queued before the server reads: the fd goes with the one sent with it."""
    ours, qemu = socket.socketpair()
    conn = vu.Connection(ours)
    memfd = os.memfd_create("ram")
    try:
        qemu.sendall(posted_write(1, 0x6018, 1))
        qemu.sendmsg(
            [posted_write(2, 0x6018, 2)],
            [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", memfd))],
        )
        qemu.sendall(posted_write(3, 0x6018, 3) + posted_write(4, 0x6018, 4)[:10])
        # As the event loop does: read until nothing is whole, again when the socket is ready.
        got = [m for m in (conn.read_message() for _ in range(6)) if m is not None]
        assert [m[0][0] for m in got] == [1, 2, 3]
        assert [len(m[2]) for m in got] == [0, 1, 0]
        passed = got[1][2][0]
        assert os.fstat(passed).st_ino == os.fstat(memfd).st_ino
        os.close(passed)
        assert conn.read_message() is None  # message 4 is not whole yet
        qemu.sendall(posted_write(4, 0x6018, 4)[10:])
        last = [m for m in (conn.read_message() for _ in range(2)) if m is not None]
        assert [m[0][0] for m in last] == [4]
    finally:
        conn.close()
        qemu.close()
        os.close(memfd)


def test_more_messages_queued_than_one_wakeup_handles(
    served: Served, client: VfioUserClient
) -> None:
    count = MESSAGES_PER_WAKEUP + 100
    client.send_raw(b"".join(posted_write(i, 0x6018, i) for i in range(count)))
    assert client.read32(vu.REGION_BAR0, 0x6018) == count - 1
    assert served.server.counters.posted_writes == count
