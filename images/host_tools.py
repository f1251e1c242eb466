"""The host tools the set-up needs, in one place: checked, and installed where we may.

``make demo``, ``make test`` and ``.ci/run`` start here, before the virtualenv exists, so
this module uses the standard library only and runs as a script::

    python3 images/host_tools.py check [venv|images|test]    # list what is missing (exit 1)
    python3 images/host_tools.py ensure [venv|images|test]   # install it (root, Debian) or say how

``venv`` is what the virtualenv needs (``make test-unit``, ``make docs``), ``images``
(the default) adds what building the QEMU bundle and the guest images needs, ``test``
what ``make test`` needs on top.

``ensure`` as root on a Debian-family host (``/etc/debian_version`` and ``apt-get``)
installs the missing packages with apt, saying which and why; as another user, or on
another system, it prints the one command to run and exits 1. It never touches apt's
sources: newer Debian releases go into private roots only (:mod:`images.debian`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Tool:
    """A program the set-up runs, the Debian package that has it, and what for."""

    program: str
    package: str
    why: str
    #: For a package without a program (headers, say): a file it installs, checked instead.
    file: str = ""


#: Where programs are looked for: the caller's PATH, then the sbin directories a user's PATH
#: often lacks (debootstrap, chroot and mke2fs live there).
SEARCH_PATH = os.pathsep.join(
    [os.environ.get("PATH", os.defpath), "/usr/local/sbin", "/usr/sbin", "/sbin"]
)


def which(program: str) -> str | None:
    return shutil.which(program, path=SEARCH_PATH)


#: What the virtualenv needs, besides :data:`VENV_PACKAGE`.
VENV_TOOLS = (Tool("make", "make", "the README's two commands"),)
#: What building the QEMU bundle and the guest images needs too.
IMAGE_TOOLS = (
    Tool("debootstrap", "debootstrap", "the private Debian roots the guest is built in"),
    Tool("unshare", "util-linux", "a private mount namespace for commands in those roots"),
    Tool("chroot", "coreutils", "commands inside those roots"),
    Tool("newuidmap", "uidmap", "building them as a user, in a user namespace"),
    Tool("cpio", "cpio", "the guest's stage-0 initramfs"),
    Tool("mke2fs", "e2fsprogs", "the guest's ext4 image"),
    Tool("zstd", "zstd", "unpacking the guest kernel"),
    Tool("xz", "xz-utils", "unpacking the guest's kernel modules"),
)
#: The virtualenv needs ensurepip, which Debian ships apart from python3.
VENV_PACKAGE = Tool("python3 -m venv", "python3-venv", "the project's virtualenv")
#: What ``make test`` needs besides: a terminal multiplexer the ``ringlab watch`` test
#: types into and reads the screen of, as a person would; libvirt for the libvirt
#: backend's tests, and its headers for libvirt-python.
TEST_TOOLS = (
    Tool("tmux", "tmux", "the ringlab watch test drives a real terminal"),
    Tool("libvirtd", "libvirt-daemon-system", "the libvirt backend's tests"),
    Tool("pkg-config", "pkg-config", "building libvirt-python"),
    Tool("libvirt-dev", "libvirt-dev", "building libvirt-python", "/usr/include/libvirt/libvirt.h"),
)
SCOPES = {
    "venv": VENV_TOOLS,
    "images": VENV_TOOLS + IMAGE_TOOLS,
    "test": VENV_TOOLS + IMAGE_TOOLS + TEST_TOOLS,
}


def has_ensurepip() -> bool:
    return importlib.util.find_spec("ensurepip") is not None


def missing(
    scope: str = "images",
    which: Callable[[str], str | None] = which,
    venv_ok: Callable[[], bool] = has_ensurepip,
    exists: Callable[[str], bool] = os.path.exists,
) -> list[Tool]:
    """The tools of ``scope`` (a key of :data:`SCOPES`) this host lacks; ``which`` finds a
    program (:func:`which`), ``exists`` a tool's file, ``venv_ok`` says whether
    ``python3 -m venv`` works."""
    lacking = [
        tool
        for tool in SCOPES[scope]
        if not (exists(tool.file) if tool.file else which(tool.program) is not None)
    ]
    if not venv_ok():
        lacking.append(VENV_PACKAGE)
    return lacking


def install_command(tools: list[Tool]) -> list[str]:
    packages = sorted({tool.package for tool in tools})
    return ["apt-get", "install", "-y", "--no-install-recommends", *packages]


def can_install(root: Path = Path("/")) -> bool:
    """Root on a Debian-family host with apt: we may install packages ourselves."""
    return (
        os.geteuid() == 0
        and (root / "etc/debian_version").exists()
        and shutil.which("apt-get") is not None
    )


def describe(tools: list[Tool]) -> str:
    return "\n".join(f"  {tool.program:<16} ({tool.package}): {tool.why}" for tool in tools)


def ensure(scope: str = "images") -> int:
    lacking = missing(scope)
    if not lacking:
        return 0
    command = install_command(lacking)
    if not can_install():
        print(
            f"ringlab needs these host tools:\n{describe(lacking)}\n"
            f"install them with:\n  sudo {' '.join(command)}",
            file=sys.stderr,
        )
        return 1
    print(f"installing the host tools ringlab needs:\n{describe(lacking)}", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for step in (["apt-get", "update", "-qq"], [*command[:2], "-qq", *command[2:]]):
        print("+ " + " ".join(step), flush=True)
        if subprocess.run(step, env=env).returncode != 0:
            print(f"ringlab: {' '.join(step)} failed", file=sys.stderr)
            return 1
    if still := missing(scope):
        print(f"still missing after apt:\n{describe(still)}", file=sys.stderr)
        return 1
    return 0


LIBVIRT_SOCKET = Path("/run/libvirt/libvirt-sock")
#: Each system daemon and the socket it answers on.
LIBVIRT_DAEMONS = {"virtlogd": Path("/run/libvirt/virtlogd-sock"), "libvirtd": LIBVIRT_SOCKET}


def answering(path: Path) -> bool:
    """A daemon listens on the Unix socket ``path``: a socket file alone may be left over
    from a daemon that is gone (a restarted container keeps /run)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


