"""Starters generated from solutions: the marker rules, and every starter is current."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.grading import starter
from lab.grading.model import Exercise, ExerciseError, find_exercise
from lab.grading.starter import StarterError, strip

SOLUTION = """def f(n):
    # TODO 1: double n
    x = n * 2
    return x
    # END TODO 1


def g():
    # TODO 2: say hi
    # STUB: return "todo"
    return "hi"
    # END TODO 2
"""


def test_regions_become_stubs_at_their_indentation() -> None:
    out = strip(SOLUTION, "s.py")
    assert "n * 2" not in out and '"hi"' not in out
    assert '    # TODO 1: double n\n    raise NotImplementedError("TODO 1")\n' in out
    assert '    # TODO 2: say hi\n    return "todo"\n' in out
    assert "END TODO" not in out and "STUB" not in out


def test_a_hint_goes_on_over_the_comment_lines_under_its_todo() -> None:
    text = (
        "def f():\n    # TODO 1: first line\n    # second line\n    x = 1\n"
        "    # inner\n    return x\n    # END TODO 1\n"
    )
    out = strip(text, "s.py")
    assert "    # TODO 1: first line\n    # second line\n    raise NotImplementedError" in out
    assert "# inner" not in out and "x = 1" not in out  # the answer's own comments stay out


def test_kept_steps_stay_solved() -> None:
    out = strip(SOLUTION, "s.py", keep=[1])
    assert "x = n * 2" in out
    assert '"hi"' not in out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("# END TODO 1\n", "without its TODO"),
        ("# TODO 1: a\n# TODO 2: b\n", "inside TODO 1"),
        ("# TODO 1: a\n# END TODO 2\n", "closes TODO 1"),
        ("x = 1\n# TODO 3: a\n", "s.py:2: TODO 3 is never ended"),
    ],
)
def test_malformed_markers_name_file_and_line(text: str, message: str) -> None:
    with pytest.raises(StarterError, match=message):
        strip(text, "s.py")


def test_generated_files_say_so_after_a_shebang(tmp_path: Path) -> None:
    (tmp_path / "exercise.toml").write_text('title = "t"\n')
    (tmp_path / "solution").mkdir()
    (tmp_path / "solution" / "run.sh").write_text("#!/bin/sh\n# TODO 1: x\necho hi\n# END TODO 1\n")
    (tmp_path / "solution" / "data.bin").write_bytes(b"\x00\x01")
    files = starter.generate(Exercise.load(tmp_path))
    lines = str(files["run.sh"]).splitlines()
    assert lines[0] == "#!/bin/sh" and lines[1].startswith("# GENERATED")
    assert "echo hi" not in files["run.sh"]
    assert files["data.bin"] == b"\x00\x01"
    starter.write(Exercise.load(tmp_path))
    assert starter.stale(Exercise.load(tmp_path)) == []
    (tmp_path / "starter" / "run.sh").write_text("edited by hand\n")
    assert starter.stale(Exercise.load(tmp_path)) == ["run.sh"]


@pytest.mark.parametrize("exercise", starter.every_exercise(), ids=lambda e: e.name)
def test_starters_are_current(exercise: Exercise) -> None:
    assert starter.stale(exercise) == [], "starter/ is stale: run `make starters`"


def test_exercises_are_found_by_number_name_or_folder() -> None:
    sample = starter.FIXTURES / "00-sample"
    assert find_exercise(str(sample)).name == "00-sample"
    assert find_exercise("00", root=starter.FIXTURES).path == sample
    with pytest.raises(ExerciseError, match="no exercise"):
        find_exercise("99", root=starter.FIXTURES)


def test_steps_and_goals_come_from_solution_and_handout() -> None:
    from lab.exercise import goal, steps_of

    sockets = find_exercise("01-sockets")
    assert list(steps_of(sockets)) == [1, 2, 3, 4]
    heading, text = goal(sockets, 2)
    assert heading.plain == "Step 2: sendmmsg() batches"
    assert text.plain.startswith("TODO 2")
    assert "Step 3" not in text.plain and "-----" not in text.plain
    assert [t.plain for t in goal(sockets, 9)] == ["", ""]
