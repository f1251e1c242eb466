"""What a lab is made of, as plain data: guests, their addresses and shares.

A topology is pure data (like Mininet's ``Topo``); :class:`lab.vm.Lab` makes it
live.  Guests get addresses from the benchmarking range 198.18.0.0/15, which
never leaves the lab: the vNIC fabric is not bridged to the host's network.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lab.runs import RunDir
from lab.vm import Share, VmSpec

PROJECT = Path(__file__).resolve().parent.parent
PREFIX = "198.18.0"


@dataclass
class Topology:
    vms: list[VmSpec]
    run: RunDir


def guest_spec(name: str, index: int, run: RunDir, submission: Path | None = None) -> VmSpec:
    """A guest with the project (read-only), a submission (read-only) and an output share."""
    output = run.path / name / "output"
    output.mkdir(parents=True, exist_ok=True)
    shares = [Share("project", PROJECT), Share("output", output, readonly=False)]
    if submission is not None:
        shares.append(Share("submission", submission))
    return VmSpec(
        name=name,
        mac=f"02:72:6c:00:00:{index + 1:02x}",
        ip=f"{PREFIX}.{index + 1}/15",
        ip6=f"fd72:6c::{index + 1}/64",
        shares=shares,
    )


def default_specs(names: list[str], run: RunDir, submission: Path | None = None) -> Topology:
    return Topology([guest_spec(name, i, run, submission) for i, name in enumerate(names)], run)
