"""The dispatcher's notes to a task's worker: NOTES.md, appended to and never rewritten."""

from __future__ import annotations

import os
from pathlib import Path

from dispatch import clock, events
from dispatch.config import Config
from dispatch.errors import DispatchError
from dispatch.repo import Repo, locked
from dispatch.task.model import NOTES, get_task


def add_note(repo: Repo, cfg: Config, task_id: str, text: str) -> Path:
    """Append a dated note to the task's NOTES.md.

    Never to PLAN.md: a live worker may be rewriting that file at this moment, and reading it
    half-written would write back a plan with no items. NOTES.md only dispatch writes (under the
    repo lock), the worker only reads it and commits it with its work. It is appended to in one
    write, never replaced through a temporary file: a worker's `git add -A` that lists a temporary
    file which is renamed away before git opens it fails.
    """
    if not text.strip():
        raise DispatchError("the note is empty: give the text to add")
    task = get_task(repo, cfg, task_id)
    if not task.worktree_exists or task.worktree is None:
        raise DispatchError(f"task `{task_id}` has no worktree: `dispatch doctor` says how to repair it")
    path = task.worktree.path / NOTES
    with locked(repo, cfg["lock_timeout"]):
        entry = _note_entry(text, clock.iso(clock.now()))
        path.parent.mkdir(exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size == 0:
                entry = notes_header(task_id) + entry  # a task made before NOTES.md existed
            elif os.pread(fd, 1, size - 1) != b"\n":
                entry = "\n" + entry
            os.write(fd, entry.encode("utf-8"))
        finally:
            os.close(fd)
        events.append(repo, task_id, "noted")
    return path


def notes_header(task_id: str) -> str:
    from dispatch import templates

    return templates.render("NOTES.md.j2", id=task_id)


def _note_entry(text: str, when: str) -> str:
    """`- WHEN — first line`, further lines indented under it, so a note never starts a heading or an item."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    rest = [f"  {line}" if line else "" for line in lines[1:]]
    return "".join(f"{line}\n" for line in [f"- {when} — {lines[0]}", *rest])
