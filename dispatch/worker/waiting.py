"""Reading the events log, and `wait`: block until there is news the consumer has not been told."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from dispatch import clock, files
from dispatch.config import Config
from dispatch.errors import WAIT_NOTHING_EXIT, WAIT_TIMEOUT_EXIT, DispatchError
from dispatch.events import log_path
from dispatch.faults import checkpoint
from dispatch.repo import Repo
from dispatch.typed import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any, BinaryIO

    from dispatch.changes import Changes

WAKING = ("question", "exited", "blocked")  # what wakes a host: a question, or a worker run that ended


class WaitTimeout(DispatchError):
    exit_code = WAIT_TIMEOUT_EXIT


class NothingToWaitFor(DispatchError):
    exit_code = WAIT_NOTHING_EXIT


LIVE_CHECK = 2.0  # seconds between looks for a worker that may still bring news, while the log is quiet


def read_events(repo: Repo, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Whole event lines from byte OFFSET on, and the offset after the last whole line."""
    located, end = _read_located(repo, offset)
    return [event for event, _start in located], end


def _read_located(repo: Repo, offset: int) -> tuple[list[tuple[dict[str, Any], int]], int]:
    """Like read_events, with the byte offset where each event's line starts."""
    try:
        with open(log_path(repo), "rb") as f:
            if offset and not _at_line_start(f, offset):
                offset = 0  # the log was edited under the cursor: reread it; reported keys stop repeats
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return [], 0
    end = data.rfind(b"\n") + 1  # a line still being written is read next time
    found, start = [], offset
    for raw in data[:end].splitlines(keepends=True):
        event = _parse_line(raw)
        if isinstance(event, dict):
            found.append((event, start))
        start += len(raw)
    return found, offset + end


def _parse_line(raw: bytes) -> object:
    """One event line; a torn line from a crash is skipped, never stops the reading.

    A log written before appends started on a fresh line may hold a torn line with the next event glued
    to its end: that event is kept, the torn part skipped."""
    try:
        return json.loads(raw)
    except ValueError:
        pass
    at = raw.find(b'{"', 1)
    while at != -1:
        try:
            return json.loads(raw[at:])
        except ValueError:
            at = raw.find(b'{"', at + 1)
    return None


def _at_line_start(f: BinaryIO, offset: int) -> bool:
    f.seek(offset - 1)
    return f.read(1) == b"\n"


def since(repo: Repo, when: str | None) -> list[dict[str, Any]]:
    all_events, _ = read_events(repo)
    if when is None:
        return all_events
    cutoff = parse_since(when)
    return [e for e in all_events if clock.parse_iso(str(e.get("time", "1970-01-01T00:00:00Z"))) >= cutoff]


