"""Helpers shared by the model tests: a device on a fake memory with a mini-driver."""

from __future__ import annotations

from vnic.model import spec
from vnic.model.device import Vnic
from vnic.model.memory import FakeMemory
from vnic.model.testing import MiniDriver

MAC = bytes.fromhex("020000000001")
PEER = bytes.fromhex("020000000002")
BCAST = b"\xff" * 6


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def frame(n: int = 64, dst: bytes = MAC, src: bytes = PEER, fill: int = 0) -> bytes:
    body = bytes((fill + i) & 0xFF for i in range(max(0, n - 14)))
    return (dst + src + b"\x08\x00" + body)[:n]


def make(
    mem_size: int = 4 << 20, base: int = 0, promisc: bool = True, clock: FakeClock | None = None
) -> tuple[Vnic, MiniDriver, list[list[bytes]]]:
    """A device brought up per spec §5 (no queues yet); returns (dev, driver, wire)."""
    mem = FakeMemory(mem_size, base=base)
    dev = Vnic(mem, MAC, clock=clock or FakeClock())
    wire: list[list[bytes]] = []
    dev.transmit = wire.append
    drv = MiniDriver(dev, mem)
    drv.reset_and_init(promisc=promisc)
    return dev, drv, wire


def up(
    count: int = 64, buf: int = 2048, promisc: bool = True, clock: FakeClock | None = None
) -> tuple[Vnic, MiniDriver, list[list[bytes]]]:
    """A device with TX and RX queue 0 running."""
    dev, drv, wire = make(promisc=promisc, clock=clock)
    drv.setup_tx(0, count)
    drv.setup_rx(0, count, buf)
    return dev, drv, wire


def sent(wire: list[list[bytes]]) -> list[bytes]:
    return [f for batch in wire for f in batch]


__all__ = ["BCAST", "MAC", "PEER", "FakeClock", "frame", "make", "sent", "spec", "up"]
