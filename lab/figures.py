"""Per-packet costs of the kernel sockets path, counted on the host.

Guest a blasts 64-byte UDP payloads at guest b from one sender process (b's stack drops
them: no socket listens, so no reader takes CPU from the sender); then one TCP stream
(iperf3) runs a → b. Every figure comes from the fabric's device counters over a
steady-state window (the first second of traffic is left out), never from what guest
programs print:

``sockets_udp_pps``       frames arriving at b's port per second
``doorbells_per_packet``  TX doorbells (tail writes) of a per frame a transmitted: 1 without
                          batching, below 1 when xmit_more batches
``irqs_per_packet``       interrupts of both devices per frame that arrived at b
``reg_reads_per_packet``  trapped register reads of both devices per frame that arrived at b
``tcp_mbps``              bytes b's device put into its RX rings, as Mbit/s
``fabric_cpu_us_per_packet``  host CPU the vNIC fabric (both device models and the wire)
                          spent per UDP frame that arrived at b

The host CPU each QEMU and the fabric spent per UDP frame goes to the details: on a
2-core machine the two guests and the fabric share the cores, so what one takes, the
others lose.

Used by ``bench/sockets.py`` (``make bench``) and ``ringlab demo``.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field

from lab.grading.session import syscall_counts
from lab.topology import VNIC
from lab.vm import Lab, Vm
from vnic.netmap.port import parse_counters

PEER = "python3 /mnt/project/lab/guest/peer.py"
WARMUP_S = 1.0

Counters = dict[str, dict[str, int]]


@dataclass
class SocketsFigures:
    udp_pps: float
    doorbells_per_packet: float
    irqs_per_packet: float
    reg_reads_per_packet: float
    tcp_mbps: float
    #: Host CPU microseconds per UDP frame at b, per process ("qemu a", "fabric", ...).
    cpu_us_per_packet: dict[str, float] = field(default_factory=dict)
    details: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The figure lines of ``make bench``."""
        return [
            f"sockets_udp_pps {self.udp_pps:.0f}",
            f"doorbells_per_packet {self.doorbells_per_packet:.3f}",
            f"irqs_per_packet {self.irqs_per_packet:.3f}",
            f"reg_reads_per_packet {self.reg_reads_per_packet:.4f}",
            f"tcp_mbps {self.tcp_mbps:.1f}",
            f"fabric_cpu_us_per_packet {self.cpu_us_per_packet['fabric']:.1f} us",
        ]


def device_counters(lab: Lab, ports: tuple[str, ...] = ("a", "b")) -> Counters:
    assert lab.fabric is not None, "the lab has no vNIC fabric"
    stats = lab.fabric.stats()["stats"]["ports"]
    return {p: {k: v for k, v in stats[p]["device"].items() if isinstance(v, int)} for p in ports}


def host_pids(lab: Lab) -> dict[str, int]:
    """The host processes doing a lab's work: each guest's QEMU and the vNIC fabric."""
    pids = {
        f"qemu {name}": pid
        for name, vm in lab.vms.items()
        if vm.process and (pid := vm.process.pid) is not None
    }
    if lab.fabric is not None and lab.fabric.process is not None:
        pids["fabric"] = lab.fabric.process.pid
    return pids


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads (``/proc/PID/stat``)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Window:
    """How the device counters and the host processes' CPU time changed over a window."""

    counters: Counters
    cpu: dict[str, float]
    seconds: float


#: Frames a sender's port must send before a window's warm-up starts: more than the stray
#: frames a freshly booted guest sends on its own (ARP, IPv6 router solicitations).
SENDER_STARTED = 200


def window(lab: Lab, seconds: float, warmup: float = WARMUP_S, sender: str | None = None) -> Window:
    """Measure ``seconds`` of host time, after a warm-up; with ``sender`` (a port), the
    warm-up starts only once that port's device has sent ``SENDER_STARTED`` frames: a
    program started in the background of a loaded TCG guest may take seconds to begin."""
    if sender is not None:
        started = device_counters(lab, (sender,))[sender]["tx_frames"] + SENDER_STARTED
        deadline = time.monotonic() + 30
        while device_counters(lab, (sender,))[sender]["tx_frames"] < started:
            if time.monotonic() > deadline:
                break  # the caller finds no traffic in the window, and says so
            time.sleep(0.05)
    time.sleep(warmup)
    pids = host_pids(lab)
    cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
    before, t0 = device_counters(lab), time.monotonic()
    time.sleep(seconds)
    after, t1 = device_counters(lab), time.monotonic()
    cpu1 = {name: cpu_seconds(pid) for name, pid in pids.items()}
    diff = {p: {k: v - before[p][k] for k, v in after[p].items()} for p in after}
    return Window(diff, {name: cpu1[name] - cpu0[name] for name in pids}, t1 - t0)


