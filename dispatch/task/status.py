"""Where every task stands, derived from git and the task files; nothing here is cached truth."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

from dispatch import clock, git, operations
from dispatch.config import Config
from dispatch.repo import Repo
from dispatch.task import runtime
from dispatch.task.model import TaskRef, asks_nothing, list_tasks
from dispatch.typed import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from typing import Any

    from dispatch.task.plan import Progress
    from dispatch.task.record import Task


class TaskStatus(NamedTuple):
    id: str
    title: str
    branch: git.BranchName
    worktree: str | None
    base: str | None
    base_commit: str | None
    model: str | None
    group: str | None  # the fan-out it belongs to (`new --model a --model b`)
    created: str | None
    state: str
    plan: Progress
    questions_open: int
    question: str | None  # first line of the oldest open question
    ahead: int | None
    behind: int | None
    dirty: int | None  # changed files in the worktree, None without a worktree
    last_commit: dict[str, Any] | None
    worker: dict[str, Any] | None
    extra: dict[str, Any]  # more facts for the JSON (a dict of its own in each)
    problem: str | None = None  # why the task is broken
    seconds: float | None = None  # wall time of its worker runs
    cost_usd: float | None = None  # where the worker's CLI reports it
    tokens: dict[str, int] | None = None

    def to_json(self) -> dict[str, Any]:
        # Shallow (only the plan's summary made a dict): asdict's deep copy of every worker record
        # was a tenth of `status --json` at 500 tasks, for output that is only read.
        data = self._asdict()
        del data["extra"]
        data["plan"] = self.plan._asdict()
        data.update(self.extra)
        return data


def derive_state(
    *, problem: str | None, merged: bool, worker_state: str | None, open_questions: int, plan: Progress,
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


def collect(repo: Repo, cfg: Config, ids: list[str] | None = None, *, dirty: bool = True) -> list[TaskStatus]:
    """The status of IDS (every live task when empty); without DIRTY, no `git status` in any worktree
    (`dirty` is None then), for the commands that do not print it."""
    live = list_tasks(repo, cfg)
    if not live and not ids:
        return []  # before importing the plan parser (and yaml): a repository without tasks starts fast
    from dispatch.task.record import select

    # The `git status` of every worktree runs side by side while the records load and parse.
    counting: bool | Callable[[], dict[str, int]] = dirty
    if dirty and all(i in live for i in ids or []):  # (an unknown id: select says so, and nothing runs)
        counting = _dirty_counts([live[i] for i in ids or live])
    return of(repo, select(repo, live, ids), live=set(live), dirty=counting)


def of(repo: Repo, tasks: list[Task], live: set[str], *,
       dirty: bool | Callable[[], dict[str, int]] = True) -> list[TaskStatus]:
    """The status of these task records; LIVE names every live task (the merge-check cache keeps theirs).
    DIRTY: whether to count changed files in each worktree, or the counts started already."""
    if not tasks:
        return []
    from dispatch.task.mergecheck import merge_checks

    if dirty is True:
        dirty = _dirty_counts([t.ref for t in tasks])
    counts = _ahead_behind(repo, tasks)
    # The "would no longer merge cleanly" mark: one cached merge-tree per task whose tip or base moved.
    checks = merge_checks(repo, tasks, live=live)
    workers = {t.id: runtime.read_worker(repo, t.id) for t in tasks}  # (each read once)
    jobs = runtime.job_states(workers.values())  # one squeue for the tasks whose workers are Slurm jobs
    result = [_one(repo, record, counts.get(record.id, (None, None)), checks.get(record.id), None,
                   runtime.facts_of(workers[record.id], jobs)) for record in tasks]
    if callable(dirty):  # last: the statuses run while all the rest is read and derived
        changed = dirty()
        result = [row._replace(dirty=changed.get(row.id)) for row in result]
    return sorted(result, key=creation_order)


def _problem(record: Task) -> str | None:
    """Why the task cannot be read as it should, in status's words (None: nothing is wrong)."""
    task = record.ref
    if task.tip is None:
        return f"branch {task.branch_name} is missing"
    if (off := task.off_branch()) is not None:
        return f"its worktree has {off} checked out, not {task.branch_name}: `dispatch doctor` says how to bring it back"
    if task.worktree is None or not task.worktree_exists:
        return "worktree is missing"
    return record.plan_problem


