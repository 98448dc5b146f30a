"""Layered configuration: defaults < ~/.dispatch/config.yaml < user config < repository `.dispatch.toml` < flags."""

from __future__ import annotations

import os
from pathlib import Path

from dispatch.config.schema import (
    BUILTIN_BACKENDS,
    CHOICES,
    DEFAULT,
    FLAG,
    GUARDED,
    GUARDED_FIELDS,
    LISTS,
    REPO_FILE,
    RUNNER_DEFAULTS,
    RUNNER_KINDS,
    SCALARS,
    TABLES,
    TRUSTED_KEYS,
    check_argv,
    check_notify,
    check_patterns,
    check_scalar,
    check_setup,
    check_strings,
    dotted,
    toml_key,
    unknown,
    wrong,
)
from dispatch.errors import DispatchError
from dispatch.typed import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "BUILTIN_BACKENDS",
    "CHOICES",
    "DEFAULT",
    "FLAG",
    "GUARDED",
    "GUARDED_FIELDS",
    "LISTS",
    "REPO_FILE",
    "RUNNER_DEFAULTS",
    "RUNNER_KINDS",
    "SCALARS",
    "TABLES",
    "TRUSTED_KEYS",
    "Config",
    "dotted",
    "example_text",
    "ignored_notice",
    "legacy_config_path",
    "load",
    "parse_toml",
    "runner",
    "toml_key",
    "user_config_path",
]


