"""Checks of exercise 03-stackmap: the request/response server on a stack port.

Guest b (198.18.0.2) runs the student's server.py; guest a runs the exercise's load,
``rr_load`` (exercise 01's protocol in C: closed loops, every byte of every answer
checked, the connections a server left waiting named). Plain sockets in a: a StackMap
server must serve any TCP peer.

The truth is what the load generator and the kernels count: transactions, latencies and
wrong answers at the client; in b, netmap.ko's stack-port counters (sockets attached,
slots through the rings, TX slots TCP took without a copy), TCP's retransmissions and the
server's system calls (a tracefs histogram on its pid, ``syscount.sh`` of exercise 01).
What the server prints is not evidence.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from lab.grading.plugin import Budget
from lab.grading.session import GradingSession, syscall_counts
from vnic.netmap.port import parse_counters

SUB = "/mnt/submission"
TOOLS = "/mnt/project/exercises/03-stackmap/checks/tools"
SYSCOUNT = "sh /mnt/project/exercises/01-sockets/checks/tools/syscount.sh"
#: Exercise 01 step 4's server: the sockets reference of steps 3 and 4.
REFERENCE = "/mnt/project/exercises/01-sockets/solution/rr_server.py"
SERVER_IP = "198.18.0.2"
PORT = 9100
CONNS = 16
#: Step 3's load per connection (one run of each server: the medians of several rounds
#: are ``bench/stackmap.py``'s, whose figures the handout quotes).
REQUESTS = 200
#: Step 1 holds its connections until it has seen them all attached, or this long.
HOLD = 10
#: At most this share of the sockets reference's system calls per transaction: the reference
#: solution makes 0.3-0.35 of them (about 0.8 against 2.5), a server that makes a system
#: call per connection and request makes more than the sockets one.
SYSCALLS = 0.5
# Transactions per second and latency are reported, not graded: under TCG on two cores the
# guests' emulated TCP/IP and the device model, not the server's system calls, set the pace
# of 16 closed loops (the reference solution makes 0.75-1.4x the sockets server's rate in
# single rounds, and less on a loaded machine), so a threshold would grade the machine.
#: The share of TX slots TCP must take without a copy.
ZERO_COPY = 0.95
#: Step 4: answer sizes, and requests per connection at each.
SIZES = (1024, 16384)
SIZE_REQUESTS = {1024: 50, 16384: 20}
#: Results shared between checks (they run in file order).
MEASURED: dict[str, Any] = {}

Measure = Any


def python(script: str) -> str:
    """A Python command for the guest; bytecode cached in /tmp (the shares are read-only).
    ``env`` runs it: a wrapper (the system-call counter) can exec it."""
    return f"env PYTHONPYCACHEPREFIX=/tmp/.pyc python3 {script}"


def stack_counters(guest: Budget) -> dict[str, int]:
    """netmap.ko's stack-port line in b (empty before the first stack port was opened)."""
    run = guest.run("b", "cat /proc/net/netmap", timeout=10)
    for name, values in parse_counters(run.output).items():
        if name.startswith("stack stack:"):
            return values
    return {}


def grown(before: dict[str, int], after: dict[str, int], key: str) -> int:
    return after.get(key, 0) - before.get(key, 0)


def retransmitted(guest: Budget) -> int:
    """TCP's RetransSegs in b, since boot."""
    snmp = guest.run("b", "cat /proc/net/snmp", timeout=10).output
    rows = [line.split() for line in snmp.splitlines()]
    for names, values in zip(rows[::2], rows[1::2], strict=False):
        if names[:1] == values[:1] == ["Tcp:"]:
            return int(dict(zip(names, values, strict=True))["RetransSegs"])
    raise AssertionError("b's /proc/net/snmp has no Tcp line")


def student_server(size: int = 32, count: bool = False) -> str:
    program = python(f"server.py --port {PORT} --response {size}")
    return f"cd {SUB} && {SYSCOUNT + ' ' if count else ''}{program}"


def reference_server(size: int = 32, count: bool = False) -> str:
    program = python(f"{REFERENCE} --port {PORT} --response {size}")
    return f"{SYSCOUNT} {program}" if count else program


