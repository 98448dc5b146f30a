"""Groups: one task sent to several models at once, and picking the candidate to land.

A group is no more than the `group: <id>` its tasks carry in their PLAN.md front matter;
each member is an ordinary task `<group>-<model>` with its own branch, worktree and worker.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import Any

from dispatch import events
from dispatch.config import Config
from dispatch.errors import DispatchError, UsageError
from dispatch.repo import Repo, locked
from dispatch.task.ids import ID_RE, slugify, validate_id
from dispatch.task.model import NewTask, create_task, get_task, list_tasks, trashed_ids
from dispatch.task.record import load, select

MAX_ID = 63  # ids.ID_RE


def requested_models(repeated: list[str], listed: str | None) -> list[str]:
    """The models of `--model a --model b` and `--models a,b`, in the order given, each once."""
    names = [m.strip() for m in [*repeated, *(listed or "").split(",")] if m.strip()]
    seen: dict[str, str] = {}
    for name in names:
        suffix = slugify(name)
        if name in seen.values():
            raise UsageError(f"model `{name}` is named twice: a group runs each model once")
        if suffix in seen:
            raise UsageError(f"models `{seen[suffix]}` and `{name}` would both make tasks `<id>-{suffix}`: "
                             "give one of them an alias (`dispatch models alias NAME --model M`)")
        seen[suffix] = name
    return names


def members(repo: Repo, cfg: Config, group_id: str) -> list[Any]:
    """The live tasks of GROUP_ID (their status rows), by id."""
    from dispatch.task.status import collect

    ids = [t.id for t in load(repo, cfg) if t.group == group_id]
    return collect(repo, cfg, ids) if ids else []


def _member_ids(group_id: str, models: list[str]) -> list[str]:
    return [f"{group_id}-{slugify(m)}" for m in models]


def choose_group_id(repo: Repo, cfg: Config, *, title: str, group_id: str | None, models: list[str]) -> str:
    """`--id`, else a slug of the title short enough for every `<id>-<model>` and free as a group and as ids."""
    live = list_tasks(repo, cfg)
    taken = set(live) | trashed_ids(repo)
    groups = {t.group for t in select(repo, live, None) if t.group}
    longest = max(len(slugify(m)) for m in models)

    def clash(gid: str) -> str | None:
        if gid in groups:
            return f"group `{gid}` already exists"
        if gid in taken:
            return f"`{gid}` is already a task id"
        used = [i for i in _member_ids(gid, models) if i in taken]
        return f"task id `{used[0]}` is already taken" if used else None

    if group_id is not None:
        validate_id(group_id)
        too_long = next((i for i in _member_ids(group_id, models) if not ID_RE.match(i)), None)
        if too_long:
            raise DispatchError(f"--id {group_id} makes the task id `{too_long}` longer than {MAX_ID} characters: "
                                "choose a shorter --id")
        problem = clash(group_id)
        if problem:
            raise DispatchError(f"{problem}: choose another `--id`")
        return group_id
    room = MAX_ID - 1 - longest - 3  # room for `-N` when the slug is taken
    if room < 1:
        raise DispatchError(f"model `{max(models, key=lambda m: len(slugify(m)))}` is too long a name for a task id: "
                            "give it a short alias (`dispatch models alias NAME --model M`)")
    slug = _cut(slugify(title), room)
    n = 1
    while clash(candidate := slug if n == 1 else f"{slug}-{n}"):
        n += 1
    return candidate


def _cut(slug: str, room: int) -> str:
    """SLUG cut at a word to at most ROOM characters."""
    words, out = slug.split("-"), ""
    for word in words:
        if len(f"{out}-{word}" if out else word) > room:
            break
        out = f"{out}-{word}" if out else word
    return out or slug[:room].rstrip("-") or "task"


def create_group(
    repo: Repo, cfg: Config, *, title: str, group_id: str | None, models: list[str], recorded: list[str],
    items: list[str], description: str, base: str | None, after: list[str],
) -> tuple[str, list[NewTask]]:
    """One task per model, all `group: <id>`: all or nothing (a failure removes those already made)."""
    gid = choose_group_id(repo, cfg, title=title, group_id=group_id, models=models)
    made: list[NewTask] = []
    try:
        for task_id, model in zip(_member_ids(gid, models), recorded, strict=True):
            made.append(create_task(
                repo, cfg, title=title, task_id=task_id, items=items, description=description, base=base,
                model=model, after=after, group=gid,
            ))
    except BaseException as e:
        _unmake(repo, cfg, [t.id for t in made])
        if made and isinstance(e, DispatchError):
            raise DispatchError(f"{e} (nothing created: {', '.join(t.id for t in made)} removed again)") from None
        raise
    return gid, made


@dataclass(frozen=True)
class Member:
    task: NewTask
    launch: Any  # backends.Launch, None with --no-start
    started: Any  # workers.Started, None when queued or not started


def fan_out(
    repo: Repo, cfg: Config, *, title: str, group_id: str | None, models: list[str], items: list[str],
    description: str, base: str | None, after: list[str], budget: tuple[float | None, float | None], start: bool,
    sandbox: str | None = None,
) -> tuple[str, list[Member]]:
    """`new --model a --model b`: every model checked first, then the group made, then each worker started or queued."""
    from dispatch.worker import confine, scheduler
    from dispatch.worker import control as workers

    launches = [workers.prepare_launch(cfg, m, sandbox) if start else None for m in models]
    recorded = [launch.model if launch else m for launch, m in zip(launches, models, strict=True)]
    gid, made = create_group(repo, cfg, title=title, group_id=group_id, models=models, recorded=recorded,
                             items=items, description=description, base=base, after=after)
    result = []
    for task, launch in zip(made, launches, strict=True):
        workers.set_budget(repo, task.id, seconds=budget[0], cost=budget[1])
        confine.set_sandbox(repo, task.id, sandbox)
        started = scheduler.begin(repo, cfg, get_task(repo, cfg, task.id), launch, after=after) if launch else None
        result.append(Member(task, launch, started))
    return gid, result


def _unmake(repo: Repo, cfg: Config, ids: list[str]) -> None:
    """Remove tasks this command made a moment ago, before any worker started on them."""
    from dispatch.task.trash import remove_task

    if not ids:
        return
    with locked(repo, cfg["lock_timeout"]):
        live = list_tasks(repo, cfg)
        for task_id in ids:
            if task_id in live:
                remove_task(repo, live[task_id])
            shutil.rmtree(repo.task_dir(task_id), ignore_errors=True)
            events.append(repo, task_id, "removed", reason="its group could not be created")


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
    from dispatch.task.trash import refuse_if_running

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
