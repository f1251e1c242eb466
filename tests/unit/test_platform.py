"""Pure parts of the platform: cache layers, image recipes, console framing, topology, CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from images import cache, guest, qemu
from lab import cli
from lab.runs import RunDir, prune
from lab.topology import default_specs, wired


@pytest.fixture(autouse=True)
def private_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RINGLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("RINGLAB_RUNS", str(tmp_path / "runs"))


def test_hash_text_is_stable_and_separates_parts() -> None:
    assert cache.hash_text("a", "b") == cache.hash_text("a", "b")
    assert cache.hash_text("ab", "") != cache.hash_text("a", "b")


def test_layer_appears_only_when_committed() -> None:
    layer = cache.Layer("thing", "k1")
    tmp = layer.build_dir()
    (tmp / "payload").write_text("x")
    assert not layer.exists()
    layer.commit(tmp, {"answer": 42})
    assert layer.exists()
    assert layer.manifest()["answer"] == 42
    assert (layer.path / "payload").read_text() == "x"
    assert not tmp.exists()


def test_stale_temporaries_of_dead_builders_are_removed() -> None:
    dead = cache.cache_root() / "thing" / ".k2.999999999.tmp"
    alive = cache.cache_root() / "thing" / f".k3.{os.getpid()}.tmp"
    dead.mkdir(parents=True)
    alive.mkdir(parents=True)
    cache.remove_stale_temporaries()
    assert not dead.exists()
    assert alive.exists()


def test_module_source_change_rekeys_only_modules_and_image(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sources = tmp_path / "linux"
    sources.mkdir()
    (sources / "vnic.c").write_text("int x;\n")
    monkeypatch.setattr(guest, "MODULE_SOURCES", sources)
    monkeypatch.setattr(guest, "PROJECT", tmp_path)
    before = (
        guest.buildroot_layer(),
        guest.rootfs_layer(),
        guest.modules_layer(),
        guest.image_layer(),
    )
    (sources / "vnic.c").write_text("int y;\n")
    after = (
        guest.buildroot_layer(),
        guest.rootfs_layer(),
        guest.modules_layer(),
        guest.image_layer(),
    )
    assert before[:2] == after[:2]
    assert before[2] != after[2]
    assert before[3] != after[3]


def _tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake vnic/linux (with a netmap/ subtree) and vnic/tools under tmp_path."""
    linux, tools = tmp_path / "vnic" / "linux", tmp_path / "vnic" / "tools"
    (linux / "netmap" / "uapi" / "net").mkdir(parents=True)
    tools.mkdir()
    (linux / "Kbuild").write_text("obj-m += netmap/ vnic.o\n")
    (linux / "vnic_main.c").write_text("int x;\n")
    (linux / "netmap" / "Kbuild").write_text("obj-m += netmap.o\n")
    (linux / "netmap" / "nm_main.c").write_text("int y;\n")
    (linux / "netmap" / "uapi" / "net" / "netmap.h").write_text("/* abi */\n")
    (tools / "nmgen.c").write_text("int main(void) { return 0; }\n")
    (tools / "Makefile").write_text("all:\n")
    monkeypatch.setattr(guest, "PROJECT", tmp_path)
    monkeypatch.setattr(guest, "MODULE_SOURCES", linux)
    return tmp_path


def _keys() -> tuple[str, str, str]:
    return guest.modules_layer().key, guest.tools_layer().key, guest.image_layer().key


def test_the_whole_module_tree_is_a_module_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _tree(tmp_path, monkeypatch)
    names = {str(p.relative_to(guest.MODULE_SOURCES)) for p in guest.module_sources()}
    assert {"Kbuild", "netmap/Kbuild", "netmap/nm_main.c", "netmap/uapi/net/netmap.h"} <= names
    modules, tools, image = _keys()
    (root / "vnic/linux/netmap/nm_main.o").write_bytes(b"built in place")  # not a source
    assert _keys() == (modules, tools, image)
    (root / "vnic/linux/netmap/nm_main.c").write_text("int z;\n")
    after = _keys()
    assert after[0] != modules and after[1] == tools and after[2] != image


