"""`status`, `show` and `note`: derived from git and the task files, whole outputs."""

from __future__ import annotations

import json
import re
import shutil
import textwrap
from pathlib import Path

from conftest import dispatch, git, unconfined_note

from dispatch.task.questions import parse_questions


def _new(repo: Path, title: str, *items: str) -> Path:
    args = [a for item in items for a in ("--item", item)]
    r = dispatch("new", title, *args, "--no-start", "--json", cwd=repo)
    assert r.code == 0, r.err
    return Path(json.loads(r.out)["task"]["worktree"])


def _tick(wt: Path, old: str, new: str, message: str = "tick") -> None:
    plan = wt / ".dispatch" / "PLAN.md"
    plan.write_text(plan.read_text().replace(old, new))
    git(wt, "commit", "-qam", message)


def test_status_derives_each_state(repo: Path, tmp_path: Path) -> None:
    idle = _new(repo, "Idle task", "one", "two")
    _tick(idle, "- [ ] one", "- [x] one")
    (idle / "scratch.txt").write_text("uncommitted\n")
    done = _new(repo, "Done task", "only")
    _tick(done, "- [ ] only", "- [x] only")
    blocked = _new(repo, "Blocked task", "ask")
    questions = blocked / ".dispatch" / "QUESTIONS.md"
    q = parse_questions(questions.read_text())
    q.add("Which database?\nPostgres or SQLite.", "2026-11-23T10:30:00Z")
    questions.write_text(q.render())
    git(blocked, "commit", "-qam", "dispatch: ask Q1")
    failed = _new(repo, "Failed task", "try")
    _tick(failed, "- [ ] try", "- [!] try — tests do not build")
    broken = _new(repo, "Broken task")
    shutil.rmtree(broken)
    _new(repo, "Merged task", "x")
    git(repo, "merge", "-q", "--no-ff", "-m", "merge it", "dispatch/merged-task")

    r = dispatch("status", cwd=repo, tmp=tmp_path)
    assert (r.code, r.err) == (0, "")
    assert r.out == textwrap.dedent("""\
        ID            STATE    PLAN    Q  COMMITS  DIRTY  LAST  USAGE  TITLE         WORKTREE
        blocked-task  blocked  0/1     1  ↑2 ↓2    -      1h    -      Blocked task  <tmp>/work/app.dispatch/blocked-task
        broken-task   broken   0/1     -  ↑1 ↓2    -      1h    -      Broken task   <tmp>/work/app.dispatch/broken-task
        done-task     done     1/1     -  ↑2 ↓2    -      1h    -      Done task     <tmp>/work/app.dispatch/done-task
        failed-task   failed   0/1 1!  -  ↑2 ↓2    -      1h    -      Failed task   <tmp>/work/app.dispatch/failed-task
        idle-task     idle     1/2     -  ↑2 ↓2    1      1h    -      Idle task     <tmp>/work/app.dispatch/idle-task
        merged-task   merged   0/1     -  ↑0 ↓1    -      1h    -      Merged task   <tmp>/work/app.dispatch/merged-task
        blocked-task asks: Which database?
        broken-task is broken: worktree is missing
        needs you: 1 question (blocked-task), 1 failed (failed-task), 1 broken (broken-task), 1 to review (done-task), 1 idle (idle-task)
        """) + unconfined_note()


def _new_at(repo: Path, when: str, title: str, *args: str) -> None:
    r = dispatch("new", title, *args, "--no-start", cwd=repo, env={"DISPATCH_NOW": when})
    assert r.code == 0, r.err


