"""A StackMap server for the VM tests, on the Python API: sockets only accept.

    stack_echo.py --port P                 every byte a connection sends goes back to it
    stack_echo.py --port P --give N        on a connection's first bytes: N bytes of the
                                           pattern (pattern(N)), then close it at once,
                                           while TCP still holds most of them
    stack_echo.py --port P --forward       echo without a copy: each RX slot's buffer moves
                                           to a TX slot with its fd and offsets

Runs until SIGTERM (or --seconds), then prints one JSON line: what it did and the port's
counters. What the tests judge comes from the client and the kernel's counters.
"""

from __future__ import annotations

import argparse
import json
import select
import signal
import socket
import sys
import time

from vnic.netmap.stack import StackPort, lab_interface, listen


def pattern(n: int) -> bytes:
    """The bytes a --give server sends: an index that any reader can check."""
    return b"".join(i.to_bytes(4, "big") for i in range((n + 3) // 4))[:n]


def forward(port: StackPort) -> int:
    """Move the RX slots in [head, tail) into free TX slots, buffer, length, fd and data
    offset together (the data goes back where it came from): no byte is copied, and the
    buffers the NIC wrote leave the RX ring for good. Returns the slots moved."""
    rx, tx = port.rx, port.tx
    moved = min(rx.space(), tx.space())
    for k in range(moved):
        i, j = (rx.head + k) % rx.num_slots, (tx.head + k) % tx.num_slots
        tx.slot(j).ptr = rx.slot(i).ptr
        rx.swap(i, tx, j)
    rx.advance(moved)
    tx.advance(moved)
    return moved


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--give", type=int, default=0)
    parser.add_argument("--forward", action="store_true")
    parser.add_argument("--seconds", type=float, default=600)
    args = parser.parse_args()
    stop = False

    def on_term(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    listener = listen(args.port)
    listener.setblocking(False)
    conns: dict[int, socket.socket] = {}
    closing: set[int] = set()
    stats = {"accepted": 0, "echoed": 0, "given": 0, "eof": 0, "forwarded": 0}
    gift = pattern(args.give)
    deadline = time.monotonic() + args.seconds
    with StackPort.open(f"stack:{lab_interface()}") as port:
        print(f"listening on {args.port}", flush=True)
        while not stop and time.monotonic() < deadline:
            ready, _, _ = select.select([listener, port], [], [], 0.002 if port.stalled else 0.2)
            if listener in ready:
                while True:
                    try:
                        conn, _ = listener.accept()
                    except BlockingIOError:
                        break
                    conns[port.attach(conn)] = conn
                    stats["accepted"] += 1
            if args.forward:  # ends of stream travel too: TCP skips a slot without data
                if port not in ready:
                    port.port.rxsync()
                stats["forwarded"] += forward(port)
                port.port.txsync()
                continue
            pad = port.receive(sync=port not in ready)
            for fd, views in pad.data.items():
                if fd not in conns or fd in closing:
                    continue
                if args.give:
                    port.queue(fd, gift)
                    stats["given"] += 1
                    closing.add(fd)
                else:
                    for view in views:
                        stats["echoed"] += port.queue(fd, view)
            for fd in pad.eof:
                stats["eof"] += 1
                closing.add(fd)
            port.flush()
            # close once TCP has all of it (it sends the rest, then FIN)
            for fd in [fd for fd in closing if not port.pending(fd)]:
                closing.discard(fd)
                if fd in conns:
                    conns.pop(fd).close()
        print(json.dumps({**stats, "counters": port.counters()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
