"""``ringlab``: the lab's command line.  Each command parses its arguments and calls
one library function; ``ringlab COMMAND --help`` says more.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import select
import socket
import sys
import termios
import time
import tty
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from images.cache import cache_root, du
from images.namespace import remove_tree
from images.progress import ProvisionError, Steps
from lab import provision, supervisor
from lab.figures import netmap_figures, sockets_figures, stackmap_figures
from lab.grading.model import ExerciseError
from lab.grading.starter import StarterError
from lab.runs import RunDir
from lab.topology import ANCHOR_NICS, VNIC, wired
from lab.vm import Lab, VmError, terminate_on_sigterm

out = Console()
err = Console(stderr=True, soft_wrap=True)  # messages unbroken: paths stay copyable


def cmd_doctor(args: argparse.Namespace) -> int:
    """What this machine offers: QEMU, vfio-user, KVM, the cache."""
    facts = provision.survey()
    if args.json:
        print(json.dumps(facts, indent=2))
        return 0
    table = Table(title="ringlab doctor", show_header=False)
    q = facts["qemu"]
    table.add_row(
        "QEMU",
        f"{q.get('version') or q.get('system') or 'none'}"
        + (f"  ({q['source']})" if q.get("source") else ""),
    )
    table.add_row("vfio-user-pci", "yes" if q.get("vfio_user_pci") else f"no: {q.get('why', '')}")
    image = facts["image"]
    table.add_row("guest image", f"kernel {image['kernel']}" if image["built"] else "not built")
    table.add_row("accelerator", f"{facts['accel']['use']} ({facts['accel']['why']})")
    runs = facts["backend"]
    table.add_row(
        "guests run by", "libvirt at " + runs["uri"] if "uri" in runs else "ringlab (QEMU)"
    )
    root = Path(facts["cache"])
    size = f" ({facts['cache_bytes'] / 1e6:.0f} MB)" if root.is_dir() else ""
    table.add_row("cache", f"{root}{size}")
    out.print(table)
    return 0 if q.get("usable") and image["built"] else 1


def _bundle(action: str, file: Path | None) -> int:
    """``images export FILE`` / ``images import FILE`` (see :mod:`images.bundle`)."""
    from images import bundle

    if file is None:
        err.print(f"ringlab images {action} needs a FILE (a .tar.gz bundle)")
        return 2
    steps = Steps(cache_root() / "build.log")
    try:
        if action == "export":
            layers = bundle.export(file, steps)
            keys = ", ".join(f"{layer.kind}/{layer.key}" for layer in layers)
            out.print(f"exported {keys} to {file} ({file.stat().st_size / 1e6:.0f} MB)")
            return 0
        imported = bundle.import_(file, steps)
    except bundle.BundleError as e:
        err.print(escape(f"error: {e}"))
        return 1
    keys = ", ".join(f"{layer.kind}/{layer.key}" for layer in imported.layers)
    out.print(f"imported {keys} into {cache_root()}, every file checked")
    if imported.mismatch:
        err.print(escape(f"warning: {imported.mismatch}"))
        return 1
    return 0


def cmd_images(args: argparse.Namespace) -> int:
    """Build, show or remove the provisioned QEMU and guest images."""
    root = cache_root()
    if args.action == "build":
        platform = provision.ensure()
        out.print(
            f"QEMU: {platform.qemu.version}\nimage: {platform.image.key} "
            f"(kernel {platform.image.kernel_version})\naccelerator: {platform.accel}"
        )
        return 0
    if args.action in ("export", "import"):
        return _bundle(args.action, args.file)
    if args.action == "clean":
        remove_tree(root)
        out.print(f"removed {root}")
        return 0
    table = Table(title=f"ringlab cache: {root}")
    for column in ("layer", "key", "MB", "facts"):
        table.add_column(column)
    for kind in sorted(root.iterdir()) if root.is_dir() else []:
        for layer in sorted(kind.iterdir()) if kind.is_dir() else []:
            manifest = layer / "layer.json"
            facts = json.loads(manifest.read_text()) if manifest.exists() else {}
            brief = {
                k: v for k, v in facts.items() if k in ("version", "kernel_version", "modules")
            }
            table.add_row(kind.name, layer.name, f"{du(layer) / 1e6:.0f}", json.dumps(brief))
    out.print(table)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Boot two guests wired by the vNIC (provisioning on first use), then show what one
    packet costs on the kernel sockets path (doorbells, interrupts, register reads), what
    the netmap path moves beside it, and StackMap's request/response server against the
    sockets one, measured in the same boot."""
    started = time.monotonic()
    platform = provision.ensure()
    provisioned = time.monotonic() - started
    topology = wired(["a", "b"], RunDir.new("demo"), modules=["vnic"])
    with (
        terminate_on_sigterm(),
        Lab(topology, platform) as lab,
    ):
        boot = lab.start()["a"]
        lab.check()
        result = lab["a"].run("uname -sr; python3 --version; cat /proc/uptime")
        figures = sockets_figures(lab, seconds=2.0)
        netmap = netmap_figures(lab, seconds=2.0)
        stackmap = stackmap_figures(lab, rounds=1, requests=100, sizes=())
    table = Table(title="ringlab demo", show_header=False)
    table.add_row("provisioning (QEMU + images)", f"{provisioned:.1f} s")
    table.add_row("accelerator", f"{platform.accel} ({platform.accel_reason})")
    table.add_row("boot to READY", f"{boot:.2f} s")
    table.add_row("guest says", result.output.strip())
    table.add_row("UDP a → b, 64-byte payloads", f"{figures.udp_pps:.0f} packets/s")
    table.add_row("doorbells per packet", f"{figures.doorbells_per_packet:.3f}")
    table.add_row("interrupts per packet", f"{figures.irqs_per_packet:.3f}")
    table.add_row("register reads per packet", f"{figures.reg_reads_per_packet:.4f}")
    table.add_row("TCP a → b, one stream", f"{figures.tcp_mbps:.0f} Mbit/s")
    table.add_row(
        "host CPU per UDP packet",
        ", ".join(f"{name} {us:.0f} µs" for name, us in figures.cpu_us_per_packet.items()),
    )
    table.add_row(
        "netmap a → b, 60-byte frames (nmgen)",
        f"{netmap.tx_pps:.0f} packets/s, {netmap.tx_pps / figures.udp_pps:.1f}x sockets",
    )
    table.add_row("netmap from Python (the bindings)", f"{netmap.python_tx_pps:.0f} packets/s")
    table.add_row(
        "netmap system calls / doorbells per packet",
        f"{netmap.syscalls_per_packet:.4f} / {netmap.doorbells_per_packet:.4f}",
    )
    table.add_row(
        "host CPU per netmap packet",
        ", ".join(f"{name} {us:.1f} µs" for name, us in netmap.cpu_us_per_packet.items()),
    )
    m = stackmap.median
    table.add_row(
        "request/response, 16 connections (Python servers)",
        f"sockets {m('sockets', 'tps'):.0f} tps, StackMap {m('stackmap', 'tps'):.0f} tps "
        f"({m('stackmap', 'tps') / m('sockets', 'tps'):.2f}x)",
    )
    table.add_row(
        "system calls per transaction",
        f"sockets {m('sockets', 'syscalls_per_tx'):.2f}, "
        f"StackMap {m('stackmap', 'syscalls_per_tx'):.2f}",
    )
    table.add_row("StackMap TX slots sent without a copy", f"{stackmap.tx_zero_copy_share:.1%}")
    table.add_row("StackMap RX slots in the NIC's buffer", f"{stackmap.rx_zero_copy_share:.1%}")
    table.add_row("logs", str(topology.run.path))
    out.print(table)
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    """Start a lab in the background (guests stay up until `ringlab down`).

    Fails (exit 1) unless every guest reached its declared state: modules loaded,
    shares mounted, an interface per NIC when its driver is loaded."""
    wired = args.wired or args.nic != VNIC
    modules = args.modules if args.modules is not None else WIRED_MODULES if wired else []
    status = supervisor.start_detached(
        args.name, args.vms or ["a"], wired=wired, modules=modules, nic=args.nic
    )
    if not status.get("ok"):
        err.print(f"[red]lab {args.name} failed:[/] {escape(str(status.get('error')))}")
        return 1
    _print_status(args.name, status)
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    """Stop a lab and the commands running in it (or clear a dead lab's leftovers).

    Returns once the guests, the fabric and the sockets are gone."""
    try:
        _say(supervisor.down(args.name))
    except supervisor.SupervisorError as error:
        err.print(f"[red]error:[/] {escape(str(error))}")
        return 1
    return 0


