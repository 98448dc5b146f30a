"""`dispatch demo`: three tasks worked by the built-in scripted worker in a scratch repository.

It runs the real commands as a person would, and yields what to print, step by step.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Generator, Iterator
from pathlib import Path

from dispatch.scripted import item_forms_text

TASKS = [
    ("Add a greeting module", ["Write `greet.py`", "Write `test_greet.py`"]),
    ("Write the docs", ["Write `docs/usage.md` (ask: Which tone should the docs use?)", "Write `docs/faq.md`"]),
    ("Try a risky idea", ["Write `risky.txt`"]),
]
ANSWER = "Friendly and short."


class DemoError(Exception):
    pass


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=False, cwd=cwd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)


def _scratch_repo(parent: Path) -> Path:
    repo = parent / "shop"
    repo.mkdir(parents=True)
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1"}
    steps = [
        ["git", "init", "-q", "-b", "main"],
        # The scratch repository's own identity, so the demo runs on a machine with none.
        ["git", "config", "user.name", "dispatch demo"],
        ["git", "config", "user.email", "demo@dispatch.invalid"],
    ]
    for argv in steps:
        _run(argv, repo, env).check_returncode()
    (repo / "README.md").write_text("# shop\n\nA tiny project for the dispatch demo.\n")
    (repo / "shop.py").write_text("def total(prices):\n    return sum(prices)\n")
    for argv in (["git", "add", "-A"], ["git", "commit", "-q", "-m", "A tiny shop"]):
        _run(argv, repo, env).check_returncode()
    return repo


def run(parent: Path | None, delay: float) -> Iterator[str]:
    """Yield the demo's text as it happens."""
    where = Path(tempfile.mkdtemp(prefix="dispatch-demo-")) if parent is None else parent
    if parent is not None:
        where.mkdir(parents=True, exist_ok=True)
        if (where / "shop").exists():
            raise DemoError(f"{where / 'shop'} already exists: choose another --dir")
    demo = _Session(_scratch_repo(where), delay)
    yield "dispatch demo: three tasks for background workers, in a scratch repository."
    yield "The workers are dispatch's built-in scripted worker: no AI CLI or account needed."
    yield f"\nScratch repository: {demo.repo} (branch main, one commit)"
    ids = yield from _hand_out(demo)
    yield "\n2. Where things stand. Status is read from git each time; nothing to go stale."
    yield from demo.dispatch("status")
    yield from _wait_for_all(demo, ids)
    yield from _land_and_drop(demo, landed=ids[0], dropped=ids[2])
    yield "\n9. Where things stand now:"
    yield from demo.dispatch("status")
    yield f"\nThe scratch repository is yours to look at: cd {demo.repo}"
    yield f"Task worktrees are in {demo.repo.parent / 'shop.dispatch'}; `dispatch logs {ids[1]}` shows a worker's output."


class _Session:
    """The scratch repository and the environment every demo command runs in."""

    def __init__(self, repo: Path, delay: float) -> None:
        self.repo = repo
        self.env = {**os.environ, "DISPATCH_SCRIPTED_DELAY": str(delay), "NO_COLOR": "1"}
        self.env.pop("DISPATCH_TASK", None)

    def dispatch(self, *args: str, show: bool = True) -> Generator[str, None, str]:
        """Run `dispatch ARGS` (shown with its output unless SHOW is false); its stdout."""
        shown = " ".join(_quote(a) for a in args)
        if show:
            yield f"  $ dispatch {shown}"
        r = _run([sys.executable, "-I", "-m", "dispatch", *args], self.repo, self.env)
        out = (r.stdout + r.stderr).rstrip("\n")
        if show and out:
            yield textwrap.indent(out, "    ")
        if r.returncode != 0:
            raise DemoError(f"`dispatch {shown}` failed with exit code {r.returncode}:\n{out}")
        return r.stdout


def _hand_out(demo: _Session) -> Generator[str, None, list[str]]:
    yield "\n1. Hand out three tasks. Each gets its own branch, a worktree beside the repository"
    yield "   and a checklist; its worker starts in the background and `new` returns at once."
    yield "   The scripted worker reads these forms in an item (`dispatch models` lists them too):"
    yield item_forms_text("     ")
    ids = []
    for title, items in TASKS:
        args = ["new", title, "--model", "scripted", "--json"]
        for item in items:
            args += ["--item", item]
        yield f"  $ dispatch new {_quote(title)} --model scripted " + " ".join(f"--item {_quote(i)}" for i in items)
        out = yield from demo.dispatch(*args, show=False)
        task = json.loads(out)["task"]
        ids.append(task["id"])
        yield f"    created {task['id']}: branch {task['branch']}, worktree {task['worktree']}"
    return ids


def _wait_for_all(demo: _Session, ids: list[str]) -> Iterator[str]:
    yield "\n3. Wait for news: a question, or a worker that finished. An AI host runs `wait`"
    yield "   in the background and is woken when it exits."
    finished: set[str] = set()
    answered = False
    while len(finished) < len(ids):
        out = yield from demo.dispatch("wait", "--consumer", "demo", "--timeout", "120", "--json", show=False)
        yield "  $ dispatch wait"
        items = json.loads(out)["items"]
        for item in items:
            yield f"    {item['task']} {item['text']}"
            yield f"      → {item['command']}"
            if item["kind"] != "question":
                finished.add(item["task"])
        for item in items:
            if item["kind"] == "question" and not answered:
                yield "\n4. Answer it. The same worker is still running, with its whole context, and goes on:"
                yield from demo.dispatch("answer", item["task"], ANSWER)
                answered = True
                yield "\n5. Wait again, until every worker is done:"


def _land_and_drop(demo: _Session, *, landed: str, dropped: str) -> Iterator[str]:
    yield "\n6. Review what a task did: its commits, checklist, and diff against its base."
    yield from demo.dispatch("review", landed)
    yield "\n7. Land it on main: one squashed commit, main moved by fast-forward only,"
    yield "   and .dispatch/ (the plan and questions) never reaches main."
    yield from demo.dispatch("merge", landed, "--yes")
    log = _run(["git", "log", "--oneline", "-3", "main"], demo.repo, demo.env).stdout.rstrip()
    yield "  $ git log --oneline -3 main"
    yield textwrap.indent(log, "    ")
    yield "\n8. Drop a task you do not want. It goes to the trash first, so it can come back"
    yield f"   (`dispatch restore {dropped}`)."
    yield from demo.dispatch("discard", dropped, "--yes")
    yield from demo.dispatch("trash")


def _quote(text: str) -> str:
    # Shown for people to copy: quoted so that a shell takes it literally, backquotes and all.
    return shlex.quote(text)
