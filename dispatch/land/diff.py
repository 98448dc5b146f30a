"""A `git diff` read from git's own text: each file's header and counts at once, its hunk lines only when asked."""

from __future__ import annotations

import re
from functools import cached_property
from itertools import pairwise
from pathlib import Path

from dispatch import git, gitargs
from dispatch.errors import DispatchError
from dispatch.task.model import WITHOUT_TASK_FILES
from dispatch.typed import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any

# Each found after the newline before it: a `^` in MULTILINE mode is ten times slower on a large diff.
_FILE = re.compile(r"\ndiff --git ")
_NEXT_FILE = b"\ndiff --git "
_HUNK = re.compile(r"\n@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@ ?(.*)")
# The extended header lines a file's status, modes and paths come from (git-diff(1), "extended header lines").
_FIELDS = ("old mode ", "new mode ", "deleted file mode ", "new file mode ", "rename from ", "rename to ")
_BINARY = ("Binary files ", "GIT binary patch")
_ESCAPE = r'\\([0-7]{3}|.)'  # (compiled by re for the first quoted path only)
_C_ESCAPES = {"a": "\a", "b": "\b", "t": "\t", "n": "\n", "v": "\v", "f": "\f", "r": "\r", '"': '"', "\\": "\\"}
JSON_KEYS = ("path", "old_path", "status", "binary", "old_mode", "new_mode", "added", "removed")


class Hunk(NamedTuple):
    source_start: int
    source_length: int
    target_start: int
    target_length: int
    section: str
    lines: list[str]  # each with its "+", "-", " " or "\\" prefix


class FileChange:
    """One file of a diff: what changed, and where its patch lies in the whole diff's TEXT (SPAN: its start,
    its first hunk, its end). A plain class, not a NamedTuple: its hunks are split once, on first use."""

    def __init__(self, path: str, old_path: str | None, status: str, binary: bool, old_mode: str | None,
                 new_mode: str | None, added: int | None, removed: int | None, text: str = "",
                 span: tuple[int, int, int] = (0, 0, 0)) -> None:
        self.path = path
        self.old_path = old_path  # set for renames
        self.status = status  # A added, M modified, D deleted, R renamed
        self.binary = binary
        self.old_mode = old_mode  # set when the mode changed or the file was deleted
        self.new_mode = new_mode  # set when the mode changed or the file was added
        self._counts = None if added is None or removed is None else (added, removed)  # None: counted on first use
        self.text, self.span = text, span
        self.rendered: Any = None  # its JSON, when made ahead (output.Rendered: review --json)

    @property
    def added(self) -> int:
        return self.counts[0]

    @property
    def removed(self) -> int:
        return self.counts[1]

    @property
    def counts(self) -> tuple[int, int]:
        """Lines added and removed: from the hunks' lengths once they are split (the JSON splits them
        anyway), else each line's first character counted in git's text."""
        if self._counts is None:
            _, body, end = self.span  # each hunk line follows a newline: its first character says what it is
            if "hunks" in self.__dict__:  # its context, removed and added lines, and the no-newline marks (`\`)
                lines = sum(len(h.lines) for h in self.hunks) - self.text.count("\n\\", body, end)
                self._counts = (lines - sum(h.source_length for h in self.hunks),
                                lines - sum(h.target_length for h in self.hunks))
            else:
                self._counts = (self.text.count("\n+", body, end), self.text.count("\n-", body, end))
        return self._counts

    def __repr__(self) -> str:
        return f"FileChange({', '.join(f'{key}={getattr(self, key)!r}' for key in JSON_KEYS)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FileChange) and all(getattr(self, k) == getattr(other, k) for k in JSON_KEYS)

    __hash__ = None  # type: ignore[assignment]  # (mutable, as a dataclass's would be)

    @property
    def patch(self) -> str:
        """The file's patch as git wrote it."""
        start, _, end = self.span
        return self.text[start:end]

    @cached_property
    def hunks(self) -> list[Hunk]:
        """Split on first use only: the summary and the patch never need one line object."""
        _, body, end = self.span
        heads = list(_HUNK.finditer(self.text, body - 1, end))
        stops = [h.start() + 1 for h in heads[1:]] + [end]
        return [
            Hunk(int(h[1]), int(h[2] or 1), int(h[3]), int(h[4] or 1), h[5], self.text[h.end() + 1:stop - 1].split("\n"))
            for h, stop in zip(heads, stops, strict=False)  # no hunk (a binary file): STOPS holds END alone
        ]

    def to_json(self) -> dict[str, Any]:
        # Shallow: the JSON encoder reads the hunks' line lists as they are (no copy of 20,000 lines); the
        # hunks first, so that the counts come from them.
        hunks = [h._asdict() for h in self.hunks]
        return {**{key: getattr(self, key) for key in JSON_KEYS}, "hunks": hunks}


