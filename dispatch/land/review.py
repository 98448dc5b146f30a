"""What a task did against the merge base with its base: commits, plan, answers, and the diff."""

from __future__ import annotations

import _thread
from collections.abc import Callable
from functools import partial
from pathlib import Path

from dispatch import clock, git, gitargs, operations, output
from dispatch.config import Config
from dispatch.errors import DispatchError
from dispatch.handoff import Event
from dispatch.land.diff import FileChange, diff_files
from dispatch.repo import Repo
from dispatch.task import runtime
from dispatch.task.model import TaskRef, asks_nothing, get_task
from dispatch.task.record import records
from dispatch.typed import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from typing import Any

MAX_COMMITS = 10  # the default view fits a screen


class Work(NamedTuple):
    """A task as landing sees it: its plan, its tip, and its base resolved to a commit now."""

    task: TaskRef
    tip: str
    title: str
    description: str
    items: list[tuple[str, str]]  # (mark, text)
    questions_text: str | None
    base: str  # as the plan names it: usually a branch
    base_sha: str
    after: tuple[str, ...] = ()  # the tasks it was queued after (`new --after`)
    stacked_on: str | None = None  # the merge of their work it started from

    @property
    def id(self) -> str:
        return self.task.id

    @property
    def worktree(self) -> Path | None:
        return self.task.worktree.path if self.task.worktree_exists and self.task.worktree else None


def load_work(repo: Repo, cfg: Config, task_id: str, *, into: str | None = None, task: TaskRef | None = None) -> Work:
    """The task as landing and review see it; INTO stands in for a base the plan no longer names.

    TASK is the task as a listing of them just found it, saving a second listing."""
    task = task or get_task(repo, cfg, task_id)
    if task.worktree is None:
        # Mid-rebase a worktree's HEAD is detached, so git lists it under no branch.
        trees = git.worktrees(repo.root)
        rebasing = (w for w in trees if w.branch is None and operations.rebasing_branch(w.path) == task.branch)
        task = task._replace(worktree=next(rebasing, None))
    if task.tip is None:
        raise DispatchError(f"branch of `{task_id}` is missing: `dispatch doctor` says how to repair it")
    record = records(repo, [task])[0]
    plan, questions_text = record.plan, record.questions_text
    if record.plan_text is None:
        raise DispatchError(f"task `{task_id}` has no .dispatch/PLAN.md: `dispatch doctor` says how to repair it")
    if plan is None:
        raise DispatchError(f"{task_id}: .dispatch/PLAN.md: {record.plan_error}: fix the file by hand")
    base = record.base or ""
    base_sha = record.base_sha
    if not base and not record.base_commit:
        if into is None:
            raise DispatchError(
                f"the plan of `{task_id}` names no base (its front matter is unreadable): land it with "
                "`--into BRANCH`; `dispatch doctor` says how to repair the plan"
            )
        base, base_sha = into, git.resolve_base(repo.root, into)
    if not base or base_sha is None:
        raise DispatchError(f"the base `{base}` of `{task_id}` is gone: name a branch with `--into`/`--onto`")
    items = [(i.mark, i.text) for i in plan.items]
    listed = plan.meta.get("after")
    after = tuple(str(a) for a in listed) if isinstance(listed, list) else ()
    stacked = str(plan.meta["stacked_on"]) if plan.meta.get("stacked_on") else None
    title = plan.title or task_id
    return Work(task, task.tip.sha, title, plan.description, items, questions_text, base, base_sha, after, stacked)


class Review(NamedTuple):
    id: str
    title: str
    branch: git.BranchName
    base: str
    merge_base: str
    tip: str
    items: list[dict[str, str]]
    commits: list[dict[str, Any]]
    answered: list[dict[str, Any]]
    uncommitted: int
    files: list[FileChange]
    usage: dict[str, Any] | None = None  # the workers' wall time, cost and tokens (see dispatch.usage.totals)

    def to_json(self) -> dict[str, Any]:
        data = self._asdict()
        data["files"] = [f.rendered or f.to_json() for f in self.files]
        return data


def review(repo: Repo, cfg: Config, task_id: str, *, task: TaskRef | None = None, json: bool = False) -> Review:
    """TASK: as in `load_work`; JSON: the files' JSON made as git writes the diff (for `Review.to_json`)."""
    work = load_work(repo, cfg, task_id, task=task)
    # A task queued after others started from their work: show only its own.
    stacked = work.stacked_on if work.stacked_on and git.is_ancestor(repo.root, work.stacked_on, work.tip) else None
    # The diff, the largest git process here, runs while the rest is asked; from the merge base with the base
    # as `BASE...TIP` names it (git finds the very one `merge-base BASE TIP` names, the first of several).
    diff = _Background(partial(diff_files, each=_render if json else None),
                       repo.root, *((stacked, work.tip) if stacked else (f"{work.base_sha}...{work.tip}",)))
    merge_base = stacked or git.out(["merge-base", work.base_sha, work.tip], cwd=repo.root)
    log = git.out([*gitargs.LOG, f"{merge_base}..{work.tip}"], cwd=repo.root)
    commits = [dict(zip(("sha", "time", "subject"), line.split("\0", 2), strict=True)) for line in log.splitlines()]
    answered = []
    if not asks_nothing(work.questions_text):
        from dispatch.task.questions import parse_questions

        answered = [
            {"number": q.number, "question": q.text, "answer": q.answer}
            for q in parse_questions(work.questions_text or "").questions if q.answer is not None
        ]
    uncommitted = len(git.status_porcelain(work.worktree)) if work.worktree else 0
    return Review(
        id=work.id, title=work.title, branch=work.task.branch_name, base=work.base,
        merge_base=merge_base, tip=work.tip, items=[{"mark": m, "text": t} for m, t in work.items],
        commits=[{**c, "time": clock.iso(int(c["time"]))} for c in commits], answered=answered,
        uncommitted=uncommitted, files=diff.result(), usage=(runtime.worker_facts(repo, work.id) or {}).get("usage"),
    )


