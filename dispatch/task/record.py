"""The task record: what git and a task's files say about it, loaded once for every task a command reads.

Every reader (status, show, review, group, the scheduler) starts here, so a task's files are read
one way (the worktree's copy, else the branch tip's) and its base is resolved one way (a branch to
land on: `git.resolve_bases`, one batched call for all tasks).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dispatch import git
from dispatch.config import Config
from dispatch.repo import Repo
from dispatch.task.model import PLAN, QUESTIONS, TaskRef, get_task, list_tasks, no_such_task
from dispatch.task.plan import Plan, PlanError, parse_plan


@dataclass(frozen=True)
class Task:
    """One task: its refs, its task files as the worker sees them, its parsed plan, its base resolved."""

    ref: TaskRef
    plan_text: str | None
    questions_text: str | None
    plan: Plan | None
    plan_error: PlanError | None  # why PLAN.md did not parse (None: it did, or it is missing)
    base_sha: str | None  # the base branch's tip now, else the commit the task started from (None: both gone)

    @property
    def id(self) -> str:
        return self.ref.id

    @property
    def meta(self) -> dict[str, Any]:
        return self.plan.meta if self.plan is not None else {}

    @property
    def base(self) -> str | None:
        return _text(self.meta.get("base"))

    @property
    def base_commit(self) -> str | None:
        return _text(self.meta.get("base_commit"))

    @property
    def group(self) -> str | None:
        return _text(self.meta.get("group"))

    @property
    def plan_problem(self) -> str | None:
        """Why the plan cannot be read, in status's words (None: it reads)."""
        if self.plan_text is None:
            return f"{PLAN} is missing"
        if self.plan_error is not None:
            where = f" line {self.plan_error.line}" if self.plan_error.line else ""
            return f"{PLAN}{where}: {self.plan_error}"
        return None


def load(repo: Repo, cfg: Config, ids: list[str] | None = None) -> list[Task]:
    """The records of IDS (every live task when empty), in a fixed number of git calls."""
    return select(repo, list_tasks(repo, cfg), ids)


def select(repo: Repo, live: dict[str, TaskRef], ids: list[str] | None) -> list[Task]:
    """The records of IDS among LIVE (all of them when empty)."""
    if ids:
        unknown = [i for i in ids if i not in live]
        if unknown:
            raise no_such_task(repo, unknown[0], live)
        return records(repo, [live[i] for i in ids])
    return records(repo, list(live.values()))


def load_one(repo: Repo, cfg: Config, task_id: str, live: dict[str, TaskRef] | None = None) -> Task:
    """The record of one task, or the one-line error that names the way on (restore, status)."""
    ref = live.get(task_id) if live is not None else None
    return records(repo, [ref or get_task(repo, cfg, task_id)])[0]


def records(repo: Repo, refs: list[TaskRef]) -> list[Task]:
    texts = read_texts(repo, refs)
    plans = {ref.id: _parse(texts[ref.id][0]) for ref in refs}
    bases = {ref.id: _base_names(plans[ref.id][0]) for ref in refs}
    # Branch names and the recorded start commits in one batch: a commit that is gone resolves to None.
    resolved = git.resolve_bases(repo.root, sorted({name for pair in bases.values() for name in pair if name}))
    return [
        Task(ref, *texts[ref.id], *plans[ref.id],
             base_sha=resolved.get(bases[ref.id][0] or "") or resolved.get(bases[ref.id][1] or ""))
        for ref in refs
    ]


def read_texts(repo: Repo, refs: list[TaskRef]) -> dict[str, tuple[str | None, str | None]]:
    """PLAN.md and QUESTIONS.md of each task as its worker sees them: from the worktree, else the branch
    tip (one `cat-file --batch` for all of those)."""
    texts: dict[str, tuple[str | None, str | None]] = {}
    from_git = [r for r in refs if not (r.worktree_exists and r.worktree is not None) and r.tip is not None]
    blobs = git.read_blobs(repo.root, [f"{r.tip.sha}:{n}" for r in from_git if r.tip for n in (PLAN, QUESTIONS)]) \
        if from_git else {}
    for ref in refs:
        if ref.worktree_exists and ref.worktree is not None:
            texts[ref.id] = (_read(ref.worktree.path / PLAN), _read(ref.worktree.path / QUESTIONS))
        elif ref.tip is not None:
            texts[ref.id] = (blobs.get(f"{ref.tip.sha}:{PLAN}"), blobs.get(f"{ref.tip.sha}:{QUESTIONS}"))
        else:
            texts[ref.id] = (None, None)
    return texts


def _parse(text: str | None) -> tuple[Plan | None, PlanError | None]:
    if text is None:
        return None, None
    try:
        return parse_plan(text), None
    except PlanError as e:
        return None, e


def _base_names(plan: Plan | None) -> tuple[str | None, str | None]:
    meta = plan.meta if plan is not None else {}
    return _text(meta.get("base")), _text(meta.get("base_commit"))


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None


def _text(value: object) -> str | None:
    return None if value is None else str(value)
