"""Tasks on a Slurm runner, against a real one-box cluster (munged, slurmctld, slurmd on this host).

`.ci/install-slurm` writes its slurm.conf and starts it (root, ~1.5 s); the fixture runs it when the
cluster does not answer. Without root or Slurm the tests skip, loudly; CI sets
DISPATCH_REQUIRE_SLURM=1, and then a missing cluster fails them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import dispatch, git, task_status, wait_for, worker_json
from test_ssh_runner import Server, read_far_repositories, remote_repo, sshd  # noqa: F401 - fixtures used here
from test_ssh_runner import runner_config as ssh_runner_config

from dispatch import slurm

INSTALL = Path(__file__).resolve().parent.parent / ".ci" / "install-slurm"


def _unavailable(why: str) -> None:
    message = f"no Slurm cluster to test Slurm runners against: {why} (as root: `bash .ci/install-slurm`)"
    if os.environ.get("DISPATCH_REQUIRE_SLURM") == "1":
        pytest.fail(message)
    pytest.skip(f"SKIPPED LOUDLY: {message}")


def _answers() -> bool:
    return subprocess.run(["sinfo", "--noheader"], capture_output=True, check=False, timeout=30).returncode == 0


@pytest.fixture(scope="module")
def cluster() -> None:
    if shutil.which("sbatch") is None or shutil.which("slurmctld") is None:
        _unavailable("slurm-wlm is not installed")
    if not _answers():
        if os.geteuid() != 0:
            _unavailable("its daemons are not running, and starting them needs root")
        started = subprocess.run(["bash", str(INSTALL)], capture_output=True, text=True, check=False, timeout=120)
        if started.returncode != 0 or not _answers():
            _unavailable(f".ci/install-slurm failed: {started.stderr.strip()}")


def runner_config(*, sbatch: list[str] | None = None) -> Path:
    path = Path(os.environ["XDG_CONFIG_HOME"]) / "dispatch" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'[runners.hpc]\nkind = "slurm"\nsbatch = {json.dumps(sbatch or ["--time=10"])}\n')
    return path


def job_of(repo: Path, task_id: str) -> str:
    return str(worker_json(repo, task_id)["job"])


def test_a_task_runs_as_a_job_asks_is_answered_stopped_with_scancel_resumed_and_lands(
    repo: Path, cluster: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner_config()
    monkeypatch.setenv("DISPATCH_SCRIPTED_DELAY", "0")  # the job's environment is this one (sbatch --export=ALL)
    r = dispatch("new", "Paint", "--model", "scripted", "--item", "Write `color.txt` (ask: Which color?)",
                 "--item", "Write `shade.txt` (hang)", "--item", "Write `end.txt`", "--on", "hpc", cwd=repo)
    assert (r.code, r.err) == (0, "")
    wt = repo.parent / "app.dispatch" / "paint"
    base = git(repo, "rev-parse", "--short", "main")
    assert r.out == (f"created paint\n  branch    dispatch/paint (from main at {base})\n  worktree  {wt}\n"
                     f"  plan      3 items: {wt}/.dispatch/PLAN.md\n"
                     "  worker    scripted on scripted: `dispatch logs paint -f` follows it\n")
    first = job_of(repo, "paint")
    assert slurm.state(first) in slurm.LIVE
    # The worker asks inside the job; `wait` here wakes, and the answer reaches the same waiting worker.
    w = dispatch("wait", "paint", "--timeout", "60", cwd=repo)
    assert (w.code, w.out, w.err) == (0, 'paint asks Q1: Which color?\n  → dispatch answer paint "..."\n', "")
    a = dispatch("answer", "paint", "Blue", cwd=repo)
    assert (a.code, a.out, a.err) == (0, "answered Q1 of paint: the waiting worker continues with it\n", "")
    wait_for(lambda: (wt / "shade.txt").exists(), message="the job's worker to write shade.txt")
    task = task_status(repo, "paint")
    assert (task["state"], task["runner"], task["worker"]["job"]) == ("running", "hpc", first)
    table = dispatch("status", cwd=repo).out.splitlines()
    assert table[0].split() == ["ID", "STATE", "PLAN", "Q", "COMMITS", "DIRTY", "LAST", "USAGE", "RUNNER", "TITLE",
                                "WORKTREE"]
    assert table[1].split()[:3] + table[1].split()[-3:] == ["paint", "running", "1/3", "hpc", "Paint", str(wt)]
    # stop goes through scancel: the supervisor (the batch step) stops the worker and saves its work.
    s = dispatch("stop", "paint", cwd=repo)
    saved = worker_json(repo, "paint")["saved"]
    assert (s.code, s.out, s.err) == (
        0, (f"stopped the worker of paint; its uncommitted work was committed as {saved[:7]}\n"
        "  `dispatch resume paint` starts a fresh worker where it left off\n"), "")
    assert slurm.state(first) not in slurm.LIVE
    assert task_status(repo, "paint")["state"] == "stopped"
    assert git(repo, "show", "dispatch/paint:shade.txt") == "Write `shade.txt`"
    # The user takes the hang out of the plan; resume submits a new job, which finishes the work.
    plan = (wt / ".dispatch" / "PLAN.md").read_text()
    (wt / ".dispatch" / "PLAN.md").write_text(plan.replace("`shade.txt` (hang)", "`shade.txt`"))
    again = dispatch("resume", "paint", cwd=repo)
    assert (again.code, again.out, again.err) == (
        0, "resumed paint: run 2, scripted on scripted\n  `dispatch logs paint -f` follows it\n", "")
    second = job_of(repo, "paint")
    assert second != first
    w = dispatch("wait", "paint", "--timeout", "60", cwd=repo)  # what it had not told yet: the stop
    assert (w.code, w.out, w.err) == (0, "paint was stopped\n  → dispatch resume paint\n", "")
    w = dispatch("wait", "paint", "--timeout", "60", cwd=repo)
    assert (w.code, w.out, w.err) == (0, "paint finished: every item is done\n  → dispatch review paint\n", "")
    assert task_status(repo, "paint")["state"] == "done"
    m = dispatch("merge", "paint", "--yes", cwd=repo)
    assert (m.code, m.err) == (0, "")
    assert [(repo / f).read_text() for f in ("color.txt", "shade.txt", "end.txt")] == [
        "Write `color.txt`\n\nAnswer: Blue\n", "Write `shade.txt`\nWrite `shade.txt`\n", "Write `end.txt`\n"]


def test_scancel_from_outside_leaves_the_task_stopped_with_its_work_saved(repo: Path, cluster: None) -> None:
    runner_config()
    r = dispatch("new", "Wip", "--model", "scripted", "--item", "Write `wip.txt` (hang)", "--on", "hpc", cwd=repo)
    assert r.code == 0, r.err
    wt = repo.parent / "app.dispatch" / "wip"
    wait_for(lambda: (wt / "wip.txt").exists(), message="the job's worker to write wip.txt")
    job = job_of(repo, "wip")
    subprocess.run(["scancel", job], check=True)
    wait_for(lambda: task_status(repo, "wip")["state"] == "stopped", message="wip to be stopped", timeout=60)
    data = worker_json(repo, "wip")
    assert (data["phase"], data["stopped"], data["exit_code"]) == ("exited", True, -15)
    assert git(repo, "show", "dispatch/wip:wip.txt") == "Write `wip.txt`"
    assert git(repo, "log", "-1", "--format=%H", "dispatch/wip") == data["saved"]
    assert git(wt, "status", "--porcelain") == ""


def test_stop_of_a_job_still_pending_cancels_it(repo: Path, cluster: None) -> None:
    runner_config(sbatch=["--time=10", "--begin=now+3600"])  # Slurm holds it for an hour
    r = dispatch("new", "Later", "--model", "scripted", "--item", "Write `a.txt`", "--on", "hpc", cwd=repo)
    assert r.code == 0, r.err
    job = job_of(repo, "later")
    assert (slurm.state(job), task_status(repo, "later")["state"]) == ("PENDING", "preparing")
    s = dispatch("stop", "later", cwd=repo)
    assert (s.code, s.out, s.err) == (
        0, "stopped the worker of later\n  `dispatch resume later` starts a fresh worker where it left off\n", "")
    assert (slurm.state(job), task_status(repo, "later")["state"]) == ("CANCELLED", "stopped")


def test_status_asks_squeue_once_whatever_the_number_of_jobs(
    repo: Path, cluster: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner_config()
    for title in ("One", "Two", "Three"):
        r = dispatch("new", title, "--model", "scripted", "--item", "Write `x.txt` (hang)", "--on", "hpc", cwd=repo)
        assert r.code == 0, r.err
    wait_for(lambda: all(task_status(repo, t)["state"] == "running" for t in ("one", "two", "three")),
             message="three jobs to run")
    # squeue as found on the PATH, counting its calls (the real one does the work).
    calls = tmp_path / "squeue-calls"
    shim = tmp_path / "bin" / "squeue"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexec {shutil.which("squeue")} "$@"\n')
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim.parent}{os.pathsep}{os.environ['PATH']}")
    tasks = json.loads(dispatch("status", "--json", cwd=repo).out)["tasks"]
    assert [t["state"] for t in tasks] == ["running"] * 3
    assert len(calls.read_text().splitlines()) == 1
    for task_id in ("one", "two", "three"):
        assert dispatch("stop", task_id, cwd=repo).code == 0


def test_runners_checks_the_slurm_runner(repo: Path, cluster: None) -> None:
    runner_config()
    from dispatch import __version__

    git_version = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.split()[2]
    [row] = json.loads(dispatch("runners", "--json", cwd=repo).out)["runners"]
    assert re.fullmatch(r"debug\* up 1 \w+", row.pop("slurm"))
    assert row == {"name": "hpc", "kind": "slurm", "host": None, "path": None, "reachable": True, "git": git_version,
                   "dispatch": __version__, "problem": None}


def test_sbatch_options_slurm_refuses_say_so_before_anything_is_made(repo: Path, cluster: None) -> None:
    runner_config(sbatch=["--partition=nosuch"])
    before = git(repo, "for-each-ref")
    r = dispatch("new", "Greet", "--model", "scripted", "--on", "hpc", cwd=repo)
    assert (r.code, r.out) == (1, "")
    assert r.err == ("dispatch: sbatch refused the job (allocation failure: Invalid partition name specified): "
                     "check the runner's `sbatch` options and `sinfo`\n")
    assert git(repo, "for-each-ref") == before


def test_a_slurm_runner_with_a_host_submits_there_over_ssh(
    repo: Path, cluster: None, sshd: Server, tmp_path: Path  # noqa: F811 - the fixture imported above
) -> None:
    ssh_runner_config(sshd, tmp_path, name="hpc", kind="slurm", more='sbatch = ["--time=10"]\n')
    r = dispatch("new", "Paint", "--model", "scripted", "--item", "Write `color.txt` (ask: Which color?)",
                 "--on", "hpc", cwd=repo)
    assert (r.code, r.err) == (0, "")
    assert r.out.splitlines()[0] == "created paint on hpc"
    # The dispatch on the login node (the runner's user, over ssh) submitted the supervisor as a job.
    task = task_status(repo, "paint")
    job = task["worker"]["job"]
    assert (task["runner"], slurm.state(job) in slurm.LIVE) == ("hpc", True)
    user = subprocess.run(["squeue", "--noheader", "--jobs", job, "--format=%u"], capture_output=True, text=True,
                          check=True).stdout.strip()
    assert user == sshd.far.user
    w = dispatch("wait", "paint", "--timeout", "60", cwd=repo)
    assert (w.code, w.out, w.err) == (0, 'paint asks Q1: Which color?\n  → dispatch answer paint "..."\n', "")
    a = dispatch("answer", "paint", "Blue", cwd=repo)
    assert (a.code, a.out, a.err) == (0, "answered Q1 of paint: the waiting worker continues with it\n", "")
    w = dispatch("wait", "paint", "--timeout", "60", cwd=repo)
    assert (w.code, w.out, w.err) == (0, "paint finished: every item is done\n  → dispatch review paint\n", "")
    wait_for(lambda: task_status(repo, "paint")["state"] == "done", message="paint to be done on hpc")
    m = dispatch("merge", "paint", "--yes", cwd=repo)
    assert (m.code, m.err) == (0, "")
    assert (repo / "color.txt").read_text() == "Write `color.txt`\n\nAnswer: Blue\n"
    assert git(remote_repo(sshd, tmp_path), "branch", "--list", "dispatch/*") == ""
