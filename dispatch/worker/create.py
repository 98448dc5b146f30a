"""`dispatch new`: one task, or one per model as a group, created and then started or queued.

Every check that can fail runs before anything is made (the models' CLIs, `--after` with
`--no-start`, the budget); a group is made all or nothing.
"""

from __future__ import annotations

import re

from dispatch import config, events
from dispatch.config import FLAG, Config, dotted, toml_key, user_config_path
from dispatch.errors import DispatchError, UsageError
from dispatch.repo import Repo, locked
from dispatch.task.create import NewTask, create_task
from dispatch.task.ids import ID_RE, slugify, validate_id
from dispatch.task.model import get_task, list_tasks, trashed_ids
from dispatch.typed import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from typing import Any

    from dispatch.worker.control import Started

MAX_ID = 63  # ids.ID_RE


class Request(NamedTuple):
    title: str
    task_id: str | None  # --id: the task's, or the group's with several models
    items: list[str]
    description: str
    base: str | None
    models: list[str]  # as asked for; none: the default model
    after: list[str]
    budget: tuple[float | None, float | None]  # seconds, USD
    start: bool
    sandbox: str | None = None  # --sandbox: kept for the task's later runs
    engine: dict[str, Any] | None = None  # a Slurm runner's: its workers run as batch jobs (launch.engine_of)


class Member(NamedTuple):
    task: NewTask
    launch: Any  # backends.Launch, None with --no-start
    started: Started | None  # None when queued or not started


class Created(NamedTuple):
    group: str | None
    members: list[Member]


def new(repo: Repo, cfg: Config, req: Request) -> Created:
    """Check everything, make the task (or the group's tasks), then start or queue each worker."""
    worker_side = req.start or req.sandbox is not None or req.engine is not None or req.budget != (None, None)
    if worker_side:  # else (`new --no-start`) the worker's modules are not even imported
        _check_worker_options(req)
    if req.after and not req.start:
        raise DispatchError("--after starts the task when the others are done: it cannot go with --no-start")
    models: list[str | None] = list(req.models) or [None]
    launches = [_prepare_launch(cfg, m, req.sandbox) if req.start else None for m in models]
    if req.engine is not None:
        _check_engine(repo, req)
    recorded = [launch.model if launch else m for launch, m in zip(launches, models, strict=True)]
    if len(models) > 1:
        gid: str | None
        gid, made = create_group(repo, cfg, req, [str(m) for m in models], [str(m) for m in recorded])
    else:
        gid, made = None, [create_task(repo, cfg, title=req.title, task_id=req.task_id, items=req.items,
                                       description=req.description, base=req.base, model=recorded[0],
                                       after=req.after)]
    members = []
    for task, launch in zip(made, launches, strict=True):
        if worker_side:
            _record_worker_options(repo, task.id, req)
        started = None
        if launch:
            from dispatch.worker import scheduler  # here: `new --no-start` has no worker to start, and starts fast

            started = scheduler.begin(repo, cfg, get_task(repo, cfg, task.id), launch, after=req.after)
        members.append(Member(task, launch, started))
    return Created(gid, members)


def _check_worker_options(req: Request) -> None:
    from dispatch.worker import confine, control

    control.check_budget(*req.budget)
    if req.sandbox is not None:
        confine.check_mode(req.sandbox, "--sandbox")


def _check_engine(repo: Repo, req: Request) -> None:
    assert req.engine is not None
    if len(req.models) > 1 or req.after:
        raise DispatchError("a task on a Slurm runner takes one model and no --after: start it when the others are done")
    if req.start:  # Slurm would take the job: its options and partition, before anything is made
        from dispatch.worker import launch as launching

        launching.check_engine(repo, req.engine)


def _prepare_launch(cfg: Config, model: str | None, sandbox: str | None) -> Any:
    from dispatch.worker import control

    return control.prepare_launch(cfg, model, sandbox)


