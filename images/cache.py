"""The provisioning cache: layers keyed by the hash of what they are made from.

Every artefact ringlab provisions (the QEMU bundle, the guest build root, the
runtime root, the kernel modules, the bootable image) is a *layer*: a directory
``<cache>/<kind>/<key>/`` where ``key`` hashes the layer's recipe and the keys of
the layers it is built from.  Change a module's source and only the module
layer and the image above it get a new key; everything below is reused.

A layer is built in a temporary sibling directory and renamed into place only
when complete, so an interrupted build (Ctrl-C, a full disk) never leaves a
half-made layer that a later run would trust.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from images.namespace import remove_tree

#: Name of the file each complete layer carries: its recipe and build facts.
MANIFEST = "layer.json"


def cache_root() -> Path:
    """``$RINGLAB_CACHE``, else ``$XDG_CACHE_HOME/ringlab``, else ``~/.cache/ringlab``."""
    if env := os.environ.get("RINGLAB_CACHE"):
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "ringlab"


def hash_text(*parts: str | bytes) -> str:
    """A short stable digest of some strings (the recipe of a layer)."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()[:16]


def hash_files(paths: Iterable[Path], base: Path) -> str:
    """Digest of file names (relative to ``base``) and contents, order-independent."""
    parts: list[str | bytes] = []
    for path in sorted(paths):
        parts.append(str(path.relative_to(base)))
        parts.append(path.read_bytes())
    return hash_text(*parts)


@dataclass(frozen=True)
class Layer:
    """One cached artefact: ``<cache>/<kind>/<key>``."""

    kind: str
    key: str

    @property
    def path(self) -> Path:
        return cache_root() / self.kind / self.key

    def exists(self) -> bool:
        return (self.path / MANIFEST).is_file()

    def manifest(self) -> dict[str, object]:
        return json.loads((self.path / MANIFEST).read_text())

    def build_dir(self) -> Path:
        """A fresh, empty temporary directory next to the final place."""
        tmp = self.path.with_name(f".{self.key}.{os.getpid()}.tmp")
        if tmp.exists():
            remove_tree(tmp)
        tmp.mkdir(parents=True)
        return tmp

    def commit(self, tmp: Path, facts: dict[str, object]) -> None:
        """Write the manifest into ``tmp`` and move it into place atomically."""
        facts = {"kind": self.kind, "key": self.key, "built": time.time(), **facts}
        (tmp / MANIFEST).write_text(json.dumps(facts, indent=2, sort_keys=True) + "\n")
        if self.path.exists():  # an older incomplete copy: replace it
            remove_tree(self.path)
        tmp.rename(self.path)


def remove_stale_temporaries() -> None:
    """Delete ``.*.tmp`` build directories whose building process is gone."""
    root = cache_root()
    if not root.is_dir():
        return
    for tmp in root.glob("*/.*.tmp"):
        pid = tmp.name.rsplit(".", 2)[-2]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            remove_tree(tmp)


def du(path: Path) -> int:
    """Bytes used by a directory tree (not following symlinks)."""
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total
