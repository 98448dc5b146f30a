"""The hot commands (`status`, `ask`, `answer`, `conflicts`, `review`) run without typer when their command line is
plain: they must read it exactly as typer would, hand typer everything else, and print the same either way."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import dispatch

from dispatch.commands import app, common, hot


@pytest.mark.parametrize(("argv", "parsed"), [
    (["status"], ("status", [], {})),
    (["status", "--json", "a", "b"], ("status", ["a", "b"], {"json": True})),
    (["ls", "a", "--json"], ("ls", ["a"], {"json": True})),
    (["ask", "why?"], ("ask", ["why?"], {})),
    (["ask", "-", "--timeout", "2.5", "--task", "t"], ("ask", ["-"], {"timeout": 2.5, "task": "t"})),
    (["answer", "t", "yes", "-q", "2", "--resume"], ("answer", ["t", "yes"], {"question": 2, "resume": True})),
    (["answer", "--question", "10", "t", "-"], ("answer", ["t", "-"], {"question": 10})),
    (["conflicts", "--json"], ("conflicts", [], {"json": True})),
    (["review", "t"], ("review", ["t"], {})),
    (["review", "--json", "t"], ("review", ["t"], {"json": True})),
    (["diff", "t", "--patch", "--stat"], ("diff", ["t"], {"patch": True, "stat": True})),
    (["new", "x"], ("new", ["x"], {})),
    (["new", "t", "--item", "a", "-m", "m1", "--item", "b", "--model", "m2", "--no-start", "--budget-time", "60"],
     ("new", ["t"], {"item": ["a", "b"], "model": ["m1", "m2"], "no_start": True, "budget_time": 60.0})),
    (["new", "--plan", "-", "t", "--after", "a", "--json"], ("new", ["t"], {"plan": "-", "after": ["a"], "json": True})),
])
def test_a_plain_command_line_is_read_as_typer_reads_it(argv: list[str], parsed: tuple[object, ...]) -> None:
    assert hot.parse(argv) == parsed


@pytest.mark.parametrize("argv", [
    [], ["new"], ["new", "a", "b"], ["new", "t", "--id"], ["new", "t", "--id", "a", "--id", "b"], ["new", "t", "--item=a"],
    ["new", "t", "--budget-time", "1e3"], ["new", "t", "--help"], ["new", "t", "-mx"], ["status", "--watch"], ["status", "-w"], ["status", "--interval", "2"], ["status", "--help"],
    ["status", "-h"], ["status", "--json", "--json"], ["status", "--json=1"], ["status", "--", "a"],
    ["ask"], ["ask", "a", "b"], ["ask", "-x is odd"], ["ask", "q", "--timeout"], ["ask", "q", "--timeout", "soon"],
    ["ask", "q", "--timeout", "-1"], ["ask", "q", "--timeout", ".5"], ["ask", "q", "--timeout=2"], ["ask", "q", "--task", "--json"],
    ["answer", "t"], ["answer", "t", "x", "-q", "one"], ["answer", "t", "x", "-q", "1", "--question", "2"],
    ["answer", "t", "x", "-q2"], ["conflicts", "extra"], ["conflicts", "--json", "--stat"], ["--version"],
    ["review"], ["review", "a", "b"], ["review", "t", "--help"], ["review", "t", "--json", "--json"], ["review", "t", "-p"],
])
def test_anything_else_is_left_to_typer(argv: list[str]) -> None:
    assert hot.parse(argv) is None


def _captured(run: Callable[[], int], cwd: Path) -> tuple[int, str, str]:
    saved, here = (sys.stdin, sys.stdout, sys.stderr), os.getcwd()
    out, err = io.StringIO(), io.StringIO()
    try:
        os.chdir(cwd)
        sys.stdin, sys.stdout, sys.stderr = io.StringIO(""), out, err
        code = run()
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved
        os.chdir(here)
    return code, out.getvalue(), err.getvalue()


def test_both_ways_print_the_same(repo: Path) -> None:
    for title in ("first task", "second task"):
        assert dispatch("new", title, "--no-start", cwd=repo).code == 0
    asked = dispatch("ask", "which one?", "--task", "first-task", "--timeout", "0", cwd=repo)
    assert (asked.code, asked.out) == (75, "")
    worktree = repo.parent / "app.dispatch" / "first-task"
    (worktree / "notes.txt").write_text("some work\n")
    subprocess.run(["git", "add", "notes.txt"], cwd=worktree, check=True)
    subprocess.run(["git", "commit", "-qm", "some work"], cwd=worktree, check=True)
    lines = [["status"], ["status", "--json"], ["status", "second-task"], ["status", "secnd-task"], ["ls", "--json"],
             ["conflicts"], ["conflicts", "--json"], ["answer", "no-such-task", "x"], ["answer", "first-task", "x", "-q", "9"],
             ["ask", "outside any task"], ["ask", "q", "--task", "no-such-task"],
             ["review", "first-task"], ["diff", "first-task", "--json"], ["review", "first-task", "--patch"],
             ["review", "first-task", "--stat"], ["review", "first-task", "--files"], ["review", "first-task", "--json", "--stat"],
             ["review", "no-such-task"]]
    for argv in lines:
        assert hot.parse(argv) is not None, argv
        fast = _captured(lambda a=argv: common.boundary(lambda: hot.run(a) or 0), repo)  # type: ignore[misc]
        typer_way = _captured(lambda a=argv: common.boundary(lambda: app.run(a)), repo)  # type: ignore[misc]
        assert fast == typer_way, argv
        assert fast[0] != 3 and (fast[1] or fast[2]), argv  # something said, and no crash


def test_new_prints_the_same_both_ways(repo: Path) -> None:
    (repo / "plan.md").write_text("- [ ] one\n")
    refused = [["new", "x", "--item", "a", "--plan", "plan.md"], ["new", "x", "--sandbox", "nope"],
               ["new", "x", "-m", "no-such-model"], ["new", "x", "--on", "nowhere"], ["new", "x", "--after", "ghost"],
               ["new", "x", "--base", "no-such-ref"], ["new", "Bad/id", "--id", "Bad/id"]]
    for argv in refused:
        assert hot.parse(argv) is not None, argv
        fast = _captured(lambda a=argv: common.boundary(lambda: hot.run(a) or 0), repo)  # type: ignore[misc]
        typer_way = _captured(lambda a=argv: common.boundary(lambda: app.run(a)), repo)  # type: ignore[misc]
        assert fast == typer_way, argv
        assert (fast[0], fast[1], fast[2].count("\n")) == (1, "", 1), argv  # one line, and nothing made
    assert dispatch("status", cwd=repo).out == 'no tasks yet: `dispatch new "what to do"` creates one\n'
    made = []
    for task_id, run in (("fast", lambda a: hot.run(a) or 0), ("typer", app.run)):
        for extra in (["--item", "one", "--item", "two"], ["--plan", "plan.md", "-m", "scripted", "--json"]):
            argv = ["new", "Paint", "--id", f"{task_id}{len(extra)}", "--no-start", *extra]
            code, out, err = _captured(lambda a=argv, r=run: common.boundary(lambda: r(a)), repo)  # type: ignore[misc]
            assert (code, err) == (0, ""), argv
            made.append(re.sub(r'"commit": "[0-9a-f]+"', '"commit": "C"', out.replace(task_id, "ID")))
    assert made[:2] == made[2:]  # the same but for the ids, and the plan commit (made at another moment)
    assert made[0].startswith("created ID4\n") and '"id": "ID5"' in made[1]


def test_an_answer_written_the_other_way_still_lands(repo: Path) -> None:
    assert dispatch("new", "a task", "--no-start", cwd=repo).code == 0
    assert dispatch("ask", "which one?", "--task", "a-task", "--timeout", "0", cwd=repo).code == 75
    assert hot.parse(["answer", "a-task", "--question=1", "the red one"]) is None  # typer reads this one
    r = dispatch("answer", "a-task", "--question=1", "the red one", cwd=repo)
    assert (r.code, r.out, r.err) == (
        0, "answered Q1 of a-task; no worker is running: `dispatch resume a-task` continues with the answer\n", "")


def _loaded(argv: list[str], cwd: Path, modules: tuple[str, ...]) -> list[str]:
    code = ("import sys\nfrom dispatch import cli\ncode = cli.main(sys.argv[1:])\n"
            f"print(code, *[m for m in {modules!r} if m in sys.modules], file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code, *argv], cwd=cwd, capture_output=True, text=True, check=True)
    return proc.stderr.splitlines()[-1].split()


def test_a_plain_hot_command_imports_no_typer_no_yaml_and_no_thread_pool(repo: Path) -> None:
    for title in ("first task", "second task"):
        assert dispatch("new", title, "--no-start", cwd=repo).code == 0
    dispatch("status", cwd=repo)  # reads the plans' front matter once: later runs know it
    dispatch("conflicts", cwd=repo)  # walks the histories once (a temporary file for git's errors): kept after
    heavy = ("typer", "click", "yaml", "concurrent.futures", "dispatch.commands.app", "dataclasses", "inspect", "shutil", "shlex")
    assert _loaded(["status"], repo, heavy) == ["0"]
    assert _loaded(["status", "--json", "first-task"], repo, heavy) == ["0"]
    assert _loaded(["conflicts", "--json"], repo, heavy) == ["0"]
    assert _loaded(["review", "first-task", "--json"], repo, heavy) == ["0"]
    assert _loaded(["new", "third task", "--item", "one", "--no-start"], repo, heavy) == ["0"]
    assert _loaded(["answer", "first-task", "x"], repo, heavy) == ["1"]  # no question to answer: one line, still no typer
    assert _loaded(["status", "--watch", "--interval", "x"], repo, ("typer",)) == ["2", "typer"]


def test_front_matter_read_once_is_known_after(repo: Path) -> None:
    r = dispatch("new", "a task", "--no-start", "--json", cwd=repo)
    plan = Path(json.loads(r.out)["task"]["worktree"]) / ".dispatch" / "PLAN.md"
    cache = repo / ".git" / "dispatch" / "front-matter.json"
    def read() -> dict[str, object]:
        task = json.loads(dispatch("status", "--json", cwd=repo).out)["tasks"][0]
        return {key: task[key] for key in ("title", "base", "base_commit", "created", "model", "state", "plan")}

    before = read()
    known = json.loads(cache.read_text())["known"]
    front = plan.read_text().split("---\n")[1]
    assert list(known) == [front]
    assert json.loads(known[front])["title"] == "a task"
    # A date is no JSON: that front matter is not kept, and reads the same every time.
    plan.write_text(plan.read_text().replace("---\n", "---\nwhen: 2026-12-02\n", 1))
    assert read() == before
    assert list(json.loads(cache.read_text())["known"]) == [front]
    # A cache that lies is believed only for the text it names: an edited front matter is read again.
    plan.write_text(plan.read_text().replace("title: a task", "title: a renamed task"))
    assert read() == {**before, "title": "a renamed task"}
