"""Benchmark: the kernel sockets path between two VMs running vnic.ko.

Boots two guests on one link and prints the figure lines of :mod:`lab.figures` (what each
one counts is described there): ``sockets_udp_pps``, ``doorbells_per_packet``,
``irqs_per_packet``, ``reg_reads_per_packet`` and ``tcp_mbps``, all counted on the host from
the device counters; details on stderr. Run by ``make bench``. The link has flow control,
as every lab link has (:mod:`lab.topology`); ``--no-flow-control`` measures it without.
The vNIC computes checksums for the guests (TX offload, RX checksum reporting);
``--no-offload`` turns both off with ethtool in both guests, to see what they save.
"""

from __future__ import annotations

import argparse
import sys

from lab import provision
from lab.figures import sockets_figures
from lab.runs import RunDir
from lab.topology import wired
from lab.vm import Lab


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="measured window per test")
    parser.add_argument(
        "--no-flow-control",
        dest="flow_control",
        action="store_false",
        help="a link without flow control: a full RX ring drops (rx_drop_no_desc)",
    )
    parser.add_argument(
        "--no-offload",
        dest="offload",
        action="store_false",
        help="checksums computed by the guests' kernels (ethtool -K tx off rx off)",
    )
    args = parser.parse_args()
    topology = wired(
        ["a", "b"],
        RunDir.new("bench-sockets"),
        modules=["vnic"],
        flow_control=args.flow_control,
    )
    with Lab(topology, provision.ensure()) as lab:
        lab.start()
        if not args.offload:
            for name in ("a", "b"):
                lab[name].run("ethtool -K eth0 tx off rx off", check=True)
        figures = sockets_figures(lab, args.seconds)
    for line in figures.details:
        print(line, file=sys.stderr)
    for line in figures.lines():
        print(line)


if __name__ == "__main__":
    main()
