"""images.namespace: which namespace a build command runs in, and what a user is told when
the host does not let them build (the build itself as a user: tests/vm/test_unprivileged)."""

from __future__ import annotations

import pwd
import subprocess
from pathlib import Path

import pytest

from images import namespace


@pytest.fixture
def user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(namespace.os, "geteuid", lambda: 1234)
    monkeypatch.setattr(namespace.pwd, "getpwuid", lambda _: pwd.struct_passwd(
        ("student", "x", 1234, 1234, "", "/home/student", "/bin/sh")))  # fmt: skip


def test_root_gets_a_mount_namespace_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(namespace.os, "geteuid", lambda: 0)
    argv = namespace.wrap(["chroot", "/r", "true"])
    assert argv[0] == "unshare" and "--mount" in argv and "--user" not in argv
    assert argv[-3:] == ["chroot", "/r", "true"]
    assert namespace.problem() is None


def test_a_user_gets_a_user_namespace_that_maps_their_subordinate_ids(user: None) -> None:
    argv = namespace.wrap(["true"])
    for option in ("--user", "--map-root-user", "--map-auto", "--pid", "--fork", "--mount"):
        assert option in argv
    assert argv[-1] == "true"


def refused(monkeypatch: pytest.MonkeyPatch, said: str) -> None:
    def run(argv: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(argv, 1, "", said)

    monkeypatch.setattr(namespace.subprocess, "run", run)


def test_without_newuidmap_the_user_is_told_to_install_uidmap(
    user: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused(monkeypatch, "unshare: failed to execute newuidmap: No such file or directory")
    monkeypatch.setattr(namespace.shutil, "which", lambda _: None)
    why = namespace.problem()
    assert why is not None
    assert "newuidmap: No such file" in why and "apt-get install uidmap" in why
    assert "ringlab images import" in why


def test_without_subordinate_ids_the_user_is_told_the_usermod(
    user: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused(monkeypatch, "unshare: no line matching user in /etc/subuid")
    monkeypatch.setattr(namespace.shutil, "which", lambda _: "/usr/bin/newuidmap")
    monkeypatch.setattr(namespace, "subordinate_ids", lambda _: range(0))
    why = namespace.problem()
    assert why is not None and "usermod --add-subuids" in why and "student" in why


def test_the_subordinate_id_table_is_read_by_name(tmp_path: Path) -> None:
    table = tmp_path / "subuid"
    table.write_text("someone:100000:65536\nstudent:165536:65536\n")
    assert namespace.subordinate_ids("student", table) == range(165536, 231072)
    assert not namespace.subordinate_ids("nobody-here", table)
    assert not namespace.subordinate_ids("student", tmp_path / "missing")


def test_ubuntus_apparmor_restriction_is_named_with_its_sysctl(
    user: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    refused(monkeypatch, "unshare: write failed /proc/self/uid_map: Operation not permitted")
    monkeypatch.setattr(namespace.shutil, "which", lambda _: "/usr/bin/newuidmap")
    monkeypatch.setattr(namespace, "subordinate_ids", lambda _: range(100000, 165536))
    restrict = tmp_path / "apparmor_restrict_unprivileged_userns"
    restrict.write_text("1\n")
    monkeypatch.setattr(namespace, "APPARMOR_USERNS", restrict)
    why = namespace.problem()
    assert why is not None and "AppArmor" in why
    assert "kernel.apparmor_restrict_unprivileged_userns=0" in why
