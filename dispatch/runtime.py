"""Machine-local facts about a task's worker, kept in the common git dir (never committed)."""

from __future__ import annotations

import json
from typing import Any

from dispatch.repo import Repo


def read_worker(repo: Repo, task_id: str) -> dict[str, Any] | None:
    path = repo.task_dir(task_id) / "worker.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, ValueError):
        return {"state": "unknown", "problem": f"{path} is unreadable"}
    return data if isinstance(data, dict) else None


def worker_facts(repo: Repo, task_id: str) -> dict[str, Any] | None:
    """What status shows of the worker: None when none was ever started."""
    return read_worker(repo, task_id)
