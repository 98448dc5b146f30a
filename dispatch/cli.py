"""The command line: parse, call one core function, print. No logic lives here."""

from __future__ import annotations

import os
import sys
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dispatch import __version__
from dispatch.errors import DispatchError

if TYPE_CHECKING:  # imported for their types only: the repository and config load when a command runs
    from dispatch.config import Config
    from dispatch.repo import Repo

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
SandboxOpt = typer.Option("--sandbox", metavar="MODE", help="Confine the worker: auto, bwrap or off (default: sandbox "
                          "in the config); kept for the task's later runs.")


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


_session: ContextVar[tuple[Repo, Config] | None] = ContextVar("dispatch_session", default=None)


def context() -> tuple[Repo, Config]:
    """The repository and its config, for a command that works on one."""
    from dispatch import config
    from dispatch.repo import open_repo

    repo = open_repo(Path.cwd())
    cfg = config.load(repo.root)
    notice = config.ignored_notice(cfg)
    if notice:
        print(f"dispatch: {notice}", file=sys.stderr)
    _session.set((repo, cfg))
    return repo, cfg


def _advance_queue() -> None:
    """Any command that touched a repository moves its queue on: there is no daemon to do it."""
    session = _session.get()
    if session is None:
        return
    from dispatch.worker import queue

    if queue.has_work(session[0]):
        from dispatch.worker import scheduler  # only when there is a queue to move: it imports much

        try:
            scheduler.advance(*session)
        except DispatchError as e:
            print(f"dispatch: the queue could not advance: {e}", file=sys.stderr)


def forwarded(repo: Repo, cfg: Config, task_id: str, words: list[str], *, stream: bool = False,
              input: str | None = None, passing: tuple[int, ...] = (), timeout: float = 120.0) -> bool:
    """A task on a runner: `dispatch WORDS` runs there (streamed, or its output printed here; text goes
    as stdin), then the task's branch is fetched. False for a local task: the command runs here."""
    from dispatch.worker import remote

    if remote.place(repo, cfg, task_id) is None:
        return False
    answer = remote.forward(repo, cfg, task_id, words, stream=stream, input=input, passing=passing, timeout=timeout)
    if not isinstance(answer, int):
        sys.stdout.write(answer.stdout)
        sys.stderr.write(answer.stderr if answer.returncode else "")
    remote.sync(repo, cfg, [task_id])
    code = answer if isinstance(answer, int) else answer.returncode
    if code:
        raise typer.Exit(code)
    return True


