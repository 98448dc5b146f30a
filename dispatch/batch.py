"""Several git processes at once: the same question in many worktrees, or several questions in one."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

from dispatch import prefetch
from dispatch.errors import DispatchError, GitError
from dispatch.files import on_path
from dispatch.git import Result, decode
from dispatch.prefetch import git_env


class Batch:
    """`git ARGS` in CWD for each job, side by side (at most LIMIT at a time) from now on: `results`
    collects them in order. Processes, not threads: no thread pool to import and start."""

    def __init__(self, jobs: Sequence[tuple[Sequence[str], Path]], *, limit: int) -> None:
        self._jobs = list(jobs)
        self._limit = max(1, limit)
        self._env = git_env()  # once: copying the environment for each of 500 processes showed in a profile
        self._git = on_path("git", self._env)
        self._started: list[subprocess.Popen[str] | _Done] = []
        while len(self._started) < min(self._limit, len(self._jobs)):
            self._start()

    def _start(self) -> None:
        args, cwd = self._jobs[len(self._started)]
        done = prefetch.take(tuple(args), str(cwd))
        if done is not None:  # asked already, as this process started (dispatch.prefetch)
            self._started.append(_Done(*done))
            return
        try:
            proc = subprocess.Popen([self._git, *args], cwd=cwd, env=self._env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True, encoding="utf-8", errors="surrogateescape")
        except FileNotFoundError as e:
            self._stop()
            if not cwd.is_dir():
                raise DispatchError(f"folder {cwd} does not exist") from e
            raise DispatchError("git is not installed: install git 2.38 or newer") from e
        self._started.append(proc)

    def results(self, ok_codes: Sequence[int] = (0,)) -> list[Result]:
        """Every job's result, in order; an exit code not in OK_CODES raises GitError (the rest stopped)."""
        done = []
        for i, (args, _) in enumerate(self._jobs):
            stdout, stderr = self._started[i].communicate()
            if self._started[i].returncode not in ok_codes:
                self._stop()
                raise GitError(list(args), self._started[i].returncode, stdout, stderr)
            done.append(Result(self._started[i].returncode, stdout, stderr))
            if len(self._started) < len(self._jobs):
                self._start()
        return done

    def _stop(self) -> None:
        for proc in self._started:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()


class _Done:
    """A job whose git ran already (dispatch.prefetch), read as a finished process is."""

    def __init__(self, returncode: int, stdout: bytes, stderr: bytes) -> None:
        self.returncode = returncode
        self._out = (decode(stdout), decode(stderr))  # as a text-mode Popen reads them

    def communicate(self) -> tuple[str, str]:
        return self._out

    def poll(self) -> int:
        return self.returncode

    def kill(self) -> None:
        pass


def run_side_by_side(argvs: Sequence[Sequence[str]], *, cwd: Path, ok_codes: Sequence[int] = (0,)) -> list[Result]:
    """Run several `git ARGS` at once in CWD (short, independent questions), their results in order;
    an exit code not in OK_CODES raises GitError."""
    return Batch([(args, cwd) for args in argvs], limit=len(argvs)).results(ok_codes)
