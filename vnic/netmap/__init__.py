"""netmap from Python: bind a port, fill and drain its rings, sync (standard library only).

A netmap port hands a program the NIC's rings in shared memory. The program owns the slots
in [head, tail) of each ring: on TX those are free slots to fill, on RX received frames.
It moves ``head`` forward to give slots back, and a *sync* (``txsync()``, ``rxsync()`` or
``poll()``) tells the kernel, which sends or refills them and moves ``tail``. One sync per
batch of slots is what makes netmap fast; the batch methods of :class:`Ring` exist so that
a Python program keeps that property::

    from vnic.netmap import Port

    frame = bytes.fromhex("ffffffffffff 020000000001 88b5") + bytes(46)
    with Port.open("netmap:eth0-0/T") as port:  # TX ring 0 of eth0 only
        ring = port.tx_rings[0]
        seq = 0
        while seq < 1_000_000:
            seq += ring.fill(frame, 256, seq=seq)  # number the frames at byte 14
            port.txsync()  # send them, reclaim the sent slots

    with Port.open("netmap:eth0/R") as port:
        while port.poll(1000):  # waits, and syncs the RX rings
            for ring in port.rx_rings:
                for f in ring.receive():  # copies the frames out, gives the slots back
                    print(f.hex())

    # zero-copy forwarding between two ports of one memory region (same nr_mem_id)
    rx, tx = a.rx_rings[0], b.tx_rings[0]
    while not rx.empty and not tx.empty:
        rx.swap(rx.head, tx, tx.head)  # exchange buffers, mark both NS_BUF_CHANGED
        rx.advance(1)
        tx.advance(1)

Modules: :mod:`~vnic.netmap.abi` (the C header in ctypes), :mod:`~vnic.netmap.names`
(``netmap:eth0-1/T`` and friends), :mod:`~vnic.netmap.memory` (netmap_if, rings, slots:
no system calls), :mod:`~vnic.netmap.port` (open, REGISTER, mmap, sync, poll, the
counters of ``/proc/net/netmap``), :mod:`~vnic.netmap.stack` (StackMap's stack ports: TCP
data of many sockets through one ring pair), :mod:`~vnic.netmap.testing` (a fake region and
kernel for tests), :mod:`~vnic.netmap.blast` (``python3 -m vnic.netmap.blast tx|rx PORT``,
the Python TX benchmark). The ABI
is ``specs/netmap-abi.md`` and ``specs/stackmap-api.md``; nothing here needs
:mod:`vnic.model`.
"""

from __future__ import annotations

from vnic.netmap.memory import Interface, Ring, Slot
from vnic.netmap.names import PortName, parse_port_name
from vnic.netmap.port import Port, parse_counters, pools_info, port_info, read_counters
from vnic.netmap.stack import Scratchpad, SendReport, StackPort

__all__ = [
    "Interface",
    "Port",
    "PortName",
    "Ring",
    "Scratchpad",
    "SendReport",
    "Slot",
    "StackPort",
    "parse_counters",
    "parse_port_name",
    "pools_info",
    "port_info",
    "read_counters",
]
