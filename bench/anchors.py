"""Benchmark: the sockets path on the vNIC against QEMU's own NICs, in one run.

The same two guests, the same addresses and the same senders — a static C ``sendto()``
loop (``udp_blast``) and the Python one the exercises use (``peer.py udp-blast``), 64-byte
UDP payloads from a to b — on the vNIC and on QEMU's igb, e1000e and virtio-net, each
driven by its stock Linux driver (:func:`lab.topology.anchored`). What counts is what b's
interface received per second, counted by b's kernel the same way for every NIC
(:func:`lab.figures.anchor_run`). A round boots one lab per NIC, in an order that rotates
from round to round, so a drift of the machine does not favour one NIC; the figures are
medians over the rounds, and the vNIC/igb ratios are the medians of each round's ratio,
with their spread on stderr.

The same run sends with netmap (``nmgen tx``, batches of 256) on each NIC: through the
vNIC's native adapter, and through netmap.ko's generic adapter (an skb and a copy per
packet, :file:`vnic/linux/netmap/nm_generic.c`) on QEMU's NICs and on the vNIC too
(``admode=2``) — netmap's "native against emulated".

Prints ``sockets_udp_pps_<nic>`` and ``sockets_udp_pps_<nic>_python``,
``sockets_vnic_over_igb`` and ``sockets_vnic_over_igb_python``,
``host_cpu_us_per_packet_<nic>`` (every host process of the lab, C sender),
``netmap_native_tx_pps_vnic``, ``netmap_generic_tx_pps_<nic>`` and
``netmap_native_over_generic`` (on the vNIC); details on stderr. Run by ``make bench``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import defaultdict

from lab import provision
from lab.figures import ANCHOR_SENDERS, AnchorRun, anchor_run
from lab.runs import RunDir
from lab.topology import ANCHOR_NICS, VNIC, wired
from lab.vm import Lab

NICS = [VNIC, *ANCHOR_NICS]
#: Figure names say "virtio" for QEMU's virtio-net-pci.
SHORT = {"virtio-net-pci": "virtio"}


def measure(nic: str, seconds: float) -> list[AnchorRun]:
    """Boot a two-guest lab on ``nic`` and run each sender once (on the vNIC, netmap
    twice: its native adapter, then the generic one)."""
    topology = wired(["a", "b"], RunDir.new(f"bench-anchors-{nic}"), modules=["vnic"], nic=nic)
    with Lab(topology, provision.ensure()) as lab:
        lab.start()
        runs = [anchor_run(lab, nic, sender, seconds) for sender in ANCHOR_SENDERS]
        if nic == VNIC:
            runs.append(anchor_run(lab, nic, "netmap", seconds, generic=True))
        return runs


def spread(values: list[float]) -> str:
    return f"median {statistics.median(values):.3f}, min {min(values):.3f}, max {max(values):.3f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="labs booted per NIC")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured window per run")
    parser.add_argument(
        "--nics", default=",".join(NICS), help="comma-separated, of " + ", ".join(NICS)
    )
    args = parser.parse_args()
    nics = [n for n in args.nics.split(",") if n]
    if unknown := [n for n in nics if n not in NICS]:
        parser.error(f"unknown NIC(s): {', '.join(unknown)}")
    # keyed by NIC and sender ("netmap-native", "netmap-generic" for netmap's two adapters)
    runs: dict[tuple[str, str], list[AnchorRun]] = defaultdict(list)
    for round_ in range(args.rounds):
        order = nics[round_ % len(nics) :] + nics[: round_ % len(nics)]
        for nic in order:
            for run in measure(nic, args.seconds):
                sender = f"{run.sender}-{run.adapter}" if run.adapter else run.sender
                runs[nic, sender].append(run)
                cpu = ", ".join(f"{name} {us:.1f} us" for name, us in run.cpu_us.items())
                print(
                    f"round {round_ + 1} {nic} {sender}: b received {run.pps:,.0f} pps "
                    f"(sender says {run.sent_pps:,.0f}); host CPU per packet: {cpu}",
                    file=sys.stderr,
                )
    for nic in nics:
        name = SHORT.get(nic, nic)
        for sender, suffix in (("c", ""), ("python", "_python")):
            pps = statistics.median(r.pps for r in runs[nic, sender])
            print(f"sockets_udp_pps_{name}{suffix} {pps:.0f}")
        cpu = statistics.median(r.cpu_us_total for r in runs[nic, "c"])
        print(f"host_cpu_us_per_packet_{name} {cpu:.1f} us")
        for adapter in ("native", "generic"):
            if netmap := runs.get((nic, f"netmap-{adapter}")):
                pps = statistics.median(r.pps for r in netmap)
                print(f"netmap_{adapter}_tx_pps_{name} {pps:.0f}")
    if VNIC in nics and "igb" in nics:
        for sender, suffix in (("c", ""), ("python", "_python")):
            ratios = [
                v.pps / i.pps for v, i in zip(runs[VNIC, sender], runs["igb", sender], strict=True)
            ]
            print(f"vnic/igb ({sender} sender), per round: {spread(ratios)}", file=sys.stderr)
            print(f"sockets_vnic_over_igb{suffix} {statistics.median(ratios):.3f}")
    if (VNIC, "netmap-native") in runs:
        ratios = [
            n.pps / g.pps
            for n, g in zip(runs[VNIC, "netmap-native"], runs[VNIC, "netmap-generic"], strict=True)
        ]
        print(f"vnic netmap native/generic, per round: {spread(ratios)}", file=sys.stderr)
        print(f"netmap_native_over_generic {statistics.median(ratios):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