def no_traffic(lab: Lab, counts: Counters, sender_log: str) -> str:
    """Why a window saw nothing: what the sender said, the counters that moved, each
    ring's head/tail/free now, the wire's flow control and the end of each kernel log."""
    moved = {p: {k: v for k, v in c.items() if v} for p, c in counts.items()}
    rings = {
        p: {k: v for k, v in c.items() if k.startswith(("rxq0_", "txq0_")) or k == "link_up"}
        for p, c in device_counters(lab).items()
    }
    logs = {
        name: vm.run("dmesg | tail -n 8", timeout=30).output.strip() for name, vm in lab.vms.items()
    }
    return (
        f"the sender says {lab['a'].run(f'cat {sender_log}', timeout=30).output.strip()!r}; "
        f"counters that moved in the window {moved}; rings now {rings}; "
        f"wire {pause_counters(lab)}; kernel logs {logs}"
    )


def cpu_per_frame(measured: Window, frames: int) -> dict[str, float]:
    """Host CPU microseconds each process spent per frame over the window."""
    return {name: 1e6 * used / frames for name, used in measured.cpu.items()}


def cpu_details(what: str, measured: Window, cpu_us: dict[str, float]) -> str:
    """The details line: CPU per frame and share of a core, per host process."""
    shares = (
        f"{name} {us:.2f} us ({100 * measured.cpu[name] / measured.seconds:.0f}% of a core)"
        for name, us in cpu_us.items()
    )
    return f"host CPU per {what} frame: " + ", ".join(shares)


def sockets_figures(lab: Lab, seconds: float = 5.0, dst: str = "198.18.0.2") -> SocketsFigures:
    """Measure the sockets path of a running two-guest lab (guests a and b, vnic.ko)."""
    a, b = lab["a"], lab["b"]
    if a.run(f"ping -c1 -W5 {dst}", timeout=30).status != 0:
        raise RuntimeError(f"a cannot reach b ({dst}) through the vNIC")

    total = seconds + WARMUP_S + 1
    flow = pause_counters(lab)
    a.run(f"{PEER} udp-blast {dst} 9000 64 {total} > /tmp/blast.json 2>&1 &", check=True)
    udp = window(lab, seconds, sender="a")
    d, dt = udp.counters, udp.seconds
    time.sleep(total - WARMUP_S - seconds + 2.5)  # the sender has finished
    frames, sent = d["b"]["total_tpr"], d["a"]["tx_frames"]
    if not frames or not sent:
        raise RuntimeError(f"no UDP traffic reached b; {no_traffic(lab, d, '/tmp/blast.json')}")
    details = [
        f"udp window {dt:.2f} s: a sent {sent}, b's port got {frames}, b's rings took "
        f"{d['b']['rx_frames']} (no-descriptor drops {d['b']['rx_drop_no_desc']}); doorbells "
        f"a {d['a']['doorbells']} b {d['b']['doorbells']}; interrupts a {d['a']['interrupts']} "
        f"b {d['b']['interrupts']}; register reads a {d['a']['reg_reads']} b {d['b']['reg_reads']}",
        f"guest sender says: {a.run('cat /tmp/blast.json').output.strip()}",
    ]
    cpu_us = cpu_per_frame(udp, frames)
    details.append(cpu_details("UDP", udp, cpu_us))

    details.append(f"udp wire: {pauses(lab, flow)}")

    b.run("iperf3 -s -D -p 5201", check=True)
    retrans = snmp(a)["Tcp"]["RetransSegs"]
    flow = pause_counters(lab)
    a.run(f"iperf3 -c {dst} -p 5201 -t {seconds + WARMUP_S + 1} > /tmp/tcp.log 2>&1 &")
    tcp = window(lab, seconds, sender="a")
    dtcp, dt2 = tcp.counters, tcp.seconds
    a.run("sleep 2; pkill iperf3", timeout=30)
    b.run("pkill iperf3")
    details.append(
        f"tcp window {dt2:.2f} s: b's rings took {dtcp['b']['rx_bytes']} bytes (no-descriptor "
        f"drops {dtcp['b']['rx_drop_no_desc']}); a retransmitted "
        f"{snmp(a)['Tcp']['RetransSegs'] - retrans} segments over the run; wire: "
        f"{pauses(lab, flow)}"
    )

    return SocketsFigures(
        udp_pps=frames / dt,
        doorbells_per_packet=d["a"]["doorbells"] / sent,
        irqs_per_packet=(d["a"]["interrupts"] + d["b"]["interrupts"]) / frames,
        reg_reads_per_packet=(d["a"]["reg_reads"] + d["b"]["reg_reads"]) / frames,
        tcp_mbps=dtcp["b"]["rx_bytes"] * 8 / dt2 / 1e6,
        cpu_us_per_packet=cpu_us,
        details=details,
    )


