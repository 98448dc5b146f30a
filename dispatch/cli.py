"""The command line's one entry (its errors become exit codes in dispatch.commands.common). Plain runs of the hot commands (`status`, `ask`,
`answer`, `conflicts`, `review`, `new`) go straight to their code (dispatch.commands.hot): importing typer and building a
command would be half of their time. Anything else, help and every mistake included, is typer's
(dispatch.commands.app), so both ways print the same. A command that begins by listing the tasks has that
listing started before anything else loads (dispatch.prefetch)."""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # (not dispatch.typed's: nothing is imported before the prefetch starts)
if TYPE_CHECKING:
    from typing import Any


def run() -> None:
    """The console scripts' and `python -m dispatch`'s entry: `main`, then out at once. The interpreter's own
    shutdown (every module and object freed, one by one) took 10 ms of a 100 ms `status` or `review`; with
    the output flushed, no thread but this one, and nothing registered to run at exit, it has nothing to do
    that the kernel does not do for us. Otherwise (a flush that fails, a pipe closed under us: Python reports
    it as ever) the usual way out."""
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        raise SystemExit(code) from None
    import atexit
    import os

    # (threading not imported: no thread of its kind runs; ours of _thread's, the prefetch's ended and a
    # review's diff reader, only read what git wrote)
    threading = sys.modules.get("threading")
    if (threading is not None and threading.active_count() > 1) or atexit._ncallbacks() > 0:
        raise SystemExit(code)
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    """Run one command line: 1 fixable, 2 usage, 3 bug, 130 Ctrl-C, else the command's own code."""
    args = sys.argv[1:] if argv is None else list(argv)
    started = _prefetch(args)
    _pathlib_alone()
    from dispatch.commands import common

    try:
        return common.boundary(lambda: _run(args))
    finally:
        if started:
            from dispatch import prefetch

            prefetch.stop()


def _pathlib_alone() -> None:
    """pathlib imported without urllib.parse (and ipaddress with it): 3 ms of every command's start, for
    `Path.as_uri` alone, which nothing of ours calls. While pathlib loads, `urllib.parse` is a stand-in whose
    `quote_from_bytes` imports the real one when called (any other name asked of it imports the real one at
    once); then the stand-in goes, and whoever imports urllib.parse after gets the real module."""
    if "pathlib" in sys.modules or "urllib.parse" in sys.modules:
        return

    def quote_from_bytes(*args: Any, **kwargs: Any) -> str:
        from urllib.parse import quote_from_bytes as real

        return real(*args, **kwargs)

    def real_one(name: str) -> Any:
        if name.startswith("__"):  # (the import system asks whether it is a package: it is not)
            raise AttributeError(name)
        if sys.modules.get("urllib.parse") is stand_in:  # (a module that kept the stand-in asks again later)
            del sys.modules["urllib.parse"]
        import urllib.parse

        return getattr(urllib.parse, name)

    stand_in = type(sys)("urllib.parse")
    stand_in.quote_from_bytes = quote_from_bytes  # type: ignore[attr-defined]
    stand_in.__getattr__ = real_one  # type: ignore[method-assign]
    sys.modules["urllib.parse"] = stand_in
    # ntpath (pathlib's, for PureWindowsPath) tries Windows' own modules six times: each a search of every
    # folder on sys.path that finds nothing, 0.4 ms in all. Off Windows, they are known absent meanwhile.
    absent = [] if sys.platform == "win32" else [name for name in ("nt", "_winapi") if name not in sys.modules]
    for name in absent:
        sys.modules[name] = None  # type: ignore[assignment]  # (the import system's mark: no such module)
    try:
        import pathlib  # noqa: F401
    finally:
        if sys.modules.get("urllib.parse") is stand_in:
            del sys.modules["urllib.parse"]
        for name in absent:
            if sys.modules.get(name, False) is None:
                del sys.modules[name]


# The commands that begin by listing the repository's task branches and worktrees, as `status` does.
_LISTING = ("status", "ls", "ask", "answer", "review", "diff", "conflicts", "show")


def _prefetch(args: list[str]) -> bool:
    """For a command that begins by listing the tasks: that listing started now; for a plain `status`
    without ids, `git status` in every task's worktree too; for `new` without --base, its base."""
    if not args or args[0] not in (*_LISTING, "new") or "--help" in args or "-h" in args:
        return False
    import os

    from dispatch import prefetch

    if args[0] == "new":
        if any(a == "--base" or a.startswith("--base=") for a in args):
            return False
        prefetch.start_base()
        return True

    plain_status = args[0] in ("status", "ls") and all(a == "--json" for a in args[1:])
    named = [a for a in args[1:] if not a.startswith("-")]
    review = args[0] in ("review", "diff") and len(named) == 1 and all(
        a in ("--stat", "--patch", "--files", "--json") for a in args[1:] if a.startswith("-"))
    prefetch.start(statuses=plain_status, limit=2 * (os.cpu_count() or 2), review=named[0] if review else None)
    return True


def _run(args: list[str]) -> int:
    from dispatch.commands import hot

    code = hot.run(args)
    if code is None:
        from dispatch.commands import app

        code = app.run(args)
    return code
