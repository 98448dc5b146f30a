"""The errors a user can fix; everything else is a bug."""

from __future__ import annotations

import os
import re
from pathlib import Path


class DispatchError(Exception):
    """A problem the user can fix: one line naming the problem and the fix; exit 1."""

    exit_code = 1


class UsageError(DispatchError):
    """The command line itself is wrong; exit 2."""

    exit_code = 2


class GitError(DispatchError):
    """A git command failed; carries the command, exit code, stdout and stderr."""

    def __init__(self, argv: list[str], returncode: int, stdout: str, stderr: str) -> None:
        self.argv = argv
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        detail = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit code {returncode}"
        locked = re.search(_LOCKED, stderr)
        if locked:
            # git's own last line ("remove the file manually") names neither the file nor who holds it.
            detail = lock_problem(Path(locked.group(1)))
        super().__init__(f"`git {' '.join(argv)}` failed: {detail}")


_LOCKED = r"Unable to create '(.+?\.lock)': File exists"  # (compiled by re on first use, not at every start)


def lock_problem(lock: Path) -> str:
    """What a left `.lock` file of git means: a process still at work in that worktree, or a crash long past."""
    worktree = lock_worktree(lock)
    holders = processes_in(worktree) if worktree is not None else []
    where = worktree or lock.parent
    if holders:
        pid, name = holders[0]
        return (f"{lock} exists, and {name} (pid {pid}) works in {where}: let it finish, then retry; "
                f"delete the file (`rm {lock}`) only if no git runs there")
    return f"{lock} exists, and no process works in {where}: a git that crashed left it; delete it (`rm {lock}`) and retry"


def lock_worktree(lock: Path) -> Path | None:
    """The working tree whose git folder holds LOCK: `<common>/worktrees/<name>/gitdir` names it; else `.git`'s parent."""
    try:
        return Path((lock.parent / "gitdir").read_text(encoding="utf-8").strip()).parent
    except OSError:
        return lock.parent.parent if lock.parent.name == ".git" else None


def processes_in(folder: Path) -> list[tuple[int, str]]:
    """Processes (pid, name) working in FOLDER or below it, other than this one and those that started it."""
    mine = _ancestors()
    found = []
    try:
        pids = sorted(int(name) for name in os.listdir("/proc") if name.isdigit())
    except OSError:
        return []
    for pid in pids:
        if pid in mine:
            continue
        try:
            cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
            name = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue
        if cwd == folder or folder in cwd.parents:
            found.append((pid, name))
    return found


def _ancestors() -> set[int]:
    pids, pid = set(), os.getpid()
    while pid > 1 and pid not in pids:
        pids.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            pid = int(stat[stat.rindex(")") + 2 :].split()[1])
        except (OSError, ValueError):
            break
    return pids


# `dispatch ask` exits with this when no answer came in time (EX_TEMPFAIL: try again later).
ASK_TIMEOUT_EXIT = 75
# `dispatch wait` exits with this when nothing happened before its time-out.
WAIT_TIMEOUT_EXIT = 124
# `dispatch wait` exits with this at once when nothing can bring news: no worker runs or is queued
# (EX_UNAVAILABLE: waiting would block forever).
WAIT_NOTHING_EXIT = 69


class Exit(Exception):
    """End the command with this exit code and nothing more said (it said what it had to already)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code
