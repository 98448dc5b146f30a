"""Commits built as objects: merges in memory, trees without the task files, commit-tree, and refs moved
by compare-and-swap. A worktree's own index is never read or written (a worker's `git add` never finds
our index.lock); nothing moves until the result is whole."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from dispatch import git
from dispatch.errors import DispatchError
from dispatch.typed import NamedTuple


class FileCommit:
    """A commit of the file PATH as it is in WORKTREE onto the worktree's branch, from objects alone; GIT_DIR
    is the worktree's own git folder (its HEAD, and where the temporary index goes).

    The worktree's index is never read or written (so a worker's own `git add`/`git commit` there never
    finds our index.lock), and the branch moves by compare-and-swap: a commit the worker made meanwhile
    is built on, never overwritten. `prepare` reads the tip's tree into the temporary index ahead of time
    (`ask`, before it waits for the answer), so that `commit`, once the file is final, runs only what must
    come after it; a tip that moved in between fails the swap, and is read again.
    """

    def __init__(self, worktree: Path, path: str, git_dir: Path) -> None:
        self.worktree, self.path = worktree, path
        self.ref = _head_ref(git_dir, worktree)
        # Not the pid alone: confined workers each have their own pid namespace (pid 2 in every one), and
        # their `ask`s share this folder; two of them on one temporary index broke each other's trees.
        self.index = git_dir / f"commit-{os.getpid()}-{os.urandom(6).hex()}.index"
        self.head: str | None = None  # the tip the temporary index holds the tree of
        self.head_tree = ""

    def prepare(self) -> str:
        """The tip and its tree (one process), that tree in the temporary index; the tip."""
        head, self.head_tree = git.out(["cat-file", "--batch-check=%(objectname)"], cwd=self.worktree,
                                       input="HEAD\nHEAD^{tree}\n").splitlines()
        if head.endswith(" missing"):
            raise DispatchError(f"{self.worktree}: its branch has no commit yet: commit once, then try again")
        git.run(["read-tree", head], cwd=self.worktree, env=self._env())
        self.head = head
        return head

    def commit(self, message: str) -> str | None:
        """The file committed as it is now (the temporary index removed after); None when nothing changed."""
        try:
            for _ in range(100):
                # (A temporary index gone meanwhile would read as empty: a tree of this one file. Never.)
                head = self.head if self.head is not None and self.index.exists() else self.prepare()
                git.run(["update-index", "--add", "--", self.path], cwd=self.worktree, env=self._env())  # hashes it
                tree = git.out(["write-tree"], cwd=self.worktree, env=self._env())
                if tree == self.head_tree:
                    return None
                new = commit_tree(self.worktree, tree, [head], message)
                if self._move(new, head, message):
                    return new
                self.head = None  # the branch moved: its new tip read again, built on
        finally:
            self.close()
        raise DispatchError(f"{self.worktree}: its branch kept moving while committing {self.path}: try again")

    def close(self) -> None:
        self.index.unlink(missing_ok=True)

    def _env(self) -> dict[str, str]:
        return {"GIT_INDEX_FILE": str(self.index)}

    def _move(self, new: str, old: str, message: str) -> bool:
        if self.ref:
            return move_ref(self.worktree, self.ref, new, old, message)
        return git.run(["update-ref", "--no-deref", "-m", message, "HEAD", new, old], cwd=self.worktree,
                       check=False).returncode == 0


def _head_ref(git_dir: Path, worktree: Path) -> str | None:
    """The branch HEAD names (None when detached), read from GIT_DIR's HEAD file as git writes it; git is
    asked where the file is not that (a future ref store)."""
    try:
        text = (git_dir / "HEAD").read_text(encoding="utf-8")
    except OSError:
        text = ""
    if text.startswith("ref: refs/") and text.count("\n") == 1:
        return text.removeprefix("ref: ").strip()
    if len(text.strip()) in (40, 64) and text.count("\n") == 1:
        return None
    return git.run(["symbolic-ref", "--quiet", "HEAD"], cwd=worktree, check=False).stdout.strip() or None


def snapshot_tree(worktree: Path, index_dir: Path) -> str:
    """A tree of everything in WORKTREE (tracked and untracked, not ignored), without touching its index."""
    index_dir.mkdir(parents=True, exist_ok=True)
    tmp_index = index_dir / f"snapshot-{os.getpid()}-{os.urandom(6).hex()}.index"  # (see FileCommit)
    real_index = Path(git.out(["rev-parse", "--path-format=absolute", "--git-path", "index"], cwd=worktree))
    try:
        if real_index.exists():
            # Starting from the real index keeps its stat cache, so `add -A` is quick; and its mtime with it,
            # or git would trust entries it must recheck (a same-size edit within the same second is missed).
            import shutil  # (here: its import, with bz2 and lzma, is a cost the hot commands skip)

            shutil.copy2(real_index, tmp_index)
        env = {"GIT_INDEX_FILE": str(tmp_index)}
        git.run(["add", "-A", "--", "."], cwd=worktree, env=env)
        return git.out(["write-tree"], cwd=worktree, env=env)
    finally:
        tmp_index.unlink(missing_ok=True)



class Merge(NamedTuple):
    tree: str  # the merged tree; with conflicts it holds conflict markers
    conflicts: list[str]  # paths that would conflict, empty when the merge is clean


def merge_trees(cwd: Path, pairs: Sequence[tuple[str, str]]) -> list[Merge]:
    """Merge each pair of commits in memory, in one `merge-tree --stdin`; no index or worktree is touched."""
    if not pairs:
        return []
    text = git.run(
        ["merge-tree", "--stdin", "--write-tree", "--name-only", "--no-messages", "-z"],
        cwd=cwd, input="".join(f"{a} {b}\n" for a, b in pairs),
    ).stdout
    # Each merge prints: status ("1" clean, "0" conflicts), tree, conflicted paths, then an empty field.
    fields, merges, i = text.split("\0"), [], 0
    for _ in pairs:
        status, tree = fields[i], fields[i + 1]
        i += 2
        paths = []
        while fields[i] != "":
            paths.append(fields[i])
            i += 1
        i += 1
        if status not in ("0", "1"):
            raise DispatchError(f"unexpected `git merge-tree` output: {text!r}")
        merges.append(Merge(tree, sorted(set(paths))))
    return merges


def trees_differ(cwd: Path, pairs: Sequence[tuple[str, str]], pathspec: Sequence[str]) -> list[bool]:
    """Whether each pair of trees (or commits) differs within PATHSPEC: one `rev-parse` for their trees
    (`diff-tree --stdin` would read a commit and a tree as a commit and its parent), one `diff-tree --stdin`."""
    if not pairs:
        return []
    names = sorted({name for pair in pairs for name in pair})
    trees = dict(zip(names, git.out(["rev-parse", *(f"{n}^{{tree}}" for n in names)], cwd=cwd).split(), strict=True))
    headers = [f"{trees[a]} {trees[b]}\n" for a, b in pairs]
    text = git.run(["diff-tree", "--stdin", "--always", "-r", "--name-only", "-z", "--", *pathspec],
               cwd=cwd, input="".join(headers)).stdout
    # Each pair prints its input line, then the paths that differ (none when the trees are the same).
    result, pos = [], 0
    for n, header in enumerate(headers):
        if not text.startswith(header, pos):
            raise DispatchError(f"unexpected `git diff-tree --stdin` output: {text[pos:pos + 200]!r}")
        pos += len(header)
        end = text.find(headers[n + 1], pos) if n + 1 < len(headers) else len(text)
        result.append(end != pos)
        pos = end
    return result


def tree_without(cwd: Path, commit: str, name: str, put: str | None = None) -> str:
    """The tree of COMMIT without its top-level entry NAME (or with the tree PUT there), written as an object."""
    entries = git.zsplit(git.run(["ls-tree", "-z", commit], cwd=cwd).stdout)
    kept = [e for e in entries if e.split("\t", 1)[1] != name]
    if len(kept) == len(entries) and put is None:
        return git.out(["rev-parse", f"{commit}^{{tree}}"], cwd=cwd)
    if put is not None:
        kept.append(f"040000 tree {put}\t{name}")
    return git.out(["mktree", "-z"], cwd=cwd, input="".join(f"{e}\0" for e in kept))


def commit_without(cwd: Path, commit: str, name: str, message: str) -> str:
    """COMMIT plus a last commit that removes its top-level entry NAME (COMMIT itself when it has none);
    an object only, no ref moves."""
    tree = tree_without(cwd, commit, name)
    if tree == git.out(["rev-parse", f"{commit}^{{tree}}"], cwd=cwd):
        return commit
    return commit_tree(cwd, tree, [commit], message)


def tree_with_folder(cwd: Path, entries: Sequence[str], name: str, folder: Sequence[str]) -> str:
    """A tree of ENTRIES (`ls-tree -z` lines) and a folder NAME holding FOLDER's entries: both trees written
    by one `mktree --batch`, the folder's first, its id then put in the other."""
    sub, root = git.run_in_turns(
        ["mktree", "-z", "--batch"], cwd=cwd, first="".join(f"{e}\0" for e in folder) + "\0",
        then=lambda sub: "".join(f"{e}\0" for e in [*entries, f"040000 tree {sub}\t{name}"]),
    )
    if not root:
        raise DispatchError(f"`git mktree --batch` wrote the folder {name} ({sub}) but no tree around it")
    return root


def commit_tree(cwd: Path, tree: str, parents: Sequence[str], message: str) -> str:
    """A commit object for TREE on PARENTS; no ref moves."""
    args = ["commit-tree", "--no-gpg-sign", tree]
    for parent in parents:
        args += ["-p", parent]
    return git.out([*args, "-F", "-"], cwd=cwd, input=message)


def move_ref(cwd: Path, ref: str, new: str, old: str, reason: str) -> bool:
    """Compare-and-swap REF from OLD to NEW; False (nothing moved) when REF no longer points at OLD."""
    return git.run(["update-ref", "-m", reason, ref, new, old], cwd=cwd, check=False).returncode == 0
