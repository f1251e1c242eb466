"""What a lab is made of, as plain data: guests, their NIC ports, the wire between them.

A topology is pure data (like Mininet's ``Topo``); :class:`lab.vm.Lab` makes it
live.  Guests get addresses from the benchmarking range 198.18.0.0/15: lab
traffic never leaves the lab, because the vNIC fabric is not bridged to the
host's network.  ``wire`` is the fabric's own topology (see
:mod:`vnic.model.topology`): the vNIC ports the guests plug into and the links,
switches and host endpoints between them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.runs import RunDir

PROJECT = Path(__file__).resolve().parent.parent
PREFIX = "198.18.0"


@dataclass
class Share:
    """A host directory shown to the guest at ``/mnt/<tag>``."""

    tag: str
    path: Path
    readonly: bool = True


@dataclass
class VmSpec:
    """One guest."""

    name: str
    memory_mb: int = 512
    cpus: int = 1
    #: The vNIC port (a key of the wire's "ports") this guest's NIC plugs into.
    port: str | None = None
    mac: str | None = None
    ip: str | None = None
    ip6: str | None = None
    modules: list[str] = field(default_factory=list)
    shares: list[Share] = field(default_factory=list)
    kernel_args: list[str] = field(default_factory=list)

    def share(self, tag: str) -> Path:
        return next(s.path for s in self.shares if s.tag == tag)


@dataclass
class Topology:
    vms: list[VmSpec]
    run: RunDir
    wire: dict[str, Any] | None = None


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
    submission: Path | None = None,
    project: Path = PROJECT,
) -> Topology:
    """Guests each with a vNIC port; two guests share one link, more share a switch.

    ``link`` adds shaping/fault/pcap keys to every link; ``hosts`` adds host
    endpoints (host Python that sends and receives frames) to the switch.
    """
    topology = default_specs(names, run, submission, project)
    ports: dict[str, Any] = {}
    for index, vm in enumerate(topology.vms, start=1):
        vm.port = vm.name
        vm.modules = list(modules or [])
        vm.mac = f"02:72:6c:00:00:{index:02x}"
        vm.ip = f"{PREFIX}.{index}/15"
        vm.ip6 = f"fd72:6c::{index}/64"
        ports[vm.name] = {"mac": vm.mac}
    host_names = hosts or []
    wire: dict[str, Any] = {"ports": ports, "hosts": {h: {} for h in host_names}}
    ends = [*ports, *host_names]
    if len(ends) == 2:
        wire["links"] = [_link(ends, link, run)]
    else:
        wire["switches"] = {"sw0": {}}
        wire["links"] = [_link([end, "sw0"], link, run) for end in ends]
    topology.wire = wire
    return topology


def _link(ends: list[str], settings: dict[str, Any] | None, run: RunDir) -> dict[str, Any]:
    """A link between two ends; a "pcap" setting becomes one capture file per link."""
    link: dict[str, Any] = {"ends": ends, **(settings or {})}
    if "pcap" in link:
        pcap = Path(link["pcap"])
        if ends[1] == "sw0":  # one file per switch link, named after its port
            pcap = pcap.with_name(f"{pcap.stem}-{ends[0]}{pcap.suffix}")
        link["pcap"] = str(run.path / pcap)
    return link
