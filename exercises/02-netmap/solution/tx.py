"""Transmit COUNT numbered frames on a netmap port, one NIOCTXSYNC per batch of slots.

    python3 tx.py netmap:eth0 --count 4000 --batch 64 --nonce 0011223344556677

Frames are those of ``vnic.netmap.blast`` (broadcast, ethertype 0x88B5, the sequence number
at byte 14, the run's nonce at byte 22, zeros up to --size).  Prints one JSON line: what
was sent, how many syncs it took, how long.  What the NIC put on the wire is counted on
the host, not here.
"""

from __future__ import annotations

import argparse
import json
import time

from vnic.netmap import Port, Ring
from vnic.netmap.blast import SEQ_OFFSET, build_frame, interface_mac
from vnic.netmap.names import parse_port_name

#: A drained TX ring after this long means the NIC is not sending: give up.
DRAIN_SECONDS = 2.0


def batch_size(requested: int, ring: Ring) -> int:
    """How many slots one sync may hand to the NIC."""
    # TODO 3: honour --batch: at least 1, at most what the ring can hold (num_slots - 1)
    return max(1, min(requested, ring.num_slots - 1))
    # STUB: return ring.num_slots - 1  # for now: always as many as fit
    # END TODO 3


def send(port: Port, ring: Ring, frame: bytes, count: int, batch: int) -> int:
    """Send ``count`` copies of ``frame`` numbered 0..count-1; return the syncs made."""
    # Ring.fill(frame, n, seq=first) numbers the copies first, first + 1, ... at byte 14,
    # fills at most the free slots [head, tail) and advances head and cur past them.
    # TODO 1: fill up to `batch` free slots, then one port.txsync() per batch, until `count`
    sent = syncs = 0
    while sent < count:
        # A full ring gives 0: the txsync then only reclaims what the NIC has sent.
        sent += ring.fill(frame, min(batch, count - sent), seq=sent, seq_offset=SEQ_OFFSET)
        port.txsync()  # one system call, one doorbell, for every slot filled since the last
        syncs += 1
    return syncs
    # END TODO 1


def drain(port: Port, ring: Ring) -> int:
    """Wait until the NIC has sent every slot handed to it; return the syncs it took.
    Closing the port with frames in flight would lose them."""
    syncs = 0
    deadline = time.monotonic() + DRAIN_SECONDS
    while ring.tx_pending() and time.monotonic() < deadline:
        time.sleep(0.005)  # let the NIC work: a sync every 5 ms, not a spin
        port.txsync()
        syncs += 1
    return syncs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", help="netmap port, e.g. netmap:eth0")
    parser.add_argument("--count", type=int, default=4000)
    parser.add_argument("--batch", type=int, default=64, help="slots per NIOCTXSYNC")
    parser.add_argument("--size", type=int, default=60, help="frame size without FCS")
    parser.add_argument("--nonce", default="0" * 16, help="16 hex digits")
    args = parser.parse_args()
    name = parse_port_name(args.port)
    frame = build_frame(interface_mac(name.interface), bytes.fromhex(args.nonce), args.size)
    # Ring 0 only: one ring keeps the frames in sending order on the wire.
    with Port.open(f"netmap:{name.interface}-0/T") as port:
        ring = port.tx_rings[0]
        batch = batch_size(args.batch, ring)
        started = time.perf_counter()
        syncs = send(port, ring, frame, args.count, batch)
        syncs += drain(port, ring)
        seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "sent": args.count,
                "batch": batch,
                "syncs": syncs,
                "seconds": round(seconds, 4),
                "pps": round(args.count / seconds) if seconds > 0 else 0,
            }
        )
    )


if __name__ == "__main__":
    main()
