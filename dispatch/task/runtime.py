"""Machine-local facts about a task's worker, kept in the common git dir (never committed)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from dispatch import files, jsontext
from dispatch.errors import DispatchError
from dispatch.repo import Repo
from dispatch.typed import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

Jobs = dict[str, str | None]  # Slurm job id -> its state (slurm.states)

# Beside worker.json: the runner a task's worker runs on, when not here (dispatch/worker/remote.py).
RUNNER_RECORD = "runner.json"


def on_runner(repo: Repo, task_id: str) -> bool:
    """Whether the task lives on a runner: its worktree and worker are there, not here."""
    return (repo.task_dir(task_id) / RUNNER_RECORD).exists()


def runner_task_ids(repo: Repo) -> list[str]:
    """Every task with a runner record, from the runtime folders alone (no git): live or not."""
    try:
        folders = sorted((repo.state_dir / "tasks").iterdir())
    except FileNotFoundError:
        return []
    return [f.name for f in folders if (f / RUNNER_RECORD).exists()]


def worker_path(repo: Repo, task_id: str) -> Path:
    return repo.task_dir(task_id) / "worker.json"


def log_path(repo: Repo, task_id: str) -> Path:
    return repo.task_dir(task_id) / "worker.log"


def read_worker(repo: Repo, task_id: str) -> dict[str, Any] | None:
    path = worker_path(repo, task_id)
    try:
        data = jsontext.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, ValueError):
        return {"phase": "unknown", "problem": f"{path} is unreadable"}
    return data if isinstance(data, dict) else None


def private_dir(path: Path) -> Path:
    """PATH made (if need be) and closed to other users: a task's folder holds its worker's argv and environment."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def write_private(path: Path, text: str) -> None:
    """Write TEXT to PATH atomically (a reader sees the old file or the new one), readable by its owner only."""
    files.write_atomic(private_dir(path.parent) / path.name, text, private=True)


def write_worker(repo: Repo, task_id: str, data: dict[str, Any]) -> None:
    """Atomic and private: it holds the worker's command line."""
    import json

    write_private(worker_path(repo, task_id), json.dumps(data, sort_keys=True, indent=2) + "\n")


def update_worker(repo: Repo, task_id: str, **changes: Any) -> dict[str, Any]:
    """Read, change and write worker.json under a per-task lock: the supervisor and `stop` both write it."""
    with files.locked(repo.task_dir(task_id) / "worker.lock"):
        data = read_worker(repo, task_id) or {}
        data.update(changes)
        write_worker(repo, task_id, data)
    return data


def process_start_time(pid: int) -> int | None:
    """The kernel's start time of PID (clock ticks since boot), None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":  # a zombie has finished its work
        return None
    return int(fields[19])


def pid_namespace() -> str | None:
    """Our pid namespace (`pid:[4026531836]`): a confined worker has its own, where pids mean other processes."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def is_alive_in(pid: int | None, start_time: int | None, namespace: str | None) -> bool:
    """PID of pid namespace NAMESPACE (a confined worker's) is alive and the process we mean: found by the
    namespace, its pid inside it and its start time, which reads the same from every namespace."""
    if namespace is None or namespace == pid_namespace():
        return is_alive(pid, start_time)
    for entry in _in_namespace(namespace):
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        inner = [line.split()[-1] for line in status.splitlines() if line.startswith("NSpid:")]
        if inner == [str(pid)] and (start_time is None or process_start_time(int(entry.name)) == start_time):
            return True
    return False


