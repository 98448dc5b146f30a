"""A rebase left stopped on conflicts in a task's worktree is a state of its own: `conflict`."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

from conftest import FAST, dispatch, git, unconfined_note, wait_for


def _exits(repo: Path, task_id: str) -> int:
    path = repo / ".git" / "dispatch" / "events.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return sum(1 for e in map(json.loads, lines) if e["kind"] == "exited" and e["task"] == task_id)


def _stop_mid_rebase(repo: Path, tmp_path: Path) -> Path:
    """A finished task whose README.md edit conflicts with main's, rebased with --leave."""
    r = dispatch("new", "Edit the readme", "--model", "scripted", "--item", "Write `README.md`", cwd=repo, env=FAST)
    assert r.code == 0, r.err
    wait_for(lambda: _exits(repo, "edit-the-readme") == 1, message="the worker to end")
    assert dispatch("wait", "--timeout", "0", cwd=repo).code == 0  # its "finished" is told
    (repo / "README.md").write_text("# app, edited on main\n")
    git(repo, "commit", "-qam", "main edits the readme")
    r = dispatch("rebase", "edit-the-readme", "--leave", cwd=repo, tmp=tmp_path)
    assert r.code == 1
    return tmp_path / "work" / "app.dispatch" / "edit-the-readme"


WAY_ON = (
    "resolve them in <tmp>/work/app.dispatch/edit-the-readme, `git add` them and `git rebase --continue` there; "
    'or let a worker do it: `dispatch resume edit-the-readme --message "resolve the rebase conflicts"`; '
    "`git rebase --abort` there gives it up"
)


def test_a_rebase_stopped_on_conflicts_is_the_conflict_state_in_status_show_and_wait(
    repo: Path, tmp_path: Path
) -> None:
    wt = _stop_mid_rebase(repo, tmp_path)
    r = dispatch("status", cwd=repo, tmp=tmp_path, env={"COLUMNS": "1000"})
    assert (r.code, r.err) == (0, "")
    assert r.out == textwrap.dedent(f"""\
        ID               STATE     PLAN  Q  COMMITS  DIRTY  LAST  USAGE  TITLE            WORKTREE
        edit-the-readme  conflict  1/1   -  ↑2 ↓1    2      1h    0s     Edit the readme  <tmp>/work/app.dispatch/edit-the-readme
        edit-the-readme stopped mid-rebase with conflicts in README.md: {WAY_ON}
        needs you: 1 conflict (edit-the-readme)
        """) + unconfined_note()
    task = json.loads(dispatch("status", "--json", cwd=repo, tmp=tmp_path).out)["tasks"][0]
    assert (task["state"], task["in_progress"]) == (
        "conflict", {"operation": "rebase", "files": ["README.md"], "next": WAY_ON}
    )
    shown = dispatch("show", "edit-the-readme", cwd=repo, tmp=tmp_path).out.splitlines()
    assert shown[:4] == [
        "edit-the-readme — Edit the readme",
        "  state     conflict",
        "  stopped   mid-rebase with conflicts in README.md",
        f"  way on    {WAY_ON}",
    ]
    # A worker resumed to resolve it that ends without finishing: still a conflict, and wait says so.
    r = dispatch("resume", "edit-the-readme", cwd=repo, env=FAST)
    assert r.code == 0, r.err
    wait_for(lambda: _exits(repo, "edit-the-readme") == 2, message="the resumed worker to end")
    r = dispatch("wait", "--timeout", "60", cwd=repo)
    assert (r.code, r.err) == (0, "")
    assert r.out == (
        "edit-the-readme worker ended, stopped mid-rebase with conflicts in README.md\n"
        "  → dispatch show edit-the-readme\n"
    )
    assert json.loads(dispatch("status", "--json", cwd=repo).out)["tasks"][0]["state"] == "conflict"
    # Finished by hand: the state goes with it.
    (wt / "README.md").write_text("# app, both edits\n")
    git(wt, "add", "README.md")
    subprocess.run(["git", "rebase", "--continue"], cwd=wt, check=True, capture_output=True,
                   env={**os.environ, "GIT_EDITOR": "true"})
    assert json.loads(dispatch("status", "--json", cwd=repo).out)["tasks"][0]["state"] == "done"
