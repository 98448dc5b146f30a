"""Editing the user or repository config file in place: comments and layout kept (tomlkit), values checked.

Every edit is one change to the file's data, every other byte kept (config/tomltext.py). The new
file must load under config.load's rules on top of the layers below it, or nothing is written.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dispatch import config, files
from dispatch.config import (
    LISTS,
    REPO_FILE,
    SCALARS,
    TABLES,
    Config,
    dotted,
    tomltext,
    user_config_path,
)
from dispatch.errors import DispatchError
from dispatch.typed import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

DELETE = tomltext.DELETE

# How `config set` reads VALUE for each kind of key.
_FIELD_KINDS = {"command": "command", "unset": "list", "env": "env", "dispatch": "command", "ssh": "command",
                "sbatch": "list"}
_KEYS_HELP = (", ".join([*SCALARS, *LISTS]) + ", backends.NAME.command|env|unset, backends.NAME.env.VAR, "
              "models.MODEL.backend, aliases.NAME.model|prompt, runners.NAME.kind|host|path|dispatch|ssh|sbatch")


@dataclass(frozen=True)
class Key:
    parts: tuple[str, ...]  # ("default_model",), ("models", "gpt-5.4", "backend"), ("backends", "x", "env", "V")
    kind: str  # str | number | list | setup | command | env | entry

    @property
    def name(self) -> str:
        return dotted(*self.parts)


@dataclass(frozen=True)
class Edited:
    path: Path
    key: str
    changed: bool
    # The repository file was trusted before this edit, and defines commands that now need trust again.
    trust_lapsed: bool = False
    backend: str | None = None  # for models: the backend the model runs on after the edit
    value: str = ""  # the value set, as TOML


def target(*, repo_root: Path | None) -> Path:
    """The file an edit writes: the repository's `.dispatch.toml` with a root, else the user config."""
    return repo_root / REPO_FILE if repo_root is not None else user_config_path()


def parse_key(key: str) -> Key:
    """A dotted key as written in the file (`models."gpt-5.4".backend`), checked against the keys dispatch reads."""
    data: Any
    try:
        data = tomllib.loads(f"{key} = 0")
    except tomllib.TOMLDecodeError:
        data = None
    parts: list[str] = []
    while isinstance(data, dict) and len(data) == 1:
        part, data = next(iter(data.items()))
        parts.append(part)
    if data != 0 or not parts:
        raise DispatchError(f"`{key}` is not a config key: write it as in the file, such as `merge_strategy` "
                            'or `models."gpt-5.4".backend`')
    head = parts[0]
    if len(parts) == 1 and head in SCALARS:
        return Key((head,), "str" if SCALARS[head][0] is str else "number")
    if len(parts) == 1 and head in LISTS:
        # notify is a command: an argv list, or one string (`desktop`, or a line split as a shell would).
        return Key((head,), {"setup": "setup", "notify": "command"}.get(head, "list"))
    if head in TABLES and len(parts) >= 2:
        fields = TABLES[head]
        if len(parts) == 2:
            return Key(tuple(parts), "entry")
        if parts[-1] in fields:
            return Key((head, ".".join(parts[1:-1]), parts[-1]), _FIELD_KINDS.get(parts[-1], "str"))
        if head == "backends" and len(parts) >= 4 and parts[-2] == "env":
            return Key((head, ".".join(parts[1:-2]), "env", parts[-1]), "str")
        raise DispatchError(f"unknown key `{key}`: an entry of `{head}` has only "
                            + ", ".join(f"`{f}`" for f in fields))
    raise DispatchError(f"unknown key `{key}`: use one of {_KEYS_HELP}")


def read_value(key: Key, text: str) -> Any:
    """VALUE of `config set` as the key's kind needs it: strings as typed, the rest written as TOML."""
    if key.kind == "entry":
        raise DispatchError(f"`{key.name}` is a table: set one of its fields, such as `{key.name}."
                            f"{TABLES[key.parts[0]][0]}`")
    if key.kind == "str":
        return text
    value = _literal(text)
    if key.kind in ("list", "setup") and not isinstance(value, list):
        example = '\'["npm ci"]\'' if key.kind == "setup" else '\'[".env"]\''
        raise DispatchError(f"key `{key.name}` must be a list, written as TOML: "
                            f"`dispatch config set {key.name} {example}`")
    if key.kind == "env" and not isinstance(value, dict):
        raise DispatchError(f"key `{key.name}` must be a table of strings, written as TOML: "
                            f"'{{ NAME = \"value\" }}', or set one variable: `dispatch config set {key.name}.NAME VALUE`")
    if key.kind == "command" and not isinstance(value, list):
        return text  # a command line as one string, split as a shell would when it is run
    return value


