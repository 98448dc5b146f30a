"""A git operation stopped in a worktree (a rebase, merge, cherry-pick, revert or bisect): which one,
on what branch, its conflicts, and the way out, in words."""

from __future__ import annotations

import os
from pathlib import Path

from dispatch import git, worktrees


def in_progress(worktree: Path) -> str | None:
    """The operation a person left unfinished in WORKTREE (rebase, merge, cherry-pick, revert, bisect), if any."""
    marks = {"rebase-merge": "rebase", "rebase-apply": "rebase", "MERGE_HEAD": "merge",
             "CHERRY_PICK_HEAD": "cherry-pick", "REVERT_HEAD": "revert",
             "BISECT_LOG": "bisect"}
    args = [a for mark in marks for a in ("--git-path", mark)]
    paths = git.run(["rev-parse", "--path-format=absolute", *args], cwd=worktree)
    for mark, path in zip(marks, paths.stdout.splitlines(), strict=True):
        if Path(path).exists():
            return marks[mark]
    return None


def way_out(operation: str) -> str:
    """How a person ends OPERATION (a word from `in_progress`), either way."""
    if operation == "bisect":
        return "end it (`git bisect reset`)"
    return f"finish it (`git {operation} --continue`) or abort it (`git {operation} --abort`)"


def operation_branch(worktree: git.Worktree) -> git.RefName | None:
    """The branch (full ref) the operation in progress in WORKTREE works on: a rebase and a bisect detach HEAD."""
    if worktree.branch is not None:
        return worktree.branch
    rebasing = rebasing_branch(worktree.path)
    if rebasing is not None:
        return rebasing
    start = git.run(["rev-parse", "--path-format=absolute", "--git-path", "BISECT_START"], cwd=worktree.path, check=False)
    try:
        name = Path(start.stdout.strip()).read_text(encoding="utf-8").strip() if start.returncode == 0 else ""
    except OSError:
        return None
    return git.head_ref(name) if name else None


# The marks git leaves in a worktree's own folder while an operation stops for a person, in the order read.
_STOPPED = (("rebase-merge", "rebase"), ("rebase-apply", "rebase"), ("MERGE_HEAD", "merge"),
            ("CHERRY_PICK_HEAD", "cherry-pick"), ("REVERT_HEAD", "revert"))


def stopped_operation(worktree: Path) -> str | None:
    """Like `in_progress`, from git's files alone (no process): status asks it of every worktree, so with
    os and bytes, not pathlib and text, and git's folder listed once rather than each mark looked for."""
    try:
        names = set(os.listdir(worktrees.git_folder(str(worktree))))
    except (OSError, UnicodeDecodeError):
        return None
    return next((operation for mark, operation in _STOPPED if mark in names), None)


def unmerged_paths(worktree: Path) -> list[str]:
    return sorted(set(git.zsplit(git.run(["diff", "--name-only", "--diff-filter=U", "-z"], cwd=worktree).stdout)))


def rebasing_branch(worktree: Path) -> git.RefName | None:
    """The branch a rebase in progress in WORKTREE works on (its HEAD is detached meanwhile), from git's files."""
    try:
        gitdir = Path(worktrees.git_folder(str(worktree)))
        for folder in ("rebase-merge", "rebase-apply"):
            head = gitdir / folder / "head-name"
            if head.is_file():
                return git.RefName(head.read_text().strip())
    except OSError:
        return None
    return None
