"""`status --watch`: the status table redrawn in place (rich Live) as tasks move, until Ctrl-C."""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable

from dispatch import clock
from dispatch.config import Config
from dispatch.errors import DispatchError, UsageError
from dispatch.repo import Repo
from dispatch.typed import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

    # What makes the rows: status.collect, or the command's own, which adds the facts of tasks on runners.
    Listing = Callable[[Repo, Config, list[str]], list[Any]]

# How each kind of line (table.status_lines) is drawn: questions and finished tasks stand out.
STYLES = {
    "header": "bold", "group": "bold cyan",
    "asking": "bold yellow", "blocked": "bold yellow", "question": "bold yellow",
    "done": "bold green", "merged": "green",
    "failed": "bold red", "broken": "bold red", "conflict": "red",
    "queued": "dim", "idle": "", "running": "", "summary": "bold", "unreachable": "bold red",
}
STATE_ORDER = ("preparing", "running", "asking", "blocked", "conflict", "failed", "stopped", "queued", "idle", "done",
               "merged", "unreachable", "broken")


def check_options(*, watch: bool, interval: float | None, json_out: bool) -> None:
    """Refuse, before anything else, what --watch cannot do: no terminal, --json, a bad interval."""
    if not watch:
        raise UsageError("--interval goes with --watch")
    if json_out:
        raise UsageError("--watch draws for people: `dispatch status --json` prints once, `dispatch wait` blocks "
                         "until there is news")
    if interval is not None and not interval > 0:
        raise UsageError("--interval must be more than 0 seconds")
    if not sys.stdout.isatty():
        raise DispatchError("status --watch redraws a terminal, and stdout is not one: use `dispatch wait`, "
                            "which blocks until a task needs you")


def watch(repo: Repo, cfg: Config, ids: list[str], *, interval: float, listing: Listing | None = None) -> None:
    """Redraw every INTERVAL seconds until Ctrl-C, which ends it quietly (exit 0) with the last table left on screen.

    LISTING makes the rows (default: `status.collect`); the command's own adds the tasks on runners."""
    from rich.console import Console
    from rich.live import Live

    from dispatch.output import use_color

    # Without colour (NO_COLOR, TERM=dumb) no style at all, as everywhere else in dispatch.
    console = Console(highlight=False, color_system="auto" if use_color() else None)
    try:
        with Live(frame(repo, cfg, ids, width=console.width, listing=listing), console=console, auto_refresh=False,
                  redirect_stdout=False, redirect_stderr=False) as live:
            while True:
                time.sleep(interval)
                live.update(frame(repo, cfg, ids, width=console.width, listing=listing), refresh=True)
    except KeyboardInterrupt:
        pass


def frame(repo: Repo, cfg: Config, ids: list[str], *, width: int | None = None, listing: Listing | None = None) -> Any:
    """One drawing: a line of counts and the time, then the status table with its notes."""
    from rich.text import Text

    from dispatch.task.status import collect
    from dispatch.task.table import status_lines

    text = Text(no_wrap=True, overflow="ellipsis")
    try:
        tasks = (listing or collect)(repo, cfg, ids)
    except DispatchError as e:  # a task removed under us, a git hiccup: say so and try again next time
        text.append(f"could not read the tasks: {e}", style="bold red")
        return text
    counts = Counter(t.state for t in tasks)
    summary = ", ".join(f"{counts[s]} {s}" for s in sorted(counts, key=_state_rank))
    head = f"{len(tasks)} task{'' if len(tasks) == 1 else 's'}" + (f": {summary}" if summary else "")
    text.append(f"{head} · {time.strftime('%H:%M:%S', time.localtime(clock.now()))} · Ctrl-C to stop\n\n",
                style="dim")
    if not tasks:
        text.append('no tasks yet: `dispatch new "what to do"` creates one')
    for i, (line, kind) in enumerate(status_lines(tasks, width) if tasks else []):
        text.append(("\n" if i else "") + line, style=STYLES.get(kind, ""))
    return text


def _state_rank(state: str) -> int:
    return STATE_ORDER.index(state) if state in STATE_ORDER else len(STATE_ORDER)
