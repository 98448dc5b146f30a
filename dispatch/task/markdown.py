"""The Markdown of a plan, line by line: headings, checklist items with their details, fenced code.

Only what PLAN.md needs, and exact: each line keeps its index into the file's lines, so the
plan can edit whole lines and give back every byte it did not change.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from dispatch.typed import NamedTuple

# The patterns are compiled where first used (and kept by re): each took 0.15 ms of a command's start,
# and a status reads plans with no fence in them, and no plain bullet. Only a line that starts (after
# its indent) as a pattern does is matched against it.
# Headings count only at column 0: an indented "# ..." is inside a list item (a worker's
# detail line, or a continuation line of a dispatcher note) and must not end a section.
_HEADING = r"(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*"
_BULLET = r"(?:[-*+]|[0-9]{1,9}[.)])"
_BULLET_STARTS = frozenset("-*+0123456789")
_ITEM = r"([ \t]*)" + _BULLET + r"[ \t]+\[([ xX?!])\](?=[ \t]|\Z)(.*)"
_PLAIN_BULLET = _BULLET + r"[ \t]+(.*)"
_FENCE = r"[ \t]*(`{3,}|~{3,})(.*)"
BOM = "\ufeff"


class Item(NamedTuple):
    """One checklist line: `position` is its 0-based place among the items, `line` its index into the file's lines."""

    position: int
    line: int
    mark: str
    text: str
    detail: list[str]  # its indented lines below, filled in as they are read


class Line(NamedTuple):
    """What one body line is: "blank", "heading", "item", "text" or "code" (fenced); `at`: its 0-based index."""

    at: int
    kind: str
    indent: int = 0
    level: int = 0
    title: str = ""
    mark: str = ""
    mark_col: int = -1
    text: str = ""


def heading(line: str) -> re.Match[str] | None:
    """A heading line's match: its "#"s (group 1) and its title (group 2, None when empty)."""
    return re.fullmatch(_HEADING, line) if line.startswith("#") else None


def plain_bullet(line: str) -> re.Match[str] | None:
    """A bullet line's match without a checkbox, its text group 1."""
    return re.fullmatch(_PLAIN_BULLET, line) if line[:1] in _BULLET_STARTS else None


def _first(content: str) -> str:
    """The first character after the indent ("" for none)."""
    return content.lstrip(" \t")[:1]


def split_ending(line: str) -> tuple[str, str]:
    for ending in ("\r\n", "\n"):
        if line.endswith(ending):
            return line[: -len(ending)], ending
    return line, ""


def strip_ending(line: str) -> str:
    return line.rstrip("\r\n")


def scan(lines: list[str], start: int) -> list[Line]:
    """Classify the lines from `start` on, skipping over fenced code."""
    scanned: list[Line] = []
    fence: str | None = None
    for i in range(start, len(lines)):
        content = strip_ending(lines[i])
        offset = len(BOM) if i == 0 and content.startswith(BOM) else 0
        content = content[offset:]
        if fence is not None:
            if _closes(content, fence):
                fence = None
            scanned.append(_code(i, content))
            continue
        fence = _opens(content)
        if fence is not None:
            scanned.append(_code(i, content))
        else:
            scanned.append(_classify(i, content, offset))
    return scanned


def _classify(index: int, content: str, offset: int) -> Line:
    if not content.strip():
        return Line(index, "blank")
    found = heading(content)
    if found is not None:
        return Line(index, "heading", level=len(found.group(1)), title=(found.group(2) or "").strip())
    item = re.match(_ITEM, content) if _first(content) in _BULLET_STARTS else None
    if item is not None:
        return Line(
            index,
            "item",
            indent=_indent(content),
            mark=item.group(2).lower(),
            mark_col=item.start(2) + offset,
            text=item.group(3).strip(),
        )
    return Line(index, "text", indent=_indent(content), text=content.strip())


def _code(index: int, content: str) -> Line:
    if not content.strip():
        return Line(index, "blank")
    return Line(index, "code", indent=_indent(content), text=content.strip())


def _opens(content: str) -> str | None:
    match = re.fullmatch(_FENCE, content) if _first(content) in ("`", "~") else None
    if match is None:
        return None
    marker, info = match.groups()
    # "```code```" on one line is inline code, not a fence.
    if marker[0] == "`" and "`" in info:
        return None
    return marker


def _closes(content: str, fence: str) -> bool:
    match = re.fullmatch(_FENCE, content) if _first(content) == fence[0] else None
    if match is None:
        return False
    marker, rest = match.groups()
    return marker[0] == fence[0] and len(marker) >= len(fence) and not rest.strip()


def _indent(content: str) -> int:
    prefix = content[: len(content) - len(content.lstrip(" \t"))]
    return len(prefix.expandtabs(4))


def section(scan: list[Line], title: str) -> tuple[int, int] | None:
    """Positions in `scan` of the body of the first heading titled `title` (case-insensitive)."""
    for pos, line in enumerate(scan):
        if line.kind == "heading" and line.title.rstrip(":").strip().lower() == title.lower():
            return pos + 1, section_end(scan, pos + 1, line.level)
    return None


def section_end(scan: list[Line], start: int, level: int) -> int:
    """Position of the first heading from `start` on of `level` or higher (fewer "#"), else the end."""
    ends = (p for p in range(start, len(scan)) if scan[p].kind == "heading" and scan[p].level <= level)
    return next(ends, len(scan))


def collect_items(scan: list[Line]) -> Iterator[tuple[Item, Line]]:
    """The items in `scan` with their details: lines indented deeper than an item's bullet."""
    count = 0
    open_items: list[tuple[int, Item]] = []
    blanks = 0
    for line in scan:
        if line.kind == "blank":
            blanks += 1
            continue
        if line.kind == "heading":
            open_items.clear()
        else:
            while open_items and open_items[-1][0] >= line.indent:
                open_items.pop()
            if line.kind == "item":
                item = Item(position=count, line=line.at, mark=line.mark, text=line.text, detail=[])
                count += 1
                open_items.append((line.indent, item))
                yield item, line
            elif open_items:
                owner = open_items[-1][1]
                if owner.detail:
                    owner.detail.extend([""] * blanks)
                owner.detail.append(line.text)
        blanks = 0


def unquote(content: str) -> str:
    stripped = content.lstrip(BOM).lstrip(" \t")
    if not stripped.startswith(">"):
        return content.lstrip(BOM)
    rest = stripped[1:]
    return rest.removeprefix(" ")


