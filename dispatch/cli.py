"""The command line's one entry (its errors become exit codes in dispatch.commands.common). Plain runs of the hot commands (`status`, `ask`,
`answer`, `conflicts`, `review`, `new`) go straight to their code (dispatch.commands.hot): importing typer and building a
command would be half of their time. Anything else, help and every mistake included, is typer's
(dispatch.commands.app), so both ways print the same. A plain `status` has its first git processes started
before anything else loads (dispatch.prefetch)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Run one command line: 1 fixable, 2 usage, 3 bug, 130 Ctrl-C, else the command's own code."""
    args = sys.argv[1:] if argv is None else list(argv)
    started = _prefetch(args)
    from dispatch.commands import common

    try:
        return common.boundary(lambda: _run(args))
    finally:
        if started:
            from dispatch import prefetch

            prefetch.stop()


def _prefetch(args: list[str]) -> bool:
    """For `status [--json] [ID...]`: its listing started now, and without IDs `git status` in every task's worktree."""
    if not args or args[0] not in ("status", "ls") or any(a.startswith("-") and a != "--json" for a in args[1:]):
        return False
    import os

    from dispatch import prefetch

    prefetch.start(statuses=all(a == "--json" for a in args[1:]), limit=2 * (os.cpu_count() or 2))
    return True


def _run(args: list[str]) -> int:
    from dispatch.commands import hot

    code = hot.run(args)
    if code is None:
        from dispatch.commands import app

        code = app.run(args)
    return code
