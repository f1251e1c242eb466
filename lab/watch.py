"""``ringlab watch [LAB]``: a running lab's rings, live, in the terminal.

A few times a second the view asks the fabric's control socket for its counters (one
request: the fabric's event loop answers it between two slices of device work, so the
data path does not wait for the terminal) and draws, for every vNIC port:

* each enabled queue's ring as a bar of cells, filled where the descriptors are the
  device's (TX: handed over by TDT, not yet sent; RX: armed, not yet filled), with the head
  (``H``, moved by the device) and the tail (``T``, moved by software: the doorbell);
* doorbells/s, interrupts/s, packets/s each way and drops/s, from the differences between
  two samples;

and, for every link, its shaping and faults and what the wire held or dropped.  ``q`` or
Ctrl-C ends it.
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
import termios
import time
import tty
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from vnic.model.control import control_request

CONTROL_SOCKET = "control.sock"
BAR_CELLS = 32
#: Device counters shown as rates, with the column they go to.
RATES = {
    "doorbells": "doorbells/s",
    "interrupts": "irqs/s",
    "tx_frames": "tx pps",
    "rx_frames": "rx pps",
}
DROPS = ("rx_drop_no_desc", "rx_drop_disabled", "rx_drop_dma", "tx_drop_dma", "tx_drop_link")


@dataclass(frozen=True)
class Sample:
    at: float
    stats: dict[str, Any]


def sample(fabric: Path) -> Sample:
    """One reading of every counter of the fabric whose run directory is ``fabric``."""
    reply = control_request(str(fabric / CONTROL_SOCKET), {"cmd": "stats"}, timeout=2.0)
    if not reply.get("ok"):
        raise ConnectionError(f"the fabric said: {reply.get('error')}")
    return Sample(time.monotonic(), reply["stats"])


def ring_bar(size: int, head: int, tail: int, cells: int = BAR_CELLS) -> Text:
    """The ring as ``cells`` cells: ``■`` where descriptors are the device's (from head up
    to tail), ``·`` elsewhere; ``H`` and ``T`` mark the head and the tail (``*``: both)."""
    if size <= 0:
        return Text("off", style="dim")
    used = (tail - head) % size
    first = head * cells // size
    owned = round(used * cells / size)
    text = Text()
    for cell in range(cells):
        at_head = cell == first
        at_tail = cell == (tail * cells // size) % cells
        if at_head or at_tail:
            text.append("*" if at_head and at_tail else "H" if at_head else "T", style="bold")
        elif (cell - first) % cells < owned:
            text.append("■", style="green")
        else:
            text.append("·", style="dim")
    return text


def _rate(now: Sample, then: Sample | None, counters: str, port: str, key: str) -> float:
    if then is None or now.at <= then.at:
        return 0.0
    new = now.stats["ports"][port].get(counters, {}).get(key, 0)
    old = then.stats["ports"].get(port, {}).get(counters, {}).get(key, 0)
    return max(0.0, (new - old) / (now.at - then.at))


def port_view(name: str, now: Sample, then: Sample | None) -> Panel:
    device = now.stats["ports"][name].get("device", {})
    rates = Table.grid(padding=(0, 2))
    for label in (*RATES.values(), "drops/s"):
        rates.add_column(label, justify="right")
    values = [f"{_rate(now, then, 'device', name, key):,.0f}" for key in RATES]
    drops = sum(_rate(now, then, "device", name, key) for key in DROPS)
    rates.add_row(*(Text(label, style="dim") for label in (*RATES.values(), "drops/s")))
    rates.add_row(*values, f"{drops:,.0f}")
    rings = Table(box=None, show_header=True, padding=(0, 1))
    for column in ("queue", "ring (■ the device's)", "head", "tail", "size", "in use"):
        rings.add_column(
            column, justify="left" if column.startswith(("queue", "ring")) else "right"
        )
    for kind in ("txq", "rxq"):
        queue = 0
        while f"{kind}{queue}_size" in device:
            size = device[f"{kind}{queue}_size"]
            head, tail = device[f"{kind}{queue}_head"], device[f"{kind}{queue}_tail"]
            if size:
                used = (tail - head) % size
                rings.add_row(
                    f"{kind}{queue}", ring_bar(size, head, tail), str(head), str(tail),
                    str(size), str(used),
                )  # fmt: skip
            queue += 1
    link = "link up" if device.get("link_up") else "link DOWN"
    title = f"{name}  {now.stats['ports'][name].get('mac', '')}  {link}"
    return Panel(Group(rates, rings), title=title, title_align="left")


def links_view(now: Sample) -> Table:
    table = Table(title="wire", title_justify="left", box=None, padding=(0, 1))
    for column in ("link", "direction", "frames", "dropped", "held", "pause drops", "shaping"):
        table.add_column(
            column, justify="left" if column in ("link", "direction", "shaping") else "right"
        )
    for name, link in now.stats.get("links", {}).items():
        params = link.get("params", {})
        shaping = ", ".join(
            f"{k} {v}" for k, v in params.items() if v and k not in ("queue", "seed", "pause_queue")
        )
        for direction, c in link.get("directions", {}).items():
            table.add_row(
                name, direction, str(c.get("frames", 0)),
                str(c.get("dropped", 0) + c.get("queue_drops", 0) + c.get("down_drops", 0)),
                str(c.get("held", 0)), str(c.get("pause_drops", 0)), shaping or "none",
            )  # fmt: skip
    return table


def view(lab: str, now: Sample, then: Sample | None) -> Group:
    ports = [p for p, s in now.stats["ports"].items() if s.get("kind") == "device"]
    header = Text(f"ringlab watch {lab}   (q: quit)", style="bold")
    return Group(header, *(port_view(p, now, then) for p in ports), links_view(now))


@contextlib.contextmanager
def _keys() -> Iterator[int | None]:
    """stdin in cbreak mode, if it is a terminal (its fd), restored afterwards."""
    if not sys.stdin.isatty():
        yield None
        return
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    tty.setcbreak(fd, termios.TCSANOW)
    try:
        yield fd
    finally:
        termios.tcsetattr(fd, termios.TCSANOW, saved)


def watch(lab: str, fabric: Path, interval: float = 0.25, console: Console | None = None) -> int:
    """Redraw every ``interval`` seconds until ``q``, Ctrl-C or the fabric going away."""
    console = console or Console()
    then: Sample | None = None
    with _keys() as fd, Live(console=console, auto_refresh=False, screen=False) as live:
        try:
            while True:
                try:
                    now = sample(fabric)
                except (OSError, ConnectionError) as error:
                    live.stop()
                    console.print(f"the lab's fabric went away ({error})")
                    return 1
                live.update(view(lab, now, then), refresh=True)
                then = now
                ready = select.select([fd] if fd is not None else [], [], [], interval)[0]
                if fd is not None and ready and os.read(fd, 1) in (b"q", b"Q"):
                    return 0
        except KeyboardInterrupt:
            return 0