def both_servers(size: int = 32, count: bool = False) -> list[tuple[str, str, str]]:
    """(name, who, command) of the sockets reference and the student's server, in the order
    every comparison runs them."""
    return [
        ("sockets", "exercise 01's server", reference_server(size, count)),
        ("stackmap", "your server", student_server(size, count)),
    ]


def stalled(report: dict[str, Any], requests: int) -> str:
    """The connections a server left waiting, as the load generator names them."""
    waiting = report.get("stalled", [])
    if not waiting:
        return ""
    named = ", ".join(
        f"connection {n} (a's port {port}) got {got} of {requests} answers"
        for n, port, got in waiting[:4]
    )
    more = f" and {len(waiting) - 4} more" if len(waiting) > 4 else ""
    return f"; the server left waiting: {named}{more}"


def serve(
    guest: Budget, server: str, who: str, requests: int, size: int = 32
) -> tuple[dict[str, Any], dict[str, int], int | None]:
    """Start ``server`` in b, run the load from a, stop the server: (the load's report,
    the stack port's counter growth, the server's system calls if ``server`` runs under
    the system-call counter, else None)."""
    before = stack_counters(guest)
    guest.start("b", server, "server")
    guest.listening("b", PORT, "server")
    load = guest.run(
        "a", f"rr_load -s {SERVER_IP}:{PORT} -c {CONNS} -n {requests} -r {size}", timeout=120
    )
    count = SYSCOUNT in server
    if count:  # the server alone: the counter's shell then reports and ends
        guest.run("b", f"pkill -TERM -f '^python3 .*--port {PORT} '", timeout=10)
        ended = guest.grading.lab.collect("b", "server", 10.0, stop=False)
    else:
        ended = guest.collect("b", "server", stop=True)
    after = stack_counters(guest)
    counters = {k: grown(before, after, k) for k in after}
    report = load.report("the load generator (rr_load)")
    want = CONNS * requests
    assert report["errors"] == 0 and report["transactions"] == want, (
        f"{who}: {report['transactions']} of {want} transactions answered right, "
        f"{report['errors']} wrong or lost{stalled(report, requests)}\n{ended.explain()}"
    )
    counted = syscall_counts(ended.output) if count else None
    syscalls = counted["total"] if counted else None
    return report, counters, syscalls


# -- the checks ---------------------------------------------------------------------------------


@pytest.mark.check(
    points=0,
    timeout=40,
    hint="not your code: the lab's NIC driver (vnic.ko) or netmap.ko did not come up; "
    "see serial.log",
)
def test_nic_up(grading: GradingSession, lab: Any, guest: Budget) -> None:
    """The lab's NIC is up in a and b, netmap.ko is loaded, a ping crosses the wire"""
    ping = guest.run("a", f"ping -c1 -W5 {SERVER_IP}", timeout=20)
    assert ping.ok, f"a cannot reach b: {ping.explain()}"
    proc = guest.run("b", "cat /proc/net/netmap", timeout=10)
    assert proc.ok, f"netmap.ko is not loaded in b: {proc.explain()}"
    # Python's first start in a guest reads it from disk, and in b the bindings over the
    # share: not the student's time (bytecode, cached in /tmp, makes later starts quicker).
    # a's, for hold.py, at the same time.
    guest.start("a", "python3 -c 'import json, signal, socket'", "warm")
    warm = guest.run("b", python("-c 'import argparse, json, select, vnic.netmap.stack'"))
    assert warm.ok, f"the netmap bindings do not import in b: {warm.explain()}"
    warmed = guest.collect("a", "warm")
    assert warmed.ok, f"Python does not start in a: {warmed.explain()}"


@pytest.mark.check(points=1, timeout=5, hint="Run server.py with python3: it names the line.")
def test_parses(grading: GradingSession) -> None:
    """server.py is valid Python"""
    grading.assert_python_parses(("server.py",))


