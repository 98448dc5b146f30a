"""The git processes a command begins with, started before its modules load.

`status`, `ask`, `answer`, `review`, `conflicts` and `show` spend their first tens of milliseconds
importing (the interpreter's own modules, then dispatch's), then ask git the same questions every
time: where the repository is, its task branches, its worktrees, and (a plain `status`) `git status`
in each task's worktree, the first of them beside the listing (its path read from git's own files,
dispatch.worktrees). Started here first, from a
thread that only waits on them, those processes run on the other core while the imports run on
this one; `dispatch.git` and `dispatch.batch` take a result from here when the very same command
was asked in the very same folder, and run the command themselves otherwise (another branch
prefix, a task named on the command line, anything else). Nothing is ever taken twice, and nothing
after the command ran git that may move refs or worktrees (a fetch from a runner, an update-ref):
a result handed out is the one git gave a moment earlier than the command would have asked. `new`
without --base has its base's commit and tree asked here the same way, and `review TASK` (or `diff`)
its base's commit, then side by side its diff, the merge base and its worktree's status, then its
commits, when the plan in the task's worktree names its base plainly: the diff, the longest of them,
runs while the command still loads, and is handed on block by block as git writes it (`take_stream`).
This module imports only what starting processes needs, and the command's first processes are started
by the command itself, before its thread runs.
"""

from __future__ import annotations

import _thread
import os

from dispatch import plainmeta, spawn, worktrees
from dispatch.gitargs import (
    BASE,
    DEFAULT_PREFIX,
    DIFF,
    LOG,
    PLAN,
    REPO,
    RESOLVE,
    STATUS,
    WITHOUT_TASK_FILES,
    WORKTREES,
    base_commits,
    base_specs,
    git_env,
    refs_args,
    resolve_input,
    resolved,
)
from dispatch.handoff import Event, Pipe
from dispatch.typed import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

Key = tuple[tuple[str, ...], str]  # the command's arguments (and, after a NUL, its input), and the folder it runs in
Done = tuple[int, bytes, bytes]  # its exit code, stdout and stderr

_events: dict[Key, Event] = {}  # each command started here, set once its result is in
_results: dict[Key, Done] = {}
_pipes: dict[Key, Pipe] = {}  # what is read as it comes, its result never in _results
_taken: set[Key] = set()
_missed: set[Key] = set()  # asked of `take` before anything here started them
_same: dict[Key, Key] = {}  # a repository-wide question asked from the main worktree: the one asked here
_ended: Event | None = None  # set when the thread started here has ended
_wanted = Event()  # the command asked for a `git status` started here: it has nothing else to do
_done = Event()  # the command ended: start nothing more
_stale = False  # git ran something that may have moved refs or worktrees since: nothing is handed out
_BESIDE_LOADING = 12  # statuses one core runs while a command loads (25 ms, 2 ms each): 50 tasks -1 ms
_inherited: list[int] = []  # our descriptors a child would inherit, listed once as the command starts


def start(*, statuses: bool, limit: int, review: str | None = None) -> None:
    """Start the listing of the repository the current folder is in (and, with STATUSES, `git status` in
    each of its task worktrees, LIMIT at a time; with REVIEW, a task's id, what `review` asks of git about
    it) in a thread of its own; `take` hands the results out."""
    global _inherited
    cwd, env, _inherited = os.getcwd(), git_env(), spawn.inherited_fds()
    first = [(REPO, cwd), (refs_args(DEFAULT_PREFIX), cwd), (WORKTREES, cwd)]
    early = [(STATUS, path) for path in worktrees.first_tasks(cwd, DEFAULT_PREFIX, 1)] if statuses else []
    for key in first + early:
        _events[key] = Event()
    # Started here, not by the new thread: it would wait for this one to let go of the interpreter (up to
    # 5 ms, the switch interval, while the command imports).
    _start(_listings_then_statuses, [(key, _spawn(key, env)) for key in first],
           [(key, _spawn(key, env)) for key in early], env, statuses, limit, review)


def start_base() -> None:
    """For `new` without --base: where the repository is, then (in its main worktree) the base's commit and
    name, then that commit's tree, one after the other in a thread of its own. The ids taken are not
    asked here: `new` lists them holding the repository lock."""
    global _inherited
    repo, env, _inherited = (REPO, os.getcwd()), git_env(), spawn.inherited_fds()
    _events[repo] = Event()
    _start(_base_then_tree, repo, _spawn(repo, env), env)  # (started here: see `start`)


def take(args: tuple[str, ...], cwd: str, input: str | None = None) -> Done | None:
    """The result of `git ARGS` in CWD (INPUT on its stdin) started here (waited for), handed out once; None
    when it was not started here, or was taken already."""
    key = claim(args, cwd, input)
    return None if key is None else result(key)


