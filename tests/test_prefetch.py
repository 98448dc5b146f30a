"""What dispatch.prefetch started as the command began, handed to the command: a diff read as git writes it."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import pytest
from conftest import git

from dispatch import git as git_mod
from dispatch import handoff, prefetch
from dispatch.errors import DispatchError, GitError


def test_a_pipe_hands_on_each_block_as_it_comes() -> None:
    pipe = handoff.Pipe()
    seen: list[bytes] = []
    heard = threading.Semaphore(0)

    def read() -> None:
        for block in pipe:
            seen.append(block)
            heard.release()

    reader = threading.Thread(target=read)
    reader.start()
    pipe.put(b"one")
    assert heard.acquire(timeout=10)
    assert seen == [b"one"]  # before anything more came
    pipe.put(b"two")
    pipe.put(b"three")
    pipe.close((0, b""))
    reader.join(10)
    assert (seen, pipe.output(), reader.is_alive()) == ([b"one", b"two", b"three"], b"onetwothree", False)


def _started(args: tuple[str, ...], cwd: Path) -> handoff.Pipe:
    """A pipe for `git ARGS` in CWD as the prefetch's thread leaves one (what it does with it is up to the test)."""
    key = (args, str(cwd))
    prefetch._events[key] = handoff.Event()
    prefetch._events[key].set()
    pipe = prefetch._pipes[key] = handoff.Pipe()
    return pipe


@pytest.fixture
def clean() -> object:
    yield
    prefetch.stop()


def test_blocks_are_taken_from_the_prefetch_once(repo: Path, clean: object) -> None:
    args = ("log", "--format=%s")
    pipe = _started(args, repo)
    pipe.put(b"as the prefetch read it\n")
    pipe.close((0, b""))
    assert list(git_mod.blocks(args, cwd=repo)) == [b"as the prefetch read it\n"]
    # Taken once: asked again, git answers.
    assert b"".join(git_mod.blocks(args, cwd=repo)).decode() == git(repo, "log", "--format=%s") + "\n"


def test_blocks_git_could_not_start_there_are_asked_here(repo: Path, clean: object) -> None:
    args = ("log", "--format=%s")
    _started(args, repo).close(None)
    assert b"".join(git_mod.blocks(args, cwd=repo)).decode() == git(repo, "log", "--format=%s") + "\n"


def test_blocks_cut_short_there_are_an_error_not_half_a_diff(repo: Path, clean: object) -> None:
    args = ("log", "--format=%s")
    pipe = _started(args, repo)
    pipe.put(b"half\n")
    pipe.close(None)
    with pytest.raises(DispatchError, match=r"^git log --format=%s stopped in the middle of its output: run the"):
        list(git_mod.blocks(args, cwd=repo))


def test_blocks_of_a_failing_git_raise_what_it_said(repo: Path) -> None:
    with pytest.raises(GitError) as failed:
        list(git_mod.blocks(["diff", "no-such-revision"], cwd=repo))
    assert failed.value.stderr.startswith("fatal: ambiguous argument 'no-such-revision'")


def test_the_first_task_worktree_is_found_from_gits_files_as_git_lists_it(repo: Path, tmp_path: Path) -> None:
    # dispatch.worktrees.first_tasks: what `git status` the prefetch starts before `git worktree list` is in.
    from dispatch.worktrees import first_tasks, listed

    assert first_tasks(str(repo), "dispatch/", 2) == []  # no worktree yet
    git(repo, "worktree", "add", "-q", "-b", "other", str(tmp_path / "a-side"), "main")  # not a task's branch
    git(repo, "worktree", "add", "-q", "--detach", str(tmp_path / "b-detached"), "main")
    for name in ("c-one", "d-two"):
        git(repo, "worktree", "add", "-q", "-b", f"dispatch/{name}", str(tmp_path / name), "main")
    listing = subprocess.run(["git", "worktree", "list", "--porcelain", "-z"], cwd=repo, check=True,
                             capture_output=True).stdout
    tasks = [t["worktree"] for t in listed(listing) if t.get("branch", "").startswith("refs/heads/dispatch/")]
    assert tasks == [str(tmp_path / "c-one"), str(tmp_path / "d-two")]
    for cwd in (repo, repo / "src", tmp_path / "d-two", tmp_path / "a-side"):
        assert first_tasks(str(cwd), "dispatch/", 1) == tasks[:1], cwd
        assert first_tasks(str(cwd), "dispatch/", 5) == tasks, cwd
    assert first_tasks(str(tmp_path), "dispatch/", 1) == []  # outside any repository


def test_a_claimed_git_that_failed_in_a_folder_now_gone_is_asked_again(repo: Path, tmp_path: Path, clean: object) -> None:
    # The prefetch starts git without looking for its folder first: a worktree removed meanwhile is git's
    # failure there, and the command's own to say (None: it runs git itself, which says the folder is gone).
    gone, failed = tmp_path / "gone", (128, b"", b"fatal: cannot change to it\n")
    for folder in (gone, repo):
        key = (("status",), str(folder))
        prefetch._events[key] = handoff.Event()
        prefetch._events[key].set()
        prefetch._results[key] = failed
    assert prefetch.take(("status",), str(gone)) is None
    assert prefetch.take(("status",), str(repo)) == failed
