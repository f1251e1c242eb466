"""What a lab is made of, as plain data: guests, their NIC ports, the wire between them.

A topology is pure data (like Mininet's ``Topo``); :class:`lab.vm.Lab` makes it
live.  Guests get addresses from the benchmarking range 198.18.0.0/15: lab
traffic never leaves the lab, because the vNIC fabric is not bridged to the
host's network.  ``network`` describes the vNIC network, as the fabric process
reads it (:mod:`vnic.model.topology` makes it live as a ``Network``): the vNIC
ports the guests plug into and the links (:mod:`vnic.model.wire`), switches and
host endpoints between them.

A guest has one NIC per vNIC port it plugs into (:class:`NicSpec`): the guests of
:func:`wired` have one each, the middleboxes of :func:`chain` have two.  NIC
number *n* of a lab (counted from 1 over all its guests) gets the MAC
``02:72:6c:00:00:NN`` (*n* in hex), so MACs are unique across the lab.  Every wire
port names its guest (``"guest"``): the fabric gives the ports of a guest with two
NICs one shared record of RX DMA, for the lab counter ``tx_zero_copy``.

Every link of :func:`wired` and :func:`chain` has flow control (``"flow_control": true``,
:mod:`vnic.model.wire`): under TCG a receiving guest is slower than its sender, and a
link without it loses what the receiver's RX ring cannot take (a real link would send
802.3x PAUSE).  An exercise that studies those losses turns it off
(``flow_control=False``; ``[lab] flow_control = false`` in its ``exercise.toml``).

The *anchors* are the same guests with one of QEMU's own NIC models instead of the vNIC
(``wired(..., nic="igb")``, see :data:`ANCHOR_NICS`): the reference every figure of the
vNIC is measured against. Two such NICs are cabled back to back by QEMU itself, a
datagram netdev on a pair of unix sockets in the lab's socket directory (never bridged
to the host's network); there is no fabric, and the guest loads the stock Linux driver.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from lab.runs import RunDir

PROJECT = Path(__file__).resolve().parent.parent
PREFIX = "198.18.0"
#: The lab's own NIC: a vNIC port served by the fabric over vfio-user.
VNIC = "vnic"
#: QEMU's own NIC models the lab can use instead (the anchors), and the stock Linux
#: driver of each, in the guest image.
ANCHOR_NICS = {"igb": "igb", "e1000e": "e1000e", "virtio-net-pci": "virtio_net"}


@dataclass
class Share:
    """A host directory shown to the guest at ``/mnt/<tag>``."""

    tag: str
    path: Path
    readonly: bool = True


@dataclass
class NicSpec:
    """One NIC of a guest: a PCI function of the guest plugged into one vNIC port.

    The guest's init finds the interface by its MAC (the kernel names interfaces in
    probe order, which a test should not depend on), brings it up and gives it the
    addresses, if any: a forwarder's NICs have none, they only carry frames through.
    """

    #: The vNIC port (a key of the network's "ports") this NIC plugs into; for an anchor NIC
    #: the name of its end of QEMU's cable.
    port: str
    mac: str
    ip: str | None = None
    ip6: str | None = None
    #: :data:`VNIC`, or a QEMU NIC model of :data:`ANCHOR_NICS`.
    model: str = VNIC
    #: An anchor NIC's other end of the cable (the ``port`` of the peer's NIC).
    peer: str | None = None


@dataclass
class VmSpec:
    """One guest."""

    name: str
    memory_mb: int = 512
    cpus: int = 1
    #: The guest's NICs, in PCI order (empty: a guest without a network).
    nics: list[NicSpec] = field(default_factory=list)
    modules: list[str] = field(default_factory=list)
    shares: list[Share] = field(default_factory=list)
    kernel_args: list[str] = field(default_factory=list)

    def share(self, tag: str) -> Path:
        return next(s.path for s in self.shares if s.tag == tag)

    # A guest with one NIC (most of the lab) is spoken of as having "a" port, MAC and
    # address; these read that NIC's.  A guest with several NICs has no single answer,
    # so asking raises instead of silently picking one: use ``nics`` there.

    @property
    def nic(self) -> NicSpec | None:
        """The guest's only NIC, or None if it has none."""
        if len(self.nics) > 1:
            ports = ", ".join(nic.port for nic in self.nics)
            raise ValueError(f"{self.name} has {len(self.nics)} NICs ({ports}): use .nics")
        return self.nics[0] if self.nics else None

    @property
    def port(self) -> str | None:
        return nic.port if (nic := self.nic) else None

    @property
    def mac(self) -> str | None:
        return nic.mac if (nic := self.nic) else None

    @property
    def ip(self) -> str | None:
        return nic.ip if (nic := self.nic) else None

    @property
    def ip6(self) -> str | None:
        return nic.ip6 if (nic := self.nic) else None

    @property
    def address(self) -> str | None:
        """The IPv4 address alone, for a program to send to (``ip`` has the prefix too)."""
        return ip.split("/")[0] if (ip := self.ip) else None