def result(key: Key) -> Done | None:
    """The result of what KEY claimed, once git is through; None when git could not start here (its folder
    gone among them: the command asks again, and says so)."""
    _events[key].wait()
    pipe = _pipes.get(key)
    if pipe is None:
        done = _results.pop(key, None)
    else:
        done = None if pipe.ended is None else (pipe.ended[0], pipe.output(), pipe.ended[1])
    if done is not None and done[0] != 0 and not os.path.isdir(key[1]):
        return None
    return done


def take_stream(args: tuple[str, ...], cwd: str) -> Pipe | None:
    """As `take`, for a git whose stdout was started here to be read as it comes (a review's diff): its
    blocks from the first, without waiting for the end."""
    key = claim(args, cwd)
    return None if key is None else _pipes.get(key)


def claim(args: tuple[str, ...], cwd: str, input: str | None = None) -> Key | None:
    """As `take`, without waiting for git: the key whose `result` is the answer, now taken (for a command
    with more to do meanwhile: `status` reads its records while the statuses run)."""
    if not _events:  # nothing started here (or all of it dropped): nothing to take, nothing to note
        return None
    key = _key(args, cwd, input)
    key = _same.get(key, key)
    event = _events.get(key)
    if event is None:
        _missed.add(key)  # asked before it was started here: the command runs it, and what it leads to, itself
    if event is None or key in _taken or _stale:
        return None
    _taken.add(key)
    if key[0] == STATUS:
        _wanted.set()
    return key


# What git may run without making an earlier answer stale: it reads, or writes objects only. Anything else
# (a fetch that moves branches, an update-ref, a worktree added) and what was started here is dropped.
READS = frozenset({"rev-parse", "for-each-ref", "cat-file", "status", "ls-tree", "ls-files", "merge-base", "rev-list",
                   "log", "diff", "diff-tree", "merge-tree", "show", "hash-object", "symbolic-ref", "config",
                   "--version", "var"})


def before(args: tuple[str, ...]) -> None:
    """ARGS is about to run: a command that may move refs or worktrees makes what was started here stale."""
    global _stale
    if not _events:
        return
    first = 0
    while args[first:first + 1] == ("-c",):  # `-c NAME=VALUE` before the command
        first += 2
    if not (args[first:first + 1] and args[first] in READS or args[first:first + 2] == ("worktree", "list")):
        _stale = True


def stop() -> None:
    """The thread and its processes ended, and whatever nobody took dropped (a command run in this
    process again, as tests do, starts afresh)."""
    global _ended, _wanted, _done, _stale
    _done.set()
    if _ended is not None:
        _ended.wait()
        _ended = None
    for table in (_events, _results, _pipes, _same, _taken, _missed):
        table.clear()
    _wanted, _done = Event(), Event()
    _stale = False


def _key(args: tuple[str, ...], cwd: str, input: str | None = None) -> Key:
    """A command's key: no argument holds a NUL, so its input, after one, is told apart from them."""
    return ((*args, f"\0{input}") if input is not None else args, cwd)


def _start(work: Callable[..., None], *args: Any) -> None:
    """WORK(*ARGS) in a thread of its own (`stop` waits for its end)."""
    global _ended
    _ended = Event()
    _thread.start_new_thread(_run, (_ended, work, *args))


def _run(ended: Event, work: Callable[..., None], *args: Any) -> None:
    """The thread: WORK(*ARGS), then ENDED set."""
    try:
        work(*args)
    finally:  # whatever happened, nobody waits forever: a key without a result is asked again by its command
        for event in list(_events.values()):
            event.set()
        for pipe in list(_pipes.values()):
            if pipe.ended is None:
                pipe.close(None)
        ended.set()


def _base_then_tree(repo: Key, proc: spawn.Process | None, env: dict[str, str]) -> None:
    _finish(repo, proc, tell=False)
    root = _main_worktree(repo)
    if root is None:
        return
    base = (BASE, root)
    _events[base] = Event()  # before the repository is handed out: whoever asks finds it
    _events[repo].set()
    _finish(base, _spawn(base, env))
    code, out, _ = _results.get(base, (1, b"", b""))
    commit = out.decode("utf-8", "surrogateescape").partition("\n")[0]
    if code == 0 and commit:
        tree = (("ls-tree", "-z", commit), root)
        _events[tree] = Event()
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


def _listings_then_statuses(started: list[tuple[Key, spawn.Process | None]],
                            early: list[tuple[Key, spawn.Process | None]], env: dict[str, str], statuses: bool,
                            limit: int, review: str | None) -> None:
    for key, proc in started:
        _finish(key, proc, tell=False)
    first = [key for key, _ in started]
    repo, refs, trees = first
    root = _main_worktree(repo)
    if root is not None:  # the listings are asked from the main worktree: the ones started here
        _same.update({(refs[0], root): refs, (trees[0], root): trees})
    listed = _results.get(trees)
    begun = {key for key, _ in early}  # (started before the listing was in)
    paths = worktrees.tasks(listed[1], DEFAULT_PREFIX) if statuses and listed and listed[0] == 0 else []
    keys = [(STATUS, path) for path in paths if (STATUS, path) not in begun]
    for key in keys:  # known before the listing is handed out: whoever takes it finds these waiting
        _events[key] = Event()
    for key in first:
        _events[key].set()
    branches = _results.get(refs)
    if review is not None and root is not None and listed and listed[0] == 0 and branches and branches[0] == 0:
        try:
            _review(review, root, branches[1], listed[1], env)
        except (OSError, ValueError, IndexError, KeyError):  # a guess gone wrong: the command asks for itself
            pass
    # While the command loads its modules, a few statuses leave it a core; more use them all; then LIMIT.
    loading = max(1, (os.cpu_count() or 2) - (len(keys) < _BESIDE_LOADING))
    running: list[tuple[Key, spawn.Process | None]] = list(early)
    for key in keys:
        while len(running) >= (limit if _wanted.is_set() else min(limit, loading)):
            _finish(*running.pop(0))
        running.append((key, _spawn(key, env)))
    for key, proc in running:
        _finish(key, proc)


