"""Landing work: merge (squash, merge, rebase, ff); `rebase`, `clean` and `pr` are beside it.

A landing first builds its result as objects (`merge-tree --write-tree`, `commit-tree`), so a
conflict is found before anything moves; then it moves the target by a fast-forward only.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dispatch import events, git, objects, operations
from dispatch.config import Config
from dispatch.errors import DispatchError, GitError, UsageError
from dispatch.faults import checkpoint
from dispatch.land.history import own_history
from dispatch.land.review import Work, load_work
from dispatch.repo import Repo, locked
from dispatch.task.guards import refuse_if_running, refuse_nested_repositories
from dispatch.task.model import TASK_FILES, get_task, refuse_switched, strip_task_files
from dispatch.task.trash import remove_task, save_to_trash

STRATEGIES = ("squash", "merge", "rebase", "ff")


def default_strategy(cfg: Config) -> str:
    return str(cfg["merge_strategy"]) if "merge_strategy" in cfg.values else "squash"


@dataclass(frozen=True)
class Landing:
    """Everything a landing needs, built without moving anything."""

    work: Work
    strategy: str
    target: git.RefName  # the branch to land on
    target_old: str
    result: str | None  # the target's new commit; None for a rebase that must replay first
    stands_on: tuple[str, ...] = ()  # tasks whose work this landing brings along (not landed yet)


@dataclass(frozen=True)
class Landed:
    id: str
    target: git.BranchName
    strategy: str
    old: str
    new: str
    trash_ref: str | None  # None with --keep


def prepare(
    repo: Repo, cfg: Config, task_id: str, *, strategy: str, into: str | None, message: str | None
) -> Landing:
    """Check the task and build the result commit; only new objects are written."""
    if strategy not in STRATEGIES:
        raise UsageError(f"unknown strategy `{strategy}`: use one of {', '.join(STRATEGIES)}")
    if message is not None and strategy in ("rebase", "ff"):
        raise UsageError(f"--message is for squash and merge: {strategy} lands the task's own commits as they are")
    work = load_work(repo, cfg, task_id, into=into)
    refuse_unready(repo, work, "land it")
    name = git.branch_name(into or work.base)
    target = git.head_ref(name)
    _refuse_busy_target(repo, target, f"land {work.id}")
    target_old = git.rev(repo.root, target)
    if target_old is None:
        raise DispatchError(f"`{name}` is not a branch here: name the branch to land on with `--into BRANCH`")
    stripped = strip_task_files(repo, work.tip, work.id)
    checkpoint("merge:stripped")
    merge = objects.merge_trees(repo.root, [(target_old, stripped)])[0]
    if merge.conflicts:
        onto = "" if into is None else f" --onto {name}"
        raise DispatchError(
            f"{work.id} would conflict with {name} in {name_list(merge.conflicts)}: nothing changed; "
            f"`dispatch rebase {work.id}{onto} --leave` rebases it and leaves the conflicts to resolve"
        )
    if merge.tree == git.out(["rev-parse", f"{target_old}^{{tree}}"], cwd=repo.root):
        raise DispatchError(
            f"nothing to land: the work of {work.id} is already on {name}; `dispatch clean --merged` removes the task"
        )
    _refuse_missing_gitlinks(repo, work, target_old, merge.tree, name)
    result = _result(repo, work, strategy, target_old, merge.tree, name, message)
    checkpoint("merge:built")
    return Landing(work, strategy, target, target_old, result, _stands_on(repo, cfg, work, target_old))


def _result(repo: Repo, work: Work, strategy: str, target_old: str, tree: str, name: str,
            message: str | None) -> str | None:
    """The commit the target moves to (None: a rebase that replays in the worktree when it lands)."""
    if strategy == "squash":
        return objects.commit_tree(repo.root, tree, [target_old], message or _message(work, work.title))
    if strategy == "merge":
        subject = f"Merge task {work.id}: {work.title}"
        own = own_history(repo, work.tip, target_old)
        return objects.commit_tree(repo.root, tree, [target_old, own], message or _message(work, subject))
    if git.is_ancestor(repo.root, target_old, work.tip):
        return own_history(repo, work.tip, target_old)  # ff, or a rebase with nothing to replay
    if strategy == "ff":
        raise DispatchError(
            f"{name} has moved since {work.id} started, so it cannot fast-forward: "
            f"`dispatch rebase {work.id}` first, or land with `--strategy squash` or `merge`"
        )
    if work.worktree is None:
        raise DispatchError(f"task `{work.id}` has no worktree to rebase in: use `--strategy squash` or `merge`")
    return None


def _stands_on(repo: Repo, cfg: Config, work: Work, target_old: str) -> tuple[str, ...]:
    """A task queued after others holds their work too (and theirs, the work before it): landing it lands theirs."""
    if work.stacked_on is None:
        return ()
    from dispatch.task.model import list_tasks

    return tuple(
        other.id for other in list_tasks(repo, cfg).values()
        if other.id != work.id and other.tip is not None
        and git.is_ancestor(repo.root, other.tip.sha, work.tip)
        and not git.is_ancestor(repo.root, other.tip.sha, target_old)
    )


def land(repo: Repo, cfg: Config, landing: Landing, *, keep: bool) -> Landed:
    """Move the target to the result by a fast-forward; then, unless KEEP, trash and remove the task."""
    work, name = landing.work, git.branch_name(landing.target)
    with locked(repo, cfg["lock_timeout"]):
        task = get_task(repo, cfg, work.id)
        if task.tip is None or task.tip.sha != work.tip:
            raise DispatchError(f"{work.id} has new commits since the landing was checked: nothing changed; retry")
        refuse_unready(repo, work, "land it")
        _refuse_busy_target(repo, landing.target, f"land {work.id}")
        if not keep:
            refuse_nested_repositories(task, "land it")
        result, replayed, moved = landing.result, None, False
        try:
            if result is None:
                replayed = _replay(work, landing.target_old)
                checkpoint("merge:replayed")
                result = own_history(repo, replayed, landing.target_old)
            with _uninterrupted():
                checkpoint("merge:moving")
                _move_target(repo, landing.target, landing.target_old, result, f"dispatch: land {work.id}")
                moved = True
                checkpoint("merge:moved")
                # From here the work has landed; what follows is bookkeeping that must not be cut short.
                tip = task.tip
                if replayed is not None and work.worktree is not None:
                    reason = f"dispatch: rebased to land on {name}"
                    git.run(["update-ref", "-m", reason, task.branch, replayed, work.tip], cwd=repo.root)
                    git.run(["switch", "--quiet", task.branch_name], cwd=work.worktree)
                    checkpoint("merge:rebased")
                    tip = git.Ref(task.branch, replayed, tip.committed, tip.subject)
                events.append(repo, work.id, "merged", strategy=landing.strategy, into=name,
                              old=landing.target_old, new=result, kept=keep)
                trash_ref = None
                if not keep:
                    landed_task = task._replace(tip=tip)
                    trash_ref = save_to_trash(repo, landed_task, "merged").ref
                    checkpoint("merge:trashed")
                    remove_task(repo, landed_task)
                    checkpoint("merge:removed")
        except BaseException:
            if replayed is not None and not moved and work.worktree is not None:
                git.run(["switch", "--quiet", task.branch_name], cwd=work.worktree, check=False)
            raise
    return Landed(work.id, name, landing.strategy, landing.target_old, result, trash_ref)


def _message(work: Work, subject: str) -> str:
    return "\n\n".join([subject, *filter(None, [checklist(work)]), f"dispatch-task: {work.id}"]) + "\n"


def checklist(work: Work) -> str:
    return "\n".join(f"- [{'x' if mark in 'xX' else mark}] {text}" for mark, text in work.items)


def refuse_unready(repo: Repo, work: Work, action: str) -> None:
    refuse_if_running(repo, work.id, action)
    refuse_switched(work.task, action)
    if work.worktree is None:
        return
    operation = operations.in_progress(work.worktree)
    if operation:
        raise DispatchError(f"a {operation} is in progress in {work.worktree}: {operations.way_out(operation)} there, then {action}")
    # Task files never land, and the trash record keeps them: a note left in PLAN.md blocks nothing.
    changes = [(xy, path) for xy, path in git.status_porcelain(work.worktree)
               if path != TASK_FILES and not path.startswith(f"{TASK_FILES}/")]
    if changes:
        raise DispatchError(
            f"{work.id} has uncommitted changes in {work.worktree}: {name_list([p for _, p in changes])}: "
            f"commit or remove them there, then {action}"
        )


def _refuse_busy_target(repo: Repo, target: git.RefName, action: str) -> None:
    """Refuse while any worktree rebases, merges, picks, reverts or bisects on TARGET: moving it would pull the
    branch from under that person's operation (a rebase's `--continue` would then fail)."""
    for w in git.worktrees(repo.root):
        if w.bare or w.prunable or not w.path.is_dir():
            continue
        operation = operations.in_progress(w.path)
        if operation and operations.operation_branch(w) == target:
            raise DispatchError(f"a {operation} is in progress on {git.branch_name(target)} in {w.path}: "
                                f"{operations.way_out(operation)} there, then {action}")


def _refuse_missing_gitlinks(repo: Repo, work: Work, old: str, tree: str, name: str) -> None:
    """A gitlink lands a path that points at a commit; one this repository lacks would point at nothing."""
    raw = git.zsplit(git.run(["diff", "--raw", "-z", "--no-renames", old, tree], cwd=repo.root).stdout)
    links = {raw[i + 1]: raw[i].split()[3] for i in range(0, len(raw) - 1, 2) if raw[i].split()[1] == "160000"}
    if not links:
        return
    checked = git.run(["cat-file", "--batch-check=%(objecttype)"], cwd=repo.root,
                      input="".join(f"{sha}\n" for sha in links.values())).stdout.splitlines()
    missing = [path for path, kind in zip(links, checked, strict=True) if kind != "commit"]
    if missing:
        where = f"git -C {work.worktree} " if work.worktree is not None else "git "
        raise DispatchError(
            f"{work.id} commits gitlinks to commits this repository does not have ({name_list(missing)}): landing them "
            f"would put paths on {name} that point at nothing; nothing changed; take them out of the task "
            f"(`{where}rm -r --cached {missing[0]}`, commit, and add the files themselves if they belong to it), "
            "then land it"
        )


def name_list(paths: list[str], most: int = 5) -> str:
    shown = ", ".join(paths[:most])
    return shown + (f" and {len(paths) - most} more" if len(paths) > most else "")


def _replay(work: Work, onto: str) -> str:
    """Rebase the task's commits onto ONTO in its worktree, on a detached HEAD: the branch does not move."""
    assert work.worktree is not None
    wt, branch = work.worktree, work.task.branch_name
    try:
        git.run(["switch", "--quiet", "--detach"], cwd=wt)
        r = git_rebase(wt, [onto])
        if r.returncode != 0:
            conflicts = operations.unmerged_paths(wt)
            git.run(["rebase", "--abort"], cwd=wt, check=False)
            git.run(["switch", "--quiet", branch], cwd=wt)
            if conflicts:
                raise DispatchError(
                    f"replaying {work.id} onto {onto[:7]} conflicts in {name_list(conflicts)}: nothing changed; "
                    f"`dispatch rebase {work.id} --leave` rebases it and leaves the conflicts to resolve"
                )
            raise GitError(["rebase", onto], r.returncode, r.stdout, r.stderr)
        return git.out(["rev-parse", "HEAD"], cwd=wt)
    except BaseException:
        if operations.in_progress(wt) == "rebase":
            git.run(["rebase", "--abort"], cwd=wt, check=False)
        git.run(["switch", "--quiet", branch], cwd=wt, check=False)
        raise


