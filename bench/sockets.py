"""Benchmark: the kernel sockets path between two VMs running vnic.ko.

Guest a blasts 64-byte UDP payloads at guest b from one sender process (b's stack drops them:
no socket listens); then one TCP stream
(iperf3) runs a → b. Every figure is counted on the HOST from the fabric's device counters
over a steady-state window (the first second of traffic is left out), never from what guest
programs print:

``sockets_udp_pps``       frames arriving at b's port per second
``doorbells_per_packet``  TX doorbells (tail writes) of a per frame a transmitted: 1 without
                          batching, below 1 when xmit_more batches
``irqs_per_packet``       interrupts of both devices per frame that arrived at b
``reg_reads_per_packet``  trapped register reads of both devices per frame that arrived at b
``tcp_mbps``              bytes b's device put into its RX rings, as Mbit/s

Prints those lines on stdout; details on stderr. Run by ``make bench``.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from lab import provision
from lab.runs import RunDir
from lab.topology import wired
from lab.vm import Lab

PEER = "python3 /mnt/project/tests/vm/guest/peer.py"
B_IP = "198.18.0.2"
WARMUP_S = 1.0


def devices(lab: Lab) -> dict[str, dict[str, int]]:
    assert lab.fabric is not None
    ports = lab.fabric.stats()["stats"]["ports"]
    return {name: dict(ports[name]["device"]) for name in ("a", "b")}


def delta(after: dict[str, dict[str, int]], before: dict[str, dict[str, int]]) -> Any:
    return {
        name: {k: v - before[name][k] for k, v in after[name].items() if isinstance(v, int)}
        for name in after
    }


def window(lab: Lab, seconds: float) -> tuple[dict[str, dict[str, int]], float]:
    """Device counter changes over ``seconds`` of host time, after a warm-up."""
    time.sleep(WARMUP_S)
    before, t0 = devices(lab), time.monotonic()
    time.sleep(seconds)
    after, t1 = devices(lab), time.monotonic()
    return delta(after, before), t1 - t0


def run(seconds: float) -> None:
    platform = provision.ensure()
    topology = wired(["a", "b"], RunDir.new("bench-sockets"), modules=["vnic"])
    with Lab(topology, platform) as lab:
        lab.start()
        a, b = lab["a"], lab["b"]
        if a.run(f"ping -c1 -W5 {B_IP}", timeout=30).status != 0:
            raise SystemExit("bench: a cannot reach b through the vNIC")

        # UDP: one sender process, 64-byte payloads. No receiving program in b: frames are
        # counted where they arrive (b's port), and a Python reader would only take CPU from
        # the sender (two VMs and the fabric share the host's cores).
        total = seconds + WARMUP_S + 1
        a.run(f"{PEER} udp-blast {B_IP} 9000 64 {total} > /tmp/blast.json 2>&1 &", check=True)
        d, dt = window(lab, seconds)
        time.sleep(total - WARMUP_S - seconds + 2.5)
        frames = d["b"]["total_tpr"]
        sent = d["a"]["tx_frames"]
        if not frames or not sent:
            raise SystemExit(f"bench: no UDP traffic reached b: {d}")
        pps = frames / dt
        doorbells = d["a"]["doorbells"] / sent
        irqs = (d["a"]["interrupts"] + d["b"]["interrupts"]) / frames
        reads = (d["a"]["reg_reads"] + d["b"]["reg_reads"]) / frames
        print(
            f"udp window {dt:.2f} s: a sent {sent}, b port got {frames}, b rings took "
            f"{d['b']['rx_frames']}, b no-desc drops {d['b']['rx_drop_no_desc']}; "
            f"doorbells a {d['a']['doorbells']} b {d['b']['doorbells']}; "
            f"irqs a {d['a']['interrupts']} b {d['b']['interrupts']}; "
            f"reads a {d['a']['reg_reads']} b {d['b']['reg_reads']}",
            file=sys.stderr,
        )
        print(f"guest sender: {a.run('cat /tmp/blast.json').output.strip()}", file=sys.stderr)

        # TCP: one iperf3 stream a -> b
        b.run("iperf3 -s -D -p 5201", check=True)
        a.run(f"iperf3 -c {B_IP} -p 5201 -t {seconds + WARMUP_S + 1} > /tmp/tcp.log 2>&1 &")
        dtcp, dt2 = window(lab, seconds)
        mbps = dtcp["b"]["rx_bytes"] * 8 / dt2 / 1e6
        a.run("sleep 2; pkill iperf3", timeout=30)
        print(f"tcp window {dt2:.2f} s: b took {dtcp['b']['rx_bytes']} bytes", file=sys.stderr)

    print(f"sockets_udp_pps {pps:.0f}")
    print(f"doorbells_per_packet {doorbells:.3f}")
    print(f"irqs_per_packet {irqs:.3f}")
    print(f"reg_reads_per_packet {reads:.4f}")
    print(f"tcp_mbps {mbps:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="measured window per test")
    run(parser.parse_args().seconds)


if __name__ == "__main__":
    main()
