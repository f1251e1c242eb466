"""Run inside a middlebox guest: forward every frame between two interfaces, both ways.

The slowest forwarder there is, on purpose: one system call per frame through the
kernel's packet sockets (AF_PACKET), in Python.  It is what a netmap forwarder
replaces, and it needs nothing the guest image does not already have (a Linux
bridge would need bridge.ko).  Usage::

    python3 l2_forward.py eth0 eth1

Both interfaces are made promiscuous: a frame from a to b carries b's MAC, not one
of the middlebox's, and the NIC's address filter would drop it.  Prints one JSON line
when it is forwarding, then runs until killed.  Turn GRO off on both interfaces
first (``ethtool -K IF gro off``): a packet socket sees what GRO merged, which can be
longer than the other side's MTU.
"""

import contextlib
import json
import selectors
import socket
import struct
import sys

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_PROMISC = 1


def open_port(ifname: str) -> socket.socket:
    """A packet socket that takes every frame arriving at ``ifname``."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.bind((ifname, 0))
    # struct packet_mreq: ifindex, type, address length, address
    mreq = struct.pack("iHH8s", socket.if_nametoindex(ifname), PACKET_MR_PROMISC, 0, b"")
    sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
    sock.setblocking(False)
    return sock


def main() -> None:
    left, right = open_port(sys.argv[1]), open_port(sys.argv[2])
    other = {left: right, right: left}
    selector = selectors.DefaultSelector()
    for sock in other:
        selector.register(sock, selectors.EVENT_READ)
    print(json.dumps({"forwarding": sys.argv[1:3]}), flush=True)
    while True:
        for key, _ in selector.select():
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            while True:
                try:
                    frame, address = sock.recvfrom(65536)
                except BlockingIOError:
                    break
                # A packet socket also sees the frames sent out of its interface, ours
                # among them: forwarding those would bounce them back and forth forever.
                if address[2] == socket.PACKET_OUTGOING:
                    continue
                # The other side's queue full: drop the frame, as a switch would.
                with contextlib.suppress(OSError):
                    other[sock].send(frame)


if __name__ == "__main__":
    main()
