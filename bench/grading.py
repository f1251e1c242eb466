"""Grading throughput: ``ringlab grade-batch`` over copies of exercise 01's solution.

Grades COPIES copies (default 20) with ``--jobs 1`` and then ``--jobs 2``, each as an
instructor would run it, and prints::

    grades_per_hour_jobs1 N
    grades_per_hour_jobs2 N
    qemu_peak_rss_mb N        the largest peak resident size of one guest's QEMU
    fabric_peak_rss_mb N      the same for one lab's vNIC fabric

Every copy must score full marks (else the figures are of a broken grader: exit 1).
Peaks are read from /proc (VmHWM) of every QEMU and fabric process seen while grading.

    python bench/grading.py [--copies 20] [--exercise 01-sockets]
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from lab.grading.model import find_exercise

ROOT = Path(__file__).resolve().parents[1]


class PeakMemory(threading.Thread):
    """Polls /proc for QEMU and fabric processes and keeps each one's peak RSS (VmHWM)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peaks: dict[str, dict[int, int]] = {"qemu": {}, "fabric": {}}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.5):
            for proc in Path("/proc").iterdir():
                if not proc.name.isdigit():
                    continue
                try:
                    argv = (proc / "cmdline").read_bytes().split(b"\0")
                    status = (proc / "status").read_text()
                except OSError:
                    continue  # it ended meanwhile
                kind = (
                    "qemu"
                    if any(a.endswith(b"qemu-system-x86_64") for a in argv)
                    else "fabric"
                    if b"vnic" in argv and b"serve" in argv
                    else None
                )
                if kind is None:
                    continue
                for line in status.splitlines():
                    if line.startswith("VmHWM:"):
                        kib = int(line.split()[1])
                        pid = int(proc.name)
                        self.peaks[kind][pid] = max(self.peaks[kind].get(pid, 0), kib)

    def peak_mb(self, kind: str) -> float:
        return max(self.peaks[kind].values(), default=0) / 1024


def grade_all(exercise: str, submissions: Path, jobs: int, out: Path) -> float:
    """Seconds for one grade-batch run; every copy must get full marks."""
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "lab.cli", "grade-batch", exercise, str(submissions),
         "--jobs", str(jobs), "--out", str(out)],
        check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    seconds = time.monotonic() - started
    with open(out / "grades.csv") as f:
        rows = list(csv.DictReader(f))
    short = [r["submission"] for r in rows if not r["max_score"] or r["score"] != r["max_score"]]
    if len(rows) != sum(1 for _ in submissions.iterdir()) or short:
        sys.exit(f"not every copy got full marks with --jobs {jobs}: {short or rows}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, default=20)
    parser.add_argument("--exercise", default="01-sockets")
    args = parser.parse_args()
    exercise = find_exercise(args.exercise)
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        work = Path(tmp)
        submissions = work / "submissions"
        for i in range(args.copies):
            shutil.copytree(exercise.solution, submissions / f"student{i:03d}")
        memory = PeakMemory()
        memory.start()
        rates = {}
        for jobs in (1, 2):
            seconds = grade_all(exercise.name, submissions, jobs, work / f"grades-{jobs}")
            rates[jobs] = args.copies / seconds * 3600
            print(f"--jobs {jobs}: {args.copies} grades in {seconds:.0f} s", file=sys.stderr)
        memory.done.set()
        memory.join()
    for jobs, rate in rates.items():
        print(f"grades_per_hour_jobs{jobs} {rate:.0f}")
    print(f"qemu_peak_rss_mb {memory.peak_mb('qemu'):.0f}")
    print(f"fabric_peak_rss_mb {memory.peak_mb('fabric'):.0f}")


if __name__ == "__main__":
    main()
