"""Forward frames between two netmap ports of one guest without copying them: each frame's
buffer moves from an RX slot of one port to a TX slot of the other (a buffer-index swap,
NS_BUF_CHANGED), in both directions.

    python3 fwd.py netmap:eth0 netmap:eth1 --count 3000

Stops once COUNT frames went from the first port to the second (and the TX rings are
drained), or after IDLE seconds without a frame.  Prints one JSON line: the frames moved
each way and the poll() calls made.
"""

from __future__ import annotations

import argparse
import json
import select
import time

from vnic.netmap import Port


def move(src: Port, dst: Port) -> int:
    """Move every received frame of ``src`` into free TX slots of ``dst``; return how many."""
    # rx.swap(i, tx, j) exchanges two slots' buffers and marks both NS_BUF_CHANGED; then
    # advance both rings. rx.swap_batch(tx) does that for every slot both rings can take.
    # TODO 4: swap the received slots of each RX ring of src into dst's TX ring 0, no copy
    tx = dst.tx_rings[0]
    return sum(rx.swap_batch(tx) for rx in src.rx_rings)
    # END TODO 4


def forward(left: Port, right: Port, count: int, idle: float) -> dict[str, int]:
    poller = select.poll()
    poller.register(left.fileno(), select.POLLIN)
    poller.register(right.fileno(), select.POLLIN)
    there = back = polls = 0
    last = time.monotonic()
    while there < count:
        polls += 1
        if not poller.poll(100):  # syncs both ports' RX rings: gives back what we swapped
            if time.monotonic() - last > idle:
                break
            continue
        last = time.monotonic()
        there += move(left, right)
        back += move(right, left)
        left.txsync()  # one sync per port and round: the swapped slots leave, one doorbell
        right.txsync()
    for port in (left, right):  # the last frames must leave before the ports close
        deadline = time.monotonic() + 2.0
        while port.tx_rings[0].tx_pending() and time.monotonic() < deadline:
            time.sleep(0.001)
            port.txsync()
    return {"forwarded": there, "backwards": back, "polls": polls}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("left", help="the port frames come in on, e.g. netmap:eth0")
    parser.add_argument("right", help="the port they leave by, e.g. netmap:eth1")
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--idle", type=float, default=5.0, help="give up after this long")
    args = parser.parse_args()
    with Port.open(args.left) as left, Port.open(args.right) as right:
        print(json.dumps({"forwarding": [args.left, args.right]}), flush=True)
        report = forward(left, right, args.count, args.idle)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
