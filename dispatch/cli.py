"""The command line: parse, call one core function, print. No logic lives here."""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer

from dispatch import __version__
from dispatch.errors import DispatchError

app = typer.Typer(
    name="dispatch",
    help="Hand coding tasks to background AI workers, each in its own git branch and worktree.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (a versioned envelope).")]


def _version(value: bool) -> None:
    if value:
        print(f"dispatch {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Hand coding tasks to background AI workers, each in its own git branch and worktree."""


def _ctx() -> tuple[Any, Any]:
    from dispatch import config
    from dispatch.repo import open_repo

    repo = open_repo(Path.cwd())
    return repo, config.load(repo.root)


def _confirm(question: str, yes: bool) -> None:
    """Ask [y/N] on a terminal; without one, refuse unless --yes was given (never hang)."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise DispatchError(f"{question} needs confirmation and there is no terminal to ask on: pass --yes")
    answer = input(f"{question}? [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise DispatchError("nothing done: not confirmed")


@app.command()
def new(
    title: Annotated[str, typer.Argument(metavar="TITLE", help="What the task is, in a line.")],
    task_id: Annotated[str | None, typer.Option("--id", help="Task id (default: a slug of the title).")] = None,
    item: Annotated[list[str] | None, typer.Option("--item", help="A checklist item; repeat for several.")] = None,
    plan: Annotated[
        str | None, typer.Option("--plan", help="A markdown checklist file, or - for stdin.", metavar="FILE|-")
    ] = None,
    base: Annotated[str | None, typer.Option("--base", help="Branch or commit to start from.")] = None,
    no_start: Annotated[bool, typer.Option("--no-start", help="Create the task without starting a worker.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Create a task: branch dispatch/<id>, its worktree and .dispatch/PLAN.md."""
    from dispatch.plan import parse_checklist_source
    from dispatch.tasks import create_task

    items = list(item or [])
    description = ""
    if plan is not None:
        if items:
            raise DispatchError("give the checklist with --item or with --plan, not both")
        description, items = parse_checklist_source(_read_input(plan, "--plan"))
    repo, cfg = _ctx()
    task = create_task(
        repo, cfg, title=title, task_id=task_id, items=items, description=description, base=base, model=None
    )
    if json_out:
        from dispatch.output import emit_json

        emit_json({"task": {
            "id": task.id, "title": task.title, "branch": task.branch, "worktree": str(task.worktree),
            "base": task.base, "base_commit": task.base_commit, "commit": task.commit,
            "model": task.model, "items": task.items,
        }})
        return
    print(f"created {task.id}")
    print(f"  branch    {task.branch} (from {task.base} at {task.base_commit[:7]})")
    print(f"  worktree  {task.worktree}")
    print(f"  plan      {len(task.items)} item{'s' if len(task.items) != 1 else ''}: {task.worktree}/.dispatch/PLAN.md")


def _read_input(value: str, option: str) -> str:
    if value == "-":
        return sys.stdin.read()
    try:
        return Path(value).read_text(encoding="utf-8")
    except OSError as e:
        raise DispatchError(f"cannot read {option} file {value}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise DispatchError(f"{option} file {value} is not UTF-8 text") from None


@app.command()
def status(
    ids: Annotated[list[str] | None, typer.Argument(help="Task ids (default: all).", show_default=False)] = None,
    json_out: JsonOpt = False,
) -> None:
    """Where every task stands (alias: ls)."""
    from dispatch import output
    from dispatch.status import collect

    repo, cfg = _ctx()
    tasks = collect(repo, cfg, list(ids or []))
    if json_out:
        output.emit_json({"tasks": [output.task_json(t) for t in tasks]})
    elif not tasks:
        print('no tasks yet: `dispatch new "what to do"` creates one')
    else:
        print(output.status_table(tasks))


app.command("ls", hidden=True, help="Alias of status.")(status)


@app.command()
def show(task_id: Annotated[str, typer.Argument(metavar="ID")], json_out: JsonOpt = False) -> None:
    """The whole task: checklist, questions, commits, files changed, worker."""
    from dispatch import output, show as show_mod

    repo, cfg = _ctx()
    detail = show_mod.show(repo, cfg, task_id)
    if json_out:
        output.emit_json({"task": detail.to_json()})
    else:
        print(output.detail_text(detail))


@app.command()
def note(
    task_id: Annotated[str, typer.Argument(metavar="ID")],
    text: Annotated[str, typer.Argument(metavar="TEXT|-", help="The note, or - to read it from stdin.")],
) -> None:
    """Add a dated note for the worker under "Notes from the dispatcher" in the task's PLAN.md."""
    from dispatch.tasks import add_note

    repo, cfg = _ctx()
    path = add_note(repo, cfg, task_id, sys.stdin.read() if text == "-" else text)
    print(f"noted in {path} (the worker reads and commits it)")


@app.command()
def discard(
    task_id: Annotated[str, typer.Argument(metavar="ID")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Save the task under refs/dispatch/trash/<id>, then remove its worktree and branch (alias: rm)."""
    from dispatch import trash
    from dispatch.tasks import get_task, short_branch

    repo, cfg = _ctx()
    task = get_task(repo, cfg, task_id)
    where = f", worktree {task.worktree.path}" if task.worktree else ""
    _confirm(f"discarding {task_id} (branch {short_branch(task.branch)}{where}; saved to the trash first)", yes)
    entry = trash.discard(repo, cfg, task_id)
    saved = ", uncommitted work included" if entry.uncommitted else ""
    print(f"discarded {task_id}: saved as {entry.ref} ({entry.record[:7]}{saved})")
    print(f"  `dispatch restore {task_id}` brings it back")


app.command("rm", hidden=True, help="Alias of discard.")(discard)


@app.command()
def restore(task_id: Annotated[str, typer.Argument(metavar="ID")]) -> None:
    """Bring a discarded task back: branch, worktree, and its uncommitted work as uncommitted."""
    from dispatch import trash

    repo, cfg = _ctx()
    restored = trash.restore(repo, cfg, task_id)
    print(f"restored {restored.id}")
    print(f"  branch    {restored.branch}")
    print(f"  worktree  {restored.worktree}" + (" (uncommitted work restored, uncommitted)" if restored.uncommitted else ""))


@app.command("trash")
def trash_cmd(
    purge: Annotated[
        list[str] | None, typer.Option("--purge", metavar="ID", help="Delete this trashed task for good.")
    ] = None,
    older_than: Annotated[
        float | None, typer.Option("--older-than", metavar="DAYS", help="Delete trashed tasks older than DAYS.")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """List discarded tasks, or delete them for good with --purge / --older-than."""
    from dispatch import clock, output, trash

    repo, cfg = _ctx()
    if purge or older_than is not None:
        if purge and older_than is not None:
            raise DispatchError("give --purge ID or --older-than DAYS, not both")
        what = ", ".join(purge) if purge else f"trashed tasks older than {older_than:g} days"
        _confirm(f"deleting {what} for good", yes)
        gone = trash.purge(repo, cfg, list(purge or []), older_than)
        if json_out:
            output.emit_json({"purged": [e.id for e in gone]})
        else:
            print("purged " + (", ".join(e.id for e in gone) if gone else "nothing"))
        return
    entries = trash.list_trash(repo)
    if json_out:
        output.emit_json({"trash": [
            {"id": e.id, "ref": e.ref, "record": e.record, "tip": e.tip, "uncommitted": e.uncommitted,
             "reason": e.reason, "discarded": clock.iso(e.discarded), "title": e.title}
            for e in entries
        ]})
    elif not entries:
        print("the trash is empty")
    else:
        rows = [[e.id, clock.age(e.discarded), e.reason, "yes" if e.uncommitted else "no", e.title] for e in entries]
        print(output.table(rows, ["ID", "AGE", "REASON", "UNCOMMITTED", "TITLE"]))


def _crash_log() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    folder = Path(base) / "dispatch"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"crash-{os.getpid()}.log"
    path.write_text(traceback.format_exc(), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    """The one boundary where errors become exit codes: 1 fixable, 2 usage, 3 bug, 130 Ctrl-C."""
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="dispatch", standalone_mode=False)
    except DispatchError as e:
        print(f"dispatch: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("dispatch: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        if type(e).__name__ == "Abort":  # click's Ctrl-C at a prompt
            print("dispatch: interrupted", file=sys.stderr)
            return 130
        if hasattr(e, "show") and hasattr(e, "exit_code"):  # click's usage errors
            e.show()
            return int(e.exit_code)
        try:
            log = _crash_log()
        except OSError:
            traceback.print_exc()
            return 3
        print(f"dispatch: internal error ({type(e).__name__}: {e}); details in {log}", file=sys.stderr)
        return 3
    return result if isinstance(result, int) else 0
