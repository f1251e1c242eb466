"""Benchmark: StackMap against the sockets path, request/response, two VMs.

Guest b serves exercise 01's protocol (32-byte requests, answered reversed), guest a loads
it with rr_load (16 connections, closed loops, every answer checked). Rounds alternate the
servers: exercise 01 step 4's sockets server against the StackMap server of the Python
API (the comparison the course makes), and the C server on either data path, at 32 B,
1 KiB and 16 KiB answers (the ceiling, and the paper's growing benefit). Prints
``stackmap_rr_tps``, ``sockets_rr_tps``, ``stackmap_over_sockets_tps``, p50/p99 latencies,
``stackmap_over_sockets_p50``, system calls per transaction (counted in b's kernel), the
zero-copy share of TX slots and ``c_stackmap_over_sockets_tps_SIZE``
(:class:`lab.figures.StackmapFigures`); every run on stderr.
"""

from __future__ import annotations

import argparse
import sys

from lab import provision
from lab.figures import stackmap_figures
from lab.runs import RunDir
from lab.topology import wired
from lab.vm import Lab


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (medians)")
    parser.add_argument("--requests", type=int, default=300, help="per connection, 32 B")
    args = parser.parse_args()
    topology = wired(["a", "b"], RunDir.new("bench-stackmap"), modules=["vnic"])
    with Lab(topology, provision.ensure()) as lab:
        lab.start()
        figures = stackmap_figures(lab, rounds=args.rounds, requests=args.requests)
    for line in figures.details:
        print(line, file=sys.stderr)
    for line in figures.lines():
        print(line)


if __name__ == "__main__":
    main()
