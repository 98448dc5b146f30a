"""The supervisor: a detached process per worker run that prepares, runs, records and saves.

`start` (in the calling command) writes the launch spec and forks the supervisor;
`main` (in the detached process) does the rest. Nothing runs through a shell.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dispatch import clock, events, git, notify, runtime
from dispatch.usage import parse_usage
from dispatch.repo import Repo


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


def shim_dir(repo: Repo) -> Path:
    """A folder holding a `dispatch` that runs this same installation, put first on the worker's PATH."""
    folder = repo.state_dir / "bin"
    shim = folder / "dispatch"
    text = f"#!/bin/sh\nexec {_sh_quote(sys.executable)} -m dispatch \"$@\"\n"
    if not shim.exists() or shim.read_text() != text:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".dispatch.{os.getpid()}"
        tmp.write_text(text)
        tmp.chmod(0o755)
        os.replace(tmp, shim)
    return folder


def _sh_quote(path: str) -> str:
    # Our own interpreter's path, quoted for the shim's one `exec` line; never user text.
    return "'" + path.replace("'", "'\\''") + "'"


def start(repo: Repo, spec: LaunchSpec) -> int:
    """Write the spec and worker.json, fork the detached supervisor, return its pid at once."""
    task_dir = repo.task_dir(spec.task)
    task_dir.mkdir(parents=True, exist_ok=True)
    spec_path = task_dir / "launch.json"
    tmp = spec_path.with_name(f".launch.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(spec), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, spec_path)
    # The whole record is written before the fork; from then on only the supervisor writes it.
    previous = runtime.read_worker(repo, spec.task) or {}
    runtime.write_worker(repo, spec.task, {
        "phase": "starting", "run": spec.run, "model": spec.model, "backend": spec.backend,
        "requested": spec.requested, "argv": spec.argv, "started": clock.iso(time.time()), "spawned": time.time(),
        "runs": previous.get("runs", []), "budget": previous.get("budget"),
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


# ---- inside the detached supervisor -------------------------------------------------------


def _say(text: str) -> None:
    print(f"[dispatch {clock.iso(time.time())}] {text}", flush=True)


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


def _worker_env(spec: LaunchSpec, repo: Repo) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in spec.env_unset and k != "PYTHONUNBUFFERED"}
    env.update(spec.env)
    env["DISPATCH_TASK"] = spec.task
    env["DISPATCH_REPO"] = spec.main_root
    env["PATH"] = os.pathsep.join([str(shim_dir(repo)), env.get("PATH", os.defpath)])
    return env


def _in_progress_operation(worktree: Path) -> str | None:
    git_dir = Path(git.out(["rev-parse", "--absolute-git-dir"], cwd=worktree))
    for name, what in (("rebase-merge", "rebase"), ("rebase-apply", "rebase"), ("MERGE_HEAD", "merge"),
                       ("CHERRY_PICK_HEAD", "cherry-pick")):
        if (git_dir / name).exists():
            return what
    return None


def save_uncommitted(worktree: Path, exit_code: int) -> str | None:
    """Commit whatever the worker left uncommitted, so nothing it wrote is lost."""
    if not git.status_porcelain(worktree):
        return None
    operation = _in_progress_operation(worktree)
    if operation:
        _say(f"a {operation} is in progress in the worktree: leaving its changes uncommitted")
        return None
    git.run(["add", "-A"], cwd=worktree)
    git.run(["commit", "--quiet", "--no-verify", "--no-gpg-sign", "-m",
             f"dispatch: save uncommitted work (worker exit {exit_code})"], cwd=worktree)
    return git.out(["rev-parse", "HEAD"], cwd=worktree)


def main(common_dir: str, task_id: str) -> int:
    spec_path = Path(common_dir) / "dispatch" / "tasks" / task_id / "launch.json"
    spec = LaunchSpec(**json.loads(spec_path.read_text(encoding="utf-8")))
    repo = Repo(root=Path(spec.main_root), common_dir=Path(common_dir))
    worktree = Path(spec.worktree)
    me = os.getpid()
    runtime.update_worker(repo, task_id, phase="preparing", supervisor_pid=me,
                          supervisor_start=runtime.process_start_time(me))
    _say(f"run {spec.run}: model {spec.model} on backend {spec.backend}")

    if spec.prepare:
        copied = copy_included(Path(spec.main_root), worktree, spec.copy)
        if copied:
            _say("copied from the main checkout: " + ", ".join(copied))
        for command in spec.setup:
            _say("setup: " + " ".join(command))
            code = subprocess.run(command, cwd=worktree, stdin=subprocess.DEVNULL, env=_worker_env(spec, repo)).returncode
            if code != 0:
                _say(f"setup command failed with exit code {code}: the worker was not started")
                runtime.update_worker(repo, task_id, phase="exited", exit_code=code, setup_failed=True,
                                      exited=clock.iso(time.time()))
                event = events.append(repo, task_id, "exited", code=code, state="failed", reason="setup failed",
                                      run=spec.run)
                runtime.update_worker(repo, task_id, told=spec.run)  # `wait` may now say nothing is left
                _notify(repo, event)
                return 0

    sys.stdout.flush()
    log_start = os.fstat(sys.stdout.fileno()).st_size
    worker = subprocess.Popen(
        spec.argv, cwd=worktree, env=_worker_env(spec, repo),
        stdin=subprocess.PIPE if spec.stdin is not None else subprocess.DEVNULL,
        stdout=sys.stdout, stderr=sys.stderr, start_new_session=True,
    )
    began = time.time()
    runtime.update_worker(repo, task_id, phase="running", pid=worker.pid, running_since=began,
                          pid_start=runtime.process_start_time(worker.pid))
    events.append(repo, task_id, "started", model=spec.model, backend=spec.backend, run=spec.run, pid=worker.pid)

    def forward(signum: int, _frame: Any) -> None:
        # Stopping the supervisor stops its worker; it still records the exit and saves the work.
        try:
            os.killpg(worker.pid, signum)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    if spec.stdin is not None and worker.stdin is not None:
        try:
            worker.stdin.write(spec.stdin.encode())
            worker.stdin.close()
        except BrokenPipeError:
            pass
    over_budget = _wait(worker, spec, began)
    code = worker.returncode
    _say(f"worker exited with code {code}")
    saved = None
    try:
        saved = save_uncommitted(worktree, code)
        if saved:
            _say(f"saved uncommitted work as {saved[:7]}")
    except Exception as e:  # noqa: BLE001 - the exit must be recorded whatever happens here
        _say(f"could not save uncommitted work: {e}")
    ended = time.time()
    used = parse_usage(_log_since(runtime.log_path(repo, task_id), log_start))
    run = {"run": spec.run, "model": spec.model, "backend": spec.backend, "started": clock.iso(began),
           "exited": clock.iso(ended), "seconds": round(ended - began, 1), "exit_code": code, **used.to_json()}
    runs = [*(runtime.read_worker(repo, task_id) or {}).get("runs", []), run]
    extra: dict[str, Any] = {"stopped": True, "reason": over_budget} if over_budget else {}
    data = runtime.update_worker(repo, task_id, phase="exited", exit_code=code, exited=clock.iso(ended),
                                 saved=saved, runs=runs, running_since=None, **extra)
    state, stopped = _final_state(repo, task_id, data)
    event = events.append(repo, task_id, "exited", code=code, state=state, saved=saved, run=spec.run,
                          **({"in_progress": stopped} if stopped else {}))
    runtime.update_worker(repo, task_id, told=spec.run)  # `wait` may now say nothing is left
    _advance_queue(repo)
    _notify(repo, event)
    return 0


def _notify(repo: Repo, event: dict[str, Any]) -> None:
    """Tell the person of the exit, and whether it was the last worker with nothing queued: one notification."""
    from dispatch.waiting import workers_live

    idle = not workers_live(repo, [])
    if notify.news(event) is not None:
        notify.notify(repo, {**event, "idle": idle})
    elif idle:
        notify.notify(repo, {"time": event["time"], "task": "", "kind": "idle"})


def _advance_queue(repo: Repo) -> None:
    """A slot is free and a task may be done: start whatever waited for that."""
    from dispatch import config, queue

    try:
        for started in queue.advance(repo, config.load(repo.root)):
            _say(f"started queued task {started}")
    except Exception as e:  # noqa: BLE001 - the next dispatch command advances it anyway
        _say(f"could not advance the queue: {e}")


def _wait(worker: subprocess.Popen[bytes], spec: LaunchSpec, began: float, grace: float = 10.0) -> str | None:
    """Wait for the worker; stop it when it runs past its time budget. Returns why it was stopped, if it was."""
    if not spec.budget_time:
        worker.wait()
        return None
    deadline = began + max(0.0, spec.budget_time - spec.prior_seconds)
    while True:
        try:
            worker.wait(timeout=max(0.05, min(1.0, deadline - time.time())))
            return None
        except subprocess.TimeoutExpired:
            if time.time() < deadline:
                continue
        _say(f"the task used its time budget of {spec.budget_time:g}s: stopping the worker")
        for signum in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(worker.pid, signum)
            except ProcessLookupError:
                break
            try:
                worker.wait(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                continue
        return f"it used its time budget of {spec.budget_time:g}s"


def _log_since(path: Path, offset: int) -> str:
    sys.stdout.flush()
    try:
        with path.open("rb") as log:
            log.seek(offset)
            return log.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def _final_state(repo: Repo, task_id: str, data: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    """The task's state as the worker leaves it, and the rebase or merge it left unfinished, if any."""
    from dispatch import config
    from dispatch.status import collect

    try:
        status = collect(repo, config.load(repo.root), [task_id])[0]
        return status.state, status.extra.get("in_progress")
    except Exception:  # noqa: BLE001 - a state word is nice to have, the event is not optional
        return runtime.worker_state(data), None


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], sys.argv[2]))
