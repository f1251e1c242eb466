"""``ringlab up``'s options, parsed as a TA scripting the lab would write them."""

from __future__ import annotations

from typing import Any

import pytest

from lab import cli, supervisor


@pytest.mark.parametrize(
    ("words", "vms", "wired", "modules", "nic"),
    [
        (["up"], ["a"], False, [], "vnic"),
        (["up", "a", "b"], ["a", "b"], False, [], "vnic"),
        # The lab page's form: --wired is a flag; a wired lab loads the driver, vnic.
        (["up", "--wired", "a", "b"], ["a", "b"], True, ["vnic"], "vnic"),
        (["up", "a", "b", "--wired"], ["a", "b"], True, ["vnic"], "vnic"),
        (
            ["up", "--wired", "--modules", "uio_pci_generic", "a"],
            ["a"],
            True,
            ["uio_pci_generic"],
            "vnic",
        ),
        (["up", "--wired", "--modules", "", "a", "b"], ["a", "b"], True, [], "vnic"),
        (["up", "--modules", "vnic,netmap", "a"], ["a"], False, ["vnic", "netmap"], "vnic"),
        # The old spelling, unambiguous with "=": wired, with these modules.
        (["up", "--wired=vnic,netmap", "a", "b"], ["a", "b"], True, ["vnic", "netmap"], "vnic"),
        # QEMU's own NIC, back to back: wired, the lab's modules (the driver comes with it).
        (["up", "--nic", "igb", "a", "b"], ["a", "b"], True, ["vnic"], "igb"),
        (
            ["up", "--nic=virtio-net-pci", "--modules", "", "a", "b"],
            ["a", "b"],
            True,
            [],
            "virtio-net-pci",
        ),
    ],
)
def test_up_reads_guests_wiring_and_modules_apart(
    monkeypatch: pytest.MonkeyPatch,
    words: list[str],
    vms: list[str],
    wired: bool,
    modules: list[str],
    nic: str,
) -> None:
    calls: list[tuple[Any, ...]] = []

    def start_detached(
        name: str, vm_names: list[str], *, wired: bool, modules: list[str], nic: str
    ) -> dict[str, Any]:
        calls.append((name, vm_names, wired, modules, nic))
        return {"ok": True, "run_dir": "/runs/x", "vms": {}}

    monkeypatch.setattr(supervisor, "start_detached", start_detached)
    assert cli.main(words) == 0
    assert calls == [("default", vms, wired, modules, nic)]


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("", "host name"),
        ("a,b", "--modules"),
        ("uio_pci_generic", "--modules"),
        ("vnic", "--modules"),  # `up --wired vnic a b` used to mean "load vnic"
    ],
)
def test_up_refuses_what_is_not_a_guest_name(
    capsys: pytest.CaptureFixture[str], name: str, hint: str
) -> None:
    with pytest.raises(SystemExit) as exit:
        cli.parse(["up", "--wired", name, "b"])
    assert exit.value.code == 2
    assert hint in capsys.readouterr().err


def test_up_fails_when_the_lab_fails(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    error = "b did not reach its declared state: cannot load module a"
    monkeypatch.setattr(supervisor, "start_detached", lambda *a, **k: {"ok": False, "error": error})
    assert cli.main(["up", "--wired", "a", "b"]) == 1
    assert "cannot load module a" in capsys.readouterr().err


def test_an_error_that_reads_as_markup_is_shown_as_it_is(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A compiler's message quoting [/usr/src/...Makefile.build:234: x.o] must not crash rich."""
    from images.progress import ProvisionError

    message = (
        "command failed: make[2]: *** [/usr/src/linux/scripts/Makefile.build:234: a.o] Error 1"
    )

    def fail(*args: Any, **kwargs: Any) -> dict[str, Any]:
        raise ProvisionError(message)

    monkeypatch.setattr(supervisor, "start_detached", fail)
    assert cli.main(["up", "a"]) == 1
    assert message in capsys.readouterr().err.replace("\n", "")
