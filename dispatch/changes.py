"""Waking when a file in a folder changes: Linux's inotify, read through ctypes; a poll elsewhere.

A waiter makes its `Changes` before it first looks at its file, then looks again after every `wait`:
inotify keeps what happened in between, so no change falls between a look and the wait, and a wait
that returns for a change of another file of the folder costs one more look. Where inotify is missing
(another system, no instance left, a folder that cannot be watched), `wait` sleeps the caller's poll
interval instead; with it, the caller's looks are a backstop only, once every BACKSTOP seconds.
"""

from __future__ import annotations

import os
import select
import threading
from pathlib import Path
from types import TracebackType

from dispatch.typed import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Self

BACKSTOP = 1.0  # seconds between looks while inotify says nothing (a change it could not see: NFS, a moved folder)

# <sys/inotify.h>: a file written and closed, moved in, created, deleted, its metadata changed; the folder moved.
_MASK = 0x2 | 0x4 | 0x8 | 0x80 | 0x100 | 0x200 | 0x400 | 0x800


class Changes:
    """Changes in FOLDER (and MORE folders), as wake-ups; a context manager that closes its inotify instance."""

    def __init__(self, folder: Path, poll: float, *more: Path) -> None:
        self.poll = poll
        self._fd: int | None = _watch([folder, *more])
        self._woken, self._wake = os.pipe()  # `wake`, from another thread
        for fd in (self._woken, self._wake):
            os.set_blocking(fd, False)
        self._lock = threading.Lock()  # a wake never writes to a closed pipe (its number may be another file's by then)

    @property
    def notified(self) -> bool:
        """Whether the kernel tells us of changes (else `wait` polls)."""
        return self._fd is not None

    def wait(self, timeout: float) -> None:
        """Return when a file of the folder changed (or at once when one did since the last wait), or after
        TIMEOUT seconds at most; without inotify, after the poll interval."""
        timeout = max(0.0, timeout)
        watched = [fd for fd in (self._fd, self._woken) if fd is not None]
        ready, _, _ = select.select(watched, [], [], min(timeout, BACKSTOP if self._fd is not None else self.poll))
        for fd in ready:
            _drain(fd)

    def wake(self) -> None:
        """End the current or next `wait` at once (from another thread)."""
        with self._lock:
            if self._wake != -1:
                try:
                    os.write(self._wake, b"x")
                except BlockingIOError:
                    pass  # full: it wakes anyway

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        with self._lock:
            if self._wake != -1:
                os.close(self._woken)
                os.close(self._wake)
                self._wake = -1

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 65536):
            pass
    except BlockingIOError:
        pass


def _watch(folders: list[Path]) -> int | None:
    """An inotify instance watching FOLDERS, non-blocking; None where there is none to have."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        init, add = libc.inotify_init1, libc.inotify_add_watch
    except (OSError, AttributeError, ImportError):
        return None
    add.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
    fd = init(os.O_NONBLOCK | os.O_CLOEXEC)
    if fd < 0:
        return None
    if any(add(fd, os.fsencode(folder), _MASK) < 0 for folder in folders):
        os.close(fd)
        return None
    return int(fd)
