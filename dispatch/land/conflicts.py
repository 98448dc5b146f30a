"""`dispatch conflicts`: every live task against its base and every other task, and a landing order."""

from __future__ import annotations

from dispatch import git, history, objects
from dispatch.config import Config
from dispatch.land.pairs import PairCache
from dispatch.repo import Repo
from dispatch.task.mergecheck import work_conflicts
from dispatch.task.model import WITHOUT_TASK_FILES
from dispatch.typed import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from typing import Any

EXACT_LIMIT = 20  # tasks per base up to which the landing order is searched exhaustively


# --- `dispatch conflicts`: every pair, and the landing order ---


class TaskConflicts(NamedTuple):
    id: str
    base: str
    added: int
    removed: int
    base_conflicts: list[str]  # files that conflict with the base now


class PairConflict(NamedTuple):
    tasks: tuple[str, str]
    files: list[str]


class Radar(NamedTuple):
    tasks: list[TaskConflicts]
    pairs: list[PairConflict]
    order: dict[str, list[str]]  # per base: land these, in this order, without a conflict
    later: dict[str, list[str]]  # per base: these need a rebase (and a resolution) first

    def to_json(self) -> dict[str, Any]:
        return {
            "tasks": [t._asdict() for t in self.tasks],
            "pairs": [{"tasks": list(p.tasks), "files": p.files} for p in self.pairs],
            "order": self.order,
            "later": self.later,
        }


def radar(repo: Repo, cfg: Config) -> Radar:
    """Every live, unmerged task against its base and against every other task on the same base."""
    from dispatch.task.status import collect

    # Which tasks are merged, not what is uncommitted in their worktrees: no `git status` in each.
    statuses = [s for s in collect(repo, cfg, dirty=False) if s.state != "merged" and s.last_commit and s.base]
    resolved = git.resolve_bases(repo.root, sorted({s.base for s in statuses if s.base}))
    tips: dict[str, str] = {}  # task -> tip
    against: dict[str, str] = {}  # task -> its base's commit now
    base_of: dict[str, str] = {}  # task -> base name
    for s in statuses:
        base_sha = resolved.get(s.base or "") or s.base_commit
        if s.base and s.last_commit and base_sha:
            tips[s.id], against[s.id], base_of[s.id] = s.last_commit["sha"], base_sha, s.base
    groups = {base: [i for i in tips if base_of[i] == base] for base in sorted(set(base_of.values()))}
    pairs = [(a, b) for ids in groups.values() for n, a in enumerate(ids) for b in ids[n + 1 :]]
    kept = PairCache(repo)
    merges = kept.get("conflicts", [(against[i], tips[i]) for i in tips] + [(tips[a], tips[b]) for a, b in pairs],
                      lambda todo: [work_conflicts(m.conflicts) for m in objects.merge_trees(repo.root, todo)])
    sizes = kept.get("sizes", [(against[i], tips[i]) for i in tips], lambda todo: [list(n) for n in _sizes(repo, todo)])
    kept.save()
    tasks = [TaskConflicts(i, base_of[i], sizes[n][0], sizes[n][1], merges[n]) for n, i in enumerate(tips)]
    found = [PairConflict(p, files) for p, files in zip(pairs, merges[len(tips) :], strict=True)]
    found = [p for p in found if p.files]
    order: dict[str, list[str]] = {}
    later: dict[str, list[str]] = {}
    for base, ids in groups.items():
        mine = [t for t in tasks if t.base == base]
        order[base], later[base] = landing_order(mine, [p.tasks for p in found if p.tasks[0] in ids])
    return Radar(tasks, found, order, later)


def _sizes(repo: Repo, pairs: list[tuple[str, str]]) -> list[tuple[int, int]]:
    """Lines each (BASE, TIP) task added and removed since its merge base (`diff base...tip`), task files
    left out and a binary file counted one line, so it still counts as work: in four git processes for all."""
    forks = history.histories(repo.root, [(tip, base) for base, tip in pairs])
    return history.numstats(repo.root, [(h.merge_base or base, tip) for h, (base, tip) in zip(forks, pairs, strict=True)],
                        WITHOUT_TASK_FILES)


def landing_order(tasks: list[TaskConflicts], conflicting: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """The tasks to land now, in order, and those that must be rebased first.

    Tasks that conflict with their base cannot land as they are. Among the others, we want the
    set with no conflicting pair that carries the most work (lines added + removed): a maximum-
    weight independent set of the conflict graph, searched exactly up to EXACT_LIMIT tasks (by
    branching on the task with the most conflicts) and greedily beyond. The chosen tasks land
    biggest first (they merge with each other, so the order only decides who goes first); the
    rest follow, biggest first, each after a rebase onto what has landed.
    """
    weight = {t.id: t.added + t.removed for t in tasks}
    ready = sorted((t.id for t in tasks if not t.base_conflicts), key=lambda i: (-weight[i], i))
    edges = {i: set() for i in ready}  # type: dict[str, set[str]]
    for a, b in conflicting:
        if a in edges and b in edges:
            edges[a].add(b)
            edges[b].add(a)
    chosen = _best_set(ready, edges, weight) if len(ready) <= EXACT_LIMIT else _greedy_set(ready, edges, weight)
    now = [i for i in ready if i in chosen]
    rest = sorted((t.id for t in tasks if t.id not in chosen), key=lambda i: (-weight[i], i))
    return now, rest


def _best_set(ids: list[str], edges: dict[str, set[str]], weight: dict[str, int]) -> set[str]:
    def score(chosen: frozenset[str]) -> tuple[int, int, list[str]]:
        # Least is best: most work, then most tasks, then the first ids, for a stable answer.
        return -sum(weight[i] for i in chosen), -len(chosen), sorted(chosen)

    def best(left: frozenset[str]) -> frozenset[str]:
        free = frozenset(i for i in left if not edges[i] & left)
        busy = left - free
        if not busy:
            return free
        pivot = min(busy, key=lambda i: (-len(edges[i] & busy), i))
        take = best(busy - edges[pivot] - {pivot}) | {pivot}
        return min(take, best(busy - {pivot}), key=score) | free

    return set(best(frozenset(ids)))


def _greedy_set(ids: list[str], edges: dict[str, set[str]], weight: dict[str, int]) -> set[str]:
    chosen: set[str] = set()
    for i in sorted(ids, key=lambda i: (-weight[i] / (1 + len(edges[i])), i)):
        if not edges[i] & chosen:
            chosen.add(i)
    return chosen


def render(r: Radar) -> str:
    if not r.tasks:
        return "no unmerged tasks to compare"
    lines = []
    for t in r.tasks:
        if t.base_conflicts:
            lines.append(f"{t.id} conflicts with {t.base} in {', '.join(t.base_conflicts)}")
    for p in r.pairs:
        lines.append(f"{p.tasks[0]} and {p.tasks[1]} conflict in {', '.join(p.files)}")
    if not lines:
        lines.append("no conflicts: every task merges cleanly into its base and with every other task")
    size = {t.id: f"+{t.added} -{t.removed}" for t in r.tasks}
    width = max(len(t.id) for t in r.tasks)
    for base in sorted(r.order):
        now, later = r.order[base], r.later[base]
        lines += ["", f"land on {base} in this order ({len(now)} of {len(now) + len(later)} tasks without a conflict):"]
        lines += [f"  {n}. {i.ljust(width)}  {size[i]}" for n, i in enumerate(now, 1)]
        if later:
            lines.append("then rebase each onto what has landed, resolve, and land:")
            lines += [f"  {i.ljust(width)}  {size[i]}  `dispatch rebase {i} --leave`" for i in later]
    return "\n".join(lines)
