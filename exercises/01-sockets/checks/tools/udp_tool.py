"""The exercise's own UDP ends (never the student's): a verifying sink and a blaster.

    python3 udp_tool.py sink --port 9000 --count N --nonce HEX [--idle 3]
    python3 udp_tool.py blast --dest IP:PORT --count N --size S --nonce HEX [--rate PPS]

The datagram format is the exercise's contract (see the handout): sequence number
(4 bytes, big-endian), the run's nonce (8 bytes), filler.  The sink prints one JSON
line with what arrived, counting duplicates, foreign datagrams and valid ones that came
after a higher sequence number (out of order) apart, and the span
between the kernel's arrival stamps of the first and the last valid datagram: the
rate the checks report is the one the receiver saw, not what the sender says of itself.
"""

from __future__ import annotations

import argparse
import json
import socket
import struct
import time

HEADER = struct.Struct("!I8s")
# Linux stamps each datagram as it arrives; the Python module may not name the option.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
TIMESPEC = struct.Struct("@qq")
FILLER = b"ringlab-sockets!" * 128


def sink(port: int, count: int, nonce: bytes, idle: float, first: float) -> dict[str, object]:
    """Take datagrams until ``count`` of this run arrived, or none came for ``idle`` s.

    The first datagram may take ``first`` s: the sender is a Python program starting in
    another guest, which under TCG takes seconds.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.bind(("0.0.0.0", port))
    sock.settimeout(first)
    print(json.dumps({"listening": port}), flush=True)
    seen: set[int] = set()
    received = foreign = duplicates = out_of_order = 0
    highest = -1
    started = last = 0.0
    first_arrival = last_arrival = 0.0
    while len(seen) < count:
        try:
            data, ancillary, _, _ = sock.recvmsg(4096, socket.CMSG_SPACE(TIMESPEC.size))
        except TimeoutError:
            break
        last = time.perf_counter()
        if not started:
            started = last
            sock.settimeout(idle)
        received += 1
        if len(data) < HEADER.size:
            foreign += 1
            continue
        seq, got = HEADER.unpack_from(data)
        if got != nonce or seq >= count or data[HEADER.size :] != FILLER[: len(data) - 12]:
            foreign += 1
        elif seq in seen:
            duplicates += 1
        else:
            seen.add(seq)
            out_of_order += seq < highest
            highest = max(highest, seq)
            arrival = kernel_stamp(ancillary) or time.time()  # the same clock
            first_arrival = first_arrival or arrival
            last_arrival = arrival
    return {
        "received": received,
        "valid": len(seen),
        "foreign": foreign,
        "duplicates": duplicates,
        "out_of_order": out_of_order,
        "seconds": last - started,
        "arrival_seconds": last_arrival - first_arrival,
    }


def kernel_stamp(ancillary: list[tuple[int, int, bytes]]) -> float:
    """The arrival time the kernel stamped on a datagram (0 when it did not)."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= TIMESPEC.size:
            sec, nsec = TIMESPEC.unpack_from(data)
            return sec + nsec / 1e9
    return 0.0


def blast(dest: str, count: int, size: int, nonce: bytes, rate: float) -> dict[str, object]:
    host, port = dest.rsplit(":", 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect((host, int(port)))
    filler = FILLER[: max(0, size - HEADER.size)]
    started = time.perf_counter()
    refused = 0
    for seq in range(count):
        try:
            sock.send(HEADER.pack(seq, nonce) + filler)
        except ConnectionRefusedError:
            # b said "port unreachable" to an earlier datagram: the receiver has gone.
            # Send on; what the receiver took is for the check to judge, not the sender.
            refused += 1
        if rate and seq % 32 == 31:  # paced in bursts: a slow receiver is not flooded
            ahead = started + (seq + 1) / rate - time.perf_counter()
            if ahead > 0:
                time.sleep(ahead)
    seconds = time.perf_counter() - started
    return {"sent": count - refused, "refused": refused, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("role", choices=["sink", "blast"])
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--dest", default="198.18.0.2:9000")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--nonce", default="0" * 16)
    parser.add_argument("--idle", type=float, default=3.0)
    parser.add_argument("--first", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=0.0)
    args = parser.parse_args()
    nonce = bytes.fromhex(args.nonce)
    if args.role == "sink":
        print(json.dumps(sink(args.port, args.count, nonce, args.idle, args.first)))
    else:
        print(json.dumps(blast(args.dest, args.count, args.size, nonce, args.rate)))


if __name__ == "__main__":
    main()
