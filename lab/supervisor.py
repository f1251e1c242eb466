"""A lab that outlives the command that started it: ``ringlab up`` / ``exec`` / ``down``.

``ringlab up`` starts this module as a detached process.  It boots the lab,
checks that every guest reached the state its spec declares (:meth:`Lab.check`),
then serves a unix socket (one JSON request per line, one JSON reply per line)
until asked to stop, or until SIGTERM/SIGINT/SIGHUP; on every way out it stops
its guests.  Requests::

    {"op": "status"}                       (includes the fabric's directory when wired)
    {"op": "exec", "vm": "a", "command": "uname -r", "timeout": 60}
    {"op": "down"}

Each request is answered in a thread of its own (:class:`Server`): commands to
different guests run at once, commands to one guest one after another (a guest
has one command channel).  ``down`` stops the commands still running (their
clients hear that the lab is going down), tears the lab down, and only then
answers: when ``ringlab down`` returns, the guests, the fabric and the sockets
are gone.

A lab's files live in ``<state>/labs/<name>/``: ``pid`` (the supervisor's,
written first), ``control.sock``, ``status.json`` (written once the guests are
READY, or with an ``error``), ``stopping`` (while it tears down); its log is
``<state>/labs/<name>.log``.  A supervisor that died without cleaning up
(SIGKILL) leaves a *dead* lab: its pid is gone but its files, and the socket
directory ``/tmp/ringlab-<pid>-*`` of its :class:`Lab`, are still there;
:func:`lab_state` says so, :func:`down` and :func:`clean` remove them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab import provision
from lab.console import ConsoleError
from lab.runs import RunDir, runs_root
from lab.topology import VNIC, Topology, default_specs
from lab.topology import wired as wired_guests
from lab.vm import Lab, VmError, remove_stale_socket_dirs, terminate_on_sigterm


class SupervisorError(RuntimeError):
    """A lab could not be stopped; the message says what is left."""


def labs_root() -> Path:
    return runs_root().parent / "labs"


def lab_dir(name: str) -> Path:
    return labs_root() / name


def request(name: str, message: dict[str, Any], timeout: float = 600.0) -> dict[str, Any]:
    """Send one request to a running lab's supervisor and return its reply; every way
    of not getting one is a :class:`ConnectionError` saying which."""
    path = lab_dir(name) / "control.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
        except OSError as error:
            raise ConnectionError(f"no lab named {name!r} is running ({error.strerror})") from None
        try:
            sock.sendall(json.dumps(message).encode() + b"\n")
            reply = sock.makefile("rb").readline()
        except TimeoutError:
            raise ConnectionError(f"lab {name!r} did not answer within {timeout:g} s") from None
        except OSError as error:
            raise ConnectionError(f"lab {name!r} dropped the request ({error})") from None
    if not reply:
        raise ConnectionError(f"lab {name!r} closed the connection")
    return dict(json.loads(reply))


# A lab's life, as its files show it.


@dataclass(frozen=True)
class LabState:
    name: str
    #: "starting" (booting), "running" (serving), "failed" (did not come up; exiting),
    #: "stopping" (tearing down), "dead" (its supervisor is gone, its files are not).
    state: str
    #: The supervisor's (None for a lab whose supervisor wrote no pid file).
    pid: int | None
    #: When it wrote its pid file (a process started later got the number afterwards).
    since: float = float("inf")


def lab_state(name: str) -> LabState | None:
    """The state of lab ``name``, or None if there is no such lab."""
    home = lab_dir(name)
    if not home.is_dir():
        return None
    pid: int | None
    since = float("inf")
    try:
        pid = int((home / "pid").read_text())
        since = (home / "pid").stat().st_mtime
        alive = _running(pid, since)
    except (OSError, ValueError):  # no pid file: alive if something listens on its socket
        pid = _read_json(home / "status.json").get("pid")
        alive = _listening(home / "control.sock")
    if not alive:
        return LabState(name, "dead", pid, since)
    if (home / "stopping").exists():
        return LabState(name, "stopping", pid, since)
    status = _read_json(home / "status.json")
    if not status:
        return LabState(name, "starting", pid, since)
    return LabState(name, "running" if status.get("ok") else "failed", pid, since)


def lab_states() -> list[LabState]:
    """Every lab of this user, by name."""
    root = labs_root()
    names = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    return [state for name in names if (state := lab_state(name)) is not None]


def _running(pid: int, since: float = float("inf")) -> bool:
    """Is process ``pid`` running (not a zombie), and not a newer process that got the
    number after ``since`` (the time its pid file was written)?"""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except OSError:
        return False
    fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state is field 3
    if fields[0] in ("Z", "X"):
        return False
    started = time.time() - uptime + int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22
    return started <= since + 2.0  # /proc's clock and the file system's differ a little


def _listening(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(2.0)
        try:
            sock.connect(str(path))
            sock.sendall(b'{"op": "status"}\n')  # a proper request, not an empty one
        except OSError:
            return False
    return True


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Write at once (a reader sees the old file or the new one, never half of it)."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data))
    partial.replace(path)


def remove_leftovers(name: str, pid: int | None) -> list[Path]:
    """Remove what a dead lab left: its directory and its :class:`Lab`'s socket
    directories (``/tmp/ringlab-<pid>-*``); return what was removed."""
    home = lab_dir(name)
    removed = []
    if pid is not None and not _running(pid):  # (a process that got its number keeps its)
        for sockets in sorted(Path(tempfile.gettempdir()).glob(f"ringlab-{pid}-*")):
            shutil.rmtree(sockets, ignore_errors=True)
            removed.append(sockets)
    if home.exists():
        shutil.rmtree(home, ignore_errors=True)
        removed.append(home)
    return removed


def clean() -> dict[str, list[Path]]:
    """Remove every stale lab of this user (see :func:`remove_leftovers`) and every socket
    directory of ours whose process is gone; return what was removed, by whose it was."""
    removed = {}
    for state in lab_states():
        if state.state == "dead":
            whose = f"stale lab {state.name}" + (f" (pid {state.pid})" if state.pid else "")
            removed[whose] = remove_leftovers(state.name, state.pid)
    if sockets := remove_stale_socket_dirs():
        removed["socket directories of labs that died"] = sockets
    return removed


def down(name: str, timeout: float = 60.0) -> str:
    """Stop lab ``name`` and return once it is gone (running commands are stopped); a
    dead lab's leftovers are removed.  Returns what happened, in one line."""
    state = lab_state(name)
    if state is None:
        return f"no lab named {name!r} is running; nothing to stop"
    if state.state == "dead":
        removed = remove_leftovers(name, state.pid)
        return f"lab {name} was dead (its supervisor had died); removed {_listed(removed)}"
    deadline = time.monotonic() + timeout
    if state.state == "running":
        with contextlib.suppress(ConnectionError):  # then it is gone, or stuck: see below
            request(name, {"op": "down"}, timeout=timeout)
    elif state.state == "starting" and state.pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(state.pid, signal.SIGTERM)  # it tears down what it booted so far
    # "failed" and "stopping": it is on its way out already.
    if _wait_gone(name, state, deadline):
        if removed := remove_leftovers(name, state.pid):  # it died before it was done
            return f"lab {name} stopped; removed what it left: {_listed(removed)}"
        return f"lab {name} stopped: its guests, fabric and sockets are gone"
    if state.pid is None:
        raise SupervisorError(f"lab {name} did not stop within {timeout:g} s")
    if _running(state.pid, state.since):  # (still that process, not one with its number)
        with contextlib.suppress(ProcessLookupError):
            os.kill(state.pid, signal.SIGKILL)  # its QEMUs and fabric die with it
    _wait_gone(name, state, time.monotonic() + 10)
    return (
        f"lab {name} did not stop within {timeout:g} s: killed its supervisor (pid "
        f"{state.pid}), removed {_listed(remove_leftovers(name, state.pid))}"
    )


