"""What every command shares, with no typer in it: the repository and config of a run, confirmation,
input text, a task forwarded to its runner. The hot commands (dispatch.commands.hot) run on these alone."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path

from dispatch.errors import DispatchError, Exit
from dispatch.typed import TYPE_CHECKING

if TYPE_CHECKING:  # imported for their types only: the repository and config load when a command runs
    from dispatch.config import Config
    from dispatch.repo import Repo

_session: ContextVar[tuple[Repo, Config] | None] = ContextVar("dispatch_session", default=None)


def begin() -> None:
    """A new run in this process: it has opened no repository yet."""
    _session.set(None)


def session() -> tuple[Repo, Config] | None:
    """The repository and config this run opened, if it opened one."""
    return _session.get()


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


def advance_queue() -> None:
    """Any command that touched a repository moves its queue on: there is no daemon to do it."""
    session = _session.get()
    if session is None:
        return
    if session[0].has_queued():  # (one stat: the queue's module loads only when a task waits)
        from dispatch.worker import scheduler  # only when there is a queue to move: it imports much

        try:
            scheduler.advance(*session)
        except DispatchError as e:
            print(f"dispatch: the queue could not advance: {e}", file=sys.stderr)


def forwarded(repo: Repo, cfg: Config, task_id: str, words: list[str], *, stream: bool = False,
              input: str | None = None, passing: tuple[int, ...] = (), timeout: float = 120.0) -> bool:
    """A task on a runner: `dispatch WORDS` runs there (streamed, or its output printed here; text goes
    as stdin), then the task's branch is fetched. False for a local task: the command runs here."""
    from dispatch.task.runtime import on_runner

    if not on_runner(repo, task_id):  # one stat: a local task loads no runner's machinery
        return False
    from dispatch.worker import remote

    answer = remote.forward(repo, cfg, task_id, words, stream=stream, input=input, passing=passing, timeout=timeout)
    if not isinstance(answer, int):
        sys.stdout.write(answer.stdout)
        sys.stderr.write(answer.stderr if answer.returncode else "")
    remote.sync(repo, cfg, [task_id])
    code = answer if isinstance(answer, int) else answer.returncode
    if code:
        raise Exit(code)
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


def boundary(run: Callable[[], int]) -> int:
    """The one place where errors become exit codes."""
    begin()  # a run's queue is its own repository's, never an earlier run's in this process
    try:
        code = run()
        advance_queue()
    except Exit as e:
        return e.code
    except BrokenPipeError:  # `dispatch status | head`: the reader has what it wanted, as git's would
        try:  # the interpreter's last flush must not fail again
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 141
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
    return int(code)


def _crash_log() -> Path:
    import traceback

    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    folder = Path(base) / "dispatch"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"crash-{os.getpid()}.log"
    path.write_text(traceback.format_exc(), encoding="utf-8")
    return path


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
