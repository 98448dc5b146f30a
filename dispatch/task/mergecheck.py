"""Whether each task still merges cleanly into its base, cached across `status` runs by tip and base."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from dispatch import files, git, jsontext
from dispatch.repo import Repo
from dispatch.task.model import TASK_FILES, WITHOUT_TASK_FILES
from dispatch.task.record import Task
from dispatch.typed import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from typing import Any


class MergeCheck(NamedTuple):
    conflicts: list[str]  # files that would conflict with the base, task files left out
    landed: bool  # merges cleanly and changes nothing: its work is already in the base


def work_conflicts(paths: Iterable[str]) -> list[str]:
    # Two tasks always both add .dispatch/PLAN.md; that never lands, so it never conflicts.
    return [p for p in paths if p != TASK_FILES and not p.startswith(f"{TASK_FILES}/")]


def _cache_path(repo: Repo) -> Path:
    return repo.state_dir / "merge-checks.json"


def merge_checks(repo: Repo, tasks: list[Task], live: set[str]) -> dict[str, MergeCheck]:
    """Whether each task still merges cleanly into its base; recomputed only for a task whose tip or base moved."""
    wanted = {t.id: (t.ref.tip.sha, t.base_sha) for t in tasks if t.ref.tip is not None and t.base_sha}
    try:
        cache: dict[str, Any] = jsontext.loads(_cache_path(repo).read_text(encoding="utf-8")).get("tasks", {})
    except (OSError, ValueError, AttributeError):
        cache = {}
    stale = [i for i, (tip, base) in wanted.items() if (cache.get(i) or {}).get("key") != [tip, base]]
    merges, changes = _merged(repo, {i: wanted[i] for i in stale}) if stale else ({}, {})
    for task_id in stale:
        tip, base = wanted[task_id]
        conflicts = work_conflicts(merges[task_id].conflicts)
        landed = task_id in changes and not changes[task_id] and _did_work(repo, tip, base)
        cache[task_id] = {"key": [tip, base], "conflicts": conflicts, "landed": landed}
    if stale or set(cache) - live:
        _write_cache(repo, {i: c for i, c in cache.items() if i in live})
    return {i: MergeCheck(cache[i]["conflicts"], cache[i]["landed"]) for i in wanted}


def _merged(repo: Repo, stale: dict[str, tuple[str, str]]) -> tuple[dict[str, Any], dict[str, bool]]:
    """Each STALE task's tip merged into its base (one `merge-tree --stdin`), and for each clean merge whether
    it changes the base (one `diff-tree --stdin`)."""
    from dispatch import objects  # (here: a status whose tips and bases all stayed needs no merge)

    merges = dict(zip(stale, objects.merge_trees(repo.root, [(base, tip) for tip, base in stale.values()]), strict=True))
    clean = [i for i in stale if not work_conflicts(merges[i].conflicts)]
    changes = dict(zip(clean, objects.trees_differ(repo.root, [(stale[i][1], merges[i].tree) for i in clean],
                                               WITHOUT_TASK_FILES), strict=True))
    return merges, changes


def _did_work(repo: Repo, tip: str, base: str) -> bool:
    # Asked only where merging changes nothing in the base: if the task did change something, a squash
    # or a cherry-pick already brought its work in (landed). One process each, for those few tasks.
    return not git.ok(["diff", "--quiet", f"{base}...{tip}", "--", *WITHOUT_TASK_FILES], cwd=repo.root)


def _write_cache(repo: Repo, tasks: dict[str, Any]) -> None:
    # Status is a reading command: no lock, so write atomically and let a lost race cost a recompute.
    # A cache: when it cannot be written (a full disk) the next status recomputes, and this one still answers.
    import json

    try:
        files.write_atomic(_cache_path(repo), json.dumps({"version": 1, "tasks": tasks}, sort_keys=True) + "\n")
    except OSError:
        pass
