"""``ringlab lecture``: the course's measured claims, measured again on this machine.

The slides make three claims with numbers.  Each section here states the claim, measures
the same thing in a fresh two-guest lab, gives the ratio to the claim, and says why the two
differ (TCG, 2 cores, an out-of-process device model)::

    sendto     one 64-byte UDP sendto() split into its costs (Rizzo's FreeBSD table)
    batches    packets/s against batch size for sendto, sendmmsg and netmap (C and Python)
    stackmap   StackMap's request/response server against exercise 01's sockets server

    ringlab lecture [--quick] [--out DIR]

``DIR`` (default: the run's folder) gets ``index.html`` with the PNG plots, ``lecture.json``
with every number, one CSV per section, and the terminal gets a summary.  ``--quick`` is a
shorter run (fewer datagrams, shorter windows, one round) for CI; a section that cannot be
measured says why instead of failing the others.
"""

from __future__ import annotations

import csv
import html
import json
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lab import provision
from lab.figures import (
    HOLD_PORT,
    NMGEN,
    PEER,
    interface,
    result_line,
    stackmap_figures,
    window,
)
from lab.runs import RunDir
from lab.topology import wired
from lab.vm import Lab, Vm

GUEST = "/mnt/project/lab/guest"
PORT = 9000

#: The lecture's FreeBSD column: one 64-byte UDP sendto() on FreeBSD with ixgbe, from
#: Rizzo's netmap paper (USENIX ATC 2012), as the slide gives it, in nanoseconds.  FreeBSD
#: counts the socket buffer and the copy together (sosend_dgram), and UDP, IP and Ethernet
#: header work with the route lookup.
FREEBSD_NS = {
    "syscall": 96,
    "skb": 137,  # with the copy
    "route": 57 + 198 + 162,  # udp_output + ip_output (route, header) + ether_output
    "driver": 220,
    "total": 950,
}
LAYERS = {
    "syscall": "system call (enter and leave)",
    "skb": "socket buffer (allocation)",
    "copy": "copy of the payload",
    "route": "route lookup",
    "rest": "UDP, IP and Ethernet layers' own work",
    "driver": "queueing, driver and doorbell",
}
#: What each API's point of the batch plot runs in guest a (for ``seconds``, batch ``n``).
SENDERS: dict[str, str] = {
    "sendto": PEER + " udp-blast {dst} {port} 64 {seconds}",
    "sendmmsg": PEER + " udp-blast {dst} {port} 64 {seconds} {n}",
    "netmap (C, nmgen)": NMGEN + " tx -i netmap:{iface} -b {n} -d {seconds}",
    "netmap (Python)": "cd /mnt/project && python3 -m vnic.netmap.blast tx netmap:{iface}"
    " --seconds {seconds} --batch {n}",
}
#: Which keys of each sender's report count its system calls and its packets (``sendto``
#: makes one call per packet and does not count them).
CALLS: dict[str, tuple[str, str] | tuple[None, None]] = {
    "sendto": (None, None),
    "sendmmsg": ("calls", "sent"),
    "netmap (C, nmgen)": ("syscalls", "packets"),
    "netmap (Python)": ("syncs", "packets"),
}
BATCHES = {
    "sendto": (1,),
    "sendmmsg": (8, 32, 128),
    "netmap (C, nmgen)": (1, 8, 32, 256),
    "netmap (Python)": (8, 32, 256),
}


@dataclass
class Section:
    key: str
    title: str
    claim: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    why: str = ""
    plot: str = ""
    error: str = ""


# --- 1. the sendto() table --------------------------------------------------------------


