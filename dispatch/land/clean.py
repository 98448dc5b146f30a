"""`dispatch clean`: prune worktree entries deleted by hand; with --merged, merged tasks to the trash."""

from __future__ import annotations

from dataclasses import dataclass

from dispatch import events, git
from dispatch.config import Config
from dispatch.errors import DispatchError
from dispatch.repo import Repo, locked
from dispatch.task.guards import refuse_if_running, refuse_nested_repositories
from dispatch.task.model import get_task
from dispatch.task.trash import remove_task, save_to_trash


@dataclass(frozen=True)
class Cleaned:
    pruned: list[str]  # worktree folders deleted by hand whose entries were pruned
    removed: list[str]  # merged tasks moved to the trash
    skipped: list[str]  # merged tasks left alone, with the reason


def merged_tasks(repo: Repo, cfg: Config) -> list[str]:
    """Tasks whose work is in their base: tip contained in it, or (after a squash) nothing left to merge."""
    from dispatch.task.status import collect

    return [t.id for t in collect(repo, cfg) if t.state == "merged" or (t.ahead == 0 and t.last_commit)]


def clean(repo: Repo, cfg: Config, *, merged: bool) -> Cleaned:
    with locked(repo, cfg["lock_timeout"]):
        stale = [str(w.path) for w in git.worktrees(repo.root) if w.prunable]
        if stale:
            git.run(["worktree", "prune"], cwd=repo.root)
        removed, skipped = [], []
        for task_id in merged_tasks(repo, cfg) if merged else []:
            try:
                refuse_if_running(repo, task_id, "clean")
            except DispatchError:
                skipped.append(f"{task_id} (its worker is running)")
                continue
            task = get_task(repo, cfg, task_id)
            try:
                refuse_nested_repositories(task, "clean")
            except DispatchError:
                skipped.append(f"{task_id} (it holds git repositories of its own: `dispatch discard {task_id}` says which)")
                continue
            entry = save_to_trash(repo, task, "merged")
            remove_task(repo, task)
            events.append(repo, task_id, "cleaned", trash=entry.record, uncommitted=entry.uncommitted)
            removed.append(task_id)
    return Cleaned(stale, removed, skipped)
