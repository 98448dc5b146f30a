"""A repository's worktrees as git's own output and files tell them, for dispatch.prefetch: nothing here
starts a process or imports more than os."""

from __future__ import annotations

import os


def first_tasks(cwd: str, prefix: str, count: int) -> list[str]:
    """Up to COUNT task worktrees (on a branch under PREFIX) of the repository CWD is in, found from git's own
    files in the time a process takes to start, so that `git status` in the first of them runs before
    `git worktree list` is in (dispatch.prefetch). A guess: what git lists decides what is taken. (Each file
    is read up to 4 kB: a path or a ref, never more where git wrote it.)"""
    found: list[str] = []
    try:
        folder = cwd
        while not os.path.exists(os.path.join(folder, ".git")):
            folder, below = os.path.dirname(folder), folder
            if folder == below:
                return []
        common = os.path.join(folder, ".git")
        if os.path.isfile(common):  # a linked worktree's: `gitdir: ITS_FOLDER`, whose commondir names the common one
            with open(common, "rb") as f:
                own = os.path.join(folder, f.read(4096).decode().removeprefix("gitdir:").strip())
            with open(os.path.join(own, "commondir"), "rb") as f:
                common = os.path.join(own, f.read(4096).decode().strip())
        admin = os.path.join(common, "worktrees")
        for name in sorted(os.listdir(admin)):
            with open(os.path.join(admin, name, "HEAD"), "rb") as f:
                head = f.read(4096).decode().strip()
            if head.startswith(f"ref: refs/heads/{prefix}"):
                with open(os.path.join(admin, name, "gitdir"), "rb") as f:  # its .git (relative: to here)
                    dotgit = os.path.join(admin, name, f.read(4096).decode().strip())
                found.append(os.path.dirname(os.path.normpath(dotgit)))
                if len(found) == count:
                    break
    except (OSError, ValueError):
        pass
    return found


def tasks(listing: bytes, prefix: str) -> list[str]:
    """The linked worktrees of `worktree list --porcelain -z` on a task branch (under PREFIX)."""
    return [fields["worktree"] for fields in listed(listing)
            if fields.get("branch", "").startswith(f"refs/heads/{prefix}") and "worktree" in fields]


def listed(listing: bytes) -> list[dict[str, str]]:
    """The fields of each linked worktree in `worktree list --porcelain -z`."""
    return [dict(field.partition(" ")[::2] for field in record.split("\0") if field)
            for record in listing.decode("utf-8", "surrogateescape").split("\0\0")[1:]]
