"""`dispatch doctor`: find damaged task state, say why and how, and (with fix) repair it. Never deletes a commit."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dispatch import clock, events, git
from dispatch.config import Config
from dispatch.repo import Repo, locked
from dispatch.task import runtime
from dispatch.task.model import (
    PLAN,
    QUESTIONS,
    TaskRef,
    list_tasks,
    short_branch,
    trashed_ids,
    worktree_root,
)


@dataclass
class Finding:
    task: str | None
    problem: str
    fix: str  # what --fix does, or what a person must do
    fixable: bool
    fixed: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"task": self.task, "problem": self.problem, "fix": self.fix, "fixable": self.fixable, "fixed": self.fixed}


def _has_plan(repo: Repo, commit: str) -> bool:
    return git.run(["cat-file", "-e", f"{commit}:{PLAN}"], cwd=repo.root, check=False).returncode == 0


def _branch_from_worktree(worktree: Path) -> str | None:
    """The commit a worktree was last on, from its HEAD or its HEAD reflog (the branch is gone)."""
    head = git.run(["rev-parse", "--verify", "--quiet", "HEAD"], cwd=worktree, check=False).stdout.strip()
    if head:
        return head
    git_dir = git.run(["rev-parse", "--absolute-git-dir"], cwd=worktree, check=False).stdout.strip()
    log = Path(git_dir) / "logs" / "HEAD"
    try:
        last = log.read_text().strip().splitlines()[-1]
    except (OSError, IndexError):
        return None
    sha = last.split()[1]
    return sha if set(sha) != {"0"} else None


def check(repo: Repo, cfg: Config, *, fix: bool) -> list[Finding]:
    # The lock note first: taking the lock below would overwrite it.
    findings: list[Finding] = _check_lock(repo, fix=fix)
    with locked(repo, cfg["lock_timeout"]) if fix else _nothing():
        tasks = list_tasks(repo, cfg)
        for task in tasks.values():
            findings += _check_task(repo, cfg, task, fix=fix)
        findings += _check_runtime(repo, set(tasks), fix=fix)
    return findings


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _check_task(repo: Repo, cfg: Config, task: TaskRef, *, fix: bool) -> list[Finding]:
    from dispatch.task.plan import PlanError, parse_plan

    found: list[Finding] = []
    if runtime.on_runner(repo, task.id):  # its worktree is on its runner: `dispatch status` checks it there
        return found
    branch = short_branch(task.branch)
    if task.tip is None and task.worktree is not None and task.worktree_exists:
        sha = _branch_from_worktree(task.worktree.path)
        if sha:
            f = Finding(task.id, f"branch {branch} was deleted", f"recreate it at {sha[:7]}, the worktree's last commit", True)
            if fix:
                git.run(["update-ref", "-m", "dispatch doctor: recreate branch", task.branch, sha, ""], cwd=repo.root)
                events.append(repo, task.id, "repaired", what="branch", commit=sha)
                f.fixed = True
        else:
            f = Finding(task.id, f"branch {branch} was deleted and its worktree has no commit to recreate it from",
                        "`dispatch discard` saves what the worktree holds", False)
        found.append(f)
    elif task.tip is not None and task.switched and task.worktree is not None:
        w = task.worktree
        if w.branch is not None:
            found.append(_switch_back(repo, task, w.path, short_branch(w.branch), fix=fix))
        elif w.head and not git.in_progress(w.path):
            found.append(_reattach(repo, task, w.path, w.head, fix=fix))
        return found  # its files are another branch's: nothing below applies
    elif task.tip is not None and (task.worktree is None or not task.worktree_exists):
        path = task.worktree.path if task.worktree is not None else worktree_root(repo, cfg) / task.id
        f = Finding(task.id, f"worktree {path} is missing", f"prune it and check {branch} out there again", True)
        if fix:
            git.run(["worktree", "prune"], cwd=repo.root)
            if path.exists():
                f.fix, f.fixable = f"{path} exists but is no worktree: move it away, then run doctor --fix again", False
            else:
                git.run(["worktree", "add", "--quiet", str(path), branch], cwd=repo.root)
                events.append(repo, task.id, "repaired", what="worktree")
                f.fixed = True
        found.append(f)
    if task.tip is not None and not _has_plan(repo, task.tip.sha) and not (
        task.worktree is not None and (task.worktree.path / PLAN).exists()
    ) and (planned := _last_planned(repo, task)) is not None:
        # Not a half-made task: a worker moved its branch back to before the plan; its commits are in reflogs.
        folder = task.worktree.path if task.worktree is not None else None
        back = f"`git -C {folder} reset --hard {planned[:7]}`" if folder else f"`git branch -f {branch} {planned[:7]}`"
        found.append(Finding(
            task.id, f"its branch was reset to {task.tip.sha[:7]}, before its plan commit",
            f"{back} brings back its last commit with a plan, or `dispatch discard {task.id}` keeps every commit "
            "in the trash", False))
        return found
    if task.tip is not None and not _has_plan(repo, task.tip.sha) and not (
        task.worktree is not None and (task.worktree.path / PLAN).exists()
    ):
        # `new` was cut short between making the worktree and committing its plan.
        f = Finding(task.id, "it has no plan: its creation was cut short",
                    f"move it to the trash (`dispatch restore {task.id}` brings it back)", True)
        if fix:
            from dispatch.task.trash import remove_task, save_to_trash

            save_to_trash(repo, task, "discard")
            remove_task(repo, task)
            events.append(repo, task.id, "discarded", reason="no plan")
            f.fixed = True
        return [*found, f]
    if task.worktree is not None and task.worktree_exists:
        found += _check_index_lock(repo, task, fix=fix)
        for name in (PLAN, QUESTIONS):
            path = task.worktree.path / name
            if not path.exists():
                found.append(Finding(task.id, f"{name} is missing",
                                     f"restore it: `git -C {task.worktree.path} checkout HEAD -- {name}`", False))
        try:
            meta = parse_plan((task.worktree.path / PLAN).read_text(encoding="utf-8", errors="replace")).meta
            if not (meta.get("base") or meta.get("base_commit")):
                found.append(_plan_without_base(repo, task, task.worktree.path))
        except PlanError as e:
            where = f" line {e.line}" if e.line else ""
            found.append(Finding(task.id, f"{PLAN}{where}: {e}",
                                 f"fix it by hand, or restore it: `git -C {task.worktree.path} checkout HEAD -- {PLAN}`", False))
        except (OSError, UnicodeDecodeError):
            pass
    data = runtime.read_worker(repo, task.id)
    if data is not None and runtime.worker_state(data) == "lost":
        f = Finding(task.id, "its supervisor is gone while worker.json says the worker runs",
                    "record the worker as ended and commit what it left; then `dispatch resume`", True)
        if fix:
            _bury_worker(repo, task, data)
            f.fixed = True
        found.append(f)
    return found


def _last_planned(repo: Repo, task: TaskRef) -> str | None:
    """The newest commit with a plan that the task's branch or worktree HEAD ever pointed at (their reflogs).

    `new` moves a branch once (created, then the plan commit): a task cut short in between has none."""
    from dispatch.task.trash import reflog_commits, worktree_admin_dir

    found = reflog_commits(repo.common_dir / "logs" / task.branch)
    if task.worktree is not None and (admin := worktree_admin_dir(repo, task.worktree.path)) is not None:
        found += reflog_commits(admin / "logs" / "HEAD")
    return next((sha for sha in reversed(found) if _has_plan(repo, sha)), None)


def _check_index_lock(repo: Repo, task: TaskRef, *, fix: bool) -> list[Finding]:
    """A worktree's `index.lock` makes every git command there fail; one no process can be holding is stale."""
    from dispatch.errors import processes_in
    from dispatch.task.trash import worktree_admin_dir

    assert task.worktree is not None
    admin = worktree_admin_dir(repo, task.worktree.path)
    lock = admin / "index.lock" if admin is not None else None
    if lock is None or not lock.exists():
        return []
    holders = processes_in(task.worktree.path)
    if holders:
        pid, name = holders[0]
        return [Finding(task.id, f"{lock} exists, and {name} (pid {pid}) works in {task.worktree.path}",
                        "let it finish; delete the file only if no git runs there", False)]
    f = Finding(task.id, f"{lock} is left by a git that crashed (no process works in {task.worktree.path})",
                "delete it", True)
    if fix:
        lock.unlink(missing_ok=True)
        events.append(repo, task.id, "repaired", what="index-lock")
        f.fixed = True
    return [f]


