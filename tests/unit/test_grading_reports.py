"""Reports of a grade: Gradescope results.json against its documented fields, JUnit, text, CSV."""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET
from pathlib import Path

from lab.grading import reports
from lab.grading.model import CheckResult, CheckSettings, GradeReport, Measurement, Status, cap
from lab.grading.runner import write_csv

#: Gradescope's autograder specification: the keys it documents and the values it accepts.
GRADESCOPE_TOP = {"score", "execution_time", "output", "visibility", "stdout_visibility",
                  "tests", "leaderboard", "extra_data", "output_format"}  # fmt: skip
GRADESCOPE_TEST = {"score", "max_score", "status", "name", "number", "output", "tags",
                   "visibility", "extra_data", "name_format", "output_format"}  # fmt: skip
VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}


def sample() -> GradeReport:
    return GradeReport(
        exercise="00-sample",
        submission="/tmp/s",
        execution_time=12.3,
        results=[
            CheckResult("parses", "parses", CheckSettings(points=1), Status.PASSED, 1.0),
            CheckResult(
                "send", "Step 1: send", CheckSettings(points=2, step=1, hint="use sendto"),
                Status.FAILED, 0.0, "peer got 3 of 100 datagrams", 4.2,
                [Measurement("pps", 812.0, "packets/s", leaderboard=True)],
            ),
            CheckResult(
                "hidden", "edge", CheckSettings(points=1, step=1, visible=False),
                Status.NOT_RUN, 0.0, "not run: it needs check 'send', which did not pass",
            ),
        ],
    )  # fmt: skip


def test_gradescope_results_follow_the_documented_fields() -> None:
    data = json.loads(reports.render(sample(), "gradescope"))
    assert set(data) <= GRADESCOPE_TOP
    assert data["score"] == 1.0 and isinstance(data["execution_time"], float)
    assert data["visibility"] in VISIBILITY and data["stdout_visibility"] in VISIBILITY
    for test in data["tests"]:
        assert set(test) <= GRADESCOPE_TEST
        assert test["status"] in ("passed", "failed")
        assert test["visibility"] in VISIBILITY
        assert 0 <= test["score"] <= test["max_score"]
        assert isinstance(test["name"], str) and isinstance(test["output"], str)
    send = data["tests"][1]
    assert send["number"] == "1.2" and "hint: use sendto" in send["output"]
    assert "measured pps: 812 packets/s" in send["output"]
    assert data["tests"][2]["visibility"] == "after_published"
    assert data["leaderboard"] == [{"name": "pps (packets/s)", "value": 812.0, "order": "desc"}]


def test_junit_xml_counts_failures_and_skips() -> None:
    root = ET.fromstring(reports.render(sample(), "junit").split("?>", 1)[1])
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "1")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert cases["send"].find("failure") is not None
    assert cases["hidden"].find("skipped") is not None
    assert cases["parses"].find("failure") is None


def test_text_and_json_round_trip() -> None:
    report = sample()
    text = reports.render(report, "text")
    assert "00-sample: 1 / 4 points" in text and "hint: use sendto" in text
    again = GradeReport.from_json(json.loads(reports.render(report, "json")))
    assert again.to_json() == report.to_json()


def test_csv_has_a_column_per_check(tmp_path: Path) -> None:
    write_csv(tmp_path / "g.csv", [("alice", sample()), ("bob", None)])
    with open(tmp_path / "g.csv") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["submission", "score", "max_score", "seconds", "parses", "send",
                       "hidden", "error"]  # fmt: skip
    assert rows[1][:5] == ["alice", "1", "4", "12.3", "1"]
    assert rows[2][0] == "bob" and rows[2][-1] == "the grader failed"


def test_cap_keeps_head_and_tail() -> None:
    text = "A" * 5000 + "THE END"
    out = cap(text, 100)
    assert out.startswith("A") and out.endswith("THE END") and "cut" in out
