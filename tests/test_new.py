"""`dispatch new`: branch, worktree outside the checkout, rendered plan, one commit; all or nothing."""

from __future__ import annotations

import json
import textwrap
from datetime import datetime
from pathlib import Path

import pytest
from conftest import dispatch, git, snapshot
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch.task.create import front_matter
from dispatch.task.plan import dump_front_matter


def test_new_creates_branch_worktree_and_plan_commit(repo: Path, tmp_path: Path) -> None:
    base = git(repo, "rev-parse", "HEAD")
    r = dispatch(
        "new", "Fix the login redirect loop", "--item", "Reproduce the loop in a failing test",
        "--item", "Fix the redirect handling", "--no-start", cwd=repo, tmp=tmp_path,
    )
    assert (r.code, r.err) == (0, "")
    assert r.out == textwrap.dedent(f"""\
        created fix-the-login-redirect-loop
          branch    dispatch/fix-the-login-redirect-loop (from main at {base[:7]})
          worktree  <tmp>/work/app.dispatch/fix-the-login-redirect-loop
          plan      2 items: <tmp>/work/app.dispatch/fix-the-login-redirect-loop/.dispatch/PLAN.md
          worker    not started: `dispatch resume fix-the-login-redirect-loop --model M` starts one, M one of `dispatch models`
        """)
    wt = tmp_path / "work" / "app.dispatch" / "fix-the-login-redirect-loop"
    assert (wt / ".dispatch" / "PLAN.md").read_text() == textwrap.dedent(f"""\
        ---
        dispatch: 1
        id: fix-the-login-redirect-loop
        title: Fix the login redirect loop
        base: main
        base_commit: {base}
        model: null
        created: '2026-11-23T11:00:00Z'
        ---
        # Fix the login redirect loop

        ## Checklist
        - [ ] Reproduce the loop in a failing test
        - [ ] Fix the redirect handling

        ## Notes from the dispatcher
        """)
    assert (wt / ".dispatch" / "QUESTIONS.md").read_text() == textwrap.dedent("""\
        # Questions from the worker

        Asked with `dispatch ask "..."`; answered with `dispatch answer fix-the-login-redirect-loop "..."`.
        """)
    assert (wt / ".dispatch" / "NOTES.md").read_text() == textwrap.dedent("""\
        # Notes from the dispatcher

        Added with `dispatch note fix-the-login-redirect-loop "..."` while you work: read this file again before each item.
        Only dispatch writes it: do not edit it.

        """)
    branch = "dispatch/fix-the-login-redirect-loop"
    assert git(repo, "log", "--format=%s", f"main..{branch}") == "dispatch: plan fix-the-login-redirect-loop"
    assert git(repo, "rev-parse", f"{branch}^") == base
    assert git(repo, "diff", "--name-only", "main", branch) == ".dispatch/NOTES.md\n.dispatch/PLAN.md\n.dispatch/QUESTIONS.md"
    assert git(wt, "status", "--porcelain") == ""
    # The main checkout is untouched and holds nothing of the task.
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""
    assert git(repo, "branch", "--show-current") == "main"


def test_new_json_and_default_item(repo: Path, tmp_path: Path) -> None:
    r = dispatch("new", "Refactor parser", "--no-start", "--json", cwd=repo, tmp=tmp_path)
    assert r.code == 0, r.err
    data = json.loads(r.out)
    commit = git(repo, "rev-parse", "dispatch/refactor-parser")
    assert data == {
        "version": 1,
        "task": {
            "id": "refactor-parser",
            "title": "Refactor parser",
            "branch": "dispatch/refactor-parser",
            "worktree": "<tmp>/work/app.dispatch/refactor-parser",
            "base": "main",
            "base_commit": git(repo, "rev-parse", "main"),
            "commit": commit,
            "model": None,
            "items": [
                "Read the task and the code, then replace this item with a concrete checklist and commit it"
            ],
            "worker": None,
            "queued": False,
            "after": [],
        },
    }


def test_new_from_plan_file_and_stdin(repo: Path, tmp_path: Path) -> None:
    plan = tmp_path / "plan.md"
    plan.write_text("# Ignored heading\nAdd a health endpoint.\nIt returns JSON.\n\n- [ ] Add route\n* [ ] Add test\n")
    assert dispatch("new", "Health", "--plan", str(plan), "--no-start", cwd=repo).code == 0
    text = (tmp_path / "work" / "app.dispatch" / "health" / ".dispatch" / "PLAN.md").read_text()
    assert text.split("---\n", 2)[2] == textwrap.dedent("""\
        # Health

        > Add a health endpoint.
        > It returns JSON.

        ## Checklist
        - [ ] Add route
        - [ ] Add test

        ## Notes from the dispatcher
        """)
    r = dispatch("new", "Health", "--plan", "-", "--no-start", cwd=repo, input="- [ ] From stdin\n")
    assert r.code == 0, r.err
    text = (tmp_path / "work" / "app.dispatch" / "health-2" / ".dispatch" / "PLAN.md").read_text()
    assert text.endswith("## Checklist\n- [ ] From stdin\n\n## Notes from the dispatcher\n")


def test_slug_taken_gets_suffix_counting_the_trash(repo: Path) -> None:
    for _ in range(2):
        assert dispatch("new", "Same title!", "--no-start", cwd=repo).code == 0
    assert dispatch("discard", "same-title-2", "--yes", cwd=repo).code == 0
    r = dispatch("new", "Same title!", "--no-start", "--json", cwd=repo)
    assert json.loads(r.out)["task"]["id"] == "same-title-3"


