"""Views of a :class:`~lab.grading.model.GradeReport`: text, JSON, Gradescope, JUnit XML.

Gradescope's ``results.json`` follows its documented autograder specification: top-level
``score``, ``execution_time``, ``output``, ``visibility``, ``stdout_visibility``, ``tests``
(each ``name``, ``number``, ``score``, ``max_score``, ``status``, ``output``, ``visibility``,
``tags``) and ``leaderboard`` (``name``, ``value``, ``order``).  Hidden checks are
``after_published``: students see them once the instructor publishes grades.
"""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from typing import Any

from rich.console import Console
from rich.table import Table

from lab.grading.model import CheckResult, GradeReport, Status

FORMATS = ("text", "json", "gradescope", "junit")
STATUS_STYLE = {Status.PASSED: "green", Status.FAILED: "red", Status.NOT_RUN: "yellow"}


def render(report: GradeReport, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(report.to_json(), indent=2) + "\n"
    if fmt == "gradescope":
        return json.dumps(gradescope(report), indent=2) + "\n"
    if fmt == "junit":
        return junit(report)
    if fmt == "text":
        return text(report)
    raise ValueError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")


def _feedback(result: CheckResult) -> str:
    """What a student reads about one check: the failure, then the hint."""
    parts = [result.output.strip()] if result.output.strip() else []
    if result.status is not Status.PASSED and result.settings.hint:
        parts.append(f"hint: {result.settings.hint}")
    for m in result.measurements:
        parts.append(f"measured {m.name}: {m.value:g} {m.unit}".rstrip())
    return "\n".join(parts)


def gradescope(report: GradeReport) -> dict[str, Any]:
    tests = []
    for number, result in enumerate(report.results, start=1):
        step = result.settings.step
        tests.append(
            {
                "name": result.title,
                "number": f"{step}.{number}" if step is not None else str(number),
                "score": result.score,
                "max_score": result.max_score,
                "status": "passed" if result.status is Status.PASSED else "failed",
                "output": _feedback(result),
                "visibility": "visible" if result.settings.visible else "after_published",
                "tags": [f"step {step}"] if step is not None else [],
            }
        )
    summary = f"{report.score:g} / {report.max_score:g} points"
    if report.errors:
        summary += "\n" + "\n".join(report.errors)
    results: dict[str, Any] = {
        "score": report.score,
        "execution_time": round(report.execution_time, 1),
        "output": summary,
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }
    board = [
        {"name": m.name + (f" ({m.unit})" if m.unit else ""), "value": m.value, "order": m.order}
        for m in report.measurements()
        if m.leaderboard
    ]
    if board:
        results["leaderboard"] = board
    return results


def junit(report: GradeReport) -> str:
    failures = sum(r.status is Status.FAILED for r in report.results)
    skipped = sum(r.status is Status.NOT_RUN for r in report.results)
    suite = ET.Element(
        "testsuite",
        name=report.exercise,
        tests=str(len(report.results)),
        failures=str(failures),
        errors=str(len(report.errors)),
        skipped=str(skipped),
        time=f"{report.execution_time:.2f}",
    )
    props = ET.SubElement(suite, "properties")
    for key, value in (("score", report.score), ("max_score", report.max_score)):
        ET.SubElement(props, "property", name=key, value=f"{value:g}")
    for result in report.results:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"{report.exercise}.checks",
            name=result.name,
            time=f"{result.seconds:.2f}",
        )
        if result.status is Status.FAILED:
            failure = ET.SubElement(
                case,
                "failure",
                message=result.output.splitlines()[0][:200] if result.output else "failed",
            )
            failure.text = _feedback(result)
        elif result.status is Status.NOT_RUN:
            ET.SubElement(case, "skipped", message=result.output[:200])
        if result.measurements:
            case_props = ET.SubElement(case, "properties")
            for m in result.measurements:
                ET.SubElement(case_props, "property", name=m.name, value=f"{m.value:g}")
    for error in report.errors:
        case = ET.SubElement(suite, "testcase", classname=f"{report.exercise}", name="grader")
        ET.SubElement(case, "error", message=error[:200]).text = error
    suites = ET.Element("testsuites")
    suites.append(suite)
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def table(report: GradeReport, show_hidden: bool = True) -> Table:
    grid = Table(
        title=f"{report.exercise}: {report.score:g} / {report.max_score:g} points",
        caption=f"{report.execution_time:.1f} s; logs in {report.run_dir}",
    )
    for column in ("step", "check", "points", "status", "measured", "s"):
        grid.add_column(column)
    for r in report.results:
        if not (show_hidden or r.settings.visible):
            continue
        measured = ", ".join(f"{m.name} {m.value:.4g} {m.unit}".strip() for m in r.measurements)
        style = STATUS_STYLE[r.status]
        grid.add_row(
            "" if r.settings.step is None else str(r.settings.step),
            r.title + ("" if r.settings.visible else " [dim](hidden)[/]"),
            f"{r.score:g}/{r.max_score:g}",
            f"[{style}]{r.status}[/]",
            measured,
            f"{r.seconds:.1f}",
        )
    return grid


def text(report: GradeReport, width: int = 110) -> str:
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(table(report))
    for r in report.results:
        if r.status is not Status.PASSED:
            console.print(f"[bold]{r.title}[/] ({r.status}):")
            console.print(_feedback(r) or "-", markup=False)
    for error in report.errors:
        console.print(f"[red]grader:[/] {error}")
    return console.export_text()
