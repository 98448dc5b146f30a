"""Every built-in backend's worker runs in its worktree: real folder and $PWD (opencode reads $PWD)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from conftest import dispatch, git, wait_for, worker_json

from dispatch.config import BUILTIN_BACKENDS

# A stand-in for each CLI, under the CLI's own name: it writes where it runs and what $PWD says.
# Our Python, not sh or a `python3` wrapper: a shell quietly replaces a $PWD that does not name its
# folder, opencode does not.
WHERE = f"#!{sys.executable}\nimport os\nopen('where.txt', 'w').write(os.getcwd() + '\\n' + os.environ.get('PWD', '') + '\\n')\n"


@pytest.mark.parametrize("backend", [b for b in BUILTIN_BACKENDS if b != "scripted"])
def test_every_builtin_backend_gets_its_worktree_as_pwd(repo: Path, tmp_path: Path, backend: str) -> None:
    program = BUILTIN_BACKENDS[backend]["command"][0]
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / program).write_text(WHERE)
    (bindir / program).chmod(0o755)
    config = tmp_path / "home" / ".config" / "dispatch" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f'[models.stand-in]\nbackend = "{backend}"\n')
    env = {"PATH": os.pathsep.join([str(bindir), os.environ["PATH"]]), "PWD": str(repo)}
    r = dispatch("new", "Where am I", "--model", "stand-in", cwd=repo, env=env)
    assert (r.code, r.err) == (0, "")
    wait_for(lambda: worker_json(repo, "where-am-i").get("phase") == "exited", message="the worker to exit")
    wt = tmp_path / "work" / "app.dispatch" / "where-am-i"
    assert (wt / "where.txt").read_text() == f"{wt}\n{wt}\n"
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""
