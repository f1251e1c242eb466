"""One grading session: a staged copy of the submission, a lab that reboots when killed,
and student programs run in a guest without trusting them.

Why a staged copy: the grader must not write into a student's folder, yet checks
put fresh data beside the student's code (input files with random content that
cannot be hard-coded), and a student must not change files while being graded.
The guest sees the copy read-only at ``/mnt/submission``.

Why programs run the way they do (:meth:`GradingLab.run`): every student program
runs under the guest's ``timeout`` (SIGTERM, then SIGKILL) with its output piped
through ``head -c``, so a hang costs its check's time budget and nothing more, a
flood is cut at a cap (and the flooding program dies of SIGPIPE), and the command
channel never carries megabytes.  A program that kills the guest (``echo c >
/proc/sysrq-trigger``, a kernel oops) fails its check; the next check boots a
fresh lab.

A :class:`GradingSession` is what the checks of one grade share: the exercise, the
staged submission and its :class:`GradingLab`.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab import provision
from lab.console import CommandTimeout, ConsoleError
from lab.grading.model import Exercise
from lab.provision import Platform
from lab.runs import RunDir
from lab.topology import PROJECT, Topology, chain, default_specs, wired
from lab.vm import Lab, VmError

#: Bytes of a program's output kept (the rest is discarded in the guest).
PROGRAM_OUTPUT_CAP = 64 * 1024
GUEST_SUBMISSION = "/mnt/submission"
GUEST_OUTPUT = "/mnt/output"
#: Seconds the console waits beyond a program's own timeout before it interrupts.
CONSOLE_GRACE = 10.0


class SubmissionError(ValueError):
    """The submission cannot be graded at all (missing, too large)."""


#: JSON lines a program prints to say it started (not its report).
STARTED_KEYS = frozenset({"listening", "forwarding"})


def syscall_counts(text: str) -> dict[str, int] | None:
    """The ``@@syscalls name=N ... total=N`` line that exercise 01's ``syscount.sh`` prints
    when the program it counted ends, as numbers; None if ``text`` has none."""
    match = re.search(r"^@@syscalls (.*)$", text, re.M)
    if not match:
        return None
    return {k: int(v) for k, v in (pair.split("=") for pair in match.group(1).split())}


@dataclass(frozen=True)
class ProgramRun:
    """What a student program did: exit status, capped output, and why it stopped."""

    command: str
    status: int
    output: str
    seconds: float
    timed_out: bool = False
    truncated: bool = False
    #: The guest died while the program ran; ``output`` holds the kernel log's tail.
    guest_died: bool = False

    @property
    def ok(self) -> bool:
        return self.status == 0 and not self.timed_out and not self.guest_died

    def report(self, who: str) -> dict[str, Any]:
        """The last JSON object the program printed that is not a "started" line: its
        report. ``who`` names the program in the failure message if there is none."""
        for line in reversed(self.output.strip().splitlines()):
            if line.startswith("{"):
                try:
                    found = json.loads(line)
                except ValueError:
                    continue
                if isinstance(found, dict) and not STARTED_KEYS & set(found):
                    return found
        raise AssertionError(f"{who} printed no JSON report: {self.explain()}")

    def syscalls(self) -> dict[str, int]:
        """What ``syscount.sh`` counted of the program (it ran under the counter)."""
        counts = syscall_counts(self.output)
        assert counts is not None, f"the system-call counter did not report: {self.explain()}"
        return counts

    def explain(self) -> str:
        """One line a student can act on (for assertion messages)."""
        if self.guest_died:
            return (
                f"the guest died while running `{self.command}` (a kernel crash?); "
                f"the kernel's last words:\n{_tail(self.output, 6)}"
            )
        if self.timed_out:
            return f"`{self.command}` did not finish within {self.seconds:.0f} s and was killed"
        text = f"`{self.command}` exited with status {self.status}"
        if self.truncated:
            text += f" after printing more than {PROGRAM_OUTPUT_CAP} bytes (output cut)"
        tail = _tail(self.output, 3 if self.truncated else 12)
        return f"{text}\n{tail}" if tail else text


def stage_submission(source: Path, dest: Path, max_bytes: int) -> Path:
    """Copy ``source`` into ``dest`` (emptied first); symlinks are not followed."""
    if not source.is_dir():
        raise SubmissionError(f"submission {source} is not a directory")
    total = sum(p.stat().st_size for p in source.rglob("*") if p.is_file() and not p.is_symlink())
    if total > max_bytes:
        raise SubmissionError(f"submission {source} holds {total} bytes (limit {max_bytes})")
    if dest.exists():
        for child in dest.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    dest.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", ".git", "*.pyc")
    shutil.copytree(source, dest, symlinks=True, ignore=ignore, dirs_exist_ok=True)
    return dest


def stage_project_view(exercise: Exercise, dest: Path) -> Path:
    """What a graded guest sees at ``/mnt/project``: the exercise's guest-side check tools,
    the lab's guest programs and the netmap bindings a submission programs against
    (``import vnic.netmap``), and the ``guest_files`` its exercise.toml names, at their usual
    paths; never its reference solution nor the checks' host code, which a submission
    could otherwise read or import."""
    try:
        exercise_dir = exercise.path.resolve().relative_to(PROJECT)
    except ValueError:  # an exercise kept outside the project
        exercise_dir = Path("exercises") / exercise.name
    wanted = {
        exercise.checks / "tools": dest / exercise_dir / "checks" / "tools",
        PROJECT / "lab" / "guest": dest / "lab" / "guest",
        PROJECT / "vnic" / "netmap": dest / "vnic" / "netmap",
        **{PROJECT / name: dest / name for name in exercise.guest_files},
    }
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for source, target in wanted.items():
        if source.is_dir():
            shutil.copytree(source, target, ignore=ignore)
        elif source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    (dest / "vnic" / "__init__.py").touch()  # a package, as in the project: vnic.netmap
    return dest


class GradingLab:
    """The exercise's lab, booted on first use and booted afresh when a guest died."""

    def __init__(
        self,
        exercise: Exercise,
        platform: Platform,
        run: RunDir,
        submission: Path,
        capture: bool = False,
    ) -> None:
        self.exercise = exercise
        #: Capture the wire to pcap files in the run directory (costs the fabric CPU per
        #: frame, so grades, which measure, leave it off).
        self.capture = capture
        self.platform = platform
        self.run_dir = run
        self.submission = submission
        self.lab: Lab | None = None
        self.boots = 0
        self.boot_seconds: float = 0.0
        #: A check overran its budget on the host side: probe the channel before reuse.
        self.suspect = False

    def topology(self) -> Topology:
        ex = self.exercise
        view = stage_project_view(ex, self.run_dir.path / "project")
        link = {"pcap": "wire.pcap"} if self.capture else None
        builders: dict[str, Callable[..., Topology]] = {"chain": chain, "wired": wired}
        builder = builders.get(ex.topology)
        if builder is not None:  # pcap: one capture per link (wire-a-m.pcap ...)
            return builder(
                list(ex.vms),
                self.run_dir,
                modules=list(ex.modules),
                link=link,
                flow_control=ex.flow_control,
                submission=self.submission,
                project=view,
            )
        topology = default_specs(list(ex.vms), self.run_dir, self.submission, view)
        for vm in topology.vms:
            vm.modules = list(ex.modules)
        return topology

    def ensure(self) -> Lab:
        """A usable lab: the running one if every guest answers, else a fresh one."""
        if self.lab is not None and not self._usable():
            self.stop()
        if self.lab is None:
            lab = Lab(self.topology(), self.platform)
            self.lab = lab  # stopped by stop() even if start() fails half-way
            started = time.monotonic()
            lab.start()
            self.boots += 1
            self.boot_seconds += time.monotonic() - started
        return self.lab

    def _usable(self) -> bool:
        assert self.lab is not None
        for vm in self.lab.vms.values():
            if not vm.alive or vm.console is None or vm.console.broken:
                return False
        if self.suspect:
            self.suspect = False
            try:
                return all(vm.run("true", timeout=10).ok for vm in self.lab.vms.values())
            except (ConsoleError, VmError):
                return False
        return True

    def stop(self) -> None:
        if self.lab is not None:
            lab, self.lab = self.lab, None
            lab.stop()

    def output_dir(self, vm: str) -> Path:
        """The host side of ``vm``'s ``/mnt/output`` share."""
        return self.run_dir.path / vm / "output"

    # -- running student programs --------------------------------------------------------

    def run(
        self, vm: str, command: str, timeout: float, cap: int = PROGRAM_OUTPUT_CAP
    ) -> ProgramRun:
        """Run ``command`` in ``vm`` (cwd /tmp) under ``timeout`` with output capped."""
        lab = self.ensure()
        rc = "/tmp/.rl-rc"
        line = (
            f"cd /tmp; rm -f {rc}; ( timeout -k 2 {timeout:.1f} sh -c {shlex.quote(command)}; "
            f"echo $? > {rc} ) 2>&1 | head -c {cap}; "
            f"printf '\\n@@rc %s\\n' \"$(cat {rc} 2>/dev/null || echo 255)\""
        )
        started = time.monotonic()
        try:
            result = lab[vm].run(line, timeout=timeout + CONSOLE_GRACE)
        except CommandTimeout as error:
            return ProgramRun(command, 124, error.output[-cap:], timeout, timed_out=True)
        except (VmError, ConsoleError) as error:
            self.stop()  # the next check boots a fresh lab
            return ProgramRun(
                command, 255, _kernel_tail(str(error)), time.monotonic() - started, guest_died=True
            )
        body, _, tail = result.output.rpartition("\n@@rc ")
        status = int(tail.strip()) if tail.strip().isdigit() else 255
        return ProgramRun(
            command,
            status,
            body,
            result.seconds,
            timed_out=status in (124, 137),
            truncated=len(body.encode(errors="replace")) >= cap,
        )

    def start(self, vm: str, command: str, timeout: float, tag: str) -> None:
        """Start ``command`` in the background in ``vm`` (a receiver, a server).

        The pid file names the ``timeout`` process: stopping it forwards the signal to
        the program (``timeout`` runs it in a process group of its own, so killing
        our group would miss it).  Output goes through ``head -c`` like :meth:`run`'s.
        """
        lab = self.ensure()
        base = f"/tmp/.rl-bg-{tag}"
        inner = (
            f"( timeout -k 2 {timeout:.1f} sh -c {shlex.quote(command)} 2>&1 & "
            f"echo $! > {base}.pid; wait $!; echo $? > {base}.rc ) "
            f"| head -c {PROGRAM_OUTPUT_CAP} > {base}.out; : > {base}.done"
        )
        lab[vm].run(
            f"rm -f {base}.*; setsid sh -c {shlex.quote(inner)} </dev/null >/dev/null 2>&1 & "
            f"while [ ! -s {base}.pid ]; do sleep 0.05; done",
            timeout=15,
        )

    def collect(self, vm: str, tag: str, timeout: float, stop: bool = False) -> ProgramRun:
        """Wait for a background program (or stop it first) and return what it did.

        Its status (``.rc``) is written before ``head`` has written the last output:
        ``.done`` says the output is complete.  A child the program left holding the
        pipe keeps ``.done`` away, so that wait is short."""
        base = f"/tmp/.rl-bg-{tag}"
        lab = self.ensure()
        kill = f"kill -TERM $(cat {base}.pid) 2>/dev/null; " if stop else ""
        waited = max(1.0, timeout)
        line = (
            f"{kill}end=$(( $(date +%s) + {int(waited + 0.999)} )); "
            f"while [ ! -e {base}.rc ] && [ $(date +%s) -lt $end ]; do sleep 0.1; done; "
            f"[ -e {base}.rc ] || kill -KILL $(cat {base}.pid) 2>/dev/null; "
            f"for _ in 1 2 3 4; do [ -e {base}.done ] && break; sleep 0.05; done; "
            f"cat {base}.out; printf '\\n@@rc %s\\n' \"$(cat {base}.rc 2>/dev/null "
            '|| echo 124)"'
        )
        started = time.monotonic()
        try:
            result = lab[vm].run(line, timeout=waited + CONSOLE_GRACE)
        except (VmError, ConsoleError) as error:
            self.stop()
            return ProgramRun(
                tag, 255, _kernel_tail(str(error)), time.monotonic() - started, guest_died=True
            )
        body, _, tail = result.output.rpartition("\n@@rc ")
        status = int(tail.strip()) if tail.strip().isdigit() else 255
        return ProgramRun(
            tag,
            status,
            body,
            result.seconds,
            timed_out=status == 124 and not stop,
            truncated=len(body.encode(errors="replace")) >= PROGRAM_OUTPUT_CAP,
        )

    def port_counters(self) -> dict[str, Any]:
        """The fabric's per-port counters, read on the host (the truth a check trusts)."""
        lab = self.ensure()
        if lab.fabric is None:
            return {}
        return dict(lab.fabric.stats()["stats"]["ports"])


