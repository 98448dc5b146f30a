"""`dispatch doctor` finds each damaged state, explains it, and `--fix` repairs it without losing a commit."""

from __future__ import annotations

import json
import os
import shutil
import signal
import textwrap
from pathlib import Path

from conftest import FAST, dispatch, git, sandbox_facts, sandbox_line, task_status, wait_for, worker_json


def _new(repo: Path, title: str, *extra: str) -> Path:
    r = dispatch("new", title, "--no-start", "--json", *extra, cwd=repo)
    assert r.code == 0, r.err
    return Path(json.loads(r.out)["task"]["worktree"])


def test_nothing_to_repair(repo: Path) -> None:
    _new(repo, "Fine")
    assert (lambda r: (r.code, r.out))(dispatch("doctor", cwd=repo)) == (0, "nothing to repair\n" + sandbox_line())


def test_worktree_folder_deleted_by_hand(repo: Path, tmp_path: Path) -> None:
    wt = _new(repo, "Lost tree")
    git(wt, "commit", "-q", "--allow-empty", "-m", "work")
    shutil.rmtree(wt)
    r = dispatch("doctor", cwd=repo, tmp=tmp_path)
    assert (r.code, r.out) == (1, (
        "problem  lost-tree: worktree <tmp>/work/app.dispatch/lost-tree is missing: `dispatch doctor --fix` will "
        "prune it and check dispatch/lost-tree out there again\n" + sandbox_line()
    ))
    r = dispatch("doctor", "--fix", cwd=repo, tmp=tmp_path)
    assert (r.code, r.out) == (0, (
        "fixed    lost-tree: worktree <tmp>/work/app.dispatch/lost-tree is missing: prune it and check "
        "dispatch/lost-tree out there again\n" + sandbox_line()
    ))
    assert git(wt, "log", "-1", "--format=%s") == "work"
    assert task_status(repo, "lost-tree")["state"] == "idle"


def test_branch_deleted_by_hand(repo: Path, tmp_path: Path) -> None:
    wt = _new(repo, "Lost branch")
    git(wt, "commit", "-q", "--allow-empty", "-m", "precious work")
    tip = git(wt, "rev-parse", "HEAD")
    git(repo, "update-ref", "-d", "refs/heads/dispatch/lost-branch")
    assert task_status(repo, "lost-branch")["problem"] == "branch dispatch/lost-branch is missing"
    r = dispatch("doctor", "--fix", "--json", cwd=repo)
    assert json.loads(r.out) == {"version": 1, "remaining": 0, "findings": [{
        "task": "lost-branch", "problem": "branch dispatch/lost-branch was deleted",
        "fix": f"recreate it at {tip[:7]}, the worktree's last commit", "fixable": True, "fixed": True,
    }], "sandbox": sandbox_facts()}
    assert git(repo, "rev-parse", "dispatch/lost-branch") == tip
    assert task_status(repo, "lost-branch")["state"] == "idle"


def test_unreadable_plan_names_the_line(repo: Path, tmp_path: Path) -> None:
    wt = _new(repo, "Bad plan")
    (wt / ".dispatch" / "PLAN.md").write_text("---\nid: [oops\n---\n# x\n")
    r = dispatch("doctor", "--fix", cwd=repo, tmp=tmp_path)
    assert r.code == 1
    assert r.out.startswith("problem  bad-plan: .dispatch/PLAN.md line ")
    assert r.out.endswith(
        ": fix it by hand, or restore it: `git -C <tmp>/work/app.dispatch/bad-plan checkout HEAD -- .dispatch/PLAN.md`\n"
        + sandbox_line()
    )
    assert (wt / ".dispatch" / "PLAN.md").read_text() == "---\nid: [oops\n---\n# x\n"


def test_runtime_folder_of_a_task_that_is_gone_and_a_stale_lock_note(repo: Path, tmp_path: Path) -> None:
    _new(repo, "Real")
    stray = repo / ".git" / "dispatch" / "tasks" / "ghost"
    stray.mkdir(parents=True)
    (stray / "worker.log").write_text("old\n")
    (repo / ".git" / "dispatch" / "lock").write_text("999999\n")
    r = dispatch("doctor", "--fix", cwd=repo, tmp=tmp_path)
    assert (r.code, r.out) == (0, textwrap.dedent("""\
        fixed    the repository lock names pid 999999, which is gone (the lock itself is free): clear the stale note
        fixed    ghost: runtime folder <tmp>/work/app/.git/dispatch/tasks/ghost belongs to no live or trashed task: remove it
        """) + sandbox_line())
    assert not stray.exists()


def test_supervisor_killed_then_doctor_fix_and_resume_continue(repo: Path, tmp_path: Path) -> None:
    r = dispatch("new", "Orphan", "--model", "scripted", "--item", "Write `a.txt` (hang)", "--item", "Write `b.txt`",
                 cwd=repo, env=FAST)
    assert r.code == 0, r.err
    wt = tmp_path / "work" / "app.dispatch" / "orphan"
    wait_for(lambda: (wt / "a.txt").exists(), message="the edit")
    os.kill(worker_json(repo, "orphan")["supervisor_pid"], signal.SIGKILL)
    wait_for(lambda: task_status(repo, "orphan")["state"] == "broken", message="status to notice")
    assert task_status(repo, "orphan")["problem"] == (
        "its worker's supervisor is gone: `dispatch doctor --fix` ends the worker and saves its work"
    )
    r = dispatch("doctor", "--fix", cwd=repo)
    assert (r.code, r.out) == (0, (
        "fixed    orphan: its supervisor is gone while worker.json says the worker runs: record the worker as "
        "ended and commit what it left; then `dispatch resume`\n" + sandbox_line()
    ))
    assert git(repo, "log", "-1", "--format=%s", "dispatch/orphan") == "dispatch: save uncommitted work (worker exit -1)"
    assert git(repo, "show", "dispatch/orphan:a.txt") == "Write `a.txt`"
    plan = wt / ".dispatch" / "PLAN.md"
    plan.write_text(plan.read_text().replace(" (hang)", ""))
    git(wt, "commit", "-qam", "unhang")
    assert dispatch("resume", "orphan", cwd=repo, env=FAST).code == 0
    wait_for(lambda: task_status(repo, "orphan")["state"] == "done", message="the task to finish")


def test_a_task_whose_creation_was_cut_short_goes_to_the_trash(repo: Path, tmp_path: Path) -> None:
    # What a SIGKILL between `git worktree add` and the plan commit leaves behind.
    wt = tmp_path / "work" / "app.dispatch" / "half"
    git(repo, "worktree", "add", "-q", "-b", "dispatch/half", str(wt), "main")
    r = dispatch("doctor", cwd=repo)
    assert (r.code, r.out) == (1, (
        "problem  half: it has no plan: its creation was cut short: `dispatch doctor --fix` will move it to the "
        "trash (`dispatch restore half` brings it back)\n" + sandbox_line()
    ))
    tip = git(repo, "rev-parse", "dispatch/half")
    assert dispatch("doctor", "--fix", cwd=repo).code == 0
    assert git(repo, "branch", "--list", "dispatch/*") == ""
    assert not wt.exists()
    assert git(repo, "rev-parse", "refs/dispatch/trash/half^") == tip
    assert dispatch("doctor", cwd=repo).out == "nothing to repair\n" + sandbox_line()
