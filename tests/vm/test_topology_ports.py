"""Guests with several vNIC ports: a chain a — f — b, where f is a middlebox.

f has two NICs (two vfio-user vNICs, two PCI functions), one linked to a and one to b,
and no addresses; a and b share one subnet.  So a reaches b exactly when f forwards
frames between its NICs: first it does not, then a forwarder in f does.  This is the lab
of a netmap forwarder, checked here with the simplest forwarder that needs nothing new
in the guest (packet sockets, :file:`tests/vm/guest/l2_forward.py`).

One lab for the whole module; the tests run in the order written (the last one starts
the forwarder and stops it again).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from lab.provision import Platform
from lab.runs import RunDir
from lab.topology import chain
from lab.vm import Lab, Vm
from tests.vm.helpers import assert_kernel_quiet, ok, wait

FORWARD = "python3 /mnt/project/tests/vm/guest/l2_forward.py"


@pytest.fixture(scope="module")
def afb(platform: Platform) -> Iterator[Lab]:
    topology = chain(["a", "f", "b"], RunDir.new("test-ports"), modules=["vnic"])
    with Lab(topology, platform) as lab:
        lab.start()
        yield lab
        for name in ("a", "f", "b"):
            assert_kernel_quiet(lab[name])


def _stats(lab: Lab) -> dict[str, Any]:
    assert lab.fabric is not None
    return dict(lab.fabric.stats()["stats"])


def _device(lab: Lab, port: str) -> dict[str, int]:
    return dict(_stats(lab)["ports"][port]["device"])


def _lab_interfaces(vm: Vm) -> dict[str, str]:
    """MAC -> interface name of the guest's lab NICs (02:72:6c:...)."""
    out = ok(vm, "grep -H . /sys/class/net/*/address")
    found = {}
    for line in out.splitlines():
        path, mac = line.strip().split(":", 1)
        if mac.startswith("02:72:6c:"):
            found[mac] = path.split("/")[-2]
    return found


def _iface(vm: Vm, port: str) -> str:
    """The interface of the guest's NIC on vNIC port ``port``."""
    mac = next(nic.mac for nic in vm.spec.nics if nic.port == port)
    return _lab_interfaces(vm)[mac]


def _ipv4(vm: Vm) -> str:
    assert vm.spec.address is not None
    return vm.spec.address


# ---------------------------------------------------------------------------------------------


def test_the_middlebox_has_one_interface_per_nic(afb: Lab) -> None:
    for name, count in (("a", 1), ("f", 2), ("b", 1)):
        vm = afb[name]
        found = _lab_interfaces(vm)
        assert sorted(found) == sorted(nic.mac for nic in vm.spec.nics), found
        assert len(found) == count
        for iface in found.values():
            assert "driver: vnic" in ok(vm, f"ethtool -i {iface}")
            assert ok(vm, f"cat /sys/class/net/{iface}/carrier").strip() == "1"
    # the init brought f's NICs up, but gave them no IPv4 address: f is a forwarder
    f = afb["f"]
    for port in ("f.a", "f.b"):
        assert "inet " not in ok(f, f"ip -4 addr show dev {_iface(f, port)}")
    assert f"inet {afb['a'].spec.ip}" in ok(afb["a"], f"ip addr show dev {_iface(afb['a'], 'a')}")


def test_the_fabric_serves_every_port(afb: Lab) -> None:
    stats = _stats(afb)
    assert {"a", "f.a", "f.b", "b"} <= set(stats["ports"])
    assert {"a-f", "f-b"} <= set(stats["links"])
    for port in ("a", "f.a", "f.b", "b"):
        assert stats["ports"][port]["kind"] == "device"
        assert "error" not in stats["ports"][port]["device"], stats["ports"][port]


def test_a_does_not_reach_b_while_f_does_not_forward(afb: Lab) -> None:
    a, b = afb["a"], afb["b"]
    before = _stats(afb)["ports"]
    before_fa = _device(afb, "f.a")
    assert a.run(f"ping -c3 -i0.5 -W1 {_ipv4(b)}", timeout=30).status != 0
    # Every frame a sent (its ARP requests for b) crossed the link a-f: the fabric moved
    # it, and f's NIC took the broadcasts into its RX ring.  Nothing sent them on to b.
    sent = _device(afb, "a")["tx_frames"] - before["a"]["device"]["tx_frames"]
    assert sent >= 1

    def arrived_at_f() -> bool:
        now = _stats(afb)["ports"]
        return now["f.a"]["rx_frames"] - before["f.a"]["rx_frames"] >= sent

    wait(arrived_at_f, 10, "a's frames at f.a")
    assert _device(afb, "f.a")["rx_frames"] - before_fa["rx_frames"] >= 1
    # b heard no ARP request from a: it would have learnt a's address from it
    assert _ipv4(a) not in ok(b, "ip -4 neigh show")


