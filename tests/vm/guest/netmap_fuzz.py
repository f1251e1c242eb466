"""A hostile netmap program: random requests, indices, lengths and offsets (runs in a guest).

Everything here is what a buggy or malicious program could do through /dev/netmap:
malformed NIOCCTRL headers and bodies, option lists that loop, pointers into nowhere,
legacy requests, bad modes, mmaps of every size and offset, and above all rings whose
head, cur, tail, buffer indices and lengths are rewritten at random before a sync or a
poll. The kernel must answer each with an error or a repaired ring, never with an oops,
a WARN or a leak; the VM test reads the kernel log afterwards.

Standard library only, deliberately independent of vnic.netmap (a bug shared by the
bindings and this program would hide itself). Prints one JSON line: operations per
kind and the errnos seen.
"""

from __future__ import annotations

import argparse
import collections
import ctypes
import errno
import fcntl
import json
import mmap
import os
import random
import select
import struct

NIOCCTRL = 0xC0586997
NIOCREGIF = 0xC03C6992
NIOCGINFO = 0xC03C6991
NIOCTXSYNC = 0x6994
NIOCRXSYNC = 0x6995
HEADER = struct.Struct("<HHI64sQQ")  # nmreq_header, 88 bytes
REGISTER = struct.Struct("<QQIIHHHHHHIIIQ")  # nmreq_register, 56 bytes
LEGACY = struct.Struct("<16sIIIIIHHHHHHII4x")  # struct nmreq, 60 bytes
OPTION = struct.Struct("<QIIQ")  # nmreq_option, 24 bytes
RING_HEAD = struct.Struct("<qIIHHIII")  # buf_ofs .. flags
SLOT = struct.Struct("<IHHQ")
SLOTS_AT = 256
NOWHERE = [0, 8, 0x1000, 0xFFFF_8880_0000_0000, 0xFFFF_FFFF_FFFF_F000, 2**64 - 1]


class Buffer:
    """Pinned user memory whose address can be handed to the kernel."""

    def __init__(self, size: int) -> None:
        self.raw = ctypes.create_string_buffer(size)
        self.address = ctypes.addressof(self.raw)

    def write(self, data: bytes, offset: int = 0) -> None:
        ctypes.memmove(self.address + offset, data, len(data))


