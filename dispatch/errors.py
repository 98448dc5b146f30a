"""The errors a user can fix; everything else is a bug."""

from __future__ import annotations


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
        super().__init__(f"`git {' '.join(argv)}` failed: {detail}")


# `dispatch ask` exits with this when no answer came in time (EX_TEMPFAIL: try again later).
ASK_TIMEOUT_EXIT = 75
# `dispatch wait` exits with this when nothing happened before its time-out.
WAIT_TIMEOUT_EXIT = 124
# `dispatch wait` exits with this at once when nothing can bring news: no worker runs or is queued
# (EX_UNAVAILABLE: waiting would block forever).
WAIT_NOTHING_EXIT = 69