# --- the netmap path -------------------------------------------------------------------------

NMGEN = "nmgen"
BLAST = "python3 -m vnic.netmap.blast"


@dataclass
class NetmapFigures:
    """What the netmap path moves, counted on the host and by the guests' kernels.

    ``tx_pps``: frames a's device put on the wire per second (nmgen tx in a, nmgen rx in b);
    ``rx_pps``: slots b's RX rings handed to nmgen rx per second (netmap.ko's counters in b),
    beside b's device count; ``python_tx_pps``: the same as tx_pps with the Python bindings'
    batch path as the sender; ``syscalls_per_packet``: netmap system calls (ioctls and polls,
    counted by netmap.ko in a) per frame a's rings handed to the NIC; ``doorbells_per_packet``:
    a's TX tail writes per frame.
    """

    tx_pps: float
    rx_pps: float
    python_tx_pps: float
    syscalls_per_packet: float
    doorbells_per_packet: float
    cpu_us_per_packet: dict[str, float] = field(default_factory=dict)
    details: list[str] = field(default_factory=list)

    def lines(self, sockets_pps: float | None = None) -> list[str]:
        lines = [
            f"netmap_tx_pps {self.tx_pps:.0f}",
            f"netmap_rx_pps {self.rx_pps:.0f}",
            f"netmap_tx_pps_python {self.python_tx_pps:.0f}",
        ]
        if sockets_pps:
            lines.append(f"netmap_over_sockets {self.tx_pps / sockets_pps:.2f}")
        return [
            *lines,
            f"netmap_syscalls_per_packet {self.syscalls_per_packet:.4f}",
            f"netmap_doorbells_per_packet {self.doorbells_per_packet:.4f}",
            f"fabric_cpu_us_per_packet_netmap {self.cpu_us_per_packet['fabric']:.2f} us",
        ]


def netmap_counters(vm: Vm, iface: str) -> dict[str, int]:
    """The port line of netmap.ko's /proc/net/netmap in a guest, as numbers
    (:func:`vnic.netmap.port.parse_counters`; ``stack stack:IF`` is the stack port's line)."""
    counters = parse_counters(vm.run("cat /proc/net/netmap", check=True).output)
    if f"port {iface}" not in counters:
        raise RuntimeError(f"{vm.spec.name}: netmap.ko does not know {iface}")
    return counters[f"port {iface}"]


def interface(vm: Vm) -> str:
    """The lab NIC of a single-port guest (the interface with the guest's MAC)."""
    out = vm.run(f"grep -l {vm.spec.mac} /sys/class/net/*/address", check=True).output
    return out.strip().split("/")[-2]


