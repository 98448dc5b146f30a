"""Question round trip: `ask` posted → a waiting `dispatch wait` exits; `answer` → the waiting `ask` exits.

    .venv/bin/python bench/latency.py [--reps N]

Not part of the test suite: it measures and prints a small table of medians; it asserts nothing.
It runs in a throw-away repository with one task and no worker: this script plays the worker
(it runs `dispatch ask` in the task's worktree) and the host (`dispatch wait`, `dispatch answer`).
bench/run.py imports `measure` and puts its rows in its own table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TASK = "bench-latency"
KEEP_ALIVE = "bench-keep-alive"
CONSUMER = "bench-latency"
# Long enough for the `wait` under test to be past its start-up and watching the log.
SETTLE = 0.8


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=env, text=True, capture_output=True, stdin=subprocess.DEVNULL, check=False)


def _popen(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(argv, cwd=cwd, env=env, text=True, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _check(code: int | None, what: str, err: str) -> None:
    if code != 0:
        raise SystemExit(f"bench: {what} exited {code}: {err.strip()}")


def _worktree_of(dispatch: Path, repo: Path, task_id: str, env: dict[str, str]) -> Path:
    r = _run([str(dispatch), "status", task_id, "--json"], repo, env)
    _check(r.returncode, "dispatch status", r.stderr)
    return Path(json.loads(r.stdout)["tasks"][0]["worktree"])


def _floor_commit(worktree: Path, env: dict[str, str], reps: int) -> float:
    """One file written, `git add -f` and `git commit --only` it: the git work `ask` and `answer` each need."""
    times = []
    scratch = worktree / ".dispatch" / "bench-floor.md"
    for i in range(reps):
        started = time.monotonic()
        scratch.write_text(f"round {i}\n")
        subprocess.run(["git", "add", "-f", "--", str(scratch)], cwd=worktree, env=env, check=True)
        subprocess.run(["git", "commit", "--quiet", "--no-verify", "-m", "bench floor", "--only", "--", str(scratch)],
                       cwd=worktree, env=env, check=True)
        times.append(time.monotonic() - started)
    subprocess.run(["git", "rm", "--quiet", "-f", "--", str(scratch)], cwd=worktree, env=env, check=True)
    subprocess.run(["git", "commit", "--quiet", "--no-verify", "-m", "bench floor done"], cwd=worktree, env=env, check=True)
    return statistics.median(times)


def _start_up(dispatch: Path, repo: Path, env: dict[str, str], reps: int) -> float:
    times = []
    for _ in range(reps):
        started = time.monotonic()
        _run([str(dispatch), "--version"], repo, env)
        times.append(time.monotonic() - started)
    return statistics.median(times)


def round_trips(dispatch: Path, repo: Path, env: dict[str, str], reps: int) -> tuple[list[float], list[float]]:
    """REPS round trips on one task; the seconds of (ask → wait exits) and (answer → ask exits) for each."""
    r = _run([str(dispatch), "new", "Bench latency", "--id", TASK, "--no-start", "--item", "Ask"], repo, env)
    _check(r.returncode, "dispatch new", r.stderr)
    # `wait` returns at once (exit 69) when no worker runs and no question is open: a scripted worker
    # that hangs in a task of its own keeps one running, and brings no news until it is stopped.
    r = _run([str(dispatch), "new", "Bench keep-alive", "--id", KEEP_ALIVE, "--model", "scripted",
              "--item", "Write `keep.txt` (hang)"], repo, env)
    _check(r.returncode, "dispatch new (keep-alive worker)", r.stderr)
    worktree = _worktree_of(dispatch, repo, TASK, env)
    woken, answered = [], []
    try:
        for i in range(1, reps + 1):
            # Tell the bench's consumer everything so far, so that its next `wait` really waits.
            while _run([str(dispatch), "wait", "--consumer", CONSUMER, "--timeout", "0"], repo, env).returncode == 0:
                pass
            w, a = one_round(dispatch, i, task=TASK, repo=repo, env=env, worktree=worktree, ask_env=env,
                             wait_args=["--consumer", CONSUMER], settle=SETTLE)
            woken.append(w)
            answered.append(a)
    finally:
        _run([str(dispatch), "stop", KEEP_ALIVE], repo, env)
        for task_id in (TASK, KEEP_ALIVE):
            _run([str(dispatch), "discard", task_id, "--yes"], repo, env)
            _run([str(dispatch), "trash", "--purge", task_id, "--yes"], repo, env)
    return woken, answered


def one_round(dispatch: Path, i: int, *, task: str, repo: Path, env: dict[str, str], worktree: Path,
              ask_env: dict[str, str], wait_args: list[str], settle: float) -> tuple[float, float]:
    """Question I asked in WORKTREE while a `wait` waits in REPO, then answered there: the seconds of
    (ask → wait exits) and (answer → ask exits)."""
    waiter = _popen([str(dispatch), "wait", *wait_args, "--timeout", "60"], repo, env)
    time.sleep(settle)
    started = time.monotonic()
    asker = _popen([str(dispatch), "ask", f"Question {i}?", "--timeout", "60"], worktree, ask_env)
    out, err = waiter.communicate(timeout=90)
    woken = time.monotonic() - started
    _check(waiter.returncode, "dispatch wait", err)
    if f"asks Q{i}: Question {i}?" not in out:
        raise SystemExit(f"bench: `dispatch wait` reported something else: {out!r}")
    started = time.monotonic()
    answer = _popen([str(dispatch), "answer", task, f"Answer {i}"], repo, env)
    out, err = asker.communicate(timeout=90)
    answered = time.monotonic() - started
    _check(asker.returncode, "dispatch ask", err)
    if out != f"Answer {i}\n":
        raise SystemExit(f"bench: `dispatch ask` printed {out!r}")
    _check(answer.wait(timeout=90), "dispatch answer", answer.stderr.read() if answer.stderr else "")
    return woken, answered


def _measure(dispatch: Path, repo: Path, env: dict[str, str], reps: int) -> tuple[list[float], list[float], float]:
    woken, answered = round_trips(dispatch, repo, env, reps)
    floor_task = f"{TASK}-floor"
    r = _run([str(dispatch), "new", "Bench floor", "--id", floor_task, "--no-start"], repo, env)
    _check(r.returncode, "dispatch new", r.stderr)
    try:
        floor = _floor_commit(_worktree_of(dispatch, repo, floor_task, env), env, reps)
    finally:
        _run([str(dispatch), "discard", floor_task, "--yes"], repo, env)
        _run([str(dispatch), "trash", "--purge", floor_task, "--yes"], repo, env)
    return woken, answered, floor


def measure(*, dispatch: Path, repo: Path, env: dict[str, str], reps: int) -> list[tuple[str, float, float | None, str]]:
    """Rows for bench/run.py: (name, median seconds, floor seconds or None, note)."""
    woken, answered, floor = _measure(dispatch, repo, env, reps)
    start_up = _start_up(dispatch, repo, env, reps)
    note = ("floor: `git add -f` + `git commit --only` of one file, the commit each side makes; the time counts one "
            f"`dispatch` start-up ({start_up * 1000:.0f} ms for `dispatch --version` here); woken by inotify, no poll")
    return [
        ("`ask` posted → waiting `wait` exits", statistics.median(woken), floor, note),
        ("`answer` → waiting `ask` exits", statistics.median(answered), floor, note),
    ]


def _env(home: Path, bin_dir: Path) -> dict[str, str]:
    """No user or system config, fixed identities, this venv's dispatch first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "DISPATCH_", "XDG_", "PYTHON"))}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_STATE_HOME=str(home / ".state"),
               GIT_CONFIG_NOSYSTEM="1", GIT_AUTHOR_NAME="Bench", GIT_AUTHOR_EMAIL="bench@example.com",
               GIT_COMMITTER_NAME="Bench", GIT_COMMITTER_EMAIL="bench@example.com", NO_COLOR="1",
               PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    return env


