"""Commands for questions and news: ask, answer, questions, events, wait."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from dispatch.commands import hot
from dispatch.commands.app import JsonOpt, app
from dispatch.commands.common import context


@app.command()
def ask(
    question: Annotated[str, typer.Argument(metavar="<question>|-", help="The question, or - to read it from stdin.")],
    timeout: Annotated[
        float | None, typer.Option("--timeout", metavar="SECONDS", help="Give up after this long (default: ask_timeout).")
    ] = None,
    task_id: Annotated[str | None, typer.Option("--task", metavar="ID", help="The task (default: $DISPATCH_TASK, or the worktree you are in).")] = None,
) -> None:
    """(For workers.) Ask the dispatcher and wait for the answer.

    Prints the answer alone; exits 75 when none comes in time.
    """
    hot.ask(question, timeout=timeout, task_id=task_id)


@app.command()
def answer(
    task_id: Annotated[str, typer.Argument(metavar="<id>")],
    text: Annotated[str, typer.Argument(metavar="<text>|-", help="The answer, or - to read it from stdin.")],
    question: Annotated[int | None, typer.Option("--question", "-q", metavar="N", help="Which question (default: the oldest open one).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Start a fresh worker when none is waiting.")] = False,
) -> None:
    """Answer a task's question; a waiting worker gets it at once."""
    hot.answer(task_id, text, question=question, resume=resume)


@app.command()
def questions(
    ids: Annotated[list[str] | None, typer.Argument(metavar="[<id>]...", help="Only these tasks (default: all).", show_default=False)] = None,
    json_out: JsonOpt = False,
) -> None:
    """Every open question across the tasks, oldest first."""
    from dispatch import clock, output
    from dispatch.task import asking
    from dispatch.task.model import get_task
    from dispatch.worker import places

    repo, cfg = context()
    for task_id in ids or []:
        get_task(repo, cfg, task_id)
    places.catch_up(repo, cfg, list(ids or []))  # tasks on runners: their questions as committed there
    found = asking.open_questions(repo, cfg, list(ids or []))
    if json_out:
        output.emit_json({"questions": [q.to_json() for q in found]})
    elif not found:
        print("no open questions")
    else:
        rows = [
            [q.task, f"Q{q.number}", clock.age(clock.parse_iso(q.asked)) if q.asked else "-", output.first_line(q.text)]
            for q in found
        ]
        print(output.table(rows, ["TASK", "Q", "AGE", "QUESTION"]))


@app.command()
def events(
    since: Annotated[str | None, typer.Option("--since", metavar="TIME", help="From this time (ISO) or age (10m, 2h).")] = None,
    json_out: JsonOpt = False,
) -> None:
    """The events log: created, started, question, merged and more."""
    from dispatch import output
    from dispatch.worker import waiting

    repo, _cfg = context()
    found = waiting.since(repo, since)
    if json_out:
        output.emit_json({"events": found})
        return
    for e in found:
        details = " ".join(
            f"{k}={v}" for k, v in sorted(e.items()) if k not in ("time", "task", "kind") and v is not None
        )
        print(f"{e.get('time')}  {e.get('task')}  {e.get('kind')}  {details}".rstrip())


@app.command()
def wait(
    ids: Annotated[list[str] | None, typer.Argument(metavar="[<id>]...", help="Only these tasks (default: all).", show_default=False)] = None,
    timeout: Annotated[float | None, typer.Option("--timeout", metavar="SECONDS", help="Give up after this long (exit 124).")] = None,
    consumer: Annotated[str, typer.Option("--consumer", metavar="NAME", help="Who is waiting: each consumer is told everything once.")] = "default",
    json_out: JsonOpt = False,
) -> None:
    """Block until a question or an ended worker needs you.

    Waits on the tasks here and on runners alike. Prints each piece of news with the command to act on it,
    then exits.
    """
    from dispatch.task.model import get_task
    from dispatch.task.runtime import on_runner
    from dispatch.worker import everywhere

    repo, cfg = context()
    for task_id in ids or []:
        if not on_runner(repo, task_id):  # a task on a runner is known there: its wait says
            get_task(repo, cfg, task_id)
    everywhere.wait(repo, cfg, list(ids or []), timeout=timeout, consumer=consumer,
                    deliver=lambda news: _print_news(news, json_out=json_out),
                    warn=lambda line: print(f"dispatch: {line}", file=sys.stderr, flush=True))


def _print_news(news: list[Any], *, json_out: bool) -> None:
    """Printed and flushed: the wait then moves its consumer's cursor past it (over ssh, once it is on its way)."""
    from dispatch import output

    if json_out:
        output.emit_json({"items": [n.to_json() for n in news]})
    else:
        for n in news:
            print("\n".join(n.lines()))
    sys.stdout.flush()
