"""A task made: its id chosen, its branch and worktree at the plan commit, in one step that is undone whole."""

from __future__ import annotations

import os
import re
from pathlib import Path

from dispatch import batch, clock, events, git, objects
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
    TRASH_PREFIX,
    branch_ref,
    default_base,
    has_linked_worktrees,
    no_such_task,
    scan_branches,
    trashed_ids,
    worktree_root,
)
from dispatch.task.notes import notes_header
from dispatch.typed import NamedTuple


class NewTask(NamedTuple):
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
    base_name, base_commit = _resolve_base(repo, base)
    with locked(repo, cfg["lock_timeout"]):
        # The ids taken and the base's tree at once: two git processes side by side.
        taken, root = _scan(repo, cfg, base_commit, after or [])
        task_id = choose_id(repo, cfg, title, task_id, after or [], taken=taken)
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
            commit = _plan_commit(repo, base_commit, root, task_id, {
                PLAN: plan_text, QUESTIONS: questions_text, NOTES: notes_header(task_id)})
            checkpoint("new:committed")
            git.add_worktree(repo.root, path, git.branch_name(ref), commit)
            checkpoint("new:worktree")
        except BaseException:
            undo_create(repo, ref, path, made_root=made_root)
            raise
        events.append(repo, task_id, "created", base=base_name, model=model)
    return NewTask(task_id, title, git.branch_name(ref), path, base_name, base_commit, commit, model, list(items or [REFINE_ITEM]))


def _resolve_base(repo: Repo, base: str | None) -> tuple[str, str]:
    """The base's name and commit: `--base`'s, else the branch the main worktree has checked out (one
    `rev-parse` for both: its commit, then its name)."""
    if base is None:
        r = git.run(["rev-parse", "HEAD^{commit}", "--symbolic-full-name", "HEAD", "--"], cwd=repo.root, check=False)
        answer = r.stdout.split("\n")
        if r.returncode == 0 and len(answer) > 2 and answer[1].startswith("refs/heads/"):
            return git.branch_name(answer[1]), answer[0]
        base_name = default_base(repo)  # refuses a detached HEAD in its words
    else:
        base_name = base
    base_commit = git.resolve_base(repo.root, base_name)
    if base_commit is None:
        if base is None:
            raise DispatchError(f"the repository has no commits yet: commit something to `{base_name}` first")
        raise DispatchError(f"base `{base_name}` is not a commit, branch or tag here: check `git branch -a`")
    return base_name, base_commit


def _scan(repo: Repo, cfg: Config, base_commit: str, after: list[str]) -> tuple[set[str] | None, list[str]]:
    """The ids a new task cannot take (branches under the task prefix, whatever they hold; trashed tasks;
    worktrees on such a branch), and the entries of BASE_COMMIT's tree; the git processes run side by side.
    With AFTER, the ids are None: `choose_id` lists the tasks themselves, to check AFTER's exist."""
    prefix = f"refs/heads/{cfg['branch_prefix']}"
    argvs = [["ls-tree", "-z", base_commit]]
    if not after:
        argvs.append(["for-each-ref", "--format=%(refname)", f"{prefix}*", f"{TRASH_PREFIX}*"])
        if has_linked_worktrees(repo):
            argvs.append(["worktree", "list", "--porcelain", "-z"])
    results = batch.run_side_by_side(argvs, cwd=repo.root)
    root = git.zsplit(results[0].stdout)
    if after:
        return None, root
    names = results[1].stdout.splitlines()
    if len(results) > 2:
        names += [field.removeprefix("branch ") for field in git.zsplit(results[2].stdout) if field.startswith("branch ")]
    taken = {n.removeprefix(prefix) for n in names if n.startswith(prefix)}
    return taken | {n.removeprefix(TRASH_PREFIX) for n in names if n.startswith(TRASH_PREFIX)}, root


def choose_id(repo: Repo, cfg: Config, title: str, task_id: str | None, after: list[str],
              taken: set[str] | None = None) -> str:
    """The new task's id: TASK_ID, refused when taken by a task (live or trashed) or a branch of the user's,
    else a slug of TITLE that is free; AFTER's tasks must exist. Call it holding the repository lock.
    TAKEN (from `_scan`, without AFTER): every id taken, so the tasks themselves are listed only to say why."""
    if taken is not None and (task_id is None or task_id not in taken):
        return task_id or unique_id(slugify(title), taken)
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

    meta: dict[str, object] = {
        "dispatch": 1, "id": task_id, "title": title, "base": base,
        "base_commit": base_commit, "model": model, "created": created,
    }
    if after:
        meta["after"] = list(after)
    if group:
        meta["group"] = group
    plan = templates.render(
        "PLAN.md.j2", front_matter=front_matter(meta), title=title,
        description=description.strip(), items=items or [REFINE_ITEM],
    )
    return plan, templates.render("QUESTIONS.md.j2", id=task_id)


