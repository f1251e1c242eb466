"""GuestMemory: every access inside one mapped region, or DmaError."""

from __future__ import annotations

import mmap

import pytest

from vnic.model.memory import DmaError, FakeMemory, GuestMemory


def test_fake_memory_read_write_view() -> None:
    m = FakeMemory(4096, base=0x1000)
    m.write(0x1010, b"abc")
    assert m.read(0x1010, 3) == b"abc"
    v = m.view(0x1010, 3, write=True)
    v[0] = ord("x")
    assert m.buffer[0x10:0x13] == b"xbc"


@pytest.mark.parametrize(
    ("addr", "length"),
    [(0x0FFF, 1), (0x1FFF, 2), (0x2000, 1), (0, 0x10000), (-1, 1), (0x1000, 0x1001)],
)
def test_access_outside_raises_and_touches_nothing(addr: int, length: int) -> None:
    m = FakeMemory(4096, base=0x1000)
    with pytest.raises(DmaError):
        m.read(addr, length)
    with pytest.raises(DmaError):
        m.write(addr, bytes(length) if length > 0 else b"")
    assert m.buffer[:] == bytes(4096)


def test_access_spanning_two_regions_is_refused() -> None:
    m = GuestMemory()
    a, b = bytearray(4096), bytearray(4096)
    m.map(0, 4096, a)
    m.map(4096, 4096, b)
    assert m.read(4095, 1) == b"\0" and m.read(4096, 1) == b"\0"
    with pytest.raises(DmaError):
        m.read(4090, 10)
    with pytest.raises(DmaError):
        m.write(4090, b"x" * 10)
    assert a == bytearray(4096) and b == bytearray(4096)


def test_read_only_region_refuses_writes() -> None:
    m = GuestMemory()
    buf = bytearray(b"rom!" * 1024)
    m.map(0xF0000, 4096, buf, writable=False)
    assert m.read(0xF0000, 4) == b"rom!"
    with pytest.raises(DmaError):
        m.write(0xF0000, b"hack")
    with pytest.raises(DmaError):
        m.view(0xF0000, 4, write=True)
    assert buf[:4] == b"rom!"


def test_bytes_buffer_is_read_only_even_if_asked_writable() -> None:
    m = GuestMemory()
    m.map(0, 4, b"abcd", writable=True)
    with pytest.raises(DmaError):
        m.write(0, b"x")


def test_overlapping_map_and_partial_unmap_are_errors() -> None:
    m = GuestMemory()
    m.map(0x1000, 0x1000, bytearray(0x1000))
    with pytest.raises(ValueError):
        m.map(0x1800, 0x1000, bytearray(0x1000))
    with pytest.raises(ValueError):
        m.map(0x0800, 0x1000, bytearray(0x1000))
    with pytest.raises(ValueError):
        m.unmap(0x1000, 0x800)
    with pytest.raises(ValueError):
        m.map(0, 0x100, bytearray(0x10))  # buffer too small


def test_unmap_and_unmap_all() -> None:
    m = GuestMemory()
    m.map(0, 4096, bytearray(4096))
    m.map(8192, 4096, bytearray(4096))
    g = m.generation
    m.unmap(0, 4096)
    assert m.generation > g
    with pytest.raises(DmaError):
        m.read(0, 1)
    assert m.read(8192, 1) == b"\0"
    m.unmap_all()
    assert m.regions == ()
    with pytest.raises(DmaError):
        m.read(8192, 1)


def test_bytearray_backing_copies_out_bytes() -> None:
    m = GuestMemory()
    m.map(0, 16, bytearray(b"0123456789abcdef"))
    assert m.read(4, 4) == b"4567" and isinstance(m.read(4, 4), bytes)


def test_mmap_backing_can_be_closed_after_unmap() -> None:
    mm = mmap.mmap(-1, 8192)
    m = GuestMemory()
    m.map(0x10000, 8192, mm)
    m.write(0x10000, b"hi")
    assert mm[:2] == b"hi"
    m.unmap(0x10000, 8192)
    mm.close()  # no exported buffer left behind
