"""Progress display and logged command execution for long provisioning steps.

A cold set-up takes a minute or two (debootstrap, apt, image packing).  The user
sees one line per step with a spinner and the elapsed time (a rich live display
on a terminal, plain lines in CI logs); the commands' own output goes to a log
file whose tail is shown if a step fails.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn


class ProvisionError(RuntimeError):
    """A provisioning step failed; the message says which, with its log's tail."""


class Steps:
    """Named steps, each timed and shown; commands' output is appended to ``log``."""

    def __init__(self, log: Path, console: Console | None = None) -> None:
        self.log = log
        self.console = console or Console(stderr=True)
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        started = time.monotonic()
        with self._log_file() as log:
            log.write(f"\n=== {title}\n")
        if self.console.is_terminal:
            with Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            ) as progress:
                self._progress = progress
                self._task = progress.add_task(title)
                try:
                    yield
                finally:
                    self._progress = None
        else:
            self.console.print(f"[images] {title} ...", highlight=False)
            yield
        self.console.print(
            f"[green]✓[/] {title} [dim]({time.monotonic() - started:.1f} s)[/]", highlight=False
        )

    def note(self, detail: str) -> None:
        """Show a sub-step under the current step's title."""
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, description=detail)

    def run(
        self, cmd: list[str], env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> str:
        """Run ``cmd``; return its stdout; on failure raise with the log's tail."""
        with self._log_file() as log:
            log.write(f"$ {' '.join(cmd)}\n")
            log.flush()
            proc = subprocess.run(
                cmd,
                stdout=subprocess.PIPE,
                stderr=log,
                stdin=subprocess.DEVNULL,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                text=True,
                check=False,
            )
            log.write(proc.stdout[-20000:])
        if proc.returncode != 0:
            raise ProvisionError(
                f"command failed ({proc.returncode}): {' '.join(cmd)[:300]}\n"
                f"--- last lines of {self.log} ---\n{self.tail()}"
            )
        return proc.stdout

    def tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    @contextmanager
    def _log_file(self) -> Iterator[TextIO]:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "a", encoding="utf-8", errors="replace") as log:
            yield log
