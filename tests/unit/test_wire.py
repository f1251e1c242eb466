"""The wire: links, switch, shaping, faults, pcap, host endpoints, control socket."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.conftest import StubDevice
from vnic.model.control import control_request
from vnic.model.loop import EventLoop
from vnic.model.topology import Network, TopologyError, load_topology
from vnic.model.wire import (
    DevicePort,
    HostEndpoint,
    Link,
    LinkParams,
    Port,
    Switch,
    wire_bytes,
)

REPO = Path(__file__).resolve().parents[2]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Sink(Port):
    """A port that keeps what the wire delivers."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.got: list[bytes] = []

    def accept(self, frames: list[bytes]) -> None:
        self.got.extend(frames)


def frame(dst: int, src: int, payload: bytes = b"x" * 50) -> bytes:
    return bytes([2, 0, 0, 0, 0, dst]) + bytes([2, 0, 0, 0, 0, src]) + b"\x08\x00" + payload


def test_wire_bytes_counts_ethernet_overhead() -> None:
    assert wire_bytes(60) == 84  # the classic 672 bits per minimum frame
    assert wire_bytes(1514) == 1538
    assert wire_bytes(10) == 84  # padded to the minimum


def test_link_delivers_both_ways_between_devices() -> None:
    loop = EventLoop()
    a, b = StubDevice(name="a"), StubDevice(name="b")
    pa, pb = DevicePort("a", a, loop), DevicePort("b", b, loop)
    link = Link("ab", pa, pb, loop)
    a.transmit([frame(2, 1), frame(2, 1)])
    b.transmit([frame(1, 2)])
    assert b.received == [frame(2, 1)] * 2 and a.received == [frame(1, 2)]
    assert pa.counters["tx_frames"] == 2 and pb.counters["rx_frames"] == 2
    link.set_up(False)
    assert a.links == [False] and b.links == [False]
    a.transmit([frame(2, 1)])
    assert len(b.received) == 2
    assert pa.counters["tx_dropped"] == 1  # the port sees its link down
    link.set_up(True)
    assert a.links == [False, True]
    loop.close()


def test_switch_learns_and_floods() -> None:
    loop = EventLoop()
    sw = Switch("sw", clock=loop.clock)
    sinks = [Sink(f"h{i}") for i in range(3)]
    for s in sinks:
        Link(f"l{s.name}", s, sw.new_port(), loop)
    sinks[0].send([frame(2, 1)])  # unknown destination: flooded
    assert [len(s.got) for s in sinks] == [0, 1, 1]
    sinks[1].send([frame(1, 2)])  # 1 was learnt on port 0: forwarded only there
    assert [len(s.got) for s in sinks] == [1, 1, 1]
    sinks[0].send([frame(2, 1)])  # now 2 is known too
    assert [len(s.got) for s in sinks] == [1, 2, 1]
    sinks[2].send([b"\xff" * 6 + bytes([2, 0, 0, 0, 0, 3]) + b"\x08\x06" + b"a" * 40])
    assert [len(s.got) for s in sinks] == [2, 3, 1]  # broadcast to all others
    assert sw.counters["flooded"] == 2 and sw.counters["forwarded"] == 2
    assert len(sw.table) == 3
    loop.close()


def test_shaping_paces_frames_at_the_bit_rate() -> None:
    clock = FakeClock()
    loop = EventLoop(clock=clock)
    src, dst = Sink("src"), Sink("dst")
    Link("l", src, dst, loop, LinkParams(rate_bps=1e6, delay_s=0.01))
    frames = [frame(2, 1, b"y" * 986) for _ in range(20)]  # 1000 bytes -> 1024 on the wire
    per_frame = wire_bytes(1000) * 8 / 1e6  # 8.192 ms
    src.send(frames)
    loop.run_once(0)
    assert dst.got == []  # nothing before one frame time plus the delay
    clock.now += 0.01 + per_frame * 5 + 1e-6
    loop.run_once(0)
    assert len(dst.got) == 5
    clock.now += per_frame * 15
    loop.run_once(0)
    assert len(dst.got) == 20
    loop.close()


def test_shaper_queue_is_bounded() -> None:
    clock = FakeClock()
    loop = EventLoop(clock=clock)
    src, dst = Sink("src"), Sink("dst")
    link = Link("l", src, dst, loop, LinkParams(rate_bps=1e6, queue=10))
    src.send([frame(2, 1)] * 25)
    assert link.stats()["directions"]["src->dst"]["queue_drops"] == 15
    loop.close()


