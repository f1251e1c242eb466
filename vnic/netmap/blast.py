"""Send numbered frames through a netmap port as fast as Python can, or count them arriving.

    python3 -m vnic.netmap.blast tx netmap:eth0 --seconds 5 --batch 256 --size 60
    python3 -m vnic.netmap.blast rx netmap:eth0 --seconds 10 --expect 1000000
    python3 -m vnic.netmap.blast tx netmap:eth0 --fake     # no kernel: Python's share alone

Each mode prints one JSON line. tx gives ``pps``, ``packets``, ``syncs`` and
``slots_per_sync`` (the benchmark ``netmap_tx_pps_python``); rx gives what arrived and what
the sequence numbers say about it: ``lost``, ``out_of_order``, ``duplicates``.

The frame (``--size`` bytes, without FCS)::

    0   destination  ff:ff:ff:ff:ff:ff (broadcast)
    6   source       the interface's MAC, from /sys/class/net/IF/address
    12  ethertype    0x88B5 (IEEE "local experimental")
    14  sequence     big-endian u64: 0, 1, 2, ... in sending order
    22  nonce        8 bytes chosen per run, so rx can tell this run from others
    30  padding      zeros up to --size

The TX loop is the netmap one: fill every free slot (up to ``--batch`` per ring) with one
batch call, then one txsync for all of them; when the ring is full, txsync again (it reclaims
sent slots) or, with ``--poll``, wait in poll(). ``slots_per_sync`` is how well the doorbell
was amortised.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from vnic.netmap.memory import Ring
from vnic.netmap.names import parse_port_name

ETHERTYPE = 0x88B5
SEQ_OFFSET = 14
NONCE_OFFSET = 22
NONCE_SIZE = 8
HEADER_SIZE = NONCE_OFFSET + NONCE_SIZE  # 30: the smallest frame we can check
BROADCAST = b"\xff" * 6
FALLBACK_MAC = bytes.fromhex("020000000001")  # locally administered, when sysfs has none
_CHECK = struct.Struct(">HQ8s")  # ethertype, sequence, nonce, from byte 12
MAX_SEQ_JUMP = 1 << 24  # a sequence this far ahead of the last is garbage, not loss


class SyncPort(Protocol):
    """What the loops need of a port: :class:`vnic.netmap.Port` or the fake one."""

    tx_rings: list[Ring]
    rx_rings: list[Ring]

    def txsync(self) -> None: ...

    def poll(self, timeout_ms: int = -1, rx: bool = True, tx: bool = False) -> bool: ...


def interface_mac(interface: str | None) -> bytes:
    """The MAC of an OS interface from sysfs, or a fixed local one (VALE ports, --fake)."""
    if interface is None:
        return FALLBACK_MAC
    try:
        text = Path(f"/sys/class/net/{interface}/address").read_text().strip()
        return bytes.fromhex(text.replace(":", ""))
    except (OSError, ValueError):
        return FALLBACK_MAC


def build_frame(src_mac: bytes, nonce: bytes, size: int) -> bytes:
    """The template frame with sequence number 0; :meth:`Ring.fill` numbers the copies."""
    if not HEADER_SIZE <= size <= 0xFFFF:
        raise ValueError(f"--size {size}: a frame needs {HEADER_SIZE}..65535 bytes")
    head = BROADCAST + src_mac + ETHERTYPE.to_bytes(2, "big") + bytes(8) + nonce
    return head + bytes(size - len(head))


def transmit(
    port: SyncPort,
    frame: bytes,
    seconds: float,
    *,
    batch: int = 256,
    count: int | None = None,
    use_poll: bool = False,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Send copies of ``frame`` numbered 0, 1, 2, ... for ``seconds`` (or ``count`` frames),
    then wait (up to 2 s) until the rings are drained. The rate counts the drain too."""
    rings = port.tx_rings
    if not rings:
        raise ValueError("no TX ring is bound (was the port opened with /R?)")
    seq = syncs = 0
    limit = count if count is not None else 1 << 63
    start = clock()
    deadline = start + seconds
    while seq < limit and clock() < deadline:
        filled = 0
        for ring in rings:
            n = ring.fill(frame, min(batch, limit - seq), seq=seq, seq_offset=SEQ_OFFSET)
            seq += n
            filled += n
        if filled == 0 and use_poll:
            port.poll(100, rx=False, tx=True)  # sleep until a TX interrupt frees slots
        else:
            port.txsync()  # the doorbell: one per batch
        syncs += 1
    drain_until = clock() + 2.0
    while any(r.tx_pending() for r in rings) and clock() < drain_until:
        port.txsync()
        syncs += 1
    elapsed = clock() - start
    return {
        "pps": round(seq / elapsed) if elapsed > 0 else 0,
        "packets": seq,
        "syncs": syncs,
        "slots_per_sync": round(seq / syncs, 2) if syncs else 0.0,
        "seconds": round(elapsed, 3),
        "drained": not any(r.tx_pending() for r in rings),
    }


