"""Starting a worker run, in the calling command: the launch spec, the shim on the worker's PATH,
the files copied into a new worktree, and the fork of the detached supervisor (dispatch.supervisor).

Nothing runs through a shell.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from dispatch import clock, files
from dispatch.repo import Repo
from dispatch.task import runtime


@dataclass
class LaunchSpec:
    """Everything the supervisor needs, resolved (and trust-checked) by the command that starts it."""

    task: str
    run: int
    worktree: str
    main_root: str
    argv: list[str]
    stdin: str | None
    env: dict[str, str]
    env_unset: list[str]
    model: str
    backend: str
    requested: str = ""
    budget_time: float = 0.0  # seconds over all runs; 0 = none
    budget_cost: float = 0.0  # USD over all runs, where the CLI reports cost; 0 = none
    prior_seconds: float = 0.0  # what earlier runs used
    copy: list[str] = field(default_factory=list)
    setup: list[list[str]] = field(default_factory=list)
    prepare: bool = True
    sandbox: str = "off"  # "bwrap": confined (dispatch.worker.sandbox), "off": not
    wrapper: list[str] = field(default_factory=list)  # the bwrap command line the argv goes after
    branch: str = ""  # the task's branch (full ref): a confined worker's uncommitted work is saved only on it


def shim_dir(repo: Repo) -> Path:
    """A folder holding a `dispatch` that runs this same installation, put first on the worker's PATH."""
    folder = repo.state_dir / "bin"
    shim = folder / "dispatch"
    text = f"#!/bin/sh\nexec {_sh_quote(sys.executable)} -m dispatch \"$@\"\n"
    if not shim.exists() or shim.read_text() != text:
        files.write_atomic(shim, text, mode=0o755)
    return folder


def _sh_quote(path: str) -> str:
    # Our own interpreter's path, quoted for the shim's one `exec` line; never user text.
    return "'" + path.replace("'", "'\\''") + "'"


def start(repo: Repo, spec: LaunchSpec) -> int:
    """Write the spec and worker.json, fork the detached supervisor, return its pid at once."""
    # The backend's env may hold API tokens: readable by the user alone.
    files.write_atomic(repo.task_dir(spec.task) / "launch.json", json.dumps(asdict(spec), indent=2) + "\n", mode=0o600)
    # The whole record is written before the fork; from then on only the supervisor writes it.
    previous = runtime.read_worker(repo, spec.task) or {}
    runtime.write_worker(repo, spec.task, {
        "phase": "starting", "run": spec.run, "model": spec.model, "backend": spec.backend,
        "requested": spec.requested, "argv": spec.argv, "sandbox": spec.sandbox, "started": clock.iso(time.time()), "spawned": time.time(),
        "runs": previous.get("runs", []), "budget": previous.get("budget"), "sandbox_flag": previous.get("sandbox_flag"),
    })
    with open(runtime.log_path(repo, spec.task), "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dispatch.supervisor", str(repo.common_dir), spec.task],
            cwd=spec.worktree,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            close_fds=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    return proc.pid


def copy_included(main_root: Path, worktree: Path, patterns: list[str]) -> list[str]:
    """Copy files named by `.worktreeinclude` and the config's copy list that the worktree lacks."""
    include = main_root / ".worktreeinclude"
    if include.is_file():
        patterns = patterns + [
            line.strip() for line in include.read_text(encoding="utf-8", errors="replace").splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        ]
    if not patterns:
        return []
    copied = []
    for path in _walk(main_root):
        rel = path.relative_to(main_root).as_posix()
        if any(_matches(rel, p) for p in patterns):
            target = worktree / rel
            if target.exists() or target.is_symlink():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target, follow_symlinks=False)
            copied.append(rel)
    return copied


def _walk(root: Path) -> list[Path]:
    files = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".git"]
        files += [Path(folder) / n for n in names]
    return files


def _matches(rel: str, pattern: str) -> bool:
    pattern = pattern.strip().lstrip("/")
    if pattern.endswith("/"):
        return rel.startswith(pattern)
    return fnmatch.fnmatch(rel, pattern) or fnmatch.fnmatch(rel.rsplit("/", 1)[-1], pattern) and "/" not in pattern
