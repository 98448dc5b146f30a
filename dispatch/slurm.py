"""The Slurm engine, the one door to its commands: submit a batch job, ask whether it lives, cancel it.

A task's supervisor runs as the batch job, on the filesystem the cluster shares with this host; its
job id is recorded in worker.json as a pid is. Everything else (the worktree, the branch, the
questions) is dispatch's own, as for a local worker.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from dispatch.errors import DispatchError
from dispatch.typed import TYPE_CHECKING

if TYPE_CHECKING:
    import subprocess

TIMEOUT = 30.0  # seconds: a controller that does not answer makes an error, never a hang
# squeue's states of a job that has not ended (a finished job stays listed for MinJobAge).
LIVE = frozenset({"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "REQUEUE_HOLD",
                  "REQUEUE_FED", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED"})


def _run(argv: Sequence[str], doing: str) -> subprocess.CompletedProcess[str]:
    import subprocess  # here: `status` imports this module, and runs Slurm's commands only for jobs

    try:
        return subprocess.run(list(argv), capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=TIMEOUT,
                              check=False)
    except FileNotFoundError:
        raise DispatchError(f"`{argv[0]}` is not installed here: {doing} needs Slurm's commands "
                            "(apt-get install slurm-client, or run dispatch on the cluster's login node)") from None
    except subprocess.TimeoutExpired:
        raise DispatchError(f"`{argv[0]}` got no answer from the Slurm controller in {TIMEOUT:.0f} s: "
                            "check `sinfo`") from None


def _last_line(text: str, code: int) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else f"exit code {code}"


def submit(script: Path, args: Sequence[str], *, options: Sequence[str], chdir: Path, output: Path, name: str,
           test_only: bool = False) -> str:
    """sbatch SCRIPT ARGS (its arguments as data, no shell line); the job id. TEST_ONLY: Slurm checks the
    job (options, partition) without submitting it; "" when it would take it."""
    argv = ["sbatch", "--parsable", f"--job-name={name}", f"--chdir={chdir}", f"--output={output}",
            "--open-mode=append", *(["--test-only"] if test_only else []), *options, str(script), *args]
    proc = _run(argv, "a task on a Slurm runner")
    job = proc.stdout.strip().split(";")[0]
    if test_only and proc.returncode == 0:
        return ""
    if proc.returncode != 0 or not job.isdigit():
        raise DispatchError(f"sbatch refused the job ({_last_line(proc.stderr, proc.returncode)}): "
                            "check the runner's `sbatch` options and `sinfo`")
    return job


def state(job: str) -> str | None:
    """The job's state as squeue says it (RUNNING, PENDING, COMPLETED...); None once Slurm forgot it."""
    proc = _run(["squeue", "--noheader", "--jobs", job, "--states=all", "--format=%T"], "checking a Slurm job")
    if proc.returncode != 0:
        if "Invalid job id" in proc.stderr:
            return None
        raise DispatchError(f"squeue failed ({_last_line(proc.stderr, proc.returncode)}): check `sinfo`")
    found = proc.stdout.split()
    return found[0] if found else None


def states(jobs: Sequence[str]) -> dict[str, str | None]:
    """Each job's state, in one squeue call for them all (a listing asks once, whatever the number of tasks)."""
    proc = _run(["squeue", "--noheader", f"--jobs={','.join(jobs)}", "--states=all", "--format=%i %T"],
                "checking Slurm jobs")
    if proc.returncode != 0:  # one id Slurm forgot spoils the call: ask each
        return {job: state(job) for job in jobs}
    found = dict(line.split(None, 1) for line in proc.stdout.splitlines() if len(line.split(None, 1)) == 2)
    return {job: found.get(job, "").strip() or None for job in jobs}


def alive(job: str) -> bool:
    return state(job) in LIVE


def cancel(job: str, *, signal: str | None = None, batch: bool = False) -> None:
    """scancel the job: by default the whole job (SIGTERM, then SIGKILL after the cluster's KillWait);
    with SIGNAL and BATCH, that signal to the batch step only (our supervisor, which stops its worker)."""
    argv = ["scancel", *([f"--signal={signal}"] if signal else []), *(["--batch"] if batch else []), job]
    proc = _run(argv, "stopping a Slurm job")
    if proc.returncode != 0 and "already completing or completed" not in proc.stderr:
        raise DispatchError(f"scancel {job} failed ({_last_line(proc.stderr, proc.returncode)}): check `squeue -j {job}`")


SINFO = ["sinfo", "--noheader", "--format=%P %a %D %t"]  # partition, up or down, nodes, their state


def partitions(text: str) -> str:
    """sinfo's lines as one: `debug* up 1 idle`."""
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())


def check() -> str:
    """What sinfo says of the partitions: the engine answers; else a DispatchError."""
    proc = _run(SINFO, "checking Slurm")
    if proc.returncode != 0:
        raise DispatchError(f"sinfo failed ({_last_line(proc.stderr, proc.returncode)}): is slurmctld up?")
    return partitions(proc.stdout)