def test_a_reaches_b_through_a_forwarding_f(afb: Lab) -> None:
    a, f, b = afb["a"], afb["f"], afb["b"]
    left, right = _iface(f, "f.a"), _iface(f, "f.b")
    ok(f, f"ethtool -K {left} gro off; ethtool -K {right} gro off")
    ok(f, f"{FORWARD} {left} {right} > /tmp/fwd.log 2>&1 & echo $! > /tmp/fwd.pid")
    try:
        wait(lambda: "forwarding" in f.run("cat /tmp/fwd.log").output, 30, "the forwarder")
        # promiscuous by the forwarder's packet sockets ("ip link" shows PROMISC only when
        # a user set it; the count of those who asked is in the details)
        assert "promiscuity 1" in ok(f, f"ip -d link show dev {left}")
        deadline = time.monotonic() + 30
        while a.run(f"ping -c1 -W1 {_ipv4(b)}", timeout=10).status != 0:
            log = f.run("cat /tmp/fwd.log").output
            assert time.monotonic() < deadline, f"a cannot ping b through f:\n{log}"
        before_fa, before_fb = _device(afb, "f.a"), _device(afb, "f.b")
        before_b = _device(afb, "b")
        out = ok(a, f"ping -c5 -i0.3 -W2 {_ipv4(b)}")
        assert " 0% packet loss" in out, out
        # the echo requests went out of f's other NIC and into b's
        after_fa, after_fb = _device(afb, "f.a"), _device(afb, "f.b")
        assert after_fb["tx_frames"] - before_fb["tx_frames"] >= 5
        assert _device(afb, "b")["rx_frames"] - before_b["rx_frames"] >= 5
        # ... each a copy: a packet socket sends from a buffer of its own, never the one
        # f's RX DMA wrote the frame into (the netmap forwarder's test below counts them)
        assert after_fb["tx_zero_copy"] == before_fb["tx_zero_copy"]
        assert after_fa["tx_zero_copy"] == before_fa["tx_zero_copy"]
    finally:
        f.run("kill $(cat /tmp/fwd.pid)")


def test_a_netmap_forwarder_swaps_buffers_between_two_ports(afb: Lab) -> None:
    """f forwards a's frames to b by buffer swap (NS_BUF_CHANGED), no copy, none lost."""
    a, f, b = afb["a"], afb["f"], afb["b"]
    count = 2000
    fa, fb = _iface(f, "f.a"), _iface(f, "f.b")
    checks = "python3 /mnt/project/tests/vm/guest/netmap_checks.py"
    ok(f, f"{checks} forward {fa} {fb} 40 > /tmp/fwd.json 2>&1 &")
    wait(lambda: "forwarding" in f.run("cat /tmp/fwd.json").output, 30, "the forwarder")
    ok(b, f"nmgen rx -i netmap:{_iface(b, 'b')} -n {count} -d 30 > /tmp/rx.json 2>&1 &")
    wait(lambda: "active=1" in b.run("cat /proc/net/netmap").output, 30, "b's receiver")
    before = _device(afb, "f.b")
    ok(a, f"nmgen tx -i netmap:{_iface(a, 'a')} -n {count} -r 4000", 120)
    wait(lambda: "{" in b.run("cat /tmp/rx.json").output, 60, "b's result")
    got = json.loads(b.run("cat /tmp/rx.json").output.strip().splitlines()[-1])
    assert got["packets"] == count and got["lost"] == 0, got
    after = _device(afb, "f.b")
    assert after["tx_frames"] - before["tx_frames"] >= count
    # f.b sent every frame from the buffer f.a's RX DMA wrote it into, unchanged
    assert after["tx_zero_copy"] - before["tx_zero_copy"] >= count, (before, after)
    ok(f, "pkill -f netmap_checks.py || true")
