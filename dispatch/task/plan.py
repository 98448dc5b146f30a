"""PLAN.md: the checklist a worker ticks, read and edited without disturbing a byte it does not own.

The file is kept as its original lines (line endings included); reading builds a view of
them and every edit replaces or inserts whole lines, so `render()` gives back exactly what
was parsed plus the edits made.
"""

from __future__ import annotations

from dispatch import files, jsontext
from dispatch.errors import DispatchError
from dispatch.task import markdown as md
from dispatch.task.markdown import Item
from dispatch.typed import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from typing import Any

MARKS: dict[str, str] = {" ": "pending", "x": "done", "?": "blocked", "!": "failed"}

_CHECKLIST = "Checklist"
_NOTES = "Notes from the dispatcher"



class PlanError(DispatchError):
    """PLAN.md cannot be read or edited; `line` is the 1-based file line when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


class Progress(NamedTuple):
    done: int
    total: int
    blocked: int
    failed: int


class Plan:
    """A parsed PLAN.md; change it only through the methods so `render()` stays exact."""

    def __init__(self, lines: list[str], meta: dict[str, object], body_start: int) -> None:
        self._lines = lines
        self._body_start = body_start
        self.meta = meta

    @property
    def items(self) -> list[Item]:
        return [item for item, _ in self._items()]

    @property
    def title(self) -> str:
        value = self.meta.get("title")
        if value is not None and str(value).strip():
            return str(value).strip()
        heading = next((ln for ln in self._scan() if ln.kind == "heading" and ln.level == 1), None)
        return heading.title if heading is not None else ""

    @property
    def description(self) -> str:
        scan = self._scan()
        start = next((p + 1 for p, ln in enumerate(scan) if ln.kind == "heading" and ln.level == 1), 0)
        end = md.section_end(scan, start, 2)
        texts = [md.unquote(md.strip_ending(self._lines[ln.at])).rstrip() for ln in scan[start:end]]
        return "\n".join(texts).strip()

    def progress(self) -> Progress:
        marks = [item.mark for item in self.items]
        return Progress(
            done=marks.count("x"), total=len(marks), blocked=marks.count("?"), failed=marks.count("!")
        )

    def set_mark(self, index: int, mark: str, note: str | None = None) -> None:
        if mark not in MARKS:
            raise PlanError(f"unknown mark {mark!r}: use one of ' ', 'x', '?', '!'")
        found = self._items()
        if not 0 <= index < len(found):
            raise PlanError(f"no checklist item {index}: the plan has {len(found)} items")
        item, scanned = found[index]
        body, ending = md.split_ending(self._lines[item.line])
        col = scanned.mark_col
        # An "X" the worker wrote already means done: leave it as written.
        if body[col].lower() != mark:
            body = body[:col] + mark + body[col + 1 :]
        if note is not None and _flatten(note):
            body = f"{body.rstrip()} — {_flatten(note)}"
        self._lines[item.line] = body + ending

    def add_note(self, text: str, when: str) -> None:
        note = [line.rstrip() for line in text.strip().splitlines()]
        if not note:
            raise PlanError("the note is empty: give the note text")
        new = [f"- {_flatten(when)} — {note[0]}"] + [f"  {line}" if line else "" for line in note[1:]]
        scan = self._scan()
        section = md.section(scan, _NOTES)
        if section is None:
            at = len(self._lines)
            lead = [""] if self._lines and md.strip_ending(self._lines[-1]).strip() else []
            new = [*lead, f"## {_NOTES}", *new]
        else:
            lo, hi = section
            # After the section's last non-blank line, so the blank line before the next heading stays.
            at = max([scan[lo - 1].at] + [ln.at for ln in scan[lo:hi] if ln.kind != "blank"]) + 1
        self._insert(at, new)

    def set_meta(self, key: str, value: object) -> None:
        self.meta[key] = value
        newline = self._newline()
        dumped = [line + newline for line in dump_front_matter(self.meta).split("\n")[:-1]]
        if self._body_start:
            self._lines[1 : self._body_start - 1] = dumped
        else:
            # A byte-order mark must stay the file's first character.
            opening = "---"
            if self._lines and self._lines[0].startswith(md.BOM):
                self._lines[0] = self._lines[0][len(md.BOM) :]
                opening = md.BOM + opening
            self._lines[0:0] = [opening + newline, *dumped, "---" + newline]
        self._body_start = len(dumped) + 2

    def render(self) -> str:
        return "".join(self._lines)

    def _scan(self) -> list[md.Line]:
        return md.scan(self._lines, self._body_start)

    def _items(self) -> list[tuple[Item, md.Line]]:
        scan = self._scan()
        lo, hi = md.section(scan, _CHECKLIST) or (0, len(scan))
        return list(md.collect_items(scan[lo:hi]))

    def _newline(self) -> str:
        for line in self._lines:
            if line.endswith("\n"):
                return "\r\n" if line.endswith("\r\n") else "\n"
        return "\n"

    def _insert(self, at: int, new: list[str]) -> None:
        newline = self._newline()
        if at > 0 and not self._lines[at - 1].endswith("\n"):
            self._lines[at - 1] += newline
        self._lines[at:at] = [line + newline for line in new]


def parse_plan(text: str, known: dict[str, str] | None = None) -> Plan:
    """The plan in TEXT. KNOWN maps front matter already read to its data as JSON: what it holds is not
    read again (nor yaml imported), and what is read here and JSON keeps exactly is added to it."""
    lines = files.lines(text)
    meta, body_start = _front_matter(lines, known)
    return Plan(lines, meta, body_start)


def _represent_str(dumper: Any, value: str) -> Any:
    # With allow_unicode, PyYAML writes NEL/LS/PS raw inside single quotes, where they fold into
    # spaces on reading; double quotes escape them, so the value reads back as it was.
    if any(char in value for char in "\x85\u2028\u2029"):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
    return dumper.represent_str(value)


def dump_front_matter(meta: dict[str, object]) -> str:
    import yaml  # here: reading plans whose front matter is known needs no yaml (see parse_plan)

    class Dumper(yaml.SafeDumper):
        """safe_dump's dumper, but strings holding YAML line breaks are double-quoted."""

    Dumper.add_representer(str, _represent_str)
    dumped: str = yaml.dump(meta, Dumper=Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False)
    return dumped