def start_libvirt() -> int:
    """As root, start libvirt's system daemons (libvirtd, and virtlogd for the guests'
    logs) when nothing answers on their sockets: a host without systemd, like CI's
    container, does not start them on install.  And give /dev/kvm to group kvm as Debian's udev rule
    does where udev has not: libvirt runs QEMU as libvirt-qemu (in group kvm), and a
    /dev/kvm it cannot open makes libvirt 9 probe QEMU again at every guest start (36 s)."""
    if os.geteuid() != 0 or answering(LIBVIRT_SOCKET) or shutil.which("libvirtd") is None:
        return 0
    kvm = Path("/dev/kvm")
    if kvm.exists() and kvm.stat().st_gid == 0 and kvm.stat().st_mode & 0o070 == 0:
        with contextlib.suppress(KeyError, OSError):
            shutil.chown(kvm, group="kvm")
            kvm.chmod(0o660)
    for daemon, daemon_socket in LIBVIRT_DAEMONS.items():
        if answering(daemon_socket):
            continue
        print(f"+ {daemon} -d", flush=True)
        if subprocess.run([daemon, "-d"]).returncode != 0:
            print(f"ringlab: {daemon} -d failed", file=sys.stderr)
            return 1
    for _ in range(50):  # libvirtd makes its socket a moment after it forks
        if answering(LIBVIRT_SOCKET):
            return 0
        time.sleep(0.1)
    print(f"ringlab: libvirtd started but {LIBVIRT_SOCKET} did not appear", file=sys.stderr)
    return 1


def main(argv: list[str]) -> int:
    command, scope = [*argv, "images"][:2] if argv else ("", "")
    if len(argv) > 2 or command not in ("check", "ensure") or scope not in SCOPES:
        usage = "usage: python3 images/host_tools.py check|ensure [venv|images|test]"
        print(usage, file=sys.stderr)
        return 2
    if command == "ensure":
        return ensure(scope) or (start_libvirt() if scope == "test" else 0)
    lacking = missing(scope)
    if lacking:
        print(f"missing host tools:\n{describe(lacking)}")
    return 1 if lacking else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
