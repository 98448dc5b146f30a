"""Trusting a repository's `.dispatch.toml` before it may run anything, as direnv and mise do.

A repository file that defines `backends`, `copy`, `setup` or `notify` runs none of them (and one that sets
`sandbox`, `sandbox_network` or `sandbox_write` loosens no worker's confinement) until the user
runs `dispatch trust`, which records the sha256 of the file's content; any change needs trust
again. User-level config is the user's own, so it is trusted.
"""

from __future__ import annotations

import os
from pathlib import Path

from dispatch import files, jsontext
from dispatch.config import REPO_FILE, Config
from dispatch.errors import DispatchError
from dispatch.typed import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from typing import Any

TRUST_VERSION = 1


class Trusted(NamedTuple):
    path: Path
    sha256: str
    state: str  # "trusted" (content unchanged), "changed" or "missing"


def store_path() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "dispatch" / "trusted.json"


def _key(path: Path) -> str:
    return str(path.resolve())


def _records() -> dict[str, str]:
    store = store_path()
    try:
        data = jsontext.loads(store.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise DispatchError(f"{store}: unreadable ({e}): move it away and run `dispatch trust` again") from None
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict):
        raise DispatchError(f"{store}: not a dispatch trust file: move it away and run `dispatch trust` again")
    return {str(k): str(v) for k, v in files.items()}


def _write(records: dict[str, str]) -> None:
    import json

    payload: dict[str, Any] = {"version": TRUST_VERSION, "files": dict(sorted(records.items()))}
    files.write_atomic(store_path(), json.dumps(payload, indent=2) + "\n")


def digest(path: Path) -> str | None:
    import hashlib  # (here: with OpenSSL it took 3 ms, and a repository without its own file never hashes one)

    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def recorded_digest(path: Path) -> str | None:
    """The sha256 the user trusted for PATH, None when never trusted."""
    return _records().get(_key(path))


def is_trusted(path: Path) -> bool:
    """Whether PATH's current content is the content the user trusted."""
    current = digest(path)
    return current is not None and _records().get(_key(path)) == current


def require_trusted(cfg: Config, key: str) -> None:
    """Refuse, saying what to do, when KEY comes from a repository file not trusted as it was read."""
    path = cfg.repo_file
    if path is None or not cfg.from_repo(key):
        return
    recorded = _records().get(_key(path))
    if recorded is None:
        raise DispatchError(f"{path} defines `{key}` and is not trusted: read it, then run `dispatch trust`")
    if recorded != cfg.digests[str(path)]:
        raise DispatchError(f"{path} changed since you trusted it: read it, then run `dispatch trust` again")


def trust(repo_root: Path) -> Path:
    """Record the repository file's content as trusted; it must load cleanly first."""
    from dispatch import config

    path = repo_root / REPO_FILE
    if not path.exists():
        raise DispatchError(f"{repo_root} has no {REPO_FILE}: there is nothing to trust")
    cfg = config.load(repo_root)
    records = _records()
    records[_key(path)] = cfg.digests[str(path)]
    _write(records)
    return path


def untrust(repo_root: Path) -> bool:
    """Forget the repository file's trust; False when it was not trusted."""
    records = _records()
    if records.pop(_key(repo_root / REPO_FILE), None) is None:
        return False
    _write(records)
    return True


def trusted_files() -> list[Trusted]:
    out = []
    for key, sha in sorted(_records().items()):
        current = digest(Path(key))
        state = "missing" if current is None else "trusted" if current == sha else "changed"
        out.append(Trusted(Path(key), sha, state))
    return out
