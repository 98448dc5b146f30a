"""The shipped /dispatch skill: where it is, and installing it where Claude Code finds it."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from dispatch.errors import DispatchError

_HERE = Path(__file__).resolve().parent
MANIFEST = ".dispatch-skill.json"


def shipped_dir() -> Path:
    """`dispatch/skill/dispatch` in an installed wheel, `skill/dispatch` in a checkout."""
    for candidate in (_HERE / "skill" / "dispatch", _HERE.parent / "skill" / "dispatch"):
        if (candidate / "SKILL.md").is_file():
            return candidate
    raise DispatchError(f"the dispatch skill is not shipped beside {_HERE}: reinstall git-dispatch (`pipx install --force git-dispatch`)")


def _files(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file of a skill folder (the manifest left out)."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name != MANIFEST:
            found[path.relative_to(root).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def target_dir(*, project: Path | None) -> Path:
    if project is not None:
        return project / ".claude" / "skills" / "dispatch"
    return Path.home() / ".claude" / "skills" / "dispatch"


@dataclass(frozen=True)
class Installed:
    path: Path
    action: str  # installed | updated | unchanged


def install(target: Path, *, force: bool) -> Installed:
    """Copy the shipped skill to TARGET; a copy someone changed is only replaced with force."""
    source = _files(shipped_dir())
    if target.exists():
        current = _files(target)
        if current == source:
            return Installed(target, "unchanged")
        try:
            recorded = json.loads((target / MANIFEST).read_text())
        except (OSError, ValueError):
            recorded = None
        if current != recorded and not force:
            changed = sorted(k for k in set(current) | set(recorded or {}) if current.get(k) != (recorded or {}).get(k))
            what = ", ".join(changed[:5]) if recorded is not None else "it was not installed by dispatch"
            raise DispatchError(
                f"{target} has been changed ({what}): keep it, or replace it with `dispatch skill install --force`"
            )
    action = "updated" if target.exists() else "installed"
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        shutil.copytree(shipped_dir(), tmp)
        (tmp / MANIFEST).write_text(json.dumps(source, indent=2, sort_keys=True) + "\n")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # a full disk leaves no half-copied skill behind
        raise
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, target)
    return Installed(target, action)
