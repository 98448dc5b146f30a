"""The git command lines the hot commands begin with, and the environment every git of ours runs in: one
place for the prefetch thread (dispatch.prefetch), which asks them before anything else loads, and the
code that asks them again and takes its answers only when the very same line was asked. Imports only os."""

from __future__ import annotations

import os

TYPE_CHECKING = False  # (not dispatch.typed's: this loads before anything)
if TYPE_CHECKING:
    from collections.abc import Sequence

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
RESOLVE = ("cat-file", "--batch-check=%(objectname) %(objecttype)")  # names on stdin, each `NAME^{commit}`
LOG = ("log", "--format=%H%x00%ct%x00%s")  # review's commits, then `MERGE_BASE..TIP`
DIFF = ("-c", "core.quotePath=false", "-c", "diff.suppressBlankEmpty=false", "diff", "--no-color", "--no-ext-diff",
        "--no-textconv", "-M", "--src-prefix=a/", "--dst-prefix=b/")  # then OLD NEW -- WITHOUT_TASK_FILES
TASK_FILES = ".dispatch"  # a task's own files: never reviewed, never landed
PLAN = f"{TASK_FILES}/PLAN.md"
WITHOUT_TASK_FILES = (".", f":(exclude){TASK_FILES}")  # pathspec: the task's own work
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


def resolve_input(specs: Sequence[str]) -> str:
    """RESOLVE's input: the commit each of SPECS names."""
    return "".join(f"{s}^{{commit}}\n" for s in specs)


def resolved(specs: Sequence[str], answer: str) -> dict[str, str | None]:
    """The commit each of SPECS names in RESOLVE's ANSWER to `resolve_input(SPECS)` (None: it names none)."""
    result: dict[str, str | None] = {}
    for spec, line in zip(specs, answer.splitlines(), strict=True):
        sha, _, kind = line.rpartition(" ")
        result[spec] = sha if kind == "commit" else None
    return result


def base_specs(names: Sequence[str]) -> list[str]:
    """What RESOLVE is asked for base NAMES: each as a branch first (`rel` is `refs/heads/rel` even beside a
    tag `rel`), then as git reads it; `base_commits` reads the answer."""
    return [spec for name in names for spec in (f"refs/heads/{name}", name)]


def base_commits(names: Sequence[str], found: dict[str, str | None]) -> dict[str, str | None]:
    """The commit each base name stands for, from FOUND, the answer to `base_specs(NAMES)`."""
    return {name: found[f"refs/heads/{name}"] or found[name] for name in names}
