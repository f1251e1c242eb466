"""The peer kernel's view: every frame of nmgen's ethertype that the stack received (guest).

Binds an AF_PACKET socket to one interface and ethertype 0x88B5 with a receive buffer big
enough to hold the whole run, says "listening", and once the sender is done (idle for
``--idle`` seconds) drains the queue: the kernel has kept every frame it received, so a
slow Python reader under TCG loses nothing. Checks each frame's sequence number (bytes
14-21, big-endian) and prints one JSON line: received, unique, lost (of 0..count-1),
duplicates, short frames, and the nonces seen.
"""

from __future__ import annotations

import argparse
import json
import select
import socket
import struct

ETHERTYPE = 0x88B5
SO_RCVBUFFORCE = 33


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("iface")
    parser.add_argument("count", type=int)
    parser.add_argument("--idle", type=float, default=3.0)
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETHERTYPE))
    sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 64 << 20)
    sock.bind((args.iface, ETHERTYPE))
    print("listening", flush=True)
    seen: set[int] = set()
    received = short = 0
    nonces: set[int] = set()
    waited = 0.0
    while waited < args.timeout:
        ready, _, _ = select.select([sock], [], [], args.idle if received else 1.0)
        if not ready:
            if received:
                break
            waited += 1.0
            continue
        frame = sock.recv(4096)
        received += 1
        if len(frame) < 30:
            short += 1
            continue
        seq, nonce = struct.unpack_from(">QQ", frame, 14)
        seen.add(seq)
        nonces.add(nonce)
    lost = sum(1 for s in range(args.count) if s not in seen)
    print(
        json.dumps(
            {
                "received": received,
                "unique": len(seen),
                "lost": lost,
                "duplicates": received - short - len(seen),
                "short": short,
                "nonces": len(nonces),
            }
        )
    )


if __name__ == "__main__":
    main()
