"""The supervisor: the detached process of one worker run, an entry point like cli.py.

`dispatch.launch.start` (in the calling command) writes the launch spec and forks this;
`main` prepares the worktree, runs the worker, records its exit and usage, saves what it
left uncommitted and advances the queue. Nothing runs through a shell.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from dispatch import clock, events, git, operations
from dispatch.files import is_disk_full
from dispatch.repo import Repo
from dispatch.task import notify, runtime
from dispatch.task.branchview import BranchView
from dispatch.task.model import save_uncommitted
from dispatch.task.usage import parse_usage
from dispatch.worker import sandbox, tending
from dispatch.worker.launch import LaunchSpec, copy_included, shim_dir


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


def _worker_env(spec: LaunchSpec, repo: Repo) -> dict[str, str]:
    """The worker's environment: ours less what the backend unsets, plus its own, in its worktree.

    PWD names the worktree because some CLIs (opencode) take their folder from $PWD rather than
    from the real working directory; the caller's PWD would point them at the main checkout.
    """
    env = {k: v for k, v in os.environ.items() if k not in spec.env_unset and k != "PYTHONUNBUFFERED"}
    env.update(spec.env)
    env["PWD"] = spec.worktree
    env["DISPATCH_TASK"] = spec.task
    env["DISPATCH_REPO"] = spec.main_root
    env["PATH"] = os.pathsep.join([str(shim_dir(repo, spec.task)), env.get("PATH", os.defpath)])
    return env


def main(common_dir: str, task_id: str) -> int:
    spec_path = Path(common_dir) / "dispatch" / "tasks" / task_id / "launch.json"
    spec = LaunchSpec(**json.loads(spec_path.read_text(encoding="utf-8")))
    spec_path.unlink()  # the environment it holds lives on in this process only
    repo = Repo(root=Path(spec.main_root), common_dir=Path(common_dir))
    worktree = Path(spec.worktree)
    me = os.getpid()
    state = repo.task_dir(task_id)
    _durably("record that the worker is being prepared", state, lambda: runtime.update_worker(
        repo, task_id, phase="preparing", supervisor_pid=me, supervisor_start=runtime.process_start_time(me),
        supervisor_ns=runtime.pid_namespace()))
    _say(f"run {spec.run}: model {spec.model} on backend {spec.backend}")

    if spec.prepare and not _prepare(repo, spec, worktree):
        return 0

    sys.stdout.flush()
    log_start = os.fstat(sys.stdout.fileno()).st_size
    head_before = _head(worktree)
    questions = tending.Questions(repo, task_id, _say)  # before the worker starts: none of its own is missed
    signalled: list[int] = []  # a stop signal from outside dispatch (`scancel`, `kill`) ends the run `stopped`
    # A confined worker's branch: in a folder of its own, synced with the real one (dispatch.task.branchview).
    view = BranchView(repo.root, repo.common_dir, task_id, spec.branch) if spec.wrapper else None
    for attempt in range(1, SETUP_TRIES + 1):
        tried_from = os.fstat(sys.stdout.fileno()).st_size
        if view is not None and (said := _durably("prepare the folder of the worker's branch", state, view.seed)):
            _say(said)
        worker, began = _start(repo, spec, worktree, signalled)
        with view.syncing(_say) if view is not None else contextlib.nullcontext():
            over_budget = _wait(worker, spec, began, questions.look)
        if not spec.wrapper or signalled or attempt == SETUP_TRIES or not sandbox.setup_failed(
                worker.returncode, _log_since(runtime.log_path(repo, task_id), tried_from)):
            break
        # Its worker never ran: a folder bwrap mounts (its branch's, pruned by a `git pack-refs`) went. Again.
        _say("the sandbox could not be set up (a folder it mounts was removed meanwhile): starting it again")
        time.sleep(0.1 * attempt)
    questions.look()  # one asked since the last look is told before the exit
    code = sandbox.exit_code(worker.returncode) if spec.wrapper else worker.returncode
    ended = time.time()
    _say(f"worker exited with code {code}")
    saved = _save(spec, worktree, code)
    if spec.wrapper:
        _pack(worktree, "its commits' objects")  # out of reach of the confined workers still running
    output = _log_since(runtime.log_path(repo, task_id), log_start)
    used = parse_usage(output)
    failure = _reported_failure(spec, output) if code == 0 and not saved and _head(worktree) == head_before else None
    if failure:
        _say(f"the worker exited with code 0 having changed nothing, after reporting: {failure}")
    run = {"run": spec.run, "model": spec.model, "backend": spec.backend, "started": clock.iso(began),
           "exited": clock.iso(ended), "seconds": round(ended - began, 1), "exit_code": code, **used.to_json()}
    runs = [*(runtime.read_worker(repo, task_id) or {}).get("runs", []), run]
    extra: dict[str, Any] = {"stopped": True, "reason": over_budget} if over_budget else {}
    if signalled and not over_budget:
        extra["stopped"] = True
    if failure:
        extra["failed_on"] = failure
    data = _durably(f"record the worker's exit code {code}", state, lambda: runtime.update_worker(
        repo, task_id, phase="exited", exit_code=code, exited=clock.iso(ended), saved=saved, runs=runs,
        running_since=None, **extra))
    final, stopped = _final_state(repo, task_id, data)
    event = _durably(f"record the worker's exit code {code}", state, lambda: events.append(
        repo, task_id, "exited", code=code, state=final, saved=saved, run=spec.run,
        **({"in_progress": stopped} if stopped else {})))
    runtime.update_worker(repo, task_id, told=spec.run)  # `wait` may now say nothing is left
    tending.advance_queue(repo, _say)
    _notify(repo, event)
    return 0


def _prepare(repo: Repo, spec: LaunchSpec, worktree: Path) -> bool:
    """Copy the included files and run the setup commands; False (recorded and told) when one failed."""
    copied, skipped = _durably("copy the included files", worktree,
                               lambda: copy_included(Path(spec.main_root), worktree, spec.copy))
    if skipped:
        _say("not copied, as a symlink or file in the worktree stands where its folder goes: " + ", ".join(skipped))
    if copied:
        _say("copied from the main checkout: " + ", ".join(copied))
    for command in spec.setup:
        _say("setup: " + " ".join(command))
        code = subprocess.run(command, check=False, cwd=worktree, stdin=subprocess.DEVNULL, env=_worker_env(spec, repo)).returncode
        if code != 0:
            _say(f"setup command failed with exit code {code}: the worker was not started")
            runtime.update_worker(repo, spec.task, phase="exited", exit_code=code, setup_failed=True,
                                  exited=clock.iso(time.time()))
            event = events.append(repo, spec.task, "exited", code=code, state="failed", reason="setup failed",
                                  run=spec.run)
            runtime.update_worker(repo, spec.task, told=spec.run)  # `wait` may now say nothing is left
            _notify(repo, event)
            return False
    return True


# bwrap mounts the folder of the worker's branch, which a `git pack-refs` may remove as it empties it: the
# mount then fails before the worker runs. A start that failed so is made again, this many times at most.
SETUP_TRIES = 5


def _start(repo: Repo, spec: LaunchSpec, worktree: Path, signalled: list[int]) -> tuple[subprocess.Popen[bytes], float]:
    """The worker started in a process group of its own, recorded, our stop signals forwarded to it (and noted
    in SIGNALLED), its stdin written; and when it started."""
    if spec.wrapper:
        _pack(worktree, "your commits' objects")  # out of the worker's reach
        # bwrap inherits this and so outlives the SIGTERM `stop` sends the group, for the worker to stop
        # gracefully inside (the wrapper gives the worker its default back): see dispatch.worker.sandbox.
        # Our own handler is set as soon as the worker runs.
        sandbox.ignore_stop_signals()
    worker = subprocess.Popen(
        [*spec.wrapper, *spec.argv], cwd=worktree, env=_worker_env(spec, repo),
        stdin=subprocess.PIPE if spec.stdin is not None else subprocess.DEVNULL,
        stdout=sys.stdout, stderr=sys.stderr, start_new_session=True,
    )
    began = time.time()
    state = repo.task_dir(spec.task)
    _durably("record that the worker started", state, lambda: runtime.update_worker(
        repo, spec.task, phase="running", pid=worker.pid, running_since=began,
        pid_start=runtime.process_start_time(worker.pid)))
    _durably("record that the worker started", state, lambda: events.append(
        repo, spec.task, "started", model=spec.model, backend=spec.backend, run=spec.run, pid=worker.pid))

    def forward(signum: int, _frame: Any) -> None:
        # Stopping the supervisor stops its worker; it still records the exit and saves the work.
        signalled.append(signum)
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
    return worker, began


def _pack(worktree: Path, what: str) -> None:
    """Pack the repository's loose objects, which a confined worker could delete: packs are read-only to it."""
    if problem := sandbox.pack_loose_objects(worktree):
        _say(f"could not pack the repository's loose objects ({what}), which a confined worker could delete: "
             f"{problem}")


