"""State files replaced whole, and the one test for a full disk.

A reader sees the old file or the new one, never half of one; a write that fails (a full disk, a
quota) leaves no temporary file behind either.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
_GIT_DISK_FULL = ("No space left on device", "Disk quota exceeded")


def write_atomic(path: Path, text: str, *, private: bool = False) -> None:
    """Write TEXT to PATH through a temporary file beside it; PRIVATE makes it readable by its owner only."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o666)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
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
