"""dispatch.spawn runs git as subprocess.run would: same output, same exit code, nothing of ours inherited."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from conftest import git

from dispatch import spawn
from dispatch.gitargs import git_env

GIT = shutil.which("git") or "git"


def _both(repo: Path, args: list[str], input: bytes | None = None) -> tuple[tuple[int, bytes, bytes], tuple[int, bytes, bytes]]:
    env = git_env()
    ours = spawn.run(GIT, args, str(repo), env, input=input)
    theirs = subprocess.run([GIT, *args], cwd=repo, env=env, input=input, capture_output=True,
                            stdin=None if input is not None else subprocess.DEVNULL, check=False)
    return ours, (theirs.returncode, theirs.stdout, theirs.stderr)


def test_a_megabyte_in_and_out_at_once(repo: Path) -> None:
    # 0.8 MB of requests, 1 MB of answers (pipes hold 64 kB): a runner that wrote all before reading would
    # wait forever.
    requests = (git(repo, "rev-parse", "HEAD:README.md") + "\n").encode() * 20_000
    ours, theirs = _both(repo, ["cat-file", "--batch-check"], requests)
    assert ours == theirs
    assert ours[1].count(b"\n") == 20_000 and ours[0] == 0


def test_a_failure_says_what_git_said(repo: Path) -> None:
    ours, theirs = _both(repo, ["rev-parse", "--verify", "no-such-branch"])
    assert ours == theirs == (128, b"", b"fatal: Needed a single revision\n")


def test_git_gets_no_descriptor_of_ours_and_sigpipe_as_a_shell_gives_it(repo: Path) -> None:
    leak_read, leak_write = os.pipe()
    os.set_inheritable(leak_write, True)  # as one our own parent could have left us
    try:
        # A shell alias shows what git's children see: their open descriptors and ignored signals.
        ours, theirs = _both(repo, ["-c", "alias.seen=!ls /proc/self/fd; grep SigIgn /proc/self/status", "seen"])
    finally:
        os.close(leak_read)
        os.close(leak_write)
    *fds, ignored = ours[1].decode().splitlines()
    *their_fds, their_ignored = theirs[1].decode().splitlines()
    # 0-2, and the folder ls reads; SIGPIPE and SIGXFSZ not ignored, though Python ignores them for itself.
    # (glibc's posix_spawn leaves two signals of its own threads ignored, 32 and 33: nothing git uses.)
    restored = 1 << signal.SIGPIPE - 1 | 1 << signal.SIGXFSZ - 1
    assert (fds, int(ignored.split()[1], 16) & restored, ours[0], ours[2]) == (their_fds, 0, 0, b"")
    assert (their_fds, int(their_ignored.split()[1], 16) & restored) == (["0", "1", "2", "3"], 0)


def test_a_conversation_then_the_rest(repo: Path) -> None:
    proc = spawn.start(GIT, ["cat-file", "--batch-check"], str(repo), git_env(), stdin=True)
    proc.send(b"HEAD\n")
    head, size = git(repo, "rev-parse", "HEAD"), git(repo, "cat-file", "-s", "HEAD")
    assert proc.read_line() == f"{head} commit {size}\n".encode()
    assert proc.finish(b"HEAD:README.md\n") == (0, f"{git(repo, 'rev-parse', 'HEAD:README.md')} blob 6\n".encode(), b"")


def test_killed_is_reaped_and_closed(repo: Path) -> None:
    proc = spawn.start(GIT, ["cat-file", "--batch"], str(repo), git_env(), stdin=True)  # waits for input
    proc.kill()
    with pytest.raises(ChildProcessError):
        os.waitpid(proc.pid, 0)


def test_no_folder_no_git(repo: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        spawn.run(GIT, ["status"], str(tmp_path / "gone"), git_env())
    with pytest.raises(FileNotFoundError):
        spawn.run(str(tmp_path / "no-git"), ["status"], str(repo), git_env())


def _waiting_alias(flag: Path) -> list[str]:
    """A git whose alias (a shell of git's) writes a line, then waits for FLAG before it writes the rest."""
    return ["-c", f"alias.slow=!echo first; while [ ! -e '{flag}' ]; do sleep 0.01; done; echo second >&2; echo third",
            "slow"]


def test_a_stream_hands_on_what_git_wrote_while_it_runs(repo: Path, tmp_path: Path) -> None:
    flag = tmp_path / "go on"
    proc = spawn.start(GIT, _waiting_alias(flag), str(repo), git_env())
    blocks = proc.stream()
    assert next(blocks) == b"first\n"
    assert (proc.ended, os.waitpid(proc.pid, os.WNOHANG)) == (None, (0, 0))  # still running: it waits for the flag
    flag.touch()
    assert (list(blocks), proc.ended) == ([b"third\n"], (0, b"second\n"))


def test_a_stream_left_early_kills_git(repo: Path, tmp_path: Path) -> None:
    flag = tmp_path / "go on"
    proc = spawn.start(GIT, _waiting_alias(flag), str(repo), git_env())
    blocks = proc.stream()
    try:
        assert next(blocks) == b"first\n"
        blocks.close()
        with pytest.raises(ChildProcessError):  # killed and reaped
            os.waitpid(proc.pid, 0)
        assert proc.ended is None
    finally:
        flag.touch()  # (the alias's shell, git's child, outlives it: it ends now)


def test_many_started_at_once_close_what_was_listed_once_and_leave_a_missing_folder_to_git(
        repo: Path, tmp_path: Path) -> None:
    # dispatch.prefetch lists our inheritable descriptors once and starts its gits without looking for their
    # folders first: the child still gets none of ours, and git itself says a folder is gone.
    leak_read, leak_write = os.pipe()
    os.set_inheritable(leak_write, True)  # as one our own parent could have left us
    try:
        listed = spawn.inherited_fds()
        assert leak_write in listed
        proc = spawn.start(GIT, ["-c", "alias.seen=!ls /proc/self/fd", "seen"], str(repo), git_env(), inherited=listed)
        code, out, err = proc.finish()
    finally:
        os.close(leak_read)
        os.close(leak_write)
    assert (code, out.decode().split(), err) == (0, ["0", "1", "2", "3"], b"")
    gone = tmp_path / "gone"
    code, out, err = spawn.start(GIT, ["status"], str(gone), git_env(), inherited=[]).finish()
    assert (code, out, err) == (128, b"", f"fatal: cannot change to '{gone}': No such file or directory\n".encode())