def result_line(vm: Vm, path: str, timeout: float) -> str:
    """The JSON line a guest tool writes when it ends (it may still be draining)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = [ln for ln in vm.run(f"cat {path}").output.splitlines() if ln.startswith("{")]
        if lines:
            return lines[-1]
        time.sleep(0.5)
    raise RuntimeError(f"{vm.spec.name}: no result in {path}: {vm.run(f'cat {path}').output}")


def _netmap_window(lab: Lab, sender: str, seconds: float) -> tuple[Window, dict[str, int]]:
    """Run ``sender`` in a for the window (and a little more) against nmgen rx in b."""
    a, b = lab["a"], lab["b"]
    eth_a, eth_b = interface(a), interface(b)
    warmup = 2 * WARMUP_S  # the Python sender takes a second to start under TCG
    total = seconds + warmup + 2
    b.run(f"{NMGEN} rx -i netmap:{eth_b} -d {total + 2} > /tmp/nm-rx.json 2>&1 &", check=True)
    time.sleep(0.5)
    a.run(f"{sender} > /tmp/nm-tx.json 2>&1 &", check=True)
    time.sleep(WARMUP_S)
    # the module's counters are read just inside the device counters' window
    before_a, before_b = netmap_counters(a, eth_a), netmap_counters(b, eth_b)
    measured = window(lab, seconds, warmup=0)
    after_a, after_b = netmap_counters(a, eth_a), netmap_counters(b, eth_b)
    result_line(a, "/tmp/nm-tx.json", timeout=total + 30)
    result_line(b, "/tmp/nm-rx.json", timeout=30)
    module = {f"a_{k}": after_a[k] - before_a[k] for k in after_a}
    module |= {f"b_{k}": after_b[k] - before_b[k] for k in after_b}
    return measured, module


def netmap_figures(lab: Lab, seconds: float = 5.0) -> NetmapFigures:
    """Measure the netmap path of a running two-guest lab (a sends, b receives)."""
    a, b = lab["a"], lab["b"]
    eth_a = interface(a)
    total = seconds + 2 * WARMUP_S + 2
    c_tx, module = _netmap_window(lab, f"{NMGEN} tx -i netmap:{eth_a} -b 256 -d {total}", seconds)
    d, dt = c_tx.counters, c_tx.seconds
    sent = d["a"]["tx_frames"]
    if not sent:
        raise RuntimeError(f"nmgen sent nothing: {a.run('cat /tmp/nm-tx.json').output}")
    details = [
        f"netmap window {dt:.2f} s: a's device sent {sent}, b's port got {d['b']['total_tpr']}, "
        f"b's rings took {d['b']['rx_frames']} (no-descriptor drops "
        f"{d['b']['rx_drop_no_desc']}); netmap.ko: a {module['a_ioctls']} ioctls "
        f"{module['a_polls']} polls for {module['a_txslots']} slots, b {module['b_polls']} "
        f"polls {module['b_ioctls']} ioctls for {module['b_rxslots']} slots",
        f"nmgen tx says: {result_line(a, '/tmp/nm-tx.json', 5)}",
        f"nmgen rx says: {result_line(b, '/tmp/nm-rx.json', 5)}",
    ]
    cpu_us = cpu_per_frame(c_tx, sent)
    details.append(cpu_details("netmap", c_tx, cpu_us))
    py, _ = _netmap_window(lab, f"{BLAST} tx netmap:{eth_a} --seconds {total}", seconds)
    details.append(f"python sender says: {result_line(a, '/tmp/nm-tx.json', 5)}")
    return NetmapFigures(
        tx_pps=sent / dt,
        rx_pps=module["b_rxslots"] / dt,
        python_tx_pps=py.counters["a"]["tx_frames"] / py.seconds,
        syscalls_per_packet=(module["a_ioctls"] + module["a_polls"]) / max(1, module["a_txslots"]),
        doorbells_per_packet=d["a"]["doorbells"] / sent,
        cpu_us_per_packet=cpu_us,
        details=details,
    )


def stack_counters(vm: Vm) -> dict[str, int]:
    """The stack port's line of /proc/net/netmap in a guest (``stack stack:IF``), as numbers;
    empty before the guest's first stack port was opened."""
    counters = parse_counters(vm.run("cat /proc/net/netmap", check=True).output)
    return counters.get(f"stack stack:{interface(vm)}", {})