def cmd_clean(args: argparse.Namespace) -> int:
    """Remove every stale lab of yours (what supervisors that died left), saying what."""
    removed = supervisor.clean()
    if not removed:
        _say("nothing to clean: no stale lab")
    for whose, paths in removed.items():
        _say(f"removed {whose}: " + ", ".join(str(path) for path in paths))
    return 0


def _say(line: str) -> None:
    out.print(line, soft_wrap=True, markup=False, highlight=False)


def _describe(lab: supervisor.LabState) -> str:
    pid = f", pid {lab.pid}," if lab.pid else ""
    if lab.state == "dead":
        return (
            f"dead (its supervisor{pid} is gone): `ringlab down --name {lab.name}` "
            "or `ringlab clean` removes what it left"
        )
    if lab.state == "failed":
        return f"failed to come up, stopping (see {supervisor.labs_root() / lab.name}.log)"
    return f"{lab.state} (supervisor pid {lab.pid})"


def cmd_status(args: argparse.Namespace) -> int:
    """Show the labs: running ones with their guests, and those starting, stopping or dead."""
    statuses: dict[str, Any] = {}
    for lab in supervisor.lab_states():
        if lab.state == "running":
            try:
                statuses[lab.name] = supervisor.request(lab.name, {"op": "status"}, timeout=5)
                continue
            except ConnectionError as error:
                problem = str(error)
        else:
            problem = _describe(lab)
        statuses[lab.name] = {"ok": False, "state": lab.state, "pid": lab.pid, "error": problem}
    if args.json:
        print(json.dumps(statuses, indent=2))
    elif not statuses:
        out.print("no lab is running (start one with `ringlab up`)")
    for name, status in statuses.items():
        if not args.json:
            _print_status(name, status)
    return 0


