"""Where every task stands, derived from git and the task files; nothing here is cached truth."""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dispatch import clock, git, runtime
from dispatch.config import Config
from dispatch.errors import DispatchError
from dispatch.repo import Repo
from dispatch.tasks import PLAN, QUESTIONS, TaskRef, list_tasks, short_branch


@dataclass
class PlanSummary:
    done: int = 0
    total: int = 0
    blocked: int = 0
    failed: int = 0


@dataclass
class TaskStatus:
    id: str
    title: str
    branch: str
    worktree: str | None
    base: str | None
    base_commit: str | None
    model: str | None
    group: str | None  # the fan-out it belongs to (`new --model a --model b`)
    created: str | None
    state: str
    plan: PlanSummary
    questions_open: int
    question: str | None  # first line of the oldest open question
    ahead: int | None
    behind: int | None
    dirty: int | None  # changed files in the worktree, None without a worktree
    last_commit: dict[str, Any] | None
    worker: dict[str, Any] | None
    problem: str | None = None  # why the task is broken
    seconds: float | None = None  # wall time of its worker runs
    cost_usd: float | None = None  # where the worker's CLI reports it
    tokens: dict[str, int] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(data.pop("extra"))
        return data


def derive_state(
    *, problem: str | None, merged: bool, worker_state: str | None, open_questions: int, plan: PlanSummary,
    stopped_operation: str | None = None,
) -> str:
    """One word for the task, from the facts (see DESIGN.md, "Status is derived from git")."""
    if problem:
        return "broken"
    if merged:
        return "merged"
    if worker_state == "preparing":
        return "preparing"
    if worker_state == "running":
        return "asking" if open_questions else "running"
    if stopped_operation:
        return "conflict"  # before done or failed: nothing lands until the rebase or merge is finished
    if plan.failed or worker_state in ("failed", "lost"):
        return "failed"
    if open_questions or plan.blocked or worker_state == "blocked":
        return "blocked"
    if worker_state == "queued":
        return "queued"
    if worker_state == "stopped":
        return "stopped"
    if plan.total and plan.done == plan.total:
        return "done"
    return "idle"


@dataclass
class _Files:
    plan_text: str | None
    questions_text: str | None


def _read_task_files(repo: Repo, tasks: list[TaskRef]) -> dict[str, _Files]:
    """Task files from each worktree, or from the branch tip when the worktree is gone."""
    files: dict[str, _Files] = {}
    from_git: list[TaskRef] = []
    for task in tasks:
        if task.worktree_exists and task.worktree is not None:
            files[task.id] = _Files(_read(task.worktree.path / PLAN), _read(task.worktree.path / QUESTIONS))
        elif task.tip is not None:
            from_git.append(task)
        else:
            files[task.id] = _Files(None, None)
    if from_git:
        specs = [f"{t.tip.sha}:{name}" for t in from_git if t.tip for name in (PLAN, QUESTIONS)]
        blobs = git.read_blobs(repo.root, specs)
        for task in from_git:
            assert task.tip is not None
            files[task.id] = _Files(blobs.get(f"{task.tip.sha}:{PLAN}"), blobs.get(f"{task.tip.sha}:{QUESTIONS}"))
    return files


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None


def collect(repo: Repo, cfg: Config, ids: list[str] | None = None) -> list[TaskStatus]:
    from dispatch.plan import PlanError, parse_plan
    from dispatch.questions import parse_questions

    all_tasks = list_tasks(repo, cfg)
    if ids:
        unknown = [i for i in ids if i not in all_tasks]
        if unknown:
            raise DispatchError(f"no task `{unknown[0]}`: `dispatch status` lists the tasks")
        tasks = [all_tasks[i] for i in ids]
    else:
        tasks = list(all_tasks.values())
    if not tasks:
        return []
    files = _read_task_files(repo, tasks)
    dirty = _dirty_counts(tasks)

    parsed: dict[str, tuple[Any, str | None]] = {}
    for task in tasks:
        text = files[task.id].plan_text
        if text is None:
            parsed[task.id] = (None, f"{PLAN} is missing")
            continue
        try:
            parsed[task.id] = (parse_plan(text), None)
        except PlanError as e:
            where = f" line {e.line}" if e.line else ""
            parsed[task.id] = (None, f"{PLAN}{where}: {e}")

    bases = {t.id: _base_of(parsed[t.id][0]) for t in tasks}
    counts = _ahead_behind(repo, tasks, bases)
    from dispatch.mergecheck import merge_checks

    # The "would no longer merge cleanly" mark: one cached merge-tree per task whose tip or base moved.
    checks = merge_checks(repo, tasks, bases, live=set(all_tasks))

    result = []
    for task in tasks:
        plan, plan_problem = parsed[task.id]
        meta = plan.meta if plan is not None else {}
        summary = PlanSummary()
        if plan is not None:
            p = plan.progress()
            summary = PlanSummary(done=p.done, total=p.total, blocked=p.blocked, failed=p.failed)
        open_qs: list[Any] = []
        qtext = files[task.id].questions_text
        if qtext is not None:
            open_qs = parse_questions(qtext).open()
        problem = None
        if task.tip is None:
            problem = f"branch {short_branch(task.branch)} is missing"
        elif task.worktree is None or not task.worktree_exists:
            problem = "worktree is missing"
        elif plan_problem:
            problem = plan_problem
        ahead, behind = counts.get(task.id, (None, None))
        worker = runtime.worker_facts(repo, task.id)
        worker_state = worker["state"] if worker else None
        if worker_state == "lost" and problem is None:
            problem = "its worker's supervisor is gone: `dispatch doctor --fix` ends the worker and saves its work"
        check = checks.get(task.id)
        operation = _operation(task, problem)
        # Merged: the tip is in base, or (squashed, cherry-picked) base already holds all of its work.
        merged = task.tip is not None and (ahead == 0 or (check is not None and check.landed))
        last = None
        if task.tip is not None:
            last = {"sha": task.tip.sha, "subject": task.tip.subject, "time": clock.iso(task.tip.committed)}
        result.append(
            TaskStatus(
                id=task.id,
                title=str(meta.get("title") or (plan.title if plan is not None else "")),
                branch=short_branch(task.branch),
                worktree=str(task.worktree.path) if task.worktree is not None else None,
                base=bases[task.id][0],
                base_commit=bases[task.id][1],
                model=_str_or_none(meta.get("model")),
                group=_str_or_none(meta.get("group")),
                created=_str_or_none(meta.get("created")),
                state=derive_state(
                    problem=problem, merged=merged, worker_state=worker_state,
                    open_questions=len(open_qs), plan=summary,
                    stopped_operation=operation["operation"] if operation else None,
                ),
                plan=summary,
                questions_open=len(open_qs),
                question=open_qs[0].text.strip().splitlines()[0] if open_qs else None,
                ahead=ahead,
                behind=behind,
                dirty=dirty.get(task.id),
                last_commit=last,
                worker=worker,
                problem=problem,
                seconds=(worker or {}).get("usage", {}).get("seconds"),
                cost_usd=(worker or {}).get("usage", {}).get("cost_usd"),
                tokens=(worker or {}).get("usage", {}).get("tokens"),
                extra=_extra(check, operation),
            )
        )
    return sorted(result, key=creation_order)