def run_faulty(seed: int) -> tuple[list[bytes], dict[str, int]]:
    clock = FakeClock()
    loop = EventLoop(clock=clock)
    src, dst = Sink("src"), Sink("dst")
    params = LinkParams(drop=0.2, corrupt=0.1, duplicate=0.1, reorder=0.1, seed=seed)
    link = Link("l", src, dst, loop, params)
    for i in range(200):
        src.send([frame(2, 1, i.to_bytes(2, "big") * 25)])
    clock.now += 1
    loop.run_once(0)
    counters = link.stats()["directions"]["src->dst"]
    loop.close()
    return dst.got, counters


def test_seeded_faults_are_reproducible() -> None:
    got1, c1 = run_faulty(7)
    got2, c2 = run_faulty(7)
    got3, _ = run_faulty(8)
    assert got1 == got2 and c1 == c2
    assert got1 != got3
    assert c1["dropped"] > 10 and c1["corrupted"] > 5
    assert c1["duplicated"] > 5 and c1["reordered"] > 5
    assert c1["delivered"] == len(got1) == 200 - c1["dropped"] + c1["duplicated"]


def test_pcap_is_readable_by_scapy(tmp_path: Path) -> None:
    from scapy.all import rdpcap
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether

    loop = EventLoop()
    src, dst = Sink("src"), Sink("dst")
    link = Link("l", src, dst, loop)
    path = tmp_path / "l.pcap"
    link.start_pcap(str(path))
    pkts = [
        Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP() / UDP(dport=9 + i)
        for i in range(3)
    ]
    src.send([bytes(p) for p in pkts])
    dst.send([frame(1, 2)])
    assert link.stop_pcap() == str(path)
    read = rdpcap(str(path))
    assert [bytes(p) for p in read] == [bytes(p) for p in pkts] + [frame(1, 2)]
    assert read[0][UDP].dport == 9
    loop.close()


def test_topology_validation() -> None:
    with pytest.raises(TopologyError, match="ends"):
        load_topology({"ports": {"a": {}}, "links": [{"ends": ["a", "zz"]}]})
    with pytest.raises(TopologyError, match="twice"):
        load_topology({"ports": {"a": {}}, "hosts": {"a": {}}})
    with pytest.raises(TopologyError, match="already"):
        load_topology(
            {
                "hosts": {"a": {}, "b": {}, "c": {}},
                "links": [{"ends": ["a", "b"]}, {"ends": ["a", "c"]}],
            }
        )
    with pytest.raises(TopologyError, match="probability"):
        load_topology({"hosts": {"a": {}, "b": {}}, "links": [{"ends": ["a", "b"], "drop": 2}]})
    with pytest.raises(TopologyError, match="unknown link parameter"):
        load_topology({"hosts": {"a": {}, "b": {}}, "links": [{"ends": ["a", "b"], "x": 1}]})
    topo = load_topology({"ports": {"a": {}, "b": {"mac": "02:aa:00:00:00:01"}}})
    assert topo["ports"]["a"]["mac"] == bytes.fromhex("020000000001")


def stub_factory(name: str, settings: dict, loop: EventLoop, path: str) -> DevicePort:
    return DevicePort(name, StubDevice(name=name), loop, mac=settings["mac"], socket_path=path)


def test_network_build_and_control(tmp_path: Path) -> None:
    from vnic.model.control import ControlServer

    topo = {
        "ports": {"a": {}, "b": {}},
        "links": [{"name": "ab", "ends": ["a", "b"]}],
    }
    network = Network.build(topo, tmp_path, device_factory=stub_factory)
    ctl = ControlServer(str(tmp_path / "control.sock"), network, network.loop)
    a = network.ports["a"]
    assert isinstance(a, DevicePort)
    a.device.transmit([frame(2, 1)])
    replies = []

    def ask(req: dict) -> None:
        import socket as s

        with s.socket(s.AF_UNIX, s.SOCK_STREAM) as sock:
            sock.connect(str(tmp_path / "control.sock"))
            sock.sendall(json.dumps(req).encode() + b"\n")
            buf = b""
            while not buf.endswith(b"\n"):
                network.loop.run_once(0.01)
                try:
                    sock.settimeout(0.01)
                    buf += sock.recv(65536)
                except TimeoutError:
                    pass
            replies.append(json.loads(buf))

    ask({"cmd": "stats"})
    stats = replies[-1]["stats"]
    assert stats["ports"]["b"]["rx_frames"] == 1
    assert stats["links"]["ab"]["directions"]["a->b"]["delivered"] == 1
    ask({"cmd": "link", "link": "a", "up": False})
    assert replies[-1] == {"ok": True, "link": "ab", "up": False}
    ask({"cmd": "faults", "link": "ab", "drop": 0.5, "rate_mbps": 10})
    assert replies[-1]["params"]["rate_bps"] == 10e6
    ask({"cmd": "faults", "link": "ab", "drop": 5})
    assert replies[-1]["ok"] is False and "probability" in replies[-1]["error"]
    ask({"cmd": "reset", "port": "b"})
    assert network.ports["b"].device.resets == 1  # type: ignore[attr-defined]
    ask({"cmd": "nope"})
    assert replies[-1]["ok"] is False
    ask({"cmd": "pcap", "link": "ab", "action": "start"})
    assert replies[-1]["path"] == str(tmp_path / "ab.pcap")
    ask({"cmd": "pcap", "link": "ab", "action": "stop"})
    ctl.close()
    network.close()
    network.loop.close()
    assert not (tmp_path / "control.sock").exists()


