"""A repository's worktrees as git's own output and files tell them, for dispatch.prefetch: nothing here
starts a process or imports more than os."""

from __future__ import annotations

import os


def git_folder(worktree: str) -> str:
    """WORKTREE's own git folder: its `.git` folder, or the one its `.git` file names (`gitdir: PATH`, a
    relative one from the worktree). OSError or ValueError when that file cannot be read."""
    dotgit = os.path.join(worktree, ".git")
    return os.path.join(worktree, _read(dotgit).removeprefix("gitdir:").strip()) if os.path.isfile(dotgit) else dotgit


def first_tasks(cwd: str, prefix: str, count: int) -> list[str]:
    """Up to COUNT task worktrees (on a branch under PREFIX) of the repository CWD is in, found from git's own
    files in the time a process takes to start, so that `git status` in the first of them runs before
    `git worktree list` is in (dispatch.prefetch). A guess: what git lists decides what is taken."""
    found: list[str] = []
    try:
        folder = cwd
        while not os.path.exists(os.path.join(folder, ".git")):
            folder, below = os.path.dirname(folder), folder
            if folder == below:
                return []
        common = git_folder(folder)
        if os.path.isfile(os.path.join(folder, ".git")):  # a linked worktree's folder: its commondir names the common one
            common = os.path.join(common, _read(os.path.join(common, "commondir")).strip())
        admin = os.path.join(common, "worktrees")
        for name in sorted(os.listdir(admin)):
            if _read(os.path.join(admin, name, "HEAD")).strip().startswith(f"ref: refs/heads/{prefix}"):
                dotgit = os.path.join(admin, name, _read(os.path.join(admin, name, "gitdir")).strip())  # (relative: to here)
                found.append(os.path.dirname(os.path.normpath(dotgit)))
                if len(found) == count:
                    break
    except (OSError, ValueError):
        pass
    return found


def _read(path: str) -> str:
    """One of git's small files (a path or a ref): up to 4 kB of it, never more where git wrote it, with os
    alone (status reads one in each of its worktrees)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.read(fd, 4096).decode()
    finally:
        os.close(fd)


def tasks(listing: bytes, prefix: str) -> list[str]:
    """The linked worktrees of `worktree list --porcelain -z` on a task branch (under PREFIX)."""
    return [fields["worktree"] for fields in listed(listing)
            if fields.get("branch", "").startswith(f"refs/heads/{prefix}") and "worktree" in fields]


def listed(listing: bytes) -> list[dict[str, str]]:
    """The fields of each linked worktree in `worktree list --porcelain -z`."""
    return [dict(field.partition(" ")[::2] for field in record.split("\0") if field)
            for record in listing.decode("utf-8", "surrogateescape").split("\0\0")[1:]]