def test_status_fits_the_terminal_in_creation_order_with_titles_and_what_needs_you(repo: Path, tmp_path: Path) -> None:
    _new_at(repo, "2026-11-23T10:00:00Z", "Make the parser accept trailing commas in every list", "--id", "task-10")
    _new_at(repo, "2026-11-23T10:05:00Z", "Second", "--id", "task-2", "--item", "one")
    _new_at(repo, "2026-11-23T10:05:00Z", "Third, made in the same second", "--id", "task-1")
    _tick(repo.parent / "app.dispatch" / "task-2", "- [ ] one", "- [x] one")

    def status(columns: str) -> str:
        r = dispatch("status", cwd=repo, tmp=tmp_path, env={"COLUMNS": columns})
        assert (r.code, r.err) == (0, "")
        out = r.out.removesuffix(unconfined_note())  # (a note where bubblewrap cannot run, the terminal wraps)
        assert max(len(line) for line in out.splitlines()) <= int(columns)
        return out

    assert status("1000") == textwrap.dedent("""\
        ID       STATE  PLAN  Q  COMMITS  DIRTY  LAST  USAGE  TITLE                                                 WORKTREE
        task-10  idle   0/1   -  ↑1 ↓0    -      1h    -      Make the parser accept trailing commas in every list  <tmp>/work/app.dispatch/task-10
        task-1   idle   0/1   -  ↑1 ↓0    -      1h    -      Third, made in the same second                        <tmp>/work/app.dispatch/task-1
        task-2   done   1/1   -  ↑2 ↓0    -      1h    -      Second                                                <tmp>/work/app.dispatch/task-2
        needs you: 1 to review (task-2), 2 idle (task-10, task-1)
        """)
    assert status("120") == textwrap.dedent("""\
        ID       STATE  PLAN  Q  COMMITS  DIRTY  LAST  USAGE  TITLE
        task-10  idle   0/1   -  ↑1 ↓0    -      1h    -      Make the parser accept trailing commas in every list
        task-1   idle   0/1   -  ↑1 ↓0    -      1h    -      Third, made in the same second
        task-2   done   1/1   -  ↑2 ↓0    -      1h    -      Second
        needs you: 1 to review (task-2), 2 idle (task-10, task-1)
        """)
    assert status("80") == textwrap.dedent("""\
        ID       STATE  PLAN  Q  COMMITS  DIRTY  LAST  USAGE  TITLE
        task-10  idle   0/1   -  ↑1 ↓0    -      1h    -      Make the parser accept tr…
        task-1   idle   0/1   -  ↑1 ↓0    -      1h    -      Third, made in the same s…
        task-2   done   1/1   -  ↑2 ↓0    -      1h    -      Second
        needs you: 1 to review (task-2), 2 idle (task-10, task-1)
        """)
    assert status("40") == textwrap.dedent("""\
        ID       STATE  PLAN  Q  TITLE
        task-10  idle   0/1   -  Make the parse…
        task-1   idle   0/1   -  Third, made in…
        task-2   done   1/1   -  Second
        needs you: 1 to review (task-2), 2 idle…
        """)
    assert status("20") == textwrap.dedent("""\
        ID       STATE  PLAN
        task-10  idle   0/1
        task-1   idle   0/1
        task-2   done   1/1
        needs you: 1 to rev…
        """)
    ids = [t["id"] for t in json.loads(dispatch("status", "--json", cwd=repo).out)["tasks"]]
    assert ids == ["task-10", "task-1", "task-2"]


def test_status_json_envelope(repo: Path, tmp_path: Path) -> None:
    wt = _new(repo, "Json task", "a", "b")
    _tick(wt, "- [ ] a", "- [x] a")
    base = git(repo, "rev-parse", "main")
    tip = git(repo, "rev-parse", "dispatch/json-task")
    data = json.loads(dispatch("status", "--json", cwd=repo, tmp=tmp_path).out)
    assert data == {
        "version": 1,
        "tasks": [{
            "id": "json-task", "title": "Json task", "branch": "dispatch/json-task",
            "worktree": "<tmp>/work/app.dispatch/json-task", "base": "main", "base_commit": base,
            "model": None, "group": None, "created": "2026-11-23T11:00:00Z", "state": "idle",
            "plan": {"done": 1, "total": 2, "blocked": 0, "failed": 0},
            "questions_open": 0, "question": None, "ahead": 2, "behind": 0, "dirty": 0,
            "last_commit": {"sha": tip, "subject": "tick", "time": "2026-11-23T10:00:00Z"},
            "worker": None, "problem": None, "seconds": None, "cost_usd": None, "tokens": None,
        }],
    }


