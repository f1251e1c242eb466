"""The exercise's TCP request/response load: CONNS connections, each a closed loop of
REQUESTS 32-byte requests; checks every response (the request reversed) and prints one
JSON line: transactions, errors, transactions/s, p50 and p99 latency in microseconds.

    python3 rr_client.py --server 198.18.0.2:9100 --conns 16 --requests 50
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import socket
import time

MESSAGE = 32


def connect(host: str, port: int, patience: float) -> socket.socket:
    """Connect, retrying while the server is still starting."""
    deadline = time.monotonic() + patience
    while True:
        try:
            conn = socket.create_connection((host, port), timeout=5)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
            continue
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.setblocking(False)
        return conn


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--server", default="198.18.0.2:9100")
    parser.add_argument("--conns", type=int, default=16)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--patience", type=float, default=10.0)
    args = parser.parse_args()
    host, port = args.server.rsplit(":", 1)
    selector = selectors.DefaultSelector()
    state: dict[socket.socket, dict[str, object]] = {}
    for _ in range(args.conns):
        conn = connect(host, int(port), args.patience)
        state[conn] = {"left": args.requests, "request": b"", "got": b"", "sent_at": 0.0}
        selector.register(conn, selectors.EVENT_READ)
    latencies: list[float] = []
    errors = 0

    def send_next(conn: socket.socket) -> None:
        s = state[conn]
        s["request"] = os.urandom(MESSAGE)
        s["got"] = b""
        s["sent_at"] = time.perf_counter()
        conn.sendall(s["request"])  # type: ignore[arg-type]

    started = time.perf_counter()
    for conn in state:
        send_next(conn)
    active = len(state)
    while active:
        events = selector.select(timeout=5)
        if not events:
            errors += active  # the server stopped answering
            break
        for key, _ in events:
            conn = key.fileobj  # type: ignore[assignment]
            s = state[conn]
            try:
                data = conn.recv(4096)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:
                errors += 1
                selector.unregister(conn)
                active -= 1
                continue
            s["got"] = s["got"] + data  # type: ignore[operator]
            if len(s["got"]) < MESSAGE:  # type: ignore[arg-type]
                continue
            latencies.append(time.perf_counter() - s["sent_at"])  # type: ignore[operator]
            if s["got"] != s["request"][::-1]:  # type: ignore[index]
                errors += 1
            s["left"] = s["left"] - 1  # type: ignore[operator]
            if s["left"]:
                send_next(conn)
            else:
                selector.unregister(conn)
                conn.close()
                active -= 1
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "transactions": len(latencies),
                "errors": errors,
                "seconds": seconds,
                "tps": len(latencies) / seconds if seconds else 0.0,
                "p50_us": percentile(latencies, 50) * 1e6,
                "p99_us": percentile(latencies, 99) * 1e6,
            }
        )
    )


if __name__ == "__main__":
    main()
