"""The one door to git: every git process dispatch runs goes through `run`."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from dispatch import gitargs, prefetch, spawn
from dispatch.errors import DispatchError, GitError
from dispatch.files import on_path
from dispatch.gitargs import git_env
from dispatch.typed import TYPE_CHECKING, NamedTuple

# What a string names, where it matters: a full ref (`refs/heads/dispatch/x`, as git's plumbing and
# our records hold it) or a branch's short name (`dispatch/x`, as people and `git switch` use it).
if TYPE_CHECKING:
    from typing import NewType

    RefName = NewType("RefName", str)
    BranchName = NewType("BranchName", str)
else:  # (typing's NewType is the identity at run time)
    RefName = BranchName = str


def branch_name(ref: str) -> BranchName:
    """The short name of a branch given either way."""
    return BranchName(ref.removeprefix("refs/heads/"))


def head_ref(branch: str) -> RefName:
    """The full ref of a branch given either way."""
    return RefName(branch if branch.startswith("refs/") else f"refs/heads/{branch}")


class Result(NamedTuple):
    returncode: int
    stdout: str
    stderr: str


def run(
    args: Sequence[str],
    *,
    cwd: Path,
    input: str | None = None,
    check: bool = True,
    env: dict[str, str] | None = None,
    exact: bool = False,
) -> Result:
    """Run `git ARGS` in CWD; raise GitError on failure unless check is False.

    Its output is read as Python reads text, a \r\n or lone \r turned into \n; EXACT keeps every \r
    as git wrote it (a diff of a file whose lines end in \r\n)."""
    code, out, err = _run(args, cwd=cwd, input=input, env=env)
    return _result(args, code, out, err, check=check, exact=exact)


def output(args: Sequence[str], *, cwd: Path) -> bytes:
    """Stdout of a git command that must succeed, the bytes git wrote."""
    code, out, err = _run(args, cwd=cwd)
    if code != 0:
        raise GitError(list(args), code, decode(out), decode(err))
    return out


def blocks(args: Sequence[str], *, cwd: Path) -> Iterator[bytes]:
    """As `output`, in blocks as git writes them: the first while git still runs (a large diff read as
    it comes). Raises GitError at the end when git failed."""
    prefetch.before(tuple(args))
    piped = prefetch.take_stream(tuple(args), str(cwd))
    if piped is not None:  # started as this process started (dispatch.prefetch), and read there as it comes
        seen = False
        for block in piped:
            seen = True
            yield block
        ended = piped.ended
        if ended is None and seen:
            raise DispatchError(f"git {' '.join(args)} stopped in the middle of its output: run the command again")
    if piped is None or ended is None:  # (could not start there: here, it says why)
        proc = start(args, cwd=cwd, env=git_env())
        yield from proc.stream()
        ended = proc.ended
    assert ended is not None
    if ended[0] != 0:
        raise GitError(list(args), ended[0], "", decode(ended[1]))


def _run(args: Sequence[str], *, cwd: Path, input: str | None = None,
         env: dict[str, str] | None = None) -> tuple[int, bytes, bytes]:
    prefetch.before(tuple(args))
    done = prefetch.take(tuple(args), str(cwd), input) if env is None else None
    if done is not None:  # asked already, as this process started (dispatch.prefetch)
        return done
    proc = start(args, cwd=cwd, env=git_env(env), stdin=input is not None)
    return proc.finish(b"" if input is None else input.encode("utf-8", "surrogateescape"))


def start(args: Sequence[str], *, cwd: Path, env: dict[str, str], stdin: bool = False,
          git: str | None = None) -> spawn.Process:
    """`git ARGS` started in CWD (dispatch.spawn; GIT: its path, found on ENV's PATH by default); a
    missing git or folder said in one line."""
    try:
        return spawn.start(git or on_path("git", env), args, str(cwd), env, stdin=stdin)
    except FileNotFoundError as e:
        if not cwd.is_dir():
            raise DispatchError(f"folder {cwd} does not exist") from e
        raise DispatchError("git is not installed: install git 2.38 or newer") from e


def _result(args: Sequence[str], code: int, out: bytes, err: bytes, *, check: bool, exact: bool) -> Result:
    stdout, stderr = (decode(data, exact=exact) for data in (out, err))
    if check and code != 0:
        raise GitError(list(args), code, stdout, stderr)
    return Result(code, stdout, stderr)


def decode(data: bytes, *, exact: bool = False) -> str:
    """What `subprocess.run(text=True)` makes of DATA, undecodable bytes kept as surrogates; EXACT: every \r kept."""
    text = data.decode("utf-8", "surrogateescape")
    return text if exact else text.replace("\r\n", "\n").replace("\r", "\n")


def out(args: Sequence[str], *, cwd: Path, input: str | None = None, env: dict[str, str] | None = None) -> str:
    """Stdout of a git command that must succeed, without its final newline."""
    return run(args, cwd=cwd, input=input, env=env).stdout.removesuffix("\n")


def ok(args: Sequence[str], *, cwd: Path) -> bool:
    """For commands whose exit code is the answer (`diff --quiet`, `merge-base --is-ancestor`)."""
    return run(args, cwd=cwd, check=False).returncode == 0


def zsplit(text: str) -> list[str]:
    """Split NUL-separated output (`-z`), dropping the trailing empty field."""
    parts = text.split("\0")
    if parts and parts[-1] == "":
        parts.pop()
    return parts


class Worktree(NamedTuple):
    path: Path
    head: str | None  # None while the branch is unborn
    branch: RefName | None  # None when detached
    bare: bool = False
    prunable: bool = False
    locked: bool = False


def worktrees(cwd: Path) -> list[Worktree]:
    """Every worktree of the repository, the main one first (one git call)."""
    for _ in range(40):
        listed = run(["worktree", "list", "--porcelain", "-z"], cwd=cwd, check=False)
        # A `worktree add` midway (no `commondir` yet) fails the whole listing: wait it out.
        if listed.returncode == 0 or "/worktrees/" not in listed.stderr:
            break
        time.sleep(0.025)
    if listed.returncode != 0:
        raise GitError(["worktree", "list", "--porcelain", "-z"], listed.returncode, listed.stdout, listed.stderr)
    result: list[Worktree] = []
    for record in _records(zsplit(listed.stdout)):
        attrs: dict[str, str] = {}
        for field in record:
            key, _, value = field.partition(" ")
            attrs[key] = value
        result.append(
            Worktree(
                path=Path(attrs["worktree"]),
                head=attrs.get("HEAD") or None,
                branch=RefName(attrs["branch"]) if "branch" in attrs else None,
                bare="bare" in attrs,
                prunable="prunable" in attrs,
                locked="locked" in attrs,
            )
        )
    return result


def add_worktree(cwd: Path, path: Path, branch: str, commit: str) -> None:
    """A new worktree at PATH on a new BRANCH at COMMIT (no upstream): one checkout."""
    run(["worktree", "add", "--quiet", "--no-track", "-b", branch, str(path), commit], cwd=cwd)


def _records(fields: list[str]) -> Iterator[list[str]]:
    # Records are separated by an empty field (a double NUL).
    record: list[str] = []
    for field in fields:
        if field == "":
            if record:
                yield record
            record = []
        else:
            record.append(field)
    if record:
        yield record


class Ref(NamedTuple):
    name: RefName
    sha: str
    committed: int  # committer date, unix seconds
    subject: str


def refs(cwd: Path, *patterns: str) -> list[Ref]:
    """Refs under PATTERNS with their commit facts (one git call)."""
    fmt = gitargs.REFS_FORMAT
    text = run(["for-each-ref", f"--format={fmt}", *patterns], cwd=cwd).stdout
    result = []
    for line in text.splitlines():
        fields = line.split("\0")
        if len(fields) != 7:
            raise DispatchError(f"unexpected `git for-each-ref` output: {line!r}")
        name, sha, peeled, date, peeled_date, subject, peeled_subject = fields
        # Annotated tags carry their commit's facts in the peeled (*) fields.
        result.append(
            Ref(
                name=RefName(name),
                sha=peeled or sha,
                committed=int(peeled_date or date or 0),
                subject=peeled_subject if peeled else subject,
            )
        )
    return result


def rev(cwd: Path, spec: str) -> str | None:
    """The commit SPEC names, or None when it names none."""
    r = run(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{spec}^{{commit}}"], cwd=cwd, check=False)
    return r.stdout.strip() if r.returncode == 0 else None


STATUS = gitargs.STATUS


def status_porcelain(worktree: Path) -> list[tuple[str, str]]:
    """Uncommitted changes of WORKTREE as (XY, path), untracked included, ignored not."""
    return parse_status(run(STATUS, cwd=worktree).stdout)


def parse_status(text: str) -> list[tuple[str, str]]:
    """The (XY, path) entries of `git status` output in the STATUS format."""
    fields = zsplit(text)
    changes = []
    i = 0
    while i < len(fields):
        entry = fields[i]
        xy, path = entry[:2], entry[3:]
        changes.append((xy, path))
        # A rename or copy is followed by its source path in its own field.
        i += 2 if xy[0] in "RC" or xy[1] in "RC" else 1
    return changes


def read_blobs(cwd: Path, specs: list[str]) -> dict[str, str | None]:
    """The text of each `REV:PATH` in SPECS (None when missing), in one `cat-file --batch`."""
    code, data, stderr = _run(["cat-file", "--batch"], cwd=cwd, input="".join(f"{s}\n" for s in specs))
    if code != 0:
        raise GitError(["cat-file", "--batch"], code, "", stderr.decode(errors="replace"))
    pos = 0
    result: dict[str, str | None] = {}
    for spec in specs:
        end = data.index(b"\n", pos)
        header = data[pos:end].split(b" ")
        pos = end + 1
        if len(header) == 3 and header[1] == b"blob":
            size = int(header[2])
            result[spec] = data[pos : pos + size].decode("utf-8", errors="replace")
            pos += size + 1
        else:
            # "<spec> missing", or a tree/commit where a file was expected.
            if len(header) == 3:
                pos += int(header[2]) + 1
            result[spec] = None
    return result


def lines(args: Sequence[str], *, cwd: Path) -> Iterator[bytes]:
    """The output lines of `git ARGS` as bytes, read in chunks as git writes them: a long history is
    never held whole, and no line is decoded (what callers read is ASCII: commit ids)."""
    import subprocess  # here, as tempfile: only the history walks need them, not every command's start-up
    import tempfile

    with tempfile.TemporaryFile() as errors, subprocess.Popen(
        ["git", *args], cwd=cwd, env=git_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors,
    ) as proc:
        assert proc.stdout is not None
        rest = b""
        while chunk := proc.stdout.read(1 << 14):
            *done, rest = (rest + chunk).split(b"\n")
            yield from done
        if rest:
            yield rest
        if proc.wait() != 0:
            errors.seek(0)
            raise GitError(list(args), proc.returncode, "", errors.read().decode(errors="replace"))


def run_in_turns(args: Sequence[str], *, cwd: Path, first: str, then: Callable[[str], str]) -> tuple[str, str]:
    """One `git ARGS` (a `--batch` mode that answers each request as it comes) fed FIRST, then what THEN
    makes of its first line of answer: the first line and the rest of its output, as one process."""
    proc = start(args, cwd=cwd, env=git_env(), stdin=True)
    try:  # (send, read_line and finish end it on an error of theirs; this is for THEN's)
        proc.send(first.encode("utf-8", "surrogateescape"))
        answer = decode(proc.read_line()).removesuffix("\n")
        code, rest, stderr = proc.finish(then(answer).encode("utf-8", "surrogateescape") if answer else b"")
    except BaseException:
        proc.kill()
        raise
    if code != 0 or not answer:
        raise GitError(list(args), code or 1, answer + decode(rest), decode(stderr))
    return answer, decode(rest).removesuffix("\n")


def is_ancestor(cwd: Path, ancestor: str, descendant: str) -> bool:
    return ok(["merge-base", "--is-ancestor", ancestor, descendant], cwd=cwd)


def resolve_many(cwd: Path, specs: Sequence[str]) -> dict[str, str | None]:
    """The commit each of SPECS names (None when it names none), in one `cat-file --batch-check`."""
    if not specs:
        return {}
    return gitargs.resolved(specs, run(gitargs.RESOLVE, cwd=cwd, input=gitargs.resolve_input(specs)).stdout)


def resolve_bases(cwd: Path, names: Sequence[str]) -> dict[str, str | None]:
    """The commit each base name stands for, as a branch first: a base is a branch to land on.

    `rel` means `refs/heads/rel` even beside a tag `rel` (git's own rule would take the tag);
    a name no branch has falls back to git's rule (a full ref, a remote branch, a tag, a commit id).
    One `cat-file --batch-check` for all NAMES.
    """
    usable = sorted({n for n in names if n and n.isprintable() and not any(c.isspace() for c in n)})
    found = gitargs.base_commits(usable, resolve_many(cwd, gitargs.base_specs(usable)))
    return {n: found.get(n) for n in names}


def resolve_base(cwd: Path, name: str) -> str | None:
    """The commit the base NAME stands for (see `resolve_bases`), or None."""
    return resolve_bases(cwd, [name])[name]


def fast_forward(worktree: Path, commit: str) -> Result:
    """`merge --ff-only` in WORKTREE: git itself refuses to overwrite local changes there."""
    return run(["merge", "--ff-only", "--no-autostash", "--quiet", commit], cwd=worktree, check=False)


def remotes(cwd: Path) -> list[str]:
    return out(["remote"], cwd=cwd).split()
