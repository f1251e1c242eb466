"""The generated header and datasheet are current, and the spec is self-consistent."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vnic.model import codegen, spec


def test_generated_files_are_current() -> None:
    stale = codegen.stale()
    assert not stale, f"run `python -m vnic.model.codegen`: stale {stale}"


def test_check_cli_exit_code() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "vnic.model.codegen", "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0, r.stderr


def test_spec_offsets_do_not_collide_and_follow_the_spec_file() -> None:
    m = spec.decode_map()
    # a few offsets straight from specs/ixgbe-subset.md
    assert m[0x01018] == (spec.RDT, 0) and m[0x06018 + 0x40 * 3] == (spec.TDT, 3)
    assert m[0x00800][0] is spec.EICR and m[0x00900 + 4][0] is spec.IVAR
    assert m[0x02100 + 4 * 5] == (spec.SRRCTL, 5) and m[0x05400][0] is spec.RAL
    assert spec.RXDCTL.mask("ENABLE") == 0x02000000
    assert spec.SRRCTL.field("DESCTYPE").value("ADV_ONEBUF") == 0x02000000
    assert spec.LINKS.mask("LINK_UP") == 0x40000000
    assert spec.BAR0_SIZE == 0x20000 and max(m) < spec.BAR0_SIZE


def test_descriptor_layouts_are_16_bytes() -> None:
    for d in spec.DESCRIPTORS:
        for f in d.formats:
            assert f.struct_format  # raises on gaps or a wrong size


@pytest.mark.skipif(shutil.which("gcc") is None, reason="no C compiler")
def test_header_compiles(tmp_path: Path) -> None:
    """Compile the header against tiny stand-ins for the kernel headers it includes."""
    (tmp_path / "linux").mkdir()
    (tmp_path / "linux" / "bits.h").write_text(
        "#define BIT(n) (1UL << (n))\n"
        "#define GENMASK(h, l) (((~0UL) << (l)) & (~0UL >> (63 - (h))))\n"
    )
    (tmp_path / "linux" / "types.h").write_text(
        "#include <stdint.h>\ntypedef uint8_t u8; typedef uint16_t __le16;\n"
        "typedef uint32_t __le32; typedef uint64_t __le64;\n"
    )
    (tmp_path / "linux" / "build_bug.h").write_text("#include <assert.h>\n")
    (tmp_path / "t.c").write_text(
        '#include "vnic_regs.h"\n#define NAME(i, n) #n,\n'
        "static const char *names[] = { VNIC_LAB_COUNTERS(NAME) };\n"
        "int main(void) { return VNIC_RDT(3) + (int)sizeof(names)"
        " + (int)sizeof(union vnic_adv_tx_desc); }\n"
    )
    r = subprocess.run(
        [
            "gcc",
            "-Wall",
            "-Werror",
            "-fsyntax-only",
            f"-I{tmp_path}",
            f"-I{codegen.HEADER.parent}",
            str(tmp_path / "t.c"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0, r.stderr
