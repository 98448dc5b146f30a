"""Issue 13: no dispatch command loses a worker's commit or uncommitted work, even when it misbehaves."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import conftest
import pytest
from conftest import dispatch, git, sandbox_line, snapshot

from dispatch.task import runtime
from dispatch.task.plan import parse_plan


def wait_for(what: Callable[[], Any], timeout: float = 60.0, message: str = "condition") -> Any:
    return conftest.wait_for(what, timeout, message)  # these workers run longer: a minute


def worker_json(repo: Path, task_id: str) -> dict[str, Any]:
    path = repo / ".git" / "dispatch" / "tasks" / task_id / "worker.json"
    return json.loads(path.read_text()) if path.exists() else {}


def test_notes_while_the_worker_rewrites_its_plan_lose_no_item(repo: Path, tmp_path: Path) -> None:
    """13.1: `note` never rewrites PLAN.md; notes go to NOTES.md, which only dispatch writes."""
    items = [f"Write `f{n:02}.txt`" for n in range(40)]
    r = dispatch(
        "new", "Busy", "--model", "scripted", *[a for item in items for a in ("--item", item)],
        cwd=repo, env={"DISPATCH_SCRIPTED_DELAY": "0.02"},
    )
    assert r.code == 0, r.err
    wt = tmp_path / "work" / "app.dispatch" / "busy"
    for n in range(30):
        r = dispatch("note", "busy", f"note {n}", cwd=repo, tmp=tmp_path)
        # Who reads it is said truly: the running worker, or (once it finished) nobody until a resume.
        assert (r.code, r.err) == (0, "")
        assert r.out in (
            "noted in <tmp>/work/app.dispatch/busy/.dispatch/NOTES.md: its running worker reads it there and commits it\n",
            ("noted in <tmp>/work/app.dispatch/busy/.dispatch/NOTES.md: no worker runs, so nobody reads it until one "
            "does (`dispatch resume busy` starts one); it never blocks landing\n"),
        )
    wait_for(lambda: worker_json(repo, "busy").get("phase") == "exited", message="the worker to exit")
    assert worker_json(repo, "busy")["exit_code"] == 0
    plan = parse_plan(git(repo, "show", "dispatch/busy:.dispatch/PLAN.md") + "\n")
    assert [(i.mark, i.text) for i in plan.items] == [("x", f"{t} — wrote f{n:02}.txt") for n, t in enumerate(items)]
    assert (wt / ".dispatch" / "NOTES.md").read_text() == (
        "# Notes from the dispatcher\n\n"
        "Added with `dispatch note busy \"...\"` while you work: read this file again before each item.\n"
        "Only dispatch writes it: do not edit it.\n\n"
        + "".join(f"- 2026-11-23T11:00:00Z — note {n}\n" for n in range(30))
    )


def test_notes_never_make_a_workers_git_add_fail(repo: Path, tmp_path: Path) -> None:
    """13.1: a note is appended in place, never renamed over: `git add -A` in the worktree never meets a
    temporary file that vanishes before git opens it (a worker that does not retry would fail)."""
    assert dispatch("new", "Adder", "--no-start", cwd=repo).code == 0
    wt = tmp_path / "work" / "app.dispatch" / "adder"
    stop, failures = tmp_path / "stop", tmp_path / "failures"
    adder = subprocess.Popen([sys.executable, "-c", ADD_ALL, str(stop), str(failures)], cwd=wt)
    try:
        wait_for(failures.exists, message="the adder to start")
        for n in range(200):
            assert dispatch("note", "adder", f"note {n}", cwd=repo).code == 0
    finally:
        stop.write_text("")
        adder.wait(timeout=60)
    assert (adder.returncode, failures.read_text()) == (0, "")
    assert git(wt, "status", "--porcelain") in ("M  .dispatch/NOTES.md", "MM .dispatch/NOTES.md")
    assert (wt / ".dispatch" / "NOTES.md").read_text().endswith("- 2026-11-23T11:00:00Z — note 199\n")


ADD_ALL = """\
import pathlib, subprocess, sys
stop, failures = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
failures.write_text("")
while not stop.exists():
    r = subprocess.run(["git", "add", "-A"], capture_output=True, text=True)
    if r.returncode != 0:
        with failures.open("a") as f:
            f.write(r.stderr)
