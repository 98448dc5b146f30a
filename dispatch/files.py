"""Operating-system chores done one way: files replaced atomically, and exclusive locks.

Every state file dispatch writes (worker records, the queue, caches, the trust store, config
files, the shim) goes through `write_atomic`, and every lock through `locked`/`acquire`.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import time
from _thread import get_ident  # (threading's, without importing threading)
from pathlib import Path

DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
_GIT_DISK_FULL = ("No space left on device", "Disk quota exceeded")


class LockBusy(Exception):
    """Another process held the lock for the whole time-out."""


def lines(text: str) -> list[str]:
    """TEXT's lines with their ends, split at "\\n" only, so that they join back into the very same text
    (str.splitlines also splits at "\\r", "\\x0c", "\\u2028"..., which neither markdown nor TOML does)."""
    parts = text.split("\n")
    return [part + "\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def write_atomic(
    path: Path, data: str | bytes, *, mode: int | None = None, private: bool = False, durable: bool = False
) -> None:
    """PATH holds DATA or its old content, never half of either: a temporary file beside it, renamed over it.

    The folder is created. MODE sets the permissions (default: the old file's, else the umask's);
    PRIVATE means 0600, readable by its owner only (argv, environments, tokens).
    DURABLE flushes to disk before the rename (for files a person wrote by hand). A failure, a full
    disk included, leaves no temporary file behind and re-raises.
    """
    mode = 0o600 if private else mode
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{get_ident()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if mode is not None else 0o666)
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        elif path.exists():
            os.chmod(tmp, stat.S_IMODE(path.stat().st_mode))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def is_disk_full(error: BaseException) -> bool:
    """ERROR says the disk (or the user's quota) is full: an OSError, or a git command that said so."""
    if isinstance(error, OSError):
        return error.errno in DISK_FULL
    stderr = getattr(error, "stderr", None)
    return isinstance(stderr, str) and any(s in stderr for s in _GIT_DISK_FULL)


def acquire(path: Path, timeout: float | None = None) -> int:
    """An exclusive lock on PATH (a file, created, or a folder); the kernel drops it if we die.

    Returns the open descriptor that holds it (`release` it). With TIMEOUT, raises LockBusy after
    that many seconds; without, waits as long as it takes.
    """
    if path.is_dir():
        fd = os.open(path, os.O_RDONLY)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if timeout is None:
            fcntl.flock(fd, fcntl.LOCK_EX)
            return fd
        deadline, delay = time.monotonic() + timeout, 0.002
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
            if time.monotonic() >= deadline:
                raise LockBusy(str(path))
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
    except BaseException:
        os.close(fd)
        raise


def release(fd: int) -> None:
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


class Held:
    """The lock on PATH held for a `with` block (see `acquire`), its descriptor the block's value. A class,
    where contextlib's generator would cost every command 1.5 ms of import."""

    def __init__(self, path: Path, timeout: float | None = None) -> None:
        self.path, self.timeout = path, timeout
        self._fd = -1

    def __enter__(self) -> int:
        self._fd = acquire(self.path, self.timeout)
        return self._fd

    def __exit__(self, *_raised: object) -> None:
        release(self._fd)


def locked(path: Path, timeout: float | None = None) -> Held:
    """Hold the lock on PATH for the block (see `acquire`)."""
    return Held(path, timeout)


def which(name: str, path: str | None = None) -> str | None:
    """The first NAME in PATH's folders (the environment's PATH by default) that is an executable file, as
    shutil.which finds it, without importing shutil (and bz2 and lzma with it)."""
    folders = (os.environ.get("PATH", os.defpath) if path is None else path).split(os.pathsep)
    for folder in folders:
        candidate = os.path.join(folder or os.curdir, name)
        if os.access(candidate, os.X_OK) and not os.path.isdir(candidate):
            return candidate
    return None


_found: dict[tuple[str, str], str] = {}


def on_path(name: str, env: dict[str, str]) -> str:
    """The program NAME as ENV's PATH finds it, looked up once per PATH: each process then starts it by its
    path, not by trying every folder of PATH in turn (NAME itself when none has it, or when the one found is
    in a relative folder, which means the child's, after its chdir: starting it then says what is wrong)."""
    key = (name, env.get("PATH", os.defpath))
    if key not in _found:
        found = which(name, key[1])
        if found is None or not os.path.isabs(found):
            return name
        _found[key] = found
    return _found[key]