@pytest.fixture
def served_fabric(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    topo = {
        "hosts": {"h1": {}, "h2": {}, "h3": {}},
        "switches": {"sw": {}},
        "links": [
            {"ends": ["h1", "sw"]},
            {"ends": ["h2", "sw"], "pcap": "h2.pcap"},
            {"ends": ["h3", "sw"]},
        ],
    }
    (tmp_path / "topo.json").write_text(json.dumps(topo))
    run = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "vnic", "serve", str(tmp_path / "topo.json"), "--run-dir", str(run)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip() == "READY":
            break
    assert (run / "ready").exists()
    yield run, proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_host_endpoints_across_processes(served_fabric: tuple[Path, subprocess.Popen[str]]) -> None:
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether

    run, proc = served_fabric
    info = json.loads((run / "ready").read_text())
    assert set(info["hosts"]) == {"h1", "h2", "h3"}
    with (
        HostEndpoint(info["hosts"]["h1"]["socket"]) as h1,
        HostEndpoint(info["hosts"]["h2"]["socket"]) as h2,
        HostEndpoint(info["hosts"]["h3"]["socket"]) as h3,
    ):
        time.sleep(0.05)  # let the fabric accept the endpoints
        pkt = Ether(src="02:00:00:00:00:01", dst="ff:ff:ff:ff:ff:ff") / IP() / UDP()
        h1.send(pkt)
        assert h2.recv(2.0) == bytes(pkt) and h3.recv(2.0) == bytes(pkt)
        h2.send(Ether(src="02:00:00:00:00:02", dst="02:00:00:00:00:01") / IP())
        assert h1.recv(2.0) is not None
        assert h3.recv(0.2) is None  # learnt: not flooded
    stats = control_request(info["control"], {"cmd": "stats"})["stats"]
    assert stats["ports"]["h1"]["tx_frames"] == 1
    assert stats["switches"]["sw"]["forwarded"] == 1
    out = subprocess.run(
        [sys.executable, "-m", "vnic", "stats", "--run-dir", str(run), "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout)["ports"]["h2"]["rx_frames"] == 1
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    assert sorted(os.listdir(run)) == ["h2.pcap"]  # sockets and ready file removed


def test_an_empty_datagram_is_counted_and_the_endpoint_kept(tmp_path: Path) -> None:
    """SOCK_SEQPACKET reads an empty datagram and a hang-up alike (0 bytes): the fabric
    must not take the first for the second, drop the client and fail its next send."""
    from vnic.model.wire import HostPort

    loop = EventLoop()
    host = HostPort("h", str(tmp_path / "h.sock"), loop)
    sink = Sink("sink")
    Link("l", host, sink, loop)
    ep = HostEndpoint(host.path)
    for _ in range(3):
        loop.run_once(0.01)  # accept
    ep.send(b"")
    for _ in range(3):
        loop.run_once(0.01)
    ep.send(frame(2, 1))  # EPIPE if the fabric hung up on us
    for _ in range(3):
        loop.run_once(0.01)
    assert sink.got == [frame(2, 1)]
    stats = host.stats()
    assert stats["clients"] == 1 and stats["empty_datagrams"] == 1
    assert stats["tx_dropped"] == 1 and stats["tx_frames"] == 1
    host.deliver([frame(1, 2)])
    assert ep.recv(1.0) == frame(1, 2)  # and the way back still works
    ep.close()  # a real hang-up still drops the client
    for _ in range(3):
        loop.run_once(0.01)
    assert host.stats()["clients"] == 0 and host.stats()["empty_datagrams"] == 1
    host.close()
    loop.close()
