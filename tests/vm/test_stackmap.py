"""StackMap: the kernel's TCP with netmap rings for the data, in two real guests.

Guest b serves on a stack port ("stack:eth0"); guest a is an ordinary TCP peer with
plain sockets, which checks every byte it gets back — StackMap must interoperate with
any TCP. That the data went without a copy is read from counters, not believed: the
stack port's (slots handed to TCP zero-copy, buffers TCP holds), the driver's (frags
of sent frames that point into netmap buffers) and the host's (the fabric's view of
the wire). The module's teardown checks that every held buffer came back and that
both kernel logs are clean.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from lab.figures import interface, queue_stat, snmp, stack_counters
from lab.provision import Platform
from lab.runs import RunDir
from lab.topology import wired
from lab.vm import Lab, Vm
from tests.vm.helpers import assert_kernel_quiet, last_json, ok, wait
from vnic.netmap.port import parse_counters

IP = {"a": "198.18.0.1", "b": "198.18.0.2"}
GUEST = "/mnt/project/tests/vm/guest"
ECHO = f"python3 {GUEST}/stack_echo.py"
PEER = f"python3 {GUEST}/stack_peer.py"
MiB = 1 << 20


@pytest.fixture(scope="module")
def pair(platform: Platform) -> Iterator[Lab]:
    topology = wired(["a", "b"], RunDir.new("test-stackmap"), modules=["vnic"])
    with Lab(topology, platform) as lab:
        lab.start()
        yield lab
        b = lab["b"]
        ok(b, "pkill -f stackmap_server; pkill -f stack_echo; true")
        wait(lambda: stack_counters(b).get("held", 0) == 0, 60, "every held buffer back")
        counters = parse_counters(ok(b, "cat /proc/net/netmap"))
        region, pool = counters["region"], stack_counters(b)["rx_pool"]
        # none lost: the RX pool's pages (two buffers each) stay with the stack port
        assert region["free_buffers"] == region["buffers"] - 2 - 2 * pool, counters
        for name in ("a", "b"):
            assert_kernel_quiet(lab[name])


def _start_c_server(b: Vm, port: int) -> None:
    ok(b, f"stackmap_server -i {interface(b)} -p {port} > /tmp/sms{port}.log 2>&1 &")
    wait(lambda: "listening" in b.run(f"cat /tmp/sms{port}.log").output, 20, "server")


def _stop_c_server(b: Vm, port: int) -> dict[str, Any]:
    ok(b, f"pkill -f 'stackmap_server -i .* -p {port}'")
    wait(lambda: "{" in b.run(f"cat /tmp/sms{port}.log").output, 20, "server summary")
    return last_json(ok(b, f"cat /tmp/sms{port}.log"))


def _rr(a: Vm, port: int, conns: int, requests: int) -> dict[str, Any]:
    """Exercise 01's load in C (rr_load): it checks every answer."""
    return last_json(ok(a, f"rr_load -s {IP['b']}:{port} -c {conns} -n {requests}", timeout=240))


# ---------------------------------------------------------------------------------------------


def test_c_server_answers_every_request_with_zero_copy_tx(pair: Lab) -> None:
    a, b = pair["a"], pair["b"]
    _start_c_server(b, 9100)
    before, frags = stack_counters(b), queue_stat(b, "netmap_frags", "tx")
    received = queue_stat(b, "netmap_frags", "rx")
    result = _rr(a, 9100, conns=16, requests=50)
    summary = _stop_c_server(b, 9100)
    after = stack_counters(b)

    # the plain-socket client checked every answer
    assert result["transactions"] == 16 * 50 and result["errors"] == 0, result
    assert summary["accepted"] == 16 and summary["requests"] == 16 * 50, summary
    sent = after["tx_slots"] - before.get("tx_slots", 0)
    assert sent >= 16 * 50 // (2048 // 32)  # answers of one RX slot share a TX slot
    # every TX slot went to TCP without a copy, and out of the NIC from its buffer
    assert after["tx_zerocopy"] - before.get("tx_zerocopy", 0) == sent
    assert after["tx_copied"] == before.get("tx_copied", 0)
    assert queue_stat(b, "netmap_frags", "tx") - frags >= sent
    # the requests reached their slots in the buffers the NIC wrote them to (RX "v2"): the
    # driver split them (a frag in a pool page) and netmap.ko lent those buffers. A few
    # TCP copies itself: a segment that arrives while rxsync holds the socket waits in the
    # backlog, which moves a small payload into the skb's head (skb_condense)
    lent = after["rx_zerocopy"] - before.get("rx_zerocopy", 0)
    slots = after["rx_slots"] - before.get("rx_slots", 0)
    assert slots > 0 and lent >= 0.9 * slots, (before, after)
    assert queue_stat(b, "netmap_frags", "rx") - received >= lent
    assert after["rx_eof"] - before.get("rx_eof", 0) == 16  # every client's FIN, once
    wait(lambda: stack_counters(b)["held"] == 0, 30, "TCP lets go of every buffer")


def test_c_server_over_a_lossy_reordering_link(pair: Lab) -> None:
    a, b = pair["a"], pair["b"]
    fabric = pair.fabric
    assert fabric is not None
    _start_c_server(b, 9101)
    resent = snmp(b)["Tcp"]["RetransSegs"]
    reply = fabric.request({"cmd": "faults", "link": "b", "drop": 0.03, "reorder": 0.05})
    assert reply["ok"], reply
    try:
        result = _rr(a, 9101, conns=16, requests=50)
    finally:
        fabric.request({"cmd": "faults", "link": "b", "drop": 0.0, "reorder": 0.0})
    _stop_c_server(b, 9101)
    assert result["transactions"] == 16 * 50 and result["errors"] == 0, result
    # b's TCP retransmitted from the buffers it holds (zero-copy frags)
    assert snmp(b)["Tcp"]["RetransSegs"] > resent
    wait(lambda: stack_counters(b)["held"] == 0, 60, "TCP lets go of every buffer")


