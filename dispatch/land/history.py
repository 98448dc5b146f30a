"""A task's own history: its commits copied without `.dispatch/`, as objects, for landing.

Every strategy but squash lands commits of the task itself. The task files never reach the base,
and neither does their bookkeeping: each commit is copied with `.dispatch/` left out of its tree
(author, committer and message kept), and a commit that touched nothing else is dropped, so
`git log BASE -- .dispatch` stays empty. Only objects are written; no ref moves.
"""

from __future__ import annotations

from dispatch import git, objects
from dispatch.repo import Repo
from dispatch.task.model import TASK_FILES

KEPT_HEADERS = ("author", "committer", "encoding")  # a signature would no longer match: it goes


def own_history(repo: Repo, tip: str, since: str) -> str:
    """The commits of TIP that SINCE does not have, copied without the task files; the new tip.

    SINCE itself when nothing but task files was ever committed there.
    """
    rows = [line.split() for line in git.out(
        ["rev-list", "--reverse", "--topo-order", "--parents", tip, f"^{since}"], cwd=repo.root
    ).splitlines()]
    copies: dict[str, str] = {}
    trees: dict[str, str] = {}
    for sha, *parents in rows:
        new_parents = list(dict.fromkeys(copies.get(p, p) for p in parents))
        tree = objects.tree_without(repo.root, sha, TASK_FILES)
        if len(new_parents) == 1 and tree == _tree(repo, new_parents[0], trees):
            copies[sha] = new_parents[0]  # it only touched the task files
            continue
        copies[sha] = git.out(["hash-object", "-t", "commit", "-w", "--stdin"], cwd=repo.root,
                              input=_copy(git.run(["cat-file", "commit", sha], cwd=repo.root).stdout, tree, new_parents))
        trees[copies[sha]] = tree
    head = git.out(["rev-parse", tip], cwd=repo.root)
    return copies.get(head, head)


def _tree(repo: Repo, commit: str, known: dict[str, str]) -> str:
    if commit not in known:
        known[commit] = git.out(["rev-parse", f"{commit}^{{tree}}"], cwd=repo.root)
    return known[commit]


def _copy(raw: str, tree: str, parents: list[str]) -> str:
    """The raw commit RAW on TREE and PARENTS, its author, committer, encoding and message as they were."""
    head, _, message = raw.partition("\n\n")
    kept, keep = [], False
    for line in head.split("\n"):
        if not line.startswith(" "):  # a header; lines starting with a space continue the one before
            keep = line.split(" ", 1)[0] in KEPT_HEADERS
        if keep:
            kept.append(line)
    lines = [f"tree {tree}", *(f"parent {p}" for p in parents), *kept]
    return "\n".join(lines) + "\n\n" + message
