"""The lab supervisor without QEMU: a fake lab (``tests/unit/fake_lab.py``) behind the real
serving loop, labs' files in a temporary state directory, stale labs made by hand."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lab import cli, supervisor, vm
from lab.console import Console
from lab.runs import RunDir
from lab.topology import NicSpec, VmSpec
from lab.vm import Vm, VmError
from tests.unit import fake_lab

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def state(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Runs, labs and socket directories of this test only (short paths: unix sockets)."""
    base = Path(tempfile.mkdtemp(prefix="rl-"))
    (base / "tmp").mkdir()
    monkeypatch.setenv("RINGLAB_RUNS", str(base / "runs"))
    monkeypatch.setattr(tempfile, "tempdir", str(base / "tmp"))
    fake_lab.INIT_LOG.clear()
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def _serve(
    monkeypatch: pytest.MonkeyPatch, name: str, vms: list[str], clients: Callable[[], None]
) -> int:
    """Serve a fake lab in this thread while ``clients`` talks to it from another; the
    lab is always asked down at the end.  Returns the supervisor's exit status."""
    fake_lab.patch(monkeypatch)
    errors: list[BaseException] = []

    def drive() -> None:
        try:
            _until(lambda: (supervisor.lab_dir(name) / "status.json").exists())
            clients()
        except BaseException as error:
            errors.append(error)
        finally:
            with contextlib.suppress(Exception):
                supervisor.request(name, {"op": "down"}, timeout=60)

    thread = threading.Thread(target=drive, daemon=True)
    thread.start()
    status = supervisor.serve(name, vms)
    thread.join(60)
    if errors:
        raise errors[0]
    return status


def _exec(name: str, vm: str, seconds: float) -> dict[str, Any]:
    message = {"op": "exec", "vm": vm, "command": str(seconds), "timeout": 60}
    return supervisor.request(name, message, timeout=60)


# Item 7: a guest that does not reach its declared state fails the lab.


def test_init_problems_are_what_the_spec_declares_and_the_guest_could_not_do() -> None:
    log = (
        "[    1.20] ringlab-init: cannot load module a\n"
        "[    1.30] virtio_net virtio0: something else\n"
        "[    6.40] ringlab-init: no interface with MAC 02:72:6c:00:00:01\n"
    )
    nic = NicSpec("b", "02:72:6c:00:00:01", "198.18.0.1/15")
    driven = VmSpec("b", nics=[nic], modules=["a", "vnic"])
    assert vm.init_problems(driven, log) == [
        "cannot load module a",
        "no interface with MAC 02:72:6c:00:00:01 (port b)",
    ]
    # Without a driver loaded at boot a NIC has no interface yet: that is expected.
    undriven = VmSpec("b", nics=[nic], modules=["uio_pci_generic"])
    assert vm.init_problems(undriven, log) == ["cannot load module a"]
    assert vm.init_problems(VmSpec("c"), "[ 1.0] Linux version 6.12\n") == []


