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

import json
from collections.abc import Iterator
from typing import Any

import pytest

from lab.figures import interface, queue_stat, snmp, stack_counters
from lab.provision import Platform
from lab.runs import RunDir
from lab.topology import wired
from lab.vm import Lab, Vm
from tests.vm.helpers import assert_kernel_quiet, ok, wait

IP = {"a": "198.18.0.1", "b": "198.18.0.2"}
GUEST = "/mnt/project/tests/vm/guest"
RR_CLIENT = "python3 /mnt/project/exercises/01-sockets/checks/tools/rr_client.py"


@pytest.fixture(scope="module")
def pair(platform: Platform) -> Iterator[Lab]:
    topology = wired(["a", "b"], RunDir.new("test-stackmap"), modules=["vnic"])
    with Lab(topology, platform) as lab:
        lab.start()
        yield lab
        b = lab["b"]
        ok(b, "pkill -f stackmap_server; pkill -f stack_echo; true")
        wait(lambda: stack_counters(b).get("held", 0) == 0, 60, "every held buffer back")
        for name in ("a", "b"):
            assert_kernel_quiet(lab[name])


def _json(text: str) -> dict[str, Any]:
    lines = [ln for ln in text.splitlines() if ln.startswith("{")]
    assert lines, f"no JSON result in:\n{text}"
    return dict(json.loads(lines[-1]))


def _start_c_server(b: Vm, port: int) -> None:
    ok(b, f"stackmap_server -i {interface(b)} -p {port} > /tmp/sms{port}.log 2>&1 &")
    wait(lambda: "listening" in b.run(f"cat /tmp/sms{port}.log").output, 20, "server")


def _stop_c_server(b: Vm, port: int) -> dict[str, Any]:
    ok(b, f"pkill -f 'stackmap_server -i .* -p {port}'")
    wait(lambda: "{" in b.run(f"cat /tmp/sms{port}.log").output, 20, "server summary")
    return _json(ok(b, f"cat /tmp/sms{port}.log"))


def _rr(a: Vm, port: int, conns: int, requests: int) -> dict[str, Any]:
    cmd = f"{RR_CLIENT} --server {IP['b']}:{port} --conns {conns} --requests {requests}"
    return _json(ok(a, cmd, timeout=240))


# ---------------------------------------------------------------------------------------------


def test_c_server_answers_every_request_with_zero_copy_tx(pair: Lab) -> None:
    a, b = pair["a"], pair["b"]
    _start_c_server(b, 9100)
    before, frags = stack_counters(b), queue_stat(b, "netmap_frags")
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
    assert queue_stat(b, "netmap_frags") - frags >= sent
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
