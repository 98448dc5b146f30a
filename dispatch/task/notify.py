"""Telling a person, not a host: the `notify` command of the user config, run on the news they care about.

A question, a failure, a task finished, the queue empty. The command is an argv (never a shell):
it gets the kind, the task and the text as its last three arguments, and the event as JSON on
stdin. It runs detached, so no dispatch command ever waits for it, and at most RATE of them run
in any WINDOW seconds, so a burst of news does not bury the desktop. `notify = "desktop"` uses
`notify-send` on Linux and `osascript` on macOS, where present.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from dispatch.config import Config
from dispatch.repo import Repo
from dispatch.typed import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

DESKTOP = "desktop"
RATE = 10
WINDOW = 60.0
# AppleScript reads the texts from its own argv: no task text is ever part of a script.
OSASCRIPT = ["osascript", "-e", "on run argv", "-e",
             "display notification (item 2 of argv) with title (item 1 of argv)", "-e", "end run"]


def news(event: dict[str, Any]) -> tuple[str, str] | None:
    """The kind and the one line a person is told for EVENT, or None for an event they need not hear of."""
    told = _news(event)
    if told is not None and event.get("idle"):
        return told[0], told[1] + "; no worker is left running or queued"
    return told


def _news(event: dict[str, Any]) -> tuple[str, str] | None:
    task, kind = event.get("task", ""), event.get("kind")
    if kind == "question":
        first = (str(event.get("text", "")).strip().splitlines() or [""])[0]
        return "question", f"{task} asks Q{event.get('number')}: {first}"
    if kind == "blocked":
        return "failed", f"{task} cannot start: {event.get('reason', '')}"
    if kind == "idle":
        return "idle", "every worker has ended and nothing is queued"
    if kind != "exited":
        return None
    state, code = event.get("state"), event.get("code")
    if state == "done":
        return "done", f"{task} finished: every item is done"
    if state == "failed" or code:
        return "failed", f"{task} failed (exit {code})"
    if state in ("blocked", "asking"):
        return "question", f"{task} stopped on an open question"
    if state == "conflict":
        return "failed", f"{task} stopped mid-rebase with conflicts"
    return None  # stopped by the person, or ended with work left: nothing to tell


def command(cfg: Config) -> tuple[list[str], bool] | None:
    """The argv to run and whether it is the built-in desktop one, or None: not set, no desktop notifier
    here, or set by a repository file not trusted as it is now."""
    argv = list(cfg["notify"])
    if not argv:
        return None
    from dispatch.config import trust

    if cfg.from_repo("notify") and (cfg.repo_file is None or not trust.is_trusted(cfg.repo_file)):
        return None  # `dispatch new` refuses such a file until it is trusted; nothing runs meanwhile
    if argv == [DESKTOP]:
        import shutil

        if sys.platform == "darwin" and shutil.which("osascript"):
            return OSASCRIPT, True
        if shutil.which("notify-send"):
            return ["notify-send", "--app-name=dispatch"], True
        return None
    return argv, False


def notify(repo: Repo, event: dict[str, Any], cfg: Config | None = None) -> None:
    """Run the user's notify command for EVENT when it is news for a person; never blocks, never raises.
    CFG: the repository's config, when the caller has it loaded already."""
    told = news(event)
    if told is None:
        return
    try:
        if cfg is None:
            from dispatch import config

            cfg = config.load(repo.root)
        found = command(cfg)
        if found is None or not _take_a_turn(repo):
            return
        (argv, desktop), (kind, text) = found, told
        args = ["dispatch", text] if desktop else [kind, str(event.get("task", "")), text]
        proc = subprocess.Popen([*argv, *args], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)
        assert proc.stdin is not None
        try:  # far below a pipe's buffer: written at once, read or not
            proc.stdin.write(json.dumps({"kind": kind, "text": text, "event": event}, sort_keys=True).encode())
            proc.stdin.close()
        except OSError:
            pass
    except Exception:  # noqa: BLE001 - a notification is a courtesy: it must never break the command
        return


def _take_a_turn(repo: Repo) -> bool:
    """At most RATE notifications in any WINDOW seconds, across every dispatch process of the repository."""
    path = repo.state_dir / "notify.json"
    now = time.time()
    try:
        recent = [t for t in json.loads(path.read_text()) if isinstance(t, int | float) and now - t < WINDOW]
    except (OSError, ValueError, TypeError):
        recent = []
    if len(recent) >= RATE:
        return False
    tmp = path.with_name(f".notify.{os.getpid()}.tmp")
    tmp.write_text(json.dumps([*recent, now]))
    os.replace(tmp, path)
    return True
