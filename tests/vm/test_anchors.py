"""The anchors: the same two guests on QEMU's own NICs (igb, e1000e, virtio-net), cabled
back to back by QEMU, each with its stock Linux driver — the reference the vNIC's figures
are measured against (bench/anchors.py). Each NIC gets one lab, and verified traffic:
ping both ways over IPv4 and IPv6, numbered UDP payloads checked byte for byte, a TCP
transfer compared by SHA-256, and the C sender of the benchmark."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from lab.figures import PEER, anchor_run, interface
from lab.provision import Platform
from lab.runs import RunDir
from lab.topology import ANCHOR_NICS, wired
from lab.vm import Lab
from tests.vm.helpers import assert_kernel_quiet, last_json, ok, wait


@pytest.fixture(scope="module", params=list(ANCHOR_NICS))
def anchor(request: pytest.FixtureRequest, platform: Platform) -> Iterator[Lab]:
    nic = request.param
    topology = wired(["a", "b"], RunDir.new(f"test-anchor-{nic}"), modules=["vnic"], nic=nic)
    with Lab(topology, platform) as lab:
        lab.start()
        lab.check()  # the stock driver loaded and made the interface, with its addresses
        yield lab
        for name in ("a", "b"):
            assert_kernel_quiet(lab[name])


def _ip(lab: Lab, name: str, six: bool = False) -> str:
    spec = lab[name].spec
    return ((spec.ip6 if six else spec.ip) or "").split("/")[0]


def test_the_stock_driver_drives_qemus_nic(anchor: Lab) -> None:
    nic = anchor["a"].spec.nics[0].model
    for name in ("a", "b"):
        eth = interface(anchor[name])
        driver = ok(anchor[name], f"basename $(readlink /sys/class/net/{eth}/device/driver)")
        # virtio-net's netdev hangs off the virtio device, whose driver is virtio_net
        assert driver.strip() == ANCHOR_NICS[nic], driver


@pytest.mark.parametrize("six", [False, True])
def test_ping_both_ways(anchor: Lab, six: bool) -> None:
    for src, dst in (("a", "b"), ("b", "a")):
        target = _ip(anchor, dst, six)
        vm = anchor[src]
        wait(lambda vm=vm, t=target: vm.run(f"ping -c1 -W1 {t}").ok, 20, f"{src} → {target}")
        assert " 0% packet loss" in ok(vm, f"ping -c3 -i0.2 -W2 {target}")


def test_udp_payloads_arrive_intact(anchor: Lab) -> None:
    a, b = anchor["a"], anchor["b"]
    count = 300
    ok(b, f"{PEER} udp-recv 5000 {count} 10 > /tmp/udp.json 2>&1 &")
    wait(lambda: "listening" in b.run("cat /tmp/udp.json").output, 30, "udp-recv in b")
    ok(a, f"{PEER} udp-send {_ip(anchor, 'b')} 5000 {count} 200")
    deadline = time.monotonic() + 30
    while "listening" in (got := b.run("cat /tmp/udp.json").output.splitlines()[-1]):
        assert time.monotonic() < deadline, "udp-recv gave no result"
        time.sleep(0.3)
    result = json.loads(got)
    assert result["received"] == count and result["bad"] == 0, result


def test_tcp_transfer_is_exact(anchor: Lab) -> None:
    a, b = anchor["a"], anchor["b"]
    ok(b, f"{PEER} tcp-recv 5001 90 > /tmp/tcp.json 2>&1 &")
    wait(lambda: "listening" in b.run("cat /tmp/tcp.json").output, 30, "tcp-recv in b")
    sent = last_json(ok(a, f"{PEER} tcp-send {_ip(anchor, 'b')} 5001 {2 << 20} 7", 150))
    deadline = time.monotonic() + 60
    while "sha256" not in (text := b.run("cat /tmp/tcp.json").output):
        assert time.monotonic() < deadline, f"tcp-recv gave no result: {text}"
        time.sleep(0.3)
    got = last_json(text)
    assert got["bytes"] == sent["bytes"] == 2 << 20 and got["sha256"] == sent["sha256"]


def test_the_benchmarks_c_sender_is_counted_at_b(anchor: Lab) -> None:
    nic = anchor["a"].spec.nics[0].model
    run = anchor_run(anchor, nic, "c", seconds=2.0)
    # b's window is part of the run, so it cannot count more than a sent in all; its rate
    # may well beat the sender's average, which includes the sender's start
    assert run.pps > 0 and 0 < run.received <= run.sent, run
    assert set(run.cpu_us) == {"qemu a", "qemu b"}  # no fabric on an anchor
