"""The handout as the exercise driver shows it: reST markup turned into terminal styles,
and the step prompt answered with one key."""

from __future__ import annotations

import os
import pty
import termios
import threading
import time

import pytest
from rich.text import Text

from lab.exercise import goal, read_key, steps_of
from lab.grading.model import find_exercise
from lab.handout import LITERAL_BLOCK, STYLES, inline, render

EXERCISES = ("01-sockets", "02-netmap", "03-stackmap")


def styled(text: Text, style: str) -> list[str]:
    return [text.plain[s.start : s.end] for s in text.spans if s.style == style]


def test_inline_markup_becomes_styles_without_its_characters() -> None:
    text = inline(
        "``TODO 1`` in ``tx.py``: make **one** ``txsync()``, *then* see "
        ":ref:`the API <netmap-api>`, :doc:`lab` and `netmap <https://example.org>`_."
    )
    assert text.plain == ("TODO 1 in tx.py: make one txsync(), then see the API, lab and netmap.")
    assert styled(text, STYLES["literal"]) == ["TODO 1", "tx.py", "txsync()"]
    assert styled(text, STYLES["strong"]) == ["one"]
    assert styled(text, STYLES["emphasis"]) == ["then"]
    assert styled(text, STYLES["role"]) == ["the API", "lab", "netmap"]  # links too


def test_blocks_lists_literals_and_directives() -> None:
    text = render(
        "A paragraph\nover two lines::\n\n    a$ nmgen tx -i netmap:eth0\n\n"
        "        indented more\n\n"
        "- first item\n  continued\n- second ``item``\n\n"
        "#. numbered\n\n"
        ".. note:: mind\n   the gap\n\n"
        ".. _a-target:\n\n"
        "The end."
    )
    assert text.plain == "\n\n".join(
        [
            "A paragraph over two lines:",
            "    a$ nmgen tx -i netmap:eth0\n\n        indented more",
            "  • first item continued\n  • second item",
            "  #. numbered",
            "Note: mind the gap",
            "The end.",
        ]
    )
    assert styled(text, LITERAL_BLOCK) == [
        "    a$ nmgen tx -i netmap:eth0\n\n        indented more"
    ]


@pytest.mark.parametrize("name", EXERCISES)
def test_every_step_of_a_handout_shows_without_rest_markup(name: str) -> None:
    exercise = find_exercise(name)
    for step in steps_of(exercise):
        heading, text = goal(exercise, step)
        assert heading.plain.startswith(f"Step {step}"), (name, step)
        assert text.plain, (name, step)
        for markup in ("``", ":ref:`", ":doc:`", "**"):
            assert markup not in heading.plain + text.plain, (name, step, markup)
        assert not any(line.rstrip().endswith("::") for line in text.plain.splitlines())


def test_a_literal_block_keeps_its_lines() -> None:
    _, text = goal(find_exercise("02-netmap"), 1)
    lines = text.plain.splitlines()
    assert any(line.strip().startswith("m$ nmgen rx") for line in lines)
    assert any(line.strip().startswith("a$ python3 /mnt/submission/tx.py") for line in lines)


@pytest.mark.parametrize(
    ("typed", "answer"), [(b"q", "q"), (b"R", "r"), (b"\r", ""), (b"\x04", "q")]
)
def test_the_step_prompt_takes_one_key_without_enter(typed: bytes, answer: str) -> None:
    controller, terminal = pty.openpty()
    try:
        got: list[str] = []
        reader = threading.Thread(target=lambda: got.append(read_key(terminal)), daemon=True)
        reader.start()
        deadline = time.monotonic() + 10
        while termios.tcgetattr(terminal)[3] & termios.ICANON:  # the key comes once it waits
            assert time.monotonic() < deadline, "read_key never left line mode"
            time.sleep(0.01)
        os.write(controller, typed)  # no newline: a line-buffered read would wait forever
        reader.join(timeout=10)  # a read that waits fails the test instead of hanging it
        assert got == [answer]
    finally:
        os.close(controller)
        os.close(terminal)
