"""Topology builders without a VM: a chain a — f — b as data, as a network, as QEMU arguments.

The chain is the lab of a forwarder: f is a middlebox with one NIC facing each neighbour,
and without addresses, so a reaches b only through whatever forwards frames inside f.
"""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path
from typing import Any, cast

import pytest

from images.guest import GuestImage
from images.qemu import Qemu
from lab.runs import RunDir
from lab.topology import ANCHOR_NICS, NicSpec, Topology, chain, wired
from lab.vm import Vm
from tests.unit.conftest import StubDevice
from vnic.model.device import Vnic
from vnic.model.loop import EventLoop
from vnic.model.topology import Network, TopologyError, load_topology
from vnic.model.wire import Device, DevicePort

LAB_MAC = re.compile(r"^02:72:6c:00:00:[0-9a-f]{2}$")
LAB_NET = ipaddress.IPv4Network("198.18.0.0/15")


@pytest.fixture(autouse=True)
def private_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RINGLAB_RUNS", str(tmp_path / "runs"))


@pytest.fixture
def afb() -> Topology:
    return chain(["a", "f", "b"], RunDir.new("t"), modules=["vnic"])


def _nics(topology: Topology) -> list[NicSpec]:
    return [nic for vm in topology.vms for nic in vm.nics]


def test_a_chain_gives_the_middlebox_one_nic_per_neighbour(afb: Topology) -> None:
    a, f, b = afb.vms
    assert [nic.port for nic in a.nics] == ["a"]
    assert [nic.port for nic in f.nics] == ["f.a", "f.b"]
    assert [nic.port for nic in b.nics] == ["b"]
    assert all(vm.modules == ["vnic"] for vm in afb.vms)
    assert afb.network is not None
    assert [(link["name"], link["ends"]) for link in afb.network["links"]] == [
        ("a-f", ["a", "f.a"]),
        ("f-b", ["f.b", "b"]),
    ]
    # every NIC is a vNIC port of the wire, with the MAC the guest will look for and its guest
    assert afb.network["ports"] == {
        nic.port: {"mac": nic.mac, "guest": vm.name} for vm in afb.vms for nic in vm.nics
    }


def test_a_chain_has_unique_lab_macs_and_addresses_only_its_ends(afb: Topology) -> None:
    macs = [nic.mac for nic in _nics(afb)]
    assert all(LAB_MAC.match(mac) for mac in macs), macs
    assert len(set(macs)) == len(macs)
    a, f, b = afb.vms
    assert all(nic.ip is None and nic.ip6 is None for nic in f.nics)
    assert a.ip is not None and b.ip is not None
    subnet_a = ipaddress.IPv4Interface(a.ip).network
    assert subnet_a == ipaddress.IPv4Interface(b.ip).network  # one segment, through f
    assert subnet_a.subnet_of(LAB_NET)
    assert a.ip6 is not None and b.ip6 is not None
    assert ipaddress.ip_interface(a.ip6).network == ipaddress.ip_interface(b.ip6).network


def test_a_middlebox_has_no_single_nic_to_speak_of(afb: Topology) -> None:
    a, f, _ = afb.vms
    assert a.nic is not None and a.mac == a.nics[0].mac and a.port == "a"
    with pytest.raises(ValueError, match=r"f has 2 NICs \(f\.a, f\.b\)"):
        _ = f.mac


def test_the_middlebox_can_be_addressed_too() -> None:
    topology = chain(["a", "f", "b"], RunDir.new("t"), address_middle=True)
    ips = [nic.ip for nic in _nics(topology)]
    assert all(ip is not None and ipaddress.ip_interface(ip) in LAB_NET for ip in ips)
    assert len(set(ips)) == len(ips)