def _save(spec: LaunchSpec, worktree: Path, code: int) -> str | None:
    """Commit what the worker left uncommitted (not onto a branch a confined worker moved HEAD to); the commit."""
    saved = None
    try:
        moved = sandbox.head_moved(worktree, git.RefName(spec.branch)) if spec.sandbox == "bwrap" else None
        if moved:
            _say(f"the worker moved the worktree's HEAD off {spec.branch} to {moved}: its uncommitted work "
                 "was left as it is")
            return None
        saved = _durably("commit the work it left uncommitted", worktree, lambda: save_uncommitted(worktree, code))
        if saved:
            _say(f"saved uncommitted work as {saved[:7]}")
        elif operation := operations.in_progress(worktree):
            _say(f"a {operation} is in progress in the worktree: leaving its changes uncommitted")
    except Exception as e:  # noqa: BLE001 - the exit must be recorded whatever happens here
        _say(f"could not save uncommitted work: {e}")
    return saved


def _head(worktree: Path) -> str | None:
    try:
        return git.out(["rev-parse", "HEAD"], cwd=worktree)
    except Exception:  # noqa: BLE001 - a worktree without a HEAD has no commit to compare
        return None


def _reported_failure(spec: LaunchSpec, output: str) -> str | None:
    """The last output line that matches one of the backend's `fails_on` patterns, if any.

    Some CLIs (aider) exit 0 when every model call failed; their error line, in a run that committed
    and left nothing, is what tells a failed run from one that had nothing to do.
    """
    patterns = [re.compile(p) for p in spec.fails_on]
    found = [line for line in output.splitlines() if any(p.search(line) for p in patterns)]
    return found[-1].strip()[:300] if found else None