def _print_status(name: str, status: dict[str, Any]) -> None:
    if not status.get("ok"):
        out.print(f"lab {name}: [red]{escape(str(status.get('error')))}[/]", soft_wrap=True)
        return
    table = Table(title=f"lab {name} (logs: {status['run_dir']})")
    for column in ("vm", "alive", "pid", "boot s"):
        table.add_column(column)
    for vm, facts in status["vms"].items():
        boot = facts["boot_seconds"]
        table.add_row(vm, str(facts["alive"]), str(facts["pid"]), f"{boot:.2f}" if boot else "-")
    out.print(table)


def cmd_exec(args: argparse.Namespace) -> int:
    """Run a command in a guest of a running lab; its exit status becomes ours."""
    command = " ".join(args.argv)
    try:
        reply = supervisor.request(
            args.name,
            {"op": "exec", "vm": args.vm, "command": command, "timeout": args.timeout},
            timeout=args.timeout + 30,  # the guest's own timeout answers first
        )
    except ConnectionError as error:
        err.print(str(error))
        return 2
    if not reply.get("ok"):
        err.print(f"[red]{escape(str(reply.get('error')))}[/]")
        return 2
    sys.stdout.write(reply["output"])
    return int(reply["status"])


def cmd_console(args: argparse.Namespace) -> int:
    """Attach your terminal to a shell in a guest (leave with Ctrl-])."""
    try:
        status = supervisor.request(args.name, {"op": "status"}, timeout=5)
    except ConnectionError as error:
        err.print(str(error))
        return 2
    facts = status["vms"].get(args.vm)
    if facts is None:
        err.print(f"no VM {args.vm!r} in lab {args.name}")
        return 2
    err.print(
        f"[dim]console of {args.vm}; kernel messages go to {facts['logs']}/serial.log, "
        "not here. Leave with Ctrl-].[/]"
    )
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(facts["console_socket"])
        sock.sendall(b"\n")  # a fresh prompt
        _bridge(sock)
    return 0


