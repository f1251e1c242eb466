"""Fixtures for tests that boot real QEMU guests (under TCG here; KVM where it works)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab import libvirt_guest, provision
from lab.provision import Platform
from lab.runs import RunDir
from lab.topology import default_specs
from lab.vm import Lab


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/tests/vm/" in str(item.path):
            item.add_marker(pytest.mark.vm)


#: The two ways guests run: QEMU started by the lab, or libvirt domains.
BACKENDS = ["qemu", "libvirt"]


def libvirt_uri() -> str:
    """The libvirt URI the libvirt backend's tests use; skips the test, saying why, where
    libvirt cannot be reached (``make test`` as root installs and starts it)."""
    uri = libvirt_guest.default_uri()
    try:
        libvirt_guest.connect(uri).close()
    except libvirt_guest.LibvirtError as error:
        pytest.skip(f"the libvirt backend needs libvirt here: {error}")
    return uri


def libvirt_domains(prefix: str = "ringlab-") -> set[str]:
    """Names of the libvirt domains (at :func:`libvirt_uri`) that start with ``prefix``:
    a lab's guests start with its socket directory's name, every lab's with "ringlab-"."""
    connection = libvirt_guest.connect(libvirt_uri())
    try:
        return {d.name() for d in connection.listAllDomains() if d.name().startswith(prefix)}
    finally:
        connection.close()


def on_backend(platform: Platform, backend: str) -> Platform:
    """``platform`` with its guests run by ``backend`` (one of :data:`BACKENDS`)."""
    if backend == "qemu":
        return platform
    return dataclasses.replace(platform, libvirt_uri=libvirt_uri())


@pytest.fixture(scope="session")
def platform() -> Platform:
    """QEMU and the guest image, provisioned on first use (cached afterwards)."""
    return provision.ensure()


@pytest.fixture
def runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run directories of this test only, for it and the ringlab processes it starts: a
    QEMU naming one of them is ours (``pids_of_our_qemus(runs)``), whatever else runs."""
    path = tmp_path / "runs"
    monkeypatch.setenv("RINGLAB_RUNS", str(path))
    return path


@pytest.fixture(scope="module")
def lab(platform: Platform) -> Iterator[Lab]:
    """One booted guest named "a", shared by the tests of a module."""
    topology = default_specs(["a"], RunDir.new("test"))
    with Lab(topology, platform) as lab:
        lab.start()
        yield lab