def _wait_gone(name: str, state: LabState, deadline: float) -> bool:
    """Wait until the supervisor has exited (without a pid: until its lab directory,
    which it removes last, is gone)."""
    pid = state.pid
    while _running(pid, state.since) if pid is not None else lab_dir(name).exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _listed(paths: list[Path]) -> str:
    return ", ".join(str(path) for path in paths) or "nothing"


# The supervisor itself.


class Server:
    """Answers a booted lab's requests, each in a thread of its own: commands to different
    guests run at once, commands to one guest one after another (its lock: a guest has
    one command channel)."""

    def __init__(self, lab: Lab, listener: socket.socket) -> None:
        self.lab = lab
        self.listener = listener
        self.locks = {name: threading.Lock() for name in lab.vms}
        self.going_down = threading.Event()
        self.threads: list[threading.Thread] = []

    def serve(self) -> socket.socket:
        """Answer requests until one asks the lab down; return its connection (to answer
        once the lab is gone)."""
        while True:
            conn, _ = self.listener.accept()
            try:
                conn.settimeout(5.0)  # a request is one line, sent at once
                message = json.loads(conn.makefile("rb").readline())
                conn.settimeout(None)
            except (OSError, ValueError) as error:
                self._reply(conn, {"ok": False, "error": f"bad request: {error}"})
                continue
            if isinstance(message, dict) and message.get("op") == "down":
                return conn
            self.threads = [thread for thread in self.threads if thread.is_alive()]
            thread = threading.Thread(target=self._answer, args=(conn, message), daemon=True)
            self.threads.append(thread)
            thread.start()

    def stop_commands(self, grace: float = 10.0) -> None:
        """Stop the commands still running (their clients hear the lab is going down) and
        wait until every request is answered."""
        self.going_down.set()
        for vm in self.lab.vms.values():
            vm.abort()
        deadline = time.monotonic() + grace
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _answer(self, conn: socket.socket, message: Any) -> None:
        try:
            reply = self.handle(message)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            reply = {"ok": False, "error": f"bad request: {error}"}
        self._reply(conn, reply)

    @staticmethod
    def _reply(conn: socket.socket, reply: dict[str, Any]) -> None:
        with conn, contextlib.suppress(OSError):  # the client may have given up
            conn.sendall(json.dumps(reply).encode() + b"\n")

    def handle(self, message: dict[str, Any]) -> dict[str, Any]:
        op = message.get("op")
        if op == "status":
            return _status(self.lab)
        if op == "exec":
            return self._exec(message)
        return {"ok": False, "error": f"unknown op {op!r}"}

    def _exec(self, message: dict[str, Any]) -> dict[str, Any]:
        name = str(message.get("vm"))
        vm = self.lab.vms.get(name)
        if vm is None:
            return {"ok": False, "error": f"no VM {message.get('vm')!r} in this lab"}
        command, timeout = str(message["command"]), float(message.get("timeout", 60))
        with self.locks[name]:
            if self.going_down.is_set():
                return {"ok": False, "error": f"{name}: command not run: the lab is going down"}
            try:
                result = vm.run(command, timeout)
            except (ConsoleError, VmError) as error:
                return {"ok": False, "error": str(error)}
        return {"ok": True, "status": result.status, "output": result.output}


