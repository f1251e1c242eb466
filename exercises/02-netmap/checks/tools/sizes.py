"""Frames of every size from 60 to 1514 bytes, sent and verified byte for byte.

    python3 sizes.py tx netmap:eth0 --nonce HEX [--rate PPS]
    python3 sizes.py rx netmap:eth0 --nonce HEX [--idle S]

Frame ``seq`` (0 .. 1454) is ``60 + seq`` bytes: the header of ``vnic.netmap.blast``
(broadcast, ethertype 0x88B5, seq at 14, nonce at 22), then a pattern that depends on seq,
so that a frame cut short, padded, or carried in another frame's buffer does not pass.
Each mode prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from vnic.netmap import Port
from vnic.netmap.blast import BROADCAST, ETHERTYPE, HEADER_SIZE, interface_mac
from vnic.netmap.names import parse_port_name

SMALLEST, LARGEST = 60, 1514
COUNT = LARGEST - SMALLEST + 1
PATTERN = bytes(range(256)) * 8  # a slice of it at offset seq % 256 fills a frame


def frame(src: bytes, nonce: bytes, seq: int) -> bytes:
    head = BROADCAST + src + ETHERTYPE.to_bytes(2, "big") + seq.to_bytes(8, "big") + nonce
    size = SMALLEST + seq
    start = seq % 256
    return head + PATTERN[start : start + size - HEADER_SIZE]


def send(port_name: str, nonce: bytes, rate: float) -> dict[str, object]:
    name = parse_port_name(port_name)
    src = interface_mac(name.interface)
    frames = [frame(src, nonce, seq) for seq in range(COUNT)]
    sent = syncs = 0
    started = time.monotonic()
    with Port.open(f"netmap:{name.interface}-0/T") as port:
        ring = port.tx_rings[0]
        while sent < COUNT:
            allowed = COUNT if rate <= 0 else int((time.monotonic() - started) * rate) + 1
            sent += ring.fill_frames(frames[sent : min(COUNT, max(sent + 1, allowed))])
            port.txsync()
            syncs += 1
        while ring.tx_pending() and time.monotonic() - started < 30:
            time.sleep(0.005)
            port.txsync()
    return {"sent": sent, "syncs": syncs, "seconds": round(time.monotonic() - started, 3)}


def receive(port_name: str, nonce: bytes, src: bytes, idle: float) -> dict[str, object]:
    seen = bytearray(COUNT)
    good = bad = foreign = duplicates = 0
    examples: list[str] = []
    last = time.monotonic()
    with Port.open(port_name) as port:
        print(json.dumps({"listening": port_name}), flush=True)
        while good < COUNT and time.monotonic() - last < idle:
            if not port.poll(100):
                continue
            last = time.monotonic()
            for ring in port.rx_rings:
                for f in ring.receive():
                    if len(f) < HEADER_SIZE or f[12:14] != b"\x88\xb5" or f[22:30] != nonce:
                        foreign += 1
                        continue
                    seq = int.from_bytes(f[14:22], "big")
                    if seq >= COUNT or f != frame(src, nonce, seq):
                        bad += 1
                        if len(examples) < 3:
                            examples.append(f"seq {seq}: {len(f)} bytes, expected {60 + seq}")
                    elif seen[seq]:
                        duplicates += 1
                    else:
                        seen[seq] = 1
                        good += 1
    return {
        "good": good,
        "bad": bad,
        "duplicates": duplicates,
        "foreign": foreign,
        "missing_sizes": [SMALLEST + i for i, s in enumerate(seen) if not s][:10],
        "examples": examples,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["tx", "rx"])
    parser.add_argument("port")
    parser.add_argument("--nonce", required=True)
    parser.add_argument("--rate", type=float, default=0, help="tx: frames per second (0: max)")
    parser.add_argument("--src", help="rx: the sender's MAC")
    parser.add_argument("--idle", type=float, default=5.0)
    args = parser.parse_args()
    nonce = bytes.fromhex(args.nonce)
    if args.mode == "tx":
        result = send(args.port, nonce, args.rate)
    else:
        src = bytes.fromhex((args.src or "").replace(":", ""))
        result = receive(args.port, nonce, src, args.idle)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