def _in_namespace(namespace: str) -> list[Path]:
    """The processes of pid namespace NAMESPACE in view here (none of one that encloses ours)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and os.readlink(entry / "ns" / "pid") == namespace:
                found.append(entry)
        except OSError:
            continue
    return found


def supervisor_alive(data: dict[str, Any]) -> bool:
    """The record's supervisor lives. Read by a confined worker, in a pid namespace of its own, the supervisor
    is out of sight (its namespace encloses ours): there the record stands, as the worker reading it shows."""
    if is_alive(data.get("supervisor_pid"), data.get("supervisor_start")):
        return True
    namespace = data.get("supervisor_ns")
    return bool(namespace) and namespace != pid_namespace() and not _in_namespace(str(namespace))


def is_alive(pid: int | None, start_time: int | None) -> bool:
    """PID is alive and is the same process we started (pids are reused)."""
    if not pid:
        return False
    actual = process_start_time(pid)
    if actual is None:
        if not Path("/proc").is_dir():  # no procfs: fall back to a signal-0 probe
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return False
            except PermissionError:
                return True
            return True
        return False
    return start_time is None or actual == start_time


def worker_state(data: dict[str, Any], jobs: Jobs | None = None) -> str:
    """queued, blocked, preparing, running, exited (code 0), failed, stopped, or lost (its supervisor died).

    JOBS: the Slurm jobs' states when the caller asked squeue once for many records (job_states)."""
    phase = data.get("phase")
    if phase in ("queued", "blocked"):
        return str(phase)
    if phase in ("starting", "preparing", "running") and data.get("job"):
        # A Slurm job: alive while Slurm says so (its supervisor may run on another node).
        job = str(data["job"])
        from dispatch import slurm  # (a task that never ran on Slurm imports none of it)

        try:
            gone = (jobs[job] if jobs is not None and job in jobs else slurm.state(job)) not in slurm.LIVE
        except DispatchError:  # the controller does not answer: the job is not known to be gone
            gone = False
        return "lost" if gone else "running" if phase == "running" else "preparing"
    if phase == "starting" and not data.get("supervisor_pid"):
        # Forked a moment ago; the supervisor has not yet written its pid.
        return "preparing" if time.time() - float(data.get("spawned", 0)) < 60 else "lost"
    if phase in ("starting", "preparing", "running"):
        # Without its supervisor nobody records the worker's exit or saves its work.
        if supervisor_alive(data):
            return "running" if phase == "running" else "preparing"
        return "lost"
    if data.get("stopped"):
        return "stopped"
    if phase == "exited":
        # `failed_on`: the CLI exited 0 but reported a failure (its backend's `fails_on`) and changed nothing.
        return "exited" if data.get("exit_code") == 0 and not data.get("failed_on") else "failed"
    return "failed"


def is_working(data: dict[str, Any] | None) -> bool:
    """Whether the worker of this record is at work: preparing or running, its supervisor alive."""
    return data is not None and worker_state(data) in ("running", "preparing")


def worker_alive(repo: Repo, task_id: str) -> bool:
    return is_working(read_worker(repo, task_id))


def job_states(workers: Iterable[dict[str, Any] | None]) -> Jobs | None:
    """The states of the Slurm jobs that WORKERS (records read by `read_worker`) run as, in one squeue call;
    None when none does."""
    jobs = []
    for data in workers:
        data = data or {}
        if data.get("job") and data.get("phase") in ("starting", "preparing", "running"):
            jobs.append(str(data["job"]))
    if not jobs:
        return None
    from dispatch import slurm

    try:
        return slurm.states(jobs)
    except DispatchError:  # each record then asks, and says what it can
        return None


def worker_facts(repo: Repo, task_id: str, jobs: Jobs | None = None) -> dict[str, Any] | None:
    """What status shows of the worker: None when none was ever started."""
    return facts_of(read_worker(repo, task_id), jobs)


def facts_of(data: dict[str, Any] | None, jobs: Jobs | None = None) -> dict[str, Any] | None:
    """`worker_facts` of a worker's record read already (`read_worker`)."""
    if data is None or data.get("phase") is None:  # only its budget or engine recorded yet
        return None
    facts = {
        key: data.get(key)
        for key in ("run", "model", "backend", "pid", "job", "started", "exited", "exit_code", "setup_failed", "saved",
                    "after", "reason", "sandbox")
        if data.get(key) is not None
    }
    if data.get("engine"):  # the Slurm runner its runs are jobs of
        facts["runner"] = data["engine"].get("runner")
    facts["state"] = worker_state(data, jobs)
    from dispatch.task.usage import totals

    running = data.get("running_since") if facts["state"] == "running" else None
    runs = data.get("runs") or []
    if runs or running is not None:
        facts["usage"] = totals(runs, running_since=running, now=time.time())
    else:  # never ran (queued, or its setup is still going): no usage, as for a task never started
        facts["usage"] = {"seconds": None, "cost_usd": None, "tokens": None}
    return facts
