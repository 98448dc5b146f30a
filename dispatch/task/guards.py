"""What must hold before dispatch removes a task's worktree: no worker writing there, no repository of its own inside."""

from __future__ import annotations

from pathlib import Path

from dispatch import git
from dispatch.errors import DispatchError
from dispatch.repo import Repo
from dispatch.task import runtime
from dispatch.task.model import TaskRef


def refuse_if_running(repo: Repo, task_id: str, action: str) -> None:
    data = runtime.read_worker(repo, task_id)
    state = runtime.worker_state(data) if data else None
    if runtime.is_working(data):
        raise DispatchError(
            f"the worker of `{task_id}` is still running: stop it with `dispatch stop {task_id}`, then {action}"
        )
    # Its supervisor died, but the worker itself (same pid, same start time) still writes in the worktree.
    if state == "lost" and data and runtime.is_alive(data.get("pid"), data.get("pid_start")):
        raise DispatchError(
            f"the worker of `{task_id}` still runs, but its supervisor is gone: `dispatch stop {task_id}` ends it "
            f"and commits its work, then {action}"
        )


def nested_repositories(worktree: Path) -> list[str]:
    """Folders in WORKTREE that are git repositories (or worktrees) of their own.

    Git stores them only as gitlinks: a snapshot would not hold their commits or files, and removing
    the worktree would destroy them."""
    text = git.run(["status", "--porcelain=v1", "-z", "--untracked-files=all"], cwd=worktree).stdout
    # With every untracked file listed, only a folder git will not descend into, a repository, ends in "/".
    found = [entry[3:].rstrip("/") for entry in git.zsplit(text) if entry.startswith("?? ") and entry.endswith("/")]
    staged = git.zsplit(git.run(["ls-files", "-z", "--stage"], cwd=worktree).stdout)
    found += [entry.split("\t", 1)[1] for entry in staged if entry.startswith("160000 ")]
    return sorted({path for path in found if (worktree / path / ".git").exists()})


def refuse_nested_repositories(task: TaskRef, action: str) -> None:
    if task.worktree is None or not task.worktree_exists:
        return
    nested = nested_repositories(task.worktree.path)
    if nested:
        shown = ", ".join(nested[:5]) + (f" and {len(nested) - 5} more" if len(nested) > 5 else "")
        raise DispatchError(
            f"{task.id} holds git repositories of its own that removing its worktree would destroy ({shown}): "
            f"move them out of {task.worktree.path} (a worktree with `git worktree move`), then {action}"
        )
