"""Hostile input: handled safely or refused with one clear line; no shell ever interprets it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import dispatch, git, snapshot

from dispatch.task.plan import parse_plan
from dispatch.task.questions import parse_questions

SHELLY = [
    "$(touch PWNED)", "`touch PWNED`", "; touch PWNED", "| touch PWNED &&", "' \" \\ $HOME ${IFS} *",
]
WEIRD = [
    "line one\nline two\n- [ ] looks like an item\n---\nid: evil\n---",
    "\u202eRTL override \u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627 emoji \U0001f680 zero\u200bwidth",
    "---\ndispatch: 1\nid: ../../etc\n---\n# fake front matter",
    "- [x] pretend done\n* [!] pretend failed\n## Checklist",
]


def _no_pwned(*folders: Path) -> None:
    for folder in folders:
        assert not list(folder.rglob("PWNED")), f"a shell ran in {folder}"


@pytest.mark.parametrize("text", SHELLY + WEIRD)
def test_titles_items_and_notes_are_kept_literally(repo: Path, tmp_path: Path, text: str) -> None:
    # `--` ends the options, as in any command line, so text may start with "-".
    r = dispatch("new", "--item", text, "--item", "plain", "--no-start", "--json", "--", text, cwd=repo)
    assert r.code == 0, r.err
    task = json.loads(r.out)["task"]
    plan = parse_plan((Path(task["worktree"]) / ".dispatch" / "PLAN.md").read_text())
    assert plan.meta["title"] == " ".join(text.split())
    assert plan.meta["id"] == task["id"]
    assert [i.text for i in plan.items] == [" ".join(text.split()), "plain"]
    assert plan.progress().total == 2
    assert dispatch("note", "--", task["id"], text, cwd=repo).code == 0
    plan = parse_plan((Path(task["worktree"]) / ".dispatch" / "PLAN.md").read_text())
    assert plan.progress().total == 2  # a note that looks like items adds none
    status = json.loads(dispatch("status", "--json", cwd=repo).out)["tasks"][0]
    assert (status["state"], status["title"]) == ("idle", " ".join(text.split()))
    _no_pwned(tmp_path)


@pytest.mark.parametrize("text", SHELLY + WEIRD)
def test_questions_and_answers_are_kept_literally(repo: Path, tmp_path: Path, text: str) -> None:
    r = dispatch("new", "Ask things", "--no-start", "--json", cwd=repo)
    wt = Path(json.loads(r.out)["task"]["worktree"])
    ask = subprocess.Popen(
        [sys.executable, "-m", "dispatch", "ask", "--timeout", "60", "--", text], cwd=wt,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        qs = json.loads(dispatch("questions", "--json", cwd=repo).out)["questions"]
        if qs:
            break
        time.sleep(0.05)
    assert qs[0]["text"] == text.strip()
    assert dispatch("answer", "ask-things", "-", cwd=repo, input=text).code == 0
    out, _err = ask.communicate(timeout=30)
    assert (ask.returncode, out) == (0, text.strip() + "\n")
    q = parse_questions((wt / ".dispatch" / "QUESTIONS.md").read_text()).questions[0]
    assert (q.text, q.answer) == (text.strip(), text.strip())
    _no_pwned(tmp_path)


def test_a_megabyte_of_text_through_stdin(repo: Path, tmp_path: Path) -> None:
    big = ("All work and no play. " * 50 + "\n") * 1000  # about 1 MB
    assert len(big) > 1_000_000
    r = dispatch("new", "Big", "--plan", "-", "--no-start", "--json", cwd=repo, input=big + "- [ ] the item\n")
    assert r.code == 0, r.err
    wt = Path(json.loads(r.out)["task"]["worktree"])
    plan = parse_plan((wt / ".dispatch" / "PLAN.md").read_text())
    assert [i.text for i in plan.items] == ["the item"]
    assert plan.description == "\n".join(line.rstrip() for line in big.strip().splitlines())
    assert dispatch("note", "big", "-", cwd=repo, input=big).code == 0
    assert json.loads(dispatch("status", "--json", cwd=repo).out)["tasks"][0]["plan"]["total"] == 1


@pytest.mark.parametrize("args, stdin", [
    (["new", "Nul", "--plan", "-", "--no-start"], "text\0with nul\n- [ ] x\n"),
    (["note", "victim", "-"], "a\0b"),
])
def test_nul_bytes_are_refused(repo: Path, args: list[str], stdin: str) -> None:
    assert dispatch("new", "Victim", "--no-start", cwd=repo).code == 0
    before = snapshot(repo)
    plan_before = (repo.parent / "app.dispatch" / "victim" / ".dispatch" / "PLAN.md").read_text()
    r = dispatch(*args, cwd=repo, input=stdin)
    assert (r.code, r.out) == (1, "")
    assert r.err.endswith("contains a NUL byte: remove it and try again\n") and r.err.count("\n") == 1
    assert snapshot(repo) == before
    assert (repo.parent / "app.dispatch" / "victim" / ".dispatch" / "PLAN.md").read_text() == plan_before


@pytest.mark.parametrize("model", ["$(touch PWNED)", "gpt;touch PWNED", "../../bin/sh", "-rf"])
def test_hostile_model_names_run_nothing(repo: Path, tmp_path: Path, model: str) -> None:
    before = snapshot(repo)
    r = dispatch("new", "Evil model", "--model", model, cwd=repo, env={"PATH": "/usr/bin:/bin"})
    assert (r.code, r.out) == (1, "")
    assert r.err.count("\n") == 1 and r.err.startswith("dispatch: ")
    assert snapshot(repo) == before
    _no_pwned(tmp_path)


def test_gitignore_that_ignores_dispatch_files(repo: Path, tmp_path: Path) -> None:
    (repo / ".gitignore").write_text(".dispatch/\n")
    git(repo, "add", ".gitignore")
    git(repo, "commit", "-qm", "ignore")
    r = dispatch("new", "Ignored", "--item", "x", "--no-start", "--json", cwd=repo)
    assert r.code == 0, r.err
    wt = Path(json.loads(r.out)["task"]["worktree"])
    assert git(repo, "ls-tree", "--name-only", "-r", "dispatch/ignored") == (
        ".dispatch/NOTES.md\n.dispatch/PLAN.md\n.dispatch/QUESTIONS.md\n.gitignore\nREADME.md\nsrc/app.py"
    )
    plan = wt / ".dispatch" / "PLAN.md"
    plan.write_text(plan.read_text().replace("- [ ] x", "- [x] x"))
    assert json.loads(dispatch("status", "--json", cwd=repo).out)["tasks"][0]["dirty"] == 1
    assert dispatch("discard", "ignored", "--yes", cwd=repo).code == 0
    assert dispatch("restore", "ignored", cwd=repo).code == 0
    assert "- [x] x" in plan.read_text()


def test_paths_with_spaces(tmp_path: Path) -> None:
    repo = tmp_path / "my work" / "the app"
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "commit", "-q", "--allow-empty", "-m", "init")
    (repo / ".dispatch.toml").write_text('worktree_root = "../task trees"\n')
    assert dispatch("trust", cwd=repo).code == 0
    r = dispatch("new", "Spaced out", "--model", "scripted", "--item", "Write `a file.txt`", cwd=repo,
                 env={"DISPATCH_SCRIPTED_DELAY": "0"})
    assert r.code == 0, r.err
    wt = tmp_path / "my work" / "task trees" / "spaced-out"
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and json.loads(dispatch("status", "--json", cwd=repo).out)["tasks"][0]["state"] != "done":
        time.sleep(0.05)
    assert (wt / "a file.txt").read_text() == "Write `a file.txt`\n"
    assert json.loads(dispatch("status", "--json", cwd=repo).out)["tasks"][0]["worktree"] == str(tmp_path / "my work" / "task trees" / "spaced-out")
