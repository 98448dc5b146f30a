"""Groups: one task sent to several models, compared side by side, one picked; whole outputs, real workers."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from conftest import FAST, dispatch, events, git, snapshot, task_status, unconfined_note, wait_for, worker_json

ITEMS = ("--item", "Write `hello.txt`", "--item", "Write `bye.txt`")


def _config(tmp_path: Path) -> None:
    """Models without AI: `fast` on the scripted backend, `variant` writing its own hello.txt, `slow` never starting."""
    variant = tmp_path / "home" / "variant.py"  # where a confined worker sees it (its /tmp is its own)
    variant.write_text(textwrap.dedent("""\
        import pathlib, runpy
        pathlib.Path("hello.txt").write_text("Hi from the variant\\n")
        pathlib.Path("extra.txt").write_text("more\\n")
        runpy.run_module("dispatch.scripted", run_name="__main__")
        """))
    path = tmp_path / "home" / ".config" / "dispatch" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(f"""\
        max_running = 4
        [models.fast]
        backend = "scripted"
        [models.variant]
        backend = "variant"
        [models.slow]
        backend = "slow"
        [backends.variant]
        command = ["{{python}}", "{variant}"]
        [backends.slow]
        command = ["{{python}}", "-m", "dispatch.scripted"]
        env = {{ DISPATCH_SCRIPTED_DELAY = "3600" }}
        """))


def _runs(repo: Path, task_id: str, runs: list[dict] | None) -> None:
    """Stand in for what a paid CLI reports: fixed time, cost and tokens, so the comparison is exact."""
    path = repo / ".git" / "dispatch" / "tasks" / task_id / "worker.json"
    data = json.loads(path.read_text())
    if runs is None:
        data.pop("runs", None)
    else:
        data["runs"] = runs
    path.write_text(json.dumps(data))


def test_three_models_fanned_out_compared_and_picked(repo: Path, tmp_path: Path) -> None:
    _config(tmp_path)
    base = git(repo, "rev-parse", "--short", "main")
    r = dispatch("new", "Greet", "--model", "scripted", "--model", "fast", "--models", "variant", *ITEMS,
                 cwd=repo, env=FAST, tmp=tmp_path)
    assert (r.code, r.err) == (0, "")
    assert r.out == textwrap.dedent(f"""\
        created group greet: 3 tasks from main at {base}, 2 items each
          TASK            WORKER                WORKTREE
          greet-scripted  scripted on scripted  <tmp>/work/app.dispatch/greet-scripted
          greet-fast      fast on scripted      <tmp>/work/app.dispatch/greet-fast
          greet-variant   variant on variant    <tmp>/work/app.dispatch/greet-variant
          `dispatch review greet` compares them; `dispatch pick greet-scripted` lands that one and discards the others (any of them will do)
        """)
    ids = ("greet-fast", "greet-scripted", "greet-variant")
    # The supervisor's last write (`told`) comes after the exit's: `_runs` below must not race it.
    wait_for(lambda: all(worker_json(repo, t).get("phase") == "exited" and "told" in worker_json(repo, t) for t in ids),
             message="three workers")
    for task_id in ids:
        plan = git(repo, "show", f"dispatch/{task_id}:.dispatch/PLAN.md")
        assert "\ngroup: greet\n" in plan and f"\nid: {task_id}\n" in plan
    _runs(repo, "greet-fast", [{"seconds": 95.0, "cost_usd": 0.0123, "input_tokens": 1500, "output_tokens": 700}])
    _runs(repo, "greet-scripted", [{"seconds": 3.2}, {"seconds": 4.1}])
    _runs(repo, "greet-variant", None)

    r = dispatch("review", "greet", cwd=repo)
    assert (r.code, r.err) == (0, "")
    assert r.out == textwrap.dedent("""\
        group greet — Greet: 3 candidates on main

        TASK            STATE  PLAN  COMMITS  FILES  LINES  TIME   COST   TOKENS
        greet-fast      done   2/2   3        2      +2 -0  1m35s  $0.01  2.2k
        greet-scripted  done   2/2   3        2      +2 -0  7s     -      -
        greet-variant   done   2/2   3        3      +4 -0  -      -      -

        FILE       fast  scripted  variant
        bye.txt    a     a         a        same
        extra.txt  -     -         a        only variant
        hello.txt  a     a         b        differ
        same letter, same content; - not changed
        agree on 1 file: bye.txt; differ on 2: extra.txt, hello.txt

        `dispatch review greet-fast` shows one candidate; `dispatch pick greet-fast` lands it and discards the others (any candidate's id will do)
        """)
    data = json.loads(dispatch("review", "greet", "--json", cwd=repo).out)["group"]
    assert (data["id"], data["agree"], data["differ"]) == ("greet", ["bye.txt"], ["extra.txt", "hello.txt"])
    assert data["files"][2] == {
        "path": "hello.txt", "same": False,
        "versions": {"greet-fast": "a", "greet-scripted": "a", "greet-variant": "b"},
    }
    assert data["candidates"][0] == {
        "id": "greet-fast", "label": "fast", "model": "fast", "state": "done",
        "plan": {"done": 2, "total": 2, "blocked": 0, "failed": 0}, "commits": 3, "files": 2, "added": 2,
        "removed": 0, "uncommitted": 0, "seconds": 95.0, "cost_usd": 0.0123, "tokens": 2200, "problem": None,
    }
    # A task's own review is unchanged by its group.
    assert dispatch("review", "greet-variant", "--files", cwd=repo).out == "bye.txt\nextra.txt\nhello.txt\n"

    r = dispatch("pick", "greet-variant", "--yes", cwd=repo)
    assert (r.code, r.err) == (0, "")
    landed = git(repo, "rev-parse", "--short", "main")
    trash = {t: git(repo, "rev-parse", "--short", f"refs/dispatch/trash/{t}") for t in ("greet-fast", "greet-scripted")}
    assert r.out == textwrap.dedent(f"""\
        landed greet-variant on main by squash: {base} -> {landed}
          removed its worktree and branch; `dispatch restore greet-variant` brings them back
        discarded greet-fast: saved as refs/dispatch/trash/greet-fast ({trash["greet-fast"]})
        discarded greet-scripted: saved as refs/dispatch/trash/greet-scripted ({trash["greet-scripted"]})
          `dispatch restore greet-fast` or `dispatch restore greet-scripted` brings one back
        """)
    assert git(repo, "ls-tree", "-r", "--name-only", "main") == "README.md\nbye.txt\nextra.txt\nhello.txt\nsrc/app.py"
    assert git(repo, "show", "main:hello.txt") == "Hi from the variant\nWrite `hello.txt`"
    assert git(repo, "branch", "--list", "dispatch/*") == ""
    assert dispatch("trash", cwd=repo).out == textwrap.dedent("""\
        ID              AGE  REASON   UNCOMMITTED  TITLE
        greet-fast      1h   discard  no           Greet
        greet-scripted  1h   discard  no           Greet
        greet-variant   1h   merged   no           Greet
        """)
    assert events(repo)[-1] | {"time": None} == {
        "time": None, "task": "greet-variant", "kind": "picked", "group": "greet",
        "discarded": ["greet-fast", "greet-scripted"],
    }
    # A candidate that was not picked comes back whole, still one of its group.
    assert dispatch("restore", "greet-fast", cwd=repo).code == 0
    assert git(repo, "show", "dispatch/greet-fast:hello.txt") == "Write `hello.txt`"
    assert task_status(repo, "greet-fast")["group"] == "greet"


def test_status_keeps_a_groups_tasks_together(repo: Path, tmp_path: Path) -> None:
    # In creation order; the group's tasks stay together under their group line.
    assert dispatch("new", "Alpha", "--item", "a", "--no-start", cwd=repo).code == 0
    r = dispatch("new", "Work", "--models", "scripted,zz", "--item", "w", "--no-start", cwd=repo, tmp=tmp_path)
    assert (r.code, r.err) == (0, "")
    base = git(repo, "rev-parse", "--short", "main")
    assert r.out == textwrap.dedent(f"""\
        created group work: 2 tasks from main at {base}, 1 item each
          TASK           WORKER       WORKTREE
          work-scripted  not started  <tmp>/work/app.dispatch/work-scripted
          work-zz        not started  <tmp>/work/app.dispatch/work-zz
          `dispatch review work` compares them; `dispatch pick work-scripted` lands that one and discards the others (any of them will do)
        """)
    assert dispatch("new", "Work X", "--item", "x", "--no-start", cwd=repo).code == 0
    r = dispatch("status", cwd=repo, tmp=tmp_path)
    assert (r.code, r.err) == (0, "")
    assert r.out == textwrap.dedent("""\
        ID               STATE  PLAN  Q  COMMITS  DIRTY  LAST  USAGE  TITLE   WORKTREE
        alpha            idle   0/1   -  ↑1 ↓0    -      1h    -      Alpha   <tmp>/work/app.dispatch/alpha
        group work: `dispatch review work` compares its candidates
          work-scripted  idle   0/1   -  ↑1 ↓0    -      1h    -      Work    <tmp>/work/app.dispatch/work-scripted
          work-zz        idle   0/1   -  ↑1 ↓0    -      1h    -      Work    <tmp>/work/app.dispatch/work-zz
        work-x           idle   0/1   -  ↑1 ↓0    -      1h    -      Work X  <tmp>/work/app.dispatch/work-x
        needs you: 4 idle (alpha, work-scripted, work-zz, work-x)
        """) + unconfined_note()
    rows = json.loads(dispatch("status", "--json", cwd=repo).out)["tasks"]
    assert [(t["id"], t["group"], t["model"]) for t in rows] == [
        ("alpha", None, None), ("work-scripted", "work", "scripted"), ("work-x", None, None),
        ("work-zz", "work", "zz"),
    ]
    # Only the status of the group's tasks: still under their group line.
    r = dispatch("status", "work-zz", "work-x", cwd=repo, tmp=tmp_path)
    assert r.out == textwrap.dedent("""\
        ID         STATE  PLAN  Q  COMMITS  DIRTY  LAST  USAGE  TITLE   WORKTREE
        work-x     idle   0/1   -  ↑1 ↓0    -      1h    -      Work X  <tmp>/work/app.dispatch/work-x
        group work: `dispatch review work` compares its candidates
          work-zz  idle   0/1   -  ↑1 ↓0    -      1h    -      Work    <tmp>/work/app.dispatch/work-zz
        needs you: 2 idle (work-x, work-zz)
        """) + unconfined_note()
    # A new group never joins an old one: the title's slug is taken as a group, so it gets -2.
    r = dispatch("new", "Work", "--models", "zz,yy", "--item", "w", "--no-start", "--json", cwd=repo)
    made = json.loads(r.out)
    assert (made["group"], [t["id"] for t in made["tasks"]]) == ("work-2", ["work-2-zz", "work-2-yy"])


def test_a_failed_fan_out_leaves_nothing(repo: Path, tmp_path: Path) -> None:
    _config(tmp_path)
    # The third task's worktree folder is in the way: the first two are removed again.
    (tmp_path / "work" / "app.dispatch" / "greet-variant").mkdir(parents=True)
    before = snapshot(repo)
    r = dispatch("new", "Greet", "--models", "scripted,fast,variant", *ITEMS, cwd=repo, env=FAST, tmp=tmp_path)
    assert (r.code, r.out) == (1, "")
    assert r.err == (
        "dispatch: worktree path <tmp>/work/app.dispatch/greet-variant already exists: move it away, or set "
        "`worktree_root` in .dispatch.toml (nothing created: greet-scripted, greet-fast removed again)\n"
    )
    after = snapshot(repo)
    # Only the events log tells: created, then removed again.
    after["files"] = after["files"].replace("app/.git/dispatch/events.jsonl\n", "")
    assert {k: v for k, v in after.items() if k != "events"} == {k: v for k, v in before.items() if k != "events"}
    assert [(e["task"], e["kind"]) for e in events(repo)] == [
        ("greet-scripted", "created"), ("greet-fast", "created"),
        ("greet-scripted", "removed"), ("greet-fast", "removed"),
    ]
    # A model whose CLI is missing is found before anything is made.
    (tmp_path / "home" / ".config" / "dispatch" / "config.toml").open("a").write(
        '[models.ghost]\nbackend = "ghost"\n[backends.ghost]\ncommand = ["no-such-agent-cli"]\n')
    before = snapshot(repo)
    r = dispatch("new", "Greet", "--models", "scripted,ghost", *ITEMS, cwd=repo, env=FAST)
    assert (r.code, r.out) == (1, "")
    assert r.err == ("dispatch: `no-such-agent-cli` (backend `ghost`) is not on PATH: install it or fix "
                     "`backends.ghost.command`, or pick another model with --model\n")
    assert snapshot(repo) == before


def test_models_named_twice_or_alike_are_refused(repo: Path) -> None:
    before = snapshot(repo)
    r = dispatch("new", "Twice", "--model", "opus", "--models", "sonnet,opus", cwd=repo)
    assert (r.code, r.out, r.err) == (2, "", "dispatch: model `opus` is named twice: a group runs each model once\n")
    r = dispatch("new", "Alike", "--models", "gpt-5.4,gpt-5-4", cwd=repo)
    assert (r.code, r.err) == (2, ("dispatch: models `gpt-5.4` and `gpt-5-4` would both make tasks `<id>-gpt-5-4`: "
                                  "give one of them an alias (`dispatch models alias NAME --model M`)\n"))
    r = dispatch("new", "Taken", "--id", "greet", "--models", "a,b", "--no-start", cwd=repo)
    assert r.code == 0
    r = dispatch("new", "Again", "--id", "greet", "--models", "c,d", "--no-start", cwd=repo)
    assert (r.code, r.err) == (1, "dispatch: group `greet` already exists: choose another `--id`\n")
    assert snapshot(repo)["refs"] != before["refs"]


def test_pick_refusals_change_nothing(repo: Path, tmp_path: Path) -> None:
    _config(tmp_path)
    assert dispatch("new", "Solo", "--item", "x", "--no-start", cwd=repo).code == 0
    r = dispatch("new", "Race", "--models", "scripted,slow", *ITEMS, cwd=repo, env=FAST)
    assert r.code == 0, r.err
    wait_for(lambda: task_status(repo, "race-scripted")["state"] == "done", message="race-scripted to be done")
    # The supervisor records the exit, then appends its event: the snapshot below must come after both.
    wait_for(lambda: ("race-scripted", "exited") in [(e["task"], e["kind"]) for e in events(repo)], message="the exit")
    assert task_status(repo, "race-slow")["state"] == "running"
    before = snapshot(repo)

    r = dispatch("pick", "solo", "--yes", cwd=repo)
    assert (r.code, r.out, r.err) == (1, "", "dispatch: `solo` is not one of a group: `dispatch merge solo` lands it\n")
    r = dispatch("pick", "nope", "--yes", cwd=repo)
    assert (r.code, r.err) == (1, "dispatch: no task `nope`: `dispatch status` lists the tasks\n")
    r = dispatch("pick", "race-scripted", "--yes", cwd=repo)
    assert (r.code, r.out, r.err) == (1, "", ("dispatch: the worker of `race-slow` is still running: stop it with "
                                             "`dispatch stop race-slow`, then pick race-scripted\n"))
    r = dispatch("pick", "race-slow", "--yes", cwd=repo)
    assert (r.code, r.err) == (1, ("dispatch: the worker of `race-slow` is still running: stop it with "
                                  "`dispatch stop race-slow`, then land it\n"))
    r = dispatch("review", "race", "--stat", cwd=repo)
    assert (r.code, r.err) == (2, ("dispatch: `race` is a group: --stat, --patch and --files are for one of its tasks "
                                  "(race-scripted, race-slow)\n"))
    assert snapshot(repo) == before

    r = dispatch("stop", "race-slow", cwd=repo)
    assert r.code == 0, r.err
    wait_for(lambda: ("race-slow", "exited") in [(e["task"], e["kind"]) for e in events(repo)], message="the exit")
    before = snapshot(repo)
    r = dispatch("pick", "race-scripted", cwd=repo)  # no terminal to confirm on, no --yes
    assert (r.code, r.out, r.err) == (1, "", ("dispatch: landing race-scripted on main by squash, then discarding "
                                             "race-slow (saved to the trash) needs confirmation and there is no "
                                             "terminal to ask on: pass --yes\n"))
    assert snapshot(repo) == before
    r = dispatch("pick", "race-scripted", "--yes", "--strategy", "merge", cwd=repo)
    assert (r.code, r.err) == (0, "")
    assert r.out.splitlines()[0].startswith("landed race-scripted on main by merge: ")
    assert git(repo, "ls-tree", "-r", "--name-only", "main") == "README.md\nbye.txt\nhello.txt\nsrc/app.py"
    assert [t.split()[0] for t in dispatch("trash", cwd=repo).out.splitlines()[1:]] == ["race-scripted", "race-slow"]
