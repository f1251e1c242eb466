"""``ringlab exercise NN``: walk a student through an exercise, one step at a time.

One lab is booted for the whole walk (steps reuse it; a step that kills a guest
gets a fresh one).  Before each step the student's working copy is staged again,
so an edit made between steps (or before pressing ``r``) is what runs.  A step is
the solution's ``TODO N``: its goal comes from the handout's "Step N" paragraph,
its checks are those marked ``step=N`` (plus the step-less ones, such as "the
program parses", that every step needs).  After a step the student sees what was
measured and, on failure, the hint and where to look: the guest's console
transcript and kernel log, captures, the device's counters.
"""

from __future__ import annotations

import os
import sys
import termios
import tty
from pathlib import Path

from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from lab.grading import reports, runner
from lab.grading.model import Exercise, GradeReport, Status
from lab.grading.session import GradingSession, stage_submission
from lab.grading.starter import BEGIN
from lab.handout import inline, render, step_section

console = Console(stderr=True)


def steps_of(exercise: Exercise) -> dict[int, str]:
    """Step number -> the solution's TODO hint, in order."""
    found: dict[int, str] = {}
    for source in sorted(exercise.solution.rglob("*")):
        if source.is_file() and source.suffix in (".py", ".sh", ".c"):
            for line in source.read_text(errors="replace").splitlines():
                if match := BEGIN.match(line):
                    found.setdefault(int(match["step"]), match["hint"].strip())
    return dict(sorted(found.items()))


def goal(exercise: Exercise, step: int) -> tuple[Text, Text]:
    """The heading of the handout's section for step ``step`` and its text, rendered for
    the terminal (both empty when the handout has no such step)."""
    heading, body = step_section(exercise.handout, step)
    return inline(heading), render(body)


def where_to_look(session: GradingSession) -> Table:
    run = session.lab.run_dir.path
    grid = Table(show_header=False, box=None)
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    for vm in session.exercise.vms:
        grid.add_row(f"{vm}: commands and output", str(run / vm / "console.log"))
        grid.add_row(f"{vm}: kernel log", str(run / vm / "serial.log"))
    for pcap in sorted(run.rglob("*.pcap")):
        grid.add_row("capture", str(pcap))
    if session.exercise.wired and not session.lab.capture:
        grid.add_row("capture", "none: run again with --pcap to record the wire's frames")
    if session.lab.lab is not None and session.lab.lab.fabric is not None:
        try:
            ports = session.lab.port_counters()
        except (OSError, ValueError, KeyError) as error:
            grid.add_row("counters", f"unavailable: {error}")
        else:
            for name, port in ports.items():
                device = port.get("device", {})
                grid.add_row(
                    f"port {name}",
                    f"tx {port.get('tx_frames')} rx {port.get('rx_frames')} frames, "
                    f"{device.get('doorbells', '?')} doorbells, "
                    f"{device.get('interrupts', '?')} interrupts",
                )
    return grid


def show(session: GradingSession, report: GradeReport) -> None:
    console.print(reports.table(report))
    for result in report.results:
        if result.status is Status.PASSED:
            continue
        body = result.output.strip() or "(no message)"
        if result.settings.hint:
            body += f"\n\n[bold]hint:[/] {result.settings.hint}"
        console.print(Panel(body, title=f"{result.title}: {result.status}", border_style="red"))
    if any(r.status is not Status.PASSED for r in report.results):
        console.print(Panel(where_to_look(session), title="where to look"))


def read_key(fd: int) -> str:
    """One key press from the terminal ``fd``, without waiting for Enter (cbreak mode, so
    Ctrl-C still interrupts): "" for Enter, "q" for end of input, else the key, lower-case."""
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd, termios.TCSANOW)  # the default, TCSAFLUSH, would drop a key typed
        key = os.read(fd, 1).decode(errors="replace")
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
    if key in ("", "\x04"):  # end of input, or Ctrl-D
        return "q"
    return "" if key in ("\r", "\n") else key.lower()


def ask(prompt: str) -> str:
    """The answer at a step prompt: one key. Without a terminal (a script, CI): Enter."""
    if not sys.stdin.isatty():
        return ""
    termios.tcflush(sys.stdin.fileno(), termios.TCIFLUSH)  # keys pressed while checks ran
    console.print(prompt, end="")
    key = read_key(sys.stdin.fileno())
    console.print(key)
    return key


def walk(
    exercise: Exercise,
    workdir: Path | None = None,
    step: int | None = None,
    hidden: Path | None = None,
    capture: bool = False,
) -> int:
    """Run the steps (or one); return 0 when every check of them passed. ``capture``
    records the wire's frames to pcap files (listed under "where to look")."""
    workdir = (workdir or Path.cwd() / exercise.name).resolve()
    if not workdir.is_dir():
        console.print(
            f"[red]no working copy at {workdir}[/]: make one with "
            f"`ringlab starter {exercise.name} --into {workdir}`, or pass --workdir"
        )
        return 2
    steps = steps_of(exercise)
    chosen = [step] if step is not None else list(steps)
    console.print(Panel(f"{exercise.title}\nworking copy: {workdir}", title=exercise.name))
    session = GradingSession.create(exercise, workdir, f"exercise-{exercise.name}", capture)
    all_passed = True
    try:
        console.print("booting the lab (once for every step) ...")
        session.lab.ensure()
        index = 0
        while index < len(chosen):
            number = chosen[index]
            heading, text = goal(exercise, number)
            console.rule(heading if heading.plain else f"Step {number}: {steps.get(number, '')}")
            if text.plain:
                console.print(Panel(text, title="goal", border_style="blue"))
            stage_submission(workdir, session.submission, exercise.max_submission_bytes)
            report = runner.run_checks(session, hidden, ["--step", str(number)])
            show(session, report)
            passed = bool(report.results) and all(r.status is Status.PASSED for r in report.results)
            answer = ask(
                "[dim]Enter: next step, r: run this step again, q: quit[/] "
                if index + 1 < len(chosen)
                else "[dim]Enter: finish, r: run this step again[/] "
            )
            if answer == "r":
                continue
            all_passed = all_passed and passed
            if answer == "q":
                break
            index += 1
    finally:
        session.close()
    console.print(f"logs of this walk: {session.lab.run_dir.path}", soft_wrap=True)
    return 0 if all_passed else 1
