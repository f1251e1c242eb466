"""A lab's topology as data, and the `Network` built from it: what the fabric process serves.

A topology is a small JSON object (all keys but "ports" optional)::

    {
      "ports":    {"a": {"mac": "02:00:00:00:00:0a", "queues": 4, "guest": "a"},
                   "b": {"mac": "02:00:00:00:00:0b"}},
      "hosts":    {"h1": {}},
      "switches": {"sw0": {}},
      "links": [
        {"name": "ab", "ends": ["a", "b"],
         "rate_mbps": 1000, "delay_ms": 0.5,
         "drop": 0.01, "corrupt": 0, "duplicate": 0, "reorder": 0, "seed": 42,
         "queue": 1000, "flow_control": true, "pause_queue": 1024, "pcap": "ab.pcap"},
        {"ends": ["h1", "sw0"]}
      ]
    }

ports     vNICs served to VMs over vfio-user, at RUN_DIR/<name>.sock; "queues" is the number
          of TX/RX queue pairs (default: the model's maximum); "mac" defaults to
          02:00:00:00:00:<n> (locally administered); "guest" names the VM the port is
          plugged into: the ports of one guest share one record of what their RX DMA wrote
          where (`engines.ZeroCopyRecord`, behind the lab counter tx_zero_copy), if that
          guest has two or more ports.
hosts     host endpoints at RUN_DIR/<name>.sock (see `wire.HostEndpoint`).
switches  learning switches; every link to a switch gets a new switch port.
links     cables; "ends" names two of the above. The shaping/fault/flow-control keys are
          those of `wire.LinkParams` (rate_bps|rate_mbps|rate_gbps, delay_s|delay_ms|delay_us,
          ..., flow_control: false unless given here, pause_queue).
          "name" defaults to "<end0>-<end1>"; "pcap" (relative to RUN_DIR) starts a capture.

Names are unique across ports, hosts and switches and must be usable as file names.
The vNIC class is injected (`device_factory`), so tests can build a network of stand-ins.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vnic.model.loop import EventLoop
from vnic.model.wire import (
    DevicePort,
    HostPort,
    Link,
    LinkParams,
    Port,
    Switch,
    format_mac,
    parse_mac,
)

if TYPE_CHECKING:
    from vnic.model.engines import ZeroCopyRecord

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
UNIX_PATH_MAX = 107  # sun_path is 108 bytes with the terminating NUL
LINK_KEYS = {"name", "ends", "pcap"}
QEMU_MSG_TIMEOUT_MS = 600_000  # students stop servers in debuggers (specs/vfio-user.md)


class TopologyError(ValueError):
    """The topology description is wrong; the message says where."""


def load_topology(source: str | os.PathLike[str] | dict[str, Any]) -> dict[str, Any]:
    """Read (if a path) and validate a topology; returns it normalised."""
    if isinstance(source, dict):
        topo = source
    else:
        try:
            topo = json.loads(Path(source).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise TopologyError(f"{source}: {exc}") from None
    if not isinstance(topo, dict):
        raise TopologyError("a topology is a JSON object")
    unknown = set(topo) - {"ports", "hosts", "switches", "links"}
    if unknown:
        raise TopologyError(f"unknown top-level keys {sorted(unknown)}")
    out: dict[str, Any] = {"ports": {}, "hosts": {}, "switches": {}, "links": []}
    seen: set[str] = set()
    for section in ("ports", "hosts", "switches"):
        items = topo.get(section, {})
        if not isinstance(items, dict):
            raise TopologyError(f"{section!r} must be an object of name -> settings")
        for name, settings in items.items():
            if not NAME.match(name) or name == "control":
                raise TopologyError(f"{section}.{name}: not a usable name")
            if name in seen:
                raise TopologyError(f"name {name!r} used twice")
            if not isinstance(settings, dict):
                raise TopologyError(f"{section}.{name}: settings must be an object")
            seen.add(name)
            out[section][name] = dict(settings)
    for n, (name, settings) in enumerate(out["ports"].items(), start=1):
        try:
            settings["mac"] = parse_mac(settings.get("mac", f"02:00:00:00:00:{n:02x}"))
        except ValueError as exc:
            raise TopologyError(f"ports.{name}: {exc}") from None
        queues = settings.get("queues")
        if queues is not None and (not isinstance(queues, int) or queues < 1):
            raise TopologyError(f"ports.{name}: queues must be a positive integer")
        guest = settings.get("guest")
        if guest is not None and not (isinstance(guest, str) and NAME.match(guest)):
            raise TopologyError(f"ports.{name}: guest must be a name")
    linked: set[str] = set()
    links = topo.get("links", [])
    if not isinstance(links, list):
        raise TopologyError("'links' must be a list")
    for i, link in enumerate(links):
        where = f"links[{i}]"
        if not isinstance(link, dict):
            raise TopologyError(f"{where}: must be an object")
        ends = link.get("ends")
        if not (isinstance(ends, list) and len(ends) == 2 and all(e in seen for e in ends)):
            raise TopologyError(f"{where}: 'ends' must name two ports, hosts or switches")
        if ends[0] == ends[1]:
            raise TopologyError(f"{where}: a link needs two different ends")
        for end in ends:
            if end not in out["switches"]:
                if end in linked:
                    raise TopologyError(f"{where}: {end} already has a link")
                linked.add(end)
        params = {k: v for k, v in link.items() if k not in LINK_KEYS}
        try:
            LinkParams().update(params)
        except ValueError as exc:
            raise TopologyError(f"{where}: {exc}") from None
        entry = {"name": link.get("name", f"{ends[0]}-{ends[1]}"), "ends": ends, "params": params}
        if "pcap" in link:
            entry["pcap"] = str(link["pcap"])
        if not NAME.match(entry["name"]):
            raise TopologyError(f"{where}: not a usable link name")
        out["links"].append(entry)
    names = [link["name"] for link in out["links"]]
    if len(set(names)) != len(names):
        raise TopologyError("link names must be unique")
    return out


#: (name, settings, loop, socket path) -> port. The settings are the port's, plus
#: "zero_copy" (the guest's shared `ZeroCopyRecord`) for a port of a multi-port guest.
DeviceFactory = Callable[[str, dict[str, Any], EventLoop, str], DevicePort]


def zero_copy_records(ports: dict[str, dict[str, Any]]) -> dict[str, ZeroCopyRecord]:
    """Port name -> the record it shares with the other ports of its guest, for the ports
    of guests with two or more (a guest's devices DMA into the same RAM). The ports of
    single-port guests, or of none named, get none: their fast paths stay as they are."""
    from vnic.model.engines import ZeroCopyRecord

    by_guest: dict[str, list[str]] = {}
    for name, settings in ports.items():
        guest = settings.get("guest")
        if guest is not None:
            by_guest.setdefault(guest, []).append(name)
    out: dict[str, ZeroCopyRecord] = {}
    for names in by_guest.values():
        if len(names) > 1:
            record = ZeroCopyRecord()
            out.update(dict.fromkeys(names, record))
    return out


def vnic_factory(name: str, settings: dict[str, Any], loop: EventLoop, path: str) -> DevicePort:
    """The real thing: a Vnic over DMA-mapped guest memory, served over vfio-user at `path`."""
    from vnic.model import spec
    from vnic.model.device import Vnic
    from vnic.model.memory import GuestMemory
    from vnic.model.pci import PciFunction, identity_from_spec
    from vnic.model.vfio_user_server import VfioUserServer

    memory = GuestMemory()
    queues = settings.get("queues", spec.NUM_QUEUES)
    device = Vnic(
        memory,
        settings["mac"],
        num_queues=queues,
        clock=loop.clock,
        name=name,
        zero_copy=settings.get("zero_copy"),
    )
    port = DevicePort(name, device, loop, mac=settings["mac"], socket_path=path)
    port.server = VfioUserServer(
        path,
        device,
        memory,
        PciFunction(identity_from_spec()),
        loop,
        name=name,
        on_activity=lambda: loop.wake(device),
    )
    return port


def qemu_device_arg(socket_path: str) -> str:
    """The exact `-device` argument for QEMU (only the JSON form works, see the spec)."""
    return json.dumps(
        {
            "driver": "vfio-user-pci",
            "socket": {"type": "unix", "path": socket_path},
            "x-msg-timeout": QEMU_MSG_TIMEOUT_MS,
        },
        separators=(",", ":"),
    )


class Network:
    """The wire of one topology made live: its ports, links and switches, on one event loop.

    The fabric process (``python -m vnic serve``) builds one and serves it; tests build one
    with stand-in devices."""

    def __init__(self, loop: EventLoop) -> None:
        self.loop = loop
        self.ports: dict[str, Port] = {}
        self.links: dict[str, Link] = {}
        self.switches: dict[str, Switch] = {}
        self.run_dir = Path(".")

    @classmethod
    def build(
        cls,
        topology: dict[str, Any],
        run_dir: str | os.PathLike[str],
        loop: EventLoop | None = None,
        device_factory: DeviceFactory = vnic_factory,
    ) -> Network:
        topo = load_topology(topology)
        network = cls(loop or EventLoop())
        network.run_dir = Path(run_dir).resolve()
        network.run_dir.mkdir(parents=True, exist_ok=True)
        records = zero_copy_records(topo["ports"])
        try:
            for name, settings in topo["ports"].items():
                path = network.socket_path(name)
                if name in records:
                    settings = {**settings, "zero_copy": records[name]}
                network.ports[name] = device_factory(name, settings, network.loop, path)
            for name in topo["hosts"]:
                network.ports[name] = HostPort(name, network.socket_path(name), network.loop)
            for name in topo["switches"]:
                network.switches[name] = Switch(name, clock=network.loop.clock)
            for spec_ in topo["links"]:
                ends = [network._end(e) for e in spec_["ends"]]
                params = LinkParams()
                params.update(spec_["params"])
                link = Link(spec_["name"], ends[0], ends[1], network.loop, params)
                network.links[link.name] = link
                if "pcap" in spec_:
                    link.start_pcap(str(network.run_dir / spec_["pcap"]))
        except BaseException:
            network.close()
            raise
        return network

    def socket_path(self, name: str) -> str:
        path = str(self.run_dir / f"{name}.sock")
        if len(path.encode()) > UNIX_PATH_MAX:
            raise TopologyError(f"socket path too long for a unix socket: {path}")
        return path

    def _end(self, name: str) -> Port:
        if name in self.switches:
            return self.switches[name].new_port()
        return self.ports[name]

    def link_of(self, name: str) -> Link:
        """A link by its name, or the link of a port."""
        if name in self.links:
            return self.links[name]
        port = self.ports.get(name)
        if port is not None and isinstance(port.link, Link):
            return port.link
        raise KeyError(f"no link or linked port named {name!r}")

    def stats(self) -> dict[str, Any]:
        return {
            "ports": {name: port.stats() for name, port in self.ports.items()},
            "links": {name: link.stats() for name, link in self.links.items()},
            "switches": {name: sw.stats() for name, sw in self.switches.items()},
            "loop": {"errors": self.loop.errors},
        }

    def describe(self) -> dict[str, Any]:
        """What a launcher needs: socket paths, MACs and QEMU arguments."""
        ports = {}
        hosts = {}
        for name, port in self.ports.items():
            if isinstance(port, DevicePort) and port.socket_path:
                ports[name] = {
                    "socket": port.socket_path,
                    "mac": format_mac(port.mac),
                    "qemu_device": qemu_device_arg(port.socket_path),
                }
            elif isinstance(port, HostPort):
                hosts[name] = {"socket": port.path}
        return {
            "pid": os.getpid(),
            "run_dir": str(self.run_dir),
            "control": str(self.run_dir / "control.sock"),
            "ports": ports,
            "hosts": hosts,
            "links": {n: {"ends": [link.a.name, link.b.name]} for n, link in self.links.items()},
        }

    def close(self) -> None:
        for link in self.links.values():
            link.close()
        for port in self.ports.values():
            port.close()
        self.links.clear()
        self.ports.clear()
