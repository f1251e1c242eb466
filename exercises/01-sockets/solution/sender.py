"""UDP sender: COUNT datagrams to DEST, one sendto() each (step 1) or in sendmmsg() batches
(step 2).  Prints one JSON line: what was sent, how long it took, how many system calls.

    python3 sender.py --dest 198.18.0.2:9000 --count 1000 --size 64 --nonce 0011223344556677
        --mode sendto|sendmmsg [--batch 32]
"""

from __future__ import annotations

import argparse
import json
import socket
import time

from udp import MmsgBatch, check, libc, payload


def send_one_by_one(sock: socket.socket, datagrams: list[bytes]) -> int:
    """Send each datagram with its own sendto(); return the number of system calls."""
    # TODO 1: one sendto() per datagram on the connected socket; count the calls
    calls = 0
    for data in datagrams:
        sock.send(data)
        calls += 1
    return calls
    # END TODO 1


def send_batched(sock: socket.socket, slots: MmsgBatch, batch: int) -> int:
    """Send every slot in sendmmsg() batches of up to ``batch``; return the calls made."""
    # TODO 2: call libc.sendmmsg(fd, slots.at(sent), n, 0) until every slot is sent
    calls = sent = 0
    while sent < slots.count:
        n = min(batch, slots.count - sent)
        # sendmmsg may send fewer than asked (a full socket buffer): go on from there
        sent += check(libc.sendmmsg(sock.fileno(), slots.at(sent), n, 0))
        calls += 1
    return calls
    # END TODO 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dest", required=True)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--nonce", default="0" * 16)
    parser.add_argument("--mode", choices=["sendto", "sendmmsg"], default="sendto")
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    host, port = args.dest.rsplit(":", 1)
    nonce = bytes.fromhex(args.nonce)
    # Built before the clock starts: we measure the kernel path, not Python's bytes.
    datagrams = [payload(seq, nonce, args.size) for seq in range(args.count)]
    slots = MmsgBatch.of(datagrams)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect((host, int(port)))  # route and neighbour looked up once, not per packet
    started = time.perf_counter()
    if args.mode == "sendto":
        calls = send_one_by_one(sock, datagrams)
    else:
        calls = send_batched(sock, slots, args.batch)
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {"sent": args.count, "seconds": seconds, "pps": args.count / seconds, "calls": calls}
        )
    )


if __name__ == "__main__":
    main()
