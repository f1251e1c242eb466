"""Checks of exercise 01-sockets: VM a (198.18.0.1) sends to VM b (198.18.0.2) over the vNIC.

The truth is read on the host: the fabric's port counters say how many frames
crossed the wire and how many doorbells and interrupts the device saw.  The
exercise's own tools (``tools/``: a verifying sink, a blaster, a TCP load
generator, a system-call counter on a kernel tracepoint) stand at the other end
of whatever the student wrote, so a student program is never judged by itself.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from lab.grading.plugin import Budget
from lab.grading.session import GradingSession, ProgramRun, delta

TOOLS = "/mnt/project/exercises/01-sockets/checks/tools"
SUB = "/mnt/submission"
PEER = "198.18.0.2"
COUNT = 1000
SIZE = 64
FILES = ("udp.py", "sender.py", "receiver.py", "rr_server.py")
#: Step 1's rate, for step 2's speed-up (checks run in file order).
MEASURED: dict[str, float] = {}

Measure = Callable[..., None]


def returned(run: ProgramRun) -> int:
    """Datagrams the kernel handed the program through recvmmsg() (syscount.sh's sum)."""
    match = re.search(r"^@@returned recvmmsg=(\d+)$", run.output, re.M)
    assert match, f"the system-call counter did not report: {run.explain()}"
    return int(match[1])


def arrival_rate(sink: dict[str, Any]) -> float:
    """Datagrams per second as b received them (the kernel's arrival stamps, taken by the
    exercise's sink): what the sender says of its own speed is not evidence."""
    span = float(sink["arrival_seconds"])
    assert span > 0, f"the sink saw no time pass between {sink['valid']} datagrams"
    return (int(sink["valid"]) - 1) / span


def where_lost(before: dict[str, Any], after: dict[str, Any], guest: Budget) -> str:
    """Where datagrams that reached b's port went missing (for failure messages)."""
    wire = delta(before, after, "b", "rx_frames")
    no_desc = delta(before, after, "b", "device.rx_drop_no_desc")
    socket_full = guest.run("b", "nstat -az UdpRcvbufErrors | awk 'NR > 1 {print $2}'")
    return (
        f"the wire delivered {wire} frames to b; b's device dropped {no_desc} for want of RX "
        f"descriptors; b's sockets dropped {socket_full.output.strip() or '?'} "
        "(receive buffer full, since boot)"
    )


@dataclass(frozen=True)
class Sent:
    """One send of the student's sender.py from a to the exercise's sink in b."""

    run: ProgramRun  # sender.py in a
    sink: dict[str, Any]  # the sink's report
    before: dict[str, Any]  # the port counters before the send
    after: dict[str, Any]  # and after the sink was collected


def send_to_sink(
    grading: GradingSession, guest: Budget, port: int, options: str, wrapper: str = ""
) -> Sent:
    """Start the exercise's sink in b on ``port``, run sender.py in a with this run's
    destination, count, size and nonce, then ``options`` (``wrapper`` comes before
    ``python3``: the system-call counter), and collect the sink; the port counters are
    read before the send and after the sink."""
    nonce = secrets.token_hex(8)
    guest.start(
        "b",
        f"python3 {TOOLS}/udp_tool.py sink --port {port} --count {COUNT} --nonce {nonce}",
        "sink",
    )
    guest.listening("b", port, "sink", "u")
    before = grading.lab.port_counters()
    sender = f"{wrapper} python3" if wrapper else "python3"
    run = guest.run(
        "a",
        f"cd {SUB} && {sender} sender.py --dest {PEER}:{port} --count {COUNT} --size {SIZE} "
        f"--nonce {nonce} {options}",
    )
    # A sender that failed sends nothing more: stop the sink rather than wait for it.
    sunk = guest.collect("b", "sink", stop=not run.ok)
    after = grading.lab.port_counters()
    assert run.ok, run.explain()
    return Sent(run, sunk.report("the exercise's sink"), before, after)


def device_costs(before: dict[str, Any], after: dict[str, Any], measure: Measure) -> None:
    """Doorbells and interrupts per packet, as the device counted them."""
    measure("doorbells/packet at a", delta(before, after, "a", "device.doorbells") / COUNT)
    measure("interrupts/packet at a", delta(before, after, "a", "device.interrupts") / COUNT)
    measure("interrupts/packet at b", delta(before, after, "b", "device.interrupts") / COUNT)


@pytest.mark.check(
    points=0,
    timeout=30,
    hint="not your code: the lab's NIC driver (vnic.ko) did not come up; see serial.log",
)
def test_nic_up(grading: GradingSession, lab: Any, guest: Budget) -> None:
    """The lab's NIC is up in a and b, and a ping crosses the wire"""
    for name in ("a", "b"):
        mac = lab[name].spec.mac
        found = guest.run(name, f"ip -o link | grep -qi '{mac}'")
        assert found.ok, f"guest {name} has no interface with MAC {mac} (is vnic.ko loaded?)"
        # The deepest rings the driver allows: a burst of 1000 datagrams must wait in
        # b's RX ring while b's vCPU (under TCG) catches up, not be dropped for want of
        # descriptors.  The steps measure the sockets path, not a shallow ring.
        guest.run(
            name,
            f"i=$(ip -o link | awk -F': ' 'tolower($0) ~ /{mac}/ {{print $2; exit}}'); "
            "set -- $(ethtool -g $i | awk '/^RX:|^TX:/ {print $2}' | head -2); "
            "ethtool -G $i rx $1 tx $2 2>/dev/null; true",
        )
    before = grading.lab.port_counters()
    ping = guest.run("a", f"ping -c 1 -W 5 {PEER}")
    assert ping.ok, f"198.18.0.1 cannot reach {PEER}: {ping.explain()}"
    assert delta(before, grading.lab.port_counters(), "b", "rx_frames") >= 1
    # A deep receive buffer: a slow receiver shows up as time, not as loss.
    guest.run("b", "sysctl -qw net.core.rmem_max=16777216")


@pytest.mark.check(points=1, timeout=5, hint="Run each file with python3: it names the line.")
def test_parses(grading: GradingSession) -> None:
    """Every file of the submission is valid Python"""
    grading.assert_python_parses(FILES)


@pytest.mark.check(
    points=3,
    timeout=60,
    step=1,
    depends=["nic_up", "parses"],
    hint="send_one_by_one(): one sock.send() per datagram on the connected socket",
)
def test_sendto(grading: GradingSession, guest: Budget, measure: Measure) -> None:
    """Step 1: 1000 datagrams, one sendto() each, all reach b intact"""
    sent = send_to_sink(grading, guest, 9001, "--mode sendto")
    sink, before, after = sent.sink, sent.before, sent.after
    wire = delta(before, after, "b", "rx_frames")
    assert sink["valid"] == COUNT and sink["duplicates"] == 0 and sink["foreign"] == 0, (
        f"b received {sink['valid']} of the {COUNT} datagrams intact "
        f"({sink['duplicates']} duplicates, {sink['foreign']} not of this run): "
        + where_lost(before, after, guest)
    )
    assert wire >= COUNT, f"only {wire} frames reached b's port on the wire"
    MEASURED["sendto"] = rate = arrival_rate(sink)
    measure("sendto rate", rate, "packets/s", leaderboard=True)
    device_costs(before, after, measure)


@pytest.mark.check(
    points=3,
    timeout=60,
    step=2,
    depends=["nic_up", "parses"],
    hint="send_batched(): one libc.sendmmsg(fd, slots.at(sent), n, 0) per batch of n",
)
def test_sendmmsg(grading: GradingSession, guest: Budget, measure: Measure) -> None:
    """Step 2: the same datagrams in sendmmsg() batches: fewer system calls"""
    sent = send_to_sink(
        grading, guest, 9002, "--mode sendmmsg --batch 32", wrapper=f"sh {TOOLS}/syscount.sh"
    )
    sink, before, after = sent.sink, sent.before, sent.after
    calls = sent.run.syscalls()
    assert sink["valid"] == COUNT, (
        f"b received {sink['valid']} of the {COUNT} datagrams intact: "
        + where_lost(before, after, guest)
    )
    per_packet = calls["sendto"] + calls["sendmsg"]
    assert per_packet == 0, f"{per_packet} sendto()/sendmsg() calls: that is not batching"
    assert 1 <= calls["sendmmsg"] <= COUNT // 8, (
        f"{calls['sendmmsg']} sendmmsg() calls for {COUNT} datagrams: batches of 32 need ~32"
    )
    rate = arrival_rate(sink)
    measure("sendmmsg rate", rate, "packets/s", leaderboard=True)
    measure("system calls/packet", calls["sendmmsg"] / COUNT)
    if "sendto" in MEASURED:
        measure("speed-up over sendto", rate / MEASURED["sendto"], "x")
    device_costs(before, after, measure)