def _plan_without_base(repo: Repo, task: TaskRef, path: Path) -> Finding:
    """A plan whose front matter is gone: name the last commit whose plan still says where the task stands on."""
    from dispatch.task.plan import PlanError, parse_plan
    from dispatch.task.record import NO_BASE

    assert task.tip is not None
    shas = git.out(["log", "--format=%H", "-n", "50", task.tip.sha, "--", PLAN], cwd=repo.root).split()
    texts = git.read_blobs(repo.root, [f"{sha}:{PLAN}" for sha in shas])
    for sha in shas:
        try:
            meta = parse_plan(texts.get(f"{sha}:{PLAN}") or "").meta
        except PlanError:
            continue
        if meta.get("base") or meta.get("base_commit"):
            return Finding(task.id, f"{PLAN} {NO_BASE}",
                           f"restore it from {sha[:7]}, the last commit whose plan has one: "
                           f"`git -C {path} checkout {sha[:7]} -- {PLAN}`", False)
    return Finding(task.id, f"{PLAN} {NO_BASE}", "write its front matter back by hand (see another task's plan), "
                   "or land it with `dispatch merge --into BRANCH`", False)


def _switch_back(repo: Repo, task: TaskRef, path: Path, other: str, *, fix: bool) -> Finding:
    """A worker switched its worktree to another branch: that branch keeps its commits; back to the task's."""
    branch = short_branch(task.branch)
    problem = f"worktree {path} has branch {other} checked out, not {branch}"
    if git.status_porcelain(path):
        return Finding(task.id, problem, f"commit or stash its changes there (they are on {other}), "
                       f"then `git -C {path} switch {branch}`", False)
    return _switched_back(repo, task, path, Finding(
        task.id, problem, f"switch it back to {branch} ({other} keeps its commits)", True), fix=fix, branch=other)


