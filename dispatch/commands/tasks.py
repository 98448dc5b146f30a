"""Commands on tasks themselves: new, status, show, note (discard, restore and trash: commands/trash.py)."""

from __future__ import annotations

import textwrap
from typing import Annotated, Any

import typer

from dispatch.commands import hot
from dispatch.commands.app import JsonOpt, SandboxOpt, app
from dispatch.commands.common import context, forwarded, read_input
from dispatch.errors import DispatchError


@app.command()
def new(
    title: Annotated[str, typer.Argument(metavar="<title>", help="What the task is, in a line.")],
    task_id: Annotated[str | None, typer.Option("--id", metavar="ID", help="Task id (default: a slug of the title).")] = None,
    item: Annotated[list[str] | None, typer.Option("--item", metavar="TEXT", help="A checklist item; repeat for several.")] = None,
    plan: Annotated[
        str | None, typer.Option("--plan", help="A markdown checklist file, or - for stdin.", metavar="FILE|-")
    ] = None,
    base: Annotated[str | None, typer.Option("--base", metavar="REF", help="Branch or commit to start from.")] = None,
    model_opts: Annotated[
        list[str] | None,
        typer.Option("--model", "-m", metavar="M", help="Model or alias for the worker (default: default_model); "
                     "repeat to send the task to each model, as a group of tasks <id>-<model>."),
    ] = None,
    models: Annotated[
        str | None, typer.Option("--models", metavar="A,B", help="Several models, comma-separated: one task each.")
    ] = None,
    after: Annotated[
        list[str] | None, typer.Option("--after", metavar="ID", help="Start only when this task is done; repeat for several.")
    ] = None,
    budget_time: Annotated[
        float | None, typer.Option("--budget-time", metavar="SECONDS", help="Stop the worker past this wall time.")
    ] = None,
    budget_cost: Annotated[
        float | None, typer.Option("--budget-cost", metavar="USD", help="Cost budget, where the CLI reports cost.")
    ] = None,
    no_start: Annotated[bool, typer.Option("--no-start", help="Create the task without starting a worker.")] = False,
    on: Annotated[
        str | None, typer.Option("--on", metavar="RUNNER", help="Run the worker on this runner (`dispatch runners`).")
    ] = None,
    engine_json: Annotated[str | None, typer.Option("--engine", hidden=True)] = None,  # sent by a Slurm runner's caller
    sandbox: Annotated[str | None, SandboxOpt] = None,
    json_out: JsonOpt = False,
) -> None:
    """Create a task (branch, worktree, plan) and start its worker.

    Branch dispatch/<id>, its worktree and .dispatch/PLAN.md in one commit; the worker starts in
    the background (or is queued), and the command returns at once.
    """
    from dispatch.worker import create

    items = list(item or [])
    description = ""
    if plan is not None:
        if items:
            raise DispatchError("give the checklist with --item or with --plan, not both")
        from dispatch.task.plan import parse_checklist_source

        description, items = parse_checklist_source(read_input(plan, "--plan"))
    wanted = create.requested_models(model_opts or [], models)
    after_ids = list(dict.fromkeys(after or []))
    repo, cfg = context()
    engine = create.engine_for(cfg, on, engine_json)
    req = create.Request(
        title=title, task_id=task_id, items=items, description=description, base=base, models=wanted,
        after=after_ids, budget=(budget_time, budget_cost), start=not no_start, sandbox=sandbox, engine=engine,
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
    print(textwrap.indent(output.table(rows, ["TASK", "WORKER", "WORKTREE"]), "  "))
    print(f"  `dispatch review {gid}` compares them; `dispatch pick {first.id}` lands that one and discards "
          "the others (any of them will do)")


@app.command()
def status(
    ids: Annotated[list[str] | None, typer.Argument(metavar="[<id>]...", help="Only these tasks (default: all).", show_default=False)] = None,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Redraw the table in place as tasks move.")] = False,
    interval: Annotated[
        float | None, typer.Option("--interval", metavar="SECONDS", help="With --watch: seconds between redraws (1).")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Where every task stands."""
    if watch or interval is not None:
        from dispatch.task import watch as watch_mod
        from dispatch.worker import places

        watch_mod.check_options(watch=watch, interval=interval, json_out=json_out)
        repo, cfg = context()
        watch_mod.watch(repo, cfg, list(ids or []), interval=1.0 if interval is None else interval, listing=places.listing)
        return
    hot.status(list(ids or []), json_out=json_out)


app.command("ls", hidden=True, help="Alias of status.")(status)


@app.command()
def show(task_id: Annotated[str, typer.Argument(metavar="<id>")], json_out: JsonOpt = False) -> None:
    """The whole task: checklist, questions, commits, files, worker."""
    from dispatch import output
    from dispatch.worker import places

    repo, cfg = context()
    detail = places.show(repo, cfg, task_id)
    if json_out:
        output.emit_json({"task": detail.to_json()})
    else:
        print(output.detail_text(detail))
        hot.confinement_note(cfg)


@app.command()
def note(
    task_id: Annotated[str, typer.Argument(metavar="<id>")],
    text: Annotated[str, typer.Argument(metavar="<text>|-", help="The note, or - to read it from stdin.")],
) -> None:
    """Add a dated note for the worker to the task's .dispatch/NOTES.md.

    PLAN.md stays the worker's: dispatch never rewrites it; the worker reads NOTES.md.
    """
    from dispatch.task.notes import add_note

    repo, cfg = context()
    text = read_input(text, "TEXT") if text == "-" else text
    if forwarded(repo, cfg, task_id, ["note", task_id, "-"], input=text):
        return
    path = add_note(repo, cfg, task_id, text)
    print(f"noted in {path}: {_note_reader(repo, task_id)}")


def _note_reader(repo: Any, task_id: str) -> str:
    """Who will read a note, truly: the worker running now, the one queued, or none until one is started."""
    from dispatch.task import runtime

    state = (runtime.worker_facts(repo, task_id) or {}).get("state")
    if state in ("running", "preparing"):
        return "its running worker reads it there and commits it"
    if state == "queued":
        return "its worker reads it when it starts"
    return (f"no worker runs, so nobody reads it until one does (`dispatch resume {task_id}` starts one); "
            "it never blocks landing")