def creation_order(task: TaskStatus) -> tuple[str, list[int | str]]:
    """Sort key: when the task was made, then its id with numbers by value (task-2 before task-10)."""
    natural: list[int | str] = [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", task.id)]
    return task.created or "", natural


def _operation(task: TaskRef, problem: str | None) -> dict[str, Any] | None:
    """A rebase or merge stopped in the task's worktree: the files still in conflict, and the way on."""
    if problem or task.worktree is None:
        return None
    operation = git.stopped_operation(task.worktree.path)
    if operation is None:
        return None
    files = git.unmerged_paths(task.worktree.path)
    return {"operation": operation, "files": files, "next": way_on(task.id, operation, files, task.worktree.path)}


def way_on(task_id: str, operation: str, files: list[str], worktree: Path) -> str:
    """What finishes (or gives up) a rebase or merge stopped in a task's worktree: by hand, or by a worker."""
    fix = f"resolve them in {worktree}, `git add` them and `git {operation} --continue` there" if files else (
        f"`git {operation} --continue` in {worktree} finishes it")
    return (f"{fix}; or let a worker do it: `dispatch resume {task_id} --message \"resolve the {operation} conflicts\"`; "
            f"`git {operation} --abort` there gives it up")


def _extra(check: Any, operation: dict[str, Any] | None) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if operation is not None:
        extra["in_progress"] = operation
    elif check is not None and check.conflicts:  # `dispatch rebase --leave` is refused mid-rebase: say only that
        extra["conflicts"] = check.conflicts
    return extra


def _str_or_none(value: object) -> str | None:
    return None if value is None else str(value)


def _base_of(plan: Any) -> tuple[str | None, str | None]:
    if plan is None:
        return None, None
    base, commit = plan.meta.get("base"), plan.meta.get("base_commit")
    return (None if base is None else str(base)), (None if commit is None else str(commit))


def _dirty_counts(tasks: list[TaskRef]) -> dict[str, int]:
    """Changed files per worktree; one `git status` each, run side by side."""
    paths = {t.id: t.worktree.path for t in tasks if t.worktree is not None and t.worktree_exists}
    if not paths:
        return {}
    workers = min(len(paths), 2 * (os.cpu_count() or 2))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        counts = pool.map(lambda p: len(git.status_porcelain(p)), paths.values())
        return dict(zip(paths, counts, strict=True))


def _ahead_behind(
    repo: Repo, tasks: list[TaskRef], bases: dict[str, tuple[str | None, str | None]]
) -> dict[str, tuple[int, int]]:
    """Commits ahead of and behind base for every task, in a fixed number of git calls."""
    names = git.resolve_bases(repo.root, [b for b, _ in bases.values() if b])
    pairs: dict[str, tuple[str, str]] = {}
    for task in tasks:
        base, base_commit = bases[task.id]
        if task.tip is None or base is None:
            continue
        base_sha = names.get(base) or base_commit
        if base_sha:
            pairs[task.id] = (task.tip.sha, base_sha)
    if not pairs:
        return {}
    graph = git.CommitGraph.load(repo.root, sorted({sha for pair in pairs.values() for sha in pair}))
    return {task_id: graph.ahead_behind(tip, base) for task_id, (tip, base) in pairs.items()}