def _start_echo(b: Vm, port: int, options: str = "") -> None:
    ok(b, f"{ECHO} --port {port} {options} > /tmp/echo{port}.log 2>&1 &")
    wait(lambda: "listening" in b.run(f"cat /tmp/echo{port}.log").output, 30, "echo server")


def _stop_echo(b: Vm, port: int) -> dict[str, Any]:
    ok(b, f"pkill -TERM -f 'stack_echo.py --port {port}'")
    wait(lambda: "{" in b.run(f"cat /tmp/echo{port}.log").output, 30, "echo server summary")
    return last_json(ok(b, f"cat /tmp/echo{port}.log"))


def _module_refs(vm: Vm) -> int:
    return int(ok(vm, "cat /sys/module/netmap/refcnt"))


def test_python_echo_both_ways_over_many_connections(pair: Lab) -> None:
    a, b = pair["a"], pair["b"]
    _start_echo(b, 9200)
    result = last_json(ok(a, f"{PEER} echo {IP['b']} 9200 8 {MiB // 4}", 300))
    summary = _stop_echo(b, 9200)
    counters = summary["counters"]
    assert result["good"] == 8, result  # every byte back, in order, on every connection
    assert counters["rx_bytes"] >= 8 * MiB // 4
    assert counters["tx_zerocopy"] == counters["tx_slots"] > 0, counters
    assert counters["tx_copied"] == 0 and counters["tx_dropped"] == 0, counters
    # the client's data arrived in the NIC's buffers, lent to the slots (RX "v2")
    assert counters["rx_zerocopy"] > counters["rx_slots"] // 2, counters


def test_a_server_that_forwards_the_nics_buffers_keeps_them(pair: Lab) -> None:
    a, b = pair["a"], pair["b"]
    _start_echo(b, 9205, "--forward")
    before = stack_counters(b)  # the port is open: its pool exists
    result = last_json(ok(a, f"{PEER} echo {IP['b']} 9205 4 {MiB}", 300))
    summary = _stop_echo(b, 9205)
    counters = summary["counters"]
    assert result["good"] == 4, result  # every byte back, from the buffers it arrived in
    assert summary["forwarded"] > 0 and counters["tx_zerocopy"] == counters["tx_slots"]
    # the pool's pages went out with the data: the program kept them, and the pool took
    # fresh pages of the region in their place (the fixture checks that none is lost)
    kept = counters["rx_pool_kept"] - before["rx_pool_kept"]
    assert 0 < kept <= counters["rx_zerocopy"] - before["rx_zerocopy"], (before, counters)
    assert counters["rx_pool"] > before["rx_pool"] - kept, (before, counters)


def test_a_full_send_buffer_stalls_the_ring_and_loses_nothing(pair: Lab) -> None:
    a, b = pair["a"], pair["b"]
    _start_echo(b, 9201)
    # the client sends 1 MiB on each connection and reads nothing for 4 s
    result = last_json(ok(a, f"{PEER} echo {IP['b']} 9201 4 {MiB} --pause 4", 300))
    counters = _stop_echo(b, 9201)["counters"]
    assert result["good"] == 4, result
    assert counters["tx_eagain"] > 0, counters  # the sync stopped at a full socket


def test_server_closes_with_its_data_still_in_tcp(pair: Lab) -> None:
    a, b = pair["a"], pair["b"]
    _start_echo(b, 9202, f"--give {MiB}")
    result = last_json(ok(a, f"{PEER} take {IP['b']} 9202 {MiB} --wait 2", 300))
    _stop_echo(b, 9202)
    assert result["good"] and result["bytes"] == MiB, result


def test_a_client_reset_ends_its_stream(pair: Lab) -> None:
    a, b = pair["a"], pair["b"]
    _start_echo(b, 9203)
    before = stack_counters(b)["rx_eof"]
    ok(a, f"{PEER} rst {IP['b']} 9203")
    wait(lambda: stack_counters(b)["rx_eof"] > before, 20, "the reset as end of stream")
    summary = _stop_echo(b, 9203)
    assert summary["eof"] == 1 and summary["accepted"] == 1, summary


def test_killed_server_leaves_buffers_to_tcp_until_it_lets_go(pair: Lab) -> None:
    a, b = pair["a"], pair["b"]
    refs = _module_refs(b)
    _start_echo(b, 9204, f"--give {4 * MiB}")
    # the client asks, then reads nothing for 8 s: the server's data waits in its TCP
    ok(a, f"{PEER} take {IP['b']} 9204 {4 * MiB} --wait 8 > /tmp/take.json 2>&1 &")
    wait(lambda: stack_counters(b).get("held", 0) > 0, 30, "buffers held by TCP")
    ok(b, "pkill -KILL -f 'stack_echo.py --port 9204'")
    wait(lambda: "stack_echo" not in b.run("ps ax").output, 10, "the server gone")
    assert stack_counters(b)["held"] > 0  # TCP still has them, the program does not
    assert _module_refs(b) > refs  # each held buffer pins netmap.ko
    wait(lambda: '"good"' in a.run("cat /tmp/take.json").output, 120, "the client's result")
    result = last_json(ok(a, "cat /tmp/take.json"))
    # what TCP had when the program died arrived, right, then the end of the stream (the
    # rest was still queued in the dead program)
    assert result["prefix"] and 0 < result["bytes"] < 4 * MiB, result
    wait(lambda: stack_counters(b)["held"] == 0, 60, "TCP lets go of every buffer")
    assert _module_refs(b) == refs