def measure_sendto(lab: Lab, quick: bool) -> Section:
    section = Section(
        "sendto",
        "What one sendto() costs, layer by layer",
        "A 64-byte UDP sendto() costs about 950 ns on FreeBSD, from the system call down to"
        " the driver's doorbell (the lecture's table, after Rizzo 2012).",
    )
    dst = lab["b"].spec.address
    count = 300 if quick else 3000
    out = lab["a"].run(
        f"python3 {GUEST}/sendto_layers.py --dest {dst}:{PORT} --count {count}", timeout=600
    )
    result = _json_line(out.output, "sendto_layers.py")
    layers = result["layers_us"]
    untraced = result["untraced_total_us"] * 1000
    traced = result["traced_total_us"] * 1000
    # The tracer slows every traced call; each kernel layer keeps its share of the traced
    # time, scaled to what an untraced sendto() takes (the system call is timed untraced).
    syscall = layers["syscall"] * 1000
    scale = (untraced - syscall) / (traced - syscall) if traced > syscall else 1.0
    for key, title in LAYERS.items():
        traced_ns = layers.get(key, 0.0) * 1000
        linux_ns = traced_ns if key == "syscall" else traced_ns * scale
        freebsd = FREEBSD_NS.get(key)
        section.rows.append(
            {
                "layer": title,
                "freebsd_ns": freebsd if freebsd is not None else "",
                "this_guest_ns": round(linux_ns),
                "traced_ns": round(traced_ns),
                "ratio": round(linux_ns / freebsd, 1) if freebsd else "",
            }
        )
    section.rows.append(
        {
            "layer": "total (untraced sendto())",
            "freebsd_ns": FREEBSD_NS["total"],
            "this_guest_ns": round(untraced),
            "traced_ns": round(traced),
            "ratio": round(untraced / FREEBSD_NS["total"], 1),
        }
    )
    section.findings = [
        f"total {untraced:,.0f} ns here against 950 ns: {untraced / 950:.0f}x",
        f"traced {traced:,.0f} ns: the tracer's own hooks add"
        f" {max(0.0, traced - untraced):,.0f} ns, so each kernel layer is shown scaled by"
        f" {scale:.2f} to the untraced total",
        "functions traced per datagram: "
        + ", ".join(f"{k} {v:.1f} us" for k, v in result["functions_us"].items()),
    ]
    platform = lab.platform
    section.findings.append(
        f"measured under {platform.accel.upper()} ({platform.accel_reason})"
        + (
            "; the KVM column needs a machine where KVM works: run ringlab lecture there"
            if platform.accel != "kvm"
            else ""
        )
    )
    section.why = (
        (
            "The guest runs under TCG: every guest instruction is translated, so a kernel path"
            " of a microsecond on hardware takes many times as long here"
            if platform.accel != "kvm"
            else "The guest runs under KVM, close to the hardware's speed"
        )
        + ", and the doorbell is a trapped MMIO write answered by a device model in another"
        " process. The split, not the total, is what to"
        " compare: Linux spends its time in the same places FreeBSD does. FreeBSD counts the"
        " socket buffer and the copy together, and the route with the headers; the tracer"
        " (function_graph on only the functions named) adds its own cost to every traced call."
    )
    return section


# --- 2. packets/s against batch size ------------------------------------------------------


def measure_batches(lab: Lab, quick: bool) -> Section:
    section = Section(
        "batches",
        "Packets per second against batch size",
        "netmap moves a packet in under 70 CPU cycles, about 20x the socket API's rate,"
        " because one system call and one doorbell serve a whole batch.",
    )
    a, b = lab["a"], lab["b"]
    seconds = 2.0 if quick else 5.0
    dst, iface = b.spec.address, interface(a)
    b.run(HOLD_PORT.format(port=PORT, seconds=3600) + " > /dev/null 2>&1 &", check=True)
    for api, sizes in BATCHES.items():
        for n in sizes:
            command = SENDERS[api].format(dst=dst, port=PORT, seconds=seconds + 2, n=n, iface=iface)
            section.rows.append(_batch_point(lab, a, api, n, command, seconds))
    b.run("pkill -f 'time.sleep(3600)'")
    best = {api: max(r["pps"] for r in section.rows if r["api"] == api) for api in BATCHES}
    sendto = best["sendto"]
    section.findings = [
        f"{api}: best {pps:,.0f} packets/s ({pps / sendto:.1f}x sendto)"
        for api, pps in best.items()
    ]
    section.why = (
        "Under TCG the per-packet work in the guest and the device model's per-frame cost"
        " bound every path, so batching gains less than on hardware; netmap still removes the"
        " system call, the socket buffer and the copy per packet, and its doorbells per"
        " packet fall with the batch. The paper's 70 cycles are a bare-metal 10 GbE figure."
    )
    return section


