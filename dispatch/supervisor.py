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
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from dispatch import clock, events, git, runtime
from dispatch.faults import checkpoint
from dispatch.files import is_disk_full
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
    # -I (isolated): the worker runs it inside its worktree, and plain `-m` would put that folder, with
    # any `dispatch/` package of the repository's own, first on sys.path.
    text = f"#!/bin/sh\nexec {_sh_quote(sys.executable)} -I -m dispatch \"$@\"\n"
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
    # It holds the backend's env (API tokens): private, and deleted by the supervisor once read.
    runtime.write_private(repo.task_dir(spec.task) / "launch.json", json.dumps(asdict(spec), indent=2) + "\n")
    checkpoint("start:spec")
    # The whole record is written before the fork; from then on only the supervisor writes it.
    previous = runtime.read_worker(repo, spec.task) or {}
    runtime.write_worker(repo, spec.task, {
        "phase": "starting", "run": spec.run, "model": spec.model, "backend": spec.backend,
        "requested": spec.requested, "argv": spec.argv, "started": clock.iso(time.time()), "spawned": time.time(),
        "runs": previous.get("runs", []), "budget": previous.get("budget"),
    })
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


# ---- inside the detached supervisor -------------------------------------------------------


def _say(text: str) -> None:
    try:
        print(f"[dispatch {clock.iso(time.time())}] {text}", flush=True)
    except OSError:
        pass  # a full disk: the log line is lost, the work the supervisor does is not


T = TypeVar("T")


def _durably(what: str, folder: Path, action: Callable[[], T], pause: float = 1.0) -> T:
    """ACTION, tried again while the disk is full: a worker's end is recorded as it was, and its work saved,
    once there is space again; a traceback would lose both."""
    since = None
    while True:
        try:
            result = action()
        except Exception as e:
            if not is_disk_full(e):
                raise
            if since is None:
                since = time.time()
                _say(f"no space left on the device holding {folder}: waiting for free space to {what}")
            time.sleep(pause)
            continue
        if since is not None:
            _say(f"there was no space left on the device holding {folder} for {time.time() - since:.0f}s: "
                 f"then could {what}")
        return result


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
    if skipped:
        _say("not copied, as a symlink or file in the worktree stands where its folder goes: " + ", ".join(skipped))
    return copied


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


def _worker_env(spec: LaunchSpec, repo: Repo) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in spec.env_unset and k != "PYTHONUNBUFFERED"}
    env.update(spec.env)
    env["DISPATCH_TASK"] = spec.task
    env["DISPATCH_REPO"] = spec.main_root
    env["PATH"] = os.pathsep.join([str(shim_dir(repo)), env.get("PATH", os.defpath)])
    return env


def save_uncommitted(worktree: Path, exit_code: int) -> str | None:
    """Commit whatever the worker left uncommitted, so nothing it wrote is lost."""
    if not git.status_porcelain(worktree):
        return None
    operation = git.in_progress(worktree)
    if operation:
        _say(f"a {operation} is in progress in the worktree: leaving its changes uncommitted")
        return None
    git.run(["add", "-A"], cwd=worktree)
    if git.ok(["diff", "--cached", "--quiet"], cwd=worktree):
        return None  # the index only lagged behind the branch (a QUESTIONS.md committed from objects)
    git.run(["commit", "--quiet", "--no-verify", "--no-gpg-sign", "-m",
             f"dispatch: save uncommitted work (worker exit {exit_code})"], cwd=worktree)
    return git.out(["rev-parse", "HEAD"], cwd=worktree)


def main(common_dir: str, task_id: str) -> int:
    spec_path = Path(common_dir) / "dispatch" / "tasks" / task_id / "launch.json"
    spec = LaunchSpec(**json.loads(spec_path.read_text(encoding="utf-8")))
    spec_path.unlink()  # the environment it holds lives on in this process only
    repo = Repo(root=Path(spec.main_root), common_dir=Path(common_dir))
    worktree = Path(spec.worktree)
    me = os.getpid()
    state = repo.task_dir(task_id)
    _durably("record that the worker is being prepared", state, lambda: runtime.update_worker(
        repo, task_id, phase="preparing", supervisor_pid=me, supervisor_start=runtime.process_start_time(me)))
    _say(f"run {spec.run}: model {spec.model} on backend {spec.backend}")

    if spec.prepare:
        copied = _durably("copy the included files", worktree,
                          lambda: copy_included(Path(spec.main_root), worktree, spec.copy))
        if copied:
            _say("copied from the main checkout: " + ", ".join(copied))
        for command in spec.setup:
            _say("setup: " + " ".join(command))
            code = subprocess.run(command, cwd=worktree, stdin=subprocess.DEVNULL, env=_worker_env(spec, repo)).returncode
            if code != 0:
                _say(f"setup command failed with exit code {code}: the worker was not started")
                runtime.update_worker(repo, task_id, phase="exited", exit_code=code, setup_failed=True,
                                      exited=clock.iso(time.time()))
                events.append(repo, task_id, "exited", code=code, state="failed", reason="setup failed",
                              run=spec.run)
                return 0

    sys.stdout.flush()
    log_start = os.fstat(sys.stdout.fileno()).st_size
    worker = subprocess.Popen(
        spec.argv, cwd=worktree, env=_worker_env(spec, repo),
        stdin=subprocess.PIPE if spec.stdin is not None else subprocess.DEVNULL,
        stdout=sys.stdout, stderr=sys.stderr, start_new_session=True,
    )
    began = time.time()
    _durably("record that the worker started", state, lambda: runtime.update_worker(
        repo, task_id, phase="running", pid=worker.pid, running_since=began,
        pid_start=runtime.process_start_time(worker.pid)))
    _durably("record that the worker started", state, lambda: events.append(
        repo, task_id, "started", model=spec.model, backend=spec.backend, run=spec.run, pid=worker.pid))

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
    ended = time.time()
    _say(f"worker exited with code {code}")
    saved = None
    try:
        saved = _durably("commit the work it left uncommitted", worktree, lambda: save_uncommitted(worktree, code))
        if saved:
            _say(f"saved uncommitted work as {saved[:7]}")
    except Exception as e:  # noqa: BLE001 - the exit must be recorded whatever happens here
        _say(f"could not save uncommitted work: {e}")
    used = parse_usage(_log_since(runtime.log_path(repo, task_id), log_start))
    run = {"run": spec.run, "model": spec.model, "backend": spec.backend, "started": clock.iso(began),
           "exited": clock.iso(ended), "seconds": round(ended - began, 1), "exit_code": code, **used.to_json()}
    runs = [*(runtime.read_worker(repo, task_id) or {}).get("runs", []), run]
    extra: dict[str, Any] = {"stopped": True, "reason": over_budget} if over_budget else {}
    data = _durably(f"record the worker's exit code {code}", state, lambda: runtime.update_worker(
        repo, task_id, phase="exited", exit_code=code, exited=clock.iso(ended), saved=saved, runs=runs,
        running_since=None, **extra))
    _durably(f"record the worker's exit code {code}", state, lambda: events.append(
        repo, task_id, "exited", code=code, state=_final_state(repo, task_id, data), saved=saved, run=spec.run))
    _advance_queue(repo)
    return 0


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


def _final_state(repo: Repo, task_id: str, data: dict[str, Any]) -> str:
    from dispatch import config
    from dispatch.status import collect

    try:
        return collect(repo, config.load(repo.root), [task_id])[0].state
    except Exception:  # noqa: BLE001 - a state word is nice to have, the event is not optional
        return runtime.worker_state(data)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], sys.argv[2]))
