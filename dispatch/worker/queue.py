"""The queue's data: tasks waiting for other tasks (`--after`) or for a free slot (`max_running`).

The queue is a file in the common git dir, written under the repository lock, so a
crash never loses a queued task: the next process picks it up. What starts when is
decided in dispatch.scheduler.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from dispatch import clock, events, files
from dispatch.config import Config
from dispatch.repo import Repo
from dispatch.task import runtime


def _path(repo: Repo) -> Path:
    return repo.state_dir / "queue.json"


def read(repo: Repo) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(_path(repo).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write(repo: Repo, queue: dict[str, dict[str, Any]]) -> None:
    files.write_atomic(_path(repo), json.dumps(queue, indent=2) + "\n")


def has_work(repo: Repo) -> bool:
    """Cheap: one stat, no git. An empty queue is `{}` (3 bytes with its newline)."""
    try:
        return _path(repo).stat().st_size > 3
    except OSError:
        return False


def limit(cfg: Config) -> int:
    configured = int(cfg["max_running"])
    return configured if configured > 0 else (os.cpu_count() or 1)


def running_count(repo: Repo) -> int:
    folder = repo.state_dir / "tasks"
    if not folder.is_dir():
        return 0
    return sum(runtime.worker_alive(repo, entry.name) for entry in folder.iterdir())


def enqueue(
    repo: Repo, task_id: str, *, after: list[str], requested: str, resume: bool = False, message: str | None = None
) -> None:
    """Queue TASK_ID (the caller holds the repository lock)."""
    queue = read(repo)
    queue[task_id] = {"after": after, "requested": requested, "resume": resume, "message": message,
                      "queued": clock.iso(clock.now())}
    write(repo, queue)
    runtime.update_worker(repo, task_id, phase="queued", after=after, requested=requested, reason=None)
    events.append(repo, task_id, "queued", after=after)


def forget(repo: Repo, task_id: str) -> None:
    """Take TASK_ID off the queue (the caller holds the repository lock)."""
    queue = read(repo)
    if queue.pop(task_id, None) is not None:
        write(repo, queue)


def must_queue(repo: Repo, cfg: Config, after: list[str]) -> bool:
    return bool(after) or bool(read(repo)) or running_count(repo) >= limit(cfg)