@dataclass
class Topology:
    vms: list[VmSpec]
    run: RunDir
    network: dict[str, Any] | None = None


def guest_spec(
    name: str, run: RunDir, submission: Path | None = None, project: Path = PROJECT
) -> VmSpec:
    """A guest with the project (read-only), a submission (read-only) and an output share.

    ``project`` is what the guest sees at /mnt/project: the whole repository, or for a
    graded guest only what its checks need (:func:`lab.grading.session.stage_project_view`).
    """
    output = run.path / name / "output"
    output.mkdir(parents=True, exist_ok=True)
    shares = [Share("project", project), Share("output", output, readonly=False)]
    if submission is not None:
        shares.append(Share("submission", submission))
    return VmSpec(name=name, shares=shares)


def default_specs(
    names: list[str], run: RunDir, submission: Path | None = None, project: Path = PROJECT
) -> Topology:
    """Guests without NICs (the platform's own tests, the sample exercise)."""
    return Topology([guest_spec(name, run, submission, project) for name in names], run)


def wired(
    names: list[str],
    run: RunDir,
    *,
    modules: list[str] | None = None,
    link: dict[str, Any] | None = None,
    hosts: list[str] | None = None,
    flow_control: bool = True,
    nic: str = VNIC,
    submission: Path | None = None,
    project: Path = PROJECT,
) -> Topology:
    """Guests each with a vNIC port; two guests share one link, more share a switch.

    ``link`` adds shaping/fault/pcap keys to every link (a "flow_control" there beats
    ``flow_control``, every link's flow control); ``hosts`` adds host endpoints (host
    Python that sends and receives frames) to the switch. ``nic`` (a key of
    :data:`ANCHOR_NICS`) gives two guests QEMU's own NIC instead, back to back: see
    :func:`anchored`.
    """
    if nic != VNIC:
        if link or hosts:
            raise ValueError(f"a lab on {nic} has no vNIC wire: no link settings, no hosts")
        return anchored(names, run, nic, modules=modules, submission=submission, project=project)
    topology = default_specs(names, run, submission, project)
    ports: dict[str, Any] = {}
    for index, vm in enumerate(topology.vms, start=1):
        vm.modules = list(modules or [])
        vm.nics = [_nic(vm.name, index, addressed=True)]
        ports[vm.name] = {"mac": vm.nics[0].mac, "guest": vm.name}
    host_names = hosts or []
    network: dict[str, Any] = {"ports": ports, "hosts": {h: {} for h in host_names}}
    ends = [*ports, *host_names]
    if len(ends) == 2:
        network["links"] = [_link(ends, link, run, flow_control)]
    else:
        network["switches"] = {"sw0": {}}
        network["links"] = [_link([end, "sw0"], link, run, flow_control) for end in ends]
    topology.network = network
    return topology


def anchored(
    names: list[str],
    run: RunDir,
    nic: str,
    *,
    modules: list[str] | None = None,
    submission: Path | None = None,
    project: Path = PROJECT,
) -> Topology:
    """Two guests whose NICs are QEMU's model ``nic`` (a key of :data:`ANCHOR_NICS`),
    cabled back to back by QEMU: the same MACs and addresses as :func:`wired` gives, the
    stock Linux driver loaded at boot after ``modules`` (no fabric: ``wire`` is None)."""
    if nic not in ANCHOR_NICS:
        known = ", ".join([VNIC, *ANCHOR_NICS])
        raise ValueError(f"unknown NIC {nic!r} (the lab knows {known})")
    if len(names) != 2:
        raise ValueError(f"QEMU's {nic} cables two guests back to back, not {len(names)}")
    topology = default_specs(names, run, submission, project)
    driver = ANCHOR_NICS[nic]
    for index, vm in enumerate(topology.vms, start=1):
        vm.modules = [m for m in modules or [] if m != driver] + [driver]
        vm.nics = [_nic(vm.name, index, addressed=True)]
        vm.nics[0].model = nic
    first, second = topology.vms
    first.nics[0].peer, second.nics[0].peer = second.name, first.name
    return topology


