"""TCP request/response server (step 4): many connections, small messages.

Each request is exactly 32 bytes; the response is the same 32 bytes reversed
(repeated to ``--response`` bytes: exercise 03 measures larger answers).  One thread
serves every connection with ``selectors`` (epoll): no thread per client, no blocking
call on any one socket.

    python3 rr_server.py --port 9100 [--response 32]
"""

from __future__ import annotations

import argparse
import contextlib
import selectors
import socket

MESSAGE = 32


def answer(request: bytes, size: int) -> bytes:
    """The response to one request: its bytes reversed, repeated to ``size`` bytes."""
    return request[::-1] * (size // MESSAGE)


def serve(listener: socket.socket, response: int = MESSAGE) -> None:
    """Answer every complete 32-byte request with answer(request, response), forever."""
    # TODO 4: register the listener with a selector; accept connections (non-blocking),
    # collect bytes per connection, answer each complete request, close on EOF
    selector = selectors.DefaultSelector()
    listener.setblocking(False)
    selector.register(listener, selectors.EVENT_READ, None)
    pending: dict[socket.socket, bytes] = {}
    unsent: dict[socket.socket, bytes] = {}  # answers the socket could not take yet
    while True:
        for key, events in selector.select():
            if key.data is None:
                conn, _ = listener.accept()
                conn.setblocking(False)
                # Small messages: send each response now, do not wait to fill a segment.
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                selector.register(conn, selectors.EVENT_READ, "conn")
                pending[conn], unsent[conn] = b"", b""
                continue
            conn = key.fileobj  # type: ignore[assignment]
            data = b""
            if events & selectors.EVENT_READ:
                try:
                    data = conn.recv(4096)
                except ConnectionError:
                    data = b""
                if not data:
                    selector.unregister(conn)
                    del pending[conn], unsent[conn]
                    conn.close()
                    continue
            buffered = pending[conn] + data
            whole = len(buffered) - len(buffered) % MESSAGE
            replies = b"".join(
                answer(buffered[i : i + MESSAGE], response) for i in range(0, whole, MESSAGE)
            )
            pending[conn] = buffered[whole:]
            out = unsent[conn] + replies
            if out:
                with contextlib.suppress(BlockingIOError):  # full: what is left waits
                    out = out[conn.send(out) :]
            unsent[conn] = out
            # Large answers may not fit the socket buffer: wait until it can take more.
            want = selectors.EVENT_READ | (selectors.EVENT_WRITE if out else 0)
            if want != key.events:
                selector.modify(conn, want, "conn")
    # END TODO 4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--response", type=int, default=MESSAGE, help="bytes per answer")
    args = parser.parse_args()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", args.port))
    listener.listen(256)
    print(f"listening on {args.port}", flush=True)
    serve(listener, args.response)


if __name__ == "__main__":
    main()