def _batch_point(lab: Lab, a: Vm, api: str, n: int, command: str, seconds: float) -> dict[str, Any]:
    a.run(f"{command} > /tmp/lecture-batch.json 2>&1 &", check=True)
    measured = window(lab, seconds)  # after a warm-up: Python starts slowly under TCG
    frames = measured.counters["a"]["tx_frames"]
    doorbells = measured.counters["a"]["doorbells"]
    said = result_line(a, "/tmp/lecture-batch.json", timeout=30)
    report = json.loads(said)
    calls, packets = CALLS[api]
    syscalls = report[calls] / max(1, report[packets]) if calls else 1.0
    return {
        "api": api,
        "batch": n,
        "pps": round(frames / measured.seconds),
        "syscalls_per_packet": round(syscalls, 4),
        "doorbells_per_packet": round(doorbells / frames, 4) if frames else 0.0,
    }


# --- 3. StackMap against sockets --------------------------------------------------------------


def measure_stackmap(lab: Lab, quick: bool) -> Section:
    section = Section(
        "stackmap",
        "StackMap against the sockets API",
        "StackMap cuts request/response latency by 4-80 % and raises throughput by up to"
        " 391 %, keeping the kernel's TCP and changing only the API.",
    )
    sizes = (1024, 16384) if quick else (32, 1024, 16384)
    figures = stackmap_figures(lab, rounds=1 if quick else 3, requests=60 if quick else 300,
                               sizes=sizes)  # fmt: skip
    runs = [asdict(r) for r in figures.runs]
    section.rows = runs
    m = figures.median

    def ratio(what: str, size: int, python: bool = False) -> float:
        ours, theirs = ("stackmap", "sockets") if python else ("c_stackmap", "c_sockets")
        return m(ours, what, size) / m(theirs, what, size)

    section.findings = [
        f"Python servers, 32 B: StackMap {ratio('tps', 32, True):.2f}x the transactions/s,"
        f" p50 latency {ratio('p50_us', 32, True):.2f}x,"
        f" {m('stackmap', 'syscalls_per_tx'):.2f} against"
        f" {m('sockets', 'syscalls_per_tx'):.2f} system calls per transaction",
        *(
            f"C servers, {size} B: StackMap {ratio('tps', size):.2f}x the transactions/s,"
            f" p50 {ratio('p50_us', size):.2f}x, p99 {ratio('p99_us', size):.2f}x"
            for size in sizes
        ),
        f"TX slots sent without a copy: {figures.tx_zero_copy_share:.0%}, RX slots in the"
        f" buffer the NIC wrote: {figures.rx_zero_copy_share:.0%}",
    ]
    section.why = (
        "A transaction's time here is mostly emulated TCP/IP, interrupts and the device"
        " model on both guests, which StackMap does not change; what it removes (system"
        " calls, the socket layer per call, the copies) is a small share of it under TCG."
        " The paper measured on 10 GbE with dedicated cores, where that share is most of the"
        " cost. rr_load reports p50 and p99, so the latency plot shows those two percentiles."
    )
    return section


# --- the run and the report ----------------------------------------------------------------


SECTIONS: tuple[Callable[[Lab, bool], Section], ...] = (
    measure_sendto,
    measure_batches,
    measure_stackmap,
)


def run(out: Path | None = None, quick: bool = False, say: Callable[[str], None] = print) -> Path:
    """Boot a fresh lab, measure every section, write the report; its folder."""
    run_dir = RunDir.new("lecture")
    out = out or run_dir.path / "report"
    out.mkdir(parents=True, exist_ok=True)
    topology = wired(["a", "b"], run_dir, modules=["vnic", "netmap"])
    sections: list[Section] = []
    started = time.monotonic()
    with Lab(topology, provision.ensure()) as lab:
        lab.start()
        for measure in SECTIONS:
            name = measure.__name__.removeprefix("measure_")
            say(f"measuring: {name} ...")
            try:
                sections.append(measure(lab, quick))
            except Exception as error:  # one section's failure must not hide the others
                sections.append(
                    Section(
                        name, name, "", error=f"not measured: {error}\n{traceback.format_exc()}"
                    )
                )
    write_report(out, sections, time.monotonic() - started, quick)
    for section in sections:
        say(f"{section.title}:")
        for line in section.findings or [section.error.splitlines()[0]]:
            say(f"  {line}")
    return out