def _bridge(sock: socket.socket) -> None:
    """Copy bytes both ways between the terminal and ``sock`` until Ctrl-] or EOF."""
    stdin = sys.stdin.fileno()
    saved = termios.tcgetattr(stdin) if os.isatty(stdin) else None
    try:
        if saved is not None:
            tty.setraw(stdin)
        while True:
            ready, _, _ = select.select([stdin, sock], [], [])
            if sock in ready:
                data = sock.recv(4096)
                if not data:
                    return
                os.write(sys.stdout.fileno(), data)
            if stdin in ready:
                data = os.read(stdin, 1024)
                if not data or b"\x1d" in data:
                    return
                sock.sendall(data)
    finally:
        if saved is not None:
            termios.tcsetattr(stdin, termios.TCSADRAIN, saved)


def cmd_stats(args: argparse.Namespace) -> int:
    """Counters of a running vNIC fabric (ports, links, devices)."""
    from vnic.__main__ import stats

    fabric = args.run_dir or _fabric_of(args.name)
    return 2 if fabric is None else stats(fabric, args.json)


def _fabric_of(name: str) -> str | None:
    """The run directory of lab ``name``'s vNIC fabric (None, said why, when it has none)."""
    try:
        fabric = supervisor.request(name, {"op": "status"}, timeout=5).get("fabric")
    except ConnectionError as error:
        err.print(str(error))
        return None
    if fabric is None:
        err.print(
            f"lab {name} has no vNIC fabric: its guests are not wired, or are on "
            "QEMU's own NICs (`ringlab up --wired` wires them by the vNIC)"
        )
    return str(fabric) if fabric else None


def cmd_lecture(args: argparse.Namespace) -> int:
    """Measure the lecture's claims again in a fresh lab; write the report (HTML, JSON, CSV)."""
    from lab import lecture

    with terminate_on_sigterm():
        report = lecture.run(args.out, args.quick, say=lambda line: err.print(escape(line)))
    out.print(f"the lecture's report: {report / 'index.html'}", soft_wrap=True)
    return 0


def cmd_watch(args: argparse.Namespace) -> int:
    """A running lab's rings, doorbells, interrupts and wire, live (q quits)."""
    from lab.watch import watch

    fabric = _fabric_of(args.lab)
    if fabric is None:
        return 2
    return watch(args.lab, Path(fabric), args.interval, out)


def cmd_grade(args: argparse.Namespace) -> int:
    """Grade one submission in a fresh lab: text, JSON, Gradescope or JUnit report."""
    from lab.grading import reports, runner
    from lab.grading.model import find_exercise

    exercise = find_exercise(args.exercise)
    with terminate_on_sigterm():
        report = runner.grade(exercise, args.submission.resolve(), args.hidden)
    rendered = reports.render(report, args.format)
    if args.out:
        args.out.write_text(rendered)
        err.print(f"{report.score:g} / {report.max_score:g} points; report in {args.out}")
    else:
        sys.stdout.write(rendered)
    for error in report.errors:
        err.print(f"[red]the grader could not grade:[/] {error}")
    # 0: graded, whatever the score; 1: the report says why it could not grade.
    return 1 if report.errors else 0


def cmd_report(args: argparse.Namespace) -> int:
    """Render a saved JSON grade report as text, Gradescope results or JUnit XML."""
    from lab.grading import reports
    from lab.grading.model import GradeReport

    rendered = reports.render(
        GradeReport.from_json(json.loads(args.report.read_text())), args.format
    )
    if args.out:
        args.out.write_text(rendered)
    else:
        sys.stdout.write(rendered)
    return 0


def cmd_grade_batch(args: argparse.Namespace) -> int:
    """Grade every submission folder under DIR, N at a time; write reports and a CSV."""
    from rich.progress import Progress

    from lab.grading import runner
    from lab.grading.model import GradeReport, find_exercise

    exercise = find_exercise(args.exercise)
    count = sum(1 for p in args.dir.iterdir() if p.is_dir())
    out_dir = args.out or Path(f"grades-{exercise.name}")
    with Progress(console=err) as progress, terminate_on_sigterm():
        task = progress.add_task(f"grading {exercise.name}", total=count)

        def done(name: str, report: GradeReport | None) -> None:
            score = f"{report.score:g}/{report.max_score:g}" if report else "grader failed"
            progress.console.print(f"{name}: {score}")
            progress.advance(task)

        runner.grade_batch(exercise, args.dir, args.jobs, out_dir, args.hidden, done)
    out.print(f"grades in {out_dir / 'grades.csv'}")
    return 0


