"""`python -m vnic`: run a fabric of vNICs and wires, and talk to a running one.

    python -m vnic serve TOPOLOGY.json --run-dir DIR    start a fabric (foreground)
    python -m vnic stats --run-dir DIR [--json]         counters of every port, link, switch
    python -m vnic link --run-dir DIR LINK up|down      plug or pull a cable
    python -m vnic faults --run-dir DIR LINK KEY=VALUE...   e.g. drop=0.01 rate_mbps=100
                                                            flow_control=true|false
    python -m vnic pcap --run-dir DIR LINK start|stop [--path FILE]
    python -m vnic reset --run-dir DIR PORT             reset a vNIC

The topology format is described in `vnic/model/topology.py`.

How a launcher (the lab) uses it:

1. Start `python -m vnic serve TOPO --run-dir DIR` as a subprocess (its own process group
   is a good idea). It creates DIR/<port>.sock (one vfio-user socket per vNIC port),
   DIR/<host>.sock (host endpoints), DIR/control.sock, prints the socket paths and the QEMU
   `-device` argument of every port, and when everything listens it writes DIR/ready
   (JSON: pid, sockets, MACs, "qemu_device" strings) atomically and prints a line `READY`.
2. Wait for DIR/ready (or the READY line), then start each QEMU with
   `-object memory-backend-memfd,id=ram,size=512M,share=on -machine pc,memory-backend=ram`
   and `-device '<qemu_device of that port>'`.
3. Read counters with `vnic.model.control.control_request(DIR/control.sock, {"cmd":"stats"})`
   and send/receive frames with `vnic.model.wire.HostEndpoint(DIR/<host>.sock)`.
4. Stop with SIGTERM (or SIGINT): the fabric closes its sockets, removes them and DIR/ready,
   and exits 0. A QEMU still attached sees the device vanish; stop QEMUs first.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

READY_FILE = "ready"
CONTROL_SOCKET = "control.sock"


def serve(args: argparse.Namespace) -> int:
    from vnic.model.control import ControlServer
    from vnic.model.loop import EventLoop
    from vnic.model.topology import Network, TopologyError

    run_dir = Path(args.run_dir).resolve()
    loop = EventLoop()
    try:
        network = Network.build(args.topology, run_dir, loop)
    except (TopologyError, OSError) as exc:
        print(f"vnic serve: {exc}", file=sys.stderr)
        return 2
    control = ControlServer(str(run_dir / CONTROL_SOCKET), network, loop)

    def stop(_signum: int, _frame: Any) -> None:
        loop.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.set_wakeup_fd(loop.wakeup_fd, warn_on_full_buffer=False)

    info = network.describe()
    for name, port in info["ports"].items():
        print(f"port {name}: {port['socket']}  mac {port['mac']}")
        print(f"  qemu: -device '{port['qemu_device']}'")
    for name, host in info["hosts"].items():
        print(f"host endpoint {name}: {host['socket']}")
    print(f"control: {info['control']}")
    ready = run_dir / READY_FILE
    tmp = run_dir / f".{READY_FILE}.tmp"
    tmp.write_text(json.dumps(info, indent=2) + "\n")
    os.replace(tmp, ready)  # atomic: a launcher never reads half a file
    print("READY", flush=True)
    try:
        loop.run()
    finally:
        control.close()
        network.close()
        loop.close()
        with contextlib.suppress(FileNotFoundError):
            ready.unlink()
    return 0


def _request(run_dir: str | Path, req: dict[str, Any]) -> dict[str, Any]:
    from vnic.model.control import control_request

    path = str(Path(run_dir) / CONTROL_SOCKET)
    try:
        reply = control_request(path, req)
    except OSError as exc:
        raise SystemExit(f"vnic: cannot reach the fabric at {path}: {exc}") from None
    if not reply.get("ok"):
        raise SystemExit(f"vnic: {reply.get('error')}")
    return reply


def stats(run_dir: str | Path, as_json: bool = False) -> int:
    """Print every counter of the fabric whose control socket is in ``run_dir``: tables
    of ports, links, vNICs and switches, or (``as_json``) the fabric's JSON."""
    data = _request(run_dir, {"cmd": "stats"})["stats"]
    if as_json:
        print(json.dumps(data, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    console = Console()
    ports = Table(title="ports")
    for col in (
        "port",
        "kind",
        "tx frames",
        "tx bytes",
        "tx dropped",
        "rx frames",
        "rx bytes",
        "rx dropped",
    ):
        ports.add_column(col, justify="left" if col in ("port", "kind") else "right")
    for name, p in data["ports"].items():
        ports.add_row(
            name,
            p["kind"],
            *(
                str(p[k])
                for k in (
                    "tx_frames",
                    "tx_bytes",
                    "tx_dropped",
                    "rx_frames",
                    "rx_bytes",
                    "rx_dropped",
                )
            ),
        )
    console.print(ports)
    links = Table(title="links")
    keys = (
        "frames",
        "delivered",
        "dropped",
        "corrupted",
        "duplicated",
        "reordered",
        "queue_drops",
        "down_drops",
        "paused",
        "pause_drops",
        "held",
    )
    links.add_column("link / direction")
    links.add_column("up")
    for k in keys:
        links.add_column(k.replace("_", " "), justify="right")
    for name, link in data["links"].items():
        for direction, c in link["directions"].items():
            links.add_row(
                f"{name} {direction}", "yes" if link["up"] else "NO", *(str(c[k]) for k in keys)
            )
    console.print(links)
    for name, p in data["ports"].items():
        if "device" not in p:
            continue
        dev = Table(title=f"vNIC {name}")
        dev.add_column("counter")
        dev.add_column("value", justify="right")
        for k, v in p["device"].items():
            dev.add_row(k, str(v))
        for k, v in p.get("transport", {}).items():
            dev.add_row(f"vfio-user {k}", str(v))
        console.print(dev)
    for name, sw in data["switches"].items():
        console.print(
            f"switch {name}: " + ", ".join(f"{k} {v}" for k, v in sw.items() if isinstance(v, int))
        )
    return 0


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vnic", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="start a fabric from a topology (foreground)")
    p.add_argument("topology", help="topology JSON file")
    p.add_argument("--run-dir", required=True, help="directory for sockets and the ready file")
    p.add_argument("-v", "--verbose", action="store_true", help="log transport events")

    p = sub.add_parser("stats", help="print every counter of a running fabric")
    p.add_argument("--run-dir", required=True)
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("link", help="set a link up or down")
    p.add_argument("--run-dir", required=True)
    p.add_argument("link", help="link name, or a port name for its link")
    p.add_argument("state", choices=("up", "down"))

    p = sub.add_parser("faults", help="change shaping/faults/flow control of a link at run time")
    p.add_argument("--run-dir", required=True)
    p.add_argument("link")
    p.add_argument("settings", nargs="+", metavar="KEY=VALUE")

    p = sub.add_parser("pcap", help="start or stop a capture of a link")
    p.add_argument("--run-dir", required=True)
    p.add_argument("link")
    p.add_argument("action", choices=("start", "stop"))
    p.add_argument("--path", help="pcap file (relative paths are in the run dir)")

    p = sub.add_parser("reset", help="reset a vNIC")
    p.add_argument("--run-dir", required=True)
    p.add_argument("port")

    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
        format="%(asctime)s %(name)s: %(message)s",
    )
    if args.command == "serve":
        return serve(args)
    if args.command == "stats":
        return stats(args.run_dir, args.json)
    if args.command == "link":
        reply = _request(args.run_dir, {"cmd": "link", "link": args.link, "up": args.state == "up"})
    elif args.command == "faults":
        changes = {}
        for item in args.settings:
            key, sep, value = item.partition("=")
            if not sep:
                parser.error(f"expected KEY=VALUE, got {item!r}")
            changes[key] = _value(value)
        reply = _request(args.run_dir, {"cmd": "faults", "link": args.link, **changes})
    elif args.command == "pcap":
        req: dict[str, Any] = {"cmd": "pcap", "link": args.link, "action": args.action}
        if args.path:
            req["path"] = args.path
        reply = _request(args.run_dir, req)
    else:
        reply = _request(args.run_dir, {"cmd": "reset", "port": args.port})
    reply.pop("ok", None)
    print(json.dumps(reply))
    return 0


if __name__ == "__main__":
    sys.exit(main())