def chain(
    names: list[str],
    run: RunDir,
    *,
    modules: list[str] | None = None,
    link: dict[str, Any] | None = None,
    address_middle: bool = False,
    flow_control: bool = True,
    submission: Path | None = None,
    project: Path = PROJECT,
) -> Topology:
    """Guests in a row, each linked to the next: ``chain(["a", "f", "b"], run)`` is a — f — b.

    The two end guests have one NIC each, like the guests of :func:`wired`; every guest in
    the middle is a *middlebox* with two NICs, one facing each neighbour, on vNIC ports
    named ``<guest>.<neighbour>`` (f's ports are ``f.a`` and ``f.b``; an end guest's port is
    named after the guest, so a's is ``a``).  The links are named ``a-f`` and ``f-b``.

    The ends are addressed in one subnet (198.18.0.0/15 and fd72:6c::/64) and the
    middleboxes are not (unless ``address_middle``): so a reaches b only if every
    middlebox forwards frames between its two NICs, which is what a forwarder under test
    (a Linux bridge, a netmap program) must do.  Addresses follow the NIC number, like
    MACs: a gets 198.18.0.1, f's NICs are numbers 2 and 3, b gets 198.18.0.4.

    ``link`` adds shaping/fault/pcap keys to every link (a "pcap" becomes one file per
    link, named after it); ``flow_control`` is every link's flow control, as for
    :func:`wired`; ``submission`` and ``project`` are as for :func:`guest_spec`.
    """
    if len(names) < 2:
        raise ValueError("a chain needs at least two guests")
    if len(set(names)) != len(names):
        raise ValueError(f"guest names must be unique in a chain: {names}")
    topology = default_specs(names, run, submission, project)
    ports: dict[str, Any] = {}
    links: list[dict[str, Any]] = []
    last = len(names) - 1
    for position, vm in enumerate(topology.vms):
        vm.modules = list(modules or [])
        middle = 0 < position < last
        neighbours = [names[i] for i in (position - 1, position + 1) if 0 <= i <= last]
        for neighbour in neighbours:
            index = len(ports) + 1
            port = f"{vm.name}.{neighbour}" if middle else vm.name
            nic = _nic(port, index, addressed=address_middle or not middle)
            vm.nics.append(nic)
            ports[nic.port] = {"mac": nic.mac, "guest": vm.name}
    for left, right in pairwise(topology.vms):
        # The NIC of ``left`` that faces right is its last; the one of ``right`` its first.
        ends = [left.nics[-1].port, right.nics[0].port]
        links.append(_link(ends, link, run, flow_control, name=f"{left.name}-{right.name}"))
    topology.network = {"ports": ports, "links": links}
    return topology


def _nic(port: str, index: int, *, addressed: bool) -> NicSpec:
    """NIC number ``index`` of a lab, on ``port``: its MAC (locally administered, "rl" in
    it) and, if ``addressed``, its addresses in the lab's one subnet."""
    if not 1 <= index <= 0xFF:
        raise ValueError(f"a lab has at most 255 NICs, not {index}")
    nic = NicSpec(port=port, mac=f"02:72:6c:00:00:{index:02x}")
    if addressed:
        nic.ip = f"{PREFIX}.{index}/15"
        nic.ip6 = f"fd72:6c::{index}/64"
    return nic


def _link(
    ends: list[str],
    settings: dict[str, Any] | None,
    run: RunDir,
    flow_control: bool,
    name: str | None = None,
) -> dict[str, Any]:
    """A link between two ends; a "pcap" setting becomes one capture file per link."""
    link: dict[str, Any] = {"ends": ends, "flow_control": flow_control, **(settings or {})}
    if name is not None:
        link["name"] = name
    if "pcap" in link:
        pcap = Path(link["pcap"])
        if name is not None:  # one file per named link (a chain's), named after it
            pcap = pcap.with_name(f"{pcap.stem}-{name}{pcap.suffix}")
        elif ends[1] == "sw0":  # one file per switch link, named after its port
            pcap = pcap.with_name(f"{pcap.stem}-{ends[0]}{pcap.suffix}")
        link["pcap"] = str(run.path / pcap)
    return link
