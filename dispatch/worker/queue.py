"""The queue's data: tasks waiting for other tasks (`--after`) or for a free slot (`max_running`).

The queue is a file in the common git dir, written under the repository lock, so a
crash never loses a queued task: the next process picks it up. What starts when is
decided in dispatch.scheduler.
"""

from __future__ import annotations

import json

from dispatch import clock, events, files
from dispatch.config import Config
from dispatch.repo import Repo
from dispatch.task import runtime
from dispatch.typed import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any


def read(repo: Repo) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(repo.queue_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write(repo: Repo, queue: dict[str, dict[str, Any]]) -> None:
    files.write_atomic(repo.queue_file, json.dumps(queue, indent=2) + "\n")


def has_work(repo: Repo) -> bool:
    """Cheap: one stat, no git (Repo.has_queued)."""
    return repo.has_queued()


# Agent CLIs spend most of their time waiting on a model's API, not on this machine's CPU: the
# number of cores says little about how many can run. Eight keeps memory (a few hundred MB each),
# API rate limits and the work a person can review in bounds.
DEFAULT_MAX_RUNNING = 8


def limit(cfg: Config) -> int:
    configured = int(cfg["max_running"])
    return configured if configured > 0 else DEFAULT_MAX_RUNNING


def running_count(repo: Repo) -> int:
    """Workers holding a slot: preparing or running, and not blocked in `dispatch ask` (a person may take hours)."""
    from dispatch.task.asking import blocked_in_ask

    folder = repo.state_dir / "tasks"
    if not folder.is_dir():
        return 0
    return sum(runtime.worker_alive(repo, e.name) and not blocked_in_ask(repo, e.name) for e in folder.iterdir())


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
