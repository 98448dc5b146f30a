"""A plan's front matter read without yaml, as far as it names things plainly: for dispatch.prefetch, which
starts a command's git questions before yaml (or anything much) is imported, and whose guesses only
count when the command, reading the plan with yaml, asks the very same questions."""

from __future__ import annotations


def read(path: str) -> dict[str, str] | None:
    """The `key: value` lines of a plan's front matter, values as written (None: no such file or block)."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read(16384).split("\n")
    except (OSError, ValueError):
        return None
    if lines[0] != "---":
        return None
    meta: dict[str, str] = {}
    for line in lines[1:]:
        if line == "---":
            return meta
        key, sep, value = line.partition(":")
        meta[key] = value.strip() if sep else ""
    return None


_YAML_WORDS = frozenset({"null", "true", "false", "yes", "no", "on", "off", "y", "n"})


def plain(value: str | None) -> bool:
    """VALUE is read as that very string by YAML: a branch name that starts with a letter and is no YAML word,
    or a commit id with a letter in it; anything else is left to the command."""
    if not value or not all(c.isascii() and (c.isalnum() or c in "_/-.") for c in value):
        return False
    if value[0].isalpha():
        return value.lower() not in _YAML_WORDS
    # (not all digits: a number; not 0b...: YAML 1.1's binary numbers)
    return all(c in "0123456789abcdef" for c in value) and not value.isdigit() and not value.startswith("0b")
