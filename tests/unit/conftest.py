"""Shared fixtures of the unit tests: the transport and the wire's stub device, and
connected TCP pairs for the stack-port tests."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import pytest

from vnic.model.memory import GuestMemory
from vnic.netmap.stack import listen


class StubDevice:
    """Stands in for `vnic.model.device.Vnic` where a test is about the transport, not the
    model: a register file, a settable INTx level, and a record of every call."""

    def __init__(self, memory: GuestMemory | None = None, name: str = "stub") -> None:
        self.memory = memory
        self.name = name
        self.regs: dict[int, int] = {}
        self.level = False
        self.resets = 0
        self.received: list[bytes] = []
        self.links: list[bool] = []
        self.services = 0
        self.work = 0  # pending service slices
        self.deadline: float | None = None
        self.transmit: Callable[[list[bytes]], None] = lambda frames: None
        self.signal_vector: Callable[[int], None] = lambda v: None
        self.writes: list[tuple[int, int, int]] = []
        self.bus_master: list[bool] = []  # every set_bus_master call, in order

    @property
    def intx_level(self) -> bool:
        return self.level

    def read_register(self, offset: int, size: int) -> int:
        if offset == 0xDEAD0:
            raise RuntimeError("model bug")
        return self.regs.get(offset, 0)

    def write_register(self, offset: int, size: int, value: int) -> None:
        self.writes.append((offset, size, value))
        self.regs[offset] = value
        if offset == 0x800:  # "doorbell": fire vector value (test convention)
            self.signal_vector(value)
        if offset == 0x804:  # set the INTx level
            self.level = bool(value)
            self.signal_vector(0)
        if offset == 0x808:  # queue service slices
            self.work += value

    def receive(self, frames: list[bytes]) -> int:
        self.received.extend(frames)
        return len(frames)

    def service(self, budget: int = 512) -> bool:
        self.services += 1
        if self.work:
            self.work -= 1
        return self.work > 0

    def next_deadline(self) -> float | None:
        return self.deadline

    def reset(self) -> None:
        self.resets += 1
        self.regs.clear()
        self.level = False

    def set_bus_master(self, on: bool) -> None:
        self.bus_master.append(on)

    def set_link(self, up: bool) -> None:
        self.links.append(up)

    def counters(self) -> dict[str, int]:
        return {"resets": self.resets, "received": len(self.received)}


@pytest.fixture
def tcp_pairs() -> Iterator[list[tuple[socket.socket, socket.socket]]]:
    """Connected TCP pairs on loopback, (server side, client side): real sockets to attach."""
    pairs: list[tuple[socket.socket, socket.socket]] = []
    with listen(0, "127.0.0.1") as listener:
        for _ in range(3):
            client = socket.create_connection(listener.getsockname())
            server, _ = listener.accept()
            pairs.append((server, client))
        yield pairs
    for a, b in pairs:
        a.close()
        b.close()