def cmd_starter(args: argparse.Namespace) -> int:
    """Regenerate starters from solutions (--check: only report), or copy one (--into)."""
    from lab.grading import starter
    from lab.grading.model import find_exercise

    if args.into is not None:
        if not args.exercise:
            err.print("--into needs an exercise")
            return 2
        exercise = find_exercise(args.exercise[0])
        starter.copy_starter(exercise, args.into)
        out.print(f"your working copy of {exercise.name} is in {args.into}")
        return 0
    chosen = [find_exercise(name) for name in args.exercise] or starter.every_exercise()
    return starter.refresh(chosen, check=args.check)


def cmd_exercise(args: argparse.Namespace) -> int:
    """Walk through an exercise step by step on your working copy (one lab for all steps)."""
    from lab.exercise import walk
    from lab.grading.model import find_exercise

    exercise = find_exercise(args.exercise)
    with terminate_on_sigterm():
        return walk(exercise, args.workdir, step=args.step, hidden=args.hidden, capture=args.pcap)


#: What a wired lab loads without --modules: the lab's driver, so guests have interfaces.
WIRED_MODULES = ["vnic"]
#: The guest image's own modules: `ringlab up --wired vnic a b` once meant "load vnic".
IMAGE_MODULES = {"vnic", "netmap"}
HOST_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", re.IGNORECASE)
MODULE_NAME = re.compile(r"[A-Za-z0-9_-]+")


def _guest_name(word: str) -> str:
    """A guest name is a host name; a word that reads as modules points to --modules."""
    if word in IMAGE_MODULES or "," in word or "_" in word:
        raise argparse.ArgumentTypeError(
            f"{word!r} reads as kernel modules, not a guest name: load modules with "
            f"--modules {word} (guest names are host names)"
        )
    if not HOST_NAME.fullmatch(word):
        raise argparse.ArgumentTypeError(
            f"{word!r} is not a guest name: a host name (letters, digits, '-') is"
        )
    return word