@pytest.mark.check(
    points=2,
    timeout=40,
    step=1,
    depends=["nic_up", "parses"],
    hint="serve(): poll the listener and the port; accept_all() every connection, add() "
    "attaches each with self.stack.attach(conn) and keeps the socket in self.conns",
)
def test_attach(grading: GradingSession, guest: Budget, measure: Measure) -> None:
    """Step 1: every accepted connection is attached to the stack port"""
    before = stack_counters(guest)
    guest.start("b", student_server(), "server")
    guest.listening("b", PORT, "server")
    # exec: the stop below reaches hold.py itself, not a shell around it
    guest.start("a", f"exec python3 {TOOLS}/hold.py {SERVER_IP}:{PORT} {CONNS} {HOLD}", "hold")
    deadline = time.monotonic() + HOLD
    during = stack_counters(guest)
    while grown(before, during, "attached") < CONNS and time.monotonic() < deadline:
        time.sleep(0.2)
        during = stack_counters(guest)
    held = guest.collect("a", "hold", stop=True)
    ended = guest.collect("b", "server", stop=True)
    # the server's own words too: a server that died (a TODO, say) is why nobody connects
    assert held.ok, (
        f"the exercise's client could not connect: {held.explain()}\nyour server: {ended.explain()}"
    )
    attached = grown(before, during, "attached")
    assert attached == CONNS, (
        f"netmap.ko attached {attached} sockets to the stack port while {CONNS} connections "
        f"were open (PST_FD_REG through StackPort.attach)\n{ended.explain()}"
    )
    assert during.get("socks", 0) >= CONNS, f"only {during.get('socks')} are attached now"
    measure("sockets attached", attached)


@pytest.mark.check(
    points=4,
    timeout=60,
    step=2,
    depends=["attach"],
    hint="handle(): per fd, what self.partial kept plus its new pieces; queue answer() of "
    "each whole 32 bytes with self.stack.queue(fd, ...); keep the rest; fds in pad.eof go "
    "to self.closing",
)
def test_serve(grading: GradingSession, guest: Budget, measure: Measure) -> None:
    """Step 2: 16 connections x 50 requests through the rings, every answer right"""
    report, counters, _ = serve(guest, student_server(), "your server", 50)
    assert counters.get("rx_slots", 0) > 0, (
        "the stack port's RX ring carried no data: the requests did not come through it "
        "(read with socket.recv()?)"
    )
    measure("transactions/s", report["tps"], "1/s")
    measure("RX slots", counters["rx_slots"])
    measure("TX slots", counters.get("tx_slots", 0))


@pytest.mark.check(
    points=2,
    timeout=60,
    step=2,
    depends=["serve"],
    hint="a request may arrive in pieces, or several in one slot: keep what is not a whole "
    "request in self.partial until the rest comes",
)
def test_serve_over_a_lossy_link(grading: GradingSession, lab: Any, guest: Budget) -> None:
    """Step 2: the same over a link that drops and reorders frames"""
    resent = retransmitted(guest)
    reply = lab.fabric.request({"cmd": "faults", "link": "b", "drop": 0.03, "reorder": 0.05})
    assert reply["ok"], f"not your code: the wire refused the faults: {reply}"
    try:
        serve(guest, student_server(), "your server over a lossy link", 50)
    finally:
        lab.fabric.request({"cmd": "faults", "link": "b", "drop": 0.0, "reorder": 0.0})
    assert retransmitted(guest) > resent, "not your code: b's TCP retransmitted nothing"


@pytest.mark.check(
    points=3,
    timeout=120,
    step=3,
    depends=["serve"],
    hint="one poll(), one receive and one flush() per round serve every connection: a "
    "system call per connection and request is what sockets cost",
)
def test_against_sockets(grading: GradingSession, guest: Budget, measure: Measure) -> None:
    """Step 3: against exercise 01's sockets server: a third of its system calls"""
    runs: dict[str, dict[str, Any]] = {}
    calls: dict[str, float] = {}
    for name, who, server in both_servers(count=True):
        report, counters, syscalls = serve(guest, server, who, REQUESTS)
        runs[name] = report
        if syscalls is not None:
            calls[name] = syscalls / report["transactions"]
        if name == "stackmap":
            MEASURED["slots"] = {
                key: counters.get(key, 0)
                for key in ("tx_slots", "tx_zerocopy", "rx_slots", "rx_zerocopy")
            }
    for name, report in runs.items():
        measure(f"{name}: transactions/s", report["tps"], "1/s", leaderboard=name == "stackmap")
        measure(f"{name}: p50 latency", report["p50_us"], "us", order="asc")
        measure(f"{name}: p99 latency", report["p99_us"], "us", order="asc")
        if name in calls:
            measure(f"{name}: system calls/transaction", calls[name])
    for key, what in (
        ("tps", "transactions/s"),
        ("p50_us", "p50 latency"),
        ("p99_us", "p99 latency"),
    ):
        measure(f"StackMap / sockets, {what}", runs["stackmap"][key] / runs["sockets"][key], "x")
    MEASURED["sizes"] = {32: {n: {"tps": r["tps"], "p50_us": r["p50_us"]} for n, r in runs.items()}}
    assert len(calls) == 2, "not your code: no system calls counted"
    assert calls["stackmap"] <= SYSCALLS * calls["sockets"], (
        f"your server made {calls['stackmap']:.2f} system calls per transaction, exercise 01's "
        f"sockets server {calls['sockets']:.2f}: at most {SYSCALLS}x is expected (one poll, one "
        "receive and one flush per batch of every connection)"
    )


