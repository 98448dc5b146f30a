"""`dispatch runners`: each runner checked, with what fails and how to fix it; and doctor's part for runners."""

from __future__ import annotations

from pathlib import Path

from dispatch import __version__, config, git, slurm
from dispatch.config import Config
from dispatch.errors import DispatchError
from dispatch.repo import Repo
from dispatch.task.model import list_tasks
from dispatch.task.repair import Finding
from dispatch.typed import TYPE_CHECKING
from dispatch.worker import remote, ssh

if TYPE_CHECKING:
    from typing import Any


def check(cfg: Config) -> list[dict[str, Any]]:
    """Each runner: reachable, the git and dispatch versions there, and for Slurm what `sinfo` says."""
    rows = []
    for name in sorted(cfg.values["runners"]):
        runner = config.runner(cfg, name)
        row: dict[str, Any] = {"name": name, "kind": runner["kind"], "host": runner.get("host"),
                               "path": runner["path"] if runner.get("host") else None, "reachable": False,
                               "git": None, "dispatch": None, "slurm": None, "problem": None}
        if runner.get("host"):
            _check_host(row, name, runner)
        else:  # a Slurm runner without a host submits from here
            version = git.run(["--version"], cwd=Path.cwd(), check=False).stdout.strip()
            row.update(reachable=True, git=version.removeprefix("git version ") or None, dispatch=__version__)
        if runner["kind"] == "slurm" and row["problem"] is None:
            _check_slurm(row, runner)
        rows.append(row)
    return rows


def _check_host(row: dict[str, Any], name: str, runner: dict[str, Any]) -> None:
    answer = ssh.run_fixed(runner, ["git", "--version"], timeout=30)
    if answer.unreachable:
        row["problem"] = (f"unreachable ({ssh.first_error_line(answer)}): check that `ssh {runner['host']}` "
                          "logs in without a password prompt")
        return
    if answer.returncode != 0:
        row.update(reachable=True, problem="git is not installed there: install git 2.38 or newer")
        return
    row.update(reachable=True, git=answer.stdout.strip().removeprefix("git version "))
    mine = ssh.run_fixed(runner, [*runner["dispatch"], "--version"], timeout=30)
    if mine.returncode == 0:
        row["dispatch"] = mine.stdout.strip().removeprefix("dispatch ")
    else:
        row["problem"] = (f"`{' '.join(runner['dispatch'])}` does not run there: install dispatch there "
                          f"(`pipx install git-dispatch`) or set runners.{name}.dispatch to its path")


def _check_slurm(row: dict[str, Any], runner: dict[str, Any]) -> None:
    """The engine answers: sinfo, here or on the host."""
    if runner.get("host"):
        answer = ssh.run_fixed(runner, slurm.SINFO, timeout=30)
        if answer.returncode == 0:
            row["slurm"] = slurm.partitions(answer.stdout)
        else:
            row["problem"] = (f"sinfo fails there ({ssh.first_error_line(answer)}): "
                              "name the cluster's login node as host, where Slurm's commands run")
        return
    try:
        row["slurm"] = slurm.check()
    except DispatchError as e:
        row["problem"] = str(e)


def doctor(repo: Repo, cfg: Config, *, fix: bool) -> list[Finding]:
    """Tasks done with here (landed, discarded) that their runner still holds: the command that would have
    discarded them there did not end (killed, its connection dropped); and tasks whose runner left the config."""
    folder = repo.state_dir / "tasks"
    live = set(list_tasks(repo, cfg))
    found = _lost(repo, cfg, [task_id for task_id in sorted(live) if remote.record(repo, task_id) is not None])
    for record in sorted(folder.glob(f"*/{remote.RECORD}")) if folder.is_dir() else []:
        task_id = record.parent.name
        name = remote.runner_of(repo, task_id)
        if name not in cfg.values["runners"]:
            found.append(Finding(task_id, f"its runner `{name}` is no longer in your config, and the task lives there",
                                 f"add the [runners.{name}] table back to {config.user_config_path()}", False))
            continue
        where = remote.place(repo, cfg, task_id)
        if task_id in live or where is None:
            continue
        f = Finding(task_id, f"landed or discarded here, it is still on runner `{where.name}`",
                    "discard it there (its trash entry fetched here)", True)
        if fix:
            try:
                kept = remote.retire(repo, where, task_id)
            except DispatchError as e:
                f = Finding(task_id, f.problem, f"could not discard it there ({e}): run `dispatch doctor --fix` "
                                     "again once it answers", False)
            else:
                f = Finding(task_id, f.problem, f"discarded it there; its trash entry is kept here as {kept}", True, True)
        found.append(f)
    return found


def _lost(repo: Repo, cfg: Config, ids: list[str]) -> list[Finding]:
    """Live tasks that their runner, answering, no longer has (removed there by hand)."""
    lost = remote.sync(repo, cfg, [i for i in ids if remote.runner_of(repo, i) in cfg.values["runners"]]).lost
    return [Finding(task_id, f"runner `{remote.runner_of(repo, task_id)}` no longer has it",
                    f"`dispatch discard {task_id}` keeps its commits, as last fetched here, in the trash", False)
            for task_id in sorted(lost)]
