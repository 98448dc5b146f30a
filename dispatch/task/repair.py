"""The repairs `dispatch doctor` proposes and, with --fix, makes: each a Finding.

Here the ones that move a worktree or a worker: a worktree switched off its task's branch, and
a worker whose supervisor died. Each loses nothing: a repair that could is only described.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from dispatch import clock, events, git
from dispatch.repo import Repo
from dispatch.task import runtime
from dispatch.task.model import TaskRef
from dispatch.typed import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any


@dataclass
class Finding:
    task: str | None
    problem: str
    fix: str  # what --fix does, or what a person must do
    fixable: bool
    fixed: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"task": self.task, "problem": self.problem, "fix": self.fix, "fixable": self.fixable, "fixed": self.fixed}


def switch_back(repo: Repo, task: TaskRef, path: Path, other: str, *, fix: bool) -> Finding:
    """A worker switched its worktree to another branch: that branch keeps its commits; back to the task's."""
    branch = task.branch_name
    problem = f"worktree {path} has branch {other} checked out, not {branch}"
    if git.status_porcelain(path):
        return Finding(task.id, problem, f"commit or stash its changes there (they are on {other}), "
                       f"then `git -C {path} switch {branch}`", False)
    return _switched_back(repo, task, path, Finding(
        task.id, problem, f"switch it back to {branch} ({other} keeps its commits)", True), fix=fix, branch=other)


def reattach(repo: Repo, task: TaskRef, path: Path, head: str, *, fix: bool) -> Finding:
    """A task's worktree left on a detached HEAD (a worker, or a rebase landing cut short): back to its branch."""
    branch = task.branch_name
    problem = f"worktree {path} is on a detached HEAD at {head[:7]}, not on {branch}"
    assert task.tip is not None
    if head != task.tip.sha and git.is_ancestor(repo.root, task.tip.sha, head):
        # A worker committed on a detached HEAD: its branch moves on to those commits, changes and all.
        f = Finding(task.id, problem, f"move {branch} on to {head[:7]}, which holds its commits, and check it out", True)
        if fix:
            git.run(["update-ref", "-m", "dispatch doctor: the worker's detached commits", task.branch, head,
                     task.tip.sha], cwd=repo.root)
            git.run(["switch", "--quiet", branch], cwd=path)
            events.append(repo, task.id, "repaired", what="worktree-branch", commit=head)
            f.fixed = True
        return f
    # Safe only when switching loses nothing: no changes, and each commit only HEAD holds has a copy on the branch.
    only_here = git.run(["rev-list", head, "--not", "--branches", "--tags", "--remotes", "--glob=refs/dispatch/*"],
                        cwd=repo.root).stdout.split()
    copies = {line[2:] for line in git.run(["cherry", task.branch, head], cwd=repo.root).stdout.splitlines()
              if line.startswith("- ")}
    if git.status_porcelain(path) or not set(only_here) <= copies:
        return Finding(task.id, problem, f"keep its work on a branch (`git -C {path} switch -c NAME`), "
                       f"then `git -C {path} switch {branch}`", False)
    return _switched_back(repo, task, path, Finding(
        task.id, problem, f"switch it back to {branch} (HEAD holds no work that is not on a branch)", True),
        fix=fix, commit=head)


def _switched_back(repo: Repo, task: TaskRef, path: Path, f: Finding, *, fix: bool, **what: str) -> Finding:
    """With FIX, check the task's branch out again in PATH and record the repair."""
    if fix:
        git.run(["switch", "--quiet", task.branch_name], cwd=path)
        events.append(repo, task.id, "repaired", what="worktree-branch", **what)
        f.fixed = True
    return f


def bury_worker(repo: Repo, task: TaskRef, data: dict[str, Any]) -> None:
    """Stop a worker whose supervisor died, commit what it left, and record its end."""
    import signal
    import time

    from dispatch.task.model import save_uncommitted

    pid = data.get("pid")
    if pid and runtime.is_alive(pid, data.get("pid_start")):
        for signum in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(pid, signum)
            except (ProcessLookupError, PermissionError):
                break
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and runtime.is_alive(pid, data.get("pid_start")):
                time.sleep(0.05)
            if not runtime.is_alive(pid, data.get("pid_start")):
                break
    from dispatch.task.branchview import BranchView

    view = BranchView(repo.root, repo.common_dir, task.id, task.branch)
    if view.folder.exists():  # a confined worker: its last commits onto its branch first
        with contextlib.suppress(Exception):  # else they stay in its folder, for its next start to sync
            view.sync()
    saved = None
    if task.worktree is not None and task.worktree_exists:
        saved = save_uncommitted(task.worktree.path, -1)
    runtime.update_worker(repo, task.id, phase="exited", exit_code=None, lost=True, saved=saved,
                          exited=clock.iso(clock.now()))
    events.append(repo, task.id, "exited", code=None, state="failed", reason="supervisor lost", saved=saved)