def _resolve(name: str, root: str, env: dict[str, str]) -> str | None:
    """The commit of the base NAME as `git.resolve_bases` asks ("": none); None: the command asked first."""
    specs = base_specs([name])
    key = _key(RESOLVE, root, resolve_input(specs))
    if (started := _begin([key], env)) is None:
        return None
    _end(started)
    code, out, _ = _results.get(key, (1, b"", b""))
    return (base_commits([name], resolved(specs, out.decode("utf-8", "surrogateescape"))).get(name) if code == 0
            else None) or ""


def _spawn(key: Key, env: dict[str, str]) -> spawn.Process | None:
    """`git ARGS` in CWD; None when it could not start (no git, no folder: the command asks again, and says so)."""
    args, cwd = key
    fed = bool(args) and args[-1].startswith("\0")
    try:
        return spawn.start("git", args[:-1] if fed else args, cwd, env, stdin=fed, inherited=_inherited)
    except OSError:
        return None


def _finish(key: Key, proc: spawn.Process | None, *, tell: bool = True) -> None:
    pipe = _pipes.get(key)
    if pipe is not None:
        if proc is not None:
            for block in proc.stream():
                pipe.put(block)
        pipe.close(proc.ended if proc is not None else None)
    elif proc is not None:
        last = key[0][-1] if key[0] else ""
        _results[key] = proc.finish(last[1:].encode("utf-8", "surrogateescape") if last.startswith("\0") else b"")
    if tell:
        _events[key].set()


def _begin(keys: list[Key], env: dict[str, str]) -> list[tuple[Key, spawn.Process | None]] | None:
    """KEYS started at once, for `_end` to finish; None (and nothing started) when the command asked for
    one of them first: it is past this point already."""
    for key in keys:
        _events[key] = Event()
    if _done.is_set() or any(key in _missed for key in keys):
        for key in keys:
            _events[key].set()
            if key in _pipes:
                _pipes[key].close(None)
        return None
    return [(key, _spawn(key, env)) for key in keys]


def _end(running: list[tuple[Key, spawn.Process | None]]) -> None:
    for key, proc in running:
        _finish(key, proc)


def _review(task_id: str, root: str, refs: bytes, listing: bytes, env: dict[str, str]) -> None:
    """What `review TASK_ID` asks git, when the task's plan in its worktree names its base plainly: the
    base's commit; then at once the diff (`BASE...TIP`), the merge base and the worktree's status; then the
    task's commits since that merge base. A plan that reads otherwise to the command asks other questions
    (nothing here is taken), and a command that gets to a question first makes this stop."""
    branch = f"refs/heads/{DEFAULT_PREFIX}{task_id}"
    tips = [line.split("\0")[1] for line in refs.decode("utf-8", "surrogateescape").split("\n")
            if line.startswith(f"{branch}\0")]
    found = [t["worktree"] for t in worktrees.listed(listing) if t.get("branch") == branch and "worktree" in t]
    meta = plainmeta.read(os.path.join(found[0], PLAN)) if len(found) == 1 and len(tips) == 1 else None
    if meta is None or "stacked_on" in meta:
        return
    if not all(plainmeta.plain(meta[k]) for k in ("base", "base_commit") if k in meta):
        return
    worktree, tip = found[0], tips[0]
    # As the record asks: its base branch, then its start commit only when the branch is gone.
    base = _resolve(meta["base"], root, env) if "base" in meta else ""
    commit = meta.get("base_commit")
    if base == "" and commit and commit != meta.get("base"):
        base = _resolve(commit, root, env)
    if not base:
        return
    merge, diff = (("merge-base", base, tip), root), ((*DIFF, f"{base}...{tip}", "--", *WITHOUT_TASK_FILES), root)
    _pipes[diff] = Pipe()  # (read as it comes: see `take_stream`)
    started = _begin([diff, merge, (STATUS, worktree)], env)
    if started is None:
        return
    _end(started[1:2])
    code, out, _ = _results.get(merge, (1, b"", b""))
    later = _begin([((*LOG, f"{out.decode().strip()}..{tip}"), root)], env) if code == 0 else None
    _end([started[0], started[2], *(later or [])])