@pytest.mark.check(
    points=2,
    timeout=10,
    step=3,
    depends=["serve"],
    hint="send every answer through the stack port's TX ring (self.stack.queue and flush): "
    "TCP then takes the buffer itself",
)
def test_zero_copy(grading: GradingSession, measure: Measure) -> None:
    """Step 3: TCP took at least 95 % of the TX slots without a copy"""
    slots = MEASURED.get("slots")
    assert slots, "step 3's runs did not finish (see check against_sockets)"
    share = slots["tx_zerocopy"] / slots["tx_slots"] if slots["tx_slots"] else 0.0
    measure("TX slots sent without a copy", share * 100, "%")
    rx_share = slots["rx_zerocopy"] / slots["rx_slots"] if slots["rx_slots"] else 0.0
    # RX is the kernel's doing (the NIC's buffer lent to the slot), not the student's: shown
    measure("RX slots in the buffer the NIC wrote", rx_share * 100, "%")
    assert share >= ZERO_COPY, (
        f"netmap.ko handed {slots['tx_zerocopy']} of {slots['tx_slots']} TX slots to TCP "
        f"without a copy ({share:.0%}): at least {ZERO_COPY:.0%} is expected"
    )


@pytest.mark.check(
    points=2,
    timeout=120,
    step=4,
    depends=["serve"],
    hint="--response N: each answer is answer(request, N), the reversal repeated to N bytes",
)
def test_responses_that_grow(grading: GradingSession, guest: Budget, measure: Measure) -> None:
    """Step 4: answers of 1 KiB and 16 KiB, both servers, the curve drawn"""
    sizes: dict[int, dict[str, dict[str, float]]] = dict(MEASURED.get("sizes", {}))
    for size in SIZES:
        n = SIZE_REQUESTS[size]
        point = {}
        for name, who, server in both_servers(size):
            report, _, _ = serve(guest, server, f"{who} with {size}-byte answers", n, size)
            point[name] = {"tps": report["tps"], "p50_us": report["p50_us"]}
            measure(f"{name}: transactions/s at {size} B", report["tps"], "1/s")
        sizes[size] = point
    out = grading.lab.run_dir.path
    (out / "response_sizes.json").write_text(
        json.dumps({str(s): sizes[s] for s in sorted(sizes)}, indent=1) + "\n"
    )
    draw(sizes, out)


def draw(sizes: dict[int, dict[str, dict[str, float]]], out: Any) -> None:
    """Transactions/s and p50 latency against the answer's size (PNG, with matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return  # the numbers are in response_sizes.json
    xs = sorted(sizes)
    fig, (tps, lat) = plt.subplots(1, 2, figsize=(9, 3.6))
    for name, style in (("sockets", "s--"), ("stackmap", "o-")):
        tps.semilogx(xs, [sizes[x][name]["tps"] for x in xs], style, base=2, label=name)
        lat.semilogx(xs, [sizes[x][name]["p50_us"] / 1000 for x in xs], style, base=2)
    tps.set_xlabel("answer (bytes)")
    tps.set_ylabel("transactions/s")
    tps.legend()
    lat.set_xlabel("answer (bytes)")
    lat.set_ylabel("p50 latency (ms)")
    fig.suptitle("16 connections: StackMap against exercise 01's sockets server")
    fig.tight_layout()
    fig.savefig(out / "response_sizes.png", dpi=100)
    plt.close(fig)
