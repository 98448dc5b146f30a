"""The queue: `--after` chains that build on each other, `max_running`, and no daemon needed."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from conftest import FAST, dispatch, events, git, task_status, unconfined_note, wait_for, worker_json


def _config(tmp_path: Path, text: str) -> None:
    path = tmp_path / "home" / ".config" / "dispatch" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _new(repo: Path, title: str, *args: str) -> dict:
    r = dispatch("new", title, "--model", "scripted", "--json", *args, cwd=repo, env=FAST)
    assert r.code == 0, r.err
    return json.loads(r.out)["task"]


def test_a_chain_runs_in_order_each_task_on_the_work_before_it(repo: Path, tmp_path: Path) -> None:
    _config(tmp_path, "max_running = 4\n")
    a = _new(repo, "Step A", "--item", "Write `a.txt` (hang)")
    b = _new(repo, "Step B", "--item", "Write `b.txt`", "--after", "step-a")
    c = _new(repo, "Step C", "--item", "Write `c.txt`", "--after", "step-b")
    assert (a["queued"], b["queued"], c["queued"]) == (False, True, True)
    r = dispatch("status", cwd=repo, tmp=tmp_path)
    assert [line.split()[:2] for line in r.out.splitlines()[1:4]] == [
        ["step-a", "running"], ["step-b", "queued"], ["step-c", "queued"]
    ]
    assert r.out.removesuffix(unconfined_note()).splitlines()[4:] == [
        "step-b waits for step-a", "step-c waits for step-b",
        "nothing needs you: 3 at work or queued, `dispatch wait` tells you when one does",
    ]
    # A finishes: a person takes the hang out and a fresh worker completes it.
    dispatch("stop", "step-a", cwd=repo)
    wt_a = Path(a["worktree"])
    plan = wt_a / ".dispatch" / "PLAN.md"
    plan.write_text(plan.read_text().replace(" (hang)", ""))
    git(wt_a, "add", "-A")
    git(wt_a, "commit", "-qm", "unhang")
    assert dispatch("resume", "step-a", cwd=repo, env=FAST).code == 0
    wait_for(lambda: task_status(repo, "step-c")["state"] == "done", timeout=60, message="the chain to finish")
    # Each task stands on the work before it, without the earlier tasks' .dispatch/ files.
    assert git(repo, "ls-tree", "-r", "--name-only", "dispatch/step-c") == (
        ".dispatch/NOTES.md\n.dispatch/PLAN.md\n.dispatch/QUESTIONS.md\nREADME.md\na.txt\nb.txt\nc.txt\nsrc/app.py"
    )
    assert git(repo, "show", "dispatch/step-c:.dispatch/PLAN.md").startswith("---\ndispatch: 1\nid: step-c\n")
    kinds = [(e["task"], e["kind"]) for e in events(repo) if e["kind"] in ("started", "stacked", "exited")]
    assert kinds.index(("step-a", "exited")) < kinds.index(("step-b", "stacked")) < kinds.index(("step-b", "started"))
    # B's supervisor records B done in worker.json before it appends its `exited` event, and any
    # process may start C in between: C stacks after B started, on B's finished work (b.txt above).
    assert kinds.index(("step-b", "started")) < kinds.index(("step-c", "stacked")) < kinds.index(("step-c", "started"))
    # Review shows only the task's own work; landing says what it brings along.
    r = dispatch("review", "step-c", "--files", cwd=repo)
    assert r.out == "c.txt\n"
    r = dispatch("merge", "step-c", "--yes", cwd=repo)
    assert r.code == 0, r.err
    assert r.out.splitlines()[0] == "step-c stands on step-a, step-b: landing it lands their work on main too"
    assert git(repo, "ls-tree", "-r", "--name-only", "main") == "README.md\na.txt\nb.txt\nc.txt\nsrc/app.py"


def test_max_running_one_runs_tasks_one_after_another(repo: Path, tmp_path: Path) -> None:
    _config(tmp_path, "max_running = 1\n")
    for name in ("one", "two", "three"):
        # Paced so the first is surely still working when the others are created.
        r = dispatch("new", name.title(), "--model", "scripted", "--json", "--item", f"Write `{name}.txt`",
                     cwd=repo, env={"DISPATCH_SCRIPTED_DELAY": "1.5"})
        assert json.loads(r.out)["task"]["queued"] == (name != "one")
    # Only the events file is read while waiting: no dispatch command runs, so the supervisors advance the queue.
    wait_for(lambda: sum(e["kind"] == "exited" for e in events(repo)) == 3, timeout=60, message="all three to finish")
    assert all(task_status(repo, t)["state"] == "done" for t in ("one", "two", "three"))
    order = [(e["task"], e["kind"]) for e in events(repo) if e["kind"] in ("started", "exited")]
    assert order == [
        ("one", "started"), ("one", "exited"), ("two", "started"), ("two", "exited"),
        ("three", "started"), ("three", "exited"),
    ]


def test_any_command_advances_the_queue(repo: Path, tmp_path: Path) -> None:
    # The first task has no worker; it becomes done by hand, and nothing runs until some command does.
    first = json.loads(dispatch("new", "By hand", "--item", "x", "--no-start", "--json", cwd=repo).out)["task"]
    _new(repo, "Later", "--item", "Write `later.txt`", "--after", "by-hand")
    wt = Path(first["worktree"])
    plan = wt / ".dispatch" / "PLAN.md"
    plan.write_text(plan.read_text().replace("- [ ] x", "- [x] x"))
    (wt / "hand.txt").write_text("made by hand\n")
    git(wt, "add", "-A")
    git(wt, "commit", "-qm", "by hand")
    assert worker_json(repo, "later")["phase"] == "queued"
    dispatch("questions", cwd=repo, env=FAST)  # any command at all
    wait_for(lambda: task_status(repo, "later")["state"] == "done", message="the queued task to run")
    assert git(repo, "show", "dispatch/later:hand.txt") == "made by hand"


def test_conflicting_dependencies_leave_the_task_blocked(repo: Path, tmp_path: Path) -> None:
    for name, text in (("left", "left\n"), ("right", "right\n")):
        t = json.loads(dispatch("new", name, "--item", "x", "--no-start", "--json", cwd=repo).out)["task"]
        wt = Path(t["worktree"])
        (wt / "src" / "app.py").write_text(text)
        plan = wt / ".dispatch" / "PLAN.md"
        plan.write_text(plan.read_text().replace("- [ ] x", "- [x] x"))
        git(wt, "commit", "-qam", f"{name} edit")
    _new(repo, "Both", "--item", "y", "--after", "left", "--after", "right")
    status = task_status(repo, "both")
    assert status["state"] == "blocked"
    assert status["worker"]["reason"] == (
        "the tasks it waits for conflict with each other in src/app.py: land or rebase one of left, right first, "
        "then `dispatch resume both`"
    )
    r = dispatch("status", cwd=repo)
    assert r.out.removesuffix(unconfined_note()).splitlines()[-2:] == [
        f"both is blocked: {status['worker']['reason']}", "needs you: 1 question (both), 2 to review (left, right)"
    ]


def test_after_an_unknown_task_creates_nothing(repo: Path) -> None:
    r = dispatch("new", "Orphan", "--model", "scripted", "--after", "nope", cwd=repo)
    assert (r.code, r.out, r.err) == (1, "", "dispatch: --after nope: no task `nope`: `dispatch status` lists the tasks\n")
    assert git(repo, "branch", "--list", "dispatch/*") == ""


def test_the_queue_file_is_the_whole_truth(repo: Path, tmp_path: Path) -> None:
    _new(repo, "Head", "--item", "Write `h.txt` (hang)")
    _new(repo, "Tail", "--item", "Write `t.txt`", "--after", "head")
    queue = json.loads((repo / ".git" / "dispatch" / "queue.json").read_text())
    assert list(queue) == ["tail"]
    assert (queue["tail"]["after"], queue["tail"]["requested"]) == (["head"], "scripted")
    assert textwrap.dedent(dispatch("stop", "head", cwd=repo).out).startswith("stopped the worker of head")


def test_wait_wakes_when_a_queued_task_cannot_start(repo: Path, tmp_path: Path) -> None:
    for name in ("left", "right"):
        t = json.loads(dispatch("new", name, "--item", "x", "--no-start", "--json", cwd=repo).out)["task"]
        wt = Path(t["worktree"])
        (wt / "src" / "app.py").write_text(f"{name}\n")
        plan = wt / ".dispatch" / "PLAN.md"
        plan.write_text(plan.read_text().replace("- [ ] x", "- [x] x"))
        git(wt, "commit", "-qam", f"{name} edit")
    _new(repo, "Both", "--item", "y", "--after", "left", "--after", "right")
    r = dispatch("wait", "--timeout", "30", cwd=repo)
    assert (r.code, r.out) == (0, (
        "both cannot start: the tasks it waits for conflict with each other in src/app.py: land or rebase one of "
        "left, right first, then `dispatch resume both`\n"
        "  → dispatch show both\n"
    ))
