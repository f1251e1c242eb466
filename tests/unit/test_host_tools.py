"""The host tools the set-up needs: one list, checked, installed as root on Debian, named
with the command to run otherwise."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from images import debian, host_tools
from images.progress import ProvisionError

ROOT = Path(__file__).resolve().parents[2]


def nothing(program: str) -> None:
    return None


def test_a_bare_host_lacks_every_tool_of_its_scope() -> None:
    venv = host_tools.missing("venv", which=nothing, venv_ok=lambda: False)
    assert [t.package for t in venv] == ["make", "python3-venv"]
    images = host_tools.missing("images", which=nothing, venv_ok=lambda: True)
    assert {"debootstrap", "cpio", "zstd", "e2fsprogs", "xz-utils"} <= {t.package for t in images}
    everything = host_tools.missing("images", which=lambda p: f"/usr/bin/{p}", venv_ok=lambda: True)
    assert everything == []


def test_the_install_command_names_each_package_once() -> None:
    tools = host_tools.missing("images", which=nothing, venv_ok=lambda: False)
    command = host_tools.install_command(tools)
    assert command[:4] == ["apt-get", "install", "-y", "--no-install-recommends"]
    packages = command[4:]
    assert packages == sorted(set(packages)) and "python3-venv" in packages


def test_without_root_ensure_says_the_one_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lacking = [t for t in host_tools.IMAGE_TOOLS if t.program in ("debootstrap", "cpio")]
    monkeypatch.setattr(host_tools, "missing", lambda scope: lacking)
    monkeypatch.setattr(host_tools.os, "geteuid", lambda: 1000)
    ran: list[list[str]] = []
    monkeypatch.setattr(host_tools.subprocess, "run", lambda cmd, **kw: ran.append(cmd))
    assert host_tools.ensure("images") == 1
    err = capsys.readouterr().err
    assert "sudo apt-get install -y --no-install-recommends cpio debootstrap" in err
    assert "the private Debian roots" in err  # and why each is needed
    assert ran == []  # nothing installed without root


def test_as_root_on_debian_ensure_installs_with_apt(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lacking = [t for t in host_tools.IMAGE_TOOLS if t.program == "zstd"]
    answers = [lacking, []]  # before apt, and after
    monkeypatch.setattr(host_tools, "missing", lambda scope: answers.pop(0))
    monkeypatch.setattr(host_tools, "can_install", lambda: True)
    ran: list[list[str]] = []

    def run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
        ran.append(cmd)
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(host_tools.subprocess, "run", run)
    assert host_tools.ensure("images") == 0
    assert ran == [
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-qq", "-y", "--no-install-recommends", "zstd"],
    ]
    assert "zstd" in capsys.readouterr().out


def test_only_root_on_a_debian_family_host_installs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(host_tools.os, "geteuid", lambda: 0)
    assert not host_tools.can_install(tmp_path)  # no /etc/debian_version: not Debian
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/debian_version").write_text("12.8\n")
    assert host_tools.can_install(tmp_path) == (host_tools.shutil.which("apt-get") is not None)
    monkeypatch.setattr(host_tools.os, "geteuid", lambda: 1000)
    assert not host_tools.can_install(tmp_path)


def test_the_image_build_names_what_is_missing_and_how(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(debian.host_tools, "which", nothing)
    with pytest.raises(ProvisionError) as error:
        debian.require_tools("debootstrap", "unshare")
    text = str(error.value)
    assert "debootstrap" in text and "util-linux" in text
    assert "python3 images/host_tools.py ensure" in text


def test_ci_and_the_makefile_use_the_one_list() -> None:
    ci = (ROOT / ".ci/run").read_text()
    assert "host_tools.py ensure test" in ci and "debootstrap" not in ci and "tmux" not in ci
    makefile = (ROOT / "Makefile").read_text()
    for scope in ("venv", "images", "test"):
        assert f"host_tools.py ensure {scope}" in makefile


def test_the_script_refuses_what_it_does_not_know() -> None:
    script = ROOT / "images/host_tools.py"
    bad = subprocess.run(["python3", str(script), "install"], capture_output=True, text=True)
    assert bad.returncode == 2 and "usage" in bad.stderr


def test_a_socket_file_nobody_listens_on_is_not_a_running_daemon(tmp_path: Path) -> None:
    path = tmp_path / "libvirt-sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(path))
        assert not host_tools.answering(path)  # bound, not listening: as a dead daemon's
        server.listen()
        assert host_tools.answering(path)
    assert path.exists() and not host_tools.answering(path)  # the file outlives it
    assert not host_tools.answering(tmp_path / "none")
