"""Starting, stopping and resuming a task's worker; its logs."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass

from dispatch import events
from dispatch.config import Config
from dispatch.errors import ASK_TIMEOUT_EXIT, DispatchError
from dispatch.repo import Repo
from dispatch.task import runtime, usage
from dispatch.task.model import PLAN, TaskRef, get_task, read_plan_file, refuse_switched, save_uncommitted
from dispatch.typed import TYPE_CHECKING
from dispatch.worker import confine
from dispatch.worker import launch as launching

if TYPE_CHECKING:
    from typing import Any


@dataclass(frozen=True)
class Started:
    task: str
    run: int
    model: str
    backend: str
    supervisor_pid: int


def prepare_launch(cfg: Config, requested: str | None, sandbox: str | None = None) -> Any:
    """Resolve the model to a backend and check, before anything is created, that it can run (confined,
    when SANDBOX, else the config's `sandbox`, asks for it)."""
    from dispatch.config import backends, trust

    launch = backends.resolve(cfg, requested)
    if launch.from_repo:
        trust.require_trusted(cfg, "backends")
    _setup_and_copy(cfg)  # refuses untrusted repository setup or copy lists
    confine.confinement(cfg, sandbox)
    backends.check_installed(launch)
    return launch


def _setup_and_copy(cfg: Config) -> tuple[list[str], list[list[str]]]:
    """The copy list and setup commands, refused when an untrusted repository file defines them."""
    from dispatch.config import trust

    for key in ("copy", "setup", "notify"):
        trust.require_trusted(cfg, key)
    return list(cfg["copy"]), [list(c) for c in cfg["setup"]]


def start_worker(
    repo: Repo, cfg: Config, task: TaskRef, launch: Any, *, resume: bool, message: str | None = None
) -> Started:
    """Fork the supervisor for one run of the worker on TASK; returns at once."""
    from dispatch import templates
    from dispatch.config import backends

    if task.worktree is None or not task.worktree_exists:
        raise DispatchError(f"task `{task.id}` has no worktree: `dispatch doctor` says how to repair it")
    refuse_switched(task, "start its worker")
    worktree = task.worktree.path
    plan = read_plan_file(worktree / PLAN)
    previous = runtime.read_worker(repo, task.id) or {}
    run = int(previous.get("run", 0)) + 1
    copy, setup = _setup_and_copy(cfg) if not resume else ([], [])
    prompt = templates.render(
        "resume_prompt.md.j2" if resume else "worker_prompt.md.j2",
        prefix=launch.prompt_prefix, id=task.id, title=plan.title, worktree=str(worktree),
        branch=task.branch_name, message=message or "", ask_timeout_code=ASK_TIMEOUT_EXIT,
    )
    argv, stdin = backends.render_argv(launch, prompt=prompt, worktree=worktree)
    budget = previous.get("budget") or {}
    budget_time = float(budget.get("time") or cfg["budget_time"] or 0)
    budget_cost = float(budget.get("cost") or cfg["budget_cost"] or 0)
    spent = usage.totals(previous.get("runs", []), running_since=None, now=0)
    if budget_time and spent["seconds"] >= budget_time:
        raise DispatchError(f"task `{task.id}` has used its time budget ({budget_time:g}s): "
                            f"raise it, say to {2 * budget_time:g}s: `dispatch resume {task.id} --budget-time {2 * budget_time:g}`")
    if budget_cost and (spent["cost_usd"] or 0) >= budget_cost:
        raise DispatchError(f"task `{task.id}` has used its cost budget (${budget_cost:g}): "
                            f"raise it, say to ${2 * budget_cost:g}: `dispatch resume {task.id} --budget-cost {2 * budget_cost:g}`")
    if budget_cost and launch.backend == "claude":
        # Claude Code stops itself at a spending limit: give it what is left.
        argv += ["--max-budget-usd", f"{budget_cost - (spent['cost_usd'] or 0):.4f}"]
    env = _worker_env(cfg, launch)
    confined = confine.confinement(cfg, previous.get("sandbox_flag"))
    wrapper: list[str] = []
    if confined.mode == "bwrap":
        wrapper = confine.wrapper(repo, cfg, task, launch, confined, env)
    spec = launching.LaunchSpec(
        task=task.id, run=run, worktree=str(worktree), main_root=str(repo.root), argv=argv, stdin=stdin,
        env=env, env_unset=list(launch.env_unset), model=launch.model, backend=launch.backend,
        requested=launch.requested, budget_time=budget_time, budget_cost=budget_cost,
        prior_seconds=spent["seconds"], copy=copy, setup=setup, prepare=not resume, fails_on=list(launch.fails_on),
        sandbox=confined.mode, wrapper=wrapper, branch=task.branch,
    )
    pid = launching.start(repo, spec)
    return Started(task.id, run, launch.model, launch.backend, pid)


def _worker_env(cfg: Config, launch: Any) -> dict[str, str]:
    env = dict(launch.env)
    if launch.backend == "claude":
        # Claude Code ends a Bash command after 2 minutes; `dispatch ask` may wait ask_timeout for its answer.
        limit = str(int((float(cfg["ask_timeout"]) + 60) * 1000))
        env.setdefault("BASH_DEFAULT_TIMEOUT_MS", limit)
        env.setdefault("BASH_MAX_TIMEOUT_MS", limit)
    return env


def is_running(repo: Repo, task_id: str) -> bool:
    return runtime.worker_alive(repo, task_id)


def check_budget(seconds: float | None, cost: float | None) -> None:
    for value, what in ((seconds, "--budget-time"), (cost, "--budget-cost")):
        if value is not None and value <= 0:
            raise DispatchError(f"{what} must be more than 0")


def set_budget(repo: Repo, task_id: str, *, seconds: float | None, cost: float | None) -> None:
    """Record the task's budget (machine-local, beside its worker record)."""
    check_budget(seconds, cost)
    if seconds is None and cost is None:
        return
    budget = dict((runtime.read_worker(repo, task_id) or {}).get("budget") or {})
    budget.update({k: v for k, v in (("time", seconds), ("cost", cost)) if v is not None})
    runtime.update_worker(repo, task_id, budget=budget)


def set_engine(repo: Repo, task_id: str, engine: dict[str, Any]) -> None:
    """Record what launches the task's workers (a Slurm runner's sbatch): every run of it, resumed ones too."""
    runtime.update_worker(repo, task_id, engine=engine)


def stop(repo: Repo, cfg: Config, task_id: str) -> dict[str, Any]:
    """SIGTERM to the worker's process group, SIGKILL after the grace period; wait for the record."""
    task = get_task(repo, cfg, task_id)
    data = runtime.read_worker(repo, task_id)
    if data is not None and runtime.worker_state(data) == "lost" and runtime.is_alive(data.get("pid"), data.get("pid_start")):
        return _stop_orphan(repo, cfg, task, data)
    if data is None or not runtime.is_working(data):
        raise DispatchError(f"the worker of `{task_id}` is not running: `dispatch status {task_id}` says where it stands")
    runtime.update_worker(repo, task_id, stopped=True)
    if data.get("job"):
        return _stop_job(repo, cfg, task_id, str(data["job"]))
    targets = [data.get("pid"), data.get("supervisor_pid")] if data.get("phase") != "running" else [data.get("pid")]
    _signal_groups([p for p in targets if p], signal.SIGTERM)
    deadline = time.monotonic() + float(cfg["stop_grace"])
    while time.monotonic() < deadline and _alive(data):
        time.sleep(0.05)
    if _alive(data):
        _signal_groups([p for p in targets if p], signal.SIGKILL)
    # The supervisor records the exit and saves the work; give it a moment to do so.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        current = runtime.read_worker(repo, task_id) or {}
        if current.get("phase") == "exited" or not runtime.is_alive(
            current.get("supervisor_pid"), current.get("supervisor_start")
        ):
            break
        time.sleep(0.05)
    events.append(repo, task_id, "stopped")
    return runtime.read_worker(repo, task_id) or {}


def _stop_job(repo: Repo, cfg: Config, task_id: str, job: str) -> dict[str, Any]:
    """A worker run as a Slurm job: SIGTERM to its supervisor (the batch step), which stops the worker,
    saves the work and records the exit; past the grace period, scancel the whole job."""
    from dispatch import clock, slurm

    if slurm.state(job) == "PENDING":  # no supervisor yet to signal: the job is cancelled, its end recorded here
        slurm.cancel(job)
        data = runtime.read_worker(repo, task_id) or {}
        if data.get("phase") == "starting":
            runtime.update_worker(repo, task_id, phase="exited", exit_code=None, exited=clock.iso(clock.now()),
                                  reason="its Slurm job was cancelled before it started")
        events.append(repo, task_id, "stopped")
        return runtime.read_worker(repo, task_id) or {}
    slurm.cancel(job, signal="TERM", batch=True)
    deadline = time.monotonic() + float(cfg["stop_grace"])
    while time.monotonic() < deadline and slurm.alive(job):
        time.sleep(0.1)
    if slurm.alive(job):
        slurm.cancel(job, signal="KILL")
    events.append(repo, task_id, "stopped")
    return runtime.read_worker(repo, task_id) or {}


def _stop_orphan(repo: Repo, cfg: Config, task: TaskRef, data: dict[str, Any]) -> dict[str, Any]:
    """Stop a worker whose supervisor died, and do the supervisor's part: commit what it left, record the end."""
    from dispatch import clock

    pid, start = int(data["pid"]), data.get("pid_start")
    runtime.update_worker(repo, task.id, stopped=True)
    code = -signal.SIGTERM
    _signal_groups([pid], signal.SIGTERM)
    deadline = time.monotonic() + float(cfg["stop_grace"])
    while time.monotonic() < deadline and runtime.is_alive(pid, start):
        time.sleep(0.05)
    if runtime.is_alive(pid, start):
        code = -signal.SIGKILL
        _signal_groups([pid], signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and runtime.is_alive(pid, start):
            time.sleep(0.05)
    saved = None
    if task.worktree is not None and task.worktree_exists:
        saved = save_uncommitted(task.worktree.path, code)
    data = runtime.update_worker(repo, task.id, phase="exited", exit_code=None, lost=True, saved=saved,
                                 exited=clock.iso(clock.now()))
    events.append(repo, task.id, "exited", code=None, state="stopped", reason="supervisor lost", saved=saved)
    events.append(repo, task.id, "stopped")
    return data


def _alive(data: dict[str, Any]) -> bool:
    return runtime.is_alive(data.get("pid"), data.get("pid_start")) or (
        data.get("phase") != "running" and runtime.is_alive(data.get("supervisor_pid"), data.get("supervisor_start"))
    )


def _signal_groups(pids: list[int], signum: int) -> None:
    for pid in pids:
        try:
            os.killpg(pid, signum)
        except (ProcessLookupError, PermissionError):
            pass


def log_lines(repo: Repo, cfg: Config, task_id: str, last: int | None) -> list[str]:
    get_task(repo, cfg, task_id)
    path = runtime.log_path(repo, task_id)
    if not path.exists():
        raise DispatchError(f"task `{task_id}` has no worker log yet: no worker was started (`dispatch resume {task_id}`)")
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return lines[-last:] if last else lines


def follow(repo: Repo, task_id: str, poll: float = 0.2) -> Iterator[str]:
    """New log text as it is written, until the worker's run has ended and the log is drained."""
    path = runtime.log_path(repo, task_id)
    with path.open("r", encoding="utf-8", errors="replace") as f:
        f.seek(0, os.SEEK_END)
        while True:
            chunk = f.read()
            if chunk:
                yield chunk
                continue
            if not is_running(repo, task_id):
                rest = f.read()
                if rest:
                    yield rest
                return
            time.sleep(poll)