class Fuzzer:
    def __init__(self, seed: int, names: list[str]) -> None:
        self.rng = random.Random(seed)
        self.names = names
        self.fd = os.open("/dev/netmap", os.O_RDWR)
        self.region: mmap.mmap | None = None
        self.nifp = 0
        self.counts: collections.Counter[str] = collections.Counter()
        self.errnos: collections.Counter[str] = collections.Counter()
        self.body = Buffer(4096)
        self.options = Buffer(4096)

    # -- the kernel's answers -------------------------------------------------------------

    def ioctl(self, kind: str, request: int, arg: bytearray | int = 0) -> bool:
        self.counts[kind] += 1
        try:
            fcntl.ioctl(self.fd, request, arg)
            return True
        except OSError as exc:
            self.errnos[errno.errorcode.get(exc.errno or 0, str(exc.errno))] += 1
            return False

    # -- requests -------------------------------------------------------------------------

    def name(self) -> bytes:
        r = self.rng.random()
        if r < 0.6:
            return self.rng.choice(self.names).encode() + self.rng.choice([b"", b"^", b"*"])
        if r < 0.8:
            return self.rng.choice([b"lo", b"vale0:p", b"eth0{1", b"", b"nosuch0"])
        return bytes(self.rng.randrange(256) for _ in range(self.rng.randrange(80)))

    def register_body(self, valid: bool) -> bytes:
        rng = self.rng
        mode = rng.choice([1, 2, 3, 4, 8]) if valid else rng.randrange(-2, 12) & 0xFFFFFFFF
        ringid = rng.choice([0, 1, 2, 7, 4095, 65535]) if not valid else rng.randrange(3)
        flags = rng.choice([0, 0x800, 0x2000, 0x4000, 0x1000, 0x10000, 0x20000])
        if not valid:
            flags |= rng.getrandbits(64)
        return REGISTER.pack(
            rng.getrandbits(64) if not valid else 0,
            0,
            rng.choice([0, 1, 64, 100000]),
            rng.choice([0, 1, 64, 100000]),
            rng.choice([0, 1, 9]),
            rng.choice([0, 1, 9]),
            0,
            0,
            rng.choice([0, 1]) if valid else rng.randrange(65536),
            ringid,
            mode,
            rng.choice([0, 1, 16, 5000, 0xFFFFFFFF]) if rng.random() < 0.3 else 0,
            0,
            flags,
        )

    def option_list(self) -> int:
        """0, a pointer into nowhere, a short list, a duplicate pair, or a loop."""
        rng = self.rng
        shape = rng.choice(["none", "none", "nowhere", "list", "dup", "loop", "zero"])
        if shape == "none":
            return 0
        if shape == "nowhere":
            return rng.choice(NOWHERE[1:])
        a, b = self.options.address, self.options.address + 64
        kind = rng.randrange(1, 8)
        if shape == "list":
            self.options.write(OPTION.pack(0, kind, 0, rng.choice([0, 8, 100000])))
        elif shape == "dup":
            self.options.write(OPTION.pack(b, kind, 0, 0))
            self.options.write(OPTION.pack(0, kind, 0, 0), 64)
        elif shape == "loop":
            self.options.write(OPTION.pack(b, 1, 0, 0))
            self.options.write(OPTION.pack(a, 2, 0, 0), 64)
        else:
            self.options.write(OPTION.pack(0, 0, 0, 0))
        return a

    def ctrl(self) -> None:
        rng = self.rng
        reqtype = rng.choice([1, 1, 1, 2, 6, 7, 12, rng.randrange(0, 40)])
        valid = rng.random() < 0.5
        if reqtype == 1:
            self.body.write(self.register_body(valid))
        else:
            self.body.write(bytes(rng.randrange(256) for _ in range(64)))
        body = self.body.address if rng.random() < 0.85 else rng.choice(NOWHERE)
        header = bytearray(
            HEADER.pack(
                14 if valid or rng.random() < 0.5 else rng.randrange(65536),
                reqtype,
                0 if valid or rng.random() < 0.7 else rng.getrandbits(32),
                self.name(),
                self.option_list() if not valid else 0,
                body,
            )
        )
        kind = f"ctrl{reqtype if reqtype < 16 else 'X'}"
        if self.ioctl(kind, NIOCCTRL, header) and reqtype == 1:
            offset, memsize = struct.unpack_from("<QQ", self.body.raw.raw)
            self.mapped(offset, memsize)

    def legacy(self) -> None:
        rng = self.rng
        req = bytearray(
            LEGACY.pack(
                self.name()[:15],
                rng.choice([11, 14, 14, 15, rng.getrandbits(32)]),
                0,
                0,
                0,
                0,
                0,
                0,
                rng.choice([0, 0x2000, 0x4000 | 1, 0x1000, rng.getrandbits(16)]),
                rng.choice([0, 0, 1, 12]),
                0,
                rng.choice([0, 1, 3]),
                rng.choice([0, 4, 0xFFFFFFFF]),
                rng.choice([0, 1, 2, 3, 4, 5, 6, 7, 8, 15]) | rng.choice([0, 0x800]),
            )
        )
        request = NIOCREGIF if rng.random() < 0.7 else NIOCGINFO
        if self.ioctl("legacy", request, req) and request == NIOCREGIF:
            offset, memsize = struct.unpack_from("<II", req, 20)
            self.mapped(offset, memsize)

    def mapped(self, offset: int, memsize: int) -> None:
        """A successful REGISTER: map the region (sometimes badly) and remember the if."""
        self.counts["mmap"] += 1
        try:
            size = self.rng.choice([memsize, memsize, memsize + 4096, 4096])
            pgoff = self.rng.choice([0, 0, 0, 4096, memsize])
            region = mmap.mmap(self.fd, size, offset=pgoff)
        except (OSError, ValueError, OverflowError) as exc:
            self.errnos[f"mmap:{type(exc).__name__}"] += 1
            return
        if size != memsize or pgoff:
            region.close()  # a sub-mapping: fine, but not one to fuzz rings through
            return
        self.region, self.nifp = region, offset

    # -- rings ----------------------------------------------------------------------------

    def rings(self) -> list[int]:
        """Offsets of the bound rings in the mapping (ring_ofs[] entries that are set)."""
        assert self.region is not None
        tx, rx = struct.unpack_from("<II", self.region, self.nifp + 24)
        htx, hrx = struct.unpack_from("<II", self.region, self.nifp + 36)
        count = min(tx + max(1, htx) + rx + max(1, hrx), 120)
        offsets = struct.unpack_from(f"<{count}q", self.region, self.nifp + 56)
        return [self.nifp + o for o in offsets if o]

    def scribble(self) -> None:
        """Rewrite one ring's indices and some slots, then sync or poll it."""
        if self.region is None:
            self.sync()
            return
        rng = self.rng
        rings = self.rings()
        if rings:
            at = rng.choice(rings)
            _, n, _, _, _, head, cur, tail = RING_HEAD.unpack_from(self.region, at)
            n = max(1, min(n, 4096))  # the program can overwrite num_slots too
            if rng.random() < 0.05:  # the kernel must never believe these
                struct.pack_into("<qII", self.region, at, rng.getrandbits(63), n * 7, 1)

            def index() -> int:
                near = [head, cur, tail, (head + 1) % n, (tail + n - 1) % n, rng.randrange(n)]
                return rng.choice([*near, n, n + 1, 2**32 - 1, rng.getrandbits(32)])

            struct.pack_into("<III", self.region, at + 20, index(), index(), index())
            for _ in range(rng.randrange(4)):
                slot = at + SLOTS_AT + 16 * rng.randrange(n)
                struct.pack_into(
                    "<IHH",
                    self.region,
                    slot,
                    rng.choice([0, 1, 2, 3, 100, 2**32 - 1, rng.getrandbits(32)]),
                    rng.choice([0, 14, 60, 2048, 2049, 65535]),
                    rng.getrandbits(16),
                )
        self.sync()

    def sync(self) -> None:
        r = self.rng.random()
        if r < 0.4:
            self.ioctl("txsync", NIOCTXSYNC)
        elif r < 0.8:
            self.ioctl("rxsync", NIOCRXSYNC)
        else:
            self.counts["poll"] += 1
            poller = select.poll()
            poller.register(self.fd, self.rng.choice([select.POLLIN, select.POLLOUT, 0xFFFF]))
            poller.poll(0)

    def reopen(self) -> None:
        self.counts["reopen"] += 1
        if self.region is not None:
            self.region.close()
            self.region = None
        os.close(self.fd)
        self.fd = os.open("/dev/netmap", os.O_RDWR)

    def stray(self) -> None:
        """ioctl numbers around netmap's, with garbage arguments (fcntl passes a C int)."""
        request = self.rng.choice([0x6990, 0x6993, 0x6996, 0x6998, 0xC1106996, 0x40046994])
        self.ioctl("stray", request, self.rng.choice([0, 8, 0x1000, -4096, 0x7FFFFFFF]))

    def run(self, operations: int) -> None:
        actions = [self.ctrl] * 4 + [self.legacy] * 2 + [self.scribble] * 8
        actions += [self.reopen, self.stray]
        for _ in range(operations):
            self.rng.choice(actions)()
        self.reopen()
        os.close(self.fd)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--operations", type=int, default=10000)
    parser.add_argument("names", nargs="+", help="interfaces with a netmap adapter")
    args = parser.parse_args()
    fuzzer = Fuzzer(args.seed, args.names)
    fuzzer.run(args.operations)
    total = sum(fuzzer.counts.values())
    print(json.dumps({"operations": total, "counts": fuzzer.counts, "errnos": fuzzer.errnos}))


if __name__ == "__main__":
    main()
