"""Tasks: what they are in git (a branch and its worktree), finding them, and the files they hold.

task/create.py makes one; task/notes.py writes the dispatcher's notes."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from dispatch import git, gitargs, operations
from dispatch.config import Config
from dispatch.errors import DispatchError
from dispatch.repo import Repo
from dispatch.task.ids import nearest, validate_id
from dispatch.typed import NamedTuple

# (defined beside the git commands started before this module loads: dispatch.gitargs)
PLAN = gitargs.PLAN
TASK_FILES = gitargs.TASK_FILES  # never reviewed, never landed
WITHOUT_TASK_FILES = gitargs.WITHOUT_TASK_FILES  # pathspec: the task's own work
QUESTIONS = ".dispatch/QUESTIONS.md"
NOTES = ".dispatch/NOTES.md"  # only dispatch writes it, the worker only reads it
TRASH_PREFIX = "refs/dispatch/trash/"
REFINE_ITEM = "Read the task and the code, then replace this item with a concrete checklist and commit it"


def asks_nothing(questions_text: str | None) -> bool:
    """QUESTIONS.md holds no question: each begins with a `##` heading (dispatch.task.questions), so a
    text without one is no reason to load that module and its patterns."""
    return questions_text is None or "##" not in questions_text


class TaskRef(NamedTuple):
    """Where a task lives in git: its branch and its worktree (either may be missing)."""

    id: str
    branch: git.RefName
    tip: git.Ref | None
    worktree: git.Worktree | None
    # Its worktree (found by its folder) has another branch, or a detached HEAD, checked out: a worker switched.
    switched: bool = False

    @property
    def branch_name(self) -> git.BranchName:
        return git.branch_name(self.branch)

    @property
    def worktree_exists(self) -> bool:
        return self.worktree is not None and self.worktree.path.is_dir()

    def off_branch(self) -> str | None:
        """What the worktree has checked out instead of the task's branch, in words; None when it is on it."""
        if not self.switched or self.worktree is None:
            return None
        if self.worktree.branch is not None:
            return f"branch {git.branch_name(self.worktree.branch)}"
        return f"a detached HEAD at {(self.worktree.head or 'no commit')[:7]}"


def refuse_switched(task: TaskRef, action: str) -> None:
    """Work in a worktree that has another branch checked out would land, rebase or continue the wrong commits."""
    off = task.off_branch()
    if off is not None and task.worktree is not None:
        raise DispatchError(
            f"the worktree of `{task.id}` ({task.worktree.path}) has {off} checked out, not "
            f"{task.branch_name}: `dispatch doctor` says how to bring it back, then {action}"
        )


def branch_ref(cfg: Config, task_id: str) -> git.RefName:
    return git.head_ref(f"{cfg['branch_prefix']}{task_id}")


def list_tasks(repo: Repo, cfg: Config) -> dict[str, TaskRef]:
    """Every live task, by id: one `for-each-ref` and one `worktree list`."""
    return scan_branches(repo, cfg)[0]


def scan_branches(repo: Repo, cfg: Config) -> tuple[dict[str, TaskRef], set[str]]:
    """Every live task by id, and the ids of branches under the task prefix that are not tasks.

    A branch with no worktree whose commits never held a plan (`git branch dispatch/x` by hand)
    is someone's own branch: no command may list, repair or trash it as a task."""
    prefix = f"refs/heads/{cfg['branch_prefix']}"
    tips = {r.name: r for r in git.refs(repo.root, f"{prefix}*")}
    trees = {}
    others = []
    for w in git.worktrees(repo.root)[1:] if has_linked_worktrees(repo) else []:
        # Mid-rebase a worktree's HEAD is detached: its branch is in the rebase's own files.
        branch = w.branch or (operations.rebasing_branch(w.path) if w.head else None)
        if branch and branch.startswith(prefix):
            trees[branch] = w
        else:
            others.append(w)
    # A task's folder whose worker switched it to another branch or detached its HEAD is still the task's.
    switched = {}
    if others:
        root = worktree_root(repo, cfg)
        for w in others:
            ref = f"{prefix}{w.path.name}"
            if w.path.parent == root and ref in tips and ref not in trees and not w.prunable:
                switched[ref] = w
    foreign = _never_planned(repo, {ref: tips[ref].sha for ref in tips if ref not in trees and ref not in switched})
    tasks = {}
    for ref in sorted(set(tips) | set(trees)):
        task_id = ref.removeprefix(prefix)
        if not ref.startswith(prefix) or not task_id or ref in foreign:
            continue
        tree = trees.get(ref) or switched.get(ref)
        tasks[task_id] = TaskRef(task_id, ref, tips.get(ref), tree, switched=ref in switched)
    return tasks, {ref.removeprefix(prefix) for ref in foreign}


def has_linked_worktrees(repo: Repo) -> bool:
    """Whether git keeps any worktree besides the main one: without, `git worktree list` is not asked."""
    try:
        with os.scandir(repo.common_dir / "worktrees") as entries:
            return any(True for _ in entries)
    except (FileNotFoundError, NotADirectoryError):
        return False


