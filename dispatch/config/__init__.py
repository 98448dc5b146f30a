"""Layered configuration: defaults < ~/.dispatch/config.yaml < user config < repository `.dispatch.toml` < flags."""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dispatch.errors import DispatchError

REPO_FILE = ".dispatch.toml"
DEFAULT = "default"
FLAG = "flag"

# Scalar keys: name -> (type, default).
SCALARS: dict[str, tuple[type, Any]] = {
    "default_model": (str, ""),
    "worktree_root": (str, ""),
    "branch_prefix": (str, "dispatch/"),
    "lock_timeout": (float, 60.0),
    "ask_timeout": (float, 600.0),
    "stop_grace": (float, 10.0),
    "merge_strategy": (str, "squash"),
    "max_running": (int, 0),
    "budget_time": (float, 0.0),
    "budget_cost": (float, 0.0),
    "sandbox": (str, "auto"),
    "sandbox_network": (bool, True),
}
CHOICES: dict[str, tuple[str, ...]] = {"merge_strategy": ("squash", "merge", "rebase", "ff"),
                                       "sandbox": ("auto", "bwrap", "off")}
LISTS = ("copy", "setup", "notify", "sandbox_write")
# Keys a repository file may set only once trusted: they run commands, or loosen the workers' confinement.
TRUSTED_KEYS = ("backends", "copy", "setup", "notify", "sandbox", "sandbox_network", "sandbox_write")
# Table name -> the fields each of its entries may have.
TABLES: dict[str, tuple[str, ...]] = {
    "backends": ("command", "env", "unset", "fails_on", "sandbox_write"),
    "models": ("backend",),
    "aliases": ("model", "prompt"),
    # Machines a task's worker may run on (`dispatch new --on NAME`): the user config only.
    "runners": ("kind", "host", "path", "dispatch", "ssh", "sbatch"),
}
RUNNER_KINDS = ("ssh", "slurm")
RUNNER_DEFAULTS: dict[str, Any] = {"path": "~/dispatch", "dispatch": ["dispatch"], "ssh": ["ssh"], "sbatch": []}

# The built-in backends: each agent CLI's non-interactive, auto-approving command line, run
# with the worktree as cwd. Flags checked against each CLI's documentation (2026):
# - claude: stream-json in print mode needs --verbose; CLAUDECODE and CLAUDE_CODE_ENTRYPOINT,
#   inherited from a host Claude Code session, would make the worker refuse to start.
# - codex: `--full-auto` is deprecated and means the workspace-write sandbox, which keeps `.git`
#   read-only and a linked worktree's git dir outside the workspace, so the worker could not
#   commit or `dispatch ask`; bypassing the sandbox is Codex's equivalent of claude's flag.
# - cursor (`agent`): --trust accepts the new worktree without a prompt (headless runs need it).
# - gemini: --approval-mode yolo replaces the deprecated --yolo; an untrusted folder would force
#   it back to `default`, hence GEMINI_CLI_TRUST_WORKSPACE.
# - aider: --no-check-update, or --yes-always would also say yes to installing an update.
# - opencode: --auto approves every permission request not explicitly denied.
BUILTIN_BACKENDS: dict[str, dict[str, Any]] = {
    "claude": {
        "command": ["claude", "-p", "{prompt}", "--model", "{model}", "--dangerously-skip-permissions",
                    "--output-format", "stream-json", "--verbose"],
        "unset": ["CLAUDECODE", "CLAUDE_CODE_ENTRYPOINT"],
        "sandbox_write": ["~/.claude", "~/.claude.json"],
    },
    # Codex: no login shells for its commands, as a login shell's profile resets PATH and with it
    # the `dispatch` the worker asks its questions with.
    "codex": {"command": ["codex", "exec", "--dangerously-bypass-approvals-and-sandbox", "--json",
                          "-c", "allow_login_shell=false", "--model", "{model}", "{prompt}"],
              "sandbox_write": ["${CODEX_HOME:-~/.codex}"]},
    "cursor": {"command": ["agent", "-p", "--force", "--trust", "--output-format", "stream-json",
                           "--model", "{model}", "{prompt}"],
               "sandbox_write": ["~/.cursor", "${XDG_CONFIG_HOME:-~/.config}/cursor"]},
    "gemini": {
        "command": ["gemini", "--approval-mode", "yolo", "--output-format", "stream-json", "--model", "{model}",
                    "--prompt", "{prompt}"],
        "env": {"GEMINI_CLI_TRUST_WORKSPACE": "true"},
        "sandbox_write": ["~/.gemini"],
    },
    # aider: no .gitignore edits, no chat or input history files and no repository-map cache in
    # the worktree (each would be committed as the worker's work), no analytics, no prompts. Its
    # model sees only the files put in the chat: the plan to edit, the questions and answers to read.
    "aider": {"command": ["aider", "--model", "{model}", "--yes-always", "--no-check-update", "--no-gitignore",
                          "--no-analytics", "--no-show-model-warnings", "--map-tokens", "0",
                          "--chat-history-file", os.devnull, "--input-history-file", os.devnull,
                          "--file", ".dispatch/PLAN.md", "--read", ".dispatch/QUESTIONS.md",
                          "--message", "{prompt}"],
              # aider exits 0 even when no model call succeeded: its error line makes the run failed.
              "fails_on": [r"^litellm\.\w+Error: "],
              "sandbox_write": ["~/.aider"]},
    # opencode: --dir, as it would otherwise take its folder from $PWD; --format json for its usage.
    "opencode": {"command": ["opencode", "run", "--auto", "--format", "json", "--dir", "{worktree}",
                             "--model", "{model}", "{prompt}"],
                 "sandbox_write": [f"${{{var}:-~/{default}}}/opencode" for var, default in (
                     ("XDG_DATA_HOME", ".local/share"), ("XDG_CONFIG_HOME", ".config"),
                     ("XDG_STATE_HOME", ".local/state"), ("XDG_CACHE_HOME", ".cache"))]},
    # dispatch's own scripted worker (no AI): it reads the prompt on stdin. Isolated (-I), as it runs
    # in the worktree, which may hold a `dispatch/` package of its own.
    "scripted": {"command": ["{python}", "-I", "-m", "dispatch.scripted"]},
}

