"""What starts when: now, or queued behind other tasks (`--after`) or a free slot (`max_running`).

There is no daemon. Whichever dispatch process runs next (a command, `wait`, the
supervisor of a task that just ended) calls `advance`, which starts what may start.
"""

from __future__ import annotations

import os

from dispatch import events, git, objects
from dispatch.config import Config
from dispatch.errors import DispatchError
from dispatch.repo import Repo, locked
from dispatch.task import notify, runtime
from dispatch.task.model import (
    NOTES,
    PLAN,
    QUESTIONS,
    TASK_FILES,
    TaskRef,
    get_task,
    list_tasks,
    read_plan_file,
    strip_task_files,
)
from dispatch.task.plan import parse_plan
from dispatch.task.status import collect
from dispatch.task.trash import list_trash
from dispatch.typed import TYPE_CHECKING
from dispatch.worker import queue
from dispatch.worker.confine import check_mode, set_sandbox
from dispatch.worker.control import Started, is_running, prepare_launch, start_worker

if TYPE_CHECKING:
    from typing import Any

DONE = ("done", "merged")


def begin(
    repo: Repo, cfg: Config, task: TaskRef, launch: Any, *, after: list[str], resume: bool = False,
    message: str | None = None,
) -> Started | None:
    """Start the worker now, or queue it when it waits for tasks or for a free slot (None: queued)."""
    with locked(repo, cfg["lock_timeout"]):
        if not queue.must_queue(repo, cfg, after):
            return start_worker(repo, cfg, task, launch, resume=resume, message=message)
        queue.enqueue(repo, task.id, after=after, requested=launch.requested, resume=resume, message=message)
    if task.id not in advance(repo, cfg):
        return None
    data = runtime.read_worker(repo, task.id) or {}
    return Started(task.id, int(data.get("run", 1)), str(data.get("model")), str(data.get("backend")),
                   int(data.get("supervisor_pid") or 0))


def resume(
    repo: Repo, cfg: Config, task_id: str, *, model: str | None, message: str | None, sandbox: str | None = None
) -> Started | None:
    """A fresh worker on the task (queued when every slot is taken); a queued or blocked task starts now."""
    task = get_task(repo, cfg, task_id)
    if is_running(repo, task_id):
        raise DispatchError(f"the worker of `{task_id}` is still running: `dispatch stop {task_id}` first")
    previous = runtime.read_worker(repo, task_id) or {}
    requested = model or previous.get("requested") or previous.get("model")
    if requested is None and task.worktree is not None:
        requested = read_plan_file(task.worktree.path / PLAN).meta.get("model")
    if sandbox is not None:
        check_mode(sandbox, "--sandbox")
    launch = prepare_launch(cfg, str(requested) if requested else None, sandbox or previous.get("sandbox_flag"))
    set_sandbox(repo, task_id, sandbox)
    with locked(repo, cfg["lock_timeout"]):
        queue.forget(repo, task_id)
    # A task whose worker never ran gets the first prompt and its worktree prepared.
    ran_before = previous.get("phase") not in (None, "queued", "blocked") or "run" in previous
    started = begin(repo, cfg, task, launch, after=[], resume=ran_before, message=message)
    events.append(repo, task_id, "resumed", model=launch.model, queued=started is None)
    return started



def _block(repo: Repo, task_id: str, reason: str) -> None:
    runtime.update_worker(repo, task_id, phase="blocked", reason=reason)
    notify.notify(repo, events.append(repo, task_id, "blocked", reason=reason))


def advance(repo: Repo, cfg: Config) -> list[str]:
    """Start every queued task whose dependencies are done, while slots are free."""
    if not queue.has_work(repo) or not os.access(repo.state_dir, os.W_OK):
        # Nothing queued; or a confined worker's `dispatch`, which may not start workers: its supervisor does.
        return []
    started: list[str] = []
    with locked(repo, cfg["lock_timeout"]):
        waiting = queue.read(repo)
        live = list_tasks(repo, cfg)
        deps = sorted({d for entry in waiting.values() for d in entry.get("after", []) if d in live})
        states = {s.id: s.state for s in collect(repo, cfg, deps)} if deps else {}
        landed = {e.id for e in list_trash(repo) if e.reason == "merged"} if any(
            d not in live for entry in waiting.values() for d in entry.get("after", [])) else set()
        running = queue.running_count(repo)
        for task_id, entry in list(waiting.items()):
            if task_id not in live:
                del waiting[task_id]  # discarded while it waited
                continue
            after = list(entry.get("after", []))
            gone = [d for d in after if d not in live and d not in landed]
            if gone:
                _block(repo, task_id, f"it waits for `{gone[0]}`, which was discarded: `dispatch restore {gone[0]}`, "
                                      f"or `dispatch resume {task_id}` to start it anyway")
                del waiting[task_id]
                continue
            # A task that waits itself (resumed after it was done, queued behind a slot) is not done yet.
            if any(d in live and (states.get(d) not in DONE or d in waiting) for d in after):
                continue
            if running >= queue.limit(cfg):
                break  # first come, first served
            try:
                if after:
                    stack(repo, cfg, live[task_id], after, live, landed)
                launch = prepare_launch(cfg, entry.get("requested") or None,
                                        (runtime.read_worker(repo, task_id) or {}).get("sandbox_flag"))
                start_worker(repo, cfg, live[task_id], launch, resume=bool(entry.get("resume")),
                             message=entry.get("message"))
            except DispatchError as e:
                _block(repo, task_id, str(e))
                del waiting[task_id]
                continue
            del waiting[task_id]
            running += 1
            started.append(task_id)
        queue.write(repo, waiting)
    return started


def stack(repo: Repo, cfg: Config, task: TaskRef, after: list[str], live: dict[str, TaskRef], landed: set[str]) -> str:
    """Move a queued task onto the work it waits for: the merge of those branches, task files left out."""
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
        merge = objects.merge_trees(repo.root, [(onto, part)])[0]
        if merge.conflicts:
            raise DispatchError(
                f"the tasks it waits for conflict with each other in {', '.join(merge.conflicts[:5])}: land or rebase "
                f"one of {', '.join(after)} first, then `dispatch resume {task.id}`"
            )
        onto = objects.commit_tree(repo.root, merge.tree, [onto, part], f"dispatch: stack {', '.join(after)} for {task.id}\n")
    plan.set_meta("stacked_on", onto)
    texts = {"PLAN.md": plan.render(), "QUESTIONS.md": (wt / QUESTIONS).read_text(encoding="utf-8")}
    if (wt / NOTES).is_file():  # the dispatcher's notes go along (the reset below would drop them)
        texts["NOTES.md"] = (wt / NOTES).read_text(encoding="utf-8")
    listing = "".join(
        f"100644 blob {git.out(['hash-object', '-w', '--stdin'], cwd=repo.root, input=text)}\t{name}\n"
        for name, text in sorted(texts.items())
    )
    files = git.out(["mktree"], cwd=repo.root, input=listing)
    tree = objects.tree_without(repo.root, onto, TASK_FILES, put=files)
    commit = objects.commit_tree(repo.root, tree, [onto], f"dispatch: plan {task.id} on {', '.join(after)}\n")
    # Nothing but the task files differs in the worktree, and the new commit carries them.
    git.run(["reset", "--quiet", "--hard", commit], cwd=wt)
    events.append(repo, task.id, "stacked", on=after, commit=commit)
    return commit
