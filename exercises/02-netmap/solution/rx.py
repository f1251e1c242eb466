"""Receive numbered frames on a netmap port: poll(), take every slot in [head, tail), give
them back.  Stops when COUNT distinct frames of the run arrived, or after IDLE seconds
without any.

    python3 rx.py netmap:eth0 --count 3000 --nonce 0011223344556677

Prints one JSON line: the slots taken (``received``), the valid frames of this run, what
the sequence numbers say (``lost``, ``duplicates``) and the ``poll()`` calls made.  The
checks compare ``received`` with what netmap.ko says it handed over.
"""

from __future__ import annotations

import argparse
import json
import struct
import time

from vnic.netmap import Port
from vnic.netmap.blast import ETHERTYPE, HEADER_SIZE, SequenceCheck

#: ethertype, sequence number and nonce, from byte 12 of a frame.
FIELDS = struct.Struct(">HQ8s")


def receive(port: Port, count: int, nonce: bytes, idle: float) -> dict[str, int]:
    """Take frames until ``count`` distinct ones of this run are in (or ``idle`` seconds
    pass without a frame); return the tallies."""
    check = SequenceCheck(first=0)
    received = foreign = polls = 0
    # port.poll() waits and syncs the RX rings; Ring.receive() copies out the frames in
    # [head, tail) and advances head past them, so the next poll gives those slots back.
    # TODO 2: poll, receive every RX ring, count each frame, check ethertype and nonce
    last = time.monotonic()
    while check.unique < count:
        polls += 1
        if not port.poll(100):
            if time.monotonic() - last > idle:
                break
            continue
        last = time.monotonic()
        for ring in port.rx_rings:
            for frame in ring.receive():
                received += 1
                if len(frame) < HEADER_SIZE:
                    foreign += 1
                    continue
                ethertype, seq, frame_nonce = FIELDS.unpack_from(frame, 12)
                if ethertype != ETHERTYPE or frame_nonce != nonce:
                    foreign += 1
                    continue
                check.add(seq)
    # END TODO 2
    return {
        "received": received,
        "valid": check.unique,
        "lost": check.lost(count),
        "duplicates": check.duplicates,
        "foreign": foreign,
        "polls": polls,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", help="netmap port, e.g. netmap:eth0")
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--nonce", default="0" * 16, help="16 hex digits")
    parser.add_argument("--idle", type=float, default=5.0, help="give up after this long")
    args = parser.parse_args()
    with Port.open(args.port) as port:
        print(json.dumps({"listening": args.port}), flush=True)
        report = receive(port, args.count, bytes.fromhex(args.nonce), args.idle)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
