"""QUESTIONS.md: the questions a worker asks and the answers it gets, read and edited in place.

Each question is a block appended below the file's header:

    ## Q2 — answered
    asked: 2026-11-23T10:02:00Z
    answered: 2026-11-23T10:03:10Z

    > Should I keep the old endpoint?
    >
    > It is still called by the mobile app.

    ### Answer

    > Yes, keep it for one release.

Every line of a question or an answer is written behind "> " (an empty line as a bare ">").
No structural line starts with ">", so no text, whatever it contains ("## Q9 — open",
"### Answer", "---", checklists...), can be taken for structure; an empty line inside the
text stays ">" and so survives editors that strip trailing spaces; and the text reads as
the quote it is, like the task text in PLAN.md. Hand edits are read too: an answer typed
unquoted under "### Answer" is taken as it stands, and the status word in the heading is
only a label (a question is answered when it has answer text).
"""

from __future__ import annotations

import re

from dispatch.errors import DispatchError
from dispatch.typed import NamedTuple

_HEADER = re.compile(r"##[ \t]+Q[ \t]*([0-9]+)(?:[ \t]*[-—–:].*|[ \t]+.*)?", re.IGNORECASE)
_ANSWER = re.compile(r"#{2,4}[ \t]*answer[ \t]*:?", re.IGNORECASE)
_META = re.compile(r"(asked|answered)[ \t]*:[ \t]*(.*)", re.IGNORECASE)


class QuestionsError(DispatchError):
    """QUESTIONS.md cannot be edited as asked: no such question, already answered, empty text."""


class Question(NamedTuple):
    number: int
    text: str
    asked: str
    answer: str | None
    answered: str | None

    @property
    def is_open(self) -> bool:
        return self.answer is None


class _Block(NamedTuple):
    """Where one question sits: line indexes into the file, `end` exclusive."""

    question: Question
    header: int
    last_meta: int
    answer_heading: int | None
    answered_line: int | None
    end: int


class Questions:
    """A parsed QUESTIONS.md; `task` only names the task in error messages."""

    def __init__(self, lines: list[str], task: str | None = None) -> None:
        self._lines = lines
        self._task = task

    @property
    def questions(self) -> list[Question]:
        return [block.question for block in self._blocks()]

    def open(self) -> list[Question]:
        return [question for question in self.questions if question.is_open]

    def add(self, text: str, asked: str) -> Question:
        body = text.strip()
        if not body:
            raise QuestionsError("the question is empty: write the question text")
        number = max((question.number for question in self.questions), default=0) + 1
        new = [f"## Q{number} — open", f"asked: {_one_line(asked)}".rstrip(), "", *_quote(body)]
        crlf = self._crlf()
        newline = "\r\n" if crlf else "\n"
        if self._lines:
            if not self._lines[-1].endswith("\n"):
                self._lines[-1] += newline
            if _content(self._lines[-1], crlf).strip():
                new.insert(0, "")
        self._lines.extend(line + newline for line in new)
        return self._blocks()[-1].question

    def answer(self, number: int, text: str, when: str) -> Question:
        body = text.strip()
        if not body:
            raise QuestionsError("the answer is empty: write the answer text")
        block = self._find(number)
        if not block.question.is_open:
            raise QuestionsError(
                f"question {number}{self._in_task()} is already answered: see `{self._see()}`"
            )
        self._lines[block.header : block.end] = self._answered_block(block, body, _one_line(when))
        return next(b.question for b in self._blocks() if b.header == block.header)

    def render(self) -> str:
        return "".join(self._lines)

    def _answered_block(self, block: _Block, body: str, when: str) -> list[str]:
        """The block's lines with the answer added, changing nothing else in it."""
        crlf = self._crlf()
        newline = "\r\n" if crlf else "\n"
        lines = self._lines[block.header : block.end]
        last_meta = block.last_meta - block.header
        stamp = f"answered: {when}".rstrip()
        if block.answered_line is not None:
            at = block.answered_line - block.header
            lines[at] = stamp + _ending(lines[at])
        else:
            lines.insert(last_meta + 1, stamp + newline)
            last_meta += 1
        added = ["", *_quote(body)]
        if block.answer_heading is None:
            added = ["", "### Answer", *added]
        filled = [i for i in range(last_meta + 1, len(lines)) if _content(lines[i], crlf).strip()]
        at = (filled[-1] if filled else last_meta) + 1
        lines[at:at] = [line + newline for line in added]
        lines[0] = f"## Q{block.question.number} — answered" + _ending(lines[0])
        # Only the file's last line can lack an ending; once followed by new lines it needs one.
        return [line if line.endswith("\n") else line + newline for line in lines[:-1]] + lines[-1:]

    def _find(self, number: int) -> _Block:
        blocks = [block for block in self._blocks() if block.question.number == number]
        if not blocks:
            raise QuestionsError(f"no question {number}{self._in_task()}: see `{self._see()}`")
        # Hand edits may leave two blocks with one number: answer the first still open.
        return next((block for block in blocks if block.question.is_open), blocks[0])

    def _blocks(self) -> list[_Block]:
        crlf = self._crlf()
        contents = [_content(line, crlf) for line in self._lines]
        headers = [(i, _HEADER.fullmatch(content.rstrip())) for i, content in enumerate(contents)]
        starts = [(i, int(match.group(1))) for i, match in headers if match is not None]
        ends = [start for start, _ in starts[1:]] + [len(contents)]
        return [_parse_block(contents, number, start, end) for (start, number), end in zip(starts, ends)]

    def _crlf(self) -> bool:
        # A file whose every line ends in CRLF is a CRLF file: its lines lose "\r\n" and new lines
        # get "\r\n". In any other file only "\n" ends a line, so a "\r" stays part of the text.
        text = "".join(self._lines)
        return "\r\n" in text and text.count("\n") == text.count("\r\n")

    def _in_task(self) -> str:
        return f" in task {self._task}" if self._task else ""

    def _see(self) -> str:
        return f"dispatch questions {self._task}" if self._task else "dispatch questions"