def _reattach(repo: Repo, task: TaskRef, path: Path, head: str, *, fix: bool) -> Finding:
    """A task's worktree left on a detached HEAD (a worker, or a rebase landing cut short): back to its branch."""
    branch = short_branch(task.branch)
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
        git.run(["switch", "--quiet", short_branch(task.branch)], cwd=path)
        events.append(repo, task.id, "repaired", what="worktree-branch", **what)
        f.fixed = True
    return f


def _bury_worker(repo: Repo, task: TaskRef, data: dict[str, Any]) -> None:
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
    saved = None
    if task.worktree is not None and task.worktree_exists:
        saved = save_uncommitted(task.worktree.path, -1)
    runtime.update_worker(repo, task.id, phase="exited", exit_code=None, lost=True, saved=saved,
                          exited=clock.iso(clock.now()))
    events.append(repo, task.id, "exited", code=None, state="failed", reason="supervisor lost", saved=saved)


def _check_runtime(repo: Repo, live: set[str], *, fix: bool) -> list[Finding]:
    folder = repo.state_dir / "tasks"
    if not folder.is_dir():
        return []
    keep = live | trashed_ids(repo)
    found = []
    for entry in sorted(folder.iterdir()):
        if entry.is_dir() and entry.name not in keep:
            f = Finding(entry.name, f"runtime folder {entry} belongs to no live or trashed task", "remove it", True)
            if fix:
                shutil.rmtree(entry, ignore_errors=True)
                f.fixed = True
            found.append(f)
    return found


def _check_lock(repo: Repo, *, fix: bool) -> list[Finding]:
    path = repo.state_dir / "lock"
    try:
        pid = int(path.read_text().strip() or 0)
    except (OSError, ValueError):
        return []
    if not pid or runtime.is_alive(pid, None):
        return []
    # flock locks die with their holder; only the note of who held it is stale.
    f = Finding(None, f"the repository lock names pid {pid}, which is gone (the lock itself is free)",
                "clear the stale note", True)
    if fix:
        path.write_text("")
        f.fixed = True
    return [f]


def summary(findings: list[Finding]) -> dict[str, Any]:
    return {"findings": [f.to_json() for f in findings],
            "remaining": sum(1 for f in findings if not f.fixed)}

