"""Where the image build's privileged commands run: a private mount namespace, and for a
user who is not root, a user namespace too.

The build needs to be root in three ways: debootstrap and dpkg give files to many owners
(root, ``_apt``, group ``shadow``), package scripts want ``/proc`` mounted in the root
they run in, and ``chroot``.  Root gets a private mount namespace (``unshare --mount``),
so a mount can never outlive the command.  A user gets a *user* namespace in which they
are root: ``unshare --map-root-user --map-auto`` maps their own uid to 0 and the block of
subordinate ids ``/etc/subuid`` gives them (Debian's ``useradd`` assigns one to every new
account; ``newuidmap`` from the ``uidmap`` package writes the map) to 1..65535, so every
owner dpkg sets is a real id; ``--pid --fork`` makes the namespace own a PID namespace,
without which the kernel refuses to mount ``/proc``.  debootstrap learns it cannot
``mknod`` device nodes there from ``container=lxc`` (an unprivileged LXC container is
the same thing) and bind-mounts them instead.

Files the namespace's root made belong to the user outside it; the few that ``_apt`` owns
belong to a subordinate id, so only the namespace removes them (:func:`remove_tree`).

On Ubuntu 24.04, AppArmor lets unprivileged programs create user namespaces only without
capabilities (``kernel.apparmor_restrict_unprivileged_userns = 1``): :func:`problem`
says so, and what to do (an administrator's sysctl, or images built once and imported).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
from pathlib import Path

#: How a user becomes root over their own files and subordinate ids.
USER_NAMESPACE = ["--user", "--map-root-user", "--map-auto", "--pid", "--fork", "--kill-child"]
APPARMOR_USERNS = Path("/proc/sys/kernel/apparmor_restrict_unprivileged_userns")


def privileged() -> bool:
    return os.geteuid() == 0


def wrap(argv: list[str]) -> list[str]:
    """``argv`` in a private mount namespace; as a user, in a user namespace too."""
    user = [] if privileged() else USER_NAMESPACE
    return ["unshare", *user, "--mount", "--propagation", "private", *argv]


def problem() -> str | None:
    """Why this user cannot build images here, with what to do; None when they can."""
    if privileged():
        return None
    probe = subprocess.run(wrap(["true"]), capture_output=True, text=True, check=False)
    if probe.returncode == 0:
        return None
    user = pwd.getpwuid(os.geteuid()).pw_name
    said = probe.stderr.strip()
    if shutil.which("newuidmap") is None:  # only a user needs it: not in require_tools
        fix = "sudo apt-get install uidmap"
    elif not subordinate_ids(user):
        fix = f"sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {user}"
    elif APPARMOR_USERNS.exists() and APPARMOR_USERNS.read_text().strip() == "1":
        fix = (
            "AppArmor forbids unprivileged user namespaces here (Ubuntu 24.04's default); "
            "an administrator may allow them: "
            "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"
        )
    else:
        fix = "this kernel does not let users create user namespaces"
    return (
        f"building images as a user needs a user namespace, and `unshare` said: {said}\n"
        f"{fix}; or build the images once as root and `ringlab images import` them"
    )


def subordinate_ids(user: str, table: Path = Path("/etc/subuid")) -> range:
    """The first block of ids ``table`` gives ``user`` (named, or by uid); empty if none."""
    try:
        lines = table.read_text().splitlines()
    except OSError:
        return range(0)
    names = {user}
    with contextlib.suppress(KeyError):
        names.add(str(pwd.getpwnam(user).pw_uid))
    for line in lines:
        owner, _, block = line.partition(":")
        first, _, count = block.partition(":")
        if owner in names and first.isdigit() and count.isdigit():
            return range(int(first), int(first) + int(count))
    return range(0)


def remove_tree(path: Path) -> None:
    """Remove a tree a build made, whoever owns its parts (see the module's docstring)."""
    shutil.rmtree(path, ignore_errors=True)
    if path.exists() and not privileged():
        subprocess.run(wrap(["rm", "-rf", str(path)]), capture_output=True, check=False)
