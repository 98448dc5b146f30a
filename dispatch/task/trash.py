"""Discard, restore and the trash: every removed task is first saved under refs/dispatch/trash/<id>."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from dispatch import clock, events, git, objects
from dispatch.config import Config
from dispatch.errors import DispatchError
from dispatch.faults import checkpoint
from dispatch.repo import Repo, locked
from dispatch.task.create import undo_create
from dispatch.task.guards import refuse_if_running, refuse_nested_repositories
from dispatch.task.ids import nearest, validate_id
from dispatch.task.model import (
    PLAN,
    TRASH_PREFIX,
    TaskRef,
    branch_ref,
    get_task,
    worktree_root,
)

_TRAILERS = ("dispatch-task", "dispatch-branch", "dispatch-uncommitted", "dispatch-reason")
_KEPT = "dispatch-kept: "
_NO_COMMIT = "0" * 40


@dataclass(frozen=True)
class TrashEntry:
    id: str
    ref: str
    record: str  # the trash record commit
    tip: str  # the branch tip it saved
    uncommitted: bool
    reason: str
    discarded: int  # unix seconds
    title: str
    kept: tuple[str, ...] = ()  # commits its reflogs held that the tip does not: extra parents of the record


def worktree_admin_dir(repo: Repo, path: Path) -> Path | None:
    """The worktree's folder in the common git dir (its HEAD and reflog), found even when PATH itself is gone."""
    folder = repo.common_dir / "worktrees"
    if not folder.is_dir():
        return None
    for admin in sorted(folder.iterdir()):
        try:
            gitdir = Path((admin / "gitdir").read_text(encoding="utf-8").strip())
        except OSError:
            continue
        if gitdir.parent == path:
            return admin
    return None


