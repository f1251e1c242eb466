"""A handout's reST, shown in a terminal: what ``ringlab exercise`` prints as a step's goal.

Sphinx renders the handouts for the course site; the exercise driver shows one step of a
handout between runs of its checks, where ``TODO 1`` in double back-quotes would read as
noise. This is not a reST parser: it knows the few constructs the handouts use — paragraphs
(re-flowed: the terminal wraps them), bullet and numbered lists, literal blocks after ``::``
(kept line for line: they are commands to type), directives such as ``.. note::``, and the
inline markup ````literal````, ``*emphasis*``, ``**strong**``, roles (``:ref:`text
<target>```) and links — and turns them into rich styles.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from rich.text import Text

UNDERLINE = re.compile(r"([=\-~^\"'`#*+])\1{2,}")
BULLET = re.compile(r"(?P<mark>[-*+]|#\.|\d+\.)\s+")
STEP = re.compile(r"Step \d")
DIRECTIVE = re.compile(r"\.\.\s+(?P<name>[\w-]+)::\s*(?P<rest>.*)")
INLINE = re.compile(
    r"``(?P<literal>.+?)``"
    r"|\*\*(?P<strong>.+?)\*\*"
    r"|\*(?P<emphasis>[^*\s](?:[^*]*[^*\s])?)\*"
    r"|:[\w:+-]+:`(?P<role>[^`]+)`"
    r"|`(?P<link>[^`]+)`__?"
    r"|`(?P<default>[^`]+)`"
)
TARGET = re.compile(r"(?P<text>.*?)\s*<(?P<target>[^<>]+)>$", re.S)

STYLES = {
    "literal": "bold cyan",
    "strong": "bold",
    "emphasis": "italic",
    "role": "underline",
    "link": "underline",
    "default": "italic",
}
LITERAL_BLOCK = "green"


def step_section(handout: Path, step: int) -> tuple[str, str]:
    """The heading and the reST body of the handout's "Step ``step``" section (empty
    strings if there is none): from its heading to the next step or section."""
    if not handout.is_file():
        return "", ""
    lines = handout.read_text().splitlines()

    def is_heading(i: int) -> bool:
        return bool(lines[i].strip() and i + 1 < len(lines) and UNDERLINE.fullmatch(lines[i + 1]))

    start = next((i for i, line in enumerate(lines) if re.match(rf"Step {step}\b", line)), None)
    if start is None:
        return "", ""
    ends = (i for i in range(start + 1, len(lines)) if is_heading(i) or STEP.match(lines[i]))
    end = next(ends, len(lines))
    body = [line for line in lines[start + 1 : end] if not UNDERLINE.fullmatch(line)]
    return lines[start].strip(), "\n".join(body).strip("\n")


def inline(text: str) -> Text:
    """One paragraph's inline markup as styled text (the markup characters removed)."""
    out = Text()
    at = 0
    for match in INLINE.finditer(text):
        out.append(text[at : match.start()])
        kind = match.lastgroup or "default"
        shown = match[kind]
        if kind in ("role", "link") and (target := TARGET.fullmatch(shown)):
            shown = target["text"] or target["target"]
        out.append(shown, style=STYLES[kind])
        at = match.end()
    out.append(text[at:])
    return out


def _flow(lines: list[str]) -> str:
    return " ".join(" ".join(lines).split())


def render(rst: str) -> Text:
    """``rst`` (a handout's excerpt) as terminal text: blocks apart by one blank line."""
    lines = rst.splitlines()
    blocks: list[Text] = []
    literal_next = False
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        if literal_next and lines[i][:1].isspace():
            # The literal block: every following line that is blank or indented.
            j = i
            while j < len(lines) and (not lines[j].strip() or lines[j][:1].isspace()):
                j += 1
            code = textwrap.dedent("\n".join(lines[i:j])).strip("\n")
            blocks.append(Text(textwrap.indent(code, "    "), style=LITERAL_BLOCK))
            literal_next = False
            i = j
            continue
        j = i
        while j < len(lines) and lines[j].strip():
            j += 1
        block, i = lines[i:j], j
        literal_next = block[-1].rstrip().endswith("::")
        if literal_next:
            last = block[-1].rstrip()[:-2]
            # "text::" shows "text:"; a lone or space-separated "::" shows nothing
            block[-1] = last.rstrip() if not last or last[-1].isspace() else last + ":"
        if (shown := _block(block)).plain:
            blocks.append(shown)
    return Text("\n\n").join(blocks)


def _block(block: list[str]) -> Text:
    """One blank-line-separated block: a directive, a list, or a paragraph."""
    first = block[0].strip()
    if directive := DIRECTIVE.fullmatch(first):
        body = textwrap.dedent("\n".join(block[1:])).splitlines()
        out = Text(f"{directive['name'].capitalize()}: ", style="bold")
        out.append_text(inline(_flow([directive["rest"], *body])))
        return out
    if first.startswith(".. "):
        return Text()  # a comment or a link target: nothing to show
    if BULLET.match(first):
        indent = len(block[0]) - len(block[0].lstrip())
        items: list[list[str]] = []
        for line in block:
            starts = len(line) - len(line.lstrip()) == indent and BULLET.match(line.strip())
            if starts or not items:
                items.append([line.strip()])
            else:
                items[-1].append(line.strip())
        out = Text()
        for n, item in enumerate(items):
            mark = BULLET.match(item[0])
            assert mark is not None
            bullet = "•" if mark["mark"] in "-*+" else mark["mark"]
            if n:
                out.append("\n")
            out.append(f"  {bullet} ")
            out.append_text(inline(_flow([item[0][mark.end() :], *item[1:]])))
        return out
    return inline(_flow(block))