def test_a_guest_short_of_its_declared_state_fails_the_lab(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_lab.INIT_LOG["b"] = "[ 1.2] ringlab-init: cannot load module a\n"
    seen: list[dict[str, Any]] = []

    def watch() -> None:
        status = supervisor.lab_dir("t") / "status.json"
        _until(status.exists)
        seen.append(json.loads(status.read_text()))

    assert _serve(monkeypatch, "t", ["b"], watch) == 1
    assert seen[0]["ok"] is False
    assert "b did not reach its declared state" in seen[0]["error"]
    assert "cannot load module a" in seen[0]["error"]
    assert fake_lab.FakeLab.made[-1].stopped_at is not None


# Item 8: guests are independent.


def test_exec_to_different_guests_runs_at_once(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def clients() -> None:
        slow: list[dict[str, Any]] = []
        thread = threading.Thread(target=lambda: slow.append(_exec("t", "a", 3)))
        thread.start()
        time.sleep(0.3)  # a's command is running
        started = time.monotonic()
        fast = _exec("t", "b", 0)
        assert time.monotonic() - started < 1.5, "exec b waited behind exec a"
        assert fast == {"ok": True, "status": 0, "output": "b slept 0\n"}
        thread.join(10)
        assert slow == [{"ok": True, "status": 0, "output": "a slept 3\n"}]

    assert _serve(monkeypatch, "t", ["a", "b"], clients) == 0


def test_exec_to_one_guest_runs_one_command_at_a_time(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def clients() -> None:
        started = time.monotonic()
        threads = [threading.Thread(target=_exec, args=("t", "a", 0.5)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert time.monotonic() - started >= 1.0

    assert _serve(monkeypatch, "t", ["a"], clients) == 0


# Item 9: down stops running commands and answers once everything is gone.


def test_down_stops_a_running_command_and_answers_after_teardown(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def clients() -> None:
        running: list[dict[str, Any]] = []
        thread = threading.Thread(target=lambda: running.append(_exec("t", "a", 30)))
        thread.start()
        time.sleep(0.3)
        started = time.monotonic()
        reply = supervisor.request("t", {"op": "down"}, timeout=10)
        assert reply["ok"] is True
        assert time.monotonic() - started < 5
        lab = fake_lab.FakeLab.made[-1]
        assert lab.stopped_at is not None, "down answered before the lab was torn down"
        assert not supervisor.lab_dir("t").exists()
        thread.join(5)
        assert running and running[0]["ok"] is False
        assert "going down" in running[0]["error"]

    assert _serve(monkeypatch, "t", ["a"], clients) == 0


def test_abort_stops_a_guest_command_at_once(tmp_path: Path) -> None:
    """The real Vm and Console: a command the guest never finishes, stopped from another
    thread (what the supervisor does on down)."""
    ours, guests = socket.socketpair()
    guest = Vm(VmSpec("a"), None, None, RunDir(tmp_path), tmp_path / "s", "tcg")  # type: ignore[arg-type]
    guest.console = Console(ours, tmp_path / "console.log")
    errors: list[BaseException] = []

    def run() -> None:
        try:
            guest.run("sleep 600", timeout=60)
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(0.3)
    guest.abort()
    thread.join(3)
    guests.close()
    assert not thread.is_alive()
    assert isinstance(errors[0], VmError) and "going down" in str(errors[0])


def test_down_waits_for_the_supervisor_and_a_second_down_is_harmless(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.unit.fake_lab", "--name", "t", "a", "b"], cwd=ROOT
    )
    try:
        _until(lambda: (supervisor.lab_dir("t") / "status.json").exists())
        assert cli.main(["down", "--name", "t"]) == 0
        assert child.poll() is not None, "down returned while the supervisor was still there"
        assert not supervisor.lab_dir("t").exists()
        assert "lab t stopped" in capsys.readouterr().out
        assert cli.main(["down", "--name", "t"]) == 0
        assert "no lab named 't' is running" in capsys.readouterr().out
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()


# Item 10: a supervisor killed with SIGKILL leaves a dead lab; status, down, clean.


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def _stale_lab(name: str, pid_file: bool = True) -> tuple[Path, Path]:
    """What a SIGKILLed supervisor leaves: its lab directory and its socket directory."""
    pid = _dead_pid()
    home = supervisor.lab_dir(name)
    home.mkdir(parents=True)
    if pid_file:
        (home / "pid").write_text(f"{pid}\n")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(home / "control.sock"))
    listener.close()  # the socket file stays, nobody listens
    (home / "status.json").write_text(json.dumps({"ok": True, "pid": pid}))
    sockets = Path(tempfile.gettempdir()) / f"ringlab-{pid}-k9x2"
    (sockets / "a").mkdir(parents=True)
    (sockets / "a" / "console.sock").touch()
    return home, sockets


def test_status_says_a_lab_is_dead(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _stale_lab("old")
    _stale_lab("older", pid_file=False)  # a lab of a supervisor that wrote no pid file
    assert cli.main(["status"]) == 0
    out = capsys.readouterr().out
    assert "lab old: dead" in out and "lab older: dead" in out
    assert "ringlab clean" in out
    assert cli.main(["status", "--json"]) == 0
    labs = json.loads(capsys.readouterr().out)
    assert labs["old"]["state"] == "dead" and labs["old"]["ok"] is False
    assert labs["older"]["state"] == "dead"


def test_down_clears_a_dead_lab(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home, sockets = _stale_lab("old")
    assert cli.main(["down", "--name", "old"]) == 0
    assert not home.exists() and not sockets.exists()
    assert "lab old was dead" in capsys.readouterr().out
    assert cli.main(["down", "--name", "old"]) == 0
    assert "no lab named 'old' is running" in capsys.readouterr().out


def test_clean_removes_every_stale_lab_and_nothing_alive(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = [*_stale_lab("one"), *_stale_lab("two", pid_file=False)]
    orphan = Path(tempfile.gettempdir()) / f"ringlab-{_dead_pid()}-orph"  # a killed Lab's
    orphan.mkdir()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        home = supervisor.lab_dir("live")
        home.mkdir(parents=True)
        (home / "pid").write_text(f"{live.pid}\n")  # a supervisor still booting its lab
        ours = Path(tempfile.gettempdir()) / f"ringlab-{live.pid}-live"
        ours.mkdir()
        assert cli.main(["clean"]) == 0
        out = capsys.readouterr().out
        for path in [*stale, orphan]:
            assert not path.exists()
            assert str(path) in out
        assert "stale lab one" in out and "stale lab two" in out
        assert home.exists() and ours.exists()
        assert cli.main(["clean"]) == 0
        assert "nothing to clean" in capsys.readouterr().out
    finally:
        live.kill()
        live.wait()
