"""What confinement adds to a worker's start: `dispatch new` until the worker runs, with bwrap and without.

    .venv/bin/python bench/sandbox.py [--pairs N]

Not part of the test suite: it measures and prints a small markdown table, also kept as the last section of
bench/results.md; it asserts nothing.
In a throw-away repository, each pair runs `dispatch new --sandbox off` and `dispatch new
--sandbox bwrap` (which goes first alternates), with a backend whose worker writes the time it
started into its worktree and exits. A start is the time from launching `dispatch new` to that
first instruction of the worker: the command, the supervisor, and (confined) the mount table
and bwrap itself. Also timed, paired the same way: `bwrap ... true` against `true`, the bare
cost of the sandbox. Medians; the difference is the median of the paired differences.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dispatch.worker import sandbox

SECTION = "## What confinement adds to a worker's start (`bench/sandbox.py`)"
MARK = ".started"
WORKER = f"import time; open({MARK!r}, 'w').write(repr(time.time()))"


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "DISPATCH_", "XDG_"))}
    env.update(HOME=str(tmp / "home"), XDG_CONFIG_HOME=str(tmp / "home" / ".config"),
               XDG_DATA_HOME=str(tmp / "home" / ".local" / "share"), GIT_CONFIG_NOSYSTEM="1",
               GIT_AUTHOR_NAME="Bench", GIT_AUTHOR_EMAIL="bench@example.com", GIT_COMMITTER_NAME="Bench",
               GIT_COMMITTER_EMAIL="bench@example.com")
    return env


def _setup(tmp: Path, env: dict[str, str]) -> Path:
    repo = tmp / "app"
    repo.mkdir()
    config = tmp / "home" / ".config" / "dispatch" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f'[backends.mark]\ncommand = ["{{python}}", "-S", "-c", "{WORKER}"]\n'
                      '[models.mark]\nbackend = "mark"\n')
    for argv in (["init", "-q", "-b", "main"], ["commit", "-q", "--allow-empty", "-m", "start"]):
        subprocess.run(["git", *argv], cwd=repo, env=env, check=True)
    return repo


def _start(repo: Path, env: dict[str, str], task: str, mode: str) -> float:
    """Seconds from launching `dispatch new` to the worker's first instruction."""
    began = time.time()
    r = subprocess.run([sys.executable, "-m", "dispatch", "new", task, "--id", task, "--model", "mark",
                        "--sandbox", mode], cwd=repo, env=env, capture_output=True, text=True, check=False)
    if r.returncode:
        raise SystemExit(f"bench: dispatch new --sandbox {mode} failed: {r.stderr.strip()}")
    mark = repo.parent / "app.dispatch" / task / MARK
    deadline = time.monotonic() + 60
    while not mark.exists() or not mark.read_text():
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: the worker of {task} never started")
        time.sleep(0.002)
    return float(mark.read_text()) - began


def _bare(argv: list[str]) -> float:
    began = time.perf_counter()
    subprocess.run(argv, check=True)
    return time.perf_counter() - began


def _paired(pairs: int, run: dict[str, object]) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {mode: [] for mode in run}
    modes = list(run)
    for i in range(pairs):
        for mode in modes if i % 2 == 0 else modes[::-1]:
            times[mode].append(run[mode](i))  # type: ignore[operator]
    return times


def _row(what: str, times: dict[str, list[float]]) -> str:
    off, on = times["off"], times["bwrap"]
    diff = statistics.median(b - a for a, b in zip(off, on, strict=True))
    return (f"| {what} | {statistics.median(off) * 1000:.0f} ms | {statistics.median(on) * 1000:.0f} ms "
            f"| {diff * 1000:+.0f} ms |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=11)
    args = parser.parse_args()
    found = sandbox.probe()
    if not found.works:
        raise SystemExit(f"bench: {found.problem}")
    with tempfile.TemporaryDirectory(prefix="dispatch-bench-sandbox-") as folder:
        tmp = Path(folder)
        env = _env(tmp)
        repo = _setup(tmp, env)
        started = _paired(args.pairs, {"off": lambda i: _start(repo, env, f"off-{i}", "off"),
                                       "bwrap": lambda i: _start(repo, env, f"on-{i}", "bwrap")})
        wrapped = [str(found.program), *sandbox.SKELETON, "--", *sandbox.RESTORE_SIGNALS, "true"]
        bare = _paired(args.pairs, {"off": lambda i: _bare(["true"]), "bwrap": lambda i: _bare(wrapped)})
    table = "\n".join([
        (f"`.venv/bin/python bench/sandbox.py --pairs {args.pairs}`: medians of {args.pairs} pairs ({os.cpu_count()} "
         f"cores, load average {os.getloadavg()[0]:.1f}, bubblewrap {_bwrap_version(str(found.program))})."), "",
        "| measure | unconfined | confined (bwrap) | added (median of pair differences) |",
        "| --- | --- | --- | --- |",
        _row("`dispatch new` → worker's first instruction", started),
        _row("the process alone: `true` vs `bwrap ... true`", bare),
    ])
    print(table)
    _keep(table)
    return 0


def _bwrap_version(program: str) -> str:
    r = subprocess.run([program, "--version"], capture_output=True, text=True, check=False)
    return r.stdout.strip().removeprefix("bubblewrap ") or "(version unknown)"


def _keep(table: str) -> None:
    """The table becomes the last section of bench/results.md (bench/run.py keeps that section as it is)."""
    results = ROOT / "bench" / "results.md"
    text = results.read_text(encoding="utf-8") if results.exists() else ""
    text = text.split(SECTION)[0].rstrip("\n")
    results.write_text((text + "\n\n" if text else "") + f"{SECTION}\n\n{table}\n", encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
