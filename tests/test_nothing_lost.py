"""Issue 13: no dispatch command loses a worker's commit or uncommitted work, even when it misbehaves."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import dispatch, git
from dispatch.plan import parse_plan


def wait_for(what: Callable[[], Any], timeout: float = 60.0, message: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = what()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {message}")


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
        assert (r.code, r.out, r.err) == (0, "noted in <tmp>/work/app.dispatch/busy/.dispatch/NOTES.md (the worker reads it)\n", "")
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