@pytest.mark.check(
    points=2,
    timeout=60,
    step=3,
    depends=["nic_up", "parses"],
    hint="receive_batched(): wait with readable(), then one recvmmsg() takes what is queued",
)
def test_recvmmsg(grading: GradingSession, guest: Budget, measure: Measure) -> None:
    """Step 3: the receiver takes batches with recvmmsg()"""
    nonce = secrets.token_hex(8)
    guest.start(
        "b",
        f"cd {SUB} && sh {TOOLS}/syscount.sh python3 receiver.py --port 9003 --count {COUNT} "
        f"--nonce {nonce} --mode recvmmsg --batch 32 --idle 15",
        "receiver",
    )
    guest.listening("b", 9003, "receiver", "u")
    before = grading.lab.port_counters()
    blast = guest.run(
        "a",
        f"python3 {TOOLS}/udp_tool.py blast --dest {PEER}:9003 --count {COUNT} --nonce {nonce}",
    )
    received = guest.collect("b", "receiver")
    # The student's receiver first: when it dies, the blaster's errors only follow from it.
    assert received.ok, received.explain()
    assert blast.ok, f"the exercise's sender failed: {blast.explain()}"
    after = grading.lab.port_counters()
    report = received.report("receiver.py")
    calls = received.syscalls()
    assert report["valid"] == COUNT and report["seq_sum"] == COUNT * (COUNT - 1) // 2, (
        f"receiver.py took {report['valid']} of {COUNT} datagrams intact: "
        + where_lost(before, after, guest)
    )
    delivered = returned(received)
    assert delivered >= COUNT, (
        f"receiver.py says it took {report['valid']} datagrams, but its recvmmsg() calls "
        f"returned {delivered}"
    )
    assert calls["recvfrom"] + calls["recvmsg"] == 0, "one recvfrom() per datagram is step 1"
    assert 1 <= calls["recvmmsg"] <= COUNT, f"{calls['recvmmsg']} recvmmsg() calls"
    measure("datagrams per recvmmsg()", COUNT / calls["recvmmsg"])


