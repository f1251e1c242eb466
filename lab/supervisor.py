"""A lab that outlives the command that started it: ``ringlab up`` / ``exec`` / ``down``.

``ringlab up`` starts this module as a detached process.  It boots the lab,
then serves a unix socket (one JSON request per line, one JSON reply per line)
until asked to stop, or until SIGTERM/SIGINT/SIGHUP; on every way out it stops
its guests.  Requests::

    {"op": "status"}                       (includes the fabric's directory when wired)
    {"op": "exec", "vm": "a", "command": "uname -r", "timeout": 60}
    {"op": "down"}

A lab's files live in ``<state>/labs/<name>/``: ``control.sock``, ``status.json``
(written once the guests are READY, or with an ``error``), ``supervisor.log``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from lab import provision
from lab.console import ConsoleError
from lab.runs import RunDir, runs_root
from lab.topology import Topology, default_specs, wired
from lab.vm import Lab, VmError, terminate_on_sigterm


def labs_root() -> Path:
    return runs_root().parent / "labs"


def lab_dir(name: str) -> Path:
    return labs_root() / name


def request(name: str, message: dict[str, Any], timeout: float = 600.0) -> dict[str, Any]:
    """Send one request to a running lab's supervisor and return its reply."""
    path = lab_dir(name) / "control.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
        except OSError as error:
            raise ConnectionError(f"no lab named {name!r} is running ({error.strerror})") from None
        sock.sendall(json.dumps(message).encode() + b"\n")
        reply = sock.makefile("rb").readline()
    if not reply:
        raise ConnectionError(f"lab {name!r} closed the connection")
    return dict(json.loads(reply))


def _handle(lab: Lab, message: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """(reply, stop?) for one request."""
    op = message.get("op")
    if op == "status":
        return _status(lab), False
    if op == "down":
        return {"ok": True}, True
    if op == "exec":
        vm = lab.vms.get(str(message.get("vm")))
        if vm is None:
            return {"ok": False, "error": f"no VM {message.get('vm')!r} in this lab"}, False
        try:
            result = vm.run(str(message["command"]), float(message.get("timeout", 60)))
        except (ConsoleError, VmError) as error:
            return {"ok": False, "error": str(error)}, False
        return {"ok": True, "status": result.status, "output": result.output}, False
    return {"ok": False, "error": f"unknown op {op!r}"}, False


def _status(lab: Lab) -> dict[str, Any]:
    return {
        "ok": True,
        "pid": os.getpid(),
        "run_dir": str(lab.run.path),
        "fabric": str(lab.fabric.dir) if lab.fabric else None,
        "vms": {
            name: {
                "alive": vm.alive,
                "pid": vm.process.pid if vm.process else None,
                "boot_seconds": vm.boot_seconds,
                "console_socket": str(vm.console_socket),
                "logs": str(vm.logs),
            }
            for name, vm in lab.vms.items()
        },
    }


def make_topology(name: str, vm_names: list[str], modules: list[str] | None) -> Topology:
    """Plain guests, or (``modules`` given, possibly empty) guests wired by vNIC ports."""
    run = RunDir.new(f"lab-{name}")
    if modules is None:
        return default_specs(vm_names, run)
    return wired(vm_names, run, modules=modules)


def serve(name: str, vm_names: list[str], modules: list[str] | None = None) -> int:
    home = lab_dir(name)
    home.mkdir(parents=True, exist_ok=True)
    status_file = home / "status.json"
    status_file.unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    control = home / "control.sock"
    control.unlink(missing_ok=True)
    listener.bind(str(control))
    listener.listen(8)
    try:
        with terminate_on_sigterm():
            signal.signal(signal.SIGINT, signal.default_int_handler)
            platform = provision.ensure()
            with Lab(make_topology(name, vm_names, modules), platform) as lab:
                try:
                    lab.start()
                except VmError as error:
                    status_file.write_text(json.dumps({"ok": False, "error": str(error)}))
                    return 1
                status_file.write_text(json.dumps(_status(lab)))
                stop = False
                while not stop:
                    conn, _ = listener.accept()
                    with conn:
                        line = conn.makefile("rb").readline()
                        try:
                            reply, stop = _handle(lab, json.loads(line))
                        except (ValueError, KeyError, TypeError) as error:
                            reply = {"ok": False, "error": f"bad request: {error}"}
                        conn.sendall(json.dumps(reply).encode() + b"\n")
        return 0
    except KeyboardInterrupt:
        return 130
    finally:
        listener.close()
        shutil.rmtree(home, ignore_errors=True)


def start_detached(
    name: str, vm_names: list[str], modules: list[str] | None = None, timeout: float = 600.0
) -> dict[str, Any]:
    """Start a supervisor in the background and wait until its lab is up (or failed)."""
    home = lab_dir(name)
    if (home / "control.sock").exists():
        try:
            return request(name, {"op": "status"}, timeout=5)
        except ConnectionError:
            shutil.rmtree(home, ignore_errors=True)  # a dead lab's leftovers
    home.mkdir(parents=True, exist_ok=True)
    with open(home.parent / f"{name}.log", "ab") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lab.supervisor",
                "--name",
                name,
                *vm_names,
                *([] if modules is None else ["--wired", ",".join(modules)]),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    status_file = home / "status.json"
    while time.monotonic() < deadline:
        if status_file.exists():
            status = json.loads(status_file.read_text())
            return dict(status)
        if process.poll() is not None:
            log_tail = (home.parent / f"{name}.log").read_text(errors="replace")[-3000:]
            return {"ok": False, "error": f"the lab supervisor exited:\n{log_tail}"}
        time.sleep(0.2)
    process.terminate()
    return {"ok": False, "error": f"the lab did not come up within {timeout:g} s"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--name", default="default")
    parser.add_argument("vms", nargs="*", default=["a"])
    parser.add_argument("--wired", metavar="MODULES", help="give guests vNIC ports; load MODULES")
    args = parser.parse_args()
    modules = None if args.wired is None else [m for m in args.wired.split(",") if m]
    return serve(args.name, args.vms, modules)


if __name__ == "__main__":
    sys.exit(main())
