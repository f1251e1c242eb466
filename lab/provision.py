"""Everything a lab needs before the first guest boots: QEMU, the image, the accelerator."""

from __future__ import annotations

import os
from dataclasses import dataclass

from images import guest, qemu
from images.cache import cache_root, remove_stale_temporaries
from images.guest import GuestImage
from images.progress import Steps
from images.qemu import Qemu
from lab import kvm


@dataclass(frozen=True)
class Platform:
    qemu: Qemu
    image: GuestImage
    accel: str  # "kvm" or "tcg"
    accel_reason: str


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
    return Platform(found_qemu, image, accel, reason)
