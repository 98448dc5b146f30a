"""`dispatch doctor`: find damaged task state, say why and how, and (with fix) repair it. Never deletes a commit."""

from __future__ import annotations

import shutil
from pathlib import Path

from dispatch import events, git, operations
from dispatch.config import Config
from dispatch.repo import Repo, locked
from dispatch.task import repair, runtime
from dispatch.task.model import (
    PLAN,
    QUESTIONS,
    TaskRef,
    list_tasks,
    trashed_ids,
    worktree_root,
)
from dispatch.task.record import Task, select
from dispatch.task.repair import Finding
from dispatch.typed import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any


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
        for rec in select(repo, tasks, None):
            findings += _check_task(repo, cfg, rec, fix=fix)
        findings += _check_runtime(repo, set(tasks), fix=fix)
    return findings


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _check_task(repo: Repo, cfg: Config, rec: Task, *, fix: bool) -> list[Finding]:
    task = rec.ref
    if runtime.on_runner(repo, task.id):  # its worktree is on its runner: `dispatch status` checks it there
        return []
    found, settled = _check_refs(repo, cfg, task, fix=fix)
    if settled:
        return found  # a switched worktree holds another branch's files: nothing below applies
    planless = _check_plan_commit(repo, task, fix=fix)
    if planless is not None:
        return [*found, planless]
    if task.worktree is not None and task.worktree_exists:
        found += _check_index_lock(repo, task, fix=fix)
        found += _check_files(repo, rec, task.worktree.path)
    return found + _check_worker(repo, task, fix=fix)


def _check_refs(repo: Repo, cfg: Config, task: TaskRef, *, fix: bool) -> tuple[list[Finding], bool]:
    """The branch deleted, the worktree switched to another branch, or gone; True: stop here."""
    branch = task.branch_name
    if task.tip is None and task.worktree is not None and task.worktree_exists:
        sha = _branch_from_worktree(task.worktree.path)
        if not sha:
            return [Finding(task.id, f"branch {branch} was deleted and its worktree has no commit to recreate it from",
                            "`dispatch discard` saves what the worktree holds", False)], False
        f = Finding(task.id, f"branch {branch} was deleted", f"recreate it at {sha[:7]}, the worktree's last commit", True)
        if fix:
            git.run(["update-ref", "-m", "dispatch doctor: recreate branch", task.branch, sha, ""], cwd=repo.root)
            events.append(repo, task.id, "repaired", what="branch", commit=sha)
            f.fixed = True
        return [f], False
    if task.tip is not None and task.switched and task.worktree is not None:
        w = task.worktree
        if w.branch is not None:
            return [repair.switch_back(repo, task, w.path, git.branch_name(w.branch), fix=fix)], True
        if w.head and not operations.in_progress(w.path):
            return [repair.reattach(repo, task, w.path, w.head, fix=fix)], True
        return [], True
    if task.tip is not None and (task.worktree is None or not task.worktree_exists):
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
        return [f], False
    return [], False


def _check_plan_commit(repo: Repo, task: TaskRef, *, fix: bool) -> Finding | None:
    """A branch with no plan commit: reset back past it by a worker, or a `new` cut short."""
    if task.tip is None or _has_plan(repo, task.tip.sha) or (
        task.worktree is not None and (task.worktree.path / PLAN).exists()
    ):
        return None
    planned = _last_planned(repo, task)
    if planned is not None:
        # Not a half-made task: a worker moved its branch back to before the plan; its commits are in reflogs.
        folder = task.worktree.path if task.worktree is not None else None
        back = (f"`git -C {folder} reset --hard {planned[:7]}`" if folder
                else f"`git branch -f {task.branch_name} {planned[:7]}`")
        return Finding(
            task.id, f"its branch was reset to {task.tip.sha[:7]}, before its plan commit",
            f"{back} brings back its last commit with a plan, or `dispatch discard {task.id}` keeps every commit "
            "in the trash", False)
    # `new` was cut short between making the worktree and committing its plan.
    f = Finding(task.id, "it has no plan: its creation was cut short",
                f"move it to the trash (`dispatch restore {task.id}` brings it back)", True)
    if fix:
        from dispatch.task.trash import remove_task, save_to_trash

        save_to_trash(repo, task, "discard")
        remove_task(repo, task)
        events.append(repo, task.id, "discarded", reason="no plan")
        f.fixed = True
    return f


def _check_files(repo: Repo, rec: Task, worktree: Path) -> list[Finding]:
    """The task files in the worktree: missing, a plan that does not parse, or one that names no base."""
    found = [Finding(rec.id, f"{name} is missing", f"restore it: `git -C {worktree} checkout HEAD -- {name}`", False)
             for name in (PLAN, QUESTIONS) if not (worktree / name).exists()]
    if rec.plan_error is not None:
        where = f" line {rec.plan_error.line}" if rec.plan_error.line else ""
        found.append(Finding(rec.id, f"{PLAN}{where}: {rec.plan_error}",
                             f"fix it by hand, or restore it: `git -C {worktree} checkout HEAD -- {PLAN}`", False))
    elif rec.baseless:
        found.append(_plan_without_base(repo, rec.ref, worktree))
    return found


def _check_worker(repo: Repo, task: TaskRef, *, fix: bool) -> list[Finding]:
    found: list[Finding] = []
    data = runtime.read_worker(repo, task.id)
    if data is not None and runtime.worker_state(data) == "lost":
        f = Finding(task.id, "its supervisor is gone while worker.json says the worker runs",
                    "record the worker as ended and commit what it left; then `dispatch resume`", True)
        if fix:
            repair.bury_worker(repo, task, data)
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

