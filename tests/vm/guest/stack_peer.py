"""The plain-socket side of the StackMap VM tests: StackMap must serve any TCP peer.

    stack_peer.py echo HOST PORT CONNS BYTES [--pause S]   each connection sends BYTES of
        seeded random data and checks the echo; with --pause it sends everything first,
        reads nothing for S seconds (the server's send buffer fills), then reads it all
    stack_peer.py take HOST PORT BYTES [--wait S]   send a byte, wait S seconds (the
        server's data waits in its TCP), then read until the server closes: expect BYTES
        of stack_echo.pattern
    stack_peer.py rst HOST PORT           send some bytes, then reset the connection

One JSON line each: what arrived and whether every byte was right.
"""

from __future__ import annotations

import hashlib
import json
import random
import selectors
import socket
import struct
import sys
import time

from stack_echo import pattern


def connect(host: str, port: int) -> socket.socket:
    deadline = time.monotonic() + 20
    while True:
        try:
            return socket.create_connection((host, port), timeout=60)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def echo(host: str, port: int, conns: int, nbytes: int, pause: float) -> dict[str, object]:
    sel = selectors.DefaultSelector()
    state = {}
    for i in range(conns):
        sock = connect(host, port)
        if pause:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
        data = random.Random(i).randbytes(nbytes)
        state[sock] = {"data": data, "sent": 0, "got": bytearray()}
        sock.setblocking(False)
        sel.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
    reading = not pause
    started = time.monotonic()
    while any(len(s["got"]) < nbytes for s in state.values()):
        if not reading and all(s["sent"] == nbytes for s in state.values()):
            time.sleep(pause)  # everything sent, nothing read: the server's TX stalls
            reading = True
        if time.monotonic() - started > 240:
            break
        for key, events in sel.select(timeout=1):
            sock, s = key.fileobj, state[key.fileobj]
            if events & selectors.EVENT_WRITE and s["sent"] < nbytes:
                s["sent"] += sock.send(s["data"][s["sent"] : s["sent"] + 65536])
            if events & selectors.EVENT_READ and reading:
                chunk = sock.recv(65536)
                if not chunk:
                    sel.unregister(sock)
                    s["got"] += b"!"  # closed early: counts as wrong
                s["got"] += chunk
    good = sum(bytes(s["got"]) == s["data"] for s in state.values())
    for sock in state:
        sock.close()
    return {"conns": conns, "good": good, "bytes": sum(len(s["got"]) for s in state.values())}


def take(host: str, port: int, nbytes: int, wait: float) -> dict[str, object]:
    sock = connect(host, port)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    sock.sendall(b"?")
    print(json.dumps({"asked": True}), flush=True)
    time.sleep(wait)
    got = bytearray()
    while chunk := sock.recv(65536):
        got += chunk
    return {
        "bytes": len(got),
        "good": bytes(got) == pattern(nbytes),
        "prefix": bytes(got) == pattern(nbytes)[: len(got)],  # right as far as it goes
        "sha256": hashlib.sha256(got).hexdigest(),
    }


def rst(host: str, port: int) -> dict[str, object]:
    sock = connect(host, port)
    sock.sendall(b"x" * 1000)
    time.sleep(0.5)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()  # linger 0: RST instead of FIN
    return {"reset": True}


def _option(name: str) -> float:
    return float(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else 0.0


def main() -> int:
    cmd, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if cmd == "echo":
        result = echo(host, port, int(sys.argv[4]), int(sys.argv[5]), _option("--pause"))
    elif cmd == "take":
        result = take(host, port, int(sys.argv[4]), _option("--wait"))
    else:
        result = rst(host, port)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
