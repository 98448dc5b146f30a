"""Running git without the `subprocess` module: `os.posix_spawn`, pipes, and `poll`.

Importing subprocess (with locale, signal and selectors) took 4-5 ms of every command's start-up here,
out of some 50, and a process started through it cost 0.15 ms more CPU than through posix_spawn. A
git process is all the hot commands start, so they start it here, as subprocess would have: its stdin
/dev/null or a pipe, stdout and stderr read as they come (neither pipe can fill up while the other is
waited on, nor the input's while git writes), no file descriptor of ours but those three
(subprocess's close_fds), SIGPIPE and SIGXFSZ back to their defaults (subprocess's
restore_signals), and on any exception, Ctrl-C included, the process killed and reaped.
posix_spawn cannot change folder: `git -C FOLDER` does it, and a folder that does not exist is
refused before git starts, as subprocess refused it.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # signal's C half, loaded with the interpreter (signal: 0.8 ms)
import os

from dispatch.typed import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

# What Python ignores for itself and subprocess gives back to a child (restore_signals): a git writing
# to a closed pipe, or past the file size limit, dies of it as it does when a shell starts it.
_RESTORE: tuple[int, ...] = (_signal.SIGPIPE, _signal.SIGXFSZ)
_CHUNK = 1 << 16


class Process:
    """A git started by `start`: `finish` it (after `send` and `read_line`, for a conversation), read its
    `stream`, or `kill` it."""

    __slots__ = ("_err", "_fds", "_head", "_stdin", "ended", "pid")

    def __init__(self, pid: int, out: int, err: int, stdin: int | None) -> None:
        self.pid = pid
        self._fds = [out, err] + ([stdin] if stdin is not None else [])
        self._stdin = stdin
        self._head = b""  # stdout that read_line read beyond its line
        self._err: list[bytes] = []
        self.ended: tuple[int, bytes] | None = None  # once `stream` is through: the exit code and stderr

    def send(self, data: bytes) -> None:
        """DATA written whole to its stdin (one request of a conversation); a git that stopped reading is
        left to say why in what it writes."""
        assert self._stdin is not None
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._stdin, view):]
        except BrokenPipeError:
            pass
        except BaseException:
            self.kill()
            raise

    def read_line(self) -> bytes:
        """Its stdout up to and with the next newline (all that is left, at its end)."""
        try:
            while b"\n" not in self._head and (block := os.read(self._fds[0], _CHUNK)):
                self._head += block
        except BaseException:
            self.kill()
            raise
        line, newline, self._head = self._head.partition(b"\n")
        return line + newline

    def finish(self, input: bytes = b"") -> tuple[int, bytes, bytes]:
        """INPUT written and its stdin closed, then its exit code (minus the signal that ended it), stdout
        and stderr."""
        out = b"".join(self.stream(input))
        assert self.ended is not None
        return self.ended[0], out, self.ended[1]

    def stream(self, input: bytes = b"") -> Iterator[bytes]:
        """`finish`'s stdout in blocks, each as soon as git wrote it; then ENDED holds the exit code and
        stderr. Left before its end (an exception, or the generator closed), git is killed."""
        try:
            if self._head:
                head, self._head = self._head, b""
                yield head
            yield from self._exchange(input)
            status = os.waitpid(self.pid, 0)[1]
        except BaseException:
            self.kill()
            raise
        self.ended = (os.waitstatus_to_exitcode(status), b"".join(self._err))

    def kill(self) -> None:
        """Ended now (SIGKILL) and reaped, its pipes closed."""
        try:
            os.kill(self.pid, 9)
        except ProcessLookupError:
            pass
        for fd in list(self._fds):
            self._close(fd)
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass

    def _exchange(self, data: bytes) -> Iterator[bytes]:
        """DATA written to its stdin while its stdout is yielded and its stderr kept, as they come."""
        import select

        out, err, stdin = self._fds[0], self._fds[1], self._stdin
        poll = select.poll()
        poll.register(out, select.POLLIN)
        poll.register(err, select.POLLIN)
        sent = 0
        if stdin is not None:
            os.set_blocking(stdin, False)
            poll.register(stdin, select.POLLOUT)
        while self._fds:
            for fd, _ in poll.poll():
                if fd == stdin:
                    try:
                        sent += os.write(fd, data[sent:sent + _CHUNK])
                    except BlockingIOError:
                        continue
                    except BrokenPipeError:  # git stopped reading: what it wrote tells why
                        sent = len(data)
                    if sent >= len(data):
                        poll.unregister(fd)
                        self._close(fd)
                    continue
                block = os.read(fd, _CHUNK)
                if not block:
                    poll.unregister(fd)
                    self._close(fd)
                elif fd == out:
                    yield block
                else:
                    self._err.append(block)

    def _close(self, fd: int) -> None:
        self._fds.remove(fd)
        os.close(fd)
        if fd == self._stdin:
            self._stdin = None


def start(git: str, args: Sequence[str], cwd: str, env: dict[str, str], *, stdin: bool = False,
          inherited: Sequence[int] | None = None) -> Process:
    """`GIT ARGS` as if started in CWD (GIT: its path, or a name looked up on PATH), its stdin a pipe for
    `send` and `finish` to write to (STDIN) or /dev/null; raises OSError when it cannot start
    (FileNotFoundError: no such git, or no folder CWD).

    INHERITED: `inherited_fds()` as the caller found it a moment before, for many processes started at once
    (dispatch.prefetch): git is then started without looking for CWD first (git says when it is missing),
    as each look, and each listing of our descriptors, lets go of the interpreter for another thread."""
    if inherited is None and not os.path.isdir(cwd):
        raise FileNotFoundError(2, "No such folder", cwd)
    out, err = os.pipe(), os.pipe()  # not inherited: the child gets the write ends as 1 and 2 only
    feed = os.pipe() if stdin else None
    actions: list[tuple[object, ...]] = [
        (os.POSIX_SPAWN_DUP2, feed[0], 0) if feed else (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_DUP2, out[1], 1), (os.POSIX_SPAWN_DUP2, err[1], 2)]
    actions += [(os.POSIX_SPAWN_CLOSE, fd) for fd in (inherited_fds() if inherited is None else inherited)]
    spawn = os.posix_spawn if os.path.isabs(git) else os.posix_spawnp
    try:
        pid = spawn(git, [git, "-C", cwd, *args], env, file_actions=actions, setsigdef=_RESTORE)
    except BaseException:
        for fd in (out[0], err[0], *(feed[1:] if feed else ())):
            os.close(fd)
        raise
    finally:
        for fd in (out[1], err[1], *(feed[:1] if feed else ())):
            os.close(fd)
    return Process(pid, out[0], err[0], feed[1] if feed else None)


def run(git: str, args: Sequence[str], cwd: str, env: dict[str, str], *,
        input: bytes | None = None) -> tuple[int, bytes, bytes]:
    """`start`, then `finish`: the exit code, stdout and stderr."""
    return start(git, args, cwd, env, stdin=input is not None).finish(input or b"")


def inherited_fds() -> list[int]:
    """Our descriptors from 3 on that a child would inherit (ones our own parent left us: Python makes
    its own non-inheritable), for the child to close, as subprocess's close_fds does."""
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return []
    found = []
    for name in names:
        fd = int(name)
        try:
            if fd > 2 and os.get_inheritable(fd):
                found.append(fd)
        except OSError:  # the listing's own descriptor, closed since
            pass
    return found
