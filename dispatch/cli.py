"""The command line's one entry (its errors become exit codes in dispatch.commands.common). Plain runs of the hot commands (`status`, `ask`,
`answer`, `conflicts`, `review`, `new`) go straight to their code (dispatch.commands.hot): importing typer and building a
command would be half of their time. Anything else, help and every mistake included, is typer's
(dispatch.commands.app), so both ways print the same."""

from __future__ import annotations

import sys

from dispatch.commands import common


def main(argv: list[str] | None = None) -> int:
    """Run one command line: 1 fixable, 2 usage, 3 bug, 130 Ctrl-C, else the command's own code."""
    args = sys.argv[1:] if argv is None else list(argv)
    return common.boundary(lambda: _run(args))


def _run(args: list[str]) -> int:
    from dispatch.commands import hot

    code = hot.run(args)
    if code is None:
        from dispatch.commands import app

        code = app.run(args)
    return code