def _notify(repo: Repo, event: dict[str, Any]) -> None:
    """Tell the person of the exit, and whether it was the last worker with nothing queued: one notification."""
    from dispatch.worker.waiting import workers_live

    idle = not workers_live(repo, [])
    if notify.news(event) is not None:
        notify.notify(repo, {**event, "idle": idle})
    elif idle:
        notify.notify(repo, {"time": event["time"], "task": "", "kind": "idle"})


# How often the supervisor looks whether its worker asked a question (one failed open() when it did not).
TICK = 0.25


def _wait(worker: subprocess.Popen[bytes], spec: LaunchSpec, began: float, look: Callable[[], None],
          grace: float = 10.0) -> str | None:
    """Wait for the worker, calling LOOK every TICK (its questions); stop it when it runs past its time budget.
    Returns why it was stopped, if it was."""
    deadline = began + max(0.0, spec.budget_time - spec.prior_seconds) if spec.budget_time else None
    while True:
        try:
            worker.wait(timeout=TICK if deadline is None else max(0.05, min(TICK, deadline - time.time())))
            return None
        except subprocess.TimeoutExpired:
            look()
            if deadline is None or time.time() < deadline:
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
    from dispatch.task.status import collect

    try:
        status = collect(repo, config.load(repo.root), [task_id])[0]
        return status.state, status.extra.get("in_progress")
    except Exception:  # noqa: BLE001 - a state word is nice to have, the event is not optional
        return runtime.worker_state(data), None


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], sys.argv[2]))
