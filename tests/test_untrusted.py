"""A hostile repository: its own code, config and links never run or write outside its worktree untrusted."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

from conftest import dispatch, git

FAST = {"DISPATCH_SCRIPTED_DELAY": "0"}


def _state(repo: Path, task_id: str) -> str:
    return str(json.loads(dispatch("status", task_id, "--json", cwd=repo).out)["tasks"][0]["state"])


def _wait_state(repo: Path, task_id: str, *states: str, unless: Path | None = None) -> None:
    deadline = time.monotonic() + 60
    while _state(repo, task_id) not in states and not (unless is not None and unless.exists()):
        assert time.monotonic() < deadline, f"{task_id} never reached {states}"
        time.sleep(0.05)


def _last_event(repo: Path) -> dict[str, Any]:
    lines = (repo / ".git" / "dispatch" / "events.jsonl").read_text().splitlines()
    return dict(json.loads(lines[-1]))


def test_a_repository_dispatch_package_never_runs(repo: Path, tmp_path: Path) -> None:
    # A top-level `dispatch/` package in the repository: `python -m dispatch...` run with the worktree as
    # its working directory would import it instead of ours, with no trust asked.
    marker = tmp_path / "IMPORTED"
    evil = repo / "dispatch"
    evil.mkdir()
    code = f"import pathlib\npathlib.Path({str(marker)!r}).write_text('imported from the worktree\\n')\n"
    for name in ("__init__.py", "__main__.py", "supervisor.py", "scripted.py"):
        (evil / name).write_text(code)
    git(repo, "add", "dispatch")
    git(repo, "commit", "-qm", "a package named dispatch")
    r = dispatch("new", "Greet", "--model", "scripted", "--item", "Write `hello.txt`", cwd=repo, env=FAST)
    assert (r.code, r.err) == (0, "")
    _wait_state(repo, "greet", "done", "failed", unless=marker)
    assert not marker.exists()
    wt = tmp_path / "work" / "app.dispatch" / "greet"
    # The worker's `dispatch` shim, run from inside the worktree as a worker runs it.
    shim = repo / ".git" / "dispatch" / "bin" / "dispatch"
    version = subprocess.run([str(shim), "--version"], cwd=wt, capture_output=True, text=True)
    from dispatch import __version__

    assert (version.returncode, version.stdout, version.stderr) == (0, f"dispatch {__version__}\n", "")
    assert not marker.exists()
    assert (_state(repo, "greet"), (wt / "hello.txt").read_text()) == ("done", "Write `hello.txt`\n")
