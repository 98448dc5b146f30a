"""`dispatch pr`: push the task's own work (no task files) to a remote branch, then `gh pr create`."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

from dispatch import events, git
from dispatch.config import Config
from dispatch.errors import DispatchError
from dispatch.land.history import own_history
from dispatch.land.merge import checklist
from dispatch.land.review import Work, load_work
from dispatch.repo import Repo


@dataclass(frozen=True)
class PullRequest:
    id: str
    remote: str
    branch: git.BranchName
    pushed: str
    url: str


def open_pr(repo: Repo, cfg: Config, task_id: str, *, draft: bool) -> PullRequest:
    """Push the work without .dispatch/ to the remote branch of the task, then `gh pr create`."""
    work = load_work(repo, cfg, task_id)
    remotes = git.remotes(repo.root)
    if not remotes:
        raise DispatchError("this repository has no remote: add one with `git remote add origin URL`")
    gh = shutil.which("gh")
    if gh is None:
        raise DispatchError("the GitHub CLI `gh` is not installed: install it from https://cli.github.com, then retry")
    remote = "origin" if "origin" in remotes else remotes[0]
    branch = work.task.branch_name
    pushed = own_history(repo, work.tip, work.base_sha)  # as landing would: the task's own work only
    r = git.run(["push", "--quiet", remote, f"+{pushed}:refs/heads/{branch}"], cwd=repo.root, check=False)
    if r.returncode != 0:
        detail = (r.stderr.strip().splitlines() or [f"exit code {r.returncode}"])[-1]
        raise DispatchError(f"pushing {branch} to {remote} failed: {detail}")
    args = [gh, "pr", "create", "--head", branch, "--base", work.base, "--title", work.title,
            "--body", _pr_body(work), *(["--draft"] if draft else [])]
    proc = subprocess.run(args, check=False, cwd=repo.root, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          env={**os.environ, "GH_PROMPT_DISABLED": "1"})
    if proc.returncode != 0:
        detail = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        raise DispatchError(f"pushed {branch} to {remote}, but `gh pr create` failed: {detail}")
    url = (proc.stdout.strip().splitlines() or [""])[-1]
    events.append(repo, task_id, "pr", remote=remote, branch=branch, commit=pushed, url=url)
    return PullRequest(task_id, remote, branch, pushed, url)


def _pr_body(work: Work) -> str:
    parts = [work.description, checklist(work), f"Dispatched task `{work.id}`."]
    return "\n\n".join(filter(None, parts)) + "\n"