def git_rebase(worktree: Path, args: list[str]) -> git.Result:
    # No hooks, no autosquash, no other branches moved along (rebase.updateRefs); a note left uncommitted in
    # the task files (the only changes landing allows) is stashed and put back.
    return git.run(["rebase", "--quiet", "--no-verify", "--no-autosquash", "--no-update-refs", "--autostash", *args],
                   cwd=worktree, check=False)


def _move_target(repo: Repo, target: git.RefName, old: str, new: str, reason: str) -> None:
    """Fast-forward TARGET from OLD to NEW, in the worktree that has it checked out, or by compare-and-swap."""
    name = git.branch_name(target)
    holder = next((w for w in git.worktrees(repo.root) if w.branch == target), None)
    moved = f"{name} moved meanwhile (now {{}}, was {old[:7]}): nothing changed; retry"
    if holder is None:
        if not objects.move_ref(repo.root, target, new, old, reason):
            raise DispatchError(moved.format((git.rev(repo.root, target) or "gone")[:7]))
        return
    if holder.head != old:
        raise DispatchError(moved.format((holder.head or "unborn")[:7]))
    # Ask first, so a refusal leaves even ORIG_HEAD alone; git's own refusal below stays the safety net.
    touched = set(git.zsplit(git.run(["diff", "--name-only", "--no-renames", "-z", old, new], cwd=repo.root).stdout))
    files = [path for _, path in git.status_porcelain(holder.path) if path in touched]
    if not files:
        r = git.fast_forward(holder.path, new)
        if r.returncode == 0:
            return
        files = [line.strip() for line in r.stderr.splitlines() if line.startswith("\t")]
        if not files:
            detail = (r.stderr.strip().splitlines() or [f"exit code {r.returncode}"])[-1]
            raise DispatchError(f"`git merge --ff-only` in {holder.path} refused: {detail}: nothing changed")
    raise DispatchError(
        f"{name} is checked out in {holder.path} with local changes to {name_list(files)} that landing "
        f"would overwrite: nothing changed; commit or stash them there, then retry"
    )


@contextmanager
def _uninterrupted() -> Iterator[None]:
    """Hold Ctrl-C (and TERM, HUP) back, from us and from the git we start, until the block is done."""
    held = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)  # a held signal is delivered now