def _status(lab: Lab) -> dict[str, Any]:
    return {
        "ok": True,
        "state": "running",
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


def make_topology(
    name: str,
    vm_names: list[str],
    *,
    wired: bool = False,
    modules: Sequence[str] = (),
    nic: str = VNIC,
) -> Topology:
    """Plain guests, or (``wired``) guests wired by vNIC ports, or by QEMU's ``nic``;
    ``modules`` load at boot."""
    run = RunDir.new(f"lab-{name}")
    if wired:
        return wired_guests(vm_names, run, modules=list(modules), nic=nic)
    topology = default_specs(vm_names, run)
    for vm in topology.vms:
        vm.modules = list(modules)
    return topology


def serve(
    name: str,
    vm_names: list[str],
    *,
    wired: bool = False,
    modules: Sequence[str] = (),
    nic: str = VNIC,
) -> int:
    home = lab_dir(name)
    home.mkdir(parents=True, exist_ok=True)
    (home / "pid").write_text(f"{os.getpid()}\n")
    for leftover in ("status.json", "stopping", "control.sock"):
        (home / leftover).unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(home / "control.sock"))
    listener.listen(16)
    asked_down: socket.socket | None = None
    try:
        with terminate_on_sigterm():
            signal.signal(signal.SIGINT, signal.default_int_handler)
            platform = provision.ensure()
            topology = make_topology(name, vm_names, wired=wired, modules=modules, nic=nic)
            with Lab(topology, platform) as lab:
                try:
                    lab.start()
                    lab.check()
                except VmError as error:
                    _write_json(home / "status.json", {"ok": False, "error": str(error)})
                    # status.json goes with the lab's home in a moment: the log keeps it
                    # for a `ringlab up` that looks after we are gone
                    print(error, file=sys.stderr, flush=True)
                    return 1
                _write_json(home / "status.json", _status(lab))
                server = Server(lab, listener)
                try:
                    asked_down = server.serve()
                finally:
                    (home / "stopping").touch()
                    listener.close()  # requests from now on find no lab
                    server.stop_commands()
        return 0
    except KeyboardInterrupt:
        return 130
    finally:
        listener.close()
        shutil.rmtree(home, ignore_errors=True)
        if asked_down is not None:  # answered last: when `down` returns, the lab is gone
            with asked_down, contextlib.suppress(OSError):
                asked_down.sendall(b'{"ok": true}\n')


