"""Commands on tasks themselves: new, status, show, note (discard, restore and trash: commands/trash.py)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dispatch.commands import creating, hot
from dispatch.commands.app import JsonOpt, SandboxOpt, app
from dispatch.commands.common import context, forwarded, read_input


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
        str | None, typer.Option("--on", metavar="RUNNER", help="Run the worker on this runner (`dispatch runners`); `local`: here (default: the config's `runner`).")
    ] = None,
    engine_json: Annotated[str | None, typer.Option("--engine", hidden=True)] = None,  # sent by a Slurm runner's caller
    sandbox: Annotated[str | None, SandboxOpt] = None,
    json_out: JsonOpt = False,
) -> None:
    """Create a task (branch, worktree, plan) and start its worker.

    Branch dispatch/<id>, its worktree and .dispatch/PLAN.md in one commit; the worker starts in
    the background (or is queued), and the command returns at once.
    """
    creating.new(title, task_id=task_id, items=item or [], plan=plan, base=base, model_opts=model_opts or [],
                 models=models, after=after or [], budget=(budget_time, budget_cost), no_start=no_start, on=on,
                 engine_json=engine_json, sandbox=sandbox, json_out=json_out)


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
