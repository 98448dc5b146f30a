"""Tasks: finding them, creating them (branch + worktree + plan commit), and dispatcher notes."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from dispatch import clock, events, git, objects, operations
from dispatch.config import Config
from dispatch.errors import DispatchError, GitError
from dispatch.faults import checkpoint
from dispatch.repo import Repo, locked
from dispatch.task.ids import nearest, slugify, unique_id, validate_id

PLAN = ".dispatch/PLAN.md"
QUESTIONS = ".dispatch/QUESTIONS.md"
NOTES = ".dispatch/NOTES.md"  # only dispatch writes it, the worker only reads it
TRASH_PREFIX = "refs/dispatch/trash/"
TASK_FILES = ".dispatch"  # never reviewed, never landed
WITHOUT_TASK_FILES = [".", f":(exclude){TASK_FILES}"]  # pathspec: the task's own work
REFINE_ITEM = "Read the task and the code, then replace this item with a concrete checklist and commit it"


@dataclass(frozen=True)
class TaskRef:
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
    for w in git.worktrees(repo.root)[1:] if _has_linked_worktrees(repo) else []:
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


def _has_linked_worktrees(repo: Repo) -> bool:
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


@dataclass(frozen=True)
class NewTask:
    id: str
    title: str
    branch: git.BranchName
    worktree: Path
    base: str
    base_commit: str
    commit: str
    model: str | None
    items: list[str]


def create_task(
    repo: Repo,
    cfg: Config,
    *,
    title: str,
    task_id: str | None,
    items: list[str],
    description: str,
    base: str | None,
    model: str | None,
    after: list[str] | None = None,
    group: str | None = None,
) -> NewTask:
    """Branch `dispatch/<id>` at base, its worktree, and the plan commit: all or nothing."""
    title = " ".join(title.split())
    if not title:
        raise DispatchError("the task title is empty: give a short description of the task")
    if task_id is not None:
        validate_id(task_id)
    base_name = base if base is not None else default_base(repo)
    base_commit = git.resolve_base(repo.root, base_name)
    if base_commit is None:
        if base is None:
            raise DispatchError(f"the repository has no commits yet: commit something to `{base_name}` first")
        raise DispatchError(f"base `{base_name}` is not a commit, branch or tag here: check `git branch -a`")
    with locked(repo, cfg["lock_timeout"]):
        task_id = choose_id(repo, cfg, title, task_id, after or [])
        path = worktree_root(repo, cfg) / task_id
        if path.exists() or path.is_symlink():
            raise DispatchError(f"worktree path {path} already exists: move it away, or set `worktree_root` in .dispatch.toml")
        ref = branch_ref(cfg, task_id)
        created = clock.iso(clock.now())
        plan_text, questions_text = render_task_files(
            task_id=task_id, title=title, base=base_name, base_commit=base_commit,
            model=model, created=created, description=description, items=items, after=after or [], group=group,
        )
        made_root = not path.parent.exists()
        try:
            # The plan commit is built as objects first, then the worktree is added at it: one checkout, no
            # commit in a fresh worktree, and never a worktree without its plan commit.
            commit = _plan_commit(repo, base_commit, task_id, {
                PLAN: plan_text, QUESTIONS: questions_text, NOTES: _notes_header(task_id)})
            checkpoint("new:committed")
            git.run(["worktree", "add", "--quiet", "--no-track", "-b", git.branch_name(ref), str(path), commit], cwd=repo.root)
            checkpoint("new:worktree")
        except BaseException:
            undo_create(repo, ref, path, made_root=made_root)
            raise
        events.append(repo, task_id, "created", base=base_name, model=model)
    return NewTask(task_id, title, git.branch_name(ref), path, base_name, base_commit, commit, model, list(items or [REFINE_ITEM]))


def choose_id(repo: Repo, cfg: Config, title: str, task_id: str | None, after: list[str]) -> str:
    """The new task's id: TASK_ID, refused when taken by a task (live or trashed) or a branch of the user's,
    else a slug of TITLE that is free; AFTER's tasks must exist. Call it holding the repository lock."""
    live, foreign = scan_branches(repo, cfg)
    trashed = trashed_ids(repo)
    taken = set(live) | trashed | foreign
    for dep in after:
        if dep not in live:
            raise DispatchError(f"--after {dep}: {no_such_task(repo, dep, live)}")
    if task_id is None:
        task_id = unique_id(slugify(title), taken)
    elif task_id in live:
        raise DispatchError(
            f"task id `{task_id}` is already a live task: choose another `--id`, or move the old one to the "
            f"trash first with `dispatch discard {task_id}`"
        )
    elif task_id in trashed:
        raise DispatchError(
            f"task id `{task_id}` is already in the trash: choose another `--id`, "
            f"or delete the old one for good with `dispatch trash --purge {task_id}`"
        )
    elif task_id in foreign:
        branch = git.branch_name(branch_ref(cfg, task_id))
        raise DispatchError(
            f"branch {branch} already exists and is not a task (it holds no {PLAN}): choose another `--id`, "
            f"or rename your branch (`git branch -m {branch} NEW`)"
        )
    return task_id


