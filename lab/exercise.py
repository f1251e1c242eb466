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

import re
import sys
from pathlib import Path

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from lab.grading import reports, runner
from lab.grading.model import Exercise, GradeReport, Status
from lab.grading.session import GradingSession, stage_submission
from lab.grading.starter import BEGIN

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


def goal(exercise: Exercise, step: int) -> str:
    """The handout's text for step ``step`` (reST markup left as it is), re-flowed."""
    if not exercise.handout.is_file():
        return ""
    lines = exercise.handout.read_text().splitlines()
    underline = re.compile(r"[=\-~^]{3,}")
    start = next((i for i, line in enumerate(lines) if re.match(rf"Step {step}\b", line)), None)
    if start is None:
        return ""
    body: list[str] = []
    for i in range(start, len(lines)):
        line = lines[i]
        heading = i + 1 < len(lines) and underline.fullmatch(lines[i + 1]) and line.strip()
        if i > start and (re.match(r"Step \d", line) or heading):
            break  # the next step or section
        if not underline.fullmatch(line):
            body.append(line)
    # One paragraph per blank-line block, re-flowed for the terminal.
    blocks = re.split(r"\n\s*\n", "\n".join(body).strip())
    return "\n\n".join(" ".join(block.split()) for block in blocks)


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


def ask(prompt: str) -> str:
    if not sys.stdin.isatty():
        return ""
    try:
        return console.input(prompt).strip().lower()
    except EOFError:
        return "q"


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
            text = goal(exercise, number)
            heading, _, rest = text.partition("\n\n")
            if len(heading) > 80 or not heading.startswith(f"Step {number}"):
                heading, rest = f"Step {number}: {steps.get(number, '')}", text
            console.rule(heading)
            if rest:
                console.print(Panel(rest, title="goal", border_style="blue"))
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