"""


def test_a_plan_cut_short_is_never_all_done(repo: Path, tmp_path: Path) -> None:
    """13.1: a plan with no checklist left reads as damaged, not as "every item is done"."""
    assert dispatch("new", "Cut", "--model", "scripted", "--item", "Write `a.txt`", "--no-start", cwd=repo).code == 0
    wt = tmp_path / "work" / "app.dispatch" / "cut"
    plan = wt / ".dispatch" / "PLAN.md"
    plan.write_text(plan.read_text().split("## Checklist")[0])
    r = dispatch("resume", "cut", cwd=repo, env={"DISPATCH_SCRIPTED_DELAY": "0"})
    assert r.code == 0, r.err
    wait_for(lambda: worker_json(repo, "cut").get("phase") == "exited", message="the worker to exit")
    assert worker_json(repo, "cut")["exit_code"] == 1
    log = (repo / ".git" / "dispatch" / "tasks" / "cut" / "worker.log").read_text().splitlines()
    assert [line for line in log if not line.startswith(("[dispatch", "scripted worker on"))] == [
        "dispatch: .dispatch/PLAN.md has no checklist items: restore it with `git checkout -- .dispatch/PLAN.md`"
    ]


RESETTER = """\
import pathlib, subprocess, sys
def git(*args): subprocess.run(["git", *args], check=True)
for name in ("one", "two"):
    pathlib.Path(name + ".txt").write_text(name + "\\n")
    git("add", name + ".txt")
    git("commit", "-qm", name)
git("reset", "-q", "--hard", sys.argv[1])
"""


def _misbehaving_worker(tmp_path: Path, name: str, script: str, *args: str) -> None:
    """A model `name` whose worker is SCRIPT run with ARGS: a real process in the task's worktree."""
    path = tmp_path / f"{name}.py"
    path.write_text(script)
    config = tmp_path / "home" / ".config" / "dispatch" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    argv = ", ".join(json.dumps(a) for a in ["{python}", str(path), *args])
    with config.open("a") as f:
        f.write(f'[backends.{name}]\ncommand = [{argv}]\n[models.{name}]\nbackend = "{name}"\n')


def _dangling_commits(repo: Path) -> list[str]:
    return [line for line in git(repo, "fsck", "--no-progress", "--dangling").splitlines() if line.startswith("dangling commit")]


# What only an unconfined worker can do (`--sandbox off`, or no bubblewrap): make branches and worktrees of the
# repository, outlive its supervisor. A confined one is refused, or dies with it: tests/test_sandbox.py.
UNCONFINED = ("--sandbox", "off")


def _run_to_exit(repo: Path, title: str, model: str, *options: str) -> None:
    r = dispatch("new", title, "--model", model, "--item", "work", *options, cwd=repo)
    assert r.code == 0, r.err
    # The supervisor records the exit in worker.json, then in the events log: wait for the event.
    log = repo / ".git" / "dispatch" / "events.jsonl"
    wait_for(lambda: '"kind": "exited"' in log.read_text(), message="the exited event")


def test_discard_keeps_the_commits_a_worker_reset_away_and_restore_brings_them_back(repo: Path, tmp_path: Path) -> None:
    """13.2: the trash record keeps every commit the branch or the worktree's HEAD pointed at."""
    _misbehaving_worker(tmp_path, "resetter", RESETTER, "HEAD~2")
    _run_to_exit(repo, "Reset", "resetter")
    assert git(repo, "log", "--format=%s", "main..dispatch/reset") == "dispatch: plan reset"
    # Another entry in the trash, listed after it: each entry keeps its own commits.
    assert dispatch("new", "Zzz", "--no-start", cwd=repo).code == 0
    assert dispatch("discard", "zzz", "--yes", cwd=repo).code == 0
    r = dispatch("discard", "reset", "--yes", cwd=repo)
    assert r.code == 0, r.err
    assert _dangling_commits(repo) == []
    record = "refs/dispatch/trash/reset"
    assert git(repo, "log", "--format=%s", "--first-parent", "-1", f"{record}^1") == "dispatch: plan reset"
    assert git(repo, "log", "--format=%s", f"{record}^2", "-2") == "two\none"
    record_sha = git(repo, "rev-parse", record)
    r = dispatch("restore", "reset", cwd=repo)
    assert r.code == 0, r.err
    assert git(repo, "rev-parse", "dispatch/reset") == git(repo, "rev-parse", "dispatch/reset@{1}~2")
    assert git(repo, "log", "-g", "--format=%gs%x09%s", "dispatch/reset") == (
        "dispatch restore: from the trash\tdispatch: plan reset\n"
        "dispatch restore: from the trash, a commit its reflog held\ttwo"
    )
    # Only the trash record itself, which restore has put back into the worktree, is left behind.
    assert _dangling_commits(repo) == [f"dangling commit {record_sha}"]