def parse_questions(text: str, task: str | None = None) -> Questions:
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return Questions(lines, task)


def _parse_block(contents: list[str], number: int, start: int, end: int) -> _Block:
    """Read the block of question `number`: its heading at `start`, its last line before `end`."""
    meta: dict[str, tuple[int, str]] = {}
    last_meta = start
    for i in range(start + 1, end):
        if not contents[i].strip():
            continue
        match = _META.fullmatch(contents[i].rstrip())
        if match is None:
            break
        meta.setdefault(match.group(1).lower(), (i, match.group(2)))
        last_meta = i
    heading = next((i for i in range(last_meta + 1, end) if _ANSWER.fullmatch(contents[i].rstrip())), None)
    question_end = heading if heading is not None else end
    answer = _unquote(contents[heading + 1 : end]) if heading is not None else ""
    answered = meta.get("answered")
    question = Question(
        number=number,
        text=_unquote(contents[last_meta + 1 : question_end]),
        asked=meta["asked"][1] if "asked" in meta else "",
        answer=answer or None,
        answered=answered[1] if answered is not None and answer else None,
    )
    return _Block(question, start, last_meta, heading, answered[0] if answered else None, end)


def _content(line: str, crlf: bool) -> str:
    if crlf and line.endswith("\r\n"):
        return line[:-2]
    return line.removesuffix("\n")


def _quote(text: str) -> list[str]:
    # Split on "\n" only: any other line-break character is text and must come back as it went in.
    return [f"> {line}" if line else ">" for line in text.split("\n")]


def _unquote(lines: list[str]) -> str:
    filled = [line for line in lines if line.strip()]
    # An answer typed by hand without quote marks is taken as it stands.
    if not filled or not all(line.lstrip(" \t").startswith(">") for line in filled):
        return "\n".join(lines).strip()
    return "\n".join(_unquote_line(line) if line.strip() else "" for line in lines).strip()


def _unquote_line(line: str) -> str:
    rest = line.lstrip(" \t")[1:]
    return rest.removeprefix(" ")


def _ending(line: str) -> str:
    for ending in ("\r\n", "\n"):
        if line.endswith(ending):
            return ending
    return ""


def _one_line(text: str) -> str:
    return " ".join(text.split())
