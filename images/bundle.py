"""Provisioned images in one file: built once by an instructor, imported anywhere.

Building the guest image needs root or a user namespace (:mod:`images.namespace`), which
containers rarely allow; running the lab needs neither.  So an instructor runs ``ringlab
images export FILE`` on a machine that built them, and students, TAs and graders in
unprivileged containers run ``ringlab images import FILE``::

    FILE (a gzip'd tarball)
      bundle.json                 format, the layers, every file's size and SHA-256
      qemu/<key>/...              the relocatable QEMU bundle, as in the cache
      image/<key>/...             kernel, initramfs and root file system of the guests

Import checks the tarball before anything reaches the cache: members only inside their
layers (no absolute paths, no ``..``, no devices, no links out of a layer), every file listed
in the manifest and no other, each with its size and SHA-256.  Only then are the layers
moved into place, each with one rename.  A layer's key says what it was built from; the
guest image is used only by a ringlab tree whose sources give the same key
(:func:`check_tree`).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

from images import guest, qemu
from images.cache import MANIFEST, Layer, cache_root
from images.progress import ProvisionError, Steps

FORMAT = 1
BUNDLE_MANIFEST = "bundle.json"


class BundleError(ProvisionError):
    """A bundle could not be written or read; the message says why."""


@dataclass(frozen=True)
class Imported:
    layers: list[Layer]
    #: Why this tree will not use the imported image, or "" when it will.
    mismatch: str


def runtime_layers() -> list[Layer]:
    """What a lab needs at run time: the QEMU bundle and the guest image of this tree."""
    return [qemu.bundle_layer(), guest.image_layer()]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _files(layer_dir: Path) -> dict[str, dict[str, object]]:
    """Every regular file and symlink under ``layer_dir``, by relative path."""
    out: dict[str, dict[str, object]] = {}
    for path in sorted(layer_dir.rglob("*")):
        rel = path.relative_to(layer_dir).as_posix()
        if path.is_symlink():
            out[rel] = {"link": os.readlink(path)}
        elif path.is_file():
            out[rel] = {"size": path.stat().st_size, "sha256": _sha256(path)}
    return out


def export(dest: Path, steps: Steps) -> list[Layer]:
    """Write the runtime layers of this cache to ``dest``; the layers written."""
    layers = runtime_layers()
    missing = [f"{layer.kind}/{layer.key}" for layer in layers if not layer.exists()]
    if missing:
        raise BundleError(
            f"nothing to export yet: {', '.join(missing)} not in {cache_root()}"
            " (run `ringlab images build` first)"
        )
    with steps.step(f"hashing {len(layers)} layers"):
        manifest: dict[str, object] = {
            "format": FORMAT,
            "created": time.time(),
            "layers": [
                {"kind": layer.kind, "key": layer.key, "files": _files(layer.path)}
                for layer in layers
            ],
        }
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    with steps.step(f"writing {dest}"):
        try:
            with tarfile.open(tmp, "w:gz", compresslevel=1) as tar:
                data = json.dumps(manifest, indent=1).encode() + b"\n"
                info = tarfile.TarInfo(BUNDLE_MANIFEST)
                info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
                tar.addfile(info, io.BytesIO(data))
                for layer in layers:
                    tar.add(layer.path, arcname=f"{layer.kind}/{layer.key}")
            tmp.rename(dest)
        finally:
            tmp.unlink(missing_ok=True)
    return layers


def import_(src: Path, steps: Steps) -> Imported:
    """Check ``src`` whole, then move its layers into this user's cache."""
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    work = root / f".import.{os.getpid()}.tmp"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        with steps.step(f"unpacking {src}"):
            manifest = _unpack(src, work)
        with steps.step("checking every file against the bundle's manifest"):
            layers = _verify(manifest, work)
        for layer in layers:
            if layer.path.exists():
                shutil.rmtree(layer.path)
            layer.path.parent.mkdir(parents=True, exist_ok=True)
            (work / layer.kind / layer.key).rename(layer.path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Imported(layers, check_tree(layers))


def _unpack(src: Path, work: Path) -> dict[str, object]:
    try:
        with tarfile.open(src, "r:*") as tar:
            first = tar.next()
            if first is None or first.name != BUNDLE_MANIFEST or not first.isfile():
                raise BundleError(
                    f"{src} is not a ringlab bundle: it does not start with {BUNDLE_MANIFEST}"
                )
            stream = tar.extractfile(first)
            assert stream is not None
            manifest = json.loads(stream.read())
            found = manifest.get("format") if isinstance(manifest, dict) else None
            if found != FORMAT:
                raise BundleError(
                    f"{src}: bundle format {found}, this ringlab reads format {FORMAT}"
                )
            for member in tar.getmembers()[1:]:  # after the manifest
                _check_member(src, member)
                tar.extract(member, work)
    except (tarfile.TarError, OSError, json.JSONDecodeError, EOFError) as e:
        raise BundleError(f"{src} cannot be read as a bundle: {e}") from e
    return manifest


def _check_member(src: Path, member: tarfile.TarInfo) -> None:
    """Refuse what could land outside a layer or is not plain data: the checks of tarfile's
    "data" filter, which Debian 12's Python 3.11.2 does not have yet."""
    parts = member.name.split("/")
    if parts[0] not in ("qemu", "image") or ".." in parts or member.name.startswith("/"):
        raise BundleError(f"{src}: {member.name!r} is outside the bundle's layers")
    if not (member.isfile() or member.isdir() or member.issym()):
        raise BundleError(f"{src}: {member.name!r} is not a file, folder or symlink")
    if member.issym():
        layer = "/".join(parts[:2])
        target = os.path.normpath(os.path.join(os.path.dirname(member.name), member.linkname))
        if member.linkname.startswith("/") or not target.startswith(layer + "/"):
            raise BundleError(f"{src}: the link {member.name!r} points outside its layer")
    member.mode &= 0o755  # no set-uid bits, nothing writable by others


def _verify(manifest: dict[str, object], work: Path) -> list[Layer]:
    layers: list[Layer] = []
    listed = manifest.get("layers")
    if not isinstance(listed, list) or not listed:
        raise BundleError("the bundle's manifest lists no layers")
    for entry in listed:
        kind, key, files = entry.get("kind"), entry.get("key"), entry.get("files")
        if kind not in ("qemu", "image") or not isinstance(key, str) or not key.isalnum():
            raise BundleError(f"the manifest names a layer {kind}/{key}, not one ringlab ships")
        layer_dir = work / kind / key
        found = _files(layer_dir) if layer_dir.is_dir() else {}
        if MANIFEST not in found:
            raise BundleError(f"{kind}/{key} has no {MANIFEST}: not a complete layer")
        if found != files:
            bad = sorted(
                set(found) ^ set(files)
                | {f for f in set(found) & set(files) if found[f] != files[f]}
            )
            raise BundleError(
                f"{kind}/{key} does not match the manifest ({len(bad)} files differ, first"
                f" {bad[0]}): the bundle is damaged or was altered; nothing was imported"
            )
        layers.append(Layer(kind, key))
    return layers


def check_tree(layers: list[Layer]) -> str:
    """Why this ringlab tree would not use these layers ("" if it would)."""
    wanted = {layer.kind: layer.key for layer in runtime_layers()}
    have = {layer.kind: layer.key for layer in layers}
    if have.get("image") != wanted["image"]:
        return (
            f"the bundle's guest image is {have.get('image')}, but this ringlab tree's sources"
            f" give {wanted['image']}: use the bundle made from the same commit"
        )
    if have.get("qemu") != wanted["qemu"] and qemu.system_qemu() is None:
        return f"the bundle's QEMU is {have.get('qemu')}, this tree wants {wanted['qemu']}"
    return ""