def test_a_worker_that_resets_to_the_base_is_no_half_made_task(repo: Path, tmp_path: Path) -> None:
    """13.2: doctor tells a reset task from one whose creation was cut short, and --fix leaves it be."""
    base = git(repo, "rev-parse", "main")
    _misbehaving_worker(tmp_path, "rebaser", RESETTER, base)
    _run_to_exit(repo, "Back", "rebaser")
    planned = git(repo, "rev-parse", "dispatch/back@{1}")
    assert git(repo, "log", "-1", "--format=%s", planned) == "two"
    expected = (
        f"problem  back: its branch was reset to {base[:7]}, before its plan commit: "
        f"`git -C <tmp>/work/app.dispatch/back reset --hard {planned[:7]}` brings back its last commit with a plan, "
        "or `dispatch discard back` keeps every commit in the trash\n" + sandbox_line()
    )
    r = dispatch("doctor", cwd=repo, tmp=tmp_path)
    assert (r.code, r.out, r.err) == (1, expected, "")
    r = dispatch("doctor", "--fix", cwd=repo, tmp=tmp_path)
    assert (r.code, r.out, r.err) == (1, expected, "")
    assert git(repo, "rev-parse", "dispatch/back") == base
    assert dispatch("discard", "back", "--yes", cwd=repo).code == 0
    assert _dangling_commits(repo) == []
    assert git(repo, "log", "-1", "--format=%s", "refs/dispatch/trash/back^2") == "two"


def test_a_torn_last_line_in_the_events_log_swallows_no_event(repo: Path, tmp_path: Path) -> None:
    """13.5: an append starts on a fresh line, and readers skip a torn line instead of merging it."""
    r = dispatch("new", "Torn", "--model", "scripted", "--item", "Write `t.txt` (hang)", cwd=repo,
                 env={"DISPATCH_SCRIPTED_DELAY": "0"})
    assert r.code == 0, r.err
    wt = tmp_path / "work" / "app.dispatch" / "torn"
    wait_for(lambda: (wt / "t.txt").exists(), message="the edit")
    log = repo / ".git" / "dispatch" / "events.jsonl"
    with log.open("a") as f:
        f.write('{"kind": "exited", "task": "to')  # what a writer killed mid-write (or a full disk) leaves
    os.killpg(worker_json(repo, "torn")["pid"], signal.SIGKILL)
    r = dispatch("wait", "--timeout", "60", cwd=repo)
    assert (r.code, r.out, r.err) == (
        0, "torn failed (exit -9)\n  → dispatch logs torn -n 30\n", "")
    r = dispatch("events", "--json", cwd=repo)
    assert [(e["task"], e["kind"]) for e in json.loads(r.out)["events"]] == [
        ("torn", "created"), ("torn", "started"), ("torn", "exited")
    ]


def test_an_event_glued_to_a_torn_line_by_an_older_dispatch_is_read(repo: Path) -> None:
    """13.5: readers skip the torn part of a line and keep the whole event after it."""
    log = repo / ".git" / "dispatch" / "events.jsonl"
    log.parent.mkdir(parents=True)
    whole = '{"kind": "exited", "task": "old", "time": "2026-11-23T10:00:00Z"}'
    log.write_text('{"kind": "created", "ta' + whole + "\n" + '{"kind": "nonsense' + "\n")
    r = dispatch("events", "--json", cwd=repo)
    assert (r.code, r.err) == (0, "")
    assert json.loads(r.out)["events"] == [json.loads(whole)]


