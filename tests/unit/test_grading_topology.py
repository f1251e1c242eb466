"""An exercise's ``[lab] topology``: "wired" from ``wired = true`` (exercise 01, unchanged),
"chain" for a middlebox between two guests (exercise 02), refused when unknown; and what a
graded guest sees of the project."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.grading.model import Exercise, ExerciseError, find_exercise
from lab.grading.session import GradingLab, stage_project_view
from lab.runs import RunDir


def test_wired_true_still_means_one_wire() -> None:
    sockets = find_exercise("01-sockets")
    assert sockets.topology == "wired" and sockets.wired


def test_a_chain_puts_m_between_a_and_b(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RINGLAB_RUNS", str(tmp_path / "runs"))
    netmap = find_exercise("02-netmap")
    assert netmap.topology == "chain" and netmap.wired and netmap.vms == ("a", "m", "b")
    run = RunDir.new("unit-chain")
    lab = GradingLab(netmap, platform=None, run=run, submission=tmp_path)  # type: ignore[arg-type]
    topology = lab.topology()
    assert [[nic.port for nic in vm.nics] for vm in topology.vms] == [["a"], ["m.a", "m.b"], ["b"]]
    assert {link["name"] for link in topology.network["links"]} == {"a-m", "m-b"}


@pytest.mark.parametrize(
    ("lab", "message"),
    [('topology = "ring"', "not one of none, wired, chain"),
     ('wired = true\ntopology = "none"', "contradicts")],
)  # fmt: skip
def test_a_wrong_topology_is_refused(tmp_path: Path, lab: str, message: str) -> None:
    (tmp_path / "exercise.toml").write_text(f'title = "x"\n[lab]\n{lab}\n')
    with pytest.raises(ExerciseError, match=message):
        Exercise.load(tmp_path)


def test_graded_guests_see_the_bindings_but_not_the_solution(tmp_path: Path) -> None:
    view = stage_project_view(find_exercise("02-netmap"), tmp_path / "project")
    assert (view / "vnic" / "__init__.py").is_file()
    assert (view / "vnic" / "netmap" / "memory.py").is_file()
    assert (view / "exercises" / "02-netmap" / "checks" / "tools" / "sizes.py").is_file()
    assert not (view / "exercises" / "02-netmap" / "solution").exists()
    assert not (view / "exercises" / "02-netmap" / "checks" / "check_netmap.py").exists()
    assert not (view / "vnic" / "model").exists()
