"""Guest memory as the device sees it: a set of DMA-mapped regions.

In production each region is an ``mmap.mmap`` of QEMU's guest-RAM memfd, mapped when the
vfio-user client sends DMA_MAP; in unit tests it is a ``bytearray`` (see :class:`FakeMemory`).

Every access is checked: it must lie wholly inside ONE mapped region, and a write needs a
writable region. Anything else raises :class:`DmaError` and touches nothing, so a hostile
guest cannot make the device read or write outside what QEMU mapped.
"""

from __future__ import annotations

import bisect
import mmap
from typing import TypeAlias

#: Anything with the buffer protocol the device may map or copy from.
Buffer: TypeAlias = bytes | bytearray | memoryview | mmap.mmap


class DmaError(Exception):
    """A DMA access outside the mapped regions (or a write to a read-only one)."""


class Region:
    """One DMA-mapped range ``[iova, end)`` backed by ``mv`` (a byte memoryview).

    ``copier`` is the object to slice for a ``bytes`` copy: the mmap itself when the region
    is a whole mmap (one copy, no intermediate memoryview; the hot TX path uses it), else
    ``mv``, whose slices need ``bytes()``.
    """

    __slots__ = ("copier", "end", "iova", "mv", "size", "writable")

    def __init__(
        self, iova: int, size: int, mv: memoryview, writable: bool, copier: Buffer
    ) -> None:
        self.iova = iova
        self.size = size
        self.end = iova + size
        self.mv = mv
        self.writable = writable
        self.copier = copier

    def __repr__(self) -> str:
        mode = "rw" if self.writable else "ro"
        return f"Region({self.iova:#x}..{self.end:#x} {mode})"


class GuestMemory:
    """The DMA-mapped regions of one device, with checked access.

    Hot paths call :meth:`region` once per batch and then index the region's memoryview
    themselves (see ``device.py``); :meth:`read`, :meth:`write` and :meth:`view` are the
    convenient checked forms.
    """

    def __init__(self) -> None:
        self._regions: list[Region] = []  # sorted by iova, never overlapping
        self._starts: list[int] = []
        #: Bumped by every map/unmap, so callers may cache a lookup while it is unchanged.
        self.generation = 0

    # -- mapping -------------------------------------------------------------------------

    def map(self, iova: int, size: int, buffer: Buffer, writable: bool = True) -> None:
        """Make ``size`` bytes of ``buffer`` visible at guest address ``iova``.

        Raises ValueError if the range overlaps an existing map or the buffer is too small.
        """
        if size <= 0 or iova < 0:
            raise ValueError(f"bad DMA map {iova:#x}+{size:#x}")
        mv = memoryview(buffer)
        if mv.format != "B" or mv.ndim != 1:
            mv = mv.cast("B")
        if len(mv) < size:
            raise ValueError(f"buffer of {len(mv)} bytes is smaller than the map ({size})")
        mv = mv[:size]
        writable = writable and not mv.readonly
        i = bisect.bisect_right(self._starts, iova)
        if i > 0 and self._regions[i - 1].end > iova:
            raise ValueError(f"DMA map {iova:#x}+{size:#x} overlaps {self._regions[i - 1]}")
        if i < len(self._regions) and self._regions[i].iova < iova + size:
            raise ValueError(f"DMA map {iova:#x}+{size:#x} overlaps {self._regions[i]}")
        copier: Buffer = buffer if isinstance(buffer, (mmap.mmap, bytes)) else mv
        self._regions.insert(i, Region(iova, size, mv, writable, copier))
        self._starts.insert(i, iova)
        self.generation += 1

    def unmap(self, iova: int, size: int) -> None:
        """Remove every region lying inside ``[iova, iova+size)``.

        A region only partly inside raises ValueError (vfio-user unmaps what it mapped).
        The region's memoryview is released, so the owner may close its mmap afterwards.
        """
        end = iova + size
        keep: list[Region] = []
        gone: list[Region] = []
        for r in self._regions:
            if r.iova >= iova and r.end <= end:
                gone.append(r)
            elif r.iova < end and r.end > iova:
                raise ValueError(f"DMA unmap {iova:#x}+{size:#x} splits {r}")
            else:
                keep.append(r)
        self._set(keep)
        for r in gone:
            r.mv.release()

    def unmap_all(self) -> None:
        """Remove every region (vfio-user DMA_UNMAP with the ALL flag, or disconnect)."""
        gone = self._regions
        self._set([])
        for r in gone:
            r.mv.release()

    def _set(self, regions: list[Region]) -> None:
        self._regions = regions
        self._starts = [r.iova for r in regions]
        self.generation += 1

    @property
    def regions(self) -> tuple[Region, ...]:
        return tuple(self._regions)

    # -- access --------------------------------------------------------------------------

    def region(self, addr: int, length: int, write: bool = False) -> Region:
        """The one region holding all of ``[addr, addr+length)``, else DmaError."""
        i = bisect.bisect_right(self._starts, addr) - 1
        if i >= 0 and length >= 0:
            r = self._regions[i]
            if addr + length <= r.end and (r.writable or not write):
                return r
        what = "write" if write else "read"
        raise DmaError(f"DMA {what} of {length} bytes at {addr:#x} is outside the mapped memory")

    def view(self, addr: int, length: int, write: bool = False) -> memoryview:
        """A zero-copy memoryview of ``[addr, addr+length)`` (writable if ``write``).

        Do not keep it beyond the current operation: a later unmap releases the region.
        """
        r = self.region(addr, length, write)
        o = addr - r.iova
        return r.mv[o : o + length]

    def read(self, addr: int, length: int) -> bytes:
        """A copy of ``length`` bytes at ``addr``."""
        r = self.region(addr, length)
        o = addr - r.iova
        return r.mv[o : o + length].tobytes()

    def write(self, addr: int, data: Buffer) -> None:
        """Copy ``data`` to ``addr``."""
        n = len(memoryview(data))
        r = self.region(addr, n, write=True)
        o = addr - r.iova
        r.mv[o : o + n] = data


class FakeMemory(GuestMemory):
    """Guest memory for tests and benchmarks: one anonymous mmap at ``base``, like the
    production memfd mapping (``buffer`` slices and assigns like a bytearray)."""

    def __init__(self, size: int, base: int = 0) -> None:
        super().__init__()
        self.base = base
        self.size = size
        self.buffer = mmap.mmap(-1, size)
        self.map(base, size, self.buffer, writable=True)