def queue_stat(vm: Vm, stat: str, direction: str = "") -> int:
    """One per-queue counter of the driver's ``ethtool -S`` (``tx_queue_N_STAT``,
    ``rx_queue_N_STAT``), summed over the queues (of one ``direction``, "tx" or "rx",
    when a counter is both's)."""
    out = vm.run(f"ethtool -S {interface(vm)}", check=True).output
    return sum(
        int(line.split(":")[1])
        for line in out.splitlines()
        if f"_{stat}:" in line and line.strip().startswith(direction)
    )


PAUSE_COUNTERS = ("paused", "pause_drops", "pause_events")


def pause_counters(lab: Lab) -> dict[str, int]:
    """The wire's flow-control counters (:mod:`vnic.model.wire`), summed over every link
    direction, and whether any link has flow control (``"on"``: 1 or 0)."""
    assert lab.fabric is not None
    links = lab.fabric.stats()["stats"]["links"].values()
    total = {name: 0 for name in PAUSE_COUNTERS}
    for link in links:
        for direction in link["directions"].values():
            for name in PAUSE_COUNTERS:
                total[name] += direction.get(name, 0)
    total["on"] = int(any(link["params"].get("flow_control") for link in links))
    return total


def pauses(lab: Lab, before: dict[str, int]) -> str:
    """What flow control did since ``before`` (:func:`pause_counters`), for details lines."""
    now = pause_counters(lab)
    if not now["on"]:
        return "no flow control"
    d = {name: now[name] - before[name] for name in PAUSE_COUNTERS}
    return (
        f"flow control held {d['paused']} frames for want of RX descriptors "
        f"({d['pause_events']} pauses), dropped {d['pause_drops']} beyond its queue"
    )


def snmp(vm: Vm) -> dict[str, dict[str, int]]:
    """The guest's /proc/net/snmp: ``{"Tcp": {"RetransSegs": N, ...}, "Ip": ..., ...}``."""
    rows = [line.split() for line in vm.run("cat /proc/net/snmp", check=True).output.splitlines()]
    table: dict[str, dict[str, int]] = {}
    for names, values in zip(rows[::2], rows[1::2], strict=False):
        if names and values and names[0] == values[0]:
            table[names[0].rstrip(":")] = dict(zip(names[1:], map(int, values[1:]), strict=False))
    return table


# --- StackMap against sockets: request/response -----------------------------------------------

SYSCOUNT = "sh /mnt/project/exercises/01-sockets/checks/tools/syscount.sh"
RR_PORT = 9100
#: The servers in b, each answering a 32-byte request with its bytes reversed (repeated to
#: {size} bytes where the server can): exercise 01 step 4's sockets server and exercise
#: 03's StackMap server (both reference solutions); and the C server on either data path,
#: the same program otherwise (vnic/tools/stackmap_server.c), for the ceiling and for
#: large answers.
RR_SERVERS = {
    "sockets": "python3 /mnt/project/exercises/01-sockets/solution/rr_server.py --port {port}",
    "stackmap": "python3 /mnt/project/exercises/03-stackmap/solution/server.py --port {port}",
    "c_sockets": "stackmap_server -m sockets -p {port} -r {size}",
    "c_stackmap": "stackmap_server -m stack -p {port} -r {size}",
}


def wire_state(lab: Lab) -> str:
    """Each link direction's flow-control state and each port's RX drops, for messages."""
    if lab.fabric is None:
        return "no vNIC wire"
    stats = lab.fabric.stats()["stats"]
    keys = ("delivered", "held", "paused", "pause_drops", "pause_events", "down_drops")
    parts = [
        f"{name}: " + " ".join(f"{k}={counters.get(k)}" for k in keys)
        for link in stats["links"].values()
        for name, counters in link["directions"].items()
    ]
    for name, port in stats["ports"].items():
        device = port.get("device", {})
        parts.append(
            f"port {name}: rx_frames={device.get('rx_frames')} "
            f"rx_drop_no_desc={device.get('rx_drop_no_desc')} "
            f"rx_drop_disabled={device.get('rx_drop_disabled')} "
            f"interrupts={device.get('interrupts')} doorbells={device.get('doorbells')} "
            + " ".join(f"{k}={v}" for k, v in device.items() if k.endswith("_free"))
        )
    return "the wire: " + "; ".join(parts)


