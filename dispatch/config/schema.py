"""What the configuration may hold: every key, its type and default, the built-in backends,
what a repository file may set only once trusted, and the check of each kind of value."""

from __future__ import annotations

import os
import re

from dispatch.errors import DispatchError
from dispatch.typed import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

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
    "runner": (str, ""),  # where new tasks' workers run without --on: a [runners.NAME], or "" (here)
}
CHOICES: dict[str, tuple[str, ...]] = {"merge_strategy": ("squash", "merge", "rebase", "ff"),
                                       "sandbox": ("auto", "bwrap", "off")}
LISTS = ("copy", "setup", "notify", "sandbox_write")
# Keys a repository file may set only once trusted: they run commands, or loosen the workers' confinement.
TRUSTED_KEYS = ("backends", "copy", "setup", "notify", "sandbox", "sandbox_network", "sandbox_write")
# Table name -> the fields each of its entries may have.
TABLES: dict[str, tuple[str, ...]] = {
    "backends": ("command", "env", "unset", "fails_on", "sandbox_write"),
    "models": ("backend", "runner"),
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

_BARE_KEY = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"  # what a TOML bare key is made of
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"  # (compiled by re on first use: most runs never check one)


def toml_key(part: str) -> str:
    """One segment of a dotted key, quoted as TOML needs (`models."gpt-5.4".backend`)."""
    if part and not part.strip(_BARE_KEY):  # (a string method: config's keys are quoted a hundred times a run)
        return part
    return '"' + part.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dotted(*parts: str) -> str:
    return ".".join(toml_key(p) for p in parts)


def describe(value: Any) -> str:
    kind = {dict: "table", list: "list", str: "str", bool: "bool", int: "int", float: "float"}.get(
        type(value), type(value).__name__
    )
    text = repr(value)
    return f"{kind} {text if len(text) <= 60 else text[:57] + '...'}"


def wrong(label: str, key: str, expected: str, value: Any) -> DispatchError:
    return DispatchError(f"{label}: key `{key}` must be {expected}, not {describe(value)}")


def unknown(label: str, key: str) -> DispatchError:
    return DispatchError(f"{label}: unknown key `{key}`: `dispatch config example` prints every key dispatch reads")


def check_scalar(label: str, key: str, value: Any) -> Any:
    kind, _ = SCALARS[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if kind is bool:
        if not isinstance(value, bool):
            raise wrong(label, key, "true or false", value)
        return value
    if not isinstance(value, kind) or isinstance(value, bool):
        raise wrong(label, key, {str: "a string", float: "a number", int: "an integer"}[kind], value)
    if isinstance(value, (int, float)) and value < 0:
        raise wrong(label, key, "zero or more", value)
    if key in CHOICES and value not in CHOICES[key]:
        raise wrong(label, key, "one of " + ", ".join(CHOICES[key]), value)
    return value


def check_strings(label: str, key: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise wrong(label, key, "a list of strings", value)
    return list(value)


def check_patterns(label: str, key: str, value: Any) -> list[str]:
    """A list of regular expressions, each checked here so that a bad one is named at load time."""
    patterns = check_strings(label, key, value)
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as e:
            raise DispatchError(f"{label}: key `{key}` holds {pattern!r}, not a regular expression ({e}): "
                                "fix or remove it") from None
    return patterns


def check_argv(label: str, key: str, value: Any) -> list[str]:
    """A command: a list of strings, or a string split as a shell would (never run by one)."""
    if isinstance(value, str):
        try:
            import shlex  # (only a command given as a string needs it)

            value = shlex.split(value)
        except ValueError as e:
            raise DispatchError(f"{label}: key `{key}` is not a valid command line: {e}") from None
    elif not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise wrong(label, key, "a list of strings or a string", value)
    if not value:
        raise DispatchError(f"{label}: key `{key}` is an empty command")
    return list(value)


def check_notify(label: str, value: Any) -> list[str]:
    """The notify command: "" or [] for none, "desktop" for the built-in, else a command as for `setup`."""
    if value in ("", []):
        return []
    if value == "desktop":
        return ["desktop"]
    return check_argv(label, "notify", value)


def check_setup(label: str, value: Any) -> list[list[str]]:
    if not isinstance(value, list):
        raise wrong(label, "setup", "a list of commands (each a string or a list of strings)", value)
    return [check_argv(label, f"setup[{i}]", command) for i, command in enumerate(value)]
