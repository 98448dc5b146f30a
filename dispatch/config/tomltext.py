"""One key of a TOML file's text set or removed, every other byte kept.

The change is made by tomlkit on the parsed document; new lines are then moved above the
comments that close a table (they introduce what follows), and the closing comments of a
removed table are kept. Whatever text results, its data must be exactly the data intended,
or tomlkit's own rendering is used.
"""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path

import tomlkit

from dispatch import config, files
from dispatch.config import TABLES, dotted
from dispatch.errors import DispatchError
from dispatch.typed import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

DELETE = object()  # the value that removes a key


def has(data: dict[str, Any], parts: tuple[str, ...]) -> bool:
    node: Any = data
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def change(path: Path, text: str, parts: tuple[str, ...], value: Any) -> str:
    """TEXT with one key set (or deleted), as tidy as the data allows."""
    want = copy.deepcopy(config.parse_toml(path, text))
    node = want
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise DispatchError(f"{path}: `{dotted(*parts[:-1])}` is not a table: fix the file or move it away")
    if value is DELETE:
        del node[parts[-1]]
    else:
        node[parts[-1]] = value
    plain = _with_tomlkit(path, text, parts, value)
    if value is DELETE:
        candidates = [_keep_closing_comments(text, plain)]
    elif len(parts) >= 2 and parts[0] in TABLES and not has(config.parse_toml(path, text), parts[:2]):
        candidates = [_append_table(text, parts, value)]
    else:
        candidates = [_above_closing_comments(text, plain)]
    for candidate in [*candidates, plain]:
        try:
            if _normal(tomllib.loads(candidate)) == _normal(want):
                return candidate
        except tomllib.TOMLDecodeError:
            continue
    raise DispatchError(f"{path}: could not write `{dotted(*parts)}` without changing other keys: "
                        "edit the file by hand")


def _normal(data: dict[str, Any]) -> dict[str, Any]:
    """Data as dispatch reads it: an empty `[models]`, `[aliases]` or `[backends]` is no table at all."""
    return {k: v for k, v in data.items() if not (k in TABLES and v == {})}


def _with_tomlkit(path: Path, text: str, parts: tuple[str, ...], value: Any) -> str:
    try:
        doc: Any = tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as e:
        raise DispatchError(f"{path}: invalid TOML: {e}: fix the file or move it away") from None
    node = doc
    for depth, part in enumerate(parts[:-1]):
        if part not in node:
            # [models] holds only [models.x] tables; a field's own table (env) stays inline
            node[part] = (tomlkit.table(is_super_table=True) if depth == 0 else
                          tomlkit.table() if depth == 1 else tomlkit.inline_table())
        node = node[part]
    if value is DELETE:
        del node[parts[-1]]
    elif value == {} and len(parts) == 2:
        node[parts[-1]] = tomlkit.table()
    else:
        node[parts[-1]] = item(value)
    return str(tomlkit.dumps(doc))


def item(value: Any) -> Any:
    if isinstance(value, dict):
        table = tomlkit.inline_table()
        table.update({k: item(v) for k, v in value.items()})
        return table
    return tomlkit.item(value)


def _trivia(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


def _one_stretch(before: str, after: str) -> tuple[list[str], list[str], list[str]] | None:
    """(lines before the change, lines it removed, lines it added), or None if not whole lines."""
    a, b = files.lines(before), files.lines(after)
    head = 0
    while head < min(len(a), len(b)) and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < min(len(a), len(b)) - head and a[-1 - tail] == b[-1 - tail]:
        tail += 1
    if not all(line.endswith("\n") for line in a[:len(a) - tail]):
        return None  # the last line had no newline: leave tomlkit's text alone
    return a[:head], a[head:len(a) - tail], b[head:len(b) - tail]


def _above_closing_comments(before: str, after: str) -> str:
    """Lines tomlkit added after a table's closing comments and blank lines, moved above them."""
    found = _one_stretch(before, after)
    if found is None or found[1] or not found[2]:
        return after  # not a pure insertion
    above, _, added = found
    while added and not added[0].strip():  # tomlkit's own blank lines around the new key
        added = added[1:]
    while added and not added[-1].strip():
        added = added[:-1]
    at = len(above)
    while at > 0 and _trivia(above[at - 1]):
        at -= 1
    if at == 0:
        return after  # nothing but comments above: keep tomlkit's place
    a = files.lines(before)
    return "".join(a[:at] + added + a[at:])


def _keep_closing_comments(before: str, after: str) -> str:
    """A removal that took the comments closing the removed table with it, with them put back."""
    found = _one_stretch(before, after)
    if found is None or found[2] or not found[1]:
        return after  # not a pure removal
    above, removed, _ = found
    last = max((i for i, line in enumerate(removed) if not _trivia(line)), default=-1)
    closing = removed[last + 1:]
    if not any(line.strip() for line in closing):
        return after  # blank lines only: the file's spacing stays as tomlkit leaves it
    b = files.lines(after)
    return "".join(b[:len(above)] + closing + b[len(above):])


def _append_table(before: str, parts: tuple[str, ...], value: Any) -> str:
    """A new `[table.entry]` at the end of the file, after one blank line."""
    newline = "\r\n" if "\r\n" in before else "\n"
    lines = [f"[{dotted(*parts[:2])}]"]
    if len(parts) == 3:
        lines.append(f"{dotted(parts[2])} = {item(value).as_string()}")
    elif len(parts) == 4:
        lines.append(f"{dotted(parts[2])} = {item({parts[3]: value}).as_string()}")
    if not before.strip() or before.endswith(newline * 2):
        sep = ""
    elif before.endswith(newline):
        sep = newline
    else:
        sep = newline * 2
    return before + sep + newline.join(lines) + newline
