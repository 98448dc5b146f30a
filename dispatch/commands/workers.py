"""Commands on workers: logs, stop, resume."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from dispatch.commands.app import SandboxOpt, app
from dispatch.commands.common import context, forwarded


@app.command()
def logs(
    task_id: Annotated[str, typer.Argument(metavar="<id>")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing until the worker's run ends.")] = False,
    lines: Annotated[int | None, typer.Option("-n", "--lines", metavar="N", help="Only the last N lines.")] = None,
    raw: Annotated[bool, typer.Option("--raw", help="The log as written, JSON events of agent CLIs unabridged.")] = False,
) -> None:
    """The worker's output, with the supervisor's notes.

    The JSON events of agent CLIs show one short line each; --raw prints the log as written.
    """
    from dispatch.worker import control as workers
    from dispatch.worker import logview

    repo, cfg = context()
    if forwarded(repo, cfg, task_id, ["logs", task_id, *(["-f"] if follow else []), *(["--raw"] if raw else []),
                                       *(["-n", str(lines)] if lines else [])],
                  stream=follow):
        return
    shown = workers.log_lines(repo, cfg, task_id, None)
    shown = shown if raw else logview.render(shown)
    for line in shown[-lines:] if lines else shown:
        print(line)
    if follow:
        for chunk in workers.follow(repo, task_id):
            if not raw:
                chunk = "".join(f"{line}\n" for line in logview.render(chunk.splitlines()))
            sys.stdout.write(chunk)
            sys.stdout.flush()


@app.command()
def stop(task_id: Annotated[str, typer.Argument(metavar="<id>")]) -> None:
    """Stop the task's worker; what it left uncommitted is committed.

    SIGTERM to its process group, SIGKILL after `stop_grace` seconds.
    """
    from dispatch.worker import control as workers

    repo, cfg = context()
    if forwarded(repo, cfg, task_id, ["stop", task_id]):
        return
    data = workers.stop(repo, cfg, task_id)
    saved = f"; its uncommitted work was committed as {data['saved'][:7]}" if data.get("saved") else ""
    print(f"stopped the worker of {task_id}{saved}")
    print(f"  `dispatch resume {task_id}` starts a fresh worker where it left off")


@app.command()
def resume(
    task_id: Annotated[str, typer.Argument(metavar="<id>")],
    model: Annotated[str | None, typer.Option("--model", "-m", metavar="M", help="Model or alias (default: the last run's).")] = None,
    message: Annotated[str | None, typer.Option("--message", metavar="TEXT", help="Extra instructions for the new worker.")] = None,
    budget_time: Annotated[
        float | None, typer.Option("--budget-time", metavar="SECONDS", help="Raise the task's time budget to this.")
    ] = None,
    budget_cost: Annotated[
        float | None, typer.Option("--budget-cost", metavar="USD", help="Raise the task's cost budget to this.")
    ] = None,
    sandbox: Annotated[str | None, SandboxOpt] = None,
) -> None:
    """Start a fresh worker on the task, to go on where it stopped.

    Its prompt says to continue from the first unfinished item; a queued or blocked task starts now.
    """
    from dispatch.task.model import get_task
    from dispatch.worker import control as workers
    from dispatch.worker import scheduler

    repo, cfg = context()
    words = ["resume", task_id, *(["--model", model] if model else []), *(["--message", message] if message else []),
             *(["--budget-time", str(budget_time)] if budget_time is not None else []),
             *(["--budget-cost", str(budget_cost)] if budget_cost is not None else []),
             *(["--sandbox", sandbox] if sandbox else [])]
    if forwarded(repo, cfg, task_id, words):
        return
    get_task(repo, cfg, task_id)
    workers.set_budget(repo, task_id, seconds=budget_time, cost=budget_cost)
    started = scheduler.resume(repo, cfg, task_id, model=model, message=message, sandbox=sandbox)
    if started is None:
        print(f"queued {task_id}: it starts when a worker slot is free (max_running)")
        return
    print(f"{'started' if started.run == 1 else 'resumed'} {task_id}: run {started.run}, "
          f"{started.model} on {started.backend}")
    print(f"  `dispatch logs {task_id} -f` follows it")