def test_a_task_whose_base_branch_is_gone_counts_from_the_commit_it_started_from(repo: Path) -> None:
    wt = _new(repo, "Orphan", "a")
    _tick(wt, "- [ ] a", "- [x] a")
    kept = _new(repo, "Kept", "a")
    git(repo, "checkout", "-qb", "trunk")
    git(repo, "commit", "-q", "--allow-empty", "-m", "later")
    git(repo, "branch", "-qD", "main")
    git(kept, "commit", "-q", "--allow-empty", "-m", "on kept")  # (another task: its base is gone as well)
    tasks = json.loads(dispatch("status", "--json", cwd=repo).out)["tasks"]
    assert [(t["id"], t["state"], t["ahead"], t["behind"], t["problem"]) for t in tasks] == [
        ("kept", "idle", 2, 0, None), ("orphan", "done", 2, 0, None)]
    git(repo, "branch", "-q", "main", "trunk")  # back, one commit on: counted from the branch again
    tasks = json.loads(dispatch("status", "--json", cwd=repo).out)["tasks"]
    assert [(t["id"], t["ahead"], t["behind"]) for t in tasks] == [("kept", 2, 1), ("orphan", 2, 1)]


def test_status_of_named_tasks_and_ls_alias_and_empty(repo: Path) -> None:
    assert dispatch("status", cwd=repo).out == 'no tasks yet: `dispatch new "what to do"` creates one\n'
    _new(repo, "One")
    _new(repo, "Two")
    r = dispatch("ls", "two", cwd=repo)
    assert [line.split()[0] for line in r.out.removesuffix(unconfined_note()).splitlines()] == ["ID", "two", "needs"]


def test_status_reads_the_branch_when_the_worktree_is_gone(repo: Path) -> None:
    wt = _new(repo, "Gone tree", "a")
    _tick(wt, "- [ ] a", "- [x] a")
    shutil.rmtree(wt)
    task = json.loads(dispatch("status", "--json", cwd=repo).out)["tasks"][0]
    assert (task["state"], task["plan"], task["problem"], task["dirty"]) == (
        "broken", {"done": 1, "total": 1, "blocked": 0, "failed": 0}, "worktree is missing", None
    )


def test_status_reports_a_broken_plan_with_its_line(repo: Path) -> None:
    wt = _new(repo, "Bad plan")
    (wt / ".dispatch" / "PLAN.md").write_text("---\nid: [unclosed\n---\n# x\n")
    task = json.loads(dispatch("status", "--json", cwd=repo).out)["tasks"][0]
    assert task["state"] == "broken"
    assert task["problem"].startswith(".dispatch/PLAN.md line ")


def test_show_whole_task(repo: Path, tmp_path: Path) -> None:
    wt = _new(repo, "Show me", "Write the code", "Test it")
    (wt / "src" / "app.py").write_text("def main():\n    return 3\n")
    (wt / "src" / "new.py").write_text("x = 1\n")
    git(wt, "add", "-A")
    git(wt, "commit", "-qm", "change the app")
    _tick(wt, "- [ ] Write the code", "- [x] Write the code — done quickly")
    plan_commit = git(repo, "rev-parse", "dispatch/show-me~2")
    r = dispatch("show", "show-me", cwd=repo, tmp=tmp_path)
    assert (r.code, r.err) == (0, "")
    assert r.out == textwrap.dedent(f"""\
        show-me — Show me
          state     idle
          branch    dispatch/show-me (base main: 3 commits ahead, 0 behind)
          worktree  <tmp>/work/app.dispatch/show-me
          model     -
          created   2026-11-23T11:00:00Z
          dirty     no

        Checklist (1/2 done)
          [x] Write the code — done quickly
          [ ] Test it

        Commits
          {git(repo, "rev-parse", "--short", "dispatch/show-me")}  tick  (1h ago)
          {git(repo, "rev-parse", "--short", "dispatch/show-me~1")}  change the app  (1h ago)
          {plan_commit[:7]}  dispatch: plan show-me  (1h ago)

        Files changed
          M  src/app.py
          A  src/new.py
        """) + unconfined_note()
    data = json.loads(dispatch("show", "show-me", "--json", cwd=repo).out)["task"]
    assert data["items"] == [
        {"mark": "x", "text": "Write the code — done quickly", "detail": []},
        {"mark": " ", "text": "Test it", "detail": []},
    ]
    assert data["files"] == [{"status": "M", "path": "src/app.py"}, {"status": "A", "path": "src/new.py"}]
    assert [c["time"] for c in data["commits"]] == ["2026-11-23T10:00:00Z"] * 3


