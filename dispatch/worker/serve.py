"""The runner's end of a call over ssh (`dispatch runner-call`): one JSON request on stdin, run without a shell.

The request, one JSON line, names the dispatch command to run (`argv`), the folder to run it in (`cwd`, relative to
the login's home unless absolute; `~/` is read as the home), the text for its stdin (`input`), and
whether the folder is the runner's repository, to be made on first use (`init`). The command's
output and exit code are ours: ssh carries them back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any, TextIO

from dispatch import git
from dispatch.errors import DispatchError

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


def run(stream: TextIO) -> int:
    """Serve the request on the first line of STREAM; the exit code of the dispatch command it ran (0 for a
    bare `init`). The caller keeps STREAM open while it waits: its end (the connection dropped) stops the
    command, so that a `wait` nobody hears any more never takes the news it was waiting for."""
    req = parse(stream.readline())
    folder = Path(os.path.expanduser(req["cwd"])) if req["cwd"] else Path.cwd()
    if req.get("init"):
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / ".git").exists():
            git.run(["init", "-q", "-b", HOME_BRANCH, str(folder)], cwd=folder)
    if not req["argv"]:
        return 0
    if not folder.is_dir():
        raise DispatchError(f"{folder} is not a folder on this runner: the task's repository is gone")
    # -I: never import from the folder it runs in (a repository's own `dispatch/`), nor PYTHONPATH.
    proc = subprocess.Popen([sys.executable, "-I", "-m", "dispatch", *req["argv"]], cwd=folder,
                            stdin=subprocess.PIPE if req["input"] is not None else subprocess.DEVNULL)
    if proc.stdin is not None:
        threading.Thread(target=_feed, args=(proc.stdin, req["input"].encode()), daemon=True).start()
    threading.Thread(target=_stop_on_hang_up, args=(stream, proc), daemon=True).start()
    code = proc.wait()
    return code if code >= 0 else 128 - code  # killed by a signal: as a shell reports it


def _feed(pipe: IO[bytes], data: bytes) -> None:
    try:
        pipe.write(data)
        pipe.close()
    except BrokenPipeError:
        pass


def _stop_on_hang_up(stream: TextIO, proc: subprocess.Popen[bytes]) -> None:
    stream.read()  # until the caller closes it
    if proc.poll() is None:
        proc.terminate()