def confirm(question: str, yes: bool) -> None:
    """Ask [y/N] on a terminal; without one, refuse unless --yes was given (never hang)."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise DispatchError(f"{question} needs confirmation and there is no terminal to ask on: pass --yes")
    answer = input(f"{question}? [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise DispatchError("nothing done: not confirmed")


def folder_holding_cwd(folders: list[Path | None]) -> Path | None:
    """The one of FOLDERS the current directory is in: a command about to remove it says so after."""
    try:
        here = Path.cwd().resolve()
    except OSError:
        return None
    for folder in folders:
        if folder is not None and (here == folder.resolve() or folder.resolve() in here.parents):
            return folder
    return None


def say_if_removed(folder: Path | None, repo_root: Path) -> None:
    """The shell that ran us sits in a folder that no longer exists: say where to go."""
    if folder is not None and not folder.exists():
        print(f"  your shell is in {folder}, which is removed now: `cd {repo_root}`")


def read_input(value: str, option: str) -> str:
    """The text of a file, or of stdin for `-`; text with a NUL byte is refused."""
    source = "stdin" if value == "-" else f"{option} file {value}"
    try:
        text = sys.stdin.read() if value == "-" else Path(value).read_text(encoding="utf-8")
    except OSError as e:
        raise DispatchError(f"cannot read {source}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise DispatchError(f"{source} is not UTF-8 text") from None
    if "\0" in text:
        raise DispatchError(f"the text from {source} contains a NUL byte: remove it and try again")
    return text


def _crash_log() -> Path:
    import traceback

    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    folder = Path(base) / "dispatch"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"crash-{os.getpid()}.log"
    path.write_text(traceback.format_exc(), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    """The one boundary where errors become exit codes: 1 fixable, 2 usage, 3 bug, 130 Ctrl-C."""
    _session.set(None)  # a run's queue is its own repository's, never an earlier run's in this process
    try:
        command = load_commands(sys.argv[1:] if argv is None else argv)
        result = command.main(args=argv, prog_name="dispatch", standalone_mode=False)
        if result == 130:  # click turns Ctrl-C into a quiet exit code
            raise KeyboardInterrupt
        _advance_queue()
    except (DispatchError, OSError) as e:
        from dispatch.files import is_disk_full

        if is_disk_full(e):  # the user can fix it: not a bug to log (the log could not be written anyway)
            print(f"dispatch: {_disk_full(e)}", file=sys.stderr)
            return 1
        if not isinstance(e, DispatchError):
            return _internal_error(e)
        print(f"dispatch: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("dispatch: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - the one place a bug becomes exit code 3 and a crash log
        if type(e).__name__ == "Abort":  # click's Ctrl-C at a prompt
            print("dispatch: interrupted", file=sys.stderr)
            return 130
        if hasattr(e, "show") and hasattr(e, "exit_code"):  # click's usage errors
            e.show()
            return int(e.exit_code)
        return _internal_error(e)
    return result if isinstance(result, int) else 0


def _internal_error(e: BaseException) -> int:
    try:
        log = _crash_log()
    except OSError:
        import traceback

        traceback.print_exc()
        return 3
    print(f"dispatch: internal error ({type(e).__name__}: {e}); details in {log}", file=sys.stderr)
    return 3


def _disk_full(e: BaseException) -> str:
    """One line naming the folder that could not be written, and the fix."""
    filename = getattr(e, "filename", None)
    session = _session.get()
    if filename:
        folder = Path(filename).parent
    elif session is not None:
        folder = session[0].state_dir
    else:
        folder = Path.cwd()
    return f"no space left on the device holding {folder}: free some space, then run the command again"


# Which module registers each command. A run imports (and typer builds) only the module of the
# command it runs; help and unknown names load them all. tests/test_cli.py keeps this map true.
COMMANDS = {
    **dict.fromkeys(("new", "status", "ls", "show", "note"), "tasks"),
    **dict.fromkeys(("discard", "rm", "restore", "trash"), "trash"),
    **dict.fromkeys(("logs", "stop", "resume"), "workers"),
    **dict.fromkeys(("ask", "answer", "questions", "events", "wait"), "questions"),
    **dict.fromkeys(("review", "diff", "merge", "pick", "rebase", "conflicts", "clean", "pr"), "landing"),
    **dict.fromkeys(("config", "models", "init", "trust", "untrust"), "config"),
    "demo": "demo",
    "doctor": "doctor",
    **dict.fromkeys(("runners", "runner-call"), "runners"),
    "skill": "skill",
}


def load_commands(argv: list[str]) -> Any:
    """The click command for ARGV, built as far as it needs: typer turning a function's signature into
    options is most of a start-up's cost past the imports, so a command builds only itself, and the
    command list (`--help`, `--version`, no arguments) builds no command's options at all."""
    import importlib

    name = next((a for a in argv if not a.startswith("-")), None)
    # In the map's order, so that `--help` lists the everyday commands first.
    modules = [COMMANDS[name]] if name in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    for module in modules:
        importlib.import_module(f"dispatch.commands.{module}")
    from dispatch import helpstyle

    helpstyle.apply(app)
    if name in COMMANDS:
        return _built(commands=[c for c in app.registered_commands if _name(c) == name],
                      groups=[g for g in app.registered_groups if g.name == name])
    if name is None:
        return _listing()
    return typer.main.get_command(app)  # an unknown name: the whole set, to suggest the nearest


def _name(info: Any) -> str:
    return str(info.name or info.callback.__name__.replace("_", "-"))


def _built(*, commands: list[Any], groups: list[Any]) -> Any:
    """The root group with only COMMANDS and GROUPS in it (the app's lists are left as they were)."""
    saved = app.registered_commands, app.registered_groups
    app.registered_commands, app.registered_groups = commands, groups
    try:
        return typer.main.get_command(app)
    finally:
        app.registered_commands, app.registered_groups = saved


def _listing() -> Any:
    """The root group with every command as a stand-in that holds only what the command list shows."""
    import inspect

    from typer.core import TyperCommand, TyperGroup

    root = _built(commands=[], groups=[])
    for info in app.registered_commands:
        help_text = inspect.cleandoc(info.help) if info.help else inspect.getdoc(info.callback)
        root.add_command(TyperCommand(_name(info), callback=info.callback, help=help_text, hidden=info.hidden))
    for group in app.registered_groups:
        root.add_command(TyperGroup(name=group.name, help=typer.main.solve_typer_info_help(group), hidden=group.hidden))
    return root
