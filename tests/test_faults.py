"""Faults and races with real processes and real signals: dispatch stopped dead at each step of its work.

`DISPATCH_FAULT=NAME` makes dispatch SIGKILL itself at the checkpoint NAME (`NAME:int`: send itself a
Ctrl-C there), so each test reaches exactly the state a crash or a Ctrl-C at that step leaves.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import dispatch, git, sandbox_line, snapshot, wait_for, worker_json

LOCAL_EDIT = "# app\n\nlocal edit that must survive\n"
INTERRUPTED = "dispatch: interrupted\n"

# The steps of `dispatch merge`, in order; the target moves between `merge:moving` and `merge:moved`.
BEFORE_MOVE = ["merge:stripped", "merge:built", "merge:replayed", "merge:moving"]
AFTER_MOVE = ["merge:moved", "merge:rebased", "merge:trashed", "remove:worktree", "merge:removed"]
REBASE_ONLY = {"merge:replayed", "merge:rebased"}
MERGE_STEPS = [
    (strategy, step) for strategy in ("squash", "rebase") for step in BEFORE_MOVE + AFTER_MOVE
    if strategy == "rebase" or step not in REBASE_ONLY
]


def _run(*args: str, cwd: Path, fault: str | None = None) -> tuple[int, str, str]:
    r = dispatch(*args, cwd=cwd, env={"DISPATCH_FAULT": fault} if fault else None)
    return r.code, r.out, r.err


def _ok(*args: str, cwd: Path) -> str:
    code, out, err = _run(*args, cwd=cwd)
    assert (code, err) == (0, ""), f"dispatch {' '.join(args)}"
    return out


def _start(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "dispatch", *args], cwd=cwd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _kill(proc: subprocess.Popen[str]) -> None:
    """SIGKILL PROC and check it had told nothing."""
    proc.kill()
    assert proc.communicate(timeout=60) == ("", "")
    assert proc.returncode == -signal.SIGKILL


def _rev(repo: Path, ref: str) -> str | None:
    r = subprocess.run(["git", "rev-parse", "--verify", "--quiet", ref], cwd=repo, capture_output=True, text=True, check=False)
    return r.stdout.strip() or None


def _worktree(repo: Path, task_id: str) -> Path:
    return repo.parent / "app.dispatch" / task_id


def _task_with_work(repo: Path, title: str = "Fix the app") -> tuple[str, list[str]]:
    """A task whose worker made two commits and ticked its item, then a base that moved on; its id and commits."""
    r = dispatch("new", title, "--item", "Fix it", "--no-start", "--json", cwd=repo)
    assert r.code == 0, r.err
    task_id = json.loads(r.out)["task"]["id"]
    wt = _worktree(repo, task_id)
    (wt / "src" / "app.py").write_text("def main():\n    return 2\n")
    git(wt, "commit", "-qam", "fix the app")
    (wt / "notes.txt").write_text("why\n")
    git(wt, "add", "notes.txt")
    git(wt, "commit", "-qm", "write notes")
    plan = wt / ".dispatch" / "PLAN.md"
    plan.write_text(plan.read_text().replace("- [ ] Fix it", "- [x] Fix it"))
    git(wt, "commit", "-qam", "tick")
    # The base moves on, so a rebase has to replay; the user edits the main checkout and leaves it uncommitted.
    (repo / "docs.txt").write_text("docs\n")
    git(repo, "add", "docs.txt")
    git(repo, "commit", "-qm", "add docs")
    (repo / "README.md").write_text(LOCAL_EDIT)
    return task_id, git(repo, "rev-list", "--reverse", f"main..dispatch/{task_id}").splitlines()


_landed: dict[str, tuple[str, str]] = {}


def _landing_of(strategy: str, tmp_path: Path, repo: Path) -> tuple[str, str]:
    """The target and task branch an uninterrupted landing by STRATEGY leaves, from a clone made before the
    task (dates are pinned, so the same steps make the same commits)."""
    if strategy not in _landed:
        twin = tmp_path / "twin" / "app"
        git(tmp_path, "clone", "-q", str(repo), str(twin))
        task_id, _ = _task_with_work(twin)
        _ok("merge", task_id, "--strategy", strategy, "--yes", cwd=twin)
        _landed[strategy] = git(twin, "rev-parse", "main"), git(twin, "rev-parse", f"refs/dispatch/trash/{task_id}^")
    return _landed[strategy]


def _events_whole(repo: Path) -> None:
    for line in (repo / ".git" / "dispatch" / "events.jsonl").read_text().splitlines():
        assert isinstance(json.loads(line), dict)


def _patch_ids(repo: Path, *revs: str) -> dict[str, str]:
    """The patch id of each commit of REVS (`git log` arguments), by commit."""
    patches = git(repo, "log", "-p", "--no-merges", "--format=commit %H", *revs)
    pairs = git(repo, "patch-id", "--stable", input=patches + "\n").splitlines()
    return {commit: patch for patch, commit in (line.split() for line in pairs)}


def _reachable(repo: Path, commits: list[str]) -> None:
    """Every commit is still reachable from a ref (trash entries included), or, replayed by a rebase, its copy is."""
    everything = set(git(repo, "rev-list", "--all").splitlines())
    missing = [c for c in commits if c not in everything]
    if missing:
        copies = set(_patch_ids(repo, "--all").values())
        assert [c for c, patch in _patch_ids(repo, "--no-walk", *missing).items() if patch not in copies] == []


def _intact(repo: Path, task_id: str, tip: str) -> None:
    """The task is whole: its branch at TIP, its worktree on that branch and clean."""
    wt = _worktree(repo, task_id)
    assert _rev(repo, f"refs/heads/dispatch/{task_id}") == tip
    assert git(wt, "symbolic-ref", "HEAD") == f"refs/heads/dispatch/{task_id}"
    assert git(wt, "status", "--porcelain", "--untracked-files=all") == ""


def _nothing_left_to_repair(repo: Path) -> None:
    _ok("doctor", "--fix", cwd=repo)
    assert _ok("doctor", cwd=repo) == "nothing to repair\n" + sandbox_line()


@pytest.mark.parametrize("strategy, step", MERGE_STEPS)
def test_merge_killed_at_each_step(repo: Path, tmp_path: Path, strategy: str, step: str) -> None:
    """SIGKILL: the target unchanged or fully moved; the task intact, or restorable and then intact; the user's
    edit in the main checkout kept; doctor --fix leaves nothing to repair; the landing can then complete."""
    # A rebase moves the task's branch to its replayed commits: LANDED_TIP.
    landed, landed_tip = _landing_of(strategy, tmp_path, repo)
    task_id, commits = _task_with_work(repo)
    old, tip = git(repo, "rev-parse", "main"), commits[-1]
    code, _, _ = _run("merge", task_id, "--strategy", strategy, "--yes", cwd=repo, fault=step)
    assert code == -signal.SIGKILL  # it did reach the step
    moved = step in AFTER_MOVE
    assert git(repo, "rev-parse", "main") == (landed if moved else old)
    assert (repo / "README.md").read_text() == LOCAL_EDIT
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == "M README.md"
    _events_whole(repo)
    _reachable(repo, commits)
    if _rev(repo, f"refs/heads/dispatch/{task_id}") is None:
        assert _rev(repo, f"refs/dispatch/trash/{task_id}") is not None
        _ok("restore", task_id, cwd=repo)
    _nothing_left_to_repair(repo)
    on_branch = landed_tip if step in ("merge:rebased", "merge:trashed", "remove:worktree", "merge:removed") else tip
    _intact(repo, task_id, on_branch)
    # And it completes: a landing not yet done lands now; a landed task is cleaned away.
    if moved:
        _ok("clean", "--merged", "--yes", cwd=repo)
    else:
        _ok("merge", task_id, "--strategy", strategy, "--yes", cwd=repo)
    assert git(repo, "rev-parse", "main") == landed
    assert _rev(repo, f"refs/heads/dispatch/{task_id}") is None
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == "M README.md"
    _reachable(repo, commits)
    assert _ok("doctor", cwd=repo) == "nothing to repair\n" + sandbox_line()


@pytest.mark.parametrize("step", ["discard:trashed", "remove:worktree", "discard:removed"])
def test_discard_killed_at_each_step(repo: Path, step: str) -> None:
    """SIGKILL: the trash entry, uncommitted work included, exists before anything is removed; discarding again
    completes it, and restore brings all of it back."""
    task_id, commits = _task_with_work(repo)
    wt, tip = _worktree(repo, task_id), commits[-1]
    (wt / "src" / "app.py").write_text("def main():\n    return 3\n")
    (wt / "scratch.txt").write_text("not committed yet\n")
    base = git(repo, "rev-parse", "main")
    code, _, _ = _run("discard", task_id, "--yes", cwd=repo, fault=step)
    assert code == -signal.SIGKILL
    # The trash entry was written before anything was removed: the tip and the uncommitted work.
    record = _rev(repo, f"refs/dispatch/trash/{task_id}")
    assert record is not None and git(repo, "rev-parse", f"{record}^") == tip
    assert git(repo, "show", f"{record}:scratch.txt") == "not committed yet"
    assert git(repo, "show", f"{record}:src/app.py") == "def main():\n    return 3"
    assert git(repo, "rev-parse", "main") == base
    _events_whole(repo)
    _reachable(repo, commits)
    if _rev(repo, f"refs/heads/dispatch/{task_id}") is not None:
        _ok("discard", task_id, "--yes", cwd=repo)  # discarding again completes it
    assert git(repo, "branch", "--list", "dispatch/*") == ""
    assert not wt.exists()
    _ok("restore", task_id, cwd=repo)
    assert (wt / "scratch.txt").read_text() == "not committed yet\n"
    assert (wt / "src" / "app.py").read_text() == "def main():\n    return 3\n"
    assert git(wt, "status", "--porcelain", "--untracked-files=all") == "M src/app.py\n?? scratch.txt"
    assert _rev(repo, f"refs/heads/dispatch/{task_id}") == tip
    _nothing_left_to_repair(repo)


@pytest.mark.parametrize("strategy, step", [("squash", "merge:built")] + [
    ("rebase", step) for step in BEFORE_MOVE + AFTER_MOVE
])
def test_ctrl_c_during_merge_rolls_back_or_lands_whole(repo: Path, tmp_path: Path, strategy: str, step: str) -> None:
    """Ctrl-C: exit 130 and one line; before the target moves everything is as it was, after it the landing ends."""
    landed, landed_tip = _landing_of(strategy, tmp_path, repo)
    task_id, commits = _task_with_work(repo)
    before = snapshot(repo)
    assert _run("merge", task_id, "--strategy", strategy, "--yes", cwd=repo, fault=f"{step}:int") == (
        130, "", INTERRUPTED
    )
    if step in BEFORE_MOVE and step != "merge:moving":
        assert snapshot(repo) == before  # rolled back: refs, worktrees, files, events as they were
        _intact(repo, task_id, commits[-1])
    else:
        # Ctrl-C is held from just before the target moves until the task is put away: the landing ends whole.
        assert git(repo, "rev-parse", "main") == landed
        assert git(repo, "rev-parse", f"refs/dispatch/trash/{task_id}^") == landed_tip
        assert _rev(repo, f"refs/heads/dispatch/{task_id}") is None and not _worktree(repo, task_id).exists()
        assert json.loads((repo / ".git" / "dispatch" / "events.jsonl").read_text().splitlines()[-1])["kind"] == "merged"
    assert (repo / "README.md").read_text() == LOCAL_EDIT
    assert _ok("doctor", cwd=repo) == "nothing to repair\n" + sandbox_line()


@pytest.mark.parametrize("step", ["new:worktree", "new:files", "new:committed"])
def test_ctrl_c_during_new_leaves_nothing(repo: Path, step: str) -> None:
    """Ctrl-C: exit 130 and one line; no branch, worktree, folder or event is left; the same `new` then works."""
    _ok("new", "First", "--no-start", cwd=repo)
    before = snapshot(repo)
    assert _run("new", "Second", "--no-start", cwd=repo, fault=f"{step}:int") == (130, "", INTERRUPTED)
    assert snapshot(repo) == before
    assert _ok("new", "Second", "--no-start", "--json", cwd=repo).count('"id": "second"') == 1


def test_twenty_concurrent_news(repo: Path) -> None:
    """Twenty `new`s at once, all with the same title: the lock serialises them; none times out or collides."""
    procs = [_start("new", "Same title", "--no-start", "--json", cwd=repo) for _ in range(20)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [(p.returncode, err) for p, (_, err) in zip(procs, outputs, strict=True)] == [(0, "")] * 20
    ids = sorted(json.loads(out)["task"]["id"] for out, _ in outputs)
    assert ids == sorted(["same-title", *(f"same-title-{n}" for n in range(2, 21))])
    assert len(git(repo, "worktree", "list", "--porcelain").split("\n\n")) == 21
    for task_id in ids:
        assert git(repo, "log", "-1", "--format=%s", f"dispatch/{task_id}") == f"dispatch: plan {task_id}"
        assert git(_worktree(repo, task_id), "status", "--porcelain") == ""
    created = [e["task"] for e in map(json.loads, (repo / ".git" / "dispatch" / "events.jsonl").read_text().splitlines())]
    assert sorted(created) == ids


def _asks(task_id: str, n: int, question: str) -> str:
    return f'{task_id} asks Q{n}: {question}\n  → dispatch answer {task_id} "..."\n'


def _leave_question(repo: Path, task_id: str, n: int, question: str) -> None:
    """An open question in TASK_ID, as a worker whose `ask` timed out leaves it."""
    code, _, err = _run("ask", question, "--timeout", "0", cwd=_worktree(repo, task_id))
    assert (code, err.split(" within")[0]) == (75, f"dispatch: no answer to Q{n}"), err


LOOPING_WORKER = textwrap.dedent("""\
    import pathlib, subprocess, sys, time
    # Commits everything, as agents do (`git add -A && git commit`), until told to stop, or a minute has passed.
    def git(*args):
        return subprocess.run(["git", *args], capture_output=True).returncode == 0
    stop, n, give_up = pathlib.Path(sys.argv[1]), 0, time.monotonic() + 60
    while (not stop.exists() or n < 20) and time.monotonic() < give_up:
        pathlib.Path(f"work-{n}.txt").write_text(f"{n}\\n")
        while not (git("add", "-A") and git("commit", "-q", "-m", f"work {n}")) and time.monotonic() < give_up:
            time.sleep(0.005)  # someone else's git holds the index: try again, as a person would
        n += 1
        time.sleep(0.01)
    pathlib.Path(sys.argv[2]).write_text(str(n))
    """)



def test_answers_and_questions_while_the_worker_commits(repo: Path, tmp_path: Path) -> None:
    """`ask` and `answer` commit QUESTIONS.md while a worker commits in a loop: no error, no commit lost."""
    # A folder a confined worker may write (its /tmp is its own): the test stops it there, it counts there.
    folder = tmp_path / "home" / "looper"
    folder.mkdir(parents=True)
    script, stop, count = folder / "looper.py", folder / "stop", folder / "count"
    script.write_text(LOOPING_WORKER)
    (repo / ".dispatch.toml").write_text(textwrap.dedent(f"""\
        sandbox_write = ["{folder}"]
        [backends.looper]
        command = ["{{python}}", "{script}", "{stop}", "{count}"]
        [models.looper]
        backend = "looper"
        """))
    _ok("trust", cwd=repo)
    _ok("new", "Busy", "--model", "looper", cwd=repo)
    wt = _worktree(repo, "busy")
    try:
        wait_for(lambda: (wt / "work-3.txt").exists(), message="the worker to commit")
        for n in range(1, 4):
            # Asked by hand (no `ask` waits for it), so `answer` commits the answer itself, racing the worker's git.
            _leave_question(repo, "busy", n, f"Question {n}?")
            _ok("answer", "busy", f"Answer {n}", cwd=repo)
    finally:
        stop.write_text("")
    wait_for(lambda: worker_json(repo, "busy").get("phase") == "exited", message="the worker to end")
    assert worker_json(repo, "busy")["exit_code"] == 0
    subjects = git(repo, "log", "--format=%s", "main..dispatch/busy").splitlines()
    made = int(count.read_text())
    # Each worker commit is on the branch: one commit adds each file. (Not by message: two `git commit`s at
    # once in one worktree can garble each other's message through git's shared COMMIT_EDITMSG.)
    added = git(repo, "log", "--format=", "--name-only", "--diff-filter=A", "main..dispatch/busy").split()
    assert sorted(f for f in added if f.startswith("work-")) == sorted(f"work-{n}.txt" for n in range(made))
    assert len([s for s in subjects if not s.startswith("dispatch: ")]) >= made
    assert git(wt, "status", "--porcelain", "--untracked-files=all") == ""
    questions = git(repo, "show", "dispatch/busy:.dispatch/QUESTIONS.md")
    assert [n for n in range(1, 4) if f"Question {n}?" not in questions or f"Answer {n}" not in questions] == []
    assert json.loads(_ok("questions", "--json", cwd=repo))["questions"] == []


STRICT_WORKER = textwrap.dedent("""\
    import pathlib, subprocess, sys, time
    # Commits its own files by name (`git add FILE && git commit`) and never retries: any git failure ends it.
    # Between commits it asks, as a worker does: three times without waiting (the host answers while it goes
    # on committing), then once waiting for the answer.
    stop, failures, give_up = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), time.monotonic() + 90
    questions = pathlib.Path(".dispatch/QUESTIONS.md")
    def must(args, ok=(0,)):
        r = subprocess.run(args, capture_output=True, text=True)
        if r.returncode not in ok:
            failures.write_text(f"{args[:2]} failed: {r.stderr}")
            sys.exit(1)
        return r.stdout
    n, k = 0, 1
    while (not stop.exists() or k <= 4 or n < 30) and time.monotonic() < give_up:
        pathlib.Path(f"work-{n}.txt").write_text(f"{n}\\n")
        must(["git", "add", f"work-{n}.txt"])
        must(["git", "commit", "-q", "-m", f"work {n}"])
        n += 1
        answered = k == 1 or f"Answer {k - 1}" in questions.read_text()
        if k <= 3 and n % 5 == 0 and answered:
            must(["dispatch", "ask", "--timeout", "0", f"Question {k}?"], ok=(0, 75))  # 0: answered at once
            k += 1
        elif k == 4 and answered:
            if must(["dispatch", "ask", "--timeout", "60", "Question 4?"]) != "Answer 4\\n":
                failures.write_text("the wrong answer")
            k += 1
    """)


def test_questions_commit_without_the_worktree_index_lock(repo: Path, tmp_path: Path, hermetic: Path) -> None:
    """`ask` and `answer` while a worker that never retries its git commits in a loop: none of its git fails."""
    script, stop, failures = tmp_path / "strict.py", tmp_path / "stop", tmp_path / "failures"
    script.write_text(STRICT_WORKER)
    user_config = hermetic / ".config" / "dispatch" / "config.toml"
    user_config.parent.mkdir(parents=True, exist_ok=True)
    user_config.write_text(f'[backends.strict]\ncommand = ["{{python}}", "{script}", "{stop}", "{failures}"]\n'
                           '[models.strict]\nbackend = "strict"\n')
    _ok("new", "Busy", "--model", "strict", cwd=repo)
    wt = _worktree(repo, "busy")
    answered: list[int] = []
    try:
        while len(answered) < 4 and not failures.exists() and worker_json(repo, "busy").get("phase") != "exited":
            for q in json.loads(_ok("questions", "--json", cwd=repo))["questions"]:
                _ok("answer", "busy", f"Answer {q['number']}", cwd=repo)
                answered.append(q["number"])
            time.sleep(0.02)
    finally:
        stop.write_text("")
    wait_for(lambda: worker_json(repo, "busy").get("phase") == "exited", message="the worker to end")
    assert (failures.exists() and failures.read_text(), worker_json(repo, "busy")["exit_code"]) == (False, 0)
    assert answered == [1, 2, 3, 4]
    subjects = git(repo, "log", "--format=%s", "main..dispatch/busy").splitlines()
    # Answers 1-3 came while the worker ran without waiting: the next `ask` commit carried each.
    assert [s for s in subjects if s.startswith("dispatch: ")][::-1] == [
        "dispatch: plan busy", "dispatch: ask Q1", "dispatch: ask Q2", "dispatch: ask Q3", "dispatch: ask Q4",
        "dispatch: answer Q4",
    ]
    made = len([s for s in subjects if s.startswith("work ")])
    added = git(repo, "log", "--format=", "--name-only", "--diff-filter=A", "main..dispatch/busy").split()
    assert sorted(f for f in added if f.startswith("work-")) == sorted(f"work-{n}.txt" for n in range(made))
    assert git(wt, "status", "--porcelain", "--untracked-files=all") == ""
    questions = git(repo, "show", "dispatch/busy:.dispatch/QUESTIONS.md")
    assert questions + "\n" == (wt / ".dispatch" / "QUESTIONS.md").read_text()
    assert [n for n in range(1, 5) if f"Question {n}?" not in questions or f"Answer {n}" not in questions] == []


def test_wait_killed_at_any_moment_is_restarted_without_losing_or_repeating(repo: Path) -> None:
    """SIGKILLed `wait`s, plain and filtered: the next `wait` tells each question exactly once."""
    _ok("new", "Alpha", "--no-start", cwd=repo)
    _ok("new", "Beta", "--no-start", cwd=repo)
    # A worker at work, so that `wait` has something to wait for and blocks.
    _ok("new", "Sleeper", "--model", "scripted", "--item", "Write `s.txt` (hang)", cwd=repo)
    # Killed at different moments of its run (starting, reading the log and the open questions, blocking);
    # news that comes while no waiter runs is told once by the next one.
    for n, delay in enumerate([0.05, 0.3, 1.0], start=1):
        waiter = _start("wait", "--consumer", "host", cwd=repo)
        try:
            time.sleep(delay)
        finally:
            _kill(waiter)
        _leave_question(repo, "alpha", n, f"Question {n}?")
        assert _ok("wait", "--consumer", "host", "--timeout", "60", cwd=repo) == _asks("alpha", n, f"Question {n}?")
        _ok("answer", "alpha", f"Answer {n}", cwd=repo)  # an answer is not news
    assert _run("wait", "--consumer", "host", "--timeout", "0", cwd=repo)[0] == 124  # it has read everything
    # Killed while waiting for alpha and the sleeper only, after news of beta came: that news is kept for a later wait.
    cursor = repo / ".git" / "dispatch" / "consumers" / "host.json"
    seen = cursor.stat().st_mtime_ns
    waiter = _start("wait", "alpha", "sleeper", "--consumer", "host", cwd=repo)
    try:
        _leave_question(repo, "beta", 1, "Which port?")
        wait_for(lambda: cursor.stat().st_mtime_ns != seen, message="the waiter to read beta's question")
    finally:
        _kill(waiter)
    assert _ok("wait", "--consumer", "host", "--timeout", "60", cwd=repo) == _asks("beta", 1, "Which port?")
    assert _run("wait", "--consumer", "host", "--timeout", "0", cwd=repo) == (
        124, "", "dispatch: nothing new within 0s: run `dispatch wait` again to keep waiting\n"
    )
    _ok("stop", "sleeper", cwd=repo)


def test_discard_saves_an_edit_git_can_only_tell_by_content(repo: Path) -> None:
    # A same-size edit in the same second as the commit: its stat matches the index, so git must reread it
    # (the "racily clean" check, which compares the index file's own mtime); the snapshot must do the same.
    git(repo, "config", "core.trustctime", "false")  # ctime cannot be set: take it out, so the test is exact
    _ok("new", "Racy", "--no-start", cwd=repo)
    wt, then = _worktree(repo, "racy"), 1_700_000_000
    app = wt / "src" / "app.py"
    app.write_text("def main():\n    return 2\n")
    os.utime(app, (then, then))
    git(wt, "commit", "-qam", "work")
    app.write_text("def main():\n    return 3\n")
    os.utime(app, (then, then))
    os.utime(git(wt, "rev-parse", "--path-format=absolute", "--git-path", "index"), (then, then))
    assert git(wt, "--no-optional-locks", "status", "--porcelain") == "M src/app.py"  # leaves the index as it is
    _ok("discard", "racy", "--yes", cwd=repo)
    assert git(repo, "show", "refs/dispatch/trash/racy:src/app.py") == "def main():\n    return 3"
