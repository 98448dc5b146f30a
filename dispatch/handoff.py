"""Handing things from one thread to another on bare `_thread` locks: importing threading (with collections)
took several milliseconds, and dispatch.prefetch, which uses these, is what a command starts first."""

from __future__ import annotations

import _thread

TYPE_CHECKING = False  # (not dispatch.typed's: this loads before anything)
if TYPE_CHECKING:
    from collections.abc import Iterator


class Event:
    """threading.Event's set, is_set and wait, on a bare lock."""

    __slots__ = ("_lock", "_set")

    def __init__(self) -> None:
        self._lock = _thread.allocate_lock()
        self._lock.acquire()
        self._set = False

    def set(self) -> None:
        if not self._set:
            self._set = True
            try:
                self._lock.release()
            except RuntimeError:  # set by another thread at the same moment: released once
                pass

    def is_set(self) -> bool:
        return self._set

    def wait(self) -> None:
        if not self._set:
            with self._lock:
                pass


class Pipe:
    """A git's stdout handed from the thread that reads it to another, block by block as it comes (the
    prefetch's thread keeps git's pipe from filling whenever the command comes to take it). Iterate it for
    the blocks; then ENDED holds the exit code and stderr (None: git could not start, or stopped)."""

    __slots__ = ("_bell", "_blocks", "_over", "ended")

    def __init__(self) -> None:
        self._blocks: list[bytes] = []
        self._bell = _thread.allocate_lock()  # released when a block came or the end did (a doorbell)
        self._bell.acquire()
        self._over = False
        self.ended: tuple[int, bytes] | None = None

    def put(self, block: bytes) -> None:
        self._blocks.append(block)
        self._ring()

    def close(self, ended: tuple[int, bytes] | None) -> None:
        self.ended = ended
        self._over = True
        self._ring()

    def output(self) -> bytes:
        """All of it, once it ended."""
        return b"".join(self._blocks)

    def __iter__(self) -> Iterator[bytes]:
        n = 0
        while True:
            while n < len(self._blocks):
                n += 1
                yield self._blocks[n - 1]
            if self._over and n == len(self._blocks):
                return
            self._bell.acquire()  # (a ring from before is one too many: the loop looks again, then waits)

    def _ring(self) -> None:
        try:
            self._bell.release()
        except RuntimeError:  # rung already, and not heard yet
            pass
