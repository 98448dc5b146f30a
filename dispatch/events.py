"""The append-only events log: one JSON object a line in the common git dir."""

from __future__ import annotations

import os

from dispatch import clock, jsontext
from dispatch.repo import Repo
from dispatch.typed import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any


def log_path(repo: Repo) -> os.PathLike[str]:
    return repo.state_dir / "events.jsonl"


def append(repo: Repo, task: str, kind: str, **details: Any) -> dict[str, Any]:
    """Record one event; a single O_APPEND write keeps concurrent writers' lines whole."""
    event = {"time": clock.iso(clock.now()), "task": task, "kind": kind, **details}
    line = jsontext.dumps(event) + "\n"
    repo.state_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(log_path(repo), os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        # A writer killed mid-line (or a full disk) leaves a torn last line: start on a fresh one, or
        # this event would be glued to it and be lost with it. Live writers' lines are always whole.
        if not _ends_a_line(fd):
            line = "\n" + line
        os.write(fd, line.encode())
    finally:
        os.close(fd)
    return event


def _ends_a_line(fd: int) -> bool:
    size = os.fstat(fd).st_size
    return size == 0 or os.pread(fd, 1, size - 1) == b"\n"
