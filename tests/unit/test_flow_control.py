"""Flow control on the wire (802.3x PAUSE, as the lab has it): a link with ``flow_control``
holds the frames the receiving vNIC has no free RX descriptor for, in order, in a bounded
queue, and re-offers them when the guest's RX doorbell (RDT) gives descriptors back."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.grading.model import Exercise, find_exercise
from lab.runs import RunDir
from lab.topology import chain, wired
from tests.unit.conftest import StubDevice
from vnic.model import spec
from vnic.model.control import ControlServer
from vnic.model.device import Vnic, rss_hash
from vnic.model.loop import EventLoop
from vnic.model.memory import FakeMemory
from vnic.model.testing import MiniDriver
from vnic.model.topology import Network, TopologyError, load_topology
from vnic.model.wire import DevicePort, Link, LinkParams, Port

MAC = bytes.fromhex("020000000002")
RING = 64  # the driver arms RING - 1 slots


class Source(Port):
    """A port that only sends (the other end of the link)."""


def numbered(n: int, start: int = 0, size: int = 60) -> list[bytes]:
    head = MAC + bytes.fromhex("020000000001") + b"\x08\x00"
    return [head + (start + i).to_bytes(4, "big") + bytes(size - 18) for i in range(n)]


class Rig:
    """Source --link--> a real vNIC on a fake memory, its RX ring programmed by the mini
    driver (RING slots, RING - 1 armed)."""

    def __init__(self, params: LinkParams, buf: int = 2048) -> None:
        self.loop = EventLoop()
        self.mem = FakeMemory(4 << 20)
        self.dev = Vnic(self.mem, MAC, clock=self.loop.clock)
        self.drv = MiniDriver(self.dev, self.mem)
        self.drv.reset_and_init()
        self.drv.setup_rx(0, RING, buf)
        self.src = Source("src")
        self.port = DevicePort("b", self.dev, self.loop)
        self.link = Link("l", self.src, self.port, self.loop, params)
        self.got: list[bytes] = []

    @property
    def counters(self) -> dict[str, int]:
        return dict(self.link.stats()["directions"]["src->b"])

    def take(self, limit: int = 1 << 30) -> list[bytes]:
        """The guest cleans its RX ring and gives the slots back (one RDT doorbell)."""
        frames = self.drv.poll(0, limit)
        self.got += frames
        return frames

    def run(self) -> None:
        for _ in range(3):
            self.loop.run_once(0)

    def close(self) -> None:
        self.link.close()
        self.port.close()
        self.loop.close()


def test_without_flow_control_a_full_ring_drops_as_before() -> None:
    rig = Rig(LinkParams())
    rig.src.send(numbered(100))
    assert rig.dev.counters()["rx_drop_no_desc"] == 100 - (RING - 1)
    assert rig.counters["delivered"] == 100 and rig.counters["paused"] == 0
    rig.close()


def test_flow_control_holds_what_the_ring_cannot_take_and_resumes_on_the_doorbell() -> None:
    rig = Rig(LinkParams(flow_control=True))
    sent = numbered(150)
    rig.src.send(sent)
    c = rig.counters
    assert rig.dev.counters()["rx_drop_no_desc"] == 0
    assert c["delivered"] == RING - 1 and c["paused"] == 150 - (RING - 1) and c["held"] == 87
    assert c["pause_events"] == 1 and c["pause_drops"] == 0
    assert len(rig.take()) == RING - 1  # RDT: the device has descriptors again ...
    assert rig.counters["delivered"] == RING - 1  # ... but the doorbell only records work
    rig.run()  # the loop's service slice re-offers the held frames
    assert rig.counters["delivered"] == 2 * (RING - 1)
    rig.take()
    rig.run()
    rig.take()
    assert rig.got == sent  # every frame, in order
    c = rig.counters
    assert c["delivered"] == 150 and c["held"] == 0 and c["pause_drops"] == 0
    assert rig.dev.counters()["rx_drop_no_desc"] == 0
    assert rig.port.counters["rx_frames"] == 150  # a held frame is counted once, when it lands
    rig.close()


def test_frames_arriving_while_paused_wait_behind_the_held_ones() -> None:
    rig = Rig(LinkParams(flow_control=True))
    first, later = numbered(80), numbered(30, start=80)
    rig.src.send(first)
    rig.take(10)  # ten slots back: a doorbell, not served yet
    rig.src.send(later)  # must not overtake the 17 frames held before it
    rig.run()
    for _ in range(4):
        rig.take()
        rig.run()
    assert rig.got == first + later
    assert rig.dev.counters()["rx_drop_no_desc"] == 0
    rig.close()


def test_the_pause_queue_is_bounded_and_its_drops_counted() -> None:
    rig = Rig(LinkParams(flow_control=True, pause_queue=10))
    rig.src.send(numbered(100))
    c = rig.counters
    assert c["delivered"] == RING - 1 and c["held"] == 10 and c["paused"] == 10
    assert c["pause_drops"] == 100 - (RING - 1) - 10
    assert rig.dev.counters()["rx_drop_no_desc"] == 0  # drops only where the queue is full
    rig.take()
    rig.run()
    rig.take()
    assert len(rig.got) == RING - 1 + 10
    rig.close()


def test_frames_the_device_drops_anyway_are_not_held() -> None:
    """RX off (the guest's interface down): no pause, the device drops and counts them."""
    rig = Rig(LinkParams(flow_control=True))
    rig.drv.clear_bits(spec.RXCTRL.at(), spec.RXCTRL.mask("RXEN"))
    rig.src.send(numbered(100))
    assert rig.counters["paused"] == 0 and rig.dev.counters()["rx_drop_disabled"] == 100
    rig.close()


def test_multi_buffer_frames_are_held_by_the_descriptors_they_need() -> None:
    """1 KiB buffers: a 1500-byte frame takes two descriptors, so 31 fit in 63."""
    rig = Rig(LinkParams(flow_control=True), buf=1024)
    rig.src.send(numbered(40, size=1500))
    assert rig.counters["delivered"] == 31 and rig.counters["held"] == 9
    assert rig.dev.counters()["rx_drop_no_desc"] == 0
    rig.close()


def flows(n: int) -> list[bytes]:
    """IPv4-looking frames of ``n`` different source addresses: RSS spreads them."""
    head = MAC + bytes.fromhex("020000000001") + b"\x08\x00" + bytes(12)
    return [head + i.to_bytes(4, "big") + bytes(28) for i in range(n)]


def test_with_rss_each_frame_needs_room_in_the_queue_its_hash_picks() -> None:
    rig = Rig(LinkParams(flow_control=True))  # queue 0: RING - 1 armed
    rig.drv.setup_rx(1, 16)  # queue 1: 15 armed
    for i in range(spec.RETA.count):
        rig.drv.wr(spec.RETA.at(i), 0x01010101)  # every hash to queue 1
    rig.drv.wr(spec.MRQC.at(), spec.MRQC.mask("RSSEN"))
    assert rig.dev.rx_room(flows(40)) == 15  # queue 0's room does not count
    for i in range(0, spec.RETA.count, 2):
        rig.drv.wr(spec.RETA.at(i), 0)  # RETA entries 0-3, 8-11, ...: queue 0
    frames = flows(40)
    queue = [1 if (rss_hash(f) & 127) // 4 % 2 else 0 for f in frames]
    assert 0 < queue.count(1) < 40  # both queues get some
    # the 16th frame for queue 1 is the first that finds no room: it stops the rest
    sixteenth = [i for i, q in enumerate(queue) if q == 1][15] if queue.count(1) > 15 else 40
    assert rig.dev.rx_room(frames) == sixteenth
    for i in range(spec.RETA.count):
        rig.drv.wr(spec.RETA.at(i), 0)  # queue 0 only: queue 1 being short does not matter
    assert rig.dev.rx_room(flows(40)) == 40
    rig.close()


def test_the_device_says_how_much_it_takes_without_changing_anything() -> None:
    rig = Rig(LinkParams())
    frames = numbered(100)
    assert rig.dev.rx_room(frames) == RING - 1
    assert rig.dev.rx_room(frames[:5]) == 5
    assert rig.dev.counters()["rx_frames"] == 0 and rig.dev.totals["tpr"] == 0
    rig.close()


def test_turning_flow_control_off_releases_the_held_frames() -> None:
    rig = Rig(LinkParams(flow_control=True))
    rig.src.send(numbered(100))
    rig.link.configure({"flow_control": False})
    c = rig.counters
    assert c["held"] == 0 and c["delivered"] == 100  # released: the full ring drops them
    assert rig.dev.counters()["rx_drop_no_desc"] == 100 - (RING - 1)
    rig.close()


def test_pulling_the_cable_drops_the_held_frames() -> None:
    rig = Rig(LinkParams(flow_control=True))
    rig.src.send(numbered(100))
    rig.link.set_up(False)
    c = rig.counters
    assert c["held"] == 0 and c["down_drops"] == 100 - (RING - 1)
    rig.close()


def test_flow_control_is_a_link_key_and_a_faults_field(tmp_path: Path) -> None:
    topo = load_topology(
        {"hosts": {"a": {}, "b": {}}, "links": [{"ends": ["a", "b"], "flow_control": True}]}
    )
    assert topo["links"][0]["params"] == {"flow_control": True}
    with pytest.raises(TopologyError, match="flow_control must be true or false"):
        load_topology(
            {"hosts": {"a": {}, "b": {}}, "links": [{"ends": ["a", "b"], "flow_control": 1}]}
        )

    def stub(name: str, settings: dict, loop: EventLoop, path: str) -> DevicePort:
        return DevicePort(name, StubDevice(name=name), loop, socket_path=path)

    network = Network.build(
        {"ports": {"a": {}, "b": {}}, "links": [{"name": "ab", "ends": ["a", "b"]}]},
        tmp_path,
        device_factory=stub,
    )
    ctl = ControlServer(str(tmp_path / "control.sock"), network, network.loop)
    try:
        assert network.links["ab"].params.flow_control is False  # a fabric's default: off
        reply = ctl.execute(b'{"cmd": "faults", "link": "ab", "flow_control": true}')
        assert reply["ok"] and reply["params"]["flow_control"] is True
        assert reply["params"]["pause_queue"] == 1024
        reply = ctl.execute(b'{"cmd": "faults", "link": "ab", "pause_queue": 0}')
        assert not reply["ok"] and "pause_queue" in reply["error"]
        stats = network.stats()["links"]["ab"]["directions"]["a->b"]
        assert {"paused", "pause_drops", "pause_events", "held"} <= set(stats)
    finally:
        ctl.close()
        network.close()
        network.loop.close()


def test_exercise_labs_have_flow_control_unless_they_study_loss(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RINGLAB_RUNS", str(tmp_path / "runs"))
    pair = wired(["a", "b"], RunDir.new("t"))
    assert pair.network is not None
    assert [link["flow_control"] for link in pair.network["links"]] == [True]
    three = wired(["a", "b", "c"], RunDir.new("t"), link={"flow_control": False})
    assert three.network is not None
    assert {link["flow_control"] for link in three.network["links"]} == {False}
    row = chain(["a", "f", "b"], RunDir.new("t"), flow_control=False)
    assert row.network is not None
    assert {link["flow_control"] for link in row.network["links"]} == {False}
    assert find_exercise("01-sockets").flow_control is True
    assert find_exercise("03-stackmap").flow_control is True
    # exercise 02 counts the frames a slow receiver loses for want of a free RX slot
    assert find_exercise("02-netmap").flow_control is False
    (tmp_path / "exercise.toml").write_text('title = "x"\n[lab]\nwired = true\n')
    assert Exercise.load(tmp_path).flow_control is True
