"""Benchmark: the netmap path between two VMs, beside the sockets path of the same boot.

Boots two guests on one link, measures the sockets path first (its UDP rate is the
reference) and then the netmap path: nmgen (C) and the Python bindings' batch sender in a,
nmgen rx in b. Prints ``netmap_tx_pps``, ``netmap_rx_pps``, ``netmap_tx_pps_python``,
``netmap_over_sockets``, ``netmap_syscalls_per_packet``, ``netmap_doorbells_per_packet`` and
``fabric_cpu_us_per_packet_netmap`` (see :class:`lab.figures.NetmapFigures`); details,
including the host CPU of each QEMU and of the fabric per frame, on stderr.
"""

from __future__ import annotations

import argparse
import sys

from lab import provision
from lab.figures import netmap_figures, sockets_figures
from lab.runs import RunDir
from lab.topology import wired
from lab.vm import Lab


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="measured window per test")
    seconds = parser.parse_args().seconds
    topology = wired(["a", "b"], RunDir.new("bench-netmap"), modules=["vnic"])
    with Lab(topology, provision.ensure()) as lab:
        lab.start()
        sockets = sockets_figures(lab, seconds)
        netmap = netmap_figures(lab, seconds)
    for line in netmap.details:
        print(line, file=sys.stderr)
    print(f"sockets_udp_pps {sockets.udp_pps:.0f} (this boot)", file=sys.stderr)
    for line in netmap.lines(sockets.udp_pps):
        print(line)


if __name__ == "__main__":
    main()