def _kill_at_the_end(request: pytest.FixtureRequest, pid: int) -> None:
    """A failing test must not leave a hanging worker behind."""
    def kill() -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    request.addfinalizer(kill)


def test_discard_refuses_while_a_worker_whose_supervisor_died_still_runs(
    repo: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """13.4: a worker alive without its supervisor is stopped first (`dispatch stop` can now), never left writing."""
    r = dispatch("new", "Orphan", "--model", "scripted", "--item", "Write `o.txt` (hang)", *UNCONFINED, cwd=repo,
                 env={"DISPATCH_SCRIPTED_DELAY": "0"})
    assert r.code == 0, r.err
    wt = tmp_path / "work" / "app.dispatch" / "orphan"
    wait_for(lambda: (wt / "o.txt").exists(), message="the edit")
    worker = worker_json(repo, "orphan")
    _kill_at_the_end(request, worker["pid"])
    os.kill(worker["supervisor_pid"], signal.SIGKILL)
    wait_for(lambda: json.loads(dispatch("status", "--json", cwd=repo).out)["tasks"][0]["state"] == "broken",
             message="the supervisor to be gone")
    before = snapshot(repo)
    for args, action in ((["discard", "orphan", "--yes"], "discard it"), (["merge", "orphan", "--yes"], "land it")):
        r = dispatch(*args, cwd=repo)
        assert (r.code, r.out, r.err) == (1, "", (
            "dispatch: the worker of `orphan` still runs, but its supervisor is gone: `dispatch stop orphan` ends it "
            f"and commits its work, then {action}\n"))
        assert snapshot(repo) == before
    r = dispatch("stop", "orphan", cwd=repo)
    saved = git(repo, "rev-parse", "dispatch/orphan")
    assert (r.code, r.out, r.err) == (0, (
        f"stopped the worker of orphan; its uncommitted work was committed as {saved[:7]}\n"
        "  `dispatch resume orphan` starts a fresh worker where it left off\n"), "")
    assert runtime.is_alive(worker["pid"], worker["pid_start"]) is False
    assert git(repo, "log", "-1", "--format=%s", saved) == "dispatch: save uncommitted work (worker exit -15)"
    assert git(repo, "show", f"{saved}:o.txt") == "Write `o.txt`"
    assert json.loads(dispatch("status", "--json", cwd=repo).out)["tasks"][0]["state"] == "stopped"
    assert dispatch("discard", "orphan", "--yes", cwd=repo).code == 0
    assert _dangling_commits(repo) == []


NESTER = """\
import pathlib, subprocess, sys
def git(*args, cwd="."): subprocess.run(["git", *args], check=True, cwd=cwd)
git("init", "-q", "sub")
pathlib.Path("sub/inner.txt").write_text("only in sub\\n")
git("add", "inner.txt", cwd="sub")
git("commit", "-qm", "sub's own commit", cwd="sub")
if sys.argv[1:] == ["and-a-worktree"]:
    git("worktree", "add", "-q", "nested", "-b", "side")
    pathlib.Path("nested/draft.txt").write_text("uncommitted in a nested worktree\\n")
"""


def test_discard_refuses_to_destroy_repositories_inside_a_worktree(repo: Path, tmp_path: Path) -> None:
    """13.3: git keeps a nested repository or worktree only as a gitlink: discard names them and the way out."""
    _misbehaving_worker(tmp_path, "nester", NESTER, "and-a-worktree")
    _run_to_exit(repo, "Nest", "nester", *UNCONFINED)
    wt = tmp_path / "work" / "app.dispatch" / "nest"
    # The supervisor's save commit holds them as gitlinks only.
    assert git(repo, "ls-tree", "dispatch/nest", "sub", "nested").count("160000 commit") == 2
    before = snapshot(repo)
    r = dispatch("discard", "nest", "--yes", cwd=repo, tmp=tmp_path)
    assert (r.code, r.out, r.err) == (1, "", (
        "dispatch: nest holds git repositories of its own that removing its worktree would destroy (nested, sub): "
        "move them out of <tmp>/work/app.dispatch/nest (a worktree with `git worktree move`), then discard it\n"))
    assert snapshot(repo) == before
    # The way out the message names: move them; then the task is discarded with nothing lost.
    git(wt, "worktree", "move", "nested", str(tmp_path / "nested"))
    (wt / "sub").rename(tmp_path / "sub")
    assert dispatch("discard", "nest", "--yes", cwd=repo).code == 0
    assert git(tmp_path / "sub", "log", "--format=%s") == "sub's own commit"
    assert (tmp_path / "nested" / "draft.txt").read_text() == "uncommitted in a nested worktree\n"
    assert _dangling_commits(repo) == []


def test_a_gitlink_to_a_commit_the_repository_lacks_never_lands(repo: Path, tmp_path: Path) -> None:
    """13.3: merge refuses a gitlink whose commit is not here, with --keep too, and names the way out."""
    _misbehaving_worker(tmp_path, "nester", NESTER)
    _run_to_exit(repo, "Nest", "nester")
    before = snapshot(repo)
    for keep in ([], ["--keep"]):
        r = dispatch("merge", "nest", "--yes", *keep, cwd=repo, tmp=tmp_path)
        assert (r.code, r.out, r.err) == (1, "", (
            "dispatch: nest commits gitlinks to commits this repository does not have (sub): landing them would put "
            "paths on main that point at nothing; nothing changed; take them out of the task "
            "(`git -C <tmp>/work/app.dispatch/nest rm -r --cached sub`, commit, and add the files themselves if they "
            "belong to it), then land it\n"))
        assert snapshot(repo) == before
    assert "160000" not in git(repo, "ls-tree", "-r", "main")


WANDERER = """\
import pathlib, subprocess, sys
def git(*args): subprocess.run(["git", *args], check=True)
git("switch", "-q", *sys.argv[1:])
pathlib.Path("away.txt").write_text("written away from the task branch\\n")
git("add", "away.txt")
git("commit", "-qm", "work away from the branch")
"""


def _task_row(repo: Path) -> dict[str, Any]:
    return json.loads(dispatch("status", "--json", cwd=repo).out)["tasks"][0]


def test_a_worker_that_detaches_its_head_and_commits(repo: Path, tmp_path: Path) -> None:
    """13.14: status and doctor name the detached HEAD; discard keeps its commits and removes the folder."""
    _misbehaving_worker(tmp_path, "wanderer", WANDERER, "--detach")
    _run_to_exit(repo, "Away", "wanderer")
    wt = tmp_path / "work" / "app.dispatch" / "away"
    head = git(wt, "rev-parse", "HEAD")
    row = _task_row(repo)
    assert (row["state"], row["problem"]) == ("broken", (
        f"its worktree has a detached HEAD at {head[:7]} checked out, not dispatch/away: "
        "`dispatch doctor` says how to bring it back"))
    r = dispatch("doctor", cwd=repo, tmp=tmp_path)
    assert (r.code, r.out) == (1, (
        f"problem  away: worktree <tmp>/work/app.dispatch/away is on a detached HEAD at {head[:7]}, not on "
        f"dispatch/away: `dispatch doctor --fix` will move dispatch/away on to {head[:7]}, which holds its commits, "
        "and check it out\n" + sandbox_line()))
    r = dispatch("merge", "away", "--yes", cwd=repo, tmp=tmp_path)
    assert (r.code, r.err) == (1, (
        "dispatch: the worktree of `away` (<tmp>/work/app.dispatch/away) has a detached HEAD at "
        f"{head[:7]} checked out, not dispatch/away: `dispatch doctor` says how to bring it back, then land it\n"))
    assert dispatch("discard", "away", "--yes", cwd=repo).code == 0
    assert not wt.exists()
    assert _dangling_commits(repo) == []
    assert git(repo, "log", "-1", "--format=%s", "refs/dispatch/trash/away^2") == "work away from the branch"
    assert dispatch("restore", "away", cwd=repo).code == 0
    assert git(repo, "log", "-g", "--format=%s", "dispatch/away") == "dispatch: plan away\nwork away from the branch"


def test_a_worker_that_switches_its_worktree_to_another_branch(repo: Path, tmp_path: Path) -> None:
    """13.14: status and doctor name the other branch; doctor --fix switches back, the other branch keeps its work."""
    _misbehaving_worker(tmp_path, "wanderer", WANDERER, "-c", "elsewhere")
    _run_to_exit(repo, "Away", "wanderer", *UNCONFINED)
    row = _task_row(repo)
    assert (row["state"], row["problem"]) == ("broken", (
        "its worktree has branch elsewhere checked out, not dispatch/away: `dispatch doctor` says how to bring it back"))
    r = dispatch("doctor", cwd=repo, tmp=tmp_path)
    assert (r.code, r.out) == (1, (
        "problem  away: worktree <tmp>/work/app.dispatch/away has branch elsewhere checked out, not dispatch/away: "
        "`dispatch doctor --fix` will switch it back to dispatch/away (elsewhere keeps its commits)\n" + sandbox_line()))
    r = dispatch("doctor", "--fix", cwd=repo, tmp=tmp_path)
    assert (r.code, r.out) == (0, (
        "fixed    away: worktree <tmp>/work/app.dispatch/away has branch elsewhere checked out, not dispatch/away: "
        "switch it back to dispatch/away (elsewhere keeps its commits)\n" + sandbox_line()))
    assert git(repo, "log", "-1", "--format=%s", "elsewhere") == "work away from the branch"
    assert _task_row(repo)["state"] == "idle"
    assert dispatch("doctor", cwd=repo).out == "nothing to repair\n" + sandbox_line()


def test_a_plan_rewritten_as_binary_is_unreadable_and_lands_with_into(repo: Path, tmp_path: Path) -> None:
    """13.15: a plan that lost its front matter is broken in status, doctor names the commit to restore it from,
    and `merge --into` lands the work all the same."""
    assert dispatch("new", "Garbled", "--item", "Write `g.txt`", "--no-start", cwd=repo).code == 0
    wt = tmp_path / "work" / "app.dispatch" / "garbled"
    (wt / "g.txt").write_text("the work\n")
    plan = wt / ".dispatch" / "PLAN.md"
    plan.write_text(plan.read_text().replace("- [ ]", "- [x]"))
    git(wt, "add", "g.txt", ".dispatch/PLAN.md")
    git(wt, "commit", "-qm", "the work")
    good = git(wt, "rev-parse", "HEAD")
    (wt / ".dispatch" / "PLAN.md").write_bytes(bytes(range(256)) * 4)
    git(wt, "commit", "-qam", "a worker garbles its plan")
    row = _task_row(repo)
    assert (row["state"], row["problem"]) == ("broken", (
        ".dispatch/PLAN.md has no front matter naming its base: `dispatch doctor` says how to repair it"))
    r = dispatch("doctor", cwd=repo, tmp=tmp_path)
    assert (r.code, r.out) == (1, (
        "problem  garbled: .dispatch/PLAN.md has no front matter naming its base: restore it from "
        f"{good[:7]}, the last commit whose plan has one: "
        f"`git -C <tmp>/work/app.dispatch/garbled checkout {good[:7]} -- .dispatch/PLAN.md`\n" + sandbox_line()))
    r = dispatch("merge", "garbled", "--yes", cwd=repo)
    assert (r.code, r.out, r.err) == (1, "", (
        "dispatch: the plan of `garbled` names no base (its front matter is unreadable): land it with "
        "`--into BRANCH`; `dispatch doctor` says how to repair the plan\n"))
    r = dispatch("merge", "garbled", "--into", "main", "--yes", cwd=repo)
    assert (r.code, r.err) == (0, "")
    assert git(repo, "show", "main:g.txt") == "the work"
    assert git(repo, "log", "-1", "--format=%s", "main") == "garbled"


def test_a_stale_index_lock_is_named_with_who_holds_the_worktree(
    repo: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """13.16: a git failing on a worktree's index.lock names the file and whether a live process works there."""
    assert dispatch("new", "Locked", "--no-start", cwd=repo).code == 0
    wt = tmp_path / "work" / "app.dispatch" / "locked"
    git(wt, "commit", "-q", "--allow-empty", "-m", "work")
    (repo / "new.txt").write_text("main moves on\n")
    git(repo, "add", "new.txt")
    git(repo, "commit", "-qm", "main moves on")
    lock = repo / ".git" / "worktrees" / "locked" / "index.lock"
    lock.write_text("")
    r = dispatch("rebase", "locked", cwd=repo, tmp=tmp_path)
    assert (r.code, r.out, r.err) == (1, "", (
        "dispatch: `git rebase main` failed: <tmp>/work/app/.git/worktrees/locked/index.lock exists, and no process works in "
        "<tmp>/work/app.dispatch/locked: a git that crashed left it; delete it "
        "(`rm <tmp>/work/app/.git/worktrees/locked/index.lock`) and retry\n"))
    r = dispatch("doctor", cwd=repo, tmp=tmp_path)
    assert (r.code, r.out) == (1, (
        "problem  locked: <tmp>/work/app/.git/worktrees/locked/index.lock is left by a git that crashed (no process "
        "works in <tmp>/work/app.dispatch/locked): `dispatch doctor --fix` will delete it\n" + sandbox_line()))
    busy = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], cwd=wt)
    request.addfinalizer(busy.kill)
    name = Path(f"/proc/{busy.pid}/comm").read_text().strip()
    r = dispatch("rebase", "locked", cwd=repo, tmp=tmp_path)
    assert (r.code, r.err) == (1,
        (f"dispatch: `git rebase main` failed: <tmp>/work/app/.git/worktrees/locked/index.lock exists, and {name} (pid {busy.pid}) works in "
        "<tmp>/work/app.dispatch/locked: let it finish, then retry; delete the file "
        "(`rm <tmp>/work/app/.git/worktrees/locked/index.lock`) only if no git runs there\n"))
    r = dispatch("doctor", "--fix", cwd=repo, tmp=tmp_path)
    assert (r.code, r.out) == (1, (
        f"problem  locked: <tmp>/work/app/.git/worktrees/locked/index.lock exists, and {name} (pid {busy.pid}) works "
        "in <tmp>/work/app.dispatch/locked: let it finish; delete the file only if no git runs there\n" + sandbox_line()))
    busy.kill()
    busy.wait()
    r = dispatch("doctor", "--fix", cwd=repo, tmp=tmp_path)
    assert (r.code, r.out) == (0, (
        "fixed    locked: <tmp>/work/app/.git/worktrees/locked/index.lock is left by a git that crashed (no process "
        "works in <tmp>/work/app.dispatch/locked): delete it\n" + sandbox_line()))
    assert not lock.exists()
    assert dispatch("rebase", "locked", cwd=repo).code == 0


