"""Private Debian roots: debootstrap and apt, never touching the host's own apt.

The host may be Debian 12 with QEMU 7.2; ringlab needs QEMU >= 10.1 and a
trixie kernel.  Adding newer suites to the host's apt sources would upgrade its
libc, so everything newer is installed into a private root made with
debootstrap, and commands run inside it through ``chroot`` in a private mount
namespace (``unshare -m``): the ``/proc`` mounted for package scripts vanishes
with the namespace, so no mount can leak, whatever happens to us.  A user who is
not root builds the same roots in a user namespace (:mod:`images.namespace`).
"""

from __future__ import annotations

import os
import shlex
import shutil
from pathlib import Path

from images import host_tools, namespace
from images.cache import cache_root
from images.progress import ProvisionError, Steps

MIRROR = "http://deb.debian.org/debian"
SUITE = "trixie"
BACKPORTS = f"{SUITE}-backports"

#: Environment for package scripts inside a private root.
CHROOT_ENV = {
    "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "DEBIAN_FRONTEND": "noninteractive",
    "INITRD": "No",  # the kernel package must not build an initrd we never use
    "HOME": "/root",
}


#: Environment of the host-side build commands: a user's PATH often lacks the sbin
#: directories debootstrap, chroot and mke2fs live in.
HOST_ENV = {**os.environ, "PATH": host_tools.SEARCH_PATH}


def require_tools(*programs: str) -> None:
    """Fail, saying how to get them, unless ``programs`` (of :data:`host_tools.IMAGE_TOOLS`)
    are installed and we may act as root (root, or a user namespace)."""
    lacking = [t for t in host_tools.IMAGE_TOOLS if t.program in programs]
    lacking = [t for t in lacking if host_tools.which(t.program) is None]
    if lacking:
        command = " ".join(host_tools.install_command(lacking))
        raise ProvisionError(
            f"missing host tools:\n{host_tools.describe(lacking)}\n"
            f"`python3 images/host_tools.py ensure` installs them as root; or: sudo {command}"
        )
    if why := namespace.problem():
        raise ProvisionError(why)


def debootstrap(steps: Steps, root: Path, include: list[str]) -> None:
    """A minimal trixie root at ``root``; .debs are shared through the cache."""
    require_tools("debootstrap", "unshare", "chroot")
    debs = cache_root() / "debs" / SUITE
    debs.mkdir(parents=True, exist_ok=True)
    cmd = ["debootstrap", "--variant=minbase", f"--cache-dir={debs}"]
    if include:
        cmd.append("--include=" + ",".join(include))
    # In a user namespace mknod fails: debootstrap bind-mounts /dev's nodes in a container.
    env = HOST_ENV if namespace.privileged() else {**HOST_ENV, "container": "lxc"}
    steps.run(namespace.wrap([*cmd, SUITE, str(root), MIRROR]), env=env)
    (root / "etc/apt/sources.list.d").mkdir(parents=True, exist_ok=True)
    (root / "etc/apt/sources.list.d/backports.list").write_text(f"deb {MIRROR} {BACKPORTS} main\n")
    # Keep downloaded .debs so apt's cache can be copied back to the shared pool.
    (root / "etc/apt/apt.conf.d/99ringlab").write_text(
        'APT::Keep-Downloaded-Packages "true";\nAcquire::Languages "none";\n'
    )
    shutil.copy("/etc/resolv.conf", root / "etc/resolv.conf")


def in_root(steps: Steps, root: Path, command: str) -> str:
    """Run a shell command inside ``root`` (chroot, private mount namespace)."""
    script = (
        f"mount -t proc proc {shlex.quote(str(root / 'proc'))} && "
        f"exec chroot {shlex.quote(str(root))} /bin/sh -c {shlex.quote(command)}"
    )
    return steps.run(namespace.wrap(["/bin/sh", "-c", script]), env=CHROOT_ENV)


def as_root(steps: Steps, argv: list[str], **env: str) -> str:
    """Run a host command that must see the roots' owners as they are (``cp -a``,
    ``mke2fs -d``), with ``env`` added: as a user, inside a user namespace like the one
    the roots were built in."""
    return steps.run(namespace.wrap(argv), env={**HOST_ENV, **env})


def apt_install(steps: Steps, root: Path, packages: list[str], release: str = "") -> None:
    """``apt-get install`` in ``root``, reusing and then refilling the shared .deb pool."""
    pool = cache_root() / "debs" / SUITE
    archives = root / "var/cache/apt/archives"
    archives.mkdir(parents=True, exist_ok=True)
    for deb in pool.glob("*.deb"):
        target = archives / deb.name
        if not target.exists():
            os.link(deb, target) if _same_fs(deb, archives) else shutil.copy(deb, target)
    target_release = f"-t {release} " if release else ""
    in_root(steps, root, "apt-get update -qq")
    in_root(
        steps,
        root,
        f"apt-get install -y -q --no-install-recommends {target_release}"
        + " ".join(shlex.quote(p) for p in packages),
    )
    for deb in archives.glob("*.deb"):
        if not (pool / deb.name).exists():
            shutil.copy(deb, pool / deb.name)


def package_manifest(steps: Steps, root: Path) -> str:
    """``name version`` lines of every package in ``root``: the record of what was built."""
    return in_root(steps, root, "dpkg-query -W -f '${Package} ${Version}\\n' | sort")


def package_version(steps: Steps, root: Path, package: str) -> str:
    return in_root(steps, root, f"dpkg-query -W -f '${{Version}}' {shlex.quote(package)}").strip()


def _same_fs(a: Path, b: Path) -> bool:
    return a.stat().st_dev == b.stat().st_dev