def write_report(out: Path, sections: list[Section], seconds: float, quick: bool) -> None:
    for section in sections:
        if section.rows:
            with open(out / f"{section.key}.csv", "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=list(section.rows[0]))
                writer.writeheader()
                writer.writerows(section.rows)
        section.plot = _plot(out, section)
    (out / "lecture.json").write_text(
        json.dumps(
            {"quick": quick, "seconds": seconds, "sections": [asdict(s) for s in sections]},
            indent=1,
        )
        + "\n"
    )
    (out / "index.html").write_text(_html(sections, seconds, quick))


def _plot(out: Path, section: Section) -> str:
    """The section's PNG (its file name), or "" when there is nothing to draw or no
    matplotlib."""
    if not section.rows:
        return ""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return ""
    fig, ax = plt.subplots(figsize=(7, 4))
    if section.key == "sendto":
        rows = [r for r in section.rows if not r["layer"].startswith("total")]
        labels = [r["layer"] for r in rows]
        ax.barh(labels, [r["this_guest_ns"] for r in rows], label="this guest (Linux 6.12)")
        ax.barh(labels, [r["freebsd_ns"] or 0 for r in rows], label="FreeBSD (lecture)", alpha=0.7)
        ax.set_xscale("log")
        ax.set_xlabel("ns per sendto()")
    elif section.key == "batches":
        for api in dict.fromkeys(r["api"] for r in section.rows):
            points = [r for r in section.rows if r["api"] == api]
            ax.plot([r["batch"] for r in points], [r["pps"] for r in points], "o-", label=api)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("batch (packets per system call)")
        ax.set_ylabel("packets/s")
    else:
        sizes = sorted({r["size"] for r in section.rows if r["server"].startswith("c_")})
        for server in ("c_sockets", "c_stackmap"):
            p99 = [_median(section.rows, server, s, "p99_us") for s in sizes]
            p50 = [_median(section.rows, server, s, "p50_us") for s in sizes]
            ax.plot(sizes, p50, "o-", label=f"{server} p50")
            ax.plot(sizes, p99, "s--", label=f"{server} p99")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("answer size (bytes)")
        ax.set_ylabel("latency (us)")
    ax.legend(fontsize="small")
    ax.set_title(section.title)
    fig.tight_layout()
    name = f"{section.key}.png"
    fig.savefig(out / name, dpi=100)
    plt.close(fig)
    return name


def _median(rows: list[dict[str, Any]], server: str, size: int, key: str) -> float:
    values = sorted(r[key] for r in rows if r["server"] == server and r["size"] == size)
    return float(values[len(values) // 2]) if values else 0.0


def _html(sections: list[Section], seconds: float, quick: bool) -> str:
    parts = [
        "<!doctype html><meta charset='utf-8'><title>ringlab lecture</title>",
        "<h1>The lecture's claims, measured again</h1>",
        f"<p>{'Quick run' if quick else 'Full run'}, {seconds:.0f} s, in a fresh two-guest"
        " lab on this machine.</p>",
    ]
    for s in sections:
        parts.append(f"<h2>{html.escape(s.title)}</h2>")
        if s.error:
            parts.append(f"<p><b>{html.escape(s.error.splitlines()[0])}</b></p>")
            continue
        parts.append(f"<p><i>Claim.</i> {html.escape(s.claim)}</p>")
        parts.append("<ul>" + "".join(f"<li>{html.escape(f)}</li>" for f in s.findings) + "</ul>")
        if s.rows:
            head = "".join(f"<th>{html.escape(str(k))}</th>" for k in s.rows[0])
            body = "".join(
                "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in r.values()) + "</tr>"
                for r in s.rows
            )
            parts.append(f"<table border='1' cellpadding='3'><tr>{head}</tr>{body}</table>")
        if s.plot:
            parts.append(f"<p><img src='{s.plot}' alt='{html.escape(s.title)}'></p>")
        parts.append(f"<p><i>Why they differ.</i> {html.escape(s.why)}</p>")
    return "\n".join(parts) + "\n"


def _json_line(text: str, who: str) -> dict[str, Any]:
    lines = [ln for ln in text.splitlines() if ln.startswith("{")]
    if not lines:
        raise RuntimeError(f"{who} printed no result:\n{text[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result
