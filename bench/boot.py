"""Boot to READY: QEMU start until the guest's init says READY on the command channel.

Prints ``boot_to_ready_s MEDIAN s`` (the median of several boots, one at a time),
and the spread on stderr.  Run by ``make bench``.
"""

from __future__ import annotations

import statistics
import sys

from lab import provision
from lab.runs import RunDir
from lab.topology import default_specs
from lab.vm import Lab

BOOTS = 5


def main() -> None:
    platform = provision.ensure()
    times = []
    for _ in range(BOOTS):
        with Lab(default_specs(["a"], RunDir.new("bench-boot")), platform) as lab:
            times.append(lab.start()["a"])
    print(f"boot times ({platform.accel}): " + " ".join(f"{t:.2f}" for t in times), file=sys.stderr)
    print(f"boot_to_ready_s {statistics.median(times):.2f} s")


if __name__ == "__main__":
    main()