def _one(repo: Repo, record: Task, counts: tuple[int | None, int | None], check: Any, dirty: int | None,
         worker: dict[str, Any] | None) -> TaskStatus:
    """One task's status from its record and the facts gathered for all tasks at once."""
    from dispatch.task.plan import Progress

    task, meta = record.ref, record.meta
    plan = None if record.baseless else record.plan
    summary = plan.progress() if plan is not None else Progress(0, 0, 0, 0)
    open_qs: list[Any] = []
    if not asks_nothing(record.questions_text):
        from dispatch.task.questions import parse_questions

        open_qs = parse_questions(record.questions_text or "").open()
    problem = _problem(record)
    ahead, behind = counts
    worker_state = worker["state"] if worker else None
    if worker_state == "lost" and problem is None:
        problem = "its worker's supervisor is gone: `dispatch doctor --fix` ends the worker and saves its work"
    operation = _operation(task, problem)
    # Merged: the tip is in base, or (squashed, cherry-picked) base already holds all of its work.
    merged = task.tip is not None and (ahead == 0 or (check is not None and check.landed))
    last = None
    if task.tip is not None:
        last = {"sha": task.tip.sha, "subject": task.tip.subject, "time": clock.iso(task.tip.committed)}
    usage = (worker or {}).get("usage", {})
    return TaskStatus(
        id=task.id,
        title=str(meta.get("title") or (plan.title if plan is not None else "")),
        branch=task.branch_name,
        worktree=str(task.worktree.path) if task.worktree is not None else None,
        base=record.base,
        base_commit=record.base_commit,
        model=_str_or_none(meta.get("model")),
        group=_str_or_none(meta.get("group")),
        created=_str_or_none(meta.get("created")),
        state=derive_state(
            problem=problem, merged=merged, worker_state=worker_state, open_questions=len(open_qs), plan=summary,
            stopped_operation=operation["operation"] if operation else None,
        ),
        plan=summary,
        questions_open=len(open_qs),
        question=open_qs[0].text.strip().splitlines()[0] if open_qs else None,
        ahead=ahead,
        behind=behind,
        dirty=dirty,
        last_commit=last,
        worker=worker,
        problem=problem,
        seconds=usage.get("seconds"),
        cost_usd=usage.get("cost_usd"),
        tokens=usage.get("tokens"),
        extra={**_extra(check, operation), **({"runner": worker["runner"]} if worker and worker.get("runner") else {})},
    )


def creation_order(task: TaskStatus) -> tuple[str, list[int | str]]:
    """Sort key: when the task was made, then its id with numbers by value (task-2 before task-10)."""
    natural: list[int | str] = [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", task.id)]
    return task.created or "", natural


def _operation(task: TaskRef, problem: str | None) -> dict[str, Any] | None:
    """A rebase or merge stopped in the task's worktree: the files still in conflict, and the way on."""
    if problem or task.worktree is None:
        return None
    operation = operations.stopped_operation(task.worktree.path)
    if operation is None:
        return None
    files = operations.unmerged_paths(task.worktree.path)
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


def _dirty_counts(tasks: list[TaskRef]) -> Callable[[], dict[str, int]]:
    """Changed files per worktree, one `git status` each, run side by side from now on: the call
    returned waits for them."""
    paths = {t.id: t.worktree.path for t in tasks if t.worktree is not None and t.worktree_exists}
    if not paths:
        return dict
    from dispatch.batch import Batch

    started = Batch([(git.STATUS, path) for path in paths.values()], limit=2 * (os.cpu_count() or 2))

    def counts() -> dict[str, int]:
        return {task_id: len(git.parse_status(r.stdout)) for task_id, r in zip(paths, started.results(), strict=True)}

    return counts


def _ahead_behind(repo: Repo, tasks: list[Task]) -> dict[str, tuple[int, int]]:
    """Commits ahead of and behind base for every task, in a fixed number of git calls.

    The counts of a (tip, base) pair never change, so they are kept across runs: a task on an old base
    pays its walk once, not on every `status`, `wait` or `--watch` tick (recent pairs only, a few per task)."""
    pairs = {t.id: (t.ref.tip.sha, t.base_sha) for t in tasks if t.ref.tip is not None and t.base and t.base_sha}
    if not pairs:
        return {}
    from dispatch import files, jsontext

    path = repo.state_dir / "ahead-behind.json"
    try:
        known: dict[str, Any] = jsontext.loads(path.read_text(encoding="utf-8")).get("pairs", {})
    except (OSError, ValueError, AttributeError):
        known = {}
    keys = {task_id: f"{tip} {base}" for task_id, (tip, base) in pairs.items()}
    missing = {keys[task_id]: pair for task_id, pair in pairs.items() if not _counts(known.get(keys[task_id]))}
    if missing:  # (here: counts kept for every pair need no walk)
        from dispatch import history
    found = history.ahead_behind(repo.root, list(missing.values())) if missing else []
    fresh = {key: list(count) for key, count in zip(missing, found, strict=True)}
    used = {key: fresh.get(key) or known[key] for key in keys.values()}
    if fresh or list(known)[-len(used):] != list(used):  # the pairs used last, kept last: the oldest go first
        kept = {k: v for k, v in known.items() if k not in used} | used
        try:  # a cache: status is a reading command (no lock), and a full disk costs only a recount
            import json

            recent = dict(list(kept.items())[-max(_KEEP * len(used), 256):])
            files.write_atomic(path, json.dumps({"version": 1, "pairs": recent}))
        except OSError:
            pass
    return {task_id: (used[key][0], used[key][1]) for task_id, key in keys.items()}


_KEEP = 4  # pairs kept per pair in use (256 at least): a task's recent tips, a subset's status drops no other's


def _counts(value: object) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value)