def test_longer_chains_and_their_captures() -> None:
    topology = chain(["a", "f", "g", "b"], RunDir.new("t"), link={"pcap": "wire.pcap"})
    assert [len(vm.nics) for vm in topology.vms] == [1, 2, 2, 1]
    assert topology.network is not None
    links = topology.network["links"]
    assert [link["ends"] for link in links] == [["a", "f.a"], ["f.g", "g.f"], ["g.b", "b"]]
    pcaps = [Path(link["pcap"]).name for link in links]
    assert pcaps == ["wire-a-f.pcap", "wire-f-g.pcap", "wire-g-b.pcap"]
    with pytest.raises(ValueError, match="unique"):
        chain(["a", "f", "a"], RunDir.new("t"))


def _stub_port(name: str, settings: dict[str, Any], loop: EventLoop, path: str) -> DevicePort:
    device = cast(Device, StubDevice(name=name))
    return DevicePort(name, device, loop, mac=settings["mac"], socket_path=path)


def test_the_network_builds_a_chain_and_links_a_to_fs_first_nic(
    afb: Topology, tmp_path: Path
) -> None:
    assert afb.network is not None
    load_topology(afb.network)  # what the fabric process checks first
    network = Network.build(afb.network, tmp_path / "fabric", device_factory=_stub_port)
    try:
        described = network.describe()["ports"]
        assert set(described) == {"a", "f.a", "f.b", "b"}  # one vfio-user socket each
        assert len({port["socket"] for port in described.values()}) == 4
        assert {name: port["mac"] for name, port in described.items()} == {
            nic.port: nic.mac for nic in _nics(afb)
        }
        a, fa, fb = (network.ports[name] for name in ("a", "f.a", "f.b"))
        assert isinstance(a, DevicePort) and isinstance(fa, DevicePort)
        assert isinstance(fb, DevicePort)
        broadcast = b"\xff" * 6 + a.mac + b"\x08\x06" + b"\x00" * 46
        a.device.transmit([broadcast])
        for _ in range(10):
            network.loop.run_once(0.01)
        assert cast(StubDevice, fa.device).received == [broadcast]
        assert cast(StubDevice, fb.device).received == []  # f has not forwarded it
    finally:
        network.close()


class _Qemu:
    def command(self, *args: str) -> list[str]:
        return ["qemu", *args]


def _kernel_args(topology: Topology, name: str, tmp_path: Path) -> list[str]:
    spec = next(vm for vm in topology.vms if vm.name == name)
    image = GuestImage(Path("vmlinux"), Path("initrd"), Path("rootfs"), "6.12", "key")
    vm = Vm(spec, cast(Qemu, _Qemu()), image, topology.run, tmp_path / "sockets", "tcg")
    cmd = vm.command_line(tmp_path / "cmd.sock")
    return cmd[cmd.index("-append") + 1].split()


def test_the_guest_kernel_line_lists_every_nic_in_order(afb: Topology, tmp_path: Path) -> None:
    f_args = _kernel_args(afb, "f", tmp_path)
    assert "ringlab.mac=02:72:6c:00:00:02,02:72:6c:00:00:03" in f_args
    assert not [arg for arg in f_args if arg.startswith(("ringlab.ip=", "ringlab.ip6="))]
    assert "ringlab.ip=198.18.0.4/15" in _kernel_args(afb, "b", tmp_path)


def test_a_single_nic_guest_keeps_the_plain_kernel_line(tmp_path: Path) -> None:
    pair = wired(["a", "b"], RunDir.new("t"))
    args = _kernel_args(pair, "b", tmp_path)
    assert [arg for arg in args if arg.startswith("ringlab.") and "name" not in arg] == [
        "ringlab.mac=02:72:6c:00:00:02",
        "ringlab.ip=198.18.0.2/15",
        "ringlab.ip6=fd72:6c::2/64",
    ]


def test_every_port_names_its_guest() -> None:
    pair = wired(["a", "b", "c"], RunDir.new("t"))
    assert pair.network is not None
    assert {name: port["guest"] for name, port in pair.network["ports"].items()} == {
        "a": "a",
        "b": "b",
        "c": "c",
    }
    with pytest.raises(TopologyError, match=r"ports\.a: guest must be a name"):
        load_topology({"ports": {"a": {"guest": ["m"]}}})


