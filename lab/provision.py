"""Everything a lab needs before the first guest boots: QEMU, the image, the accelerator;
what of it this machine already has (:func:`survey`, for ``ringlab doctor``)."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from typing import Any

from images import guest, qemu
from images.cache import cache_root, du, remove_stale_temporaries
from images.guest import GuestImage
from images.progress import ProvisionError, Steps
from images.qemu import Qemu
from lab import kvm, libvirt_guest


@dataclass(frozen=True)
class Platform:
    qemu: Qemu
    image: GuestImage
    accel: str  # "kvm" or "tcg"
    accel_reason: str
    #: Where guests run: None for QEMU started by the lab itself, else a libvirt URI
    #: (``RINGLAB_BACKEND=libvirt``; see :mod:`lab.libvirt_guest`).
    libvirt_uri: str | None = None


def backend() -> str | None:
    """The libvirt URI guests run under, or None for the lab's own QEMU processes:
    ``RINGLAB_BACKEND`` (``qemu``, the default, or ``libvirt``; ``ringlab --backend``
    sets it, so a lab's supervisor and graders inherit it)."""
    chosen = os.environ.get("RINGLAB_BACKEND") or "qemu"
    if chosen == "qemu":
        return None
    if chosen == "libvirt":
        return libvirt_guest.default_uri()
    raise ProvisionError(f"RINGLAB_BACKEND={chosen!r}: choose qemu or libvirt")


def accelerator(found_qemu: Qemu, image: GuestImage) -> tuple[str, str]:
    """("kvm"|"tcg", why).  ``RINGLAB_ACCEL=tcg`` forces TCG."""
    if os.environ.get("RINGLAB_ACCEL") == "tcg":
        return "tcg", "RINGLAB_ACCEL=tcg"
    usable, reason = kvm.probe(list(found_qemu.argv), image.kernel, cache_root() / "kvm.json")
    return ("kvm" if usable else "tcg"), reason


def ensure() -> Platform:
    """Build what is missing (progress on stderr) and return the platform."""
    remove_stale_temporaries()
    steps = Steps(cache_root() / "build.log")
    found_qemu = qemu.ensure(steps)
    image = guest.ensure(steps)
    accel, reason = accelerator(found_qemu, image)
    return Platform(found_qemu, image, accel, reason, backend())


def survey() -> dict[str, Any]:
    """What this machine offers, as plain data (``ringlab doctor``; builds nothing): the
    Python, QEMU and whether it has vfio-user-pci, the guest image, the accelerator, the
    cache, its layers and its size, and who runs the guests (the backend)."""
    found = qemu.find()
    facts: dict[str, Any] = {"python": sys.version.split()[0], "cache": str(cache_root())}
    if found is None:
        system = shutil.which("qemu-system-x86_64")
        probe = qemu.probe([system]) if system else None
        facts["qemu"] = {
            "usable": False,
            "system": probe[0] if probe else None,
            "why": "no QEMU >= 10.1 with vfio-user-pci yet: `ringlab images build` makes one",
        }
    else:
        probed = qemu.probe(list(found.argv))
        facts["qemu"] = {
            "usable": probed is not None and probed[1],
            "version": probed[0] if probed else found.version,
            "version_number": ".".join(map(str, qemu.parse_version(probed[0]))) if probed else None,
            "vfio_user_pci": bool(probed and probed[1]),
            "source": found.source,
        }
    image = guest.find()
    facts["image"] = (
        {"built": True, "kernel": image.kernel_version, "key": image.key}
        if image
        else {"built": False}
    )
    if found is not None and image is not None:
        accel, reason = accelerator(found, image)
        facts["accel"] = {"use": accel, "kvm_usable": accel == "kvm", "why": reason}
    else:
        facts["accel"] = {
            "use": "tcg",
            "kvm_usable": None,
            "why": "probed once QEMU and image exist",
        }
    root = cache_root()
    facts["cache_layers"] = (
        {
            kind.name: sorted(p.name for p in kind.iterdir() if not p.name.startswith("."))
            for kind in sorted(root.iterdir())
            if kind.is_dir() and kind.name != "debs"
        }
        if root.is_dir()
        else {}
    )
    facts["cache_bytes"] = du(root) if root.is_dir() else 0
    uri = backend()
    facts["backend"] = {"use": "libvirt", "uri": uri} if uri else {"use": "qemu"}
    return facts
