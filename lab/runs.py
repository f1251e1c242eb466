"""Per-run log directories: every lab run keeps its logs where a student can find them.

``$RINGLAB_RUNS``, else ``$XDG_STATE_HOME/ringlab/runs``, else
``~/.local/state/ringlab/runs``; one directory per run, named by time and
purpose, holding one folder per VM (``serial.log`` = kernel log and serial
console, ``console.log`` = the command channel transcript, ``qemu.log``,
``qemu.cmdline``).  Only the newest runs are kept.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

KEEP = 40


def runs_root() -> Path:
    if env := os.environ.get("RINGLAB_RUNS"):
        return Path(env)
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "ringlab" / "runs"


@dataclass(frozen=True)
class RunDir:
    path: Path

    @classmethod
    def new(cls, label: str) -> RunDir:
        root = runs_root()
        root.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = Path(tempfile.mkdtemp(prefix=f"{stamp}-{label}-", dir=root))
        prune(root)
        return cls(path)


def prune(root: Path, keep: int = KEEP) -> None:
    runs = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    for old in runs[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
