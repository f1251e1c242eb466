"""TCP request/response server (step 4): many connections, small messages.

Each request is exactly 32 bytes; the response is the same 32 bytes reversed.  One
thread serves every connection with ``selectors`` (epoll): no thread per client,
no blocking call on any one socket.

    python3 rr_server.py --port 9100
"""

from __future__ import annotations

import argparse
import selectors
import socket

MESSAGE = 32


def serve(listener: socket.socket) -> None:
    """Answer every complete 32-byte request with its bytes reversed, forever."""
    # TODO 4: register the listener with a selector; accept connections (non-blocking),
    # collect bytes per connection, answer each complete request, close on EOF
    selector = selectors.DefaultSelector()
    listener.setblocking(False)
    selector.register(listener, selectors.EVENT_READ, None)
    pending: dict[socket.socket, bytes] = {}
    while True:
        for key, _ in selector.select():
            if key.data is None:
                conn, _ = listener.accept()
                conn.setblocking(False)
                # Small messages: send each response now, do not wait to fill a segment.
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                selector.register(conn, selectors.EVENT_READ, "conn")
                pending[conn] = b""
                continue
            conn = key.fileobj  # type: ignore[assignment]
            try:
                data = conn.recv(4096)
            except ConnectionError:
                data = b""
            if not data:
                selector.unregister(conn)
                pending.pop(conn, None)
                conn.close()
                continue
            buffered = pending[conn] + data
            whole = len(buffered) - len(buffered) % MESSAGE
            replies = b"".join(buffered[i : i + MESSAGE][::-1] for i in range(0, whole, MESSAGE))
            pending[conn] = buffered[whole:]
            if replies:
                conn.sendall(replies)  # 32-byte replies fit the socket buffer
    # END TODO 4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=9100)
    args = parser.parse_args()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", args.port))
    listener.listen(256)
    print(f"listening on {args.port}", flush=True)
    serve(listener)


if __name__ == "__main__":
    main()
