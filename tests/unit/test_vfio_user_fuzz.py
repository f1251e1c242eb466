"""Hypothesis fuzz of vfio-user messages: the server answers or closes, never raises."""

from __future__ import annotations

import contextlib
import socket
import struct
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.conftest import StubDevice
from vnic.model import vfio_user as vu
from vnic.model.loop import EventLoop
from vnic.model.memory import GuestMemory
from vnic.model.pci import PciFunction, identity_from_spec
from vnic.model.vfio_user_server import VfioUserServer


def make_server(tmp: Path) -> VfioUserServer:
    loop = EventLoop()
    memory = GuestMemory()
    return VfioUserServer(
        str(tmp / "fuzz.sock"), StubDevice(memory), memory, PciFunction(identity_from_spec()), loop
    )


commands = st.one_of(st.integers(0, 20), st.integers(0, 0xFFFF))
payloads = st.one_of(
    st.binary(max_size=64),
    st.builds(
        lambda o, r, c, d: vu.REGION_RW.pack(o, r, c) + d,
        st.integers(0, 2**64 - 1),
        st.integers(0, 12),
        st.integers(0, 300),
        st.binary(max_size=16),
    ),
    st.builds(lambda *a: vu.IRQ_SET.pack(*a), *[st.integers(0, 2**32 - 1)] * 5),
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(command=commands, flags=st.integers(0, 2**32 - 1), payload=payloads)
def test_handle_never_raises(tmp_path: Path, command: int, flags: int, payload: bytes) -> None:
    server = make_server(tmp_path)
    a, b = socket.socketpair()
    conn = vu.Connection(a)
    try:
        server.handle(conn, (1, command, 16 + len(payload), flags, 0), payload, [], False)
        b.setblocking(False)
        try:
            reply = b.recv(65536)
        except BlockingIOError:
            reply = b""
        if reply:
            _id, cmd, size, rflags, _err = vu.HEADER.unpack_from(reply)
            assert cmd == command and rflags & vu.FLAG_TYPE_MASK == vu.TYPE_REPLY
            assert size == len(reply)
    finally:
        conn.close()
        b.close()
        server.close()
        server.loop.close()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(stream=st.binary(min_size=1, max_size=200))
def test_garbage_stream_then_a_good_client(tmp_path: Path, stream: bytes) -> None:
    server = make_server(tmp_path)
    loop = server.loop
    try:
        bad = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        bad.connect(server.path)
        loop.run_once(0.01)
        bad.sendall(stream)
        bad.close()
        for _ in range(20):
            loop.run_once(0.005)
            if server.conn is None:
                break
        assert server.conn is None
        good = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        good.connect(server.path)
        good.sendall(vu.HEADER.pack(7, vu.REGION_READ, 32, 0, 0) + vu.REGION_RW.pack(0, 7, 4))
        good.settimeout(0.005)
        data = b""
        for _ in range(100):
            loop.run_once(0.005)
            with contextlib.suppress(TimeoutError):
                data += good.recv(4096)
            if len(data) >= 36:
                break
        assert struct.unpack_from("<HH", data)[0] == 7 and len(data) == 36
        good.close()
    finally:
        server.close()
        loop.close()