def _vnic(network: Network, port: str) -> Vnic:
    device = cast(DevicePort, network.ports[port]).device
    assert isinstance(device, Vnic)
    return device


def test_the_ports_of_a_guest_share_one_record_of_rx_dma(tmp_path: Path) -> None:
    """The devices of the middlebox map one guest RAM: one record (lab counter tx_zero_copy)
    for f.a and f.b, none for the single-port guests, whose fast paths stay unchanged."""
    description = chain(["a", "f", "g", "b"], RunDir.new("t")).network
    assert description is not None
    network = Network.build(description, tmp_path / "fabric")  # the real devices, vfio-user and all
    try:
        fa, fg, gf, gb = (_vnic(network, p) for p in ("f.a", "f.g", "g.f", "g.b"))
        assert fa.zero_copy is not None and fa.zero_copy is fg.zero_copy
        assert gf.zero_copy is not None and gf.zero_copy is gb.zero_copy
        assert fa.zero_copy is not gf.zero_copy  # another guest, another record
        assert _vnic(network, "a").zero_copy is None and _vnic(network, "b").zero_copy is None
        ports = network.stats()["ports"]
        assert all(ports[p]["device"]["tx_zero_copy"] == 0 for p in ports)
    finally:
        network.close()


def _command_line(topology: Topology, name: str, tmp_path: Path) -> list[str]:
    spec = next(vm for vm in topology.vms if vm.name == name)
    image = GuestImage(Path("vmlinux"), Path("initrd"), Path("rootfs"), "6.12", "key")
    vm = Vm(spec, cast(Qemu, _Qemu()), image, topology.run, tmp_path / "sockets", "tcg")
    return vm.command_line(tmp_path / "cmd.sock")


@pytest.mark.parametrize(("nic", "driver"), list(ANCHOR_NICS.items()))
def test_an_anchor_lab_cables_qemus_own_nics_back_to_back(
    nic: str, driver: str, tmp_path: Path
) -> None:
    pair = wired(["a", "b"], RunDir.new("t"), modules=["vnic"], nic=nic)
    assert pair.network is None  # no fabric: QEMU carries the frames
    vnic_pair = wired(["a", "b"], RunDir.new("t"))
    for vm, twin in zip(pair.vms, vnic_pair.vms, strict=True):
        assert vm.modules == ["vnic", driver]
        assert (vm.mac, vm.ip, vm.ip6) == (twin.mac, twin.ip, twin.ip6)  # the same addresses
        assert vm.nics[0].model == nic
    ends = {}
    for name in ("a", "b"):
        cmd = _command_line(pair, name, tmp_path)
        netdev = dict(kv.split("=", 1) for kv in cmd[cmd.index("-netdev") + 1].split(",")[1:])
        device = json.loads(cmd[cmd.index("-netdev") + 3])
        assert device == {
            "driver": nic,
            "netdev": netdev["id"],
            "mac": pair.vms[0 if name == "a" else 1].mac,
        }
        assert netdev["local.type"] == netdev["remote.type"] == "unix"  # never the host's network
        ends[name] = (netdev["local.path"], netdev["remote.path"])
        assert "vfio-user-pci" not in " ".join(cmd)
    assert ends["a"] == ends["b"][::-1]  # a's end is b's far end


def test_an_anchor_lab_has_two_guests_and_a_nic_qemu_has() -> None:
    with pytest.raises(ValueError, match="back to back, not 3"):
        wired(["a", "b", "c"], RunDir.new("t"), nic="igb")
    with pytest.raises(ValueError, match="unknown NIC 'rtl8139'"):
        wired(["a", "b"], RunDir.new("t"), nic="rtl8139")
    with pytest.raises(ValueError, match="no vNIC wire"):
        wired(["a", "b"], RunDir.new("t"), nic="igb", link={"drop": 0.1})
