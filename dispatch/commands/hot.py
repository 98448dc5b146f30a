"""The commands run most, by people in a loop and by workers and the host session: `status`, `ask`,
`answer`, `conflicts`, `review` and `new`. Their code lives here (`new`'s in dispatch.commands.creating), free of typer: a plain command line (one this module
reads exactly as typer would) runs it at once; any other (help, a mistake, an option spelled another
way) goes to typer (dispatch.commands.app), whose commands call the same functions."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from dispatch.commands.common import context, forwarded, read_input
from dispatch.typed import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

_NUMBER = {"int": r"[0-9]{1,9}", "float": r"[0-9]{1,9}(\.[0-9]{1,9})?"}  # (compiled by re when an option has one)

# name: (positional arguments: a count, or None for any number; {option: "flag" | "int" | "float" | "str" | "list"});
# a "list" option may be given again, each value added.
_PLAIN: dict[str, tuple[int | None, dict[str, str]]] = {
    "status": (None, {"--json": "flag"}),
    "ls": (None, {"--json": "flag"}),
    "ask": (1, {"--timeout": "float", "--task": "str"}),
    "answer": (2, {"--question": "int", "-q": "int", "--resume": "flag"}),
    "conflicts": (0, {"--json": "flag"}),
    "review": (1, {"--stat": "flag", "--patch": "flag", "--files": "flag", "--json": "flag"}),
    "diff": (1, {"--stat": "flag", "--patch": "flag", "--files": "flag", "--json": "flag"}),
    "new": (1, {"--id": "str", "--item": "list", "--plan": "str", "--base": "str", "--model": "list", "-m": "list",
                "--models": "str", "--after": "list", "--budget-time": "float", "--budget-cost": "float",
                "--no-start": "flag", "--on": "str", "--engine": "str", "--sandbox": "str", "--json": "flag"}),
}

_SHORT = {"-q": "--question", "-m": "--model"}  # a short option is its long one, in the order given


def parse(argv: list[str]) -> tuple[str, list[str], dict[str, Any]] | None:
    """The command, its arguments and its options when ARGV is plain; None for typer to read."""
    if not argv or argv[0] not in _PLAIN:
        return None
    count, known = _PLAIN[argv[0]]
    words = iter(argv[1:])
    options: dict[str, Any] = {}
    positional: list[str] = []
    for word in words:
        if word == "-" or not word.startswith("-"):
            positional.append(word)
            continue
        word = _SHORT.get(word, word) if word in known else word
        kind = known.get(word)
        name = word.lstrip("-").replace("-", "_")
        if kind is None or (name in options and kind != "list"):  # unknown, `--opt=value`, `--`, or given twice
            return None
        value: Any = True
        if kind != "flag":
            value = next(words, None)
            if value is None or (value != "-" and value.startswith("-")) or (kind in _NUMBER and not re.fullmatch(_NUMBER[kind], value)):
                return None
            value = int(value) if kind == "int" else float(value) if kind == "float" else value
        options[name] = [*options.get(name, []), value] if kind == "list" else value
    if count is not None and len(positional) != count:
        return None
    return argv[0], positional, options


def run(argv: list[str]) -> int | None:
    """Run ARGV if it is plain (its exit code); None when typer must read it."""
    parsed = parse(argv)
    if parsed is None:
        return None
    name, args, options = parsed
    if name in ("status", "ls"):
        status(args, json_out=options.get("json", False))
    elif name == "ask":
        ask(args[0], timeout=options.get("timeout"), task_id=options.get("task"))
    elif name == "answer":
        answer(args[0], args[1], question=options.get("question"), resume=options.get("resume", False))
    elif name == "new":
        from dispatch.commands import creating

        creating.new(args[0], task_id=options.get("id"), items=options.get("item", []), plan=options.get("plan"),
                     base=options.get("base"), model_opts=options.get("model", []), models=options.get("models"),
                     after=options.get("after", []), budget=(options.get("budget_time"), options.get("budget_cost")),
                     no_start=options.get("no_start", False), on=options.get("on"), engine_json=options.get("engine"),
                     sandbox=options.get("sandbox"), json_out=options.get("json", False))
    elif name == "conflicts":
        conflicts(json_out=options.get("json", False))
    else:
        review(args[0], stat=options.get("stat", False), patch=options.get("patch", False),
               files=options.get("files", False), json_out=options.get("json", False))
    return 0


def status(ids: list[str], *, json_out: bool) -> None:
    from dispatch.worker import places

    repo, cfg = context()
    tasks = places.listing(repo, cfg, ids)
    if not tasks and not json_out:
        print('no tasks yet: `dispatch new "what to do"` creates one')
        return
    from dispatch import output  # here: a repository without tasks has nothing to format
    from dispatch.task import table

    if json_out:
        output.emit_json({"tasks": [table.task_json(t) for t in tasks]})
    else:
        print(table.status_table(tasks, output.terminal_width()))
        confinement_note(cfg)


def confinement_note(cfg: Any) -> None:
    from dispatch.worker import confine

    note = confine.note(cfg)
    if note:
        print(f"\n{note}")


def ask(question: str, *, timeout: float | None, task_id: str | None) -> None:
    from dispatch.task import asking

    _exit_on_hang_up()
    repo, cfg = context()
    task = asking.find_asking_task(repo, cfg, task_id, Path.cwd())
    asked = asking.post_question(repo, cfg, task, read_input(question, "QUESTION") if question == "-" else question)
    if not asked.tended:
        _free_the_slot(repo, cfg)
    if sys.stderr.isatty():  # piped (an agent's tool call), the output must be the answer alone
        print(f"asked Q{asked.number} of {task.id}; waiting for the answer", file=sys.stderr, flush=True)
    answer = asking.await_answer(repo, cfg, task, asked.number, cfg["ask_timeout"] if timeout is None else timeout)
    print(answer)


def _exit_on_hang_up() -> None:
    """SIGTERM or SIGHUP (the worker stopped, its terminal gone): exit as Ctrl-C does, through the ask's cleanup
    (a temporary index removed, the marker ended, the locks let go), not dead on the spot."""
    import signal

    def leave(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, leave)


def _free_the_slot(repo: Any, cfg: Any) -> None:
    """A worker waiting on an answer holds no worker slot: start a queued task in its place now."""
    if repo.has_queued():  # one stat: the asking worker's answer may come at once
        from dispatch.errors import DispatchError
        from dispatch.worker import scheduler

        try:
            scheduler.advance(repo, cfg)
        except DispatchError:
            pass  # the next dispatch process tries again


def answer(task_id: str, text: str, *, question: int | None, resume: bool) -> None:
    from dispatch.task import asking

    repo, cfg = context()
    text = read_input(text, "TEXT") if text == "-" else text
    words = ["answer", task_id, "-", *(["--question", str(question)] if question is not None else []),
             *(["--resume"] if resume else [])]
    if forwarded(repo, cfg, task_id, words, input=text):
        return
    done = asking.answer(repo, cfg, task_id, question, text)
    if done.waiting:
        print(f"answered Q{done.number} of {task_id}: the waiting worker continues with it")
    elif done.worker_running:
        print(f"answered Q{done.number} of {task_id}: its worker is running and reads it in QUESTIONS.md")
    elif resume:
        from dispatch.worker import scheduler  # only to start a worker: it imports much

        started = scheduler.resume(repo, cfg, task_id, model=None, message=None)
        if started is None:
            print(f"answered Q{done.number} of {task_id}; queued it: it starts when a worker slot is free (max_running)")
        else:
            print(f"answered Q{done.number} of {task_id}; {'started' if started.run == 1 else 'resumed'} it: "
                  f"run {started.run}, {started.model} on {started.backend}")
    else:
        print(f"answered Q{done.number} of {task_id}; no worker is running: `dispatch resume {task_id}` continues with the answer")


def conflicts(*, json_out: bool) -> None:
    from dispatch import output
    from dispatch.land import conflicts as conflicts_mod
    from dispatch.worker import places

    repo, cfg = context()
    places.catch_up(repo, cfg)  # tasks on runners: their latest commits
    radar = conflicts_mod.radar(repo, cfg)
    if json_out:
        output.emit_json(radar.to_json())
    else:
        print(conflicts_mod.render(radar))


def review(task_id: str, *, stat: bool, patch: bool, files: bool, json_out: bool) -> None:
    from dispatch import output
    from dispatch.errors import UsageError
    from dispatch.land import review as review_mod
    from dispatch.task.model import list_tasks
    from dispatch.worker import places

    if stat + patch + files + json_out > 1:
        raise UsageError("give one of --stat, --patch, --files and --json")
    repo, cfg = context()
    places.catch_up(repo, cfg, [task_id])  # a task on a runner: its latest commits
    live = list_tasks(repo, cfg)
    if task_id not in live and _review_group(repo, cfg, task_id, detail=stat or patch or files, json_out=json_out):
        return
    r = review_mod.review(repo, cfg, task_id, task=live.get(task_id), json=json_out)
    if json_out:
        output.emit_json({"review": r.to_json()})
        return
    mode = "stat" if stat else "patch" if patch else "files" if files else "summary"
    text = review_mod.render(r, mode=mode, color=output.use_color())
    if text:
        print(text)


def _review_group(repo: Any, cfg: Any, name: str, *, detail: bool, json_out: bool) -> bool:
    """Review the group NAME when it is one (no task has that id); False when it is not a group."""
    from dispatch import output
    from dispatch.errors import UsageError
    from dispatch.land import compare, group

    rows = group.members(repo, cfg, name)
    if not rows:
        return False
    if detail:
        raise UsageError(f"`{name}` is a group: --stat, --patch and --files are for one of its tasks "
                         f"({', '.join(r.id for r in rows)})")
    compared = compare.compare(repo, cfg, name, rows)
    if json_out:
        output.emit_json({"group": compared.to_json()})
    else:
        print(compare.render(compared))
    return True
