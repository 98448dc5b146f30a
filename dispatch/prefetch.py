"""The git processes a command begins with, started before its modules load.

`status`, `ask`, `answer`, `review`, `conflicts` and `show` spend their first tens of milliseconds
importing (the interpreter's own modules, then dispatch's), then ask git the same questions every
time: where the repository is, its task branches, its worktrees, and (a plain `status`) `git status`
in each task's worktree. Started here first, from a
thread that only waits on them, those processes run on the other core while the imports run on
this one; `dispatch.git` and `dispatch.batch` take a result from here when the very same command
was asked in the very same folder, and run the command themselves otherwise (another branch
prefix, a task named on the command line, anything else). Nothing is ever taken twice, and nothing
after the command ran git that may move refs or worktrees (a fetch from a runner, an update-ref):
a result handed out is the one git gave a moment earlier than the command would have asked. `new`
without --base has its base's commit and tree asked here the same way. This module imports only what
starting processes needs.
"""

from __future__ import annotations

import os
import threading

from dispatch import spawn
from dispatch.typed import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

# Variables that would point git at another repository than the one we name.
LOCATION_VARS = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
)
REPO = ("rev-parse", "--path-format=absolute", "--is-bare-repository", "--git-common-dir")
REFS_FORMAT = ("%(refname)%00%(objectname)%00%(*objectname)%00%(committerdate:unix)%00%(*committerdate:unix)"
               "%00%(subject)%00%(*subject)")
WORKTREES = ("worktree", "list", "--porcelain", "-z")
STATUS = ("status", "--porcelain=v1", "-z", "--untracked-files=all")
BASE = ("rev-parse", "HEAD^{commit}", "--symbolic-full-name", "HEAD", "--")  # `new`'s base: the main worktree's
DEFAULT_PREFIX = "dispatch/"  # the default branch_prefix: another one finds nothing here to take


