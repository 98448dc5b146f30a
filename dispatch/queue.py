"""The queue: tasks waiting for other tasks (`--after`) or for a free slot (`max_running`).

There is no daemon. Whichever dispatch process runs next (a command, `wait`, the
supervisor of a task that just ended) calls `advance`, which starts what may start.
The queue is a file in the common git dir, written under the repository lock, so a
crash never loses a queued task: the next process picks it up.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from dispatch import clock, events, git, notify, runtime
from dispatch.config import Config
from dispatch.errors import DispatchError
from dispatch.repo import Repo, locked
from dispatch.tasks import PLAN, QUESTIONS, TaskRef, list_tasks

DONE = ("done", "merged")


def _path(repo: Repo) -> Path:
    return repo.state_dir / "queue.json"


def read(repo: Repo) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(_path(repo).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(repo: Repo, queue: dict[str, dict[str, Any]]) -> None:
    path = _path(repo)
    tmp = path.with_name(f".queue.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(queue, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def has_work(repo: Repo) -> bool:
    """Cheap: one stat, no git. An empty queue is `{}` (3 bytes with its newline)."""
    try:
        return _path(repo).stat().st_size > 3
    except OSError:
        return False


# Agent CLIs spend most of their time waiting on a model's API, not on this machine's CPU: the
# number of cores says little about how many can run. Eight keeps memory (a few hundred MB each),
# API rate limits and the work a person can review in bounds.
DEFAULT_MAX_RUNNING = 8


def limit(cfg: Config) -> int:
    configured = int(cfg["max_running"])
    return configured if configured > 0 else DEFAULT_MAX_RUNNING


def running_count(repo: Repo) -> int:
    """Workers holding a slot: preparing or running, and not blocked in `dispatch ask` (a person may take hours)."""
    from dispatch.asking import blocked_in_ask

    folder = repo.state_dir / "tasks"
    if not folder.is_dir():
        return 0
    count = 0
    for entry in folder.iterdir():
        data = runtime.read_worker(repo, entry.name)
        if data is not None and runtime.worker_state(data) in ("running", "preparing") and not blocked_in_ask(
            repo, entry.name
        ):
            count += 1
    return count


def enqueue(
    repo: Repo, task_id: str, *, after: list[str], requested: str, resume: bool = False, message: str | None = None
) -> None:
    """Queue TASK_ID (the caller holds the repository lock)."""
    queue = read(repo)
    queue[task_id] = {"after": after, "requested": requested, "resume": resume, "message": message,
                      "queued": clock.iso(clock.now())}
    _write(repo, queue)
    runtime.update_worker(repo, task_id, phase="queued", after=after, requested=requested, reason=None)
    events.append(repo, task_id, "queued", after=after)


def forget(repo: Repo, task_id: str) -> None:
    """Take TASK_ID off the queue (the caller holds the repository lock)."""
    queue = read(repo)
    if queue.pop(task_id, None) is not None:
        _write(repo, queue)


def must_queue(repo: Repo, cfg: Config, after: list[str]) -> bool:
    return bool(after) or bool(read(repo)) or running_count(repo) >= limit(cfg)


def _block(repo: Repo, task_id: str, reason: str) -> None:
    runtime.update_worker(repo, task_id, phase="blocked", reason=reason)
    notify.notify(repo, events.append(repo, task_id, "blocked", reason=reason))


def advance(repo: Repo, cfg: Config) -> list[str]:
    """Start every queued task whose dependencies are done, while slots are free."""
    if not has_work(repo):
        return []
    from dispatch.status import collect
    from dispatch.trash import list_trash
    from dispatch.workers import prepare_launch, start_worker

    started: list[str] = []
    with locked(repo, cfg["lock_timeout"]):
        queue = read(repo)
        live = list_tasks(repo, cfg)
        deps = sorted({d for entry in queue.values() for d in entry.get("after", []) if d in live})
        states = {s.id: s.state for s in collect(repo, cfg, deps)} if deps else {}
        landed = {e.id for e in list_trash(repo) if e.reason == "merged"} if any(
            d not in live for entry in queue.values() for d in entry.get("after", [])) else set()
        running = running_count(repo)
        for task_id, entry in list(queue.items()):
            if task_id not in live:
                del queue[task_id]  # discarded while it waited
                continue
            after = list(entry.get("after", []))
            gone = [d for d in after if d not in live and d not in landed]
            if gone:
                _block(repo, task_id, f"it waits for `{gone[0]}`, which was discarded: `dispatch restore {gone[0]}`, "
                                      f"or `dispatch resume {task_id}` to start it anyway")
                del queue[task_id]
                continue
            if any(d in live and states.get(d) not in DONE for d in after):
                continue
            if running >= limit(cfg):
                break  # first come, first served
            try:
                if after:
                    stack(repo, cfg, live[task_id], after, live, landed)
                launch = prepare_launch(cfg, entry.get("requested") or None)
                start_worker(repo, cfg, live[task_id], launch, resume=bool(entry.get("resume")),
                             message=entry.get("message"))
            except DispatchError as e:
                _block(repo, task_id, str(e))
                del queue[task_id]
                continue
            del queue[task_id]
            running += 1
            started.append(task_id)
        _write(repo, queue)
    return started


def stack(repo: Repo, cfg: Config, task: TaskRef, after: list[str], live: dict[str, TaskRef], landed: set[str]) -> str:
    """Move a queued task onto the work it waits for: the merge of those branches, task files left out."""
    from dispatch.land import strip_task_files
    from dispatch.plan import parse_plan

    if task.worktree is None or not task.worktree_exists or task.tip is None:
        raise DispatchError(f"task `{task.id}` has no worktree or branch: `dispatch doctor` says how to repair it")
    wt = task.worktree.path
    stray = [p for _, p in git.status_porcelain(wt) if not p.startswith(".dispatch/")]
    if stray:
        raise DispatchError(f"its worktree has uncommitted changes ({stray[0]}): commit or remove them, then "
                            f"`dispatch resume {task.id}`")
    plan = parse_plan((wt / PLAN).read_text(encoding="utf-8"))
    parts = [strip_task_files(repo, live[d].tip.sha, d) for d in after if d in live and live[d].tip]  # type: ignore[union-attr]
    if len(parts) < len(after) or not parts:
        # Some of the work it stands on has landed already: it is on the base now.
        base = git.resolve_base(repo.root, str(plan.meta.get("base") or "")) or str(plan.meta.get("base_commit"))
        parts.insert(0, base)
    onto = parts[0]
    for part in parts[1:]:
        if git.is_ancestor(repo.root, part, onto):
            continue
        if git.is_ancestor(repo.root, onto, part):
            onto = part
            continue
        merge = git.merge_trees(repo.root, [(onto, part)])[0]
        if merge.conflicts:
            raise DispatchError(
                f"the tasks it waits for conflict with each other in {', '.join(merge.conflicts[:5])}: land or rebase "
                f"one of {', '.join(after)} first, then `dispatch resume {task.id}`"
            )
        onto = git.commit_tree(repo.root, merge.tree, [onto, part], f"dispatch: stack {', '.join(after)} for {task.id}\n")
    plan.set_meta("stacked_on", onto)
    blobs = [git.out(["hash-object", "-w", "--stdin"], cwd=repo.root, input=text)
             for text in (plan.render(), (wt / QUESTIONS).read_text(encoding="utf-8"))]
    files = git.out(["mktree"], cwd=repo.root,
                    input=f"100644 blob {blobs[0]}\tPLAN.md\n100644 blob {blobs[1]}\tQUESTIONS.md\n")
    entries = [e for e in git.zsplit(git.run(["ls-tree", "-z", onto], cwd=repo.root).stdout)
               if e.split("\t", 1)[1] != ".dispatch"]
    tree = git.out(["mktree", "-z"], cwd=repo.root, input="".join(f"{e}\0" for e in [*entries, f"040000 tree {files}\t.dispatch"]))
    commit = git.commit_tree(repo.root, tree, [onto], f"dispatch: plan {task.id} on {', '.join(after)}\n")
    # Nothing but the task files differs in the worktree, and the new commit carries them.
    git.run(["reset", "--quiet", "--hard", commit], cwd=wt)
    events.append(repo, task.id, "stacked", on=after, commit=commit)
    return commit
