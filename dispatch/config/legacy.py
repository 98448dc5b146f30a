"""The original /dispatch skill's `~/.dispatch/config.yaml`, read for compatibility, in this config's terms."""

from __future__ import annotations

import re
from pathlib import Path

from dispatch.config.schema import ENV_NAME, check_argv, describe, dotted, wrong
from dispatch.errors import DispatchError
from dispatch.typed import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

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


def parse_yaml(path: Path, raw: bytes) -> dict[str, Any]:
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
        raise DispatchError(f"{path}: must be a mapping of keys ({', '.join(LEGACY_KEYS)}), not {describe(data)}")
    return data


def from_legacy(label: str, data: dict[str, Any]) -> dict[str, Any]:
    """The legacy file's content in this config's terms."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        key = str(key)
        if key not in LEGACY_KEYS:
            raise DispatchError(f"{label}: unknown key `{key}`: the /dispatch skill's config has only "
                                + ", ".join(LEGACY_KEYS))
        if key == "default":
            if not isinstance(value, str):
                raise wrong(label, key, "a model or alias name", value)
            out["default_model"] = value
            continue
        if not isinstance(value, dict):
            raise wrong(label, key, "a mapping", value)
        if key in ("models", "aliases"):
            out.setdefault(key, {}).update({str(k): {} if v is None else v for k, v in value.items()})
            continue
        for name, entry in value.items():
            name = str(name)
            where = dotted(key, name)
            if not isinstance(entry, dict):
                raise wrong(label, where, "a mapping with a `command`", entry)
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
        raise wrong(label, key, "a string", text)
    argv = check_argv(label, key, text)
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
            elif "=" in arg and re.match(ENV_NAME, arg.partition("=")[0]):
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
