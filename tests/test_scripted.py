"""The scripted worker understands the item forms it lists, and the one people type first (17.5)."""

from __future__ import annotations

from pathlib import Path

from conftest import FAST, dispatch, git, state_is, wait_for


def test_ask_as_the_whole_item_asks_instead_of_writing_a_note(repo: Path, tmp_path: Path) -> None:
    r = dispatch("new", "License", "--model", "scripted", "--item", "ask: Which license?", cwd=repo, env=FAST)
    assert r.code == 0, r.err
    wait_for(state_is(repo, "license", "asking"), message="license to be asking")
    r = dispatch("questions", cwd=repo)
    assert (r.code, r.out, r.err) == (0, "TASK     Q   AGE  QUESTION\nlicense  Q1  0s   Which license?\n", "")
    r = dispatch("answer", "license", "MIT", cwd=repo)
    assert r.code == 0, r.err
    wait_for(state_is(repo, "license", "done"), message="license to be done")
    worktree = tmp_path / "work" / "app.dispatch" / "license"
    assert git(worktree, "ls-files", "notes") == "notes/ask-which-license.md"
    assert (worktree / "notes" / "ask-which-license.md").read_text() == "ask: Which license?\n\nAnswer: MIT\n"
