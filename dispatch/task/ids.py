"""Task ids: kebab-case slugs that are safe as branch names and folder names."""

from __future__ import annotations

import re
from collections.abc import Iterable

from dispatch.errors import DispatchError

ID_RE = r"^[a-z0-9][a-z0-9-]{0,62}$"  # (compiled by re on first use, not at every start)
SLUG_MAX = 48


def validate_id(task_id: str) -> str:
    if not re.match(ID_RE, task_id):
        shown = task_id if task_id else "(empty)"
        raise DispatchError(
            f"invalid task id {shown!r}: use 1 to 63 lowercase letters, digits and '-', "
            "starting with a letter or digit"
        )
    return task_id


def nearest(task_id: str, candidates: Iterable[str]) -> str | None:
    """The id a mistyped TASK_ID most likely meant: the same once `_`, spaces and case are
    forgiven (`guess_syntax`), else the closest by spelling (`slow-on` for `slow-one`), else None."""
    pool = sorted(set(candidates))
    forgiven = re.sub(r"[\s_.]+", "-", task_id.strip().lower())
    if forgiven in pool:
        return forgiven
    import difflib  # here: only a mistyped id needs it

    close = difflib.get_close_matches(forgiven, pool, n=1, cutoff=0.7)
    return close[0] if close else None


def slugify(title: str) -> str:
    """A kebab-case id from a title: ASCII, at most SLUG_MAX characters, cut at a word."""
    import unicodedata  # a C module of its own, for new titles only (1 ms of every command's start)

    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_title.lower())
    slug = ""
    for word in words:
        candidate = f"{slug}-{word}" if slug else word
        if len(candidate) > SLUG_MAX:
            break
        slug = candidate
    if not slug and words:
        slug = words[0][:SLUG_MAX]
    return slug or "task"


def unique_id(slug: str, taken: set[str]) -> str:
    """SLUG, or SLUG-2, SLUG-3... whichever is free."""
    if slug not in taken:
        return slug
    n = 2
    while f"{slug}-{n}" in taken:
        n += 1
    return f"{slug}-{n}"