# What a repository's own file may set only once trusted, besides backends, copy and setup (refused
# untrusted): where checkouts go (a worktree placed where another program loads code from), which
# branches are tasks (`""` would make every branch one, for `doctor --fix` to trash), and text put
# before every worker's prompt. Untrusted, they are left out and the command says so. Everything
# else (timeouts, limits, budgets, the merge strategy, default model, model and alias names) only
# tunes how dispatch runs what the user asked for.
GUARDED = ("worktree_root", "branch_prefix")
GUARDED_FIELDS = {"aliases": ("prompt",)}

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def user_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "dispatch" / "config.toml"


def legacy_config_path() -> Path:
    """The original /dispatch skill's config, read for compatibility."""
    return Path.home() / ".dispatch" / "config.yaml"


def toml_key(part: str) -> str:
    """One segment of a dotted key, quoted as TOML needs (`models."gpt-5.4".backend`)."""
    if _BARE_KEY.match(part):
        return part
    return '"' + part.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dotted(*parts: str) -> str:
    return ".".join(toml_key(p) for p in parts)


@dataclass
class Config:
    values: dict[str, Any] = field(default_factory=dict)
    # Where each leaf value came from, by dotted key: "default", a file path, or "flag".
    sources: dict[str, str] = field(default_factory=dict)
    # Layers read, lowest precedence first, and the sha256 of each file's content as read.
    layers: list[str] = field(default_factory=list)
    digests: dict[str, str] = field(default_factory=dict)
    repo_file: Path | None = None
    # Keys of the repository file left out because it is not trusted as read (see GUARDED), and why.
    ignored: list[str] = field(default_factory=list)
    ignored_why: str = ""

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


def _describe(value: Any) -> str:
    kind = {dict: "table", list: "list", str: "str", bool: "bool", int: "int", float: "float"}.get(
        type(value), type(value).__name__
    )
    text = repr(value)
    return f"{kind} {text if len(text) <= 60 else text[:57] + '...'}"


def _wrong(label: str, key: str, expected: str, value: Any) -> DispatchError:
    return DispatchError(f"{label}: key `{key}` must be {expected}, not {_describe(value)}")


def _unknown(label: str, key: str) -> DispatchError:
    return DispatchError(f"{label}: unknown key `{key}`: `dispatch config example` prints every key dispatch reads")


def example_text() -> str:
    """.dispatch.toml.example: beside the package in a checkout, inside it in a wheel (no clone needed)."""
    here = Path(__file__).resolve().parent.parent  # the dispatch package
    for candidate in (here / "dispatch.toml.example", here.parent / ".dispatch.toml.example"):
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8")
    raise DispatchError(f".dispatch.toml.example is not shipped beside {here}: reinstall git-dispatch")