def reflog_commits(path: Path) -> list[str]:
    """Every commit a reflog file records (old and new side of each move), oldest first; [] when there is none."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    seen: dict[str, None] = {}
    for line in lines:
        for sha in line.split(" ", 2)[:2]:
            if len(sha) >= 40 and sha != _NO_COMMIT and sha != "0" * len(sha):
                seen.setdefault(sha, None)
    return list(seen)


def _kept_commits(repo: Repo, task: TaskRef, tip: str) -> list[str]:
    """What only the task's reflogs hold: every commit its branch or its worktree's HEAD ever pointed at
    and the tip does not contain (a worker's `reset --hard`, a detached HEAD), as few heads as cover them.

    Removing the branch and the worktree deletes those reflogs, so the trash record keeps these commits."""
    found = reflog_commits(repo.common_dir / "logs" / task.branch)
    head = None
    if task.worktree is not None:
        admin = worktree_admin_dir(repo, task.worktree.path)
        if admin is not None:
            found += reflog_commits(admin / "logs" / "HEAD")
        head = task.worktree.head
    candidates = list(dict.fromkeys([*found, *([head] if head else [])]))
    if not candidates:
        return []
    checked = git.run(["cat-file", "--batch-check=%(objectname) %(objecttype)"], cwd=repo.root,
                      input="".join(f"{sha}\n" for sha in candidates)).stdout.split("\n")
    commits = [line.split(" ")[0] for line in checked if line.endswith(" commit")]
    if not commits:
        return []
    heads = git.out(["merge-base", "--independent", tip, *commits], cwd=repo.root).split()
    order = {sha: n for n, sha in enumerate(commits)}
    return sorted((sha for sha in heads if sha != tip), key=lambda sha: order.get(sha, -1))


def save_to_trash(repo: Repo, task: TaskRef, reason: str) -> TrashEntry:
    """Write the trash record (branch tip plus uncommitted work) before anything is removed."""
    if task.tip is None:
        raise DispatchError(
            f"branch of `{task.id}` is missing, so there is nothing to save: `dispatch doctor` says how to repair it"
        )
    tip_tree = git.out(["rev-parse", f"{task.tip.sha}^{{tree}}"], cwd=repo.root)
    tree = tip_tree
    if task.worktree_exists and task.worktree is not None:
        tree = objects.snapshot_tree(task.worktree.path, repo.state_dir / "tmp")
    uncommitted = tree != tip_tree
    ref = f"{TRASH_PREFIX}{task.id}"
    # A removal cut short (a crash) leaves the task live and in the trash: reuse its record when it holds
    # this very state (or more: the worktree is gone), else keep it as a parent of the new one.
    existing = git.rev(repo.root, ref)
    if existing is not None and git.rev(repo.root, f"{existing}^") == task.tip.sha:
        old_tree = git.out(["rev-parse", f"{existing}^{{tree}}"], cwd=repo.root)
        if old_tree == tree or not task.worktree_exists:
            return TrashEntry(task.id, ref, existing, task.tip.sha, old_tree != tip_tree, reason, int(clock.now()), "")
    kept = _kept_commits(repo, task, task.tip.sha)
    parents = [task.tip.sha, *([existing] if existing else []), *kept]
    message = (
        f"dispatch: trash {task.id}\n\n"
        f"dispatch-task: {task.id}\n"
        f"dispatch-branch: {task.branch_name}\n"
        f"dispatch-uncommitted: {'yes' if uncommitted else 'no'}\n"
        f"dispatch-reason: {reason}\n"
        + "".join(f"{_KEPT}{sha}\n" for sha in kept)
    )
    record = objects.commit_tree(repo.root, tree, parents, message)
    # Compare-and-swap: an existing trash entry of the same id is never overwritten, only kept as a parent.
    git.run(["update-ref", "-m", f"dispatch: {reason} {task.id}", ref, record, existing or ""], cwd=repo.root)
    return TrashEntry(task.id, ref, record, task.tip.sha, uncommitted, reason, int(clock.now()), "", tuple(kept))


def remove_task(repo: Repo, task: TaskRef) -> None:
    """Remove worktree and branch; call only once save_to_trash has succeeded."""
    if task.worktree is not None:
        if task.worktree_exists:
            git.run(["worktree", "remove", "--force", "--force", str(task.worktree.path)], cwd=repo.root)
            checkpoint("remove:worktree")
        else:
            git.run(["worktree", "prune"], cwd=repo.root)
    if task.tip is not None:
        git.run(["update-ref", "-d", task.branch, task.tip.sha], cwd=repo.root)


def discard(repo: Repo, cfg: Config, task_id: str) -> TrashEntry:
    with locked(repo, cfg["lock_timeout"]):
        task = get_task(repo, cfg, task_id)
        refuse_if_running(repo, task_id, "discard it")
        refuse_nested_repositories(task, "discard it")
        entry = save_to_trash(repo, task, "discard")
        checkpoint("discard:trashed")
        remove_task(repo, task)
        checkpoint("discard:removed")
        events.append(repo, task_id, "discarded", trash=entry.record, uncommitted=entry.uncommitted)
    return entry


def list_trash(repo: Repo) -> list[TrashEntry]:
    fmt = "%(refname)%00%(objectname)%00%(parent)%00%(committerdate:unix)%00%(contents:body)%01"
    text = git.run(["for-each-ref", f"--format={fmt}", f"{TRASH_PREFIX}*"], cwd=repo.root).stdout
    raw: list[tuple[str, str, str, int, dict[str, str], tuple[str, ...]]] = []
    for record in text.split("\x01"):
        fields = record.lstrip("\n").split("\0")
        if len(fields) != 5:
            continue
        name, sha, parents, when, body = fields
        trailers = dict(
            line.split(": ", 1) for line in body.splitlines() if line.split(": ", 1)[0] in _TRAILERS and ": " in line
        )
        kept = tuple(line.removeprefix(_KEPT) for line in body.splitlines() if line.startswith(_KEPT))
        raw.append((name, sha, parents, int(when or 0), trailers, kept))
    plans = git.read_blobs(repo.root, [f"{sha}:{PLAN}" for _, sha, _, _, _, _ in raw]) if raw else {}
    entries = []
    for name, sha, parents, discarded, trailers, kept in raw:
        entries.append(
            TrashEntry(
                id=name.removeprefix(TRASH_PREFIX),
                ref=name,
                record=sha,
                tip=parents.split()[0] if "dispatch-task" in trailers and parents else sha,
                uncommitted=trailers.get("dispatch-uncommitted") == "yes",
                reason=trailers.get("dispatch-reason", "unknown"),
                discarded=discarded,
                title=_title(plans.get(f"{sha}:{PLAN}")),
                kept=kept,
            )
        )
    return sorted(entries, key=lambda e: (-e.discarded, e.id))


def _title(plan_text: str | None) -> str:
    if not plan_text:
        return ""
    from dispatch.task.plan import PlanError, parse_plan

    try:
        return parse_plan(plan_text).title
    except PlanError:
        return ""


def get_trash(repo: Repo, task_id: str) -> TrashEntry:
    entries = list_trash(repo)
    for entry in entries:
        if entry.id == task_id:
            return entry
    guess = nearest(task_id, [e.id for e in entries])
    if guess is not None:
        raise DispatchError(f"no task `{task_id}` in the trash: did you mean `{guess}`?")
    validate_id(task_id)
    raise DispatchError(f"no task `{task_id}` in the trash: `dispatch trash` lists what can be restored")


@dataclass(frozen=True)
class Restored:
    id: str
    branch: git.BranchName
    worktree: Path
    uncommitted: bool


def restore(repo: Repo, cfg: Config, task_id: str) -> Restored:
    with locked(repo, cfg["lock_timeout"]):
        entry = get_trash(repo, task_id)
        ref = branch_ref(cfg, task_id)
        if git.rev(repo.root, ref) is not None:
            raise DispatchError(
                f"branch {git.branch_name(ref)} exists again: rename it (`git branch -m {git.branch_name(ref)} NEW`) "
                f"or delete it, then retry `dispatch restore {task_id}`"
            )
        path = worktree_root(repo, cfg) / task_id
        if path.exists() or path.is_symlink():
            raise DispatchError(f"worktree path {path} already exists: move it away and retry")
        made_root = not path.parent.exists()
        try:
            if entry.kept:
                _replay_reflog(repo, ref, entry)
                git.run(["worktree", "add", "--quiet", str(path), git.branch_name(ref)], cwd=repo.root)
            else:
                git.run(["worktree", "add", "--quiet", "--no-track", "-b", git.branch_name(ref), str(path), entry.tip],
                        cwd=repo.root)
            if entry.uncommitted:
                # Bring the saved tree into the worktree, then unstage it: it comes back uncommitted.
                git.run(["read-tree", "-u", "-m", "HEAD", entry.record], cwd=path)
                git.run(["reset", "--quiet"], cwd=path)
        except BaseException:
            undo_create(repo, ref, path, made_root=made_root)
            raise
        git.run(["update-ref", "-d", entry.ref, entry.record], cwd=repo.root)
        events.append(repo, task_id, "restored", uncommitted=entry.uncommitted)
    return Restored(task_id, git.branch_name(ref), path, entry.uncommitted)


def _replay_reflog(repo: Repo, ref: str, entry: TrashEntry) -> None:
    """Make the branch again through the commits the trash kept from its reflogs, then its tip, so that
    its new reflog holds them once the trash record is gone."""
    old = ""
    for sha in [*entry.kept, entry.tip]:
        note = "from the trash" if sha == entry.tip else "from the trash, a commit its reflog held"
        git.run(["update-ref", "-m", f"dispatch restore: {note}", ref, sha, old], cwd=repo.root)
        old = sha


def purge(repo: Repo, cfg: Config, ids: list[str], older_than_days: float | None) -> list[TrashEntry]:
    """Delete trash entries for good: the named ones, or those discarded more than N days ago."""
    with locked(repo, cfg["lock_timeout"]):
        entries = list_trash(repo)
        if ids:
            by_id = {e.id: e for e in entries}
            for task_id in ids:
                if task_id not in by_id:
                    get_trash(repo, task_id)  # raises the one-line error
            chosen = [by_id[i] for i in ids]
        else:
            assert older_than_days is not None
            cutoff = clock.now() - older_than_days * 86400
            chosen = [e for e in entries if e.discarded < cutoff]
        for entry in chosen:
            git.run(["update-ref", "-d", entry.ref, entry.record], cwd=repo.root)
            shutil.rmtree(repo.task_dir(entry.id), ignore_errors=True)
            events.append(repo, entry.id, "purged", trash=entry.record)
    return chosen
