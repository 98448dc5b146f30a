"""Conflicts found early: `conflicts` (every pair, each against base, a landing order) and the mark in `status`."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from conftest import dispatch, git

from dispatch.land.conflicts import EXACT_LIMIT, TaskConflicts, landing_order


def _task(repo: Path, title: str, files: dict[str, str]) -> Path:
    r = dispatch("new", title, "--no-start", "--json", cwd=repo)
    assert r.code == 0, r.err
    wt = Path(json.loads(r.out)["task"]["worktree"])
    for path, text in files.items():
        (wt / path).write_text(text)
    git(wt, "add", "-A")
    git(wt, "commit", "-qm", f"work on {title.lower()}")
    return wt


def test_conflicts_between_three_tasks_of_which_two_overlap(repo: Path) -> None:
    _task(repo, "Alpha", {"src/app.py": "def main():\n    return 'alpha'\n", "alpha.txt": "a\nb\nc\n"})
    _task(repo, "Beta", {"src/app.py": "def main():\n    return 'beta'\n"})
    _task(repo, "Gamma", {"gamma.txt": "g\n"})
    r = dispatch("conflicts", cwd=repo)
    assert (r.code, r.err) == (0, "")
    assert r.out == textwrap.dedent("""\
        alpha and beta conflict in src/app.py

        land on main in this order (2 of 3 tasks without a conflict):
          1. alpha  +4 -1
          2. gamma  +1 -0
        then rebase each onto what has landed, resolve, and land:
          beta   +1 -1  `dispatch rebase beta --leave`
        """)
    data = json.loads(dispatch("conflicts", "--json", cwd=repo).out)
    assert data == {
        "version": 1,
        "tasks": [
            {"id": "alpha", "base": "main", "added": 4, "removed": 1, "base_conflicts": []},
            {"id": "beta", "base": "main", "added": 1, "removed": 1, "base_conflicts": []},
            {"id": "gamma", "base": "main", "added": 1, "removed": 0, "base_conflicts": []},
        ],
        "pairs": [{"tasks": ["alpha", "beta"], "files": ["src/app.py"]}],
        "order": {"main": ["alpha", "gamma"]},
        "later": {"main": ["beta"]},
    }
    # Once alpha lands, beta conflicts with the base itself, and status marks it.
    assert dispatch("merge", "alpha", "--yes", cwd=repo).code == 0
    r = dispatch("conflicts", cwd=repo)
    assert r.out == textwrap.dedent("""\
        beta conflicts with main in src/app.py

        land on main in this order (1 of 2 tasks without a conflict):
          1. gamma  +1 -0
        then rebase each onto what has landed, resolve, and land:
          beta   +1 -1  `dispatch rebase beta --leave`
        """)
    tasks = {t["id"]: t for t in json.loads(dispatch("status", "--json", cwd=repo).out)["tasks"]}
    assert tasks["beta"]["conflicts"] == ["src/app.py"]
    assert "conflicts" not in tasks["gamma"]


def test_no_conflicts_and_no_tasks(repo: Path) -> None:
    assert dispatch("conflicts", cwd=repo).out == "no unmerged tasks to compare\n"
    _task(repo, "One", {"one.txt": "1\n"})
    _task(repo, "Two", {"two.txt": "2\n2\n"})
    assert dispatch("conflicts", cwd=repo).out == textwrap.dedent("""\
        no conflicts: every task merges cleanly into its base and with every other task

        land on main in this order (2 of 2 tasks without a conflict):
          1. two  +2 -0
          2. one  +1 -0
        """)


def test_the_status_mark_is_cached_until_the_branch_or_base_moves(repo: Path) -> None:
    wt = _task(repo, "Edit app", {"src/app.py": "def main():\n    return 2\n"})
    cache = repo / ".git" / "dispatch" / "merge-checks.json"

    def mark() -> list[str] | None:
        return json.loads(dispatch("status", "--json", cwd=repo).out)["tasks"][0].get("conflicts")

    assert mark() is None
    tip, base = git(repo, "rev-parse", "dispatch/edit-app"), git(repo, "rev-parse", "main")
    entry = json.loads(cache.read_text())["tasks"]["edit-app"]
    assert entry == {"key": [tip, base], "conflicts": [], "landed": False}
    # A planted answer for the same (tip, base) is believed: nothing was recomputed.
    cache.write_text(json.dumps({"version": 1, "tasks": {"edit-app": entry | {"conflicts": ["planted"]}}}))
    assert mark() == ["planted"]
    # The base moves: computed again, for real.
    (repo / "src" / "app.py").write_text("def main():\n    return 3\n")
    git(repo, "commit", "-qam", "main edits the same line")
    assert mark() == ["src/app.py"]
    # The branch moves (rebased and resolved): clean again.
    git(wt, "rebase", "-q", "-X", "theirs", "main")
    assert mark() is None


def _t(task_id: str, size: int, *, base_conflicts: list[str] | None = None) -> TaskConflicts:
    return TaskConflicts(task_id, "main", size, 0, base_conflicts or [])


def test_landing_order_lands_the_most_work() -> None:
    # A path a - b - c: b alone is more work than a or c, but a and c together are more.
    assert landing_order([_t("a", 5), _t("b", 8), _t("c", 5)], [("a", "b"), ("b", "c")]) == (["a", "c"], ["b"])
    # A heavy centre outweighs its light neighbours together.
    tasks = [_t("hub", 20), _t("x", 5), _t("y", 5), _t("z", 5), _t("free", 1)]
    edges = [("hub", "x"), ("hub", "y"), ("hub", "z")]
    assert landing_order(tasks, edges) == (["hub", "free"], ["x", "y", "z"])
    # A task that conflicts with its base waits whatever its size.
    assert landing_order([_t("big", 100, base_conflicts=["f"]), _t("small", 1)], []) == (["small"], ["big"])


def test_landing_order_beyond_the_exact_limit_is_greedy() -> None:
    assert EXACT_LIMIT < 25
    tasks = [_t(f"t{n:02}", n) for n in range(25)]
    edges = [(f"t{n:02}", f"t{n + 1:02}") for n in range(0, 24, 2)]  # disjoint pairs; t24 conflicts with none
    now, later = landing_order(tasks, edges)
    assert now == ["t24"] + [f"t{n:02}" for n in range(23, 0, -2)]
    assert later == [f"t{n:02}" for n in range(22, -1, -2)]