def _scalar(label: str, key: str, value: Any) -> Any:
    kind, _ = SCALARS[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if kind is bool:
        if not isinstance(value, bool):
            raise _wrong(label, key, "true or false", value)
        return value
    if not isinstance(value, kind) or isinstance(value, bool):
        raise _wrong(label, key, {str: "a string", float: "a number", int: "an integer"}[kind], value)
    if isinstance(value, (int, float)) and value < 0:
        raise _wrong(label, key, "zero or more", value)
    if key in CHOICES and value not in CHOICES[key]:
        raise _wrong(label, key, "one of " + ", ".join(CHOICES[key]), value)
    return value


def _strings(label: str, key: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _wrong(label, key, "a list of strings", value)
    return list(value)


def _patterns(label: str, key: str, value: Any) -> list[str]:
    """A list of regular expressions, each checked here so that a bad one is named at load time."""
    patterns = _strings(label, key, value)
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as e:
            raise DispatchError(f"{label}: key `{key}` holds {pattern!r}, not a regular expression ({e}): "
                                "fix or remove it") from None
    return patterns


def _argv(label: str, key: str, value: Any) -> list[str]:
    """A command: a list of strings, or a string split as a shell would (never run by one)."""
    if isinstance(value, str):
        try:
            value = shlex.split(value)
        except ValueError as e:
            raise DispatchError(f"{label}: key `{key}` is not a valid command line: {e}") from None
    elif not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _wrong(label, key, "a list of strings or a string", value)
    if not value:
        raise DispatchError(f"{label}: key `{key}` is an empty command")
    return list(value)


def _notify(label: str, value: Any) -> list[str]:
    """The notify command: "" or [] for none, "desktop" for the built-in, else a command as for `setup`."""
    if value in ("", []):
        return []
    if value == "desktop":
        return ["desktop"]
    return _argv(label, "notify", value)


def _setup(label: str, value: Any) -> list[list[str]]:
    if not isinstance(value, list):
        raise _wrong(label, "setup", "a list of commands (each a string or a list of strings)", value)
    return [_argv(label, f"setup[{i}]", command) for i, command in enumerate(value)]


def _apply(cfg: Config, label: str, data: dict[str, Any]) -> None:
    """Lay one layer's values over CFG, checking each as it goes."""
    for key, value in data.items():
        if key in SCALARS:
            cfg._set(label, _scalar(label, key, value), key)
        elif key in ("copy", "sandbox_write"):
            cfg._set(label, _strings(label, key, value), key)
        elif key == "setup":
            cfg._set(label, _setup(label, value), key)
        elif key == "notify":
            cfg._set(label, _notify(label, value), key)
        elif key in TABLES:
            if not isinstance(value, dict):
                raise _wrong(label, key, "a table", value)
            for name, entry in value.items():
                _apply_entry(cfg, label, key, str(name), entry)
        else:
            raise _unknown(label, key)


def _apply_entry(cfg: Config, label: str, table: str, name: str, entry: Any) -> None:
    if not isinstance(entry, dict):
        raise _wrong(label, dotted(table, name), "a table", entry)
    cfg.values[table].setdefault(name, {})
    if not entry:  # `[models.x]` alone still says where the entry came from
        cfg.sources.setdefault(dotted(table, name), label)
    for fieldname, value in entry.items():
        key = dotted(table, name, fieldname)
        if fieldname not in TABLES[table]:
            raise _unknown(label, key)
        if fieldname in ("command", "dispatch", "ssh"):
            cfg._set(label, _argv(label, key, value), table, name, fieldname)
        elif fieldname in ("unset", "sbatch", "sandbox_write"):
            cfg._set(label, _strings(label, key, value), table, name, fieldname)
        elif fieldname == "fails_on":
            cfg._set(label, _patterns(label, key, value), table, name, fieldname)
        elif fieldname == "env":
            if not isinstance(value, dict):
                raise _wrong(label, key, "a table of strings", value)
            for var, text in value.items():
                if not isinstance(text, str):
                    raise _wrong(label, dotted(table, name, fieldname, var), "a string", text)
                cfg._set(label, text, table, name, fieldname, var)
        elif not isinstance(value, str) or not value:
            raise _wrong(label, key, "a non-empty string", value)
        elif fieldname == "kind" and value not in RUNNER_KINDS:
            raise _wrong(label, key, "one of " + ", ".join(RUNNER_KINDS), value)
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


# The original /dispatch skill's ~/.dispatch/config.yaml, two formats:
#   (a) default + backends.<name>.command (a string) + models.<id>.backend + aliases.<name>.{model,prompt}
#   (b) older: default + agents.<name>.command, each agent usable by name as a model.
# Its SKILL.md ran a worker as `<command> [--model <id>] "$(cat prompt-file)"`: the prompt was the
# last argument, and `--model <id>` was appended for the cursor and codex backends only (never for
# claude, whose CLI picks its own model; never for an agent, whose command is complete). We keep
# exactly that: `{prompt}` goes last, `--model {model}` before it for backends named cursor or codex.
# `$(pwd)` (the worker's cwd) becomes `{worktree}`; a leading `env -u NAME` / `env NAME=VALUE`
# becomes the backend's `unset` / `env`, so the command names the real CLI and no `env` runs.
LEGACY_KEYS = ("default", "backends", "models", "aliases", "agents")
LEGACY_MODEL_FLAG = ("cursor", "codex")


def _parse_yaml(path: Path, raw: bytes) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise DispatchError(f"{path}: not UTF-8 text: fix the file or move it away") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise DispatchError(f"{path}: invalid YAML: {problem}{where}: fix the file or move it away") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise DispatchError(f"{path}: must be a mapping of keys ({', '.join(LEGACY_KEYS)}), not {_describe(data)}")
    return data


def _from_legacy(label: str, data: dict[str, Any]) -> dict[str, Any]:
    """The legacy file's content in this config's terms."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        key = str(key)
        if key not in LEGACY_KEYS:
            raise DispatchError(f"{label}: unknown key `{key}`: the /dispatch skill's config has only "
                                + ", ".join(LEGACY_KEYS))
        if key == "default":
            if not isinstance(value, str):
                raise _wrong(label, key, "a model or alias name", value)
            out["default_model"] = value
            continue
        if not isinstance(value, dict):
            raise _wrong(label, key, "a mapping", value)
        if key in ("models", "aliases"):
            out.setdefault(key, {}).update({str(k): {} if v is None else v for k, v in value.items()})
            continue
        for name, entry in value.items():
            name = str(name)
            where = dotted(key, name)
            if not isinstance(entry, dict):
                raise _wrong(label, where, "a mapping with a `command`", entry)
            extra = sorted(str(k) for k in entry if k != "command")
            if extra:
                raise DispatchError(f"{label}: unknown key `{dotted(key, name, extra[0])}`: "
                                    "a /dispatch skill backend has only `command`")
            if "command" not in entry:
                raise DispatchError(f"{label}: key `{where}.command` is missing")
            model_flag = key == "backends" and name in LEGACY_MODEL_FLAG
            out.setdefault("backends", {})[name] = _legacy_backend(label, f"{where}.command", entry["command"], model_flag)
            if key == "agents":
                out.setdefault("models", {})[name] = {"backend": name}
    return out


def _legacy_backend(label: str, key: str, text: Any, model_flag: bool) -> dict[str, Any]:
    if not isinstance(text, str):
        raise _wrong(label, key, "a string", text)
    argv = _argv(label, key, text)
    env: dict[str, str] = {}
    unset: list[str] = []
    if argv[0] == "env":
        i = 1
        while i < len(argv):
            arg = argv[i]
            if arg in ("-u", "--unset") and i + 1 < len(argv):
                unset.append(argv[i + 1])
                i += 2
            elif arg.startswith("--unset="):
                unset.append(arg.partition("=")[2])
                i += 1
            elif "=" in arg and _ENV_NAME.match(arg.partition("=")[0]):
                name, _, value = arg.partition("=")
                env[name] = value
                i += 1
            else:
                break
        if i < len(argv) and not argv[i].startswith("-"):
            argv = argv[i:]
        else:  # an `env` option we do not know: keep the command as it is
            env, unset = {}, []
    argv = [re.sub(r"\$\(pwd\)|\$\{PWD\}|\$PWD\b", "{worktree}", arg) for arg in argv]
    if model_flag and not any(arg == "--model" or arg.startswith("--model=") for arg in argv):
        argv += ["--model", "{model}"]
    backend: dict[str, Any] = {"command": [*argv, "{prompt}"]}
    if env:
        backend["env"] = env
    if unset:
        backend["unset"] = unset
    return backend


def load(
    repo_root: Path | None, overrides: dict[str, Any] | None = None, *, replacing: tuple[Path, str] | None = None,
) -> Config:
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
            _apply(cfg, label, _from_legacy(label, _parse_yaml(path, raw)))
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