@pytest.mark.check(
    points=2,
    timeout=60,
    step=4,
    depends=["nic_up", "parses"],
    hint="serve(): one selector for the listener and every connection; answer whole requests",
)
def test_request_response(grading: GradingSession, guest: Budget, measure: Measure) -> None:
    """Step 4: a TCP request/response server under 16 connections"""
    guest.start("b", f"cd {SUB} && python3 rr_server.py --port 9100", "server")
    guest.listening("b", 9100, "server")
    before = grading.lab.port_counters()
    load = guest.run(
        "a",
        f"python3 {TOOLS}/rr_client.py --server {PEER}:9100 --conns 16 --requests 50 --patience 3",
    )
    server = guest.collect("b", "server", stop=True)
    after = grading.lab.port_counters()
    # Stopped by us, the server ends by SIGTERM (143) or its timeout (124, 137); else it died.
    assert server.status in (124, 137, 143), f"rr_server.py died: {server.explain()}"
    assert load.ok, f"the load generator failed: {load.explain()}"
    report = load.report("the load generator")
    assert report["errors"] == 0 and report["transactions"] == 16 * 50, (
        f"{report['transactions']} of 800 transactions, {report['errors']} wrong or lost"
    )
    wire = delta(before, after, "b", "rx_frames")
    assert wire >= 800, f"only {wire} frames reached b: the requests did not cross the wire"
    measure("transactions/s", report["tps"], "1/s", leaderboard=True)
    measure("p50 latency", report["p50_us"], "us")
    measure("p99 latency", report["p99_us"], "us", order="asc")
