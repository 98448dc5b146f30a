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

from dispatch import clock, files, slurm
from dispatch.errors import DispatchError
from dispatch.faults import checkpoint
from dispatch.repo import Repo
from dispatch.task import runtime
from dispatch.typed import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any


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
    fails_on: list[str] = field(default_factory=list)  # the backend's: see supervisor._reported_failure
    sandbox: str = "off"  # "bwrap": confined (dispatch.worker.sandbox), "off": not
    wrapper: list[str] = field(default_factory=list)  # the bwrap command line the argv goes after
    branch: str = ""  # the task's branch (full ref): a confined worker's uncommitted work is saved only on it


def shim_dir(repo: Repo, task_id: str) -> Path:
    """A folder holding a `dispatch` that runs this same installation, put first on the worker's PATH.

    One per task, read-only, in the task's runtime folder: no worker can change the `dispatch` another
    one runs, and a confined worker not even its own (the runtime folder is out of its reach).
    """
    folder = repo.task_dir(task_id) / "bin"
    shim = folder / "dispatch"
    # -I (isolated): the worker runs it inside its worktree, and plain `-m` would put that folder, with
    # any `dispatch/` package of the repository's own, first on sys.path.
    text = f"#!/bin/sh\nexec {_sh_quote(sys.executable)} -I -m dispatch \"$@\"\n"
    if not shim.exists() or shim.read_text() != text or shim.stat().st_mode & 0o777 != 0o555:
        files.write_atomic(shim, text, mode=0o555)
    return folder


def _sh_quote(path: str) -> str:
    # Our own interpreter's path, quoted for the shim's one `exec` line; never user text.
    return "'" + path.replace("'", "'\\''") + "'"


def start(repo: Repo, spec: LaunchSpec) -> int:
    """Write the spec and worker.json, fork the detached supervisor, return its pid at once."""
    # It holds the backend's env (API tokens): private, and deleted by the supervisor once read.
    runtime.write_private(repo.task_dir(spec.task) / "launch.json", json.dumps(asdict(spec), indent=2) + "\n")
    checkpoint("start:spec")
    # The whole record is written before the fork; from then on only the supervisor writes it.
    previous = runtime.read_worker(repo, spec.task) or {}
    runtime.write_worker(repo, spec.task, {
        "phase": "starting", "run": spec.run, "model": spec.model, "backend": spec.backend,
        "requested": spec.requested, "argv": spec.argv, "sandbox": spec.sandbox, "started": clock.iso(time.time()), "spawned": time.time(),
        "runs": previous.get("runs", []), "budget": previous.get("budget"), "sandbox_flag": previous.get("sandbox_flag"),
        "engine": previous.get("engine"),
    })
    engine = previous.get("engine")
    if engine:  # a Slurm runner: the supervisor runs as a batch job, its id recorded as a pid is
        job = slurm.submit(_job_script(repo), [sys.executable, str(repo.common_dir), spec.task],
                           options=engine.get("sbatch", []), chdir=Path(spec.worktree),
                           output=runtime.log_path(repo, spec.task), name=f"dispatch-{spec.task}")
        runtime.update_worker(repo, spec.task, job=job)
        return 0
    with open(runtime.log_path(repo, spec.task), "ab") as log:
        proc = subprocess.Popen(
            # -I: never import from the worktree (its cwd) or PYTHONPATH; -u as -I ignores PYTHONUNBUFFERED.
            [sys.executable, "-I", "-u", "-m", "dispatch.supervisor", str(repo.common_dir), spec.task],
            cwd=spec.worktree,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            close_fds=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    return proc.pid


def _job_script(repo: Repo) -> Path:
    """The batch script: the supervisor, run by the interpreter, common dir and task given as its arguments."""
    script = repo.state_dir / "bin" / "slurm-job"
    # -I: never import from the worktree (its cwd) or PYTHONPATH; -u as -I ignores PYTHONUNBUFFERED.
    text = '#!/bin/sh\n# dispatch: the supervisor of one worker run, as a Slurm batch job\nexec "$1" -I -u -m dispatch.supervisor "$2" "$3"\n'
    if not script.exists() or script.read_text() != text:
        files.write_atomic(script, text, mode=0o755)
    return script


def check_engine(repo: Repo, engine: dict[str, Any]) -> None:
    """Before a task is made for a Slurm runner: Slurm would take its job (sbatch --test-only)."""
    slurm.submit(_job_script(repo), [], options=engine.get("sbatch", []), chdir=repo.root, output=Path(os.devnull),
                 name="dispatch-check", test_only=True)


def engine_of(name: str, runner: dict[str, Any]) -> dict[str, Any]:
    """What launches Slurm runner NAME's workers (recorded in worker.json, so that resume does the same)."""
    return {"kind": "slurm", "runner": name, "sbatch": [str(a) for a in runner.get("sbatch", [])]}


def parse_engine(text: str) -> dict[str, Any]:
    """`new --engine JSON` (sent by the dispatch that submits over ssh): checked, or one line of what is wrong."""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if (not isinstance(data, dict) or data.get("kind") != "slurm" or not isinstance(data.get("runner"), str)
            or not isinstance(data.get("sbatch"), list) or not all(isinstance(a, str) for a in data["sbatch"])):
        raise DispatchError('--engine takes {"kind": "slurm", "runner": NAME, "sbatch": [OPTIONS]}: '
                            "dispatch sends it to a Slurm runner")
    return engine_of(data["runner"], data)


def copy_included(main_root: Path, worktree: Path, patterns: list[str]) -> tuple[list[str], list[str]]:
    """Copy files named by `.worktreeinclude` and the config's copy list that the worktree lacks.

    Returns what was copied and what was skipped: a file whose folder in the worktree is a link (or a
    file) would be written through it, perhaps out of the worktree.
    """
    include = main_root / ".worktreeinclude"
    if include.is_file():
        patterns = patterns + [
            line.strip() for line in include.read_text(encoding="utf-8", errors="replace").splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        ]
    if not patterns:
        return [], []
    copied, skipped = [], []
    for path in _walk(main_root):  # never enters a linked folder: nothing is read through a link
        rel = path.relative_to(main_root).as_posix()
        if any(_matches(rel, p) for p in patterns):
            target = worktree / rel
            if target.exists() or target.is_symlink():
                continue
            if not _real_folders(worktree, rel):
                skipped.append(rel)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                shutil.copy2(path, target, follow_symlinks=False)  # a link is copied as the link, not followed
            except BaseException:
                target.unlink(missing_ok=True)  # half a file would pass for the copy next time
                raise
            copied.append(rel)
    return copied, skipped


def _real_folders(worktree: Path, rel: str) -> bool:
    """Each folder on the way to REL in WORKTREE is a real folder or absent, never a link that could lead out."""
    folder = worktree
    for part in rel.split("/")[:-1]:
        folder = folder / part
        if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
            return False
    return True


def _walk(root: Path) -> list[Path]:
    files = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != ".git")
        files += [Path(folder) / n for n in sorted(names)]
    return files


def _matches(rel: str, pattern: str) -> bool:
    pattern = pattern.strip().lstrip("/")
    if pattern.endswith("/"):
        return rel.startswith(pattern)
    return fnmatch.fnmatch(rel, pattern) or fnmatch.fnmatch(rel.rsplit("/", 1)[-1], pattern) and "/" not in pattern