def _render(change: FileChange) -> None:
    change.rendered = output.Rendered(change.to_json())


class _Background:
    """FUNCTION(*ARGS) in a thread of its own; `result` waits for it, and raises what it raised. (A bare
    _thread: importing threading for it cost the command a millisecond.)"""

    def __init__(self, function: Callable[..., list[FileChange]], *args: Any) -> None:
        self._value: list[FileChange] = []
        self._error: BaseException | None = None
        self._ended = Event()
        _thread.start_new_thread(self._run, (partial(function, *args),))

    def _run(self, call: Callable[[], list[FileChange]]) -> None:
        try:
            self._value = call()
        except BaseException as e:  # noqa: BLE001 - handed to the caller's thread, which raises it
            self._error = e
        finally:
            self._ended.set()

    def result(self) -> list[FileChange]:
        self._ended.wait()
        if self._error is not None:
            raise self._error
        return self._value


# --- Rendering: plain text for people; the CLI decides colour ---

_MARK = {" ": "[ ]", "x": "[x]", "X": "[x]", "?": "[?]", "!": "[!]"}


def render(r: Review, *, mode: str, color: bool) -> str:
    """MODE is "summary" (the default: summary and stat), "stat", "files" or "patch" (everything)."""
    if mode == "files":
        return "\n".join(f.path for f in r.files)
    if mode == "stat":
        return "\n".join(_stat(r.files, indent=""))
    done = sum(1 for i in r.items if i["mark"] in "xX")
    lines = [f"{r.id} — {r.title}" if r.title else r.id]
    lines.append(f"  {r.branch}: {_n(len(r.commits), 'commit')} of its own since it left {r.base} at {r.merge_base[:7]}, "
                 f"plan {done}/{len(r.items)} done")
    if r.usage is not None:


        lines.append(f"  workers: {output.usage_text(r.usage['seconds'], r.usage['cost_usd'], r.usage['tokens'])}")
    if r.uncommitted:
        lines.append(f"  {_n(r.uncommitted, 'uncommitted file')} in the worktree, not reviewed here")
    if r.items:
        lines += ["", "Checklist"] + [f"  {_MARK.get(i['mark'], '[ ]')} {i['text']}" for i in r.items]
    if r.commits:
        lines += ["", "Commits"] + [f"  {c['sha'][:7]}  {c['subject']}" for c in r.commits[:MAX_COMMITS]]
        if len(r.commits) > MAX_COMMITS:
            lines.append(f"  … {len(r.commits) - MAX_COMMITS} more (`dispatch show {r.id}` lists them all)")
    if r.answered:
        lines += ["", "Answered questions"]
        for q in r.answered:
            lines += [f"  Q{q['number']} {output.first_line(q['question'])}", f"     → {output.first_line(q['answer'])}"]
    lines += ["", "Files" + (f" ({_totals(r.files)})" if r.files else ": no changes outside .dispatch/")]
    lines += _stat(r.files, indent="  ")
    if mode == "patch" and r.files:
        lines += ["", _patch(r.files, color=color).rstrip("\n")]
    return "\n".join(lines)


def _stat(files: list[FileChange], *, indent: str) -> list[str]:
    names = [f"{f.old_path} -> {f.path}" if f.old_path else f.path for f in files]
    width = max((len(n) for n in names), default=0)
    rows = []
    for f, name in zip(files, names, strict=True):
        counts = "binary" if f.binary else f"+{f.added} -{f.removed}"
        mode = f", mode {f.old_mode} -> {f.new_mode}" if f.status == "M" and f.old_mode != f.new_mode else ""
        rows.append(f"{indent}{f.status}  {name.ljust(width)}  {counts}{mode}")
    return rows


def _totals(files: list[FileChange]) -> str:
    added, removed = sum(f.added for f in files), sum(f.removed for f in files)
    return f"{_n(len(files), 'file')} changed, +{added} -{removed}"


_COLORS = {"+": "\x1b[32m", "-": "\x1b[31m", "@": "\x1b[36m"}
_BOLD, _RESET = "\x1b[1m", "\x1b[0m"


def _patch(files: list[FileChange], *, color: bool) -> str:
    text = "".join(f.patch for f in files)
    if not color:
        return text
    out, in_header = [], True
    for line in text.removesuffix("\n").split("\n"):  # not splitlines: a \r or a form feed in a line is content
        if line.startswith("diff --git "):
            in_header = True
        elif line.startswith("@@"):
            in_header = False
        start = _BOLD if in_header else _COLORS.get(line[:1], "")
        out.append(f"{start}{line}{_RESET}" if start else line)
    return "\n".join(out) + "\n"


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"