def _never_planned(repo: Repo, tips: dict[str, str]) -> set[str]:
    """Those of these branches (ref: tip) whose tip and reflog hold no plan: one `cat-file` for all, if any."""
    if not tips:
        return set()
    specs = {ref: [tip] for ref, tip in tips.items()}
    for ref in tips:
        try:
            log = (repo.common_dir / "logs" / ref).read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        specs[ref] += [line.split(" ")[1] for line in log if len(line.split(" ")) > 1]
    asked = list(dict.fromkeys(sha for shas in specs.values() for sha in shas))
    answer = git.run(["cat-file", "--batch-check=%(objecttype)"], cwd=repo.root,
                     input="".join(f"{sha}:{PLAN}\n" for sha in asked)).stdout.splitlines()
    planned = {sha for sha, kind in zip(asked, answer, strict=False) if kind == "blob"}
    return {ref for ref, shas in specs.items() if not planned.intersection(shas)}


def get_task(repo: Repo, cfg: Config, task_id: str) -> TaskRef:
    tasks, foreign = scan_branches(repo, cfg)
    task = tasks.get(task_id)
    if task is None:
        if task_id in foreign:
            raise DispatchError(
                f"no task `{task_id}`: branch {git.branch_name(branch_ref(cfg, task_id))} holds no {PLAN}, so it is "
                "not a task but a branch of its own, and dispatch leaves it alone"
            )
        raise no_such_task(repo, task_id, tasks)
    return task


def no_such_task(repo: Repo, task_id: str, live: Iterable[str]) -> DispatchError:
    """One line for an id that names no live task, with the way on: its trash entry, or the
    nearest id, live or trashed, when the id looks mistyped."""
    live, trashed = set(live), trashed_ids(repo)
    if task_id in trashed:
        return DispatchError(f"no task `{task_id}`: it is in the trash; `dispatch restore {task_id}` brings it back")
    guess = nearest(task_id, live | trashed)
    try:
        validate_id(task_id)
    except DispatchError as invalid:
        if guess is None:
            return invalid
        return DispatchError(f"invalid task id {task_id!r}: {_did_you_mean(guess, live)}")
    if guess is None:
        return DispatchError(f"no task `{task_id}`: `dispatch status` lists the tasks")
    return DispatchError(f"no task `{task_id}`: {_did_you_mean(guess, live)}")


def _did_you_mean(guess: str, live: set[str]) -> str:
    if guess in live:
        return f"did you mean `{guess}`?"
    return f"did you mean `{guess}`, in the trash? `dispatch restore {guess}` brings it back"


def trashed_ids(repo: Repo) -> set[str]:
    return {r.name.removeprefix(TRASH_PREFIX) for r in git.refs(repo.root, f"{TRASH_PREFIX}*")}


def worktree_root(repo: Repo, cfg: Config) -> Path:
    configured = cfg["worktree_root"]
    if configured:
        root = Path(os.path.expanduser(configured))
        # normpath, as git itself records the path: status and new must name the same folder.
        return Path(os.path.normpath(root if root.is_absolute() else repo.root / root))
    return repo.root.parent / f"{repo.root.name}.dispatch"


def default_base(repo: Repo) -> str:
    """The branch checked out in the main worktree (its HEAD alone: no listing of every worktree)."""
    branch = git.run(["symbolic-ref", "--quiet", "HEAD"], cwd=repo.root, check=False).stdout.strip()
    if not branch:
        raise DispatchError(
            f"the main worktree {repo.root} has a detached HEAD: name the base with `--base BRANCH`"
        )
    return git.branch_name(branch)


def read_plan_file(path: Path):  # type: ignore[no-untyped-def]
    from dispatch.task.plan import PlanError, parse_plan

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DispatchError(f"{path} is missing: `dispatch doctor` says how to repair the task") from None
    try:
        return parse_plan(text)
    except PlanError as e:
        where = f" line {e.line}" if e.line else ""
        raise DispatchError(f"{path}{where}: {e}: fix the file by hand") from None


def save_uncommitted(worktree: Path, exit_code: int) -> str | None:
    """Commit whatever the worker left uncommitted, so nothing it wrote is lost (None: nothing to save,
    or a rebase, merge, cherry-pick or revert in progress owns the changes)."""
    if not git.status_porcelain(worktree):
        return None
    if operations.in_progress(worktree):
        return None  # a person's rebase or merge owns those changes
    git.run(["add", "-A"], cwd=worktree)
    if git.ok(["diff", "--cached", "--quiet"], cwd=worktree):
        return None  # the index only lagged behind the branch (a QUESTIONS.md committed from objects)
    git.run(["commit", "--quiet", "--no-verify", "--no-gpg-sign", "-m",
             f"dispatch: save uncommitted work (worker exit {exit_code})"], cwd=worktree)
    return git.out(["rev-parse", "HEAD"], cwd=worktree)


def strip_task_files(repo: Repo, commit: str, task_id: str) -> str:
    """COMMIT plus a last commit that removes .dispatch/ (an object only; no ref moves)."""
    from dispatch import objects  # (here: no other task reader needs it)

    return objects.commit_without(repo.root, commit, TASK_FILES, f"dispatch: remove the task files of {task_id}\n")