def main() -> int:
    parser = argparse.ArgumentParser(description="Time the question round trip: ask → wait, answer → ask.")
    parser.add_argument("--reps", type=int, default=10, help="round trips to take the median of (default 10)")
    args = parser.parse_args()
    dispatch = Path(sys.executable).parent / "dispatch"
    if not dispatch.exists():
        raise SystemExit(f"{dispatch} is missing: run this with the Python of the venv dispatch is installed in")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="dispatch-latency-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        env = _env(home, dispatch.parent)
        repo = Path(tmp) / "app"
        repo.mkdir()
        for argv in (["init", "-q", "-b", "main"], ["commit", "-q", "--allow-empty", "-m", "start"]):
            subprocess.run(["git", *argv], cwd=repo, env=env, check=True)
        woken, answered, floor = _measure(dispatch, repo, env, args.reps)
        start_up = _start_up(dispatch, repo, env, args.reps)

    def row(name: str, values: list[float] | None, median: float) -> str:
        spread = f"{min(values) * 1000:5.0f} {max(values) * 1000:5.0f}" if values else f"{'':5} {'':5}"
        return f"{name:<40} {median * 1000:7.0f} {spread}"

    print(f"question round trip, {args.reps} runs, milliseconds (load average {os.getloadavg()[0]:.1f})")
    print(f"{'':<40} {'median':>7} {'min':>5} {'max':>5}")
    print(row("ask posted -> waiting wait exits", woken, statistics.median(woken)))
    print(row("answer -> waiting ask exits", answered, statistics.median(answered)))
    print(row("floor: git add -f + git commit --only", None, floor))
    print(row("floor: dispatch --version (start-up)", None, start_up))
    target = "met" if max(statistics.median(woken), statistics.median(answered)) < 1.0 else "NOT met"
    print(f"target: each median under 1000 ms: {target}; whole bench {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