def parse_checklist_source(text: str) -> tuple[str, list[str]]:
    lines = files.lines(text)
    scan = md.scan(lines, 0)
    first = next((ln.at for ln in scan if ln.kind == "item"), None)
    if first is not None:
        items = [ln.text for ln in scan if ln.kind == "item"]
    else:
        bullets = [
            (ln.at, match.group(1).strip())
            for ln in scan
            if ln.kind == "text" and ln.indent == 0
            for match in [md.plain_bullet(md.strip_ending(lines[ln.at]).lstrip(md.BOM))]
            if match is not None
        ]
        if not bullets:
            return text.lstrip(md.BOM).strip(), []
        first = bullets[0][0]
        items = [bullet for _, bullet in bullets]
    before = [md.strip_ending(line) for line in lines[:first]]
    return _drop_title("\n".join(before).lstrip(md.BOM).strip()), [item for item in items if item]


def _front_matter(lines: list[str], known: dict[str, str] | None) -> tuple[dict[str, object], int]:
    if not lines or md.strip_ending(lines[0]).lstrip(md.BOM).rstrip() != "---":
        return {}, 0
    close = next((i for i in range(1, len(lines)) if md.strip_ending(lines[i]).rstrip() == "---"), None)
    if close is None:
        raise PlanError("front matter is not closed by a '---' line", line=1)
    source = "".join(md.strip_ending(line) + "\n" for line in lines[1:close])
    if known is not None and source in known:
        known[source] = known.pop(source)  # last: the entries read last are the ones kept
        data = jsontext.loads(known[source])
    else:
        data = _load_yaml(source)
        if known is not None and isinstance(data, dict):
            _remember(known, source, data)
    if data is None:
        return {}, close + 1
    if not isinstance(data, dict):
        raise PlanError("front matter is not a mapping: write it as 'key: value' lines", line=2)
    return {str(key): value for key, value in data.items()}, close + 1


def _remember(known: dict[str, str], source: str, data: dict[Any, Any]) -> None:
    """Keep DATA for SOURCE when JSON holds it exactly (a date, say, it does not: that is read again)."""
    import json

    try:
        text = json.dumps(data)
    except (TypeError, ValueError):
        return
    if json.loads(text) == data:
        known[source] = text


def _load_yaml(source: str) -> object:
    """Load the front matter, reporting errors with 1-based lines of the whole file."""
    import yaml

    fast = getattr(yaml, "CSafeLoader", None)
    if fast is not None:
        try:
            # libyaml is several times faster; status reads every plan. Errors are reread below, worded as ever.
            return yaml.load(source, Loader=fast)
        except (yaml.YAMLError, ValueError, OverflowError):
            pass
    try:
        data: object = yaml.safe_load(source)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "syntax error"
        raise PlanError(
            f"front matter is not valid YAML: {_flatten(problem)}",
            line=mark.line + 2 if mark is not None else None,
        ) from exc
    except yaml.reader.ReaderError as exc:
        raise PlanError(
            f"front matter is not valid YAML: character {_character(exc.character)!r} is not allowed",
            line=source[: exc.position].count("\n") + 2,
        ) from exc
    except (yaml.YAMLError, ValueError, OverflowError) as exc:
        # PyYAML raises ValueError for impossible timestamps such as 2026-13-01.
        raise PlanError(f"front matter is not valid YAML: {_flatten(str(exc))}") from exc
    return data


def _character(character: object) -> str:
    # PyYAML reports the offending character of a str as its code point.
    return chr(character) if isinstance(character, int) else str(character)


def _drop_title(description: str) -> str:
    first, _, rest = description.partition("\n")
    heading = md.heading(first)
    if heading is not None and len(heading.group(1)) == 1:
        return rest.strip()
    return description


def _flatten(text: str) -> str:
    return " ".join(part.strip() for part in text.splitlines() if part.strip())
