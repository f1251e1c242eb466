"""What an exercise, a check and a check's result are: plain data, no pytest, no VMs.

An exercise is a folder ``exercises/NN-name/``::

    exercise.toml    title, guests, topology (the lab the checks need)
    handout.rst      the student's page (also in the course site)
    solution/        the reference solution, with ``TODO N`` ... ``END TODO N`` regions
    starter/         GENERATED from solution/ by ``make starters``: regions become stubs
    checks/          pytest files ``check_*.py``; each test carries ``@pytest.mark.check``
"""

from __future__ import annotations

import enum
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lab.topology import PROJECT

EXERCISES = PROJECT / "exercises"
#: The labs an exercise can ask for in ``[lab] topology``.
TOPOLOGIES = ("none", "wired", "chain")
#: What a check may print into a report: enough for a traceback, not for a flood.
OUTPUT_CAP = 4000


class ExerciseError(LookupError):
    """No such exercise, or its folder is malformed."""


@dataclass(frozen=True)
class Exercise:
    """One exercise folder and what its ``exercise.toml`` says."""

    path: Path
    title: str
    vms: tuple[str, ...] = ("a",)
    #: The guests are on vNIC ports (a ``wired`` or ``chain`` topology).
    wired: bool = False
    modules: tuple[str, ...] = ()
    #: How the guests are linked (:data:`TOPOLOGIES`): "none" (no vNIC), "wired" (one wire,
    #: :func:`lab.topology.wired`) or "chain" (a row, :func:`lab.topology.chain`; a middle
    #: guest has one NIC facing each neighbour).  ``wired = true`` alone means "wired".
    topology: str = "none"
    #: Copies of the submission larger than this are refused (a grader is not a file store).
    max_submission_bytes: int = 20_000_000
    #: Project files or folders (relative paths) the graded guests see at their usual
    #: place under /mnt/project besides the usual ones, e.g. an earlier exercise's
    #: reference program that this one is measured against.
    guest_files: tuple[str, ...] = ()
    #: The links have flow control (:mod:`lab.topology`); false for an exercise that
    #: studies what a receiver loses for want of a free RX descriptor.
    flow_control: bool = True

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def solution(self) -> Path:
        return self.path / "solution"

    @property
    def starter(self) -> Path:
        return self.path / "starter"

    @property
    def checks(self) -> Path:
        return self.path / "checks"

    @property
    def handout(self) -> Path:
        return self.path / "handout.rst"

    @classmethod
    def load(cls, path: Path) -> Exercise:
        meta_file = path / "exercise.toml"
        if not meta_file.is_file():
            raise ExerciseError(f"{path} is not an exercise: it has no exercise.toml")
        meta = tomllib.loads(meta_file.read_text())
        lab = meta.get("lab", {})
        topology = str(lab.get("topology", "wired" if lab.get("wired", False) else "none"))
        if topology not in TOPOLOGIES:
            raise ExerciseError(
                f"{meta_file}: topology {topology!r} is not one of {', '.join(TOPOLOGIES)}"
            )
        if topology == "none" and lab.get("wired", False):
            raise ExerciseError(f'{meta_file}: wired = true contradicts topology = "none"')
        flow_control = lab.get("flow_control", True)
        if not isinstance(flow_control, bool):
            raise ExerciseError(f"{meta_file}: flow_control must be true or false")
        return cls(
            path=path.resolve(),
            title=str(meta.get("title", path.name)),
            vms=tuple(lab.get("vms", ["a"])),
            wired=topology != "none",
            modules=tuple(lab.get("modules", [])),
            topology=topology,
            max_submission_bytes=int(meta.get("max_submission_bytes", 20_000_000)),
            guest_files=tuple(str(f) for f in lab.get("guest_files", [])),
            flow_control=flow_control,
        )


def find_exercise(name: str, root: Path = EXERCISES) -> Exercise:
    """``01``, ``01-sockets`` or a path to an exercise folder."""
    candidate = Path(name)
    if (candidate / "exercise.toml").is_file():
        return Exercise.load(candidate)
    matches = sorted(
        p
        for p in (root.iterdir() if root.is_dir() else [])
        if (p / "exercise.toml").is_file() and (p.name == name or p.name.split("-")[0] == name)
    )
    if not matches:
        known = sorted(p.parent.name for p in root.glob("*/exercise.toml")) if root.is_dir() else []
        raise ExerciseError(f"no exercise {name!r} (known: {', '.join(known) or 'none'})")
    return Exercise.load(matches[0])


def all_exercises(root: Path = EXERCISES) -> list[Exercise]:
    return [Exercise.load(p.parent) for p in sorted(root.glob("*/exercise.toml"))]


class Status(enum.StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    #: Not run because a check it depends on did not pass (not a crash, not a zero by fault).
    NOT_RUN = "not run"


@dataclass(frozen=True)
class CheckSettings:
    """One check's effective settings (marker beats option, option beats env and ini)."""

    points: float = 1.0
    timeout: float = 60.0
    hint: str = ""
    visible: bool = True
    depends: tuple[str, ...] = ()
    step: int | None = None


@dataclass
class Measurement:
    name: str
    value: float
    unit: str = ""
    #: Goes to the Gradescope leaderboard; ``order`` is "desc" when bigger is better.
    leaderboard: bool = False
    order: str = "desc"


@dataclass
class CheckResult:
    name: str
    title: str
    settings: CheckSettings
    status: Status
    score: float
    output: str = ""
    seconds: float = 0.0
    measurements: list[Measurement] = field(default_factory=list)

    @property
    def max_score(self) -> float:
        return self.settings.points

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["status"] = str(self.status)
        out["max_score"] = self.max_score
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CheckResult:
        settings = dict(data["settings"])
        settings["depends"] = tuple(settings.get("depends", ()))
        return cls(
            name=data["name"],
            title=data["title"],
            settings=CheckSettings(**settings),
            status=Status(data["status"]),
            score=float(data["score"]),
            output=data.get("output", ""),
            seconds=float(data.get("seconds", 0.0)),
            measurements=[Measurement(**m) for m in data.get("measurements", [])],
        )


@dataclass
class GradeReport:
    """Everything one grade produced; reports are views of this."""

    exercise: str
    submission: str
    results: list[CheckResult] = field(default_factory=list)
    execution_time: float = 0.0
    run_dir: str = ""
    #: Problems outside any check (the lab did not boot, the checks did not load).
    errors: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        return sum(r.score for r in self.results)

    @property
    def max_score(self) -> float:
        return sum(r.max_score for r in self.results)

    def measurements(self) -> list[Measurement]:
        return [m for r in self.results for m in r.measurements]

    def to_json(self) -> dict[str, Any]:
        return {
            "exercise": self.exercise,
            "submission": self.submission,
            "score": self.score,
            "max_score": self.max_score,
            "execution_time": round(self.execution_time, 2),
            "run_dir": self.run_dir,
            "errors": self.errors,
            "results": [r.to_json() for r in self.results],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GradeReport:
        return cls(
            exercise=data["exercise"],
            submission=data["submission"],
            results=[CheckResult.from_json(r) for r in data["results"]],
            execution_time=float(data.get("execution_time", 0.0)),
            run_dir=data.get("run_dir", ""),
            errors=list(data.get("errors", [])),
        )


def cap(text: str, limit: int = OUTPUT_CAP) -> str:
    """Keep the head and the tail of a long text: a traceback's end matters most."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[... {len(text) - limit} characters cut ...]\n{text[-half:]}"