def start_detached(
    name: str,
    vm_names: list[str],
    *,
    wired: bool = False,
    modules: Sequence[str] = (),
    nic: str = VNIC,
    timeout: float = 600.0,
) -> dict[str, Any]:
    """Start a supervisor in the background and wait until its lab is up (or failed, and
    then gone).  A lab of that name already running answers with its status; a dead one's
    leftovers are removed first."""
    state = lab_state(name)
    if state is not None and state.state in ("failed", "stopping"):
        _wait_gone(name, state, time.monotonic() + 60)  # on its way out: start anew
        state = lab_state(name)
    if state is not None and state.state == "dead":
        remove_leftovers(name, state.pid)
        state = None
    if state is not None and state.state == "running":
        try:
            return request(name, {"op": "status"}, timeout=10)
        except ConnectionError as error:
            return {"ok": False, "error": str(error)}
    if state is not None:  # another `ringlab up` is starting it: wait with it

        def starting() -> bool:
            now = lab_state(name)
            return now is not None and now.state != "dead"

        return _wait_up(name, starting, timeout)
    labs_root().mkdir(parents=True, exist_ok=True)
    with open(labs_root() / f"{name}.log", "ab") as log:
        said_from = log.tell()  # what this supervisor writes starts here
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lab.supervisor",
                "--name",
                name,
                *(["--wired"] if wired else []),
                f"--nic={nic}",
                f"--modules={','.join(modules)}",
                *vm_names,
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    status = _wait_up(name, lambda: process.poll() is None, timeout, said_from)
    if process.poll() is None and not status.get("ok"):
        process.terminate()  # it did not come up in time
    return status


def _wait_up(
    name: str, alive: Callable[[], bool], timeout: float, said_from: int | None = None
) -> dict[str, Any]:
    """Wait for the supervisor's status.json; if it exits first, what it wrote to its log
    from ``said_from`` on (the end of the log when None) is the error."""
    deadline = time.monotonic() + timeout
    status_file = lab_dir(name) / "status.json"
    log_file = labs_root() / f"{name}.log"
    if said_from is None:
        said_from = log_file.stat().st_size if log_file.exists() else 0
    while time.monotonic() < deadline:
        if status := _read_json(status_file):
            if not status.get("ok"):  # it tears the lab down: wait, so nothing is left
                end = time.monotonic() + 60
                while alive() and time.monotonic() < end:
                    time.sleep(0.1)
            return status
        if not alive():
            with open(log_file, "rb") as log:
                log.seek(said_from)
                said = log.read().decode(errors="replace").strip()[-3000:]
            return {"ok": False, "error": said or "the lab supervisor exited and said nothing"}
        time.sleep(0.2)
    return {"ok": False, "error": f"the lab did not come up within {timeout:g} s"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--name", default="default")
    parser.add_argument("vms", nargs="*", default=["a"])
    parser.add_argument("--wired", action="store_true", help="give guests vNIC ports on a wire")
    parser.add_argument("--nic", default=VNIC, help="the NIC of a wired lab (vnic, or QEMU's)")
    parser.add_argument("--modules", default="", help="guest modules to load at boot (a,b,...)")
    args = parser.parse_args()
    modules = [m for m in args.modules.split(",") if m]
    return serve(args.name, args.vms, wired=args.wired, modules=modules, nic=args.nic)


if __name__ == "__main__":
    sys.exit(main())
