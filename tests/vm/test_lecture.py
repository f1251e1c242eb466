"""``ringlab lecture --quick``: every section measured in one fresh lab and written out as
the report promises (HTML with its plots, JSON, CSV). What the figures are is for the
report to say; this checks that each is a measurement, not a placeholder."""

from __future__ import annotations

import json
from pathlib import Path

from lab.provision import Platform
from tests.vm.helpers import ringlab


def test_the_quick_lecture_measures_every_section(platform: Platform, tmp_path: Path) -> None:
    out = tmp_path / "report"
    done = ringlab("lecture", "--quick", "--out", str(out), timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / "lecture.json").read_text())
    sections = {s["key"]: s for s in report["sections"]}
    assert set(sections) == {"sendto", "batches", "stackmap"}
    for s in sections.values():
        assert not s["error"], s["error"]
        assert s["claim"] and s["findings"] and s["why"] and s["rows"]
        assert (out / f"{s['key']}.csv").is_file()
        assert s["plot"] and (out / s["plot"]).stat().st_size > 1000, s["plot"]

    layers = {r["layer"]: r for r in sections["sendto"]["rows"]}
    total = layers.pop("total (untraced sendto())")
    assert total["this_guest_ns"] > 0 and total["freebsd_ns"] == 950
    for name in (
        "socket buffer (allocation)",
        "copy of the payload",
        "queueing, driver and doorbell",
    ):
        assert layers[name]["traced_ns"] > 0, layers  # each traced function was seen
    assert sum(r["this_guest_ns"] for r in layers.values()) <= 1.05 * total["this_guest_ns"]

    points = sections["batches"]["rows"]
    assert {r["api"] for r in points} == {
        "sendto", "sendmmsg", "netmap (C, nmgen)", "netmap (Python)"
    }  # fmt: skip
    assert all(r["pps"] > 0 for r in points), points
    for r in points:
        if r["api"] == "sendmmsg":  # one call per batch, as the sender counted them
            assert 0 < r["syscalls_per_packet"] <= 1.5 / r["batch"], r

    servers = {(r["server"], r["size"]) for r in sections["stackmap"]["rows"]}
    assert {("sockets", 32), ("stackmap", 32)} <= servers
    assert all(r["tps"] > 0 for r in sections["stackmap"]["rows"])

    page = (out / "index.html").read_text()
    for s in sections.values():
        assert s["title"] in page and f"src='{s['plot']}'" in page
    assert "the lecture's report:" in done.stdout
