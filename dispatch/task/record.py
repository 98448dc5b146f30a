"""The task record: what git and a task's files say about it, loaded once for every task a command reads.

Every reader (status, show, review, group, the scheduler) starts here, so a task's files are read
one way (the worktree's copy, else the branch tip's) and its base is resolved one way (a branch to
land on: `git.resolve_bases`, one batched call for all tasks).
"""

from __future__ import annotations

from pathlib import Path

from dispatch import files, git, jsontext
from dispatch.config import Config
from dispatch.repo import Repo
from dispatch.task.model import PLAN, QUESTIONS, TaskRef, get_task, list_tasks, no_such_task
from dispatch.task.plan import Plan, PlanError, parse_plan
from dispatch.typed import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from typing import Any

NO_BASE = "has no front matter naming its base"


class Task(NamedTuple):
    """One task: its refs, its task files as the worker sees them, its parsed plan, its base resolved."""

    ref: TaskRef
    plan_text: str | None
    questions_text: str | None
    plan: Plan | None
    plan_error: PlanError | None  # why PLAN.md did not parse (None: it did, or it is missing)
    base_sha: str | None  # the base branch's tip now, else the commit the task started from (None: both gone)

    @property
    def id(self) -> str:
        return self.ref.id

    @property
    def meta(self) -> dict[str, Any]:
        return self.plan.meta if self.plan is not None else {}

    @property
    def base(self) -> str | None:
        return _text(self.meta.get("base"))

    @property
    def base_commit(self) -> str | None:
        return _text(self.meta.get("base_commit"))

    @property
    def group(self) -> str | None:
        return _text(self.meta.get("group"))

    @property
    def plan_problem(self) -> str | None:
        """Why the plan cannot be read, in status's words (None: it reads)."""
        if self.plan_text is None:
            return f"{PLAN} is missing"
        if self.plan_error is not None:
            where = f" line {self.plan_error.line}" if self.plan_error.line else ""
            return f"{PLAN}{where}: {self.plan_error}"
        if self.baseless:
            return f"{PLAN} {NO_BASE}: `dispatch doctor` says how to repair it"
        return None

    @property
    def baseless(self) -> bool:
        """A plan whose front matter names no base (a worker rewrote the file, as binary say): nothing to go by."""
        return self.plan is not None and not (self.base or self.base_commit)


def load(repo: Repo, cfg: Config, ids: list[str] | None = None) -> list[Task]:
    """The records of IDS (every live task when empty), in a fixed number of git calls."""
    return select(repo, list_tasks(repo, cfg), ids)


def select(repo: Repo, live: dict[str, TaskRef], ids: list[str] | None) -> list[Task]:
    """The records of IDS among LIVE (all of them when empty)."""
    if ids:
        unknown = [i for i in ids if i not in live]
        if unknown:
            raise no_such_task(repo, unknown[0], live)
        return records(repo, [live[i] for i in ids])
    return records(repo, list(live.values()))


def load_one(repo: Repo, cfg: Config, task_id: str, live: dict[str, TaskRef] | None = None) -> Task:
    """The record of one task, or the one-line error that names the way on (restore, status)."""
    ref = live.get(task_id) if live is not None else None
    return records(repo, [ref or get_task(repo, cfg, task_id)])[0]


def records(repo: Repo, refs: list[TaskRef]) -> list[Task]:
    texts = read_texts(repo, refs)
    known = _known_front_matter(repo)
    size = len(known)
    plans = {ref.id: _parse(texts[ref.id][0], known) for ref in refs}
    if len(known) != size:
        _keep_front_matter(repo, known, len(refs))
    bases = {ref.id: _base_names(plans[ref.id][0]) for ref in refs}
    # The base branches in one batch (the same few names, however many tasks); the recorded start commit
    # only of a task whose branch is gone (a commit that is gone too resolves to None).
    names = sorted({base for base, _ in bases.values() if base})
    resolved = git.resolve_bases(repo.root, names)
    lost = sorted({commit for base, commit in bases.values() if commit and not resolved.get(base or "")} - set(resolved))
    resolved.update(git.resolve_bases(repo.root, lost))  # (none lost: no process)
    return [
        Task(ref, *texts[ref.id], *plans[ref.id],
             base_sha=resolved.get(bases[ref.id][0] or "") or resolved.get(bases[ref.id][1] or ""))
        for ref in refs
    ]


def read_texts(repo: Repo, refs: list[TaskRef]) -> dict[str, tuple[str | None, str | None]]:
    """PLAN.md and QUESTIONS.md of each task as its worker sees them: from the worktree, else the branch
    tip (one `cat-file --batch` for all of those)."""
    texts: dict[str, tuple[str | None, str | None]] = {}
    # A worktree switched to another branch holds another branch's files: the task's are at its tip.
    in_tree = {r.id for r in refs if r.worktree_exists and r.worktree is not None and not r.switched}
    from_git = [r for r in refs if r.id not in in_tree and r.tip is not None]
    blobs = git.read_blobs(repo.root, [f"{r.tip.sha}:{n}" for r in from_git if r.tip for n in (PLAN, QUESTIONS)]) \
        if from_git else {}
    for ref in refs:
        if ref.id in in_tree and ref.worktree is not None:
            texts[ref.id] = (_read(ref.worktree.path / PLAN), _read(ref.worktree.path / QUESTIONS))
        elif ref.tip is not None:
            texts[ref.id] = (blobs.get(f"{ref.tip.sha}:{PLAN}"), blobs.get(f"{ref.tip.sha}:{QUESTIONS}"))
        else:
            texts[ref.id] = (None, None)
    return texts


_FRONT_MATTER = "front-matter.json"  # in the state folder: plans' front matter as read before (a cache)
_KEEP_OTHERS = 256  # entries kept beyond those of the plans just read


def _known_front_matter(repo: Repo) -> dict[str, str]:
    """Front matter read by an earlier run, and its data as JSON: most plans' never changes after `new`,
    and reading them again (and importing yaml to do it) was a good part of a `status`."""
    try:
        data = jsontext.loads((repo.state_dir / _FRONT_MATTER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    known = data.get("known") if isinstance(data, dict) and data.get("version") == 1 else None
    if not isinstance(known, dict) or not all(isinstance(v, str) for v in known.values()):
        return {}
    return known


def _keep_front_matter(repo: Repo, known: dict[str, str], used: int) -> None:
    """Write KNOWN back: the USED entries last read are last in it (parse_plan moves them there), and a
    few hundred others are kept before them."""
    import json

    kept = dict(list(known.items())[-(used + _KEEP_OTHERS):])
    try:  # a cache: status is a reading command (no lock), and a full disk costs only a parse
        files.write_atomic(repo.state_dir / _FRONT_MATTER, json.dumps({"version": 1, "known": kept}))
    except OSError:
        pass


def _parse(text: str | None, known: dict[str, str] | None = None) -> tuple[Plan | None, PlanError | None]:
    """The plan, or why not."""
    if text is None:
        return None, None
    try:
        plan = parse_plan(text, known)
    except PlanError as e:
        return None, e
    return plan, None


def _base_names(plan: Plan | None) -> tuple[str | None, str | None]:
    meta = plan.meta if plan is not None else {}
    return _text(meta.get("base")), _text(meta.get("base_commit"))


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None


def _text(value: object) -> str | None:
    return None if value is None else str(value)