def render_task_files(
    *, task_id: str, title: str, base: str, base_commit: str, model: str | None,
    created: str, description: str, items: list[str], after: list[str] | None = None, group: str | None = None,
) -> tuple[str, str]:
    from dispatch import templates
    from dispatch.task.plan import dump_front_matter

    meta: dict[str, object] = {
        "dispatch": 1, "id": task_id, "title": title, "base": base,
        "base_commit": base_commit, "model": model, "created": created,
    }
    if after:
        meta["after"] = list(after)
    if group:
        meta["group"] = group
    plan = templates.render(
        "PLAN.md.j2", front_matter=dump_front_matter(meta), title=title,
        description=description.strip(), items=items or [REFINE_ITEM],
    )
    return plan, templates.render("QUESTIONS.md.j2", id=task_id)


def _plan_commit(repo: Repo, base_commit: str, task_id: str, texts: dict[str, str]) -> str:
    """A commit on BASE_COMMIT that adds TEXTS (paths in the task files' folder) to its tree, written as
    objects: no index, no worktree, no ref. The texts are stored as they are (no filter of the repository's
    config runs on them)."""
    tmp = repo.state_dir / f"new-{os.getpid()}"  # ours alone: `new`s run one at a time, under the lock
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        written = [tmp / Path(name).name for name in texts]
        for path, text in zip(written, texts.values(), strict=True):
            path.write_text(text, encoding="utf-8")
        blobs = git.out(["hash-object", "-w", "--no-filters", "--", *map(str, written)], cwd=repo.root).split()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    checkpoint("new:files")
    root = git.zsplit(git.run(["ls-tree", "-z", base_commit], cwd=repo.root).stdout)
    folder: dict[str, str] = {}
    if f"tree\t{TASK_FILES}" in {entry.split(" ", 2)[1] + "\t" + entry.split("\t", 1)[1] for entry in root}:
        # A base holding a folder of that name already (files tracked by hand): its files stay beside ours.
        for entry in git.zsplit(git.run(["ls-tree", "-z", f"{base_commit}:{TASK_FILES}"], cwd=repo.root).stdout):
            folder[entry.split("\t", 1)[1]] = entry
    for name, blob in zip(texts, blobs, strict=True):
        folder[Path(name).name] = f"100644 blob {blob}\t{Path(name).name}"
    sub = git.out(["mktree", "-z"], cwd=repo.root, input="".join(f"{e}\0" for e in folder.values()))
    entries = [e for e in root if e.split("\t", 1)[1] != TASK_FILES] + [f"040000 tree {sub}\t{TASK_FILES}"]
    tree = git.out(["mktree", "-z"], cwd=repo.root, input="".join(f"{e}\0" for e in entries))
    try:
        return objects.commit_tree(repo.root, tree, [base_commit], f"dispatch: plan {task_id}")
    except GitError as e:
        if any(s in e.stderr for s in ("tell me who you are", "auto-detect", "empty ident")):
            raise DispatchError(
                "git does not know who you are: set `git config --global user.name NAME` and `user.email EMAIL`"
            ) from None
        raise


def undo_create(repo: Repo, ref: str, path: Path, *, made_root: bool) -> None:
    # Only ever undoes what create_task itself made a moment ago.
    git.run(["worktree", "remove", "--force", "--force", str(path)], cwd=repo.root, check=False)
    if path.exists():
        shutil.rmtree(path, ignore_errors=True)
    git.run(["worktree", "prune"], cwd=repo.root, check=False)
    git.run(["update-ref", "-d", ref], cwd=repo.root, check=False)
    if made_root:
        with contextlib.suppress(OSError):
            path.parent.rmdir()  # only when empty


def add_note(repo: Repo, cfg: Config, task_id: str, text: str) -> Path:
    """Append a dated note to the task's NOTES.md.

    Never to PLAN.md: a live worker may be rewriting that file at this moment, and reading it
    half-written would write back a plan with no items. NOTES.md only dispatch writes (under the
    repo lock), the worker only reads it and commits it with its work. It is appended to in one
    write, never replaced through a temporary file: a worker's `git add -A` that lists a temporary
    file which is renamed away before git opens it fails.
    """
    if not text.strip():
        raise DispatchError("the note is empty: give the text to add")
    task = get_task(repo, cfg, task_id)
    if not task.worktree_exists or task.worktree is None:
        raise DispatchError(f"task `{task_id}` has no worktree: `dispatch doctor` says how to repair it")
    path = task.worktree.path / NOTES
    with locked(repo, cfg["lock_timeout"]):
        entry = _note_entry(text, clock.iso(clock.now()))
        path.parent.mkdir(exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size == 0:
                entry = _notes_header(task_id) + entry  # a task made before NOTES.md existed
            elif os.pread(fd, 1, size - 1) != b"\n":
                entry = "\n" + entry
            os.write(fd, entry.encode("utf-8"))
        finally:
            os.close(fd)
        events.append(repo, task_id, "noted")
    return path


def _notes_header(task_id: str) -> str:
    from dispatch import templates

    return templates.render("NOTES.md.j2", id=task_id)


def _note_entry(text: str, when: str) -> str:
    """`- WHEN — first line`, further lines indented under it, so a note never starts a heading or an item."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    rest = [f"  {line}" if line else "" for line in lines[1:]]
    return "".join(f"{line}\n" for line in [f"- {when} — {lines[0]}", *rest])


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
    return objects.commit_without(repo.root, commit, TASK_FILES, f"dispatch: remove the task files of {task_id}\n")