def reachable(vm: Vm, address: str, timeout: float) -> bool:
    """Whether ``vm`` gets an answer to a ping of ``address`` within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if vm.run(f"ping -c1 -W2 {address}", timeout=30).status == 0:
            return True
    return False


@dataclass
class RrRun:
    """One server under exercise 01's load (rr_load in a: CONNS closed loops, every answer
    checked): transactions/s and latency from the load generator, system calls per
    transaction counted in b's kernel (a tracefs histogram on the server's pid)."""

    server: str
    size: int
    tps: float
    p50_us: float
    p99_us: float
    syscalls_per_tx: float


def rr_run(lab: Lab, server: str, size: int = 32, conns: int = 16, requests: int = 300) -> RrRun:
    """Start ``server`` (a key of :data:`RR_SERVERS`) in b, load it from a, stop it."""
    a, b = lab["a"], lab["b"]
    cmd = RR_SERVERS[server].format(port=RR_PORT, size=size)
    log = f"/tmp/rr-{server}.log"
    b.run(f"{SYSCOUNT} {cmd} > {log} 2>&1 &", check=True)
    deadline = time.monotonic() + 60
    while "listening" not in b.run(f"cat {log}").output:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{server} did not start in b:\n{b.run(f'cat {log}').output}")
        time.sleep(0.3)
    host = b.spec.address or ""
    # The guests' neighbour entries may have failed while an earlier measurement had the
    # interfaces in netmap mode: resolve again before the clock starts.
    if not reachable(a, host, 20):
        raise RuntimeError(
            f"{server}: a cannot reach b ({host}) before the load; a's neighbours: "
            f"{a.run('ip neigh').output.strip()!r}; {wire_state(lab)}"
        )
    load = a.run(f"rr_load -s {host}:{RR_PORT} -c {conns} -n {requests} -r {size}", timeout=900)
    b.run(f"pkill -TERM -f '^{cmd}'")  # the server itself: syscount's shell then reports
    while "@@syscalls" not in (text := b.run(f"cat {log}").output):
        if time.monotonic() > deadline + 900:
            raise RuntimeError(f"{server}: no system call count in b:\n{text}")
        time.sleep(0.3)
    lines = [ln for ln in load.output.splitlines() if ln.startswith("{")]
    if not lines:
        raise RuntimeError(f"{server}: rr_load in a failed:\n{load.output}\n{text}")
    result = json.loads(lines[-1])
    if result["errors"] or result["transactions"] != conns * requests:
        raise RuntimeError(f"{server}: wrong answers under load: {result}\n{text}")
    counts = syscall_counts(text)
    assert counts is not None  # the loop above waited for the line
    total = counts["total"]
    return RrRun(
        server,
        size,
        result["tps"],
        result["p50_us"],
        result["p99_us"],
        total / result["transactions"],
    )


@dataclass
class StackmapFigures:
    """StackMap's server against exercise 01's sockets server, same guests, same load.

    ``runs`` holds every measurement; a figure is the median over the rounds, which
    alternate the servers. From netmap.ko's counters in b: the share of TX slots handed to
    TCP without a copy and of RX slots that got the buffer the NIC wrote (see
    docs/stackmap.rst); from b's driver: page frags sent out of netmap buffers.
    """

    runs: list[RrRun]
    tx_zero_copy_share: float
    rx_zero_copy_share: float
    netmap_frags: int
    details: list[str] = field(default_factory=list)

    def median(self, server: str, what: str, size: int = 32) -> float:
        values = sorted(getattr(r, what) for r in self.runs if (r.server, r.size) == (server, size))
        if not values:
            raise LookupError(f"no {server} run with {size}-byte answers")
        return values[len(values) // 2]

    def lines(self) -> list[str]:
        m = self.median
        lines = [
            f"stackmap_rr_tps {m('stackmap', 'tps'):.0f}",
            f"sockets_rr_tps {m('sockets', 'tps'):.0f}",
            f"stackmap_over_sockets_tps {m('stackmap', 'tps') / m('sockets', 'tps'):.2f}",
            f"stackmap_rr_p50_us {m('stackmap', 'p50_us'):.0f} us",
            f"stackmap_rr_p99_us {m('stackmap', 'p99_us'):.0f} us",
            f"sockets_rr_p50_us {m('sockets', 'p50_us'):.0f} us",
            f"sockets_rr_p99_us {m('sockets', 'p99_us'):.0f} us",
            f"stackmap_over_sockets_p50 {m('stackmap', 'p50_us') / m('sockets', 'p50_us'):.2f}",
            f"stackmap_syscalls_per_transaction {m('stackmap', 'syscalls_per_tx'):.2f}",
            f"sockets_syscalls_per_transaction {m('sockets', 'syscalls_per_tx'):.2f}",
            f"stackmap_tx_zero_copy_share {self.tx_zero_copy_share:.3f}",
            f"stackmap_rx_zero_copy_share {self.rx_zero_copy_share:.3f}",
            f"stackmap_tx_netmap_frags {self.netmap_frags}",
        ]
        for size in sorted({r.size for r in self.runs if r.server == "c_stackmap"}):
            ratio = m("c_stackmap", "tps", size) / m("c_sockets", "tps", size)
            lines.append(f"c_stackmap_over_sockets_tps_{size} {ratio:.2f}")
        return lines


def stackmap_figures(
    lab: Lab, rounds: int = 3, requests: int = 300, sizes: tuple[int, ...] = (32, 1024, 16384)
) -> StackmapFigures:
    """Measure the request/response servers of :data:`RR_SERVERS` in a running two-guest
    lab (b serves, a loads): the Python pair at 32-byte answers, the C pair at ``sizes``."""
    b = lab["b"]
    before, frags = stack_counters(b), queue_stat(b, "netmap_frags", "tx")
    runs: list[RrRun] = []
    for _ in range(rounds):
        for server in ("sockets", "stackmap"):
            runs.append(rr_run(lab, server, 32, requests=requests))
        for size in sizes:
            n = max(20, requests * 32 // size) if size > 1024 else requests
            for server in ("c_sockets", "c_stackmap"):
                runs.append(rr_run(lab, server, size, requests=n))
    after = stack_counters(b)
    slots = after["tx_slots"] - before.get("tx_slots", 0)
    zero_copy = after["tx_zerocopy"] - before.get("tx_zerocopy", 0)
    rx_slots = after["rx_slots"] - before.get("rx_slots", 0)
    rx_lent = after["rx_zerocopy"] - before.get("rx_zerocopy", 0)
    sent_frags = queue_stat(b, "netmap_frags", "tx") - frags
    details = [
        f"{r.server} {r.size} B: {r.tps:.0f} tps, p50 {r.p50_us:.0f} us, p99 {r.p99_us:.0f} us, "
        f"{r.syscalls_per_tx:.2f} syscalls/transaction"
        for r in runs
    ]
    details.append(
        f"stack port in b: {slots} TX slots ({zero_copy} zero-copy, "
        f"{after['tx_eagain'] - before.get('tx_eagain', 0)} EAGAIN stops), {rx_slots} RX slots "
        f"({rx_lent} with the NIC's buffer, {rx_slots - rx_lent} copied); driver: {sent_frags} "
        "frags sent from netmap buffers"
    )
    return StackmapFigures(
        runs=runs,
        tx_zero_copy_share=zero_copy / slots if slots else 0.0,
        rx_zero_copy_share=rx_lent / rx_slots if rx_slots else 0.0,
        netmap_frags=sent_frags,
        details=details,
    )


# --- the anchors: one sender on the vNIC and on QEMU's own NICs ----------------------------

ANCHOR_PORT = 9000
#: The senders of the anchor benchmark, each sending 64-byte UDP payloads to b for
#: {seconds}: the static C program (cheap per packet, so the device path is what is
#: measured) and the Python one the exercises use.
ANCHOR_SENDERS = {
    "c": "udp_blast {dst} {port} 64 {seconds}",
    "python": PEER + " udp-blast {dst} {port} 64 {seconds}",
    # not a socket: netmap on a's interface, native or generic adapter (60-byte frames)
    "netmap": NMGEN + " tx -i netmap:{iface} -b 256 -d {seconds}",
}
#: netmap.ko's choice of adapter (its admode parameter): 2 opens every interface through
#: the generic adapter, the vNIC's too.
ADMODE = "/sys/module/netmap/parameters/admode"
#: Holds b's UDP port open without reading: datagrams that arrive are dropped at the
#: socket (RcvbufErrors), not answered with ICMP port-unreachable, which would cost b a
#: reply per packet on one NIC and not on another.
HOLD_PORT = (
    "python3 -c 'import socket, time; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
    's.bind(("", {port})); time.sleep({seconds})\''
)


@dataclass
class AnchorRun:
    """One sender from a to b on one NIC: what b's interface received per second (b's
    kernel counts it, the same way for every NIC), the sender's own rate, and the host
    CPU each process spent per received packet."""

    nic: str
    sender: str
    pps: float
    sent_pps: float
    cpu_us: dict[str, float]
    #: the netmap sender's adapter ("native" or "generic"); "" for the socket senders
    adapter: str = ""
    #: packets b's interface counted in the window, and all the sender says it sent
    received: int = 0
    sent: int = 0

    @property
    def cpu_us_total(self) -> float:
        return sum(self.cpu_us.values())


def anchor_run(
    lab: Lab, nic: str, sender: str, seconds: float = 5.0, generic: bool = False
) -> AnchorRun:
    """Run :data:`ANCHOR_SENDERS` ``sender`` in a against b of a running two-guest lab
    (any NIC of :data:`lab.topology.ANCHOR_NICS`, or the vNIC) and measure ``seconds``
    after a warm-up: b's interface counter and the host processes' CPU time. ``generic``
    makes netmap.ko in a open even the vNIC through its generic adapter (for the time of
    the run); QEMU's NICs have no native adapter, so netmap on them is always generic."""
    a = lab["a"]
    if generic:
        a.run(f"echo 2 > {ADMODE}", check=True)
    try:
        run = _anchor_run(lab, nic, sender, seconds)
    finally:
        if generic:
            a.run(f"echo 0 > {ADMODE}", check=True)
    if sender == "netmap":
        run.adapter = "generic" if generic or nic != VNIC else "native"
    return run


