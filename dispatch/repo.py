"""Finding the repository, its machine-local state folder, and the lock that serialises changes."""

from __future__ import annotations

import os
from pathlib import Path

from dispatch import files, git
from dispatch.errors import DispatchError
from dispatch.typed import NamedTuple


class Repo(NamedTuple):
    root: Path  # the main worktree
    common_dir: Path  # $(git rev-parse --git-common-dir), absolute

    @property
    def state_dir(self) -> Path:
        """Machine-local runtime state: never committed."""
        return self.common_dir / "dispatch"

    def task_dir(self, task_id: str) -> Path:
        return self.state_dir / "tasks" / task_id

    @property
    def queue_file(self) -> Path:
        """The queue of tasks waiting for others or for a worker slot (dispatch.worker.queue)."""
        return self.state_dir / "queue.json"

    def has_queued(self) -> bool:
        """Whether a task waits in the queue. Cheap: one stat, no git, no import; an empty queue is `{}`
        (3 bytes with its newline)."""
        try:
            return self.queue_file.stat().st_size > 3
        except OSError:
            return False


def open_repo(cwd: Path) -> Repo:
    """The repository CWD is in, from any of its worktrees."""
    r = git.run(
        ["rev-parse", "--path-format=absolute", "--is-bare-repository", "--git-common-dir"],
        cwd=cwd,
        check=False,
    )
    if r.returncode != 0:
        if not cwd.is_dir():
            raise DispatchError(f"folder {cwd} does not exist")
        raise DispatchError(
            f"{cwd} is not in a git repository: run dispatch inside one (or `git init` one first)"
        )
    bare, common = r.stdout.splitlines()[:2]
    if bare == "true":
        raise DispatchError(
            f"{common} is a bare repository: dispatch needs a working tree; run it in a clone that has one"
        )
    common_dir = Path(common)
    if common_dir.name == ".git" and (common_dir.parent / ".git").resolve() == common_dir.resolve():
        # The usual layout: the main worktree holds the common dir, no need to ask git for the list.
        return Repo(root=common_dir.parent, common_dir=common_dir)
    main = git.worktrees(cwd)[0]
    if main.bare:
        raise DispatchError(
            f"{main.path} is a bare repository: dispatch needs a working tree; run it in a clone that has one"
        )
    return Repo(root=main.path, common_dir=common_dir)


class Lock:
    """An exclusive lock on the repository's dispatch state; the kernel drops it if we die."""

    def __init__(self, path: Path, timeout: float) -> None:
        self.path = path
        self.timeout = timeout
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            fd = files.acquire(self.path, self.timeout)
        except files.LockBusy:
            raise DispatchError(
                f"another dispatch command{_holder(self.path)} holds the repository lock {self.path} "
                f"for more than {self.timeout:g}s: wait for it to finish and retry"
            ) from None
        # Record the holder so `dispatch doctor` and the time-out message can name it.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            files.release(self._fd)
            self._fd = None

    def __enter__(self) -> None:
        self.acquire()

    def __exit__(self, *_raised: object) -> None:
        self.release()


def _holder(path: Path) -> str:
    try:
        pid = path.read_text().strip()
    except OSError:
        return ""
    return f" (pid {pid})" if pid else ""


def locked(repo: Repo, timeout: float = 60.0) -> Lock:
    """The repository lock, held for a `with` block."""
    return Lock(repo.state_dir / "lock", timeout)
