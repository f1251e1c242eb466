"""A fresh Debian host, as a new user's: the set-up's first step installs what it lacks.

The host is a copy of the guest's runtime root (Debian trixie with python3 and apt, and
none of debootstrap, cpio, zstd, e2fsprogs, make), entered with chroot in a private mount
namespace. ``python3 images/host_tools.py ensure images`` — what ``make`` and ``.ci/run``
run first — must install everything the set-up needs from Debian's mirror, saying what
and why, and leave ``check`` satisfied.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from images.guest import rootfs_layer
from lab.provision import Platform

ROOT = Path(__file__).resolve().parents[2]


def in_root(root: Path, command: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """``command`` run by sh inside ``root``, with /proc, in a mount namespace of its own
    (whatever happens, no mount outlives it)."""
    script = f"mount -t proc proc {root}/proc && exec chroot {root} /bin/sh -c '{command}'"
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"},
    )


def test_a_host_without_the_tools_gets_them_from_the_first_step(
    platform: Platform, tmp_path: Path
) -> None:
    if os.geteuid() != 0:
        pytest.skip("a chroot needs root; a non-root host is told the command instead")
    runtime = rootfs_layer()
    if not runtime.exists():
        pytest.skip("no runtime root in the cache to copy (provisioning keeps one)")
    host = tmp_path / "host"
    subprocess.run(["cp", "-a", str(runtime.path), str(host)], check=True)
    shutil.copy2("/etc/resolv.conf", host / "etc/resolv.conf")  # the mirror by name
    (host / "var/log/apt").mkdir(parents=True, exist_ok=True)  # the guest's root has no logs
    shutil.copy2(ROOT / "images/host_tools.py", host / "tmp/host_tools.py")

    before = in_root(host, "python3 /tmp/host_tools.py check images", 60)
    assert before.returncode == 1, before.stdout + before.stderr
    for program in ("debootstrap", "cpio", "zstd", "mke2fs", "make"):
        assert program in before.stdout, before.stdout

    ensure = in_root(host, "python3 /tmp/host_tools.py ensure images", 900)
    assert ensure.returncode == 0, ensure.stdout + ensure.stderr
    assert "installing the host tools ringlab needs" in ensure.stdout
    assert "debootstrap" in ensure.stdout and "apt-get install" in ensure.stdout

    after = in_root(host, "python3 /tmp/host_tools.py check images", 60)
    assert after.returncode == 0, after.stdout
    versions = in_root(host, "debootstrap --version && zstd --version && make --version", 60)
    assert versions.returncode == 0, versions.stderr