class SequenceCheck:
    """What a stream of sequence numbers says: how many unique ones, duplicates, late
    arrivals and, from the gaps, how many were lost. One byte per number since the first."""

    def __init__(self, first: int | None = None) -> None:
        self.first = first  # None: start at whatever arrives first
        self.seen = bytearray()
        self.highest = -1  # highest index (sequence - first) seen
        self.unique = self.duplicates = self.out_of_order = self.invalid = 0

    def add(self, seq: int) -> None:
        if self.first is None:
            self.first = seq
        i = seq - self.first
        if i < 0 or i - self.highest > MAX_SEQ_JUMP:
            self.invalid += 1
            return
        if i >= len(self.seen):
            self.seen.extend(bytes(max(i + 1 - len(self.seen), len(self.seen), 4096)))
        if self.seen[i]:
            self.duplicates += 1
            return
        self.seen[i] = 1
        self.unique += 1
        if i < self.highest:
            self.out_of_order += 1
        else:
            self.highest = i

    def lost(self, expect: int | None = None) -> int:
        """Numbers never seen: below the highest one seen, or below ``expect`` if given."""
        span = self.highest + 1 if expect is None else expect
        return max(0, span - self.unique)


def receive(
    port: SyncPort,
    seconds: float,
    *,
    nonce: bytes | None = None,
    expect: int | None = None,
    idle: float = 2.0,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Count frames for ``seconds``, stopping early after ``idle`` seconds without any once
    something arrived, or when ``expect`` frames are in. Frames of another ethertype or
    nonce are counted as ``foreign``; without ``nonce`` the first valid frame's is taken."""
    check = SequenceCheck(first=0 if expect is not None else None)
    frames = foreign = polls = 0
    first_at = last_at = 0.0
    deadline = clock() + seconds
    while (now := clock()) < deadline:
        if expect is not None and check.unique >= expect:
            break
        if frames and now - last_at > idle:
            break
        polls += 1
        if not port.poll(100, rx=True):
            continue
        for ring in port.rx_rings:
            for f in ring.receive():
                frames += 1
                if len(f) < HEADER_SIZE:
                    foreign += 1
                    continue
                ethertype, seq, frame_nonce = _CHECK.unpack_from(f, 12)
                if ethertype != ETHERTYPE:
                    foreign += 1
                    continue
                if nonce is None:
                    nonce = frame_nonce
                if frame_nonce != nonce:
                    foreign += 1
                    continue
                check.add(seq)
        last_at = clock()
        if not first_at:
            first_at = last_at
    span = last_at - first_at
    valid = check.unique + check.duplicates
    return {
        "packets": valid,
        "pps": round(valid / span) if span > 0 else 0,
        "frames": frames,
        "unique": check.unique,
        "lost": check.lost(expect),
        "out_of_order": check.out_of_order,
        "duplicates": check.duplicates,
        "invalid": check.invalid,
        "foreign": foreign,
        "polls": polls,
        "first_seq": check.first,
        "last_seq": None if check.first is None else check.first + check.highest,
        "nonce": nonce.hex() if nonce else None,
        "seconds": round(span, 3),
    }


def _open(args: argparse.Namespace) -> Any:
    if args.fake:
        from vnic.netmap.testing import FakePort, build_region

        return FakePort(build_region(num_slots=args.fake_slots), record=False)
    from vnic.netmap.port import Port

    return Port.open(args.port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m vnic.netmap.blast", description=__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="mode", required=True)
    for mode in ("tx", "rx"):
        p = sub.add_parser(mode, help=f"{'send' if mode == 'tx' else 'count'} numbered frames")
        p.add_argument("port", help="netmap port name, e.g. netmap:eth0 or netmap:eth0-1")
        p.add_argument("--seconds", type=float, default=5.0, help="how long to run")
        p.add_argument("--nonce", help="16 hex digits (tx: default random; rx: default the first)")
        p.add_argument("--fake", action="store_true", help="no kernel: an in-memory port")
        p.add_argument("--fake-slots", type=int, default=1024, help="ring size with --fake")
    tx = sub.choices["tx"]
    tx.add_argument("--batch", type=int, default=256, help="frames filled per ring per sync")
    tx.add_argument("--size", type=int, default=60, help="frame size in bytes, without FCS")
    tx.add_argument("--count", type=int, help="stop after this many frames")
    tx.add_argument("--poll", action="store_true", help="wait in poll() when the ring is full")
    tx.add_argument("--src", help="source MAC (default: the interface's)")
    rx = sub.choices["rx"]
    rx.add_argument("--expect", type=int, help="frames sent (0..N-1): lets rx count tail loss")
    rx.add_argument("--idle", type=float, default=2.0, help="stop after this long without frames")
    args = parser.parse_args(argv)

    try:
        name = parse_port_name(args.port)
        nonce = bytes.fromhex(args.nonce) if args.nonce else None
        if nonce is not None and len(nonce) != NONCE_SIZE:
            raise ValueError(f"--nonce needs {2 * NONCE_SIZE} hex digits")
    except ValueError as exc:
        parser.error(str(exc))
    try:
        port = _open(args)
    except OSError as exc:
        print(f"blast: {exc}", file=sys.stderr)
        return 1
    with port:
        result: dict[str, Any] = {"mode": args.mode, "port": args.port, "fake": args.fake}
        if args.mode == "tx":
            nonce = nonce or os.urandom(NONCE_SIZE)
            src = bytes.fromhex(args.src.replace(":", "")) if args.src else None
            try:
                frame = build_frame(src or interface_mac(name.interface), nonce, args.size)
                stats = transmit(
                    port,
                    frame,
                    args.seconds,
                    batch=args.batch,
                    count=args.count,
                    use_poll=args.poll,
                )
            except ValueError as exc:
                print(f"blast: {exc}", file=sys.stderr)
                return 2
            result.update(stats, size=args.size, batch=args.batch, nonce=nonce.hex())
        else:
            stats = receive(port, args.seconds, nonce=nonce, expect=args.expect, idle=args.idle)
            result.update(stats)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
