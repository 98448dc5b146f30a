"""A note never blocks landing, and `note` says truthfully who will read it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from conftest import dispatch, git
from test_land import _commit, _task, _task_files_on

NOTE = "Use the staging database."


@pytest.mark.parametrize("strategy", ["squash", "merge", "rebase", "ff"])
def test_a_note_on_a_finished_task_never_blocks_its_landing_and_is_kept_in_the_trash(
    repo: Path, tmp_path: Path, strategy: str
) -> None:
    wt = _task(repo, "Fix it", {"src/app.py": "def main():\n    return 2\n"})
    if strategy == "rebase":  # main moves on: the task's commits are replayed in its worktree
        _commit(repo, "README.md", "# app, moved on\n", "main moves on")
    r = dispatch("note", "fix-it", NOTE, cwd=repo, tmp=tmp_path)
    assert (r.code, r.err) == (0, "")
    assert r.out == (
        "noted in <tmp>/work/app.dispatch/fix-it/.dispatch/NOTES.md: no worker runs, so nobody reads it until one "
        "does (`dispatch resume fix-it` starts one); it never blocks landing\n"
    )
    old = git(repo, "rev-parse", "main")
    r = dispatch("merge", "fix-it", "--strategy", strategy, "--yes", cwd=repo, tmp=tmp_path)
    assert (r.code, r.err) == (0, "")
    new = git(repo, "rev-parse", "main")
    assert r.out == textwrap.dedent(f"""\
        landed fix-it on main by {strategy}: {old[:7]} -> {new[:7]}
          removed its worktree and branch; `dispatch restore fix-it` brings them back
        """)
    assert (repo / "src" / "app.py").read_text() == "def main():\n    return 2\n"
    assert _task_files_on(repo, "main") == []
    assert not wt.exists()
    # The note was not lost: the trash record holds it, and restore brings it back uncommitted.
    assert NOTE in git(repo, "show", "refs/dispatch/trash/fix-it:.dispatch/NOTES.md")
    assert dispatch("restore", "fix-it", cwd=repo).code == 0
    assert git(wt, "status", "--porcelain") == "M .dispatch/NOTES.md"
    assert NOTE in (wt / ".dispatch" / "NOTES.md").read_text()


def test_other_uncommitted_work_still_blocks_landing(repo: Path, tmp_path: Path) -> None:
    wt = _task(repo, "Fix it", {"src/app.py": "def main():\n    return 2\n"})
    assert dispatch("note", "fix-it", NOTE, cwd=repo).code == 0
    (wt / "src" / "app.py").write_text("def main():\n    return 3\n")
    r = dispatch("merge", "fix-it", "--yes", cwd=repo, tmp=tmp_path)
    assert (r.code, r.out) == (1, "")
    assert r.err == (
        "dispatch: fix-it has uncommitted changes in <tmp>/work/app.dispatch/fix-it: src/app.py: "
        "commit or remove them there, then land it\n"
    )


def test_note_names_the_running_or_queued_worker_as_its_reader(repo: Path, tmp_path: Path) -> None:
    from conftest import FAST, wait_for

    r = dispatch("new", "Slow", "--model", "scripted", "--item", "Write `a.txt` (hang)", cwd=repo, env=FAST)
    assert r.code == 0, r.err
    wait_for(lambda: (tmp_path / "work" / "app.dispatch" / "slow" / "a.txt").exists(), message="the worker to start")
    assert dispatch("new", "Next", "--model", "scripted", "--after", "slow", cwd=repo, env=FAST).code == 0
    r = dispatch("note", "slow", NOTE, cwd=repo, tmp=tmp_path)
    assert r.out == "noted in <tmp>/work/app.dispatch/slow/.dispatch/NOTES.md: its running worker reads it there and commits it\n"
    r = dispatch("note", "next", NOTE, cwd=repo, tmp=tmp_path)
    assert r.out == "noted in <tmp>/work/app.dispatch/next/.dispatch/NOTES.md: its worker reads it when it starts\n"
    assert dispatch("stop", "slow", cwd=repo).code == 0
