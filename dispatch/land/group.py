"""Groups: one task sent to several models at once, and picking the candidate to land.

A group is no more than the `group: <id>` its tasks carry in their PLAN.md front matter;
each member is an ordinary task `<group>-<model>` with its own branch, worktree and worker.
worker/create.py makes them (`dispatch new --model a --model b`).
"""

from __future__ import annotations

from dataclasses import dataclass

from dispatch import events
from dispatch.config import Config
from dispatch.errors import DispatchError
from dispatch.repo import Repo
from dispatch.task.model import get_task
from dispatch.task.record import load, select
from dispatch.typed import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any


def members(repo: Repo, cfg: Config, group_id: str) -> list[Any]:
    """The live tasks of GROUP_ID (their status rows), by id."""
    from dispatch.task.model import list_tasks
    from dispatch.task.status import of

    live = list_tasks(repo, cfg)
    return of(repo, [t for t in select(repo, live, None) if t.group == group_id], live=set(live))


# --- dispatch pick ---


@dataclass(frozen=True)
class Pick:
    landing: Any  # land.Landing
    group: str
    others: list[str]


@dataclass(frozen=True)
class Picked:
    landed: Any  # land.Landed
    group: str
    discarded: list[Any]  # trash.TrashEntry
    left: list[tuple[str, str]]  # (task, why it was not discarded)


def prepare_pick(repo: Repo, cfg: Config, task_id: str, *, strategy: str) -> Pick:
    """Check that TASK_ID can land and that no other candidate of its group still works; build the landing."""
    from dispatch.land import merge as land
    from dispatch.task.guards import refuse_if_running

    get_task(repo, cfg, task_id)
    rows = load(repo, cfg)
    group = next(t.group for t in rows if t.id == task_id)
    if not group:
        raise DispatchError(f"`{task_id}` is not one of a group: `dispatch merge {task_id}` lands it")
    others = [t.id for t in rows if t.group == group and t.id != task_id]
    for other in others:
        refuse_if_running(repo, other, f"pick {task_id}")
    landing = land.prepare(repo, cfg, task_id, strategy=strategy, into=None, message=None)
    return Pick(landing, group, others)


def finish_pick(repo: Repo, cfg: Config, pick: Pick) -> Picked:
    """Land the pick, then discard the other candidates (each saved to the trash first)."""
    from dispatch.land import merge as land
    from dispatch.task import trash

    landed = land.land(repo, cfg, pick.landing, keep=False)
    discarded, left = [], []
    for other in pick.others:
        try:
            discarded.append(trash.discard(repo, cfg, other))
        except DispatchError as e:  # a worker resumed meanwhile, say: the landing stands
            left.append((other, str(e)))
    events.append(repo, landed.id, "picked", group=pick.group, discarded=[e.id for e in discarded])
    return Picked(landed, pick.group, discarded, left)
