"""The sockets path: two guests running vnic.ko talk through the vNIC fabric.

One lab for the whole module (boots cost seconds under TCG): guests a and b and a host
endpoint h on a learning switch. Tests that break things (faults, link drops, resets,
reloads) put them back before they return, so the order of the tests does not matter.
All of it runs twice: guests started by the lab itself, and guests run by libvirt.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from lab.figures import PEER, queue_stat, snmp
from lab.provision import Platform
from lab.runs import RunDir
from lab.topology import wired
from lab.vm import Lab, Vm
from tests.vm.conftest import BACKENDS, on_backend
from tests.vm.helpers import assert_kernel_quiet, ok, wait, wait_addressed
from vnic.model.wire import HostEndpoint

IP = {"a": "198.18.0.1", "b": "198.18.0.2"}
IP6 = {"a": "fd72:6c::1", "b": "fd72:6c::2"}
MAC = {"a": "02:72:6c:00:00:01", "b": "02:72:6c:00:00:02"}


@pytest.fixture(scope="module", params=BACKENDS)
def pair(request: pytest.FixtureRequest, platform: Platform) -> Iterator[Lab]:
    """The lab, its guests run by each backend in turn: the sockets path must not care."""
    topology = wired(["a", "b"], RunDir.new("test-sockets"), modules=["vnic"], hosts=["h"])
    with Lab(topology, on_backend(platform, request.param)) as lab:
        lab.start()
        kinds = {type(vm.process).__name__ for vm in lab.vms.values()}
        assert kinds == {"Domain" if request.param == "libvirt" else "QemuProcess"}
        yield lab
        for name in ("a", "b"):
            assert_kernel_quiet(lab[name])


def _fabric(lab: Lab) -> Any:
    assert lab.fabric is not None
    return lab.fabric


def _device(lab: Lab, port: str) -> dict[str, int]:
    return dict(_fabric(lab).stats()["stats"]["ports"][port]["device"])


def _iface(vm: Vm, name: str) -> str:
    out = vm.run(f"grep -l {MAC[name]} /sys/class/net/*/address", check=True).output
    return out.strip().split("/")[-2]


def _background(vm: Vm, args: str, out: str) -> None:
    ok(vm, f"{PEER} {args} > {out} 2>&1 &")


def _result(vm: Vm, path: str, timeout: float = 60) -> dict[str, Any]:
    """The last JSON line a background peer.py wrote, once it is a result."""
    deadline = time.monotonic() + timeout
    while True:
        text = vm.run(f"cat {path}").output
        lines = [ln for ln in text.splitlines() if ln.startswith("{")]
        if lines and "listening" not in lines[-1]:
            return dict(json.loads(lines[-1]))
        assert time.monotonic() < deadline, f"{vm.spec.name}: no result in {path}:\n{text}"
        time.sleep(0.3)


def _listening(vm: Vm, path: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while "listening" not in (text := vm.run(f"cat {path}").output):
        assert time.monotonic() < deadline, f"{vm.spec.name}: peer did not start:\n{text}"
        time.sleep(0.2)


def _reload(vm: Vm, params: str) -> None:
    """Unload and load vnic.ko; the guest's init gives the new interface the topology's
    addresses again (its link watcher), as it did at boot."""
    name = vm.spec.name
    ok(vm, f"rmmod vnic; modprobe vnic {params}")
    wait(lambda: vm.run(f"grep -l {MAC[name]} /sys/class/net/*/address").ok, 5, "interface")
    wait_addressed(vm, _iface(vm, name))


def _current(text: str) -> dict[str, str]:
    """The "Current hardware settings" of ``ethtool -g`` or ``-l`` as a dict."""
    section = text.split("Current hardware settings:")[1]
    pairs = (line.split(":", 1) for line in section.splitlines() if ":" in line)
    return {k.strip(): v.strip() for k, v in pairs}


def _pings(vm: Vm, dst: str, timeout: float = 20) -> bool:
    """True once ``dst`` answers (a recovering link may take a few seconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if vm.run(f"ping -c1 -W1 {dst}", timeout=10).status == 0:
            return True
    return False


def _tcp_transfer(lab: Lab, nbytes: int, seed: int, port: int) -> None:
    a, b = lab["a"], lab["b"]
    _background(b, f"tcp-recv {port} 90", f"/tmp/tcp{port}.json")
    _listening(b, f"/tmp/tcp{port}.json")
    sent = json.loads(
        ok(a, f"{PEER} tcp-send {IP['b']} {port} {nbytes} {seed}", 150).splitlines()[-1]
    )
    got = _result(b, f"/tmp/tcp{port}.json")
    assert got["bytes"] == nbytes == sent["bytes"]
    assert got["sha256"] == sent["sha256"]


# ---------------------------------------------------------------------------------------------


def test_driver_binds_with_msix_and_the_lab_counters(pair: Lab) -> None:
    a = pair["a"]
    eth = _iface(a, "a")
    info = ok(a, f"ethtool -i {eth}")
    assert "driver: vnic" in info
    assert "PCI-MSIX" in ok(a, "cat /proc/interrupts") and f"{eth}-TxRx-0" in ok(
        a, "cat /proc/interrupts"
    )
    assert "rx_queue_0_packets" in ok(a, f"ethtool -S {eth}")
    assert ok(a, f"cat /sys/class/net/{eth}/carrier").strip() == "1"


@pytest.mark.parametrize(
    ("src", "dst", "six"),
    [("a", "b", False), ("b", "a", False), ("a", "b", True), ("b", "a", True)],
)
def test_ping_both_ways(pair: Lab, src: str, dst: str, six: bool) -> None:
    target = IP6[dst] if six else IP[dst]
    assert _pings(pair[src], target), f"{src} cannot ping {target}"
    out = ok(pair[src], f"ping -c3 -i0.2 -W2 {target}")
    assert " 0% packet loss" in out


@pytest.mark.parametrize(("dst_ip", "size"), [(IP["b"], 200), (IP6["b"], 1400)])
def test_udp_payloads_arrive_intact(pair: Lab, dst_ip: str, size: int) -> None:
    a, b = pair["a"], pair["b"]
    count = 300
    before = _device(pair, "b")["rx_frames"]
    _background(b, f"udp-recv 5000 {count} 8", "/tmp/udp.json")
    _listening(b, "/tmp/udp.json")
    ok(a, f"{PEER} udp-send {dst_ip} 5000 {count} {size}")
    got = _result(b, "/tmp/udp.json")
    assert got["bad"] == 0, got
    assert got["received"] == count, got
    # and they went through the vNIC (not some other path)
    assert _device(pair, "b")["rx_frames"] - before >= count


def test_tcp_transfer_is_exact(pair: Lab) -> None:
    _tcp_transfer(pair, 4 << 20, seed=1, port=5001)


def test_tcp_transfer_is_exact_over_a_lossy_reordering_link(pair: Lab) -> None:
    fabric = _fabric(pair)
    reply = fabric.request({"cmd": "faults", "link": "a", "drop": 0.02, "reorder": 0.05})
    assert reply["ok"], reply
    try:
        _tcp_transfer(pair, 2 << 20, seed=2, port=5002)
        link = fabric.stats()["stats"]["links"][reply["link"]]
        dropped = sum(d["dropped"] for d in link["directions"].values())
        assert dropped > 0, link  # the faults really happened
    finally:
        fabric.request({"cmd": "faults", "link": "a", "drop": 0.0, "reorder": 0.0})


def _offload(lab: Lab, setting: str) -> None:
    """``ethtool -K`` TX and RX checksum offload of both guests, "on" or "off"."""
    for name in ("a", "b"):
        vm = lab[name]
        ok(vm, f"ethtool -K {_iface(vm, name)} tx {setting} rx {setting}")


def _csum_errors(vm: Vm) -> int:
    """What the guest's stack dropped for a bad TCP, UDP or IPv4 header checksum."""
    table = snmp(vm)
    return sum(table[p].get("InCsumErrors", 0) for p in ("Tcp", "Udp")) + table["Ip"]["InHdrErrors"]


@pytest.mark.parametrize("setting", ["on", "off"])
def test_checksum_offload_on_and_off_delivers_exactly(pair: Lab, setting: str) -> None:
    a, b = pair["a"], pair["b"]
    _offload(pair, setting)
    try:
        host = _device(pair, "a")["tx_csum_offloaded"]
        checked = queue_stat(b, "csum_good")
        _tcp_transfer(pair, 1 << 20, seed=11, port=5011 if setting == "on" else 5012)
        _background(b, "udp-recv 5003 200 8", "/tmp/udpcsum.json")
        _listening(b, "/tmp/udpcsum.json")
        ok(a, f"{PEER} udp-send {IP6['b']} 5003 200 600")
        got = _result(b, "/tmp/udpcsum.json")
        assert got["received"] == 200 and got["bad"] == 0, got
        # the host saw who computed the checksums: the device only with offload on
        offloaded = _device(pair, "a")["tx_csum_offloaded"] - host
        good = queue_stat(b, "csum_good") - checked
        if setting == "on":
            assert offloaded > 0 and good > 0, (offloaded, good)
        else:
            assert offloaded == 0 and good == 0, (offloaded, good)
    finally:
        _offload(pair, "on")


def test_corrupted_frames_are_reported_bad_and_dropped(pair: Lab) -> None:
    b = pair["b"]
    fabric = _fabric(pair)
    reported, dropped = queue_stat(b, "csum_errors"), _csum_errors(b)
    reply = fabric.request({"cmd": "faults", "link": "a", "corrupt": 0.03})
    assert reply["ok"], reply
    try:
        _tcp_transfer(pair, 1 << 20, seed=12, port=5013)  # still exact: TCP resends
    finally:
        fabric.request({"cmd": "faults", "link": "a", "corrupt": 0.0})
    link = fabric.stats()["stats"]["links"][reply["link"]]
    assert sum(d["corrupted"] for d in link["directions"].values()) > 0, link
    # the device said "bad checksum" and the stack, checking again, dropped them
    assert queue_stat(b, "csum_errors") > reported
    assert _csum_errors(b) > dropped


def test_crafted_frames_are_counted_and_dropped(pair: Lab) -> None:
    scapy = pytest.importorskip("scapy.all")
    a = pair["a"]
    eth = _iface(a, "a")
    stats = f"/sys/class/net/{eth}/statistics"
    dropped = int(ok(a, f"cat {stats}/rx_dropped"))
    before = _device(pair, "a")
    ether = scapy.Ether(src="02:00:00:00:00:99", dst=MAC["a"])
    with HostEndpoint(str(_fabric(pair).host_socket("h"))) as ep:
        ep.send(bytes(ether / scapy.IP(dst=IP["a"]) / scapy.UDP() / (b"x" * 2000)))  # giant
        ep.send(bytes(ether)[:13])  # runt: shorter than an Ethernet header
        ep.send(
            bytes(scapy.Ether(src="02:00:00:00:00:99", dst=MAC["a"], type=0x88B5)) + b"\x00" * 46
        )  # an ethertype nobody handles
        ep.send(bytes(ether / b"\x45\x00"))  # IPv4 ethertype, truncated header
    time.sleep(1)
    after = _device(pair, "a")
    assert after["rx_drop_giant"] - before["rx_drop_giant"] == 1
    hosts = _fabric(pair).stats()["stats"]["ports"]["h"]
    assert hosts["tx_dropped"] >= 1  # the runt never made it onto the wire
    # the stack drops the unknown ethertype and counts it on the interface
    wait(lambda: int(ok(a, f"cat {stats}/rx_dropped")) > dropped, 5, "rx_dropped")
    assert "hw_roc: 0" not in ok(a, f"ethtool -S {eth}")  # the driver saw the giant count
    assert _pings(a, IP["b"])


def test_link_drop_and_device_reset_recover(pair: Lab) -> None:
    a = pair["a"]
    eth = _iface(a, "a")
    fabric = _fabric(pair)
    carrier = f"cat /sys/class/net/{eth}/carrier"
    assert fabric.request({"cmd": "link", "link": "a", "up": False})["ok"]
    try:
        wait(lambda: ok(a, carrier).strip() == "0", 10, "carrier off")
    finally:
        assert fabric.request({"cmd": "link", "link": "a", "up": True})["ok"]
    wait(lambda: ok(a, carrier).strip() == "1", 10, "carrier on")
    assert _pings(a, IP["b"])

    resets = ok(a, f"ethtool -S {eth} | grep -w resets")
    assert fabric.request({"cmd": "reset", "port": "a"})["ok"]
    assert _pings(a, IP["b"], timeout=30), "no traffic after a device reset"
    assert ok(a, f"ethtool -S {eth} | grep -w resets") != resets
    assert "device was reset" in a.run("dmesg | tail -50").output


def test_reconfigure_and_reload_under_traffic(pair: Lab) -> None:
    a, b = pair["a"], pair["b"]
    eth = _iface(a, "a")
    ok(b, "iperf3 -s -D -p 5201")
    ok(a, f"iperf3 -c {IP['b']} -t 60 -p 5201 > /tmp/iperf.log 2>&1 &")
    ok(b, f"ping -f -w 60 {IP['a']} > /tmp/flood.log 2>&1 &")
    time.sleep(1)
    try:
        ok(a, f"ip link set {eth} down; sleep 1")  # the init's link watcher leaves it down
        assert ",UP" not in ok(a, f"ip -o link show dev {eth}")
        ok(a, f"ip link set {eth} up")
        ok(a, f"ethtool -G {eth} rx 256 tx 128")
        rings = _current(ok(a, f"ethtool -g {eth}"))
        assert (rings["RX"], rings["TX"]) == ("256", "128"), rings
        ok(a, f"ethtool -L {eth} combined 1")
        ok(a, f"ethtool -L {eth} combined 4")
        assert _current(ok(a, f"ethtool -l {eth}"))["Combined"] == "4"
        ok(a, f"ethtool -C {eth} rx-usecs 50")
        assert "rx-usecs:\t50" in ok(a, f"ethtool -c {eth}")
        for _ in range(2):
            _reload(a, "")
        eth = _iface(a, "a")
        assert _pings(a, IP["b"]) and _pings(b, IP["a"])
        assert _pings(a, IP6["b"])
    finally:
        a.run("pkill iperf3")
        b.run("pkill iperf3; pkill ping")
    _tcp_transfer(pair, 1 << 20, seed=3, port=5003)


@pytest.mark.parametrize(("mode", "name"), [(1, "PCI-MSI"), (2, "IO-APIC")])
def test_fallback_interrupt_modes_carry_traffic(pair: Lab, mode: int, name: str) -> None:
    a = pair["a"]
    try:
        _reload(a, f"irq_mode={mode}")
        eth = _iface(a, "a")
        assert name in ok(a, f"grep {eth} /proc/interrupts")
        assert _current(ok(a, f"ethtool -l {eth}"))["Combined"] == "1"
        assert _pings(a, IP["b"]) and _pings(a, IP6["b"])
        _tcp_transfer(pair, 1 << 20, seed=4 + mode, port=5010 + mode)
    finally:
        _reload(a, "")


def _ethtool_stats(vm: Vm, eth: str) -> dict[str, int]:
    pairs = (ln.split(":") for ln in ok(vm, f"ethtool -S {eth}").splitlines()[1:])
    return {k.strip(): int(v) for k, v in pairs}


def test_ethtool_and_ip_show_the_driver_and_device_counters(pair: Lab) -> None:
    a = pair["a"]
    eth = _iface(a, "a")
    assert _pings(a, IP["b"])
    guest = _ethtool_stats(a, eth)
    host = _device(pair, "a")
    # the lab counters the driver reads from BAR0 are the host's own, a moment earlier
    for name in ("doorbells", "interrupts", "tx_frames", "rx_frames"):
        assert 0 < guest[f"lab_{name}"] <= host[name], name
    assert guest["hw_gptc"] > 0 and guest["hw_gprc"] > 0
    queues = sum(
        v for k, v in guest.items() if k.startswith("tx_queue_") and k.endswith("_packets")
    )
    assert queues > 0
    link = json.loads(ok(a, f"ip -j -s link show {eth}"))[0]["stats64"]
    assert link["tx"]["packets"] > 0 and link["rx"]["packets"] > 0


def test_rings_are_given_back(pair: Lab) -> None:
    """Big rings allocated and freed over and over: the guest's memory comes back.

    Freed pages may wait in per-CPU lists, which MemAvailable does not count, so one ring
    set's worth may look missing; a leak would grow by that much with every cycle.
    """
    a = pair["a"]
    eth = _iface(a, "a")
    avail = "sleep 2; awk '/MemAvailable/ {print $2}' /proc/meminfo"
    big = f"ethtool -G {eth} rx 4096 tx 4096"
    small = f"ethtool -G {eth} rx 512 tx 512"
    ok(a, f"{big} && {small}")
    before = int(ok(a, avail))
    cycles = 6
    for _ in range(cycles):
        ok(a, big)
        assert _current(ok(a, f"ethtool -g {eth}"))["RX"] == "4096"
        ok(a, small)
    after = int(ok(a, avail))
    ring_set_kib = 4096 * 4 * 2  # RX pages of two queue pairs
    assert before - after < ring_set_kib, f"MemAvailable fell by {before - after} KiB"
    assert _pings(a, IP["b"])
