"""`dispatch new`: a task (branch, worktree, plan) made and its worker started, and what is printed of it. Free
of typer: a plain `new` command line runs it at once (dispatch.commands.hot), as typer's command does."""

from __future__ import annotations

from dispatch.commands.common import context, read_input
from dispatch.errors import DispatchError
from dispatch.typed import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any


def new(title: str, *, task_id: str | None, items: list[str], plan: str | None, base: str | None,
        model_opts: list[str], models: str | None, after: list[str], budget: tuple[float | None, float | None],
        no_start: bool, on: str | None, engine_json: str | None, sandbox: str | None, json_out: bool) -> None:
    """Make the task (a group of them with several models) here or on runner ON, and say what was made."""
    from dispatch.worker import create

    items = list(items)
    description = ""
    if plan is not None:
        if items:
            raise DispatchError("give the checklist with --item or with --plan, not both")
        from dispatch.task.plan import parse_checklist_source

        description, items = parse_checklist_source(read_input(plan, "--plan"))
    wanted = create.requested_models(model_opts, models)
    after_ids = list(dict.fromkeys(after))
    repo, cfg = context()
    on = create.runner_for(cfg, on, wanted, sent=engine_json is not None)
    engine = create.engine_for(cfg, on, engine_json)
    req = create.Request(
        title=title, task_id=task_id, items=items, description=description, base=base, models=wanted,
        after=after_ids, budget=budget, start=not no_start, sandbox=sandbox, engine=engine,
    )
    if on is not None and engine is None:  # another machine: an ssh runner, or a Slurm one with a host
        from dispatch.worker import remote

        _print_remote(remote.start(repo, cfg, on, req), on, cfg["default_model"], json_out)
        return
    made = create.new(repo, cfg, req)
    if json_out:
        from dispatch.output import emit_json

        rows = [_new_json(m, after_ids) for m in made.members]
        emit_json({"group": made.group, "tasks": rows} if made.group else {"task": rows[0]})
    elif made.group:
        _print_group(made.group, made.members, after_ids)
    else:
        _print_task(made.members[0], after_ids, cfg["default_model"])


def _print_remote(task: dict[str, Any], on: str, default_model: str, json_out: bool) -> None:
    if json_out:
        from dispatch import output

        output.emit_json({"task": {**task, "runner": on}})
        return
    print(f"created {task['id']} on {on}")
    print(f"  branch    {task['branch']} (from {task['base']} at {task['base_commit'][:7]}), fetched here")
    print(f"  worktree  {on}:{task['worktree']}")
    worker = task.get("worker")
    if worker:
        print(f"  worker    {worker['model']} on {worker['backend']} there: `dispatch logs {task['id']} -f` follows it")
    else:
        print(f"  worker    not started: {_start_hint(task['id'], task['model'], default_model)}")


def _new_json(m: Any, after: list[str]) -> dict[str, Any]:
    task, started = m.task, m.started
    return {
        "id": task.id, "title": task.title, "branch": task.branch, "worktree": str(task.worktree),
        "base": task.base, "base_commit": task.base_commit, "commit": task.commit,
        "model": task.model, "items": task.items,
        "worker": {"run": started.run, "model": started.model, "backend": started.backend} if started else None,
        "queued": bool(m.launch) and started is None, "after": after,
    }


def _worker_line(m: Any, after: list[str], slot: str) -> str | None:
    """What became of a new task's worker, in words (None: not started, --no-start)."""
    if m.started:
        return f"{m.started.model} on {m.started.backend}"
    if m.launch and after:
        return f"queued: {m.launch.model} starts when {', '.join(after)} {'is' if len(after) == 1 else 'are'} done"
    if m.launch:
        return f"queued: {m.launch.model} starts when a worker slot is free{slot}"
    return None


def _print_task(m: Any, after: list[str], default_model: str) -> None:
    task = m.task
    print(f"created {task.id}")
    print(f"  branch    {task.branch} (from {task.base} at {task.base_commit[:7]})")
    print(f"  worktree  {task.worktree}")
    print(f"  plan      {len(task.items)} item{'s' if len(task.items) != 1 else ''}: {task.worktree}/.dispatch/PLAN.md")
    worker = _worker_line(m, after, " (max_running)")
    if worker is None:
        worker = f"not started: {_start_hint(task.id, task.model, default_model)}"
    elif m.started:
        worker += f": `dispatch logs {task.id} -f` follows it"
    print(f"  worker    {worker}")


def _start_hint(task_id: str, model: str | None, default_model: str) -> str:
    """How to start the worker of a task made with --no-start, as a command that works as printed."""
    if model:
        return f"`dispatch resume {task_id}` starts one on {model}"
    if default_model:
        return f"`dispatch resume {task_id}` starts one on {default_model} (the default)"
    return f"`dispatch resume {task_id} --model M` starts one, M one of `dispatch models`"


def _print_group(gid: str, made: list[Any], after: list[str]) -> None:
    from dispatch import output

    first = made[0].task
    n = len(first.items)
    print(f"created group {gid}: {len(made)} tasks from {first.base} at {first.base_commit[:7]}, "
          f"{n} item{'s' if n != 1 else ''} each")
    rows = [[m.task.id, _worker_line(m, after, "") or "not started", str(m.task.worktree)] for m in made]
    print("\n".join("  " + line for line in output.table_lines(rows, ["TASK", "WORKER", "WORKTREE"])))
    print(f"  `dispatch review {gid}` compares them; `dispatch pick {first.id}` lands that one and discards "
          "the others (any of them will do)")