def _record_worker_options(repo: Repo, task_id: str, req: Request) -> None:
    from dispatch.worker import confine, control

    control.set_budget(repo, task_id, seconds=req.budget[0], cost=req.budget[1])
    confine.set_sandbox(repo, task_id, req.sandbox)
    if req.engine is not None:  # recorded first: this run and every resumed one are Slurm jobs
        control.set_engine(repo, task_id, req.engine)


LOCAL = "local"  # `--on local`: this machine, whatever the config's runner


def runner_for(cfg: Config, on: str | None, models: list[str], *, sent: bool = False) -> str | None:
    """The runner a new task goes to (None: here): --on, else its model's (`[models.M] runner`, through an
    alias), else `runner`. A task SENT by another dispatch (a runner's own `new`) stays where it is sent."""
    if on is not None or sent:
        return None if on == LOCAL else on
    model = models[0] if len(models) == 1 else cfg["default_model"] if not models else ""
    model = cfg["aliases"].get(model, {}).get("model", model)
    named = cfg["models"].get(model, {}).get("runner") or cfg["runner"]
    if not named or named == LOCAL:
        return None
    key = dotted("models", model, "runner") if cfg["models"].get(model, {}).get("runner") else "runner"
    if named not in cfg["runners"]:
        raise DispatchError(f"{cfg.source_path(key) or FLAG}: key `{key}` names runner `{named}`, which is not "
                            f"defined: add a [runners.{toml_key(named)}] table to {user_config_path()}, or give "
                            f"`--on {LOCAL}`")
    if len(models) > 1:
        raise DispatchError(f"runner `{named}` (key `{key}`) takes one model: give `--on {LOCAL}` to make the group here")
    return str(named)


def engine_for(cfg: Config, on: str | None, engine_json: str | None) -> dict[str, Any] | None:
    """The Slurm engine a new task's worker runs under here: runner ON when it is Slurm without a host
    (sbatch runs here), or what a dispatch that submits over ssh sent (`new --engine`); None for a local
    worker, or a task for another machine (an ssh runner, a Slurm one with a host)."""
    if on is None and engine_json is None:
        return None
    from dispatch.worker import launch as launching

    if engine_json is not None:
        return launching.parse_engine(engine_json)
    assert on is not None
    runner = config.runner(cfg, on)
    return launching.engine_of(on, runner) if runner["kind"] == "slurm" and not runner.get("host") else None


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


def _member_ids(group_id: str, models: list[str]) -> list[str]:
    return [f"{group_id}-{slugify(m)}" for m in models]


def choose_group_id(repo: Repo, cfg: Config, *, title: str, group_id: str | None, models: list[str]) -> str:
    """`--id`, else a slug of the title short enough for every `<id>-<model>` and free as a group and as ids."""
    live = list_tasks(repo, cfg)
    taken = set(live) | trashed_ids(repo)
    from dispatch.task.record import select

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
        too_long = next((i for i in _member_ids(group_id, models) if not re.match(ID_RE, i)), None)
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
    repo: Repo, cfg: Config, req: Request, models: list[str], recorded: list[str]
) -> tuple[str, list[NewTask]]:
    """One task per model, all `group: <id>`: all or nothing (a failure removes those already made)."""
    gid = choose_group_id(repo, cfg, title=req.title, group_id=req.task_id, models=models)
    made: list[NewTask] = []
    try:
        for task_id, model in zip(_member_ids(gid, models), recorded, strict=True):
            made.append(create_task(
                repo, cfg, title=req.title, task_id=task_id, items=req.items, description=req.description,
                base=req.base, model=model, after=req.after, group=gid,
            ))
    except BaseException as e:
        _unmake(repo, cfg, [t.id for t in made])
        if made and isinstance(e, DispatchError):
            raise DispatchError(f"{e} (nothing created: {', '.join(t.id for t in made)} removed again)") from None
        raise
    return gid, made


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
            import shutil

            shutil.rmtree(repo.task_dir(task_id), ignore_errors=True)
            events.append(repo, task_id, "removed", reason="its group could not be created")