def test_a_tool_or_header_change_rekeys_tools_and_image(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _tree(tmp_path, monkeypatch)
    modules, tools, image = _keys()
    (root / "vnic/tools/nmgen.c").write_text("int main(void) { return 1; }\n")
    after = _keys()
    assert after[0] == modules and after[1] != tools and after[2] != image
    (root / "vnic/linux/netmap/uapi/net/netmap.h").write_text("/* abi v2 */\n")
    again = _keys()
    assert again[0] != after[0] and again[1] != after[1]  # the modules include it too


def test_strip_signature_removes_exactly_the_appended_signature() -> None:
    body = b"\x7fELF module body"
    signature = b"S" * 7
    info = bytes(8) + len(signature).to_bytes(4, "big")
    signed = body + signature + info + guest.SIGNATURE_MAGIC
    assert guest.strip_signature(signed) == body
    assert guest.strip_signature(body) == body


def test_qemu_version_parsing() -> None:
    assert qemu.parse_version("QEMU emulator version 11.1.3 (Debian 1:11.1.3+ds-1~bpo13+1)") == (
        11,
        1,
    )
    assert qemu.parse_version("QEMU emulator version 7.2.15") < qemu.MIN_VERSION
    with pytest.raises(ValueError):
        qemu.parse_version("nothing here")


def test_a_qemu_that_does_not_run_is_not_usable(tmp_path: Path) -> None:
    assert qemu.probe([str(tmp_path / "no-such-qemu")]) is None


def test_runs_are_pruned_to_the_newest(tmp_path: Path) -> None:
    for i in range(5):
        run = RunDir.new(f"t{i}")
        os.utime(run.path, (i, i))
    prune(run.path.parent, keep=2)
    assert sorted(p.name[-1:] for p in run.path.parent.iterdir()) != []
    assert len(list(run.path.parent.iterdir())) == 2


def test_guests_without_ports_have_no_nic_settings() -> None:
    topology = default_specs(["a"], RunDir.new("t"))
    vm = topology.vms[0]
    assert vm.mac is None and vm.ip is None and topology.network is None
    assert vm.share("output").is_dir()
    assert [s.tag for s in vm.shares if s.readonly] == ["project"]


def test_wired_lab_uses_the_benchmarking_range_and_a_switch_beyond_two() -> None:
    two = wired(["a", "b"], RunDir.new("t"), link={"drop": 0.1, "pcap": "ab.pcap"})
    assert two.network is not None
    assert [vm.ip for vm in two.vms] == ["198.18.0.1/15", "198.18.0.2/15"]
    (link,) = two.network["links"]
    assert link["ends"] == ["a", "b"] and link["drop"] == 0.1
    assert Path(link["pcap"]).is_absolute()  # pcaps go to the run's logs, not the socket dir
    three = wired(["a", "b"], RunDir.new("t"), hosts=["h"])
    assert three.network is not None
    assert three.network["switches"] == {"sw0": {}}
    assert {tuple(link["ends"]) for link in three.network["links"]} == {
        ("a", "sw0"),
        ("b", "sw0"),
        ("h", "sw0"),
    }


def test_a_graded_wired_guest_sees_the_shares_it_is_given(tmp_path: Path) -> None:
    view, submission = tmp_path / "view", tmp_path / "submission"
    graded = wired(["a", "b"], RunDir.new("t"), submission=submission, project=view)
    for vm in graded.vms:
        assert (vm.share("project"), vm.share("submission")) == (view, submission)


def test_cli_exec_takes_everything_after_the_double_dash() -> None:
    args = cli.parse(["exec", "a", "--name", "x", "--", "ls", "-l", "/"])
    assert (args.vm, args.name) == ("a", "x")
    assert args.argv == ["ls", "-l", "/"]


def test_cli_exec_without_a_lab_fails_clearly(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["exec", "a", "--name", "nolab", "--", "true"]) == 2
    assert "no lab named 'nolab'" in capsys.readouterr().err


def test_doctor_json_reports_what_it_found(capsys: pytest.CaptureFixture[str]) -> None:
    cli.main(["doctor", "--json"])
    facts = json.loads(capsys.readouterr().out)
    assert set(facts) >= {"qemu", "image", "accel", "cache"}
    assert facts["image"]["built"] is False  # the private cache is empty


def test_doctor_json_gives_the_cache_size(capsys: pytest.CaptureFixture[str]) -> None:
    """The size is a fact of the survey, not something the CLI measures itself."""
    root = cache.cache_root()
    (root / "qemu" / "x").mkdir(parents=True)
    (root / "qemu" / "x" / "blob").write_bytes(b"\0" * 12345)
    cli.main(["doctor", "--json"])
    facts = json.loads(capsys.readouterr().out)
    assert facts["cache_bytes"] == 12345
    assert facts["cache_layers"] == {"qemu": ["x"]}


def test_doctor_says_who_runs_the_guests(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RINGLAB_BACKEND", "qemu")  # and back as it was, after --backend
    cli.main(["doctor", "--json"])
    assert json.loads(capsys.readouterr().out)["backend"] == {"use": "qemu"}
    monkeypatch.setenv("RINGLAB_LIBVIRT_URI", "qemu:///session")
    cli.main(["--backend", "libvirt", "doctor", "--json"])
    facts = json.loads(capsys.readouterr().out)
    assert facts["backend"] == {"use": "libvirt", "uri": "qemu:///session"}