def test_a_branch_of_your_own_under_the_task_prefix_is_no_task(repo: Path, tmp_path: Path) -> None:
    """13.17: a branch with no task files is left alone: not listed, not repaired, not trashed, and `new` says so."""
    git(repo, "branch", "dispatch/mine", "main")
    git(repo, "commit", "-q", "--allow-empty", "-m", "main moves on")
    tip = git(repo, "rev-parse", "dispatch/mine")
    r = dispatch("status", "--json", cwd=repo)
    assert (r.code, json.loads(r.out)["tasks"]) == (0, [])
    for args in (["doctor"], ["doctor", "--fix"]):
        r = dispatch(*args, cwd=repo)
        assert (r.code, r.out) == (0, "nothing to repair\n" + sandbox_line())
    assert git(repo, "rev-parse", "dispatch/mine") == tip
    assert git(repo, "for-each-ref", "refs/dispatch") == ""
    before = snapshot(repo)
    r = dispatch("new", "Mine", "--id", "mine", "--no-start", cwd=repo)
    assert (r.code, r.out, r.err) == (1, "", (
        "dispatch: branch dispatch/mine already exists and is not a task (it holds no .dispatch/PLAN.md): choose "
        "another `--id`, or rename your branch (`git branch -m dispatch/mine NEW`)\n"))
    r = dispatch("discard", "mine", "--yes", cwd=repo)
    assert (r.code, r.out, r.err) == (1, "", (
        "dispatch: no task `mine`: branch dispatch/mine holds no .dispatch/PLAN.md, so it is not a task but a "
        "branch of its own, and dispatch leaves it alone\n"))
    assert snapshot(repo) == before
    # A title whose slug is taken by the branch gets the next free id.
    r = dispatch("new", "Mine", "--no-start", "--json", cwd=repo)
    assert (r.code, json.loads(r.out)["task"]["id"]) == (0, "mine-2")
    assert git(repo, "rev-parse", "dispatch/mine") == tip