def _anchor_run(lab: Lab, nic: str, sender: str, seconds: float) -> AnchorRun:
    a, b = lab["a"], lab["b"]
    dst = b.spec.address or ""
    if a.run(f"ping -c1 -W5 {dst}", timeout=30).status != 0:
        raise RuntimeError(f"{nic}: a cannot reach b ({dst})")
    warmup = 2 * WARMUP_S  # the Python sender takes a second to start under TCG
    total = seconds + warmup + 2
    b.run(HOLD_PORT.format(port=ANCHOR_PORT, seconds=total + 5) + " &", check=True)
    command = ANCHOR_SENDERS[sender].format(
        dst=dst, port=ANCHOR_PORT, seconds=int(total), iface=interface(a)
    )
    a.run(f"{command} > /tmp/anchor.json 2>&1 &", check=True)
    time.sleep(warmup)
    counter = f"/sys/class/net/{interface(b)}/statistics/rx_packets"
    pids = host_pids(lab)
    cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
    # b times its own window: the console's latency stays out of it
    out = b.run(
        f"read r0 < {counter}; read u0 _ < /proc/uptime; sleep {seconds}; "
        f"read r1 < {counter}; read u1 _ < /proc/uptime; echo $r0 $u0 $r1 $u1",
        timeout=seconds + 30,
        check=True,
    ).output.split()
    cpu1 = {name: cpu_seconds(pid) for name, pid in pids.items()}
    r0, u0, r1, u1 = int(out[0]), float(out[1]), int(out[2]), float(out[3])
    received = r1 - r0
    deadline = time.monotonic() + total + 30
    while not (
        lines := [
            ln for ln in a.run("cat /tmp/anchor.json").output.splitlines() if ln.startswith("{")
        ]
    ):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{nic}: the {sender} sender in a did not finish")
        time.sleep(0.5)
    said = json.loads(lines[-1])
    if not received:
        raise RuntimeError(f"{nic}: b received nothing from the {sender} sender: {said}")
    return AnchorRun(
        nic=nic,
        sender=sender,
        pps=received / (u1 - u0),
        sent_pps=said.get("pps") or said["sent"] / total,
        cpu_us={name: 1e6 * (cpu1[name] - cpu0[name]) / received for name in pids},
        received=received,
        sent=int(said.get("sent", 0)),
    )
