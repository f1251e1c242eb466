"""Image bundles: what export writes, and what import refuses before anything reaches the
cache.  The layers here are small stand-ins at the keys this tree computes, not images."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from images import bundle
from images.cache import MANIFEST, Layer
from images.progress import Steps


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("RINGLAB_CACHE", str(root))
    return root


@pytest.fixture
def steps(tmp_path: Path) -> Steps:
    return Steps(tmp_path / "build.log")


def fake_layers() -> list[Layer]:
    """The runtime layers, each with a manifest, a file in a folder and a relative link."""
    layers = bundle.runtime_layers()
    for layer in layers:
        (layer.path / "lib").mkdir(parents=True)
        (layer.path / MANIFEST).write_text(json.dumps({"kind": layer.kind, "key": layer.key}))
        (layer.path / "lib" / "blob").write_bytes(layer.kind.encode() * 1000)
        (layer.path / "link").symlink_to("lib/blob")
    return layers


def moved_away(layers: list[Layer], where: Path) -> None:
    """Empty the cache (a student's machine has none of it)."""
    where.mkdir()
    for layer in layers:
        layer.path.rename(where / f"{layer.kind}-{layer.key}")


def test_a_bundle_round_trips_every_file(cache: Path, steps: Steps, tmp_path: Path) -> None:
    layers = fake_layers()
    out = tmp_path / "ringlab-images.tar.gz"
    assert bundle.export(out, steps) == layers
    moved_away(layers, tmp_path / "built")
    imported = bundle.import_(out, steps)
    assert imported.layers == layers and imported.mismatch == ""
    for layer in layers:
        assert (layer.path / "lib" / "blob").read_bytes() == layer.kind.encode() * 1000
        assert (layer.path / "link").readlink() == Path("lib/blob")
    assert not list(cache.glob(".import*"))  # no work folder left


def test_export_before_a_build_says_what_to_run(cache: Path, steps: Steps, tmp_path: Path) -> None:
    with pytest.raises(bundle.BundleError, match="ringlab images build"):
        bundle.export(tmp_path / "x.tar.gz", steps)
    assert not (tmp_path / "x.tar.gz").exists()


def rewrite(
    src: Path, dest: Path, change: dict[str, bytes | None], extra: dict[str, bytes | str]
) -> None:
    """A copy of bundle ``src`` with members' contents changed (None: dropped) or added."""
    with tarfile.open(src) as old, tarfile.open(dest, "w:gz") as new:
        for member in old:
            data = old.extractfile(member).read() if member.isfile() else None  # type: ignore[union-attr]
            if member.name in change:
                data = change[member.name]
                if data is None:
                    continue
                member.size = len(data)
            new.addfile(member, io.BytesIO(data) if data is not None else None)
        for name, data in extra.items():
            info = tarfile.TarInfo(name)
            if data == "char":  # a device node
                info.type = tarfile.CHRTYPE
                new.addfile(info)
            elif isinstance(data, str):  # a symlink to data
                info.type, info.linkname = tarfile.SYMTYPE, data
                new.addfile(info)
            else:
                info.size = len(data)
                new.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize(
    ("change", "extra", "message"),
    [
        ({"image/{image}/lib/blob": b"tampered"}, {}, "does not match the manifest"),
        ({"qemu/{qemu}/lib/blob": None}, {}, "does not match the manifest"),
        ({}, {"image/{image}/lib/extra": b"x"}, "does not match the manifest"),
        ({}, {"../outside": b"x"}, "outside the bundle's layers"),
        ({}, {"qemu/{qemu}/../../escape": b"x"}, "outside the bundle's layers"),
        ({"bundle.json": b'{"format": 99}'}, {}, "format 99"),
        ({}, {"qemu/{qemu}/lib/evil": "../../../etc/passwd"}, "points outside its layer"),
        ({}, {"image/{image}/dev": "char"}, "not a file, folder or symlink"),
    ],
)
def test_a_damaged_bundle_imports_nothing(
    cache: Path,
    steps: Steps,
    tmp_path: Path,
    change: dict[str, bytes | None],
    extra: dict[str, bytes | str],
    message: str,
) -> None:
    layers = fake_layers()
    keys = {layer.kind: layer.key for layer in layers}
    good = tmp_path / "good.tar.gz"
    bundle.export(good, steps)
    moved_away(layers, tmp_path / "built")
    bad = tmp_path / "bad.tar.gz"
    rewrite(
        good,
        bad,
        {name.format(**keys): data for name, data in change.items()},
        {name.format(**keys): data for name, data in extra.items()},
    )
    with pytest.raises(bundle.BundleError, match=message):
        bundle.import_(bad, steps)
    assert not any(layer.path.exists() for layer in layers)
    assert not (tmp_path / "escape").exists() and not (cache.parent / "outside").exists()
    assert not list(cache.glob(".import*"))


def test_a_file_that_is_no_bundle_gets_a_clear_error(
    cache: Path, steps: Steps, tmp_path: Path
) -> None:
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not a tarball at all")
    with pytest.raises(bundle.BundleError, match="cannot be read as a bundle"):
        bundle.import_(junk, steps)
    plain = tmp_path / "plain.tar.gz"
    with tarfile.open(plain, "w:gz") as tar:
        info = tarfile.TarInfo("README")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(bundle.BundleError, match="not a ringlab bundle"):
        bundle.import_(plain, steps)


def test_an_image_of_another_tree_is_imported_with_a_warning(
    cache: Path, steps: Steps, tmp_path: Path
) -> None:
    layers = fake_layers()
    other = Layer("image", "0123456789abcdef")
    image = next(layer for layer in layers if layer.kind == "image")
    image.path.rename(other.path)
    manifest = json.loads((other.path / MANIFEST).read_text())
    (other.path / MANIFEST).write_text(json.dumps({**manifest, "key": other.key}))
    # export ships this tree's layers only, so build the other tree's bundle by hand
    out = tmp_path / "other.tar.gz"
    with tarfile.open(out, "w:gz") as tar:
        entries = [
            {"kind": layer.kind, "key": layer.key, "files": bundle._files(layer.path)}
            for layer in (layers[0], other)
        ]
        data = json.dumps({"format": bundle.FORMAT, "layers": entries}).encode()
        info = tarfile.TarInfo(bundle.BUNDLE_MANIFEST)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        for layer in (layers[0], other):
            tar.add(layer.path, arcname=f"{layer.kind}/{layer.key}")
    moved_away([layers[0], other], tmp_path / "built")
    imported = bundle.import_(out, steps)
    assert other in imported.layers
    assert "use the bundle made from the same commit" in imported.mismatch