# A value PyYAML writes as it is (plain): ASCII without any YAML indicator, starting with a letter (so it
# cannot read back as a number or a date), no space at its end; minus the words YAML 1.1 reads as a bool or null.
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_./()+ -]*(?<! )")
_NOT_STR = frozenset(["yes", "Yes", "YES", "no", "No", "NO", "true", "True", "TRUE", "false", "False", "FALSE",
                      "on", "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL"])
_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")  # plain unless all digits (an int) or 0b and 0s and 1s
_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")  # clock.iso: a timestamp, so single-quoted


def front_matter(meta: dict[str, object]) -> str:
    """META as PyYAML's block YAML (`plan.dump_front_matter`), written without importing yaml when every
    value is an int, None, a plain string, a commit id, a `clock.iso` time or a list of plain strings
    (a new task's: tests/test_new.py checks it writes what PyYAML writes); else by PyYAML."""
    lines = []
    for key, value in meta.items():
        if isinstance(value, list) and value and all(_scalar(v, 2) == v for v in value):
            lines += [f"{key}:", *(f"- {v}" for v in value)]
            continue
        text = _scalar(value, len(key) + 2)
        if text is None:
            from dispatch.task.plan import dump_front_matter

            return dump_front_matter(meta)
        lines.append(f"{key}: {text}")
    return "".join(f"{line}\n" for line in lines)


def _scalar(value: object, column: int) -> str | None:
    """VALUE as PyYAML writes it from COLUMN on, if it is one of the simple cases; else None."""
    if value is None:
        return "null"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or column + len(value) > 80:  # a longer line would be folded at a space
        return None
    if (_PLAIN.fullmatch(value) and value not in _NOT_STR) or (
            _COMMIT.fullmatch(value) and not re.fullmatch(r"\d+|0b[01]+", value)):
        return value
    return f"'{value}'" if _STAMP.fullmatch(value) else None


def _plan_commit(repo: Repo, base_commit: str, root: list[str], task_id: str, texts: dict[str, str]) -> str:
    """A commit on BASE_COMMIT (whose tree's entries are ROOT) that adds TEXTS (paths in the task files'
    folder) to its tree, written as objects: no index, no worktree, no ref. The texts are stored as they
    are (no filter of the repository's config runs on them)."""
    tmp = repo.state_dir / f"new-{os.getpid()}-{os.urandom(6).hex()}"  # ours alone, even in a pid namespace
    tmp.mkdir(parents=True)
    written = [tmp / Path(name).name for name in texts]
    try:
        for path, text in zip(written, texts.values(), strict=True):
            path.write_text(text, encoding="utf-8")
        blobs = git.out(["hash-object", "-w", "--no-filters", "--", *map(str, written)], cwd=repo.root).split()
    finally:
        try:  # (never hiding what failed above)
            for path in written:
                path.unlink(missing_ok=True)
            tmp.rmdir()
        except OSError:
            pass
    checkpoint("new:files")
    folder: dict[str, str] = {}
    if f"tree\t{TASK_FILES}" in {entry.split(" ", 2)[1] + "\t" + entry.split("\t", 1)[1] for entry in root}:
        # A base holding a folder of that name already (files tracked by hand): its files stay beside ours.
        for entry in git.zsplit(git.run(["ls-tree", "-z", f"{base_commit}:{TASK_FILES}"], cwd=repo.root).stdout):
            folder[entry.split("\t", 1)[1]] = entry
    for name, blob in zip(texts, blobs, strict=True):
        folder[Path(name).name] = f"100644 blob {blob}\t{Path(name).name}"
    entries = [e for e in root if e.split("\t", 1)[1] != TASK_FILES]
    tree = objects.tree_with_folder(repo.root, entries, TASK_FILES, list(folder.values()))
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
        import shutil  # (only here: a failed `new` undone)

        shutil.rmtree(path, ignore_errors=True)
    git.run(["worktree", "prune"], cwd=repo.root, check=False)
    git.run(["update-ref", "-d", ref], cwd=repo.root, check=False)
    if made_root:
        try:
            path.parent.rmdir()  # only when empty
        except OSError:
            pass