def _module_list(word: str) -> list[str]:
    modules = [m for m in word.split(",") if m]
    if bad := [m for m in modules if not MODULE_NAME.fullmatch(m)]:
        raise argparse.ArgumentTypeError(f"not a module name: {', '.join(map(repr, bad))}")
    return modules


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ringlab", description=__doc__)
    parser.add_argument(
        "--backend",
        choices=["qemu", "libvirt"],
        help="who runs the guests: ringlab itself (qemu, the default) or libvirt"
        " (sets RINGLAB_BACKEND for every process the command starts)",
    )
    parser.add_argument(
        "--libvirt-uri",
        metavar="URI",
        help="with --backend libvirt: qemu:///system (root's default), qemu:///session"
        " (a user's) or a remote URI (RINGLAB_LIBVIRT_URI)",
    )
    sub = parser.add_subparsers(dest="subcommand", required=True)

    def add(name: str, func: Any) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=(func.__doc__ or "").splitlines()[0])
        command.set_defaults(func=func)
        return command

    add("doctor", cmd_doctor).add_argument("--json", action="store_true")
    images = add("images", cmd_images)
    images.add_argument("action", choices=["build", "status", "clean", "export", "import"])
    images.add_argument("file", nargs="?", type=Path, help="export, import: the bundle (a .tar.gz)")
    add("demo", cmd_demo)
    p = add("up", cmd_up)
    p.add_argument("vms", nargs="*", type=_guest_name, help="guest names (default: a)")
    p.add_argument("--name", default="default", help="lab name")
    p.add_argument(
        "--wired",
        action="store_true",
        help="give each guest a vNIC port on a shared wire (and load vnic, unless --modules)",
    )
    p.add_argument(
        "--modules",
        metavar="M,...",
        type=_module_list,
        help="guest modules to load at boot (default: vnic if --wired, else none; '' for none)",
    )
    p.add_argument(
        "--nic",
        choices=[VNIC, *ANCHOR_NICS],
        default=VNIC,
        help="the guests' NIC: the vNIC, or one of QEMU's own (two guests back to back, "
        "their stock driver loaded; implies --wired)",
    )
    add("down", cmd_down).add_argument("--name", default="default")
    p = add("lecture", cmd_lecture)
    p.add_argument("--quick", action="store_true", help="a shorter run (CI)")
    p.add_argument("--out", type=Path, help="report folder (default: the run's folder)")
    p = add("watch", cmd_watch)
    p.add_argument("lab", nargs="?", default="default", help="lab name (default: default)")
    p.add_argument("--interval", type=float, default=0.25, help="seconds between redraws")
    add("clean", cmd_clean)
    add("status", cmd_status).add_argument("--json", action="store_true")
    p = add("exec", cmd_exec)
    p.add_argument("vm")
    p.add_argument("argv", nargs="*", metavar="CMD", help="the command, after --")
    p.add_argument("--name", default="default")
    p.add_argument("--timeout", type=float, default=60.0)
    p = add("console", cmd_console)
    p.add_argument("vm")
    p.add_argument("--name", default="default")
    p = add("stats", cmd_stats)
    p.add_argument("--name", default="default", help="a lab started with `ringlab up --wired`")
    p.add_argument("--run-dir", type=Path, help="or the directory of a fabric's control.sock")
    p.add_argument("--json", action="store_true")
    p = add("grade", cmd_grade)
    p.add_argument("exercise", help="e.g. 01, 01-sockets or a folder")
    p.add_argument("--submission", type=Path, required=True)
    p.add_argument("--hidden", type=Path, help="a folder of hidden checks")
    p.add_argument("--format", default="text", choices=["text", "json", "gradescope", "junit"])
    p.add_argument("--out", type=Path, help="write the report here (default: stdout)")
    p = add("report", cmd_report)
    p.add_argument("report", type=Path, help="a report written with --format json")
    p.add_argument("--format", default="text", choices=["text", "json", "gradescope", "junit"])
    p.add_argument("--out", type=Path)
    p = add("grade-batch", cmd_grade_batch)
    p.add_argument("exercise")
    p.add_argument("dir", type=Path, help="one folder per submission")
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--hidden", type=Path)
    p.add_argument("--out", type=Path, help="reports and grades.csv (default: grades-NN)")
    p = add("starter", cmd_starter)
    p.add_argument("exercise", nargs="*")
    p.add_argument("--check", action="store_true")
    p.add_argument("--into", type=Path, help="copy the starter here (your working copy)")
    p = add("exercise", cmd_exercise)
    p.add_argument("exercise")
    p.add_argument("--step", type=int, help="only this step")
    p.add_argument("--workdir", type=Path, help="your working copy (default: ./NN-name)")
    p.add_argument(
        "--pcap",
        action="store_true",
        help="capture the wire to pcap files (for tcpdump/Wireshark; slows the fabric)",
    )
    p.add_argument("--hidden", type=Path, help=argparse.SUPPRESS)
    return parser


def parse(words: list[str]) -> argparse.Namespace:
    """Parse a command line; everything after "--" is the guest command, options and all."""
    tail: list[str] = []
    if "--" in words:
        split = words.index("--")
        words, tail = words[:split], words[split + 1 :]
    # The older spelling of `up --wired --modules M`, still unambiguous with its "=".
    words = [
        new
        for word in words
        for new in (["--wired", f"--modules={word[8:]}"] if word.startswith("--wired=") else [word])
    ]
    args = build_parser().parse_args(words)
    if hasattr(args, "argv"):
        args.argv += tail
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else list(argv))
    # in the environment, so a lab's supervisor and the grader's processes choose alike
    if args.backend:
        os.environ["RINGLAB_BACKEND"] = args.backend
    if args.libvirt_uri:
        os.environ["RINGLAB_LIBVIRT_URI"] = args.libvirt_uri
    try:
        return int(args.func(args))
    except (ProvisionError, VmError, ExerciseError, StarterError, FileExistsError) as error:
        err.print(f"[red]error:[/] {escape(str(error))}")
        return 1
    except KeyboardInterrupt:
        err.print("interrupted; everything was stopped")
        return 130


if __name__ == "__main__":
    sys.exit(main())
