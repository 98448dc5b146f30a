"""Every user-fixable problem: one line on stderr naming the fix, exit 1 (2 for usage), nothing changed."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import dispatch, git, snapshot


def _assert_refused(repo: Path, args: list[str], message: str, *, cwd: Path | None = None, code: int = 1) -> None:
    before = snapshot(repo)
    r = dispatch(*args, cwd=cwd or repo, tmp=repo.parent.parent)
    assert (r.code, r.out, r.err) == (code, "", f"dispatch: {message}\n")
    assert snapshot(repo) == before


def test_not_a_git_repository(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    r = dispatch("status", cwd=plain, tmp=tmp_path)
    assert (r.code, r.out) == (1, "")
    assert r.err == "dispatch: <tmp>/plain is not in a git repository: run dispatch inside one (or `git init` one first)\n"
    assert list(plain.iterdir()) == []


def test_bare_repository(tmp_path: Path) -> None:
    bare = tmp_path / "bare.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    before = sorted(p.name for p in bare.rglob("*"))
    r = dispatch("new", "x", "--no-start", cwd=bare, tmp=tmp_path)
    assert (r.code, r.out) == (1, "")
    assert r.err == (
        "dispatch: <tmp>/bare.git is a bare repository: dispatch needs a working tree; run it in a clone that has one\n"
    )
    assert sorted(p.name for p in bare.rglob("*")) == before


def test_repository_without_commits(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q", "-b", "main")
    r = dispatch("new", "x", "--no-start", cwd=empty)
    assert (r.code, r.out, r.err) == (
        1, "", "dispatch: the repository has no commits yet: commit something to `main` first\n"
    )
    assert git(empty, "for-each-ref") == ""
    assert not (tmp_path / "empty.dispatch").exists()


@pytest.mark.parametrize("command", [["show", "nope"], ["note", "nope", "hi"], ["discard", "nope", "--yes"]])
def test_unknown_task(repo: Path, command: list[str]) -> None:
    _assert_refused(repo, command, "no task `nope`: `dispatch status` lists the tasks")


def test_unknown_task_in_status(repo: Path) -> None:
    _assert_refused(repo, ["status", "nope"], "no task `nope`: `dispatch status` lists the tasks")


def test_unknown_task_that_is_in_the_trash(repo: Path) -> None:
    assert dispatch("new", "Gone", "--no-start", cwd=repo).code == 0
    assert dispatch("discard", "gone", "--yes", cwd=repo).code == 0
    _assert_refused(repo, ["show", "gone"], "no task `gone`: it is in the trash; `dispatch restore gone` brings it back")


@pytest.mark.parametrize("bad", ["../x", "a b", "A", "", "x" * 64, "-x", "a/b", "a.b"])
def test_invalid_ids(repo: Path, bad: str) -> None:
    shown = repr(bad) if bad else "'(empty)'"
    _assert_refused(
        repo,
        ["new", "Title", "--no-start", f"--id={bad}"],
        f"invalid task id {shown}: use 1 to 63 lowercase letters, digits and '-', starting with a letter or digit",
    )


def test_id_already_live_or_in_trash(repo: Path) -> None:
    assert dispatch("new", "One", "--id", "one", "--no-start", cwd=repo).code == 0
    _assert_refused(
        repo, ["new", "Again", "--id", "one", "--no-start"],
        "task id `one` is already a live task: choose another `--id`, or move the old one to the trash first "
        "with `dispatch discard one`",
    )
    # The fix it names works (13.18: it used to name `trash --purge`, which fails for a live task).
    assert dispatch("discard", "one", "--yes", cwd=repo).code == 0
    _assert_refused(
        repo, ["new", "Again", "--id", "one", "--no-start"],
        "task id `one` is already in the trash: choose another `--id`, or delete the old one for good with "
        "`dispatch trash --purge one`",
    )
    assert dispatch("trash", "--purge", "one", "--yes", cwd=repo).code == 0
    assert dispatch("new", "Again", "--id", "one", "--no-start", cwd=repo).code == 0


def test_missing_base_ref(repo: Path) -> None:
    _assert_refused(
        repo, ["new", "x", "--base", "nowhere", "--no-start"],
        "base `nowhere` is not a commit, branch or tag here: check `git branch -a`",
    )


def test_detached_head_without_base(repo: Path) -> None:
    git(repo, "checkout", "-q", "--detach", "HEAD~1")
    _assert_refused(
        repo, ["new", "x", "--no-start"],
        f"the main worktree {repo} has a detached HEAD: name the base with `--base BRANCH`".replace(
            str(repo.parent.parent), "<tmp>"
        ),
    )


def test_worktree_path_already_exists(repo: Path, tmp_path: Path) -> None:
    (tmp_path / "work" / "app.dispatch" / "taken").mkdir(parents=True)
    _assert_refused(
        repo, ["new", "Taken", "--no-start"],
        "worktree path <tmp>/work/app.dispatch/taken already exists: move it away, or set `worktree_root` "
        "in .dispatch.toml",
    )


def test_discard_without_terminal_or_yes(repo: Path) -> None:
    assert dispatch("new", "Keep me", "--no-start", cwd=repo).code == 0
    _assert_refused(
        repo, ["discard", "keep-me"],
        "discarding keep-me (branch dispatch/keep-me, worktree <tmp>/work/app.dispatch/keep-me; saved to the "
        "trash first) needs confirmation and there is no terminal to ask on: pass --yes",
    )


def test_restore_when_the_branch_exists_again(repo: Path) -> None:
    assert dispatch("new", "Back", "--no-start", cwd=repo).code == 0
    assert dispatch("discard", "back", "--yes", cwd=repo).code == 0
    git(repo, "branch", "dispatch/back", "main")
    _assert_refused(
        repo, ["restore", "back"],
        "branch dispatch/back exists again: rename it (`git branch -m dispatch/back NEW`) or delete it, "
        "then retry `dispatch restore back`",
    )


def test_usage_error_exits_2(repo: Path) -> None:
    before = snapshot(repo)
    r = dispatch("new", cwd=repo)
    assert (r.code, r.out) == (2, "")
    assert r.err.splitlines()[-1] == "Error: Missing argument '<title>'."
    assert snapshot(repo) == before


def test_malformed_repository_config(repo: Path) -> None:
    (repo / ".dispatch.toml").write_text("worktree_root = [\n")
    git(repo, "add", ".dispatch.toml")
    git(repo, "commit", "-qm", "config")
    before = snapshot(repo)
    r = dispatch("status", cwd=repo, tmp=repo.parent.parent)
    assert (r.code, r.out) == (1, "")
    assert r.err.startswith("dispatch: <tmp>/work/app/.dispatch.toml: invalid TOML: ")
    assert r.err.endswith(": fix the file or move it away\n") and r.err.count("\n") == 1
    assert snapshot(repo) == before


def test_unexpected_error_exits_3_with_a_log(repo: Path, tmp_path: Path) -> None:
    # A NOTES.md that is a directory is no user mistake dispatch knows how to name.
    assert dispatch("new", "Odd", "--no-start", cwd=repo).code == 0
    plan = tmp_path / "work" / "app.dispatch" / "odd" / ".dispatch" / "NOTES.md"
    plan.unlink()
    plan.mkdir()
    (plan / "x").write_text("")
    r = dispatch("note", "odd", "hello", cwd=repo, tmp=tmp_path)
    assert (r.code, r.out) == (3, "")
    assert r.err.startswith("dispatch: internal error (IsADirectoryError: ")
    log = r.err.rstrip("\n").rsplit("details in ", 1)[1].replace("<tmp>", str(tmp_path))
    assert "Traceback" in Path(log).read_text()
    assert "Traceback" not in r.err


def test_a_mistyped_id_gets_the_nearest_live_or_trashed_one(repo: Path) -> None:
    """`merge slow-on` beside `slow-one`, `review guess_syntax` beside `guess-syntax`: one line with the id (17.16)."""
    for title in ("Slow one", "Guess syntax", "Old idea"):
        assert dispatch("new", title, "--no-start", cwd=repo).code == 0
    assert dispatch("discard", "old-idea", "--yes", cwd=repo).code == 0
    _assert_refused(repo, ["merge", "slow-on", "--yes"], "no task `slow-on`: did you mean `slow-one`?")
    _assert_refused(repo, ["review", "guess_syntax"], "invalid task id 'guess_syntax': did you mean `guess-syntax`?")
    _assert_refused(repo, ["status", "Slow-One"], "invalid task id 'Slow-One': did you mean `slow-one`?")
    _assert_refused(repo, ["show", "old-ide"],
                    "no task `old-ide`: did you mean `old-idea`, in the trash? `dispatch restore old-idea` brings it back")
    _assert_refused(repo, ["restore", "old_idea"], "no task `old_idea` in the trash: did you mean `old-idea`?")
    _assert_refused(repo, ["new", "Next", "--model", "scripted", "--after", "slow-ones"],
                    "--after slow-ones: no task `slow-ones`: did you mean `slow-one`?")
    _assert_refused(repo, ["logs", "unrelated"], "no task `unrelated`: `dispatch status` lists the tasks")


def test_git_missing_from_path_says_so(repo: Path, tmp_path: Path) -> None:
    """git is looked up once per PATH and started by its path: a PATH without it still gets the one line."""
    empty = tmp_path / "no-git-here"
    empty.mkdir()
    before = snapshot(repo)
    for run in (dispatch("status", cwd=repo, env={"PATH": str(empty)}),
                dispatch("status", cwd=repo, env={"PATH": str(empty)}, process=True)):
        assert (run.code, run.out, run.err) == (1, "", "dispatch: git is not installed: install git 2.38 or newer\n")
    assert snapshot(repo) == before
    # The same process, PATH back: git found again (the lookup is per PATH, never kept from another).
    assert dispatch("status", cwd=repo).err == ""