def test_base_option_and_worktree_root_config(repo: Path, tmp_path: Path) -> None:
    first = git(repo, "rev-list", "--max-parents=0", "HEAD")
    git(repo, "tag", "v1", first)
    (repo / ".dispatch.toml").write_text('worktree_root = "../trees"\n')
    assert dispatch("trust", cwd=repo).code == 0
    r = dispatch("new", "Old fix", "--base", "v1", "--no-start", "--json", cwd=repo, tmp=tmp_path)
    assert r.code == 0, r.err
    task = json.loads(r.out)["task"]
    assert (task["base"], task["base_commit"], task["worktree"]) == ("v1", first, "<tmp>/work/trees/old-fix")
    assert git(repo, "rev-parse", "dispatch/old-fix^") == first


def test_new_from_inside_a_task_worktree_bases_on_the_main_checkout_branch(repo: Path, tmp_path: Path) -> None:
    assert dispatch("new", "One", "--no-start", cwd=repo).code == 0
    r = dispatch("new", "Two", "--no-start", "--json", cwd=tmp_path / "work" / "app.dispatch" / "one", tmp=tmp_path)
    assert r.code == 0, r.err
    assert json.loads(r.out)["task"]["base"] == "main"
    assert json.loads(r.out)["task"]["worktree"] == "<tmp>/work/app.dispatch/two"


def test_failure_half_way_removes_what_it_made(repo: Path, tmp_path: Path) -> None:
    # No identity and auto-detection off: the plan commit fails after the worktree exists.
    git(repo, "config", "user.useConfigOnly", "true")
    before = snapshot(repo)
    env = {k: "" for k in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL")}
    r = dispatch("new", "Doomed", "--no-start", cwd=repo, env=env)
    assert (r.code, r.out) == (1, "")
    assert r.err == (
        "dispatch: git does not know who you are: set `git config --global user.name NAME` and `user.email EMAIL`\n"
    )
    assert snapshot(repo) == before
    assert not (tmp_path / "work" / "app.dispatch" / "doomed").exists()


def test_a_base_tracking_its_own_task_folder_files_keeps_them_beside_the_plan(repo: Path) -> None:
    # The plan commit is built as objects on the base's tree: what the base holds there stays.
    (repo / ".dispatch").mkdir()
    (repo / ".dispatch" / "README.txt").write_text("ours\n")
    (repo / ".dispatch" / "PLAN.md").write_text("an old plan\n")
    git(repo, "add", "-f", ".dispatch")
    git(repo, "commit", "-qm", "track a task folder by hand")

    r = dispatch("new", "Keep them", "--no-start", "--item", "One", cwd=repo)

    assert (r.code, r.err) == (0, "")
    wt = repo.parent / "app.dispatch" / "keep-them"
    assert git(repo, "ls-tree", "-r", "--name-only", "dispatch/keep-them", ".dispatch").split() == [
        ".dispatch/NOTES.md", ".dispatch/PLAN.md", ".dispatch/QUESTIONS.md", ".dispatch/README.txt"]
    assert (wt / ".dispatch" / "README.txt").read_text() == "ours\n"
    assert (wt / ".dispatch" / "PLAN.md").read_text().startswith("---\ndispatch: 1\nid: keep-them\n")
    assert git(repo, "diff", "--name-only", "main", "dispatch/keep-them") == (
        ".dispatch/NOTES.md\n.dispatch/PLAN.md\n.dispatch/QUESTIONS.md")
    assert git(wt, "status", "--porcelain", "--untracked-files=all") == ""


_TRICKY = ["yes", "No", "ON", "off", "null", "NULL", "true", "y", "n", "~", "Fix", "a-b", "x.y", "#", ":", "- x",
           " ", "0", "12", "1.5", "0b101", "0x1F", "2026-11-23", ".inf", "é", "\t", "'", '"', "(a)", "a+b", "/p",
           "_", "[x]", "{x}", "a: b", "a #b", "\x85", "a ", "Fix " * 19 + "it", "x" * 73, "x" * 74, "0" * 40,
           "0" + "7" * 39, "0" + "9" * 39, "0b" + "1" * 38, "1ad53894ea5ed9362e3acf4eac2d39258d5d9531",
           "2026-11-23T10:00:00Z", "2026-11-23T10:00:00", "2026-11-23 10:00:00Z"]
_TEXT = (st.sampled_from(_TRICKY) | st.lists(st.sampled_from(_TRICKY), max_size=6).map(" ".join)
         | st.lists(st.sampled_from(_TRICKY) | st.text(max_size=6), max_size=8).map("".join))
_HEX = st.text("0123456789abcdef", min_size=40, max_size=40) | st.text("0123456789", min_size=40, max_size=40)


@pytest.mark.parametrize("value", _TRICKY)
def test_front_matter_writes_each_value_as_pyyaml_does(value: str) -> None:
    for key in ("title", "base_commit", "created", "after"):
        meta: dict[str, object] = {"dispatch": 1, key: [value, "x"] if key == "after" else value, "model": None}
        assert front_matter(meta) == dump_front_matter(meta), key


@settings(max_examples=300)
@given(title=_TEXT, base=_TEXT, commit=_HEX | _TEXT, model=st.none() | _TEXT, group=st.none() | _TEXT,
       after=st.lists(_TEXT, max_size=3),
       created=st.datetimes(min_value=datetime(1970, 1, 1)).map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ")) | _TEXT)
def test_front_matter_is_what_pyyaml_writes(title: str, base: str, commit: str, model: str | None,
                                            group: str | None, after: list[str], created: str) -> None:
    meta: dict[str, object] = {"dispatch": 1, "id": "fix-it", "title": title, "base": base, "base_commit": commit,
                               "model": model, "created": created}
    if after:
        meta["after"] = after
    if group:
        meta["group"] = group
    assert front_matter(meta) == dump_front_matter(meta)
