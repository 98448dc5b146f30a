"""Several git processes at once: the same question in many worktrees, or several questions in one."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from dispatch import git, prefetch, spawn
from dispatch.errors import DispatchError, GitError
from dispatch.files import on_path
from dispatch.git import Result, decode
from dispatch.gitargs import git_env


class Batch:
    """`git ARGS` in CWD for each job, side by side (at most LIMIT at a time) from now on: `results`
    collects them in order. Processes, not threads: no thread pool to import and start."""

    def __init__(self, jobs: Sequence[tuple[Sequence[str], Path]], *, limit: int) -> None:
        self._jobs = list(jobs)
        self._limit = max(1, limit)
        self._env = git_env()  # once: copying the environment for each of 500 processes showed in a profile
        self._git = on_path("git", self._env)
        # Running (here, or claimed from dispatch.prefetch, which runs it), or its exit code and output.
        self._started: list[spawn.Process | _Claimed | tuple[int, bytes, bytes]] = []
        while len(self._started) < min(self._limit, len(self._jobs)):
            self._start()

    def _start(self) -> None:
        args, cwd = self._jobs[len(self._started)]
        key = prefetch.claim(tuple(args), str(cwd))
        if key is not None:  # asked already, as this process started (dispatch.prefetch): not waited for yet
            self._started.append(_Claimed(key))
            return
        try:
            self._started.append(git.start(args, cwd=cwd, env=self._env, git=self._git))
        except DispatchError:
            self._stop()
            raise

    def results(self, ok_codes: Sequence[int] = (0,)) -> list[Result]:
        """Every job's result, in order; an exit code not in OK_CODES raises GitError (the rest stopped)."""
        done = []
        for i, (args, _) in enumerate(self._jobs):
            job = self._started[i]
            if isinstance(job, _Claimed):  # (None: git could not start there; here, it says why)
                job = prefetch.result(job.key) or git.start(args, cwd=self._jobs[i][1], env=self._env, git=self._git)
            try:
                code, out, err = job.finish() if isinstance(job, spawn.Process) else job
            except BaseException:
                self._stop()
                raise
            self._started[i] = (code, out, err)
            stdout, stderr = decode(out), decode(err)  # as a text-mode Popen reads them
            if code not in ok_codes:
                self._stop()
                raise GitError(list(args), code, stdout, stderr)
            done.append(Result(code, stdout, stderr))
            if len(self._started) < len(self._jobs):
                self._start()
        return done

    def _stop(self) -> None:
        for job in self._started:
            if isinstance(job, spawn.Process):
                job.kill()


class _Claimed:
    __slots__ = ("key",)

    def __init__(self, key: prefetch.Key) -> None:
        self.key = key


def run_side_by_side(argvs: Sequence[Sequence[str]], *, cwd: Path, ok_codes: Sequence[int] = (0,)) -> list[Result]:
    """Run several `git ARGS` at once in CWD (short, independent questions), their results in order;
    an exit code not in OK_CODES raises GitError."""
    return Batch([(args, cwd) for args in argvs], limit=len(argvs)).results(ok_codes)