def delta(before: dict[str, Any], after: dict[str, Any], port: str, key: str) -> int:
    """Growth of a port counter between two :meth:`GradingLab.port_counters` snapshots,
    or of its device's counter (``device.NAME``); a counter that is absent counts 0."""

    def read(stats: dict[str, Any]) -> int:
        node: Any = stats[port]
        for part in key.split("."):
            node = node.get(part, 0) if isinstance(node, dict) else 0
        return int(node)

    return read(after) - read(before)


class GradingSession:
    """What the checks of one grade share: exercise, staged submission, the lab.

    The runner and the exercise driver make one and hand it to pytest as a plugin
    named :data:`lab.grading.plugin.SESSION_PLUGIN`; run standalone, the plugin makes
    its own.
    """

    def __init__(self, exercise: Exercise, submission: Path, lab: GradingLab) -> None:
        self.exercise = exercise
        #: The staged copy (host side); the guest sees it at /mnt/submission.
        self.submission = submission
        self.lab = lab

    @classmethod
    def create(
        cls, exercise: Exercise, source: Path, label: str, capture: bool = False
    ) -> GradingSession:
        run = RunDir.new(label)
        staged = stage_submission(source, run.path / "submission", exercise.max_submission_bytes)
        lab = GradingLab(exercise, provision.ensure(), run, staged, capture=capture)
        return cls(exercise, staged, lab)

    def close(self) -> None:
        self.lab.stop()

    def assert_python_parses(self, names: tuple[str, ...]) -> None:
        """Every file ``names`` of the submission is there and is valid Python (the failure
        names the file and line, as python3 would)."""
        for name in names:
            source = self.submission / name
            assert source.is_file(), f"{name} is missing from the submission"
            try:
                ast.parse(source.read_text(errors="replace"), filename=name)
            except SyntaxError as error:
                raise AssertionError(f"{name} line {error.lineno}: {error.msg}") from None


def _tail(text: str, lines: int, width: int = 160) -> str:
    """The last ``lines`` lines of ``text``, each cut at ``width`` characters."""
    kept = text.strip().splitlines()[-lines:]
    return "\n".join(line if len(line) <= width else line[:width] + " [...]" for line in kept)


def _kernel_tail(message: str) -> str:
    marker = "--- kernel log (tail) ---"
    return message[message.find(marker) :] if marker in message else message
