"""Where commits stand against each other: ahead/behind counts, merge bases and diff sizes for many
(tip, base) pairs at once, in a number of git processes that does not grow with the history."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from dispatch import batch, git
from dispatch.errors import DispatchError
from dispatch.typed import NamedTuple

# Pairs are grouped by their base; past this many groups, one walk serves them all (a fixed number of processes).
MAX_GROUPS = 8


class PairHistory(NamedTuple):
    ahead: int  # commits of the tip not in the base
    behind: int  # commits of the base not in the tip
    merge_base: str | None  # a best common ancestor (None: no common history)


def ahead_behind(cwd: Path, pairs: Sequence[tuple[str, str]]) -> list[tuple[int, int]]:
    """Commits of each (TIP, BASE) pair's TIP not in BASE, and of BASE not in TIP (see `histories`)."""
    return [(h.ahead, h.behind) for h in _by_base(cwd, pairs, merge_bases=False)]


def histories(cwd: Path, pairs: Sequence[tuple[str, str]]) -> list[PairHistory]:
    """Ahead, behind and a merge base of each (TIP, BASE) pair."""
    return _by_base(cwd, pairs, merge_bases=True)


def _by_base(cwd: Path, pairs: Sequence[tuple[str, str]], *, merge_bases: bool) -> list[PairHistory]:
    """The pairs grouped by base, so that one old base costs only its own pair's walk (not every task's):
    a base shared by several tips gets one shared walk (`walk`), bounded by the common ancestor of that
    group alone; a base of one tip is counted by git itself (`rev-list --left-right --count`), every such
    pair side by side. Past MAX_GROUPS bases, one walk serves every pair."""
    groups: dict[str, list[int]] = {}
    for n, (_, base) in enumerate(pairs):
        groups.setdefault(base, []).append(n)
    if len(groups) > MAX_GROUPS:
        return walk(cwd, pairs)
    result: list[PairHistory | None] = [None] * len(pairs)
    single = [members[0] for members in groups.values() if len(members) == 1]
    for n, found in zip(single, _counted(cwd, [pairs[n] for n in single], merge_bases=merge_bases), strict=True):
        result[n] = found
    for members in groups.values():
        if len(members) > 1:
            for n, found in zip(members, walk(cwd, [pairs[n] for n in members]), strict=True):
                result[n] = found
    return [h for h in result if h is not None]


def _counted(cwd: Path, pairs: Sequence[tuple[str, str]], *, merge_bases: bool) -> list[PairHistory]:
    """Each pair counted by git (and its merge base asked of git), all of them side by side."""
    if not pairs:
        return []
    argvs: list[list[str]] = [["rev-list", "--left-right", "--count", f"{tip}...{base}"] for tip, base in pairs]
    if merge_bases:
        argvs += [["merge-base", tip, base] for tip, base in pairs]
    results = batch.run_side_by_side(argvs, cwd=cwd, ok_codes=(0, 1))
    found = []
    for n in range(len(pairs)):
        ahead, behind = results[n].stdout.split()
        base = results[len(pairs) + n].stdout.split()[:1] if merge_bases else []
        found.append(PairHistory(int(ahead), int(behind), base[0] if base else None))
    return found


def walk(cwd: Path, pairs: Sequence[tuple[str, str]]) -> list[PairHistory]:
    """Ahead, behind and a merge base of each (TIP, BASE) pair, in two git processes.

    One history walk serves every pair, whatever their number and however old a base is: `rev-list
    --topo-order` streams each commit after all its children, each commit gets the set (a bit mask) of
    the given commits that reach it, passed down to its parents, and only the count of commits per mask
    is kept. A commit both of a pair reach, none of whose children both reach, is their merge base.
    Memory holds the walk's frontier, not the history; the walk stops at the common ancestor of all of
    them (below it every commit is reached by all, so it counts for no pair; it is the merge base of
    every pair that has none above it).
    """
    if not pairs:
        return []
    keys = sorted({sha for pair in pairs for sha in pair})
    bits = {sha.encode(): 1 << i for i, sha in enumerate(keys)}
    both = [bits[t.encode()] | bits[b.encode()] for t, b in pairs]
    r = git.run(["merge-base", "--octopus", *keys], cwd=cwd, check=False)
    floor = r.stdout.split()[:1] if r.returncode == 0 else []
    pending: dict[bytes, int] = {}  # a parent not yet walked: the masks of its children so far
    pending_done: dict[bytes, int] = {}  # ... and the pairs complete in any of them
    per_mask: dict[int, int] = {}
    complete: dict[int, int] = {}  # mask -> the pairs (a bit each) whose both commits it holds
    bases: dict[int, bytes] = {}
    # The loop runs once per commit of a possibly long history: kept to a few dictionary operations.
    args = ["rev-list", "--topo-order", "--parents", *keys, *(["--not", *floor] if floor else [])]
    for line in git.lines(args, cwd=cwd):
        sha, *parents = line.split()
        mask = pending.pop(sha, 0) | bits.get(sha, 0)
        per_mask[mask] = per_mask.get(mask, 0) + 1
        done = complete.get(mask)
        if done is None:
            done = complete[mask] = sum(1 << n for n, m in enumerate(both) if mask & m == m)
        if done:
            first = done & ~pending_done.pop(sha, 0)  # complete here, in no child: a merge base
            if first:
                for n in _bits(first):
                    bases.setdefault(n, sha)
        for parent in parents:
            pending[parent] = pending.get(parent, 0) | mask
            if done:
                pending_done[parent] = pending_done.get(parent, 0) | done
    result = []
    for n, (tip, base) in enumerate(pairs):
        mine, theirs = bits[tip.encode()], bits[base.encode()]
        merge_base = bases[n].decode() if n in bases else (floor[0] if floor else None)
        result.append(PairHistory(sum(c for m, c in per_mask.items() if m & mine and not m & theirs),
                                  sum(c for m, c in per_mask.items() if m & theirs and not m & mine), merge_base))
    return result


def _bits(value: int) -> Iterator[int]:
    """The positions of VALUE's set bits."""
    n = 0
    while value:
        if value & 1:
            yield n
        value >>= 1
        n += 1


def numstats(cwd: Path, pairs: Sequence[tuple[str, str]], pathspec: Sequence[str]) -> list[tuple[int, int]]:
    """Lines added and removed from each pair's first commit to its second within PATHSPEC (renames
    followed, a binary file one line added), in one `rev-parse` and one `diff-tree --stdin`."""
    if not pairs:
        return []
    names = sorted({name for pair in pairs for name in pair})
    trees = dict(zip(names, git.out(["rev-parse", *(f"{n}^{{tree}}" for n in names)], cwd=cwd).split(), strict=True))
    text = git.run(["diff-tree", "--stdin", "--always", "-r", "-M", "--numstat", "--", *pathspec], cwd=cwd,
                   input="".join(f"{trees[a]} {trees[b]}\n" for a, b in pairs)).stdout
    counts: list[list[int]] = []
    for line in text.splitlines():
        if "\t" not in line:  # the pair's own line, then a line per file (paths quoted: no newline in one)
            counts.append([0, 0])
            continue
        added, removed, _ = line.split("\t", 2)
        counts[-1][0] += int(added) if added.isdigit() else 1
        counts[-1][1] += int(removed) if removed.isdigit() else 0
    if len(counts) != len(pairs):
        raise DispatchError(f"unexpected `git diff-tree --stdin` output: {text[:200]!r}")
    return [(a, r) for a, r in counts]