def git_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment every git process of ours runs in."""
    env = {k: v for k, v in os.environ.items() if k not in LOCATION_VARS}
    env["GIT_TERMINAL_PROMPT"] = "0"
    # `git status` would otherwise refresh the index under index.lock, and a worker's own
    # `git commit` in that worktree at that moment would fail.
    env["GIT_OPTIONAL_LOCKS"] = "0"
    env.setdefault("LC_ALL", "C")
    if extra:
        env.update(extra)
    return env


def refs_args(prefix: str) -> tuple[str, ...]:
    return ("for-each-ref", f"--format={REFS_FORMAT}", f"refs/heads/{prefix}*")


Key = tuple[tuple[str, ...], str]  # the command's arguments, and the folder it runs in
Done = tuple[int, bytes, bytes]  # its exit code, stdout and stderr

_events: dict[Key, threading.Event] = {}  # each command started here, set once its result is in
_results: dict[Key, Done] = {}
_taken: set[Key] = set()
_same: dict[Key, Key] = {}  # a repository-wide question asked from the main worktree: the one asked here
_thread: threading.Thread | None = None
_wanted = threading.Event()  # the command asked for a `git status` started here: it has nothing else to do
_stale = False  # git ran something that may have moved refs or worktrees since: nothing is handed out


def start(*, statuses: bool, limit: int) -> None:
    """Start the listing of the repository the current folder is in (and, with STATUSES, `git status` in
    each of its task worktrees, LIMIT at a time) in a thread of its own; `take` hands the results out."""
    global _thread
    cwd = os.getcwd()
    first = [(REPO, cwd), (refs_args(DEFAULT_PREFIX), cwd), (WORKTREES, cwd)]
    for key in first:
        _events[key] = threading.Event()
    _thread = threading.Thread(target=_run, args=(_listings_then_statuses, first, statuses, limit), daemon=True)
    _thread.start()


def start_base() -> None:
    """For `new` without --base: where the repository is, then (in its main worktree) the base's commit and
    name, then that commit's tree, one after the other in a thread of its own. The ids taken are not
    asked here: `new` lists them holding the repository lock."""
    global _thread
    repo = (REPO, os.getcwd())
    _events[repo] = threading.Event()
    _thread = threading.Thread(target=_run, args=(_base_then_tree, repo), daemon=True)
    _thread.start()


def take(args: tuple[str, ...], cwd: str) -> Done | None:
    """The result of `git ARGS` in CWD started here (waited for), handed out once; None when it was not
    started here, or was taken already."""
    key = _same.get((args, cwd), (args, cwd))
    event = _events.get(key)
    if event is None or key in _taken or _stale:
        return None
    _taken.add(key)
    if key[0] == STATUS:
        _wanted.set()
    event.wait()
    return _results.pop(key, None)


# What git may run without making an earlier answer stale: it reads, or writes objects only. Anything else
# (a fetch that moves branches, an update-ref, a worktree added) and what was started here is dropped.
READS = frozenset({"rev-parse", "for-each-ref", "cat-file", "status", "ls-tree", "ls-files", "merge-base", "rev-list",
                   "log", "diff", "diff-tree", "merge-tree", "show", "hash-object", "symbolic-ref", "config",
                   "--version", "var"})


def before(args: tuple[str, ...]) -> None:
    """ARGS is about to run: a command that may move refs or worktrees makes what was started here stale."""
    global _stale
    if _events and not (args[0] in READS or args[:2] == ("worktree", "list")):
        _stale = True


def stop() -> None:
    """The thread and its processes ended, and whatever nobody took dropped (a command run in this
    process again, as tests do, starts afresh)."""
    global _thread, _stale
    if _thread is not None:
        _thread.join()
        _thread = None
    for table in (_events, _results, _same):
        table.clear()
    _taken.clear()
    _wanted.clear()
    _stale = False


def _run(work: Callable[..., None], *args: Any) -> None:
    """The thread: WORK(*ARGS)."""
    try:
        work(*args)
    finally:  # whatever happened, nobody waits forever: a key without a result is asked again by its command
        for event in list(_events.values()):
            event.set()


def _base_then_tree(repo: Key) -> None:
    env = git_env()
    _finish(repo, _spawn(repo, env), tell=False)
    root = _main_worktree(repo)
    if root is None:
        return
    base = (BASE, root)
    _events[base] = threading.Event()  # before the repository is handed out: whoever asks finds it
    _events[repo].set()
    _finish(base, _spawn(base, env))
    code, out, _ = _results.get(base, (1, b"", b""))
    commit = out.decode("utf-8", "surrogateescape").partition("\n")[0]
    if code == 0 and commit:
        tree = (("ls-tree", "-z", commit), root)
        _events[tree] = threading.Event()
        _finish(tree, _spawn(tree, env))


def _main_worktree(repo: Key) -> str | None:
    """The main worktree of REPO's answer when the repository has the usual layout (it holds the common dir),
    where `dispatch.repo` asks its repository-wide questions from; else None."""
    code, out, _ = _results.get(repo, (1, b"", b""))
    lines = out.decode("utf-8", "surrogateescape").splitlines()
    if code == 0 and len(lines) >= 2 and lines[1].endswith("/.git"):
        root = os.path.dirname(lines[1])
        if os.path.realpath(os.path.join(root, ".git")) == os.path.realpath(lines[1]):
            return root
    return None


def _listings_then_statuses(first: list[Key], statuses: bool, limit: int) -> None:
    env = git_env()
    for key, proc in [(key, _spawn(key, env)) for key in first]:
        _finish(key, proc, tell=False)
    repo, refs, trees = first
    root = _main_worktree(repo)
    if root is not None:  # the listings are asked from the main worktree: the ones started here
        _same.update({(refs[0], root): refs, (trees[0], root): trees})
    listed = _results.get(trees)
    keys = [(STATUS, path) for path in _task_worktrees(listed[1])] if statuses and listed and listed[0] == 0 else []
    for key in keys:  # known before the listing is handed out: whoever takes it finds these waiting
        _events[key] = threading.Event()
    for key in first:
        _events[key].set()
    # While the command still loads its modules, the statuses leave it a core; once it waits for them, LIMIT.
    loading = max(1, (os.cpu_count() or 2) - 1)
    running: list[tuple[Key, spawn.Process | None]] = []
    for key in keys:
        while len(running) >= (limit if _wanted.is_set() else min(limit, loading)):
            _finish(*running.pop(0))
        running.append((key, _spawn(key, env)))
    for key, proc in running:
        _finish(key, proc)


def _spawn(key: Key, env: dict[str, str]) -> spawn.Process | None:
    """`git ARGS` in CWD; None when it could not start (no git, no folder: the command asks again, and says so)."""
    try:
        return spawn.start("git", key[0], key[1], env)
    except OSError:
        return None


def _finish(key: Key, proc: spawn.Process | None, *, tell: bool = True) -> None:
    if proc is not None:
        _results[key] = proc.finish()
    if tell:
        _events[key].set()


def _task_worktrees(listing: bytes) -> list[str]:
    """The linked worktrees of `worktree list --porcelain -z` on a task branch (under the default prefix)."""
    found = []
    for record in listing.decode("utf-8", "surrogateescape").split("\0\0")[1:]:
        fields = dict(field.partition(" ")[::2] for field in record.split("\0") if field)
        if fields.get("branch", "").startswith(f"refs/heads/{DEFAULT_PREFIX}") and "worktree" in fields:
            found.append(fields["worktree"])
    return found
