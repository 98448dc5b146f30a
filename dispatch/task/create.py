"""A task made: its id chosen, its branch and worktree at the plan commit, in one step that is undone whole."""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from dispatch import clock, events, git, objects
from dispatch.config import Config
from dispatch.errors import DispatchError, GitError
from dispatch.faults import checkpoint
from dispatch.repo import Repo, locked
from dispatch.task.ids import slugify, unique_id, validate_id
from dispatch.task.model import (
    NOTES,
    PLAN,
    QUESTIONS,
    REFINE_ITEM,
    TASK_FILES,
    branch_ref,
    default_base,
    no_such_task,
    scan_branches,
    trashed_ids,
    worktree_root,
)
from dispatch.task.notes import notes_header


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
                PLAN: plan_text, QUESTIONS: questions_text, NOTES: notes_header(task_id)})
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
    tmp = repo.state_dir / f"new-{os.getpid()}-{os.urandom(6).hex()}"  # ours alone, even in a pid namespace
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
