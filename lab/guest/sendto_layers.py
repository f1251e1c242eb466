"""Where one sendto() of a small UDP datagram spends its time in this guest's kernel.

    python3 sendto_layers.py --dest 198.18.0.2:9 [--count 2000] [--size 64]

The lecture splits a sendto() into five costs; this measures each on Linux, in the guest:

1. ``__sys_sendto`` and everything under it are timed by ftrace's function_graph tracer,
   limited to the functions below (``set_ftrace_filter``: untraced functions cost nothing)
   and to this process (``set_ftrace_pid``);
2. a sendto() and a getppid() (the cheapest system call) are timed from user space,
   untraced, each against an empty Python call, for the total and the entry/exit cost.

Prints one JSON line: the median duration of each traced function per datagram, the
user-space times, and the layers::

    syscall  entering and leaving the kernel: getppid() minus an empty call
    skb      allocating the socket buffer (sock_alloc_send_pskb)
    copy     the payload from user memory (ip_generic_getfrag)
    route    the route lookup (ip_route_output_flow)
    driver   queueing discipline, driver and doorbell (__dev_queue_xmit)
    rest     the socket and UDP/IP layers' own work: __sys_sendto minus the above

Tracing slows what it traces (each traced call pays for its hooks); the untraced total is
reported beside the traced one so that the difference shows.  Needs root (tracefs).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import time
from pathlib import Path

TRACING = Path("/sys/kernel/tracing")
#: The functions traced, outermost first.
FUNCTIONS = (
    "__sys_sendto",
    "udp_sendmsg",
    "ip_route_output_flow",
    "sock_alloc_send_pskb",
    "ip_generic_getfrag",
    "ip_send_skb",
    "__dev_queue_xmit",
)
#: A closing line of function_graph: "  12.345 us  |  } /* name */" or a leaf "name();".
LINE = re.compile(r"(\d+\.\d+) us\s*\|\s*(?:\}\s*/\*\s*(\w+)\s*\*/|(\w+)\(\);)")


def write(name: str, value: str) -> None:
    (TRACING / name).write_text(value)


def trace_sends(
    sock: socket.socket, dest: tuple[str, int], data: bytes, count: int
) -> dict[str, list[float]]:
    """Send ``count`` datagrams under the tracer; each traced function's durations (us)."""
    if not (TRACING / "trace").exists():  # the guest's init mounts no tracefs
        subprocess.run(["mount", "-t", "tracefs", "nodev", str(TRACING)], check=True)
    available = set((TRACING / "available_filter_functions").read_text().split())
    traced = [f for f in FUNCTIONS if f in available]
    write("tracing_on", "0")
    write("current_tracer", "nop")
    write("trace", "")
    write("set_ftrace_filter", "\n".join(traced))
    write("set_ftrace_pid", str(os.getpid()))
    write("current_tracer", "function_graph")
    write("trace_options", "funcgraph-tail")  # a tracer's options exist once it is chosen
    write("tracing_on", "1")
    try:
        for _ in range(count):
            sock.sendto(data, dest)
    finally:
        write("tracing_on", "0")
    durations: dict[str, list[float]] = {f: [] for f in traced}
    for line in (TRACING / "trace").read_text().splitlines():
        if match := LINE.search(line):
            name = match[2] or match[3]
            if name in durations:
                durations[name].append(float(match[1]))
    write("current_tracer", "nop")
    write("set_ftrace_filter", "")
    write("set_ftrace_pid", "")
    write("trace", "")
    return durations


def user_times(
    sock: socket.socket, dest: tuple[str, int], data: bytes, count: int
) -> dict[str, float]:
    """Median microseconds of one untraced sendto(), getppid() and empty call."""

    def median_us(call: object) -> float:
        samples = []
        for _ in range(count):
            started = time.perf_counter_ns()
            call()  # type: ignore[operator]
            samples.append(time.perf_counter_ns() - started)
        return statistics.median(samples) / 1000

    return {
        "sendto": median_us(lambda: sock.sendto(data, dest)),
        "getppid": median_us(os.getppid),
        "empty": median_us(lambda: None),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dest", required=True)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    host, port = args.dest.rsplit(":", 1)
    # Unconnected, as in the lecture's table: every sendto() looks the route up again.
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dest = (host, int(port))
    data = bytes(args.size)
    user = user_times(sock, dest, data, args.count)
    traced = trace_sends(sock, dest, data, args.count)
    med = {name: statistics.median(v) if v else 0.0 for name, v in traced.items()}
    layers = {
        "syscall": max(0.0, user["getppid"] - user["empty"]),
        "skb": med.get("sock_alloc_send_pskb", 0.0),
        "copy": med.get("ip_generic_getfrag", 0.0),
        "route": med.get("ip_route_output_flow", 0.0),
        "driver": med.get("__dev_queue_xmit", 0.0),
    }
    within = sum(v for k, v in layers.items() if k != "syscall")
    layers["rest"] = max(0.0, med.get("__sys_sendto", 0.0) - within)
    print(
        json.dumps(
            {
                "count": args.count,
                "size": args.size,
                "functions_us": med,
                "calls": {name: len(v) for name, v in traced.items()},
                "user_us": user,
                "untraced_total_us": user["sendto"] - user["empty"],
                "traced_total_us": layers["syscall"] + med.get("__sys_sendto", 0.0),
                "layers_us": layers,
            }
        )
    )


if __name__ == "__main__":
    main()
