"""Synthetic repositories for the bench, built fast with `git fast-import` and cached by size.

A large one stands in for a real project (thousands of files, tens of thousands of commits);
a small one is what most tasks are dispatched in. Both are deterministic: the same sizes give
the same commits, so figures compare across runs and machines.

    python bench/synth.py PATH [--files N] [--commits N]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

IDENTITY = "Bench <bench@example.com>"
EPOCH = 1_700_000_000  # first commit's time; one minute between commits
MARKER = "bench-synth"  # a file in .git naming the sizes a cached repository was built with


def hermetic_env(home: Path) -> dict[str, str]:
    """The environment every bench git and dispatch process runs in: no user or system config."""
    # PYTHON* too: a session may set PYTHONDONTWRITEBYTECODE, which would recompile dispatch on every run.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "DISPATCH_", "XDG_", "PYTHON"))}
    env.update({
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
        "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.com",
        "GIT_EDITOR": "false",
        "GIT_TERMINAL_PROMPT": "0",
        "NO_COLOR": "1",
        "COLUMNS": "200",
        "LC_ALL": "C",
    })
    return env


def _paths(files: int) -> list[str]:
    # A tree shaped like a project: ~40 files per folder, two levels deep.
    paths = []
    for i in range(files):
        top, sub = i // 400, (i // 40) % 10
        ext = (".py", ".md", ".txt", ".json")[i % 4]
        paths.append(f"pkg{top:02d}/mod{sub}/file{i:05d}{ext}")
    return paths


def _content(path: str, version: int, lines: int) -> bytes:
    body = [f"# {path}\n"]
    body += [f"line {j:03d} of {path}: the quick brown fox jumps over the lazy dog\n" for j in range(lines)]
    if version:
        # Each change rewrites one line near the version's position, as a small edit would.
        j = 1 + version % lines
        body[j] = f"line {j:03d} of {path}: edited in change {version}\n"
    return "".join(body).encode()


def stream(files: int, commits: int, *, seed: int = 7, lines: int = 24) -> bytes:
    """A fast-import stream: one commit adding FILES files, then COMMITS-1 commits editing one file each."""
    rng = random.Random(seed)
    paths = _paths(files)
    out: list[bytes] = []

    def commit(n: int, message: str, changes: list[tuple[str, bytes]]) -> None:
        when = EPOCH + 60 * n
        msg = message.encode()
        out.append(b"commit refs/heads/main\n")
        out.append(f"committer {IDENTITY} {when} +0000\n".encode())
        out.append(b"data %d\n%s\n" % (len(msg), msg))
        for path, data in changes:
            out.append(f"M 100644 inline {path}\n".encode())
            out.append(b"data %d\n%s\n" % (len(data), data))

    commit(0, "initial import", [(p, _content(p, 0, lines)) for p in paths])
    for n in range(1, commits):
        # Recent work clusters in few files, as in real projects: most edits hit 10% of the tree.
        i = rng.randrange(files // 10) if rng.random() < 0.7 else rng.randrange(files)
        commit(n, f"change {n}: edit {paths[i]}", [(paths[i], _content(paths[i], n, lines))])
    out.append(b"done\n")
    return b"".join(out)


def make_repo(path: Path, *, files: int, commits: int, env: dict[str, str]) -> tuple[Path, float]:
    """A repository at PATH with FILES files and COMMITS commits on `main`, checked out; cached.

    Returns the path and the seconds spent building it (0 when the cached one was reused).
    """
    wanted = f"files={files} commits={commits} v=1\n"
    marker = path / ".git" / MARKER
    if marker.exists() and marker.read_text() == wanted:
        return path, 0.0
    started = time.monotonic()
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)

    def git(*args: str, input: bytes | None = None) -> None:
        subprocess.run(["git", *args], cwd=path, input=input, env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    git("init", "-q", "-b", "main")
    git("fast-import", "--quiet", "--done", input=stream(files, commits))
    git("reset", "-q", "--hard", "main")
    # What `git gc` leaves in a long-lived clone: a commit-graph for fast history walks.
    git("commit-graph", "write", "--reachable")
    marker.write_text(wanted)
    return path, time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--files", type=int, default=4000)
    parser.add_argument("--commits", type=int, default=50_000)
    args = parser.parse_args()
    home = args.path.resolve().parent / ".home"
    home.mkdir(parents=True, exist_ok=True)
    path, took = make_repo(args.path.resolve(), files=args.files, commits=args.commits, env=hermetic_env(home))
    print(f"{path}: {args.files} files, {args.commits} commits ({'cached' if not took else f'built in {took:.1f}s'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