def diff_files(cwd: Path, *revisions: str, each: Callable[[FileChange], object] | None = None) -> list[FileChange]:
    """The changes between REVISIONS (OLD NEW, or OLD...NEW), task files left out, as git's diff reports them
    (renames found). Each file is read as soon as git has written it, and handed to EACH (in the caller's
    thread), while git goes on with the next ones."""
    return read(git.blocks([*gitargs.DIFF, *revisions, "--", *WITHOUT_TASK_FILES], cwd=cwd), each)


def read(blocks: Iterable[bytes], each: Callable[[FileChange], object] | None = None) -> list[FileChange]:
    """`parse` of the text BLOCKS make, each file as soon as its last byte came (then handed to EACH)."""
    files: list[FileChange] = []
    held = bytearray()  # what came since the last whole file
    for block in blocks:
        seen = max(0, len(held) - len(_NEXT_FILE) + 1)
        held += block
        cut = held.rfind(_NEXT_FILE, seen) + 1  # the start of the last file begun: all before it is whole
        if cut > 0:
            files += _parsed(held[:cut], each)
            del held[:cut]
    return files + _parsed(held, each)


def _parsed(data: bytearray, each: Callable[[FileChange], object] | None) -> list[FileChange]:
    # Undecodable bytes made printable (and JSON-safe) once, here; every \r kept, as git wrote it. (Cut at a
    # newline, the text decodes as the whole would: no UTF-8 sequence spans one.)
    found = parse(data.decode("utf-8", "replace"))
    if each is not None:
        for change in found:
            each(change)
    return found


def parse(text: str) -> list[FileChange]:
    """The files of a `git diff --src-prefix=a/ --dst-prefix=b/` (without -z, colour or combined diffs)."""
    starts = [m.start() + 1 for m in _FILE.finditer(text)]
    if text.startswith("diff --git "):
        starts.insert(0, 0)
    return [_file(text, start, end) for start, end in pairwise([*starts, len(text)])]


def _file(text: str, start: int, end: int) -> FileChange:
    first_hunk = text.find("\n@@ -", start, end)
    body = end if first_hunk < 0 else first_hunk + 1
    head = text[start:body].split("\n")
    found: dict[str, str] = {}
    binary = False
    for line in head[1:]:
        binary = binary or line.startswith(_BINARY)
        key = next((k for k in _FIELDS if line.startswith(k)), None)
        if key is not None:
            found[key] = line[len(key):]
    status = ("A" if "new file mode " in found else "D" if "deleted file mode " in found
              else "R" if "rename from " in found else "M")
    if status == "R":
        old_path, path = unquote(found["rename from "]), unquote(found["rename to "])
    else:
        old_path, path = None, _same_path(head[0].removeprefix("diff --git "))
    return FileChange(
        path=path, old_path=old_path, status=status, binary=binary,
        old_mode=found.get("old mode ") or found.get("deleted file mode "),
        new_mode=found.get("new mode ") or found.get("new file mode "),
        added=None, removed=None,  # (counted on first use: see `counts`)
        text=text, span=(start, body, end),
    )


def _same_path(names: str) -> str:
    """The path in `a/P b/P` (or `"a/P" "b/P"`): without a rename both halves name it, so the middle splits them."""
    half = (len(names) - 1) // 2
    old, new = unquote(names[:half]), unquote(names[half + 1:])
    if names[half:half + 1] != " " or not old.startswith("a/") or new != f"b/{old[2:]}":
        raise DispatchError(f"cannot read git's diff header `diff --git {names}`: report it as a bug")
    return old[2:]


def unquote(name: str) -> str:
    """A path as git wrote it, C-quoted when it holds a control character, a quote or a backslash."""
    if len(name) < 2 or name[0] != '"' or name[-1] != '"':
        return name
    raw = re.sub(_ESCAPE, _unescape, name[1:-1])
    return raw.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _unescape(m: re.Match[str]) -> str:
    code = m[1]
    if len(code) == 3:
        byte = int(code, 8)  # an octal byte: one of a UTF-8 sequence when above 0x7f
        return chr(byte) if byte < 0x80 else chr(0xDC00 + byte)
    return _C_ESCAPES.get(code, code)