def _literal(text: str) -> Any:
    """TEXT read as a TOML value (`3`, `2.5`, `["a"]`, `{ A = "1" }`); else the text itself."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


# --- the edits -------------------------------------------------------------------------------


def set_key(key: str, text: str, *, repo_root: Path | None) -> Edited:
    parsed = parse_key(key)
    return _edit(repo_root, parsed.name, [(parsed.parts, read_value(parsed, text))])


def unset_key(key: str, *, repo_root: Path | None) -> Edited:
    parsed = parse_key(key)
    return _edit(repo_root, parsed.name, [(parsed.parts, DELETE)], must_exist=True)


def _name(what: str, name: str) -> str:
    if not name.strip():
        raise DispatchError(f"the {what} name is empty: give one, such as `gpt-5.4`")
    return name


def add_model(model: str, backend: str | None, *, repo_root: Path | None) -> Edited:
    _name("model", model)
    parts = ("models", model)
    changes: list[tuple[tuple[str, ...], Any]] = [((*parts, "backend"), backend)] if backend else [(parts, {})]
    return _edit(repo_root, dotted(*parts), changes, keep_entry=True)


def remove_model(model: str, *, repo_root: Path | None) -> Edited:
    return _edit(repo_root, dotted("models", model), [(("models", model), DELETE)], must_exist=True)


def set_alias(name: str, model: str, prompt: str | None, *, repo_root: Path | None) -> Edited:
    """Point alias NAME at MODEL; PROMPT replaces its prompt ("" removes it), None keeps it."""
    _name("alias", name)
    parts = ("aliases", name)
    changes: list[tuple[tuple[str, ...], Any]] = [((*parts, "model"), model)]
    if prompt is not None:
        changes.append(((*parts, "prompt"), prompt if prompt else DELETE))
    return _edit(repo_root, dotted(*parts), changes)


def remove_alias(name: str, *, repo_root: Path | None) -> Edited:
    return _edit(repo_root, dotted("aliases", name), [(("aliases", name), DELETE)], must_exist=True)


def _edit(repo_root: Path | None, label: str, changes: list[tuple[tuple[str, ...], Any]], *,
          must_exist: bool = False, keep_entry: bool = False) -> Edited:
    path = Path(os.path.realpath(target(repo_root=repo_root)))  # a symlinked dotfile stays a symlink
    with _locked(path.parent):
        before = _read(path)
        text = before
        for parts, value in changes:
            present = tomltext.has(config.parse_toml(path, text), parts)
            if (value is DELETE and not present) or (keep_entry and value == {} and present):
                if must_exist:
                    _refuse_if_elsewhere(path, parts, repo_root)
                continue
            text = tomltext.change(path, text, parts, value)
        cfg = _validate(path, text, repo_root)
        lapsed = False
        if text != before:
            lapsed = repo_root is not None and _trust_lapses(path, before, cfg)
            _write(path, text)
    shown = "" if changes[-1][1] is DELETE else tomltext.item(changes[-1][1]).as_string()
    return Edited(path, label, text != before, lapsed, _backend_from(cfg, changes), shown)


def _backend_from(cfg: Config, changes: list[tuple[tuple[str, ...], Any]]) -> str | None:
    parts, value = changes[0]
    if parts[0] != "models" or value is DELETE:
        return None
    from dispatch.config.backends import backend_for_model

    return backend_for_model(cfg, parts[1])


def _refuse_if_elsewhere(path: Path, parts: tuple[str, ...], repo_root: Path | None) -> None:
    """Removing what this file does not hold, but another file does: say which, and how to reach it."""
    key = dotted(*parts)
    try:
        other = config.load(repo_root if repo_root is not None else _repo_root_here()).source_path(key)
    except DispatchError:
        return
    if other is None or Path(os.path.realpath(other)) == path:
        return
    fix = ("edit that file" if other.suffix != ".toml" else
           "add --repo" if other.name == REPO_FILE else "leave out --repo")
    raise DispatchError(f"`{key}` is not in {path} but in {other}: {fix}")


def _repo_root_here() -> Path | None:
    from dispatch.repo import open_repo

    try:
        return open_repo(Path.cwd()).root
    except DispatchError:
        return None


# --- text ------------------------------------------------------------------------------------


def _read(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return ""
    except OSError as e:
        raise DispatchError(f"{path}: cannot read: {e.strerror}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise DispatchError(f"{path}: not UTF-8 text: fix the file or move it away") from None


# --- checking and writing --------------------------------------------------------------------


def _validate(path: Path, text: str, repo_root: Path | None) -> Config:
    """The new file under config.py's rules, laid over the layers below it (as config.load does)."""
    return config.load(repo_root, replacing=(path, text))


def _trust_lapses(path: Path, before: str, cfg: Config) -> bool:
    from dispatch.config import trust

    defines = any(cfg.from_repo(key) for key in config.TRUSTED_KEYS)
    return defines and bool(before) and trust.is_trusted(path)


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """One edit at a time per folder: read, change and replace without losing another's edit."""
    folder.mkdir(parents=True, exist_ok=True)
    with files.locked(folder):
        yield


def _write(path: Path, text: str) -> None:
    """Atomically and durably: a person's own file."""
    try:
        files.write_atomic(path, text, durable=True)
    except OSError as e:
        raise DispatchError(f"{path}: cannot write: {e.strerror}") from None
