"""Hermetic fixtures: real git repositories in temporary folders, dispatch run as a real process."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """Test folders outside /tmp: a confined worker (bubblewrap, where installed) gets a private /tmp and
    would not see the helper scripts and fake CLIs a test writes there. pytest's own numbered folders
    (/var/tmp/pytest-of-USER/pytest-N), so it keeps the last three runs' and deletes the older ones."""
    if config.option.basetemp is None and "PYTEST_DEBUG_TEMPROOT" not in os.environ and Path("/var/tmp").is_dir():
        os.environ["PYTEST_DEBUG_TEMPROOT"] = "/var/tmp"

ROOT = Path(__file__).resolve().parent.parent
PINNED_GIT_DATE = "2026-11-23T10:00:00Z"
PINNED_NOW = "2026-11-23T11:00:00Z"


@pytest.fixture(autouse=True)
def hermetic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Isolate HOME, XDG dirs and git config; pin identities and dates; fail on any editor."""
    home = tmp_path / "home"
    home.mkdir()
    for key in list(os.environ):
        if key.startswith(("GIT_", "DISPATCH_", "XDG_")) or key in ("CLAUDECODE", "CLAUDE_CODE_ENTRYPOINT"):
            monkeypatch.delenv(key)
    env = {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Ada Tester",
        "GIT_AUTHOR_EMAIL": "ada@example.com",
        "GIT_COMMITTER_NAME": "Ada Tester",
        "GIT_COMMITTER_EMAIL": "ada@example.com",
        "GIT_AUTHOR_DATE": PINNED_GIT_DATE,
        "GIT_COMMITTER_DATE": PINNED_GIT_DATE,
        "GIT_EDITOR": "false",
        "DISPATCH_NOW": PINNED_NOW,
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return home


def git(cwd: Path, *args: str, input: str | None = None) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, input=input
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with a little history on `main`, in tmp/work/app."""
    path = tmp_path / "work" / "app"
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    (path / "README.md").write_text("# app\n")
    git(path, "add", "README.md")
    git(path, "commit", "-q", "-m", "initial commit")
    (path / "src").mkdir()
    (path / "src" / "app.py").write_text("def main():\n    return 1\n")
    git(path, "add", "src")
    git(path, "commit", "-q", "-m", "add the app")
    return path


@dataclass
class Run:
    code: int
    out: str
    err: str


def dispatch(
    *args: str, cwd: Path, input: str | None = None, env: dict[str, str] | None = None, tmp: Path | None = None,
    process: bool = False,
) -> Run:
    """Run `dispatch`; TMP in its output becomes <tmp>.

    In this process through `cli.main` (as git-machete's tests do), which is what most tests need and
    takes a few milliseconds; as a real process where a process boundary is under test (PROCESS, a
    fault checkpoint that kills the process, or DISPATCH_TEST_PROCESS=1 to run the whole suite so).
    """
    if process or os.environ.get("DISPATCH_TEST_PROCESS") == "1" or "DISPATCH_FAULT" in {**os.environ, **(env or {})}:
        code, out, err = _in_a_process(args, cwd, input, env)
    else:
        code, out, err = _in_this_process(args, cwd, input, env)
    if tmp is not None:
        out, err = out.replace(str(tmp), "<tmp>"), err.replace(str(tmp), "<tmp>")
    return Run(code, out, err)


def _in_a_process(args: tuple[str, ...], cwd: Path, input: str | None, env: dict[str, str] | None) -> tuple[int, str, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "dispatch", *args],
        cwd=cwd,
        input=input,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        stdin=None if input is not None else subprocess.DEVNULL,
        timeout=120,
    )
    return proc.returncode, proc.stdout, proc.stderr


def _in_this_process(args: tuple[str, ...], cwd: Path, input: str | None, env: dict[str, str] | None) -> tuple[int, str, str]:
    from dispatch import cli

    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    out, err = io.StringIO(), io.StringIO()
    saved_streams = sys.stdin, sys.stdout, sys.stderr
    try:
        os.environ.update(env or {})
        os.chdir(cwd)
        sys.stdin, sys.stdout, sys.stderr = io.StringIO(input or ""), out, err
        code = cli.main(list(args))
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved_streams
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    return code, out.getvalue(), err.getvalue()


def snapshot(repo: Path) -> dict[str, str]:
    """Everything a failed command must leave as it was: refs, worktrees, files, and state."""
    state_dir = repo / ".git" / "dispatch"
    files = sorted(
        str(p.relative_to(repo.parent)) for p in repo.parent.rglob("*") if ".git/objects" not in str(p)
        and "/.git/logs" not in str(p) and not str(p).endswith((".git/dispatch", ".git/dispatch/lock", "merge-checks.json", "ahead-behind.json", "front-matter.json", "pair-merges.json"))
    )
    return {
        "refs": git(repo, "for-each-ref", "--format=%(refname) %(objectname)"),
        "worktrees": git(repo, "worktree", "list", "--porcelain"),
        "status": git(repo, "status", "--porcelain", "--untracked-files=all"),
        "files": "\n".join(files),
        "events": (state_dir / "events.jsonl").read_text() if (state_dir / "events.jsonl").exists() else "",
    }


# Helpers for tests of workers (real supervisors and the scripted worker).

FAST = {"DISPATCH_SCRIPTED_DELAY": "0"}


def sandbox_line() -> str:
    """The line `dispatch doctor` ends with under the default `sandbox = "auto"`: whether workers run confined
    on this machine (bubblewrap works here, or why not)."""
    from dispatch.worker import sandbox

    found = sandbox.probe()
    line = ("bwrap (auto): workers run confined; bubblewrap works here" if found.works
            else f"workers are not confined: {found.problem}; or set `sandbox = \"off\"` to say so")
    return f"sandbox  {line}\n"


def unconfined_note() -> str:
    """What `status` and `show` end with under the default `sandbox = "auto"` where bubblewrap cannot run (a
    blank line, then why workers run unconfined); nothing where it works."""
    from dispatch.worker import sandbox

    found = sandbox.probe()
    return "" if found.works else f"\nworkers are not confined: {found.problem}; or set `sandbox = \"off\"` to say so\n"


def sandbox_facts() -> dict[str, Any]:
    """`dispatch doctor --json`'s `sandbox` under the default `sandbox = "auto"`, on this machine."""
    from dispatch.worker import sandbox

    found = sandbox.probe()
    return {"requested": "auto", "mode": "bwrap" if found.works else "off", "network": True, "problem": found.problem}


def wait_for(what: Callable[[], Any], timeout: float = 30.0, message: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = what()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {message}")


def task_status(repo: Path, task_id: str) -> dict[str, Any]:
    r = dispatch("status", task_id, "--json", cwd=repo)
    assert r.code == 0, r.err
    return json.loads(r.out)["tasks"][0]


def state_is(repo: Path, task_id: str, *states: str) -> Callable[[], bool]:
    return lambda: task_status(repo, task_id)["state"] in states


def worker_json(repo: Path, task_id: str) -> dict[str, Any]:
    return json.loads((repo / ".git" / "dispatch" / "tasks" / task_id / "worker.json").read_text())


def events(repo: Path) -> list[dict[str, Any]]:
    path = repo / ".git" / "dispatch" / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]
