"""Layered configuration: built-in defaults < user config < repository `.dispatch.toml` < flags."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dispatch.errors import DispatchError

REPO_FILE = ".dispatch.toml"

# Scalar keys: name -> (type, default). Tables (backends, models, aliases) are handled apart.
SCALARS: dict[str, tuple[type, Any]] = {
    "worktree_root": (str, ""),
    "branch_prefix": (str, "dispatch/"),
    "lock_timeout": (float, 60.0),
}


def user_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "dispatch" / "config.toml"


@dataclass
class Config:
    values: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.values[key]


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as e:
        raise DispatchError(f"{path}: invalid TOML: {e}: fix the file or move it away") from None
    except OSError as e:
        raise DispatchError(f"{path}: cannot read: {e.strerror}") from None


def _coerce(path: Path, key: str, value: Any) -> Any:
    kind, _ = SCALARS[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise DispatchError(
            f"{path}: key `{key}` must be a {kind.__name__}, not {type(value).__name__} {value!r}"
        )
    return value


def load(repo_root: Path | None) -> Config:
    cfg = Config()
    for key, (_, default) in SCALARS.items():
        cfg.values[key] = default
        cfg.sources[key] = "default"
    layers = [user_config_path()]
    if repo_root is not None:
        layers.append(repo_root / REPO_FILE)
    for path in layers:
        for key, value in _read_toml(path).items():
            if key not in SCALARS:
                raise DispatchError(
                    f"{path}: unknown key `{key}`: see .dispatch.toml.example for the keys dispatch reads"
                )
            cfg.values[key] = _coerce(path, key, value)
            cfg.sources[key] = str(path)
    return cfg
