"""The ssh engine: run dispatch on a runner's host, and let git reach its repository, over one connection.

ssh hands the remote side one command line, which its shell splits. So the line we send is fixed:
the runner's `dispatch` argv (from the user's own config) and `runner-call`; what to run there, in
which folder, and any text (a title, an answer, a note) travel as one JSON line on stdin, read by
dispatch.worker.serve, which runs `dispatch ARGV` without a shell, and stops it should stdin close
before it ends (the connection dropped). One command's calls share one
connection (ControlMaster), its socket in a folder private to the user.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dispatch.errors import DispatchError
from dispatch.typed import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

CONNECT_TIMEOUT = 5  # seconds: an unreachable host says so, never hangs a listing
CALL_TIMEOUT = 120.0
UNREACHABLE = 255  # ssh's own exit code for a connection that failed


@dataclass(frozen=True)
class Answer:
    returncode: int
    stdout: str
    stderr: str

    @property
    def unreachable(self) -> bool:
        return self.returncode == UNREACHABLE


def control_dir() -> Path:
    """Where the shared connections' sockets live: 0700, ours, short enough for a socket path."""
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    folder = Path(base) / f"dispatch-ssh-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    info = folder.stat()
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise DispatchError(f"{folder} is not private to you: remove it, dispatch creates it again")
    return folder


def ssh_prefix(runner: dict[str, Any]) -> list[str]:
    """The ssh command and the options every call shares (BatchMode: never a password prompt)."""
    return [
        *runner["ssh"], "-o", "BatchMode=yes", "-o", f"ConnectTimeout={CONNECT_TIMEOUT}",
        "-o", "ControlMaster=auto", "-o", f"ControlPath={control_dir()}/%C", "-o", "ControlPersist=60",
    ]


def remote_path(runner: dict[str, Any]) -> str:
    """The runner's folder as the remote side reads it: `~/x` is relative to the login's home,
    where ssh starts the command (so it needs no unquoted `~` for the shell to expand)."""
    path = str(runner["path"])
    if path in ("~", "~/"):
        return "."
    return path.removeprefix("~/")


def _ssh_argv(runner: dict[str, Any], words: Sequence[str]) -> list[str]:
    """ssh to the runner's host running WORDS: fixed words of ours and the user's config, never task text."""
    host = str(runner["host"])
    if host.startswith("-"):
        raise DispatchError(f"runner host `{host}` starts with `-`: name an ssh destination")
    return [*ssh_prefix(runner), "--", host, shlex.join(words)]


def request(argv: Sequence[str], *, cwd: str | None, input: str | None = None, init: bool = False) -> str:
    """The JSON line that `dispatch runner-call` reads first on its stdin (dispatch.worker.serve)."""
    return json.dumps({"argv": list(argv), "cwd": cwd, "input": input, "init": init}) + "\n"


def call(runner: dict[str, Any], argv: Sequence[str], *, cwd: str | None = None, input: str | None = None,
         init: bool = False, timeout: float = CALL_TIMEOUT) -> Answer:
    """Run `dispatch ARGV` in folder CWD on the runner's host (INIT: its repository made first when new),
    INPUT as its stdin; its output, captured. A time-out counts as unreachable."""
    return start(runner, argv, cwd=cwd, input=input, init=init).answer(timeout)


def start(runner: dict[str, Any], argv: Sequence[str], *, cwd: str | None = None, input: str | None = None,
          init: bool = False) -> Running:
    """`call`, started and not waited for: several run side by side, and one may be hung up on."""
    line = _ssh_argv(runner, [*runner["dispatch"], "runner-call"])
    return Running(runner, line, request(argv, cwd=cwd, input=input, init=init))


def run_fixed(runner: dict[str, Any], words: Sequence[str], *, timeout: float = CALL_TIMEOUT) -> Answer:
    """Run a fixed command of ours there (`git --version`, `dispatch --version`): no request, no text."""
    return Running(runner, _ssh_argv(runner, words), None).answer(timeout)


def _start(runner: dict[str, Any], line: list[str], sent: str | None, *, capture: bool) -> subprocess.Popen[str]:
    """ssh started with SENT written to its stdin, which stays open while the call runs: the runner's
    end stops the command when it closes, so a connection that drops takes its command along."""
    pipe = subprocess.PIPE if capture else None
    try:
        proc = subprocess.Popen(line, stdin=subprocess.PIPE if sent is not None else subprocess.DEVNULL,
                                stdout=pipe, stderr=pipe, text=True)
    except FileNotFoundError:
        raise DispatchError(f"`{runner['ssh'][0]}` is not installed: install the OpenSSH client") from None
    if sent is not None and proc.stdin is not None:
        try:
            proc.stdin.write(sent)
            proc.stdin.flush()
        except BrokenPipeError:  # ssh ended at once: its exit code says why
            pass
    return proc


class Running:
    """An ssh call under way, its output read as it comes."""

    def __init__(self, runner: dict[str, Any], line: list[str], sent: str | None) -> None:
        self._proc = _start(runner, line, sent, capture=True)
        self._found: dict[str, str] = {}
        self._readers = [threading.Thread(target=lambda k=k, f=f: self._found.__setitem__(k, f.read()), daemon=True)
                         for k, f in (("out", self._proc.stdout), ("err", self._proc.stderr)) if f is not None]
        for reader in self._readers:
            reader.start()

    def answer(self, timeout: float | None) -> Answer:
        """Its output and exit code, once it ends (after TIMEOUT seconds, killed: unreachable)."""
        try:
            self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return Answer(UNREACHABLE, "", f"no answer in {timeout:.0f} s")
        finally:
            _hang_up(self._proc)
        for reader in self._readers:
            reader.join()
        return Answer(self._proc.returncode, self._found.get("out", ""), self._found.get("err", ""))

    def hang_up(self) -> None:
        """Close its stdin: the command there ends (see dispatch.worker.serve), and so does this call."""
        _hang_up(self._proc)

    def kill(self) -> None:
        self._proc.kill()
        self._proc.wait()


def _hang_up(proc: subprocess.Popen[str]) -> None:
    if proc.stdin is not None:
        try:
            proc.stdin.close()
        except BrokenPipeError:
            pass


def passthrough(runner: dict[str, Any], argv: Sequence[str], *, cwd: str | None = None) -> int:
    """Run `dispatch ARGV` there with our stdout and stderr (a streamed log); its exit code."""
    proc = _start(runner, _ssh_argv(runner, [*runner["dispatch"], "runner-call"]), request(argv, cwd=cwd), capture=False)
    try:
        return proc.wait()
    finally:
        _hang_up(proc)


def git_env(runner: dict[str, Any]) -> dict[str, str]:
    """For git's push and fetch to the runner: the same ssh, options and shared connection.
    GIT_SSH_COMMAND is read by a shell, so each word is quoted (they come from the user's config)."""
    return {"GIT_SSH_COMMAND": shlex.join(ssh_prefix(runner))}


def git_url(runner: dict[str, Any], path: str) -> str:
    """scp-like `host:path`; a relative path is from the login's home, as for the commands."""
    return f"{runner['host']}:{path}"


def first_error_line(answer: Answer) -> str:
    lines = [line for line in answer.stderr.splitlines() if line.strip()]
    return lines[-1].strip() if lines else f"exit code {answer.returncode}"
