"""What dispatch tells a person to do next works as printed, and it says where they are left (17.15, 17.17)."""

from __future__ import annotations

from pathlib import Path

from conftest import dispatch, git


def test_merging_from_inside_the_task_s_worktree_says_where_to_go(repo: Path, tmp_path: Path) -> None:
    """The worktree the shell is in goes with the landing: say so, with the folder to `cd` to (17.17)."""
    assert dispatch("new", "Inside", "--no-start", cwd=repo).code == 0
    worktree = tmp_path / "work" / "app.dispatch" / "inside"
    (worktree / "inside.txt").write_text("made inside\n")
    git(worktree, "add", "inside.txt")
    git(worktree, "commit", "-q", "-m", "work inside")
    old = git(repo, "rev-parse", "--short=7", "main")
    r = dispatch("merge", "inside", "--yes", cwd=worktree, process=True, tmp=tmp_path)
    new = git(repo, "rev-parse", "--short=7", "main")
    assert (r.code, r.err) == (0, "")
    assert r.out == (
        f"landed inside on main by squash: {old} -> {new}\n"
        "  removed its worktree and branch; `dispatch restore inside` brings them back\n"
        "  your shell is in <tmp>/work/app.dispatch/inside, which is removed now: `cd <tmp>/work/app`\n"
    )
    assert not worktree.exists()


def test_discarding_from_a_sub_folder_of_the_worktree_says_where_to_go(repo: Path, tmp_path: Path) -> None:
    assert dispatch("new", "Drop me", "--no-start", cwd=repo).code == 0
    sub = tmp_path / "work" / "app.dispatch" / "drop-me" / "src"
    r = dispatch("discard", "drop-me", "--yes", cwd=sub, process=True, tmp=tmp_path)
    assert (r.code, r.err) == (0, "")
    assert r.out.splitlines()[1:] == [
        "  `dispatch restore drop-me` brings it back",
        "  your shell is in <tmp>/work/app.dispatch/drop-me, which is removed now: `cd <tmp>/work/app`",
    ]
