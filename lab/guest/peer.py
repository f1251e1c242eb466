"""Guest-side traffic for the sockets benchmark, demo and tests (runs in the VM, stdlib only).

Every payload is derived from a seed and a sequence number, so a receiver checks each byte
without being told what was sent. Each command prints one JSON line as its result.

    peer.py udp-recv PORT COUNT TIMEOUT        datagrams from udp-send, verified
    peer.py udp-send DST PORT COUNT SIZE       COUNT numbered datagrams of SIZE bytes
    peer.py udp-blast DST PORT SIZE SECONDS [BATCH]
                                               one sender, as fast as sendto goes; with
                                               BATCH > 1, sendmmsg() of BATCH datagrams
    peer.py udp-drain PORT SECONDS             read and discard (the blast's receiver)
    peer.py tcp-recv PORT TIMEOUT              one connection: byte count and SHA-256
    peer.py tcp-send DST PORT NBYTES SEED      NBYTES of seeded random data
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import random
import socket
import sys
import time

SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)  # not in every Python


def payload(seq: int, size: int) -> bytes:
    """Datagram ``seq``: the number, then bytes that depend on it (checked by the receiver)."""
    head = seq.to_bytes(4, "big")
    body = hashlib.sha256(head).digest()
    filler = (body * (size // len(body) + 1))[: max(0, size - 4)]
    return head + filler


def udp_recv(port: int, count: int, timeout: float) -> dict[str, object]:
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    # room for the whole test burst: the checker is slow under TCG (root may force this)
    sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20)
    sock.bind(("::", port))
    sock.settimeout(timeout)
    seen: set[int] = set()
    bad = 0
    print(json.dumps({"listening": port}), flush=True)
    try:
        while len(seen) < count:
            data = sock.recv(65536)
            seq = int.from_bytes(data[:4], "big")
            if len(data) < 4 or data != payload(seq, len(data)):
                bad += 1
                continue
            seen.add(seq)
    except TimeoutError:
        pass
    return {"received": len(seen), "bad": bad, "missing": sorted(set(range(count)) - seen)[:20]}


def udp_send(dst: str, port: int, count: int, size: int) -> dict[str, object]:
    family = socket.AF_INET6 if ":" in dst else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    for seq in range(count):
        sock.sendto(payload(seq, size), (dst, port))
        if seq % 32 == 31:
            time.sleep(0.002)  # stay below the receiver's socket buffer under TCG
    return {"sent": count}


def udp_blast(dst: str, port: int, size: int, seconds: float) -> dict[str, object]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    data = bytes(size)
    addr = (dst, port)
    sent = errors = 0
    end = time.monotonic() + seconds
    send = sock.sendto
    while time.monotonic() < end:
        for _ in range(256):
            try:
                send(data, addr)
                sent += 1
            except OSError:  # ENOBUFS when the qdisc is full: count it and go on
                errors += 1
    return {"sent": sent, "errors": errors}


class _Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class _Msghdr(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_void_p),
        ("namelen", ctypes.c_uint32),
        ("iov", ctypes.POINTER(_Iovec)),
        ("iovlen", ctypes.c_size_t),
        ("control", ctypes.c_void_p),
        ("controllen", ctypes.c_size_t),
        ("flags", ctypes.c_int),
    ]


class _Mmsghdr(ctypes.Structure):
    """struct mmsghdr: a whole struct msghdr (padded to its 56 bytes), then the bytes
    sent; flattening the two would pack msg_len into msghdr's padding and put every
    message after the first at the wrong offset."""

    _fields_ = [("hdr", _Msghdr), ("len", ctypes.c_uint)]


def udp_blast_batched(
    dst: str, port: int, size: int, seconds: float, batch: int
) -> dict[str, object]:
    """As :func:`udp_blast`, on a connected socket, ``batch`` datagrams per sendmmsg()."""
    libc = ctypes.CDLL(None, use_errno=True)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect((dst, port))
    data = ctypes.create_string_buffer(size)
    iov = _Iovec(ctypes.cast(data, ctypes.c_void_p), size)
    msgs = (_Mmsghdr * batch)()
    for m in msgs:
        m.hdr.iov, m.hdr.iovlen = ctypes.pointer(iov), 1
    sent = errors = calls = 0
    end = time.monotonic() + seconds
    fd = sock.fileno()
    while time.monotonic() < end:
        n = libc.sendmmsg(fd, msgs, batch, 0)
        calls += 1
        if n < 0:
            errors += 1  # ENOBUFS: the qdisc is full
        else:
            sent += n
    return {"sent": sent, "errors": errors, "calls": calls}


def udp_drain(port: int, seconds: float) -> dict[str, object]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", port))
    sock.settimeout(0.5)
    got = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            sock.recv(2048)
            got += 1
        except TimeoutError:
            pass
    return {"received": got}


def tcp_recv(port: int, timeout: float) -> dict[str, object]:
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", port))
    srv.listen(1)
    srv.settimeout(timeout)
    print(json.dumps({"listening": port}), flush=True)
    conn, _ = srv.accept()
    conn.settimeout(timeout)
    digest = hashlib.sha256()
    total = 0
    while chunk := conn.recv(1 << 16):
        digest.update(chunk)
        total += len(chunk)
    return {"bytes": total, "sha256": digest.hexdigest()}


def tcp_send(dst: str, port: int, nbytes: int, seed: int) -> dict[str, object]:
    data = random.Random(seed).randbytes(nbytes)
    sock = socket.create_connection((dst, port), timeout=60)
    start = time.monotonic()
    sock.sendall(data)
    sock.shutdown(socket.SHUT_WR)
    sock.recv(1)  # wait for the receiver to close: everything arrived
    return {
        "bytes": nbytes,
        "sha256": hashlib.sha256(data).hexdigest(),
        "seconds": time.monotonic() - start,
    }


def main(argv: list[str]) -> None:
    cmd, args = argv[0], argv[1:]
    if cmd == "udp-recv":
        out = udp_recv(int(args[0]), int(args[1]), float(args[2]))
    elif cmd == "udp-send":
        out = udp_send(args[0], int(args[1]), int(args[2]), int(args[3]))
    elif cmd == "udp-blast" and len(args) > 4 and int(args[4]) > 1:
        out = udp_blast_batched(args[0], int(args[1]), int(args[2]), float(args[3]), int(args[4]))
    elif cmd == "udp-blast":
        out = udp_blast(args[0], int(args[1]), int(args[2]), float(args[3]))
    elif cmd == "udp-drain":
        out = udp_drain(int(args[0]), float(args[1]))
    elif cmd == "tcp-recv":
        out = tcp_recv(int(args[0]), float(args[1]))
    elif cmd == "tcp-send":
        out = tcp_send(args[0], int(args[1]), int(args[2]), int(args[3]))
    else:
        raise SystemExit(__doc__)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