def user_config_path() -> Path:
    return Path(os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")) / "dispatch" / "config.toml"


def legacy_config_path() -> Path:
    """The original /dispatch skill's config, read for compatibility."""
    return Path.home() / ".dispatch" / "config.yaml"


class Config:
    """The settings in force, and where each came from (filled in by `load`)."""

    def __init__(self, values: dict[str, Any] | None = None, layers: list[str] | None = None) -> None:
        self.values: dict[str, Any] = values if values is not None else {}
        # Where each leaf value came from, by dotted key: "default", a file path, or "flag".
        self.sources: dict[str, str] = {}
        # Layers read, lowest precedence first, and the sha256 of each file's content as read.
        self.layers: list[str] = layers if layers is not None else []
        self.digests: dict[str, str] = {}
        self.repo_file: Path | None = None
        # Keys of the repository file left out because it is not trusted as read (see GUARDED), and why.
        self.ignored: list[str] = []
        self.ignored_why = ""

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def _sources_under(self, key: str) -> list[str]:
        return [s for k, s in self.sources.items() if k == key or k.startswith(key + ".")]

    def source_path(self, key: str) -> Path | None:
        """The file KEY (a leaf, or a table such as `backends.x`) came from; None for defaults and flags."""
        ranked = sorted(self._sources_under(key), key=lambda s: self.layers.index(s) if s in self.layers else -1)
        source = ranked[-1] if ranked else DEFAULT
        return None if source in (DEFAULT, FLAG) else Path(source)

    def from_repo(self, key: str) -> bool:
        """Whether the repository file defines KEY or anything under it."""
        return self.repo_file is not None and str(self.repo_file) in self._sources_under(key)

    def flat(self) -> list[tuple[str, Any, str]]:
        """Every leaf as (dotted key, value, source), sorted by key."""
        rows: list[tuple[str, Any, str]] = []
        for key in [*SCALARS, *LISTS]:
            rows.append((key, self.values[key], self.sources[key]))
        for table in TABLES:
            for name, entry in self.values[table].items():
                if not entry:
                    rows.append((dotted(table, name), {}, self.sources[dotted(table, name)]))
                for fieldname, value in entry.items():
                    if isinstance(value, dict):
                        for var, text in value.items():
                            key = dotted(table, name, fieldname, var)
                            rows.append((key, text, self.sources[key]))
                    else:
                        key = dotted(table, name, fieldname)
                        rows.append((key, value, self.sources[key]))
        return sorted(rows)

    def _set(self, source: str, value: Any, *parts: str) -> None:
        target = self.values
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
        self.sources[dotted(*parts)] = source


def example_text() -> str:
    """.dispatch.toml.example: beside the package in a checkout, inside it in a wheel (no clone needed)."""
    here = Path(__file__).resolve().parent.parent  # the dispatch package
    for candidate in (here / "dispatch.toml.example", here.parent / ".dispatch.toml.example"):
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8")
    raise DispatchError(f".dispatch.toml.example is not shipped beside {here}: reinstall git-dispatch")


def _apply(cfg: Config, label: str, data: dict[str, Any]) -> None:
    """Lay one layer's values over CFG, checking each as it goes."""
    for key, value in data.items():
        if key in SCALARS:
            cfg._set(label, check_scalar(label, key, value), key)
        elif key in ("copy", "sandbox_write"):
            cfg._set(label, check_strings(label, key, value), key)
        elif key == "setup":
            cfg._set(label, check_setup(label, value), key)
        elif key == "notify":
            cfg._set(label, check_notify(label, value), key)
        elif key in TABLES:
            if not isinstance(value, dict):
                raise wrong(label, key, "a table", value)
            for name, entry in value.items():
                _apply_entry(cfg, label, key, str(name), entry)
        else:
            raise unknown(label, key)


def _apply_entry(cfg: Config, label: str, table: str, name: str, entry: Any) -> None:
    if not isinstance(entry, dict):
        raise wrong(label, dotted(table, name), "a table", entry)
    cfg.values[table].setdefault(name, {})
    if not entry:  # `[models.x]` alone still says where the entry came from
        cfg.sources.setdefault(dotted(table, name), label)
    for fieldname, value in entry.items():
        key = dotted(table, name, fieldname)
        if fieldname not in TABLES[table]:
            raise unknown(label, key)
        if fieldname in ("command", "dispatch", "ssh"):
            cfg._set(label, check_argv(label, key, value), table, name, fieldname)
        elif fieldname in ("unset", "sbatch", "sandbox_write"):
            cfg._set(label, check_strings(label, key, value), table, name, fieldname)
        elif fieldname == "fails_on":
            cfg._set(label, check_patterns(label, key, value), table, name, fieldname)
        elif fieldname == "env":
            if not isinstance(value, dict):
                raise wrong(label, key, "a table of strings", value)
            for var, text in value.items():
                if not isinstance(text, str):
                    raise wrong(label, dotted(table, name, fieldname, var), "a string", text)
                cfg._set(label, text, table, name, fieldname, var)
        elif not isinstance(value, str) or not value:
            raise wrong(label, key, "a non-empty string", value)
        elif fieldname == "kind" and value not in RUNNER_KINDS:
            raise wrong(label, key, "one of " + ", ".join(RUNNER_KINDS), value)
        else:
            cfg._set(label, value, table, name, fieldname)


def _check(cfg: Config) -> None:
    """What only the merged result can show: entries missing a field, models naming no backend."""
    for table, required, what in (("backends", "command", "backend `{}` needs the command that runs it"),
                                  ("aliases", "model", "alias `{}` needs the model it stands for")):
        for name, entry in cfg.values[table].items():
            if required not in entry:
                key = dotted(table, name, required)
                raise DispatchError(f"{cfg.source_path(dotted(table, name)) or FLAG}: key `{key}` is missing: "
                                    + what.format(name))
    for name, entry in cfg.values["runners"].items():
        if name == "local":
            raise DispatchError(f"{cfg.source_path(dotted('runners', name)) or FLAG}: runner `local` means this "
                                "machine (`--on local`): give that runner another name")
        # An ssh runner needs its host; a Slurm runner submits here without one, over ssh with one.
        for required in ("kind", "host") if entry.get("kind") != "slurm" else ("kind",):
            if required not in entry:
                key = dotted("runners", name, required)
                raise DispatchError(f"{cfg.source_path(dotted('runners', name)) or FLAG}: key `{key}` is missing: "
                                    f"runner `{name}` needs its kind (ssh or slurm) and, for ssh, its host "
                                    "(an ssh destination)")
        if "sbatch" in entry and entry.get("kind") != "slurm":
            raise DispatchError(f"{cfg.source_path(dotted('runners', name, 'sbatch')) or FLAG}: key "
                                f"`{dotted('runners', name, 'sbatch')}` is for Slurm runners: remove it, or set "
                                f'{dotted("runners", name, "kind")} = "slurm"')
    for model, entry in cfg.values["models"].items():
        backend = entry.get("backend")
        if backend is not None and backend not in cfg.values["backends"]:
            key = dotted("models", model, "backend")
            known = ", ".join(sorted(cfg.values["backends"]))
            raise DispatchError(f"{cfg.sources[key]}: key `{key}` names backend `{backend}`, which is not "
                                f"defined: add a [backends.{toml_key(backend)}] table or use one of {known}")


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as e:
        raise DispatchError(f"{path}: cannot read: {e.strerror}") from None


def _parse_toml(path: Path, raw: bytes) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise DispatchError(f"{path}: not UTF-8 text: fix the file or move it away") from None
    return parse_toml(path, text)


def parse_toml(path: Path, text: str) -> dict[str, Any]:
    """TEXT as the TOML file PATH holds, or the one line that says what is wrong with it."""
    import tomllib  # here: a repository without config files never needs the parser

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise DispatchError(f"{path}: invalid TOML: {e}: fix the file or move it away") from None


def load(repo_root: Path | None, overrides: dict[str, Any] | None = None, *,
         replacing: tuple[Path, str] | None = None) -> Config:
    """Merge every layer; a malformed file raises one line naming it, the key and the problem.

    REPLACING (path, text) reads that file as if it held TEXT, every key applied, held back or
    not: `dispatch config set` checks the file it is about to write, over the layers below it.
    """
    cfg = Config(layers=[DEFAULT])
    defaults: dict[str, Any] = {key: default for key, (_, default) in SCALARS.items()}
    defaults.update(copy=[], setup=[], notify=[], sandbox_write=[], backends=BUILTIN_BACKENDS)
    cfg.values.update({table: {} for table in TABLES})
    _apply(cfg, DEFAULT, defaults)
    files: list[tuple[Path, bool]] = [(legacy_config_path(), True), (user_config_path(), False)]
    if repo_root is not None:
        files.append((repo_root / REPO_FILE, False))
    if replacing is not None:  # the layers below it, then it (a symlinked dotfile by its real path)
        real = [os.path.realpath(path) for path, _ in files]
        files = [*files[:real.index(os.path.realpath(replacing[0]))], (replacing[0], False)]
    for path, legacy in files:
        label = str(path)
        if replacing is not None and path == replacing[0]:
            cfg.layers.append(label)
            if repo_root is not None and len(files) == 3:
                cfg.repo_file = path
            _apply(cfg, label, parse_toml(path, replacing[1]))
            continue
        raw = _read(path)
        if raw is None:
            continue
        cfg.layers.append(label)
        import hashlib  # here, not at the top: a repository without config files never needs it

        cfg.digests[label] = hashlib.sha256(raw).hexdigest()
        if legacy:
            from dispatch.config import legacy as yaml_legacy  # (only where the skill's YAML file is)

            _apply(cfg, label, yaml_legacy.from_legacy(label, yaml_legacy.parse_yaml(path, raw)))
        elif repo_root is not None and path == repo_root / REPO_FILE:
            cfg.repo_file = path
            data = _parse_toml(path, raw)
            if "runners" in data:  # a runner runs commands on a machine: never from a cloned file
                raise DispatchError(f"{path}: key `runners` may be set only in your user config "
                                    f"({user_config_path()}): move the [runners.*] tables there")
            _apply(cfg, label, _hold_back_untrusted(cfg, path, data))
        else:
            _apply(cfg, label, _parse_toml(path, raw))
    if overrides:
        cfg.layers.append(FLAG)
        _apply(cfg, FLAG, overrides)
    _check(cfg)
    return cfg


def _hold_back_untrusted(cfg: Config, path: Path, data: dict[str, Any]) -> dict[str, Any]:
    """DATA without its GUARDED keys unless PATH is trusted as read; they are checked all the same."""
    held: dict[str, Any] = {key: data[key] for key in GUARDED if key in data}
    for table, fields in GUARDED_FIELDS.items():
        entries = data.get(table)
        if isinstance(entries, dict):
            for name, entry in entries.items():
                if isinstance(entry, dict) and any(f in entry for f in fields):
                    held.setdefault(table, {})[name] = {f: entry[f] for f in fields if f in entry}
    if not held:
        return data
    scratch = Config(values={table: {} for table in TABLES})
    _apply(scratch, str(path), held)  # a bad value is refused, trusted or not
    from dispatch.config import trust

    recorded = trust.recorded_digest(path)
    if recorded == cfg.digests[str(path)]:
        return data
    cfg.ignored = sorted(scratch.sources)
    cfg.ignored_why = "is not trusted" if recorded is None else "changed since you trusted it"
    kept = {key: value for key, value in data.items() if key not in GUARDED}
    for table, fields in GUARDED_FIELDS.items():
        if isinstance(kept.get(table), dict):
            kept[table] = {name: ({f: v for f, v in entry.items() if f not in fields} if isinstance(entry, dict) else entry)
                           for name, entry in kept[table].items()}
    return kept


def runner(cfg: Config, name: str) -> dict[str, Any]:
    """Runner NAME's settings with their defaults; an unknown name is refused with the known ones."""
    runners = cfg.values["runners"]
    if name not in runners:
        known = ", ".join(sorted(runners)) or "none is defined"
        raise DispatchError(f"no runner `{name}` (known: {known}): add a [runners.{toml_key(name)}] table "
                            f"to {user_config_path()}")
    return {**RUNNER_DEFAULTS, **runners[name]}


def ignored_notice(cfg: Config) -> str | None:
    """The one line a command prints when the repository file's guarded keys were left out."""
    if not cfg.ignored:
        return None
    keys = ", ".join(f"`{key}`" for key in cfg.ignored)
    again = " again" if cfg.ignored_why.startswith("changed") else ""
    return (f"{cfg.repo_file} {cfg.ignored_why}: ignoring its {keys}: read it, then run `dispatch trust`{again}")
