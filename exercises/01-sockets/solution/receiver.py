"""UDP receiver: take datagrams of one run on PORT with one recvfrom() each, or in
recvmmsg() batches (step 3); stop after COUNT or when nothing came for IDLE seconds.
Prints one JSON line: received, valid, the sum of sequence numbers, system calls.

    python3 receiver.py --port 9000 --count 1000 --nonce 0011223344556677
        --mode recvfrom|recvmmsg [--batch 32] [--idle 3]
"""

from __future__ import annotations

import argparse
import json
import select
import socket
import time
from collections.abc import Callable

from udp import MmsgBatch, check, libc, parse

MSG_WAITFORONE = 0x10000
SIZE = 2048


def readable(sock: socket.socket, idle: float) -> bool:
    """Wait up to ``idle`` seconds for a datagram (the socket itself stays blocking)."""
    return bool(select.select([sock], [], [], idle)[0])


def receive_one_by_one(
    sock: socket.socket, count: int, take: Callable[[bytes], None], idle: float
) -> int:
    """One recvfrom() per datagram until ``count`` arrived or none came for ``idle`` s."""
    calls = 0
    for _ in range(count):
        if not readable(sock, idle):
            break
        data, _ = sock.recvfrom(SIZE)
        calls += 1
        take(data)
    return calls


def receive_batched(
    sock: socket.socket, count: int, take: Callable[[bytes], None], idle: float, batch: int
) -> int:
    """recvmmsg() batches until ``count`` arrived or none came for ``idle`` s; return calls."""
    # TODO 3: wait until readable(), then recvmmsg(fd, msgs, n, MSG_WAITFORONE, NULL) and
    # hand each datagram to take(); MSG_WAITFORONE returns what is queued after the first
    slots = MmsgBatch(batch, SIZE)
    calls = got = 0
    while got < count and readable(sock, idle):
        slots.reset_lengths()
        n = check(libc.recvmmsg(sock.fileno(), slots.msgs, min(batch, count - got),
                                MSG_WAITFORONE, None))  # fmt: skip
        calls += 1
        for i in range(n):
            take(slots.data(i))
        got += n
    return calls
    # END TODO 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--nonce", default="0" * 16)
    parser.add_argument("--mode", choices=["recvfrom", "recvmmsg"], default="recvfrom")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--idle", type=float, default=3.0)
    args = parser.parse_args()
    nonce = bytes.fromhex(args.nonce)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    # A deep socket buffer: a slow receiver should show up as time, not as loss.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.bind(("0.0.0.0", args.port))
    seen = {"received": 0, "valid": 0, "seq_sum": 0}

    def take(data: bytes) -> None:
        seen["received"] += 1
        seq = parse(data, nonce)
        if seq is not None:
            seen["valid"] += 1
            seen["seq_sum"] += seq

    print(json.dumps({"listening": args.port}), flush=True)
    started = time.perf_counter()
    if args.mode == "recvfrom":
        calls = receive_one_by_one(sock, args.count, take, args.idle)
    else:
        calls = receive_batched(sock, args.count, take, args.idle, args.batch)
    seconds = time.perf_counter() - started
    print(json.dumps({**seen, "calls": calls, "seconds": seconds}))


if __name__ == "__main__":
    main()
