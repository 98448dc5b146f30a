"""The runner's end of a call over ssh (`dispatch runner-call`): one JSON request on stdin, run without a shell,
in the same process (one Python start-up per call).

The request, one JSON line, names the dispatch command to run (`argv`), the folder to run it in (`cwd`, relative to
the login's home unless absolute; `~/` is read as the home), the text for its stdin (`input`), and
whether the folder is the runner's repository, to be made on first use (`init`). The command's
output and exit code are runner-call's: ssh carries them back.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from pathlib import Path

from dispatch import git
from dispatch.errors import DispatchError
from dispatch.typed import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any, TextIO

# The runner's repository keeps its own HEAD on a branch never pushed to, so any branch may be.
HOME_BRANCH = "dispatch-runner"


def parse(text: str) -> dict[str, Any]:
    """The request, checked: every field of the type it must have."""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if (not isinstance(data, dict) or not isinstance(data.get("argv"), list)
            or not all(isinstance(w, str) for w in data["argv"])
            or not isinstance(data.get("cwd"), (str, type(None))) or not isinstance(data.get("input"), (str, type(None)))
            or not isinstance(data.get("init", False), bool)):
        raise DispatchError("runner-call reads one JSON request on stdin, as `dispatch` sends it over ssh: "
                            "it is not for use by hand")
    return data


def prepare(stream: TextIO) -> dict[str, Any] | None:
    """Read the request on the first line of STREAM and make ready to run it in this process: the repository
    made when asked (`init`), the folder entered, nothing importable from it; None for a bare `init`.

    The caller keeps STREAM open while it waits: its end (the connection dropped) ends this process and the
    command in it, so that a `wait` nobody hears any more never takes the news it was waiting for."""
    req = parse(stream.readline())
    folder = Path(os.path.expanduser(req["cwd"])) if req["cwd"] else Path.cwd()
    if req.get("init"):
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / ".git").exists():
            git.run(["init", "-q", "-b", HOME_BRANCH, str(folder)], cwd=folder)
    if not req["argv"]:
        return None
    if not folder.is_dir():
        raise DispatchError(f"{folder} is not a folder on this runner: the task's repository is gone")
    # A `python -m dispatch` started in the login's home has it first on the import path: it leaves,
    # as does '', before the folder (a repository, perhaps with a `dispatch/` of its own) is entered.
    here = os.getcwd()
    sys.path[:] = [p for p in sys.path if p not in ("", ".", here)]
    os.chdir(folder)
    threading.Thread(target=_end_on_hang_up, args=(stream,), daemon=True).start()
    return req


def _end_on_hang_up(stream: TextIO) -> None:
    stream.read()  # until the caller closes it: it does once the command has ended, or its connection drops
    os.kill(os.getpid(), signal.SIGTERM)