def test_one_meaning_per_notation_and_iso_times_in_json(repo: Path, tmp_path: Path) -> None:
    """Commits ahead/behind are arrows, `+N -M` is lines; a task that never ran has no usage, queued or not."""
    _new(repo, "First")
    r = dispatch("new", "Second", "--model", "scripted", "--after", "first", cwd=repo)
    assert r.code == 0, r.err
    r = dispatch("status", cwd=repo, tmp=tmp_path)
    assert r.out == textwrap.dedent("""\
        ID      STATE   PLAN  Q  COMMITS  DIRTY  LAST  USAGE  TITLE   WORKTREE
        first   idle    0/1   -  ↑1 ↓0    -      1h    -      First   <tmp>/work/app.dispatch/first
        second  queued  0/1   -  ↑1 ↓0    -      1h    -      Second  <tmp>/work/app.dispatch/second
        second waits for first
        needs you: 1 idle (first)
        """) + unconfined_note()
    rows = json.loads(dispatch("status", "--json", cwd=repo).out)["tasks"]
    assert [(t["seconds"], t["worker"] and t["worker"]["usage"]) for t in rows] == [
        (None, None), (None, {"seconds": None, "cost_usd": None, "tokens": None})
    ]
    assert [t["last_commit"]["time"] for t in rows] == ["2026-11-23T10:00:00Z"] * 2


def test_note_appends_a_dated_note_without_committing(repo: Path, tmp_path: Path) -> None:
    wt = _new(repo, "Noted", "a")
    r = dispatch("note", "noted", "Use the staging DB.\nNot production.", cwd=repo, tmp=tmp_path)
    assert (r.code, r.err) == (0, "")
    assert r.out == (
        "noted in <tmp>/work/app.dispatch/noted/.dispatch/NOTES.md: no worker runs, so nobody reads it until one "
        "does (`dispatch resume noted` starts one); it never blocks landing\n"
    )
    text = (wt / ".dispatch" / "NOTES.md").read_text()
    assert text.endswith(
        "do not edit it.\n\n- 2026-11-23T11:00:00Z — Use the staging DB.\n  Not production.\n"
    )
    assert git(wt, "status", "--porcelain") == "M .dispatch/NOTES.md"
    assert dispatch("note", "noted", "-", cwd=repo, input="From stdin\n").code == 0
    assert (wt / ".dispatch" / "NOTES.md").read_text().endswith("  Not production.\n- 2026-11-23T11:00:00Z — From stdin\n")


def test_show_tells_the_worker_in_words(repo: Path, tmp_path: Path) -> None:
    from conftest import FAST, state_is, wait_for

    r = dispatch("new", "Worked", "--model", "scripted", "--sandbox", "off", "--item", "Write `w.txt`", cwd=repo, env=FAST)
    assert r.code == 0, r.err
    wait_for(state_is(repo, "worked", "done"), message="the worker to finish")
    r = dispatch("show", "worked", cwd=repo, tmp=tmp_path)
    assert (r.code, r.err) == (0, "")
    # The worker's times are the machine's own, not the pinned clock: masked, the rest whole.
    out = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(\w+ ago\)", "<time>", r.out)
    out = re.sub(r"\b[0-9a-f]{7}\b", "<sha>", re.sub(r"\d+(\.\d+)?s\b", "<secs>", out))
    assert out == textwrap.dedent("""\
        worked — Worked
          state     done
          branch    dispatch/worked (base main: 2 commits ahead, 0 behind)
          worktree  <tmp>/work/app.dispatch/worked
          model     scripted
          created   2026-11-23T11:00:00Z
          dirty     no
          usage     <secs>

        Checklist (1/1 done)
          [x] Write `w.txt` — wrote w.txt

        Commits
          <sha>  Write `w.txt`  (1h ago)
          <sha>  dispatch: plan worked  (1h ago)

        Files changed
          A  w.txt

        Worker
          run      1: scripted on scripted
          state    ended with exit code 0
          started  <time>
          ended    <time>
          sandbox  off (not confined)
        """) + unconfined_note()
