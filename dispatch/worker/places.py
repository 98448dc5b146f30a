"""Tasks wherever their workers run: the status and detail of local tasks, and of those on runners with
the facts from there (one fetch and one call per runner, dispatch.worker.remote)."""

from __future__ import annotations

from dispatch.config import Config
from dispatch.errors import DispatchError
from dispatch.repo import Repo
from dispatch.task import runtime
from dispatch.task.runtime import on_runner
from dispatch.typed import TYPE_CHECKING

# The runner's modules (ssh, git transport) load only when a task is on one: a local status starts as fast.
if TYPE_CHECKING:
    from dispatch.task.show import TaskDetail
    from dispatch.task.status import TaskStatus
    from dispatch.task.trash import TrashEntry
    from dispatch.worker import remote


def listing(repo: Repo, cfg: Config, ids: list[str]) -> list[TaskStatus]:
    """What `status` shows of IDS (every task when empty). Tasks on runners are fetched first, so that their
    rows (commits ahead, last commit) count what the runner holds now."""
    there = sent(repo, ids)
    synced = None
    if there:
        from dispatch.worker import remote

        synced = remote.sync(repo, cfg, there)
    from dispatch.task.status import collect  # (not for review and conflicts, which only catch up)

    tasks = collect(repo, cfg, ids)
    if synced is not None:
        tasks = overlay(tasks, synced, repo)
    return tasks


def sent(repo: Repo, ids: list[str] | None = None) -> list[str]:
    """The tasks among IDS (all when empty) that were sent to a runner: by their records, with no git call."""
    return [task_id for task_id in runtime.runner_task_ids(repo) if not ids or task_id in ids]


def show(repo: Repo, cfg: Config, task_id: str) -> TaskDetail:
    """What `show` shows of TASK_ID: for a task on a runner, its branch fetched first and its facts from there."""
    from dispatch.task import show as show_mod
    from dispatch.worker import remote

    found = remote.sync(repo, cfg, [task_id]) if on_runner(repo, task_id) else None
    detail = show_mod.show(repo, cfg, task_id)
    if found is not None:
        detail.status = overlay([detail.status], found, repo)[0]
    return detail


def discard(repo: Repo, cfg: Config, task_id: str) -> tuple[TrashEntry, str | None]:
    """The task to the trash; a task on a runner discarded there first, that trash entry (its uncommitted work
    there included) fetched here: the ref it is kept under, or None for a local task."""
    from dispatch.task import trash
    from dispatch.worker import remote

    kept = remote.discard(repo, cfg, task_id) if on_runner(repo, task_id) else None
    return trash.discard(repo, cfg, task_id), kept


def catch_up(repo: Repo, cfg: Config, ids: list[str] | None = None) -> None:
    """The branches of IDS's tasks on runners (every task's when None) fetched, before a command reads local
    objects (review, questions, conflicts): no git call and no ssh when no task was ever sent to a runner."""
    there = sent(repo, ids)
    if there:
        from dispatch.worker import remote

        remote.sync(repo, cfg, there)


def overlay(statuses: list[TaskStatus], synced: remote.Synced, repo: Repo) -> list[TaskStatus]:
    """STATUSES with the runner's facts on its tasks; `unreachable` with the last known state."""
    return [_overlaid(t, synced, repo) if t.id in synced.found else t for t in statuses]


def _overlaid(t: TaskStatus, synced: remote.Synced, repo: Repo) -> TaskStatus:
    from dispatch.task.plan import Progress
    from dispatch.worker import remote

    data = remote.record(repo, t.id) or {}
    t.extra["runner"] = data.get("runner")
    if t.id in synced.notes:
        t.extra["runner_note"] = synced.notes[t.id]
    r = synced.found[t.id]
    if t.id in synced.lost:
        return t._replace(state="broken", worktree=None, problem=(
            f"runner `{data.get('runner')}` no longer has it (removed there by hand?): its commits as last "
            f"fetched are on its branch here; `dispatch discard {t.id}` keeps them in the trash"))
    if r is None:
        t.extra["last_state"] = data.get("last")
        return t._replace(state="unreachable", problem=None, worktree=None)
    return t._replace(
        state=t.state if t.state == "merged" else r["state"],  # only this side knows where its base is now
        problem=r.get("problem"), plan=Progress(**r["plan"]), questions_open=r["questions_open"],
        question=r.get("question"), dirty=r.get("dirty"), worker=r.get("worker"), seconds=r.get("seconds"),
        cost_usd=r.get("cost_usd"), tokens=r.get("tokens"), worktree=f"{data.get('runner')}:{r.get('worktree')}")


def refuse_while_working(repo: Repo, cfg: Config, task_id: str, doing: str) -> remote.Place | None:
    """Before landing a task from a runner: its latest commits fetched, and refused while its worker
    works there (this side cannot see that worker); its place, or None for a local task."""
    from dispatch.worker import remote

    where = remote.place(repo, cfg, task_id)
    if where is None:
        return None
    found = remote.sync(repo, cfg, [task_id]).found.get(task_id)
    if found is None:
        raise DispatchError(f"runner `{where.name}` of {task_id} is unreachable: {doing} once it answers, "
                            "so that no work of its worker is left behind")
    if found["state"] in ("preparing", "running", "asking"):
        raise DispatchError(f"the worker of {task_id} is at work on `{where.name}`: wait for it, or "
                            f"`dispatch stop {task_id}`, then {doing}")
    return where
