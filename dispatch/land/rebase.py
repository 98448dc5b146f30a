"""`dispatch rebase`: the task's own commits onto its base's tip, in its worktree (aborted on a conflict unless --leave)."""

from __future__ import annotations

from dataclasses import dataclass

from dispatch import events, git, operations
from dispatch.config import Config
from dispatch.errors import DispatchError, GitError
from dispatch.land.merge import git_rebase, name_list, refuse_unready
from dispatch.land.review import load_work
from dispatch.repo import Repo, locked


@dataclass(frozen=True)
class Rebased:
    id: str
    onto: str
    old: str
    new: str


def rebase(repo: Repo, cfg: Config, task_id: str, *, onto: str | None, leave: bool) -> Rebased:
    """Rebase the task's own commits onto its base's tip (or ONTO), in its worktree."""
    with locked(repo, cfg["lock_timeout"]):
        work = load_work(repo, cfg, task_id)
        if work.worktree is None:
            raise DispatchError(f"task `{task_id}` has no worktree: `dispatch doctor` says how to repair it")
        refuse_unready(repo, work, "rebase it")
        name = onto or work.base
        onto_sha = git.resolve_base(repo.root, name)
        if onto_sha is None:
            raise DispatchError(f"`{name}` is not a branch or commit here: check `git branch`")
        try:
            r = git_rebase(work.worktree, ["--onto", onto_sha, work.base_sha])
            conflicts = operations.unmerged_paths(work.worktree) if r.returncode != 0 else []
            if r.returncode != 0 and not (leave and conflicts):
                git.run(["rebase", "--abort"], cwd=work.worktree, check=False)
        except BaseException:
            if operations.in_progress(work.worktree) == "rebase":
                git.run(["rebase", "--abort"], cwd=work.worktree, check=False)
            raise
        if r.returncode != 0 and leave and conflicts:
            events.append(repo, task_id, "rebase-conflict", onto=name, files=conflicts)
            raise DispatchError(
                f"rebasing {task_id} onto {name} stopped on conflicts in {name_list(conflicts)}: resolve them in "
                f"{work.worktree}, `git add` them and `git rebase --continue` there, or let a worker do it: "
                f"`dispatch resume {task_id} --message \"resolve the rebase conflicts\"`"
            )
        if r.returncode != 0:
            if conflicts:
                raise DispatchError(
                    f"rebasing {task_id} onto {name} conflicts in {name_list(conflicts)}: aborted, nothing changed; "
                    f"`dispatch rebase {task_id} --leave` leaves the rebase in progress to resolve"
                )
            raise GitError(["rebase", name], r.returncode, r.stdout, r.stderr)
        new = git.out(["rev-parse", "HEAD"], cwd=work.worktree)
        if new != work.tip:
            events.append(repo, task_id, "rebased", onto=name, old=work.tip, new=new)
    return Rebased(task_id, name, work.tip, new)