def parse_since(text: str) -> float:
    """An ISO time, or an age such as 30s, 10m, 2h, 1d."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd])", text.strip())
    if m:
        unit = {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
        return clock.now() - float(m.group(1)) * unit
    try:
        return clock.parse_iso(text)
    except ValueError:
        raise DispatchError(f"--since {text!r} is neither a time (2026-11-23T10:00:00Z) nor an age (30m, 2h, 1d)") from None


@dataclass
class Cursor:
    """Per consumer: how far into the log it has read, and what it has been told."""

    offset: int = 0
    reported: list[str] = field(default_factory=list)


def check_consumer(consumer: str) -> None:
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", consumer):
        raise DispatchError(f"invalid consumer name {consumer!r}: use letters, digits, '.', '_' and '-'")


def _cursor_path(repo: Repo, consumer: str) -> Path:
    check_consumer(consumer)
    return repo.state_dir / "consumers" / f"{consumer}.json"


def load_cursor(repo: Repo, consumer: str) -> Cursor:
    try:
        data = json.loads(_cursor_path(repo, consumer).read_text())
        return Cursor(int(data.get("offset", 0)), list(data.get("reported", [])))
    except (OSError, ValueError):
        return Cursor()


def save_cursor(repo: Repo, consumer: str, cursor: Cursor) -> None:
    # Keep the memory bounded: old keys only matter for items still pending somewhere.
    files.write_atomic(_cursor_path(repo, consumer),
                       json.dumps({"offset": cursor.offset, "reported": cursor.reported[-5000:]}))


@dataclass(frozen=True)
class Notice:
    key: str
    kind: str  # question | done | failed | blocked | conflict | stopped | ended
    task: str
    text: str
    command: str
    details: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "kind": self.kind, "task": self.task, "text": self.text,
                "command": self.command, **self.details}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Notice:
        """What `to_json` made (another dispatch's `wait --json`); KeyError when a field is missing."""
        key, kind, task, text, command = (str(data[k]) for k in ("key", "kind", "task", "text", "command"))
        return cls(key, kind, task, text, command, {k: v for k, v in data.items() if k not in cls.__annotations__})

    def lines(self) -> list[str]:
        return [f"{self.task} {self.text}", f"  → {self.command}"]


def _notice(event: dict[str, Any]) -> Notice | None:
    task, kind = str(event.get("task", "")), event.get("kind")
    if kind == "question":
        return _question_notice(task, event.get("number"), str(event.get("text", "")),
                                str(event.get("asked", event.get("time"))))
    if kind == "exited":
        state, code = event.get("state", "ended"), event.get("code")
        # With the time: a task made again under a purged task's id starts again at run 1.
        key = f"x:{task}:{event.get('run')}:{event.get('time')}"
        if state == "done":
            return Notice(key, "done", task, "finished: every item is done", f"dispatch review {task}", {"code": code})
        if state in ("blocked", "asking"):
            return Notice(key, "blocked", task, "stopped on an open question",
                          f'dispatch answer {task} --resume "..."', {"code": code})
        if state == "conflict":
            from dispatch.output import conflict_text

            stopped = event.get("in_progress") or {"operation": "rebase", "files": []}
            return Notice(key, "conflict", task, f"worker ended, {conflict_text(stopped)}", f"dispatch show {task}",
                          {"code": code, "in_progress": stopped})
        if state == "stopped":
            return Notice(key, "stopped", task, "was stopped", f"dispatch resume {task}", {"code": code})
        if state == "failed" or code:
            return Notice(key, "failed", task, f"failed (exit {code})", f"dispatch logs {task} -n 30", {"code": code})
        return Notice(key, "ended", task, f"worker ended ({state}) with work left", f"dispatch show {task}", {"code": code})
    if kind == "blocked":
        # A queued task that cannot start: what it waits for conflicts, was discarded, or cannot run.
        return Notice(f"b:{task}:{event.get('time')}", "blocked", task, f"cannot start: {event.get('reason', '')}",
                      f"dispatch show {task}", {"reason": event.get("reason")})
    return None


def _question_notice(task: str, number: Any, text: str, asked: str) -> Notice:
    lines = text.strip().splitlines()
    # With the time asked: a task made again under a purged task's id starts again at Q1.
    return Notice(f"q:{task}:{number}:{asked}", "question", task, f"asks Q{number}: {lines[0] if lines else ''}",
                  f'dispatch answer {task} "..."', {"number": number, "question": text})


POLL = 0.1  # seconds between looks where the log's folder cannot be watched


def wait(repo: Repo, cfg: Config, ids: list[str], *, timeout: float | None, consumer: str, changes: Changes,
         deliver: Callable[[list[Notice]], None], stop: Callable[[], bool] = lambda: False) -> bool:
    """Block until there is news for CONSUMER about IDS (all tasks when empty) and hand it to DELIVER (True),
    or STOP, asked after each look (CHANGES.wake: a look at once), says to give up (False). CHANGES watches
    the log's folder (repo.state_dir) from before the first look. The consumer's cursor moves past the news
    only once DELIVER printed it: a wait ended in between (its connection cut) tells it again, never loses it."""
    from dispatch.task.asking import open_questions

    cursor = load_cursor(repo, consumer)
    told = set(cursor.reported)
    pending: list[Notice] = []
    deadline = None if timeout is None else time.monotonic() + timeout
    log = log_path(repo)
    size = -1
    # The offset to save: never past news of other tasks that a filtered wait leaves for a later one.
    held: int | None = None
    next_live_check = 0.0
    worktrees: dict[str, Path] = {}
    while True:
        current = _size(log)
        if current != size:  # nothing is read, and no git runs, until the log grows
            first, size = size == -1, current
            _advance_queue(repo, cfg)
            before = cursor.offset
            new, cursor.offset = _read_located(repo, cursor.offset)
            for event, start in new:
                notice = _notice(event) if event.get("kind") in WAKING else None
                if notice is None or notice.key in told:
                    continue
                if ids and notice.task not in ids:
                    held = start if held is None else held
                else:
                    pending.append(notice)
            # Read after the events: a question's file is written before its event. An open
            # question may still bring news (its answer with --resume starts a worker); it comes and goes
            # only with an event, so it is looked for only when the log grew.
            # The tasks' worktrees, as the first look found them: a question of a task made since has
            # them found again (a worktree never moves under a task; a discarded one has no file left).
            if any(n.kind == "question" and n.task not in worktrees for n in pending):
                worktrees.clear()
            open_now = {(q.task, q.number): q for q in open_questions(repo, cfg, ids or None, worktrees)}
            if first:  # questions whose event was lost (a crash between commit and event) are still news
                pending[:0] = [_question_notice(q.task, q.number, q.text, q.asked) for q in open_now.values()]
            if cursor.offset != before and not pending:
                save_cursor(repo, consumer, _saved(cursor, held))
        news = _dedupe([n for n in pending if n.key not in told and (not ids or n.task in ids)])
        news = [n for n in news if n.kind != "question" or (n.task, n.details.get("number")) in open_now]
        if news:
            deliver(coalesce(news))
            checkpoint("wait:told")
            cursor.reported += [n.key for n in news]
            save_cursor(repo, consumer, _saved(cursor, held))
            return True
        pending = []
        if time.monotonic() >= next_live_check:
            if not open_now and not workers_live(repo, ids):
                if _size(log) != size:
                    continue  # a worker's last event came since the log was read (its record says so after it)
                raise nothing_for(ids)
            next_live_check = time.monotonic() + LIVE_CHECK
        if deadline is not None and time.monotonic() >= deadline:
            raise timed_out(timeout or 0.0)
        if stop():
            return False
        changes.wait(min(next_live_check, deadline if deadline is not None else next_live_check) - time.monotonic())


def nothing_for(ids: list[str]) -> NothingToWaitFor:
    whose = f" for {', '.join(ids)}" if ids else ""
    return NothingToWaitFor(f"nothing to wait for: no worker runs or is queued and no question is open{whose}; "
                            "`dispatch status` says what needs you")


def timed_out(timeout: float) -> WaitTimeout:
    return WaitTimeout(f"nothing new within {timeout:g}s: run `dispatch wait` again to keep waiting")


def workers_live(repo: Repo, ids: list[str]) -> bool:
    """Whether a worker of IDS (all when empty) is preparing, running or queued: from its files, no git."""
    from dispatch.task import runtime

    folder = repo.state_dir / "tasks"
    names = ids or (sorted(p.name for p in folder.iterdir()) if folder.is_dir() else [])
    return any(_live(runtime.read_worker(repo, task_id)) for task_id in names)


def _live(data: dict[str, Any] | None) -> bool:
    from dispatch.task import runtime

    if data is None:
        return False
    if runtime.worker_state(data) in ("preparing", "running", "queued"):
        return True
    # Ended, but its `exited` event not yet written (the supervisor writes it just after): news is coming.
    # A minute bounds it for a supervisor killed between the two writes.
    exited = data.get("exited")
    return (data.get("phase") == "exited" and data.get("told") != data.get("run") and isinstance(exited, str)
            and time.time() - clock.parse_iso(exited) < 60)


def coalesce(news: list[Notice]) -> list[Notice]:
    """Each piece of news once, with one command: a task's last run only, and a question whose worker
    stopped waiting for it told once, with the command that answers and resumes."""
    ended = {n.task: n for n in news if n.key.startswith("x:")}  # the last run of each task
    gave_up = {task for task, n in ended.items() if n.kind == "blocked"}
    asked = {n.task for n in news if n.kind == "question"}
    result = []
    for n in news:
        if n.key.startswith("x:") and (ended[n.task] is not n or n.task in asked and n.kind == "blocked"):
            continue
        if n.kind == "question" and n.task in gave_up:
            n = replace(n, text=f"{n.text} (its worker stopped waiting)", command=f'dispatch answer {n.task} --resume "..."')
        result.append(n)
    return result


def _advance_queue(repo: Repo, cfg: Config) -> None:
    """A waiting host is a dispatch process too: it starts queued tasks whose time has come."""
    from dispatch.worker import queue, scheduler

    if queue.has_work(repo):
        try:
            scheduler.advance(repo, cfg)
        except DispatchError:
            pass  # the next command or supervisor tries again


def _size(log: os.PathLike[str]) -> int:
    try:
        return os.stat(log).st_size
    except FileNotFoundError:
        return 0


def _saved(cursor: Cursor, held: int | None) -> Cursor:
    return cursor if held is None else Cursor(min(cursor.offset, held), cursor.reported)


def _dedupe(notices: list[Notice]) -> list[Notice]:
    seen, result = set(), []
    for n in notices:
        if n.key not in seen:
            seen.add(n.key)
            result.append(n)
    return result
