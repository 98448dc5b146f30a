"""Which agent CLI runs a model, and the exact argv it gets (never through a shell)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from dispatch import files
from dispatch.config import BUILTIN_BACKENDS, Config, dotted, toml_key, user_config_path
from dispatch.errors import DispatchError

PLACEHOLDER = re.compile(r"\{(prompt|model|worktree|python)\}")

# Built-in backend -> (what it is, how to install it).
INSTALL: dict[str, tuple[str, str]] = {
    "claude": ("Claude Code", "npm install -g @anthropic-ai/claude-code"),
    "codex": ("Codex CLI", "npm install -g @openai/codex"),
    "cursor": ("Cursor CLI", "curl https://cursor.com/install -fsS | bash"),
    "gemini": ("Gemini CLI", "npm install -g @google/gemini-cli"),
    "aider": ("aider", "python -m pip install aider-install && aider-install"),
    "opencode": ("opencode", "npm install -g opencode-ai"),
}

# Model id -> backend, the original /dispatch skill's rule: Claude models on Claude Code, OpenAI
# models on Codex, Gemini models on Gemini CLI (each on Cursor when its own CLI is missing),
# everything else on Cursor.
CLAUDE_WORDS = ("opus", "sonnet", "haiku")
OPENAI_WORDS = ("gpt", "codex", "o1", "o3", "o4-mini")
GEMINI_WORDS = ("gemini",)
# Examples `dispatch models` lists besides the configured ones: names the pinned CLIs know
# (Codex 0.171's catalogue, Gemini CLI 0.61's, Claude Code's own aliases).
EXAMPLE_MODELS = ("opus", "sonnet", "haiku", "gpt-5.5", "gpt-5.6-sol", "gemini-2.5-pro", "scripted")


@dataclass(frozen=True)
class Launch:
    requested: str  # what the user asked for: a model id or an alias name
    model: str  # the model id after alias resolution
    backend: str  # backend name
    command: list[str]  # argv template with placeholders
    prompt_prefix: str  # the alias's prompt ("" when none), prepended to the worker prompt
    env: dict[str, str]  # extra environment
    env_unset: tuple[str, ...]
    from_repo: bool  # backend definition comes from the repository .dispatch.toml (needs trust)
    fails_on: tuple[str, ...] = ()  # output lines that make an exit-0 run that changed nothing failed
    sandbox_write: tuple[str, ...] = ()  # what its CLI writes outside the worktree, writable when confined


def is_installed(executable: str) -> bool:
    return shutil.which(executable) is not None


def executable(command: list[str]) -> str | None:
    """The program a command runs; None for dispatch's own Python."""
    return None if command[0] == "{python}" else command[0]


def backend_for_model(cfg: Config, model: str, *, installed: Callable[[str], bool] = is_installed) -> str:
    configured = cfg["models"].get(model, {}).get("backend")
    if configured:
        return str(configured)
    low = model.lower()
    if low == "scripted":
        return "scripted"
    if any(word in low for word in CLAUDE_WORDS):
        return "claude"
    for words, native in ((OPENAI_WORDS, "codex"), (GEMINI_WORDS, "gemini")):
        if any(word in low for word in words):
            program = executable(cfg["backends"][native]["command"]) if native in cfg["backends"] else None
            return native if program and installed(program) else "cursor"
    return "cursor"


def resolve(cfg: Config, requested: str | None) -> Launch:
    """The model or alias REQUESTED (else the default) as a backend command ready to render."""
    name = requested or cfg["default_model"]
    if not name:
        raise DispatchError(
            "no model given and no default_model configured: pass --model MODEL or run `dispatch init`"
        )
    alias = cfg["aliases"].get(name)
    model = alias["model"] if alias else name
    backend = backend_for_model(cfg, model)
    spec = cfg["backends"].get(backend)
    if spec is None:  # only a built-in name can get here, and only if config removed it
        raise DispatchError(f"model `{model}` runs on backend `{backend}`, which is not defined: "
                            f"add a [backends.{backend}] table to your config")
    return Launch(
        requested=name, model=model, backend=backend, command=list(spec["command"]),
        prompt_prefix=alias.get("prompt", "") if alias else "", env=dict(spec.get("env", {})),
        env_unset=tuple(spec.get("unset", ())), from_repo=cfg.from_repo(dotted("backends", backend)),
        fails_on=tuple(spec.get("fails_on", ())), sandbox_write=tuple(spec.get("sandbox_write", ())),
    )


def check_installed(launch: Launch) -> None:
    """One line naming the CLI to install when the backend's program is not on PATH."""
    program = executable(launch.command)
    if program is None or PLACEHOLDER.search(program) or is_installed(program):
        return
    builtin = BUILTIN_BACKENDS.get(launch.backend, {}).get("command", [None])[0]
    if launch.backend in INSTALL and program == builtin:
        what, how = INSTALL[launch.backend]
        raise DispatchError(f"`{program}` ({what}) is not installed: `{how}`, or pick another model with --model")
    raise DispatchError(f"`{program}` (backend `{launch.backend}`) is not on PATH: install it or fix "
                        f"`backends.{launch.backend}.command`, or pick another model with --model")


def render_argv(launch: Launch, *, prompt: str, worktree: Path) -> tuple[list[str], str | None]:
    """The argv to exec, and the stdin text: PROMPT when the command has no `{prompt}`, else None.

    PROMPT is the whole worker prompt, alias prefix included. Each placeholder is replaced in one
    pass, so text inside the prompt or the model id is never expanded again.
    """
    values = {"prompt": prompt, "model": launch.model, "worktree": str(worktree), "python": sys.executable}
    argv = [PLACEHOLDER.sub(lambda m: values[m.group(1)], arg) for arg in launch.command]
    takes_prompt = any("{prompt}" in arg for arg in launch.command)
    return argv, None if takes_prompt else prompt


def installed_clis() -> dict[str, bool]:
    """Per built-in backend: is its program on PATH (the scripted worker always is)."""
    out = {}
    for name, spec in BUILTIN_BACKENDS.items():
        program = executable(spec["command"])
        out[name] = program is None or is_installed(program)
    return out


_VERSION = re.compile(r"\b(\d+\.\d+(?:\.\d+)?(?:[-+][0-9A-Za-z.]+)?)\b")


def _npm_version(program: str) -> str | None:
    """The version in the package.json of the npm package PROGRAM comes from, read without starting
    it (Gemini CLI takes seconds to say its version); None when PROGRAM is not from npm."""
    found = shutil.which(program)
    if found is None:
        return None
    real = Path(found).resolve()
    for folder in list(real.parents)[:3]:
        try:
            meta = json.loads((folder / "package.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(meta, dict) and meta.get("bin") and isinstance(meta.get("version"), str):
            return str(meta["version"])
    return None


def _pip_version(program: str) -> str | None:
    """The version of the Python distribution whose console script PROGRAM is (aider's, from the
    venv it was installed into), read without starting it; None when there is no such script."""
    found = shutil.which(program)
    if found is None:
        return None
    venv = Path(found).resolve().parent.parent
    for entry_points in venv.glob("lib/python3*/site-packages/*.dist-info/entry_points.txt"):
        try:
            text = entry_points.read_text(encoding="utf-8")
        except OSError:
            continue
        if re.search(rf"^{re.escape(program)}\s*=", text, re.MULTILINE):
            match = re.search(r"^Version: (\S+)$", (entry_points.parent / "METADATA").read_text(
                encoding="utf-8", errors="replace"), re.MULTILINE)
            return match.group(1) if match else None
    return None


def cli_version(program: str, *, timeout: float = 30.0) -> str | None:
    """PROGRAM's version: its npm package's or Python distribution's, else what `PROGRAM --version`
    says (`codex-cli 0.171.0` gives 0.171.0); None if it says none."""
    known = _npm_version(program) or _pip_version(program)
    if known:
        return known
    try:
        r = subprocess.run([program, "--version"], check=False, capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL, env={**os.environ, "NO_COLOR": "1"})
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in (r.stdout + "\n" + r.stderr).splitlines():
        match = _VERSION.search(_ANSI.sub("", line))
        if match:
            return match.group(1)
    return None


def cli_versions(installed: dict[str, bool]) -> dict[str, str | None]:
    """Per installed built-in backend, its CLI's version, asked of all the CLIs at once (each takes
    a second or two to start); None for the scripted worker and for a CLI that reports none."""
    programs = {name: executable(BUILTIN_BACKENDS[name]["command"]) for name, ok in installed.items() if ok}
    asked = {name: program for name, program in programs.items() if program is not None}
    with ThreadPoolExecutor(max_workers=max(1, len(asked))) as pool:
        found = dict(zip(asked, pool.map(cli_version, asked.values())))
    return {name: found.get(name) for name in programs}


def looks_like_model(word: str) -> bool:
    """A word that names a model by the rule above (also `gemini...`), e.g. `gpt-5`, `claude-opus-4-1`."""
    low = word.lower()
    if any(w in low for w in (*CLAUDE_WORDS, "gpt", "codex", "gemini")):
        return True
    # o1 / o3 / o4-mini only as a whole part of the id, so `foo1.py` or `video3` do not count
    parts = re.split(r"[-_./:]", low)
    return bool(parts) and (parts[0] in ("o1", "o3", "o4") or "o1" in parts or "o3" in parts)


def pick(cfg: Config, text: str) -> tuple[str, bool] | None:
    """The model or alias named last in TEXT, or the default; (name, is_default); None if neither."""
    known = {name.lower(): name for name in [*cfg["models"], *cfg["aliases"]]}
    last = None
    for word in re.findall(r"[A-Za-z0-9][A-Za-z0-9._:/-]*", text):
        word = word.rstrip(".:/-")
        if word.lower() in known:
            last = known[word.lower()]
        elif looks_like_model(word):
            last = word.lower()
    if last:
        return last, False
    default = cfg["default_model"]
    return (default, True) if default else None


@dataclass(frozen=True)
class ModelRow:
    id: str
    backend: str
    source: str  # the config file that names it, "default", or "example"


def model_rows(cfg: Config) -> list[ModelRow]:
    """Configured models and the built-in examples, with the backend each runs on now."""
    rows = {m: ModelRow(m, backend_for_model(cfg, m), "example") for m in EXAMPLE_MODELS}
    for m in cfg["models"]:
        source = cfg.source_path(dotted("models", m))
        rows[m] = ModelRow(m, backend_for_model(cfg, m), str(source) if source else "default")
    return sorted(rows.values(), key=lambda r: r.id)


# `agent models` prints `<id> - <Display Name>`, maybe marked `(current)` or `(default)`.
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_CURSOR_MODEL = re.compile(r"^(?:[*>•]\s*)?([A-Za-z0-9][A-Za-z0-9._:/-]*)\s+[-–—]\s+(.+)$")


def cursor_models(*, timeout: float = 30.0) -> tuple[list[str], str | None, str | None]:
    """Cursor's `agent models`, parsed defensively: (ids, its default id, why nothing was listed)."""
    program = executable(BUILTIN_BACKENDS["cursor"]["command"]) or "agent"
    try:
        r = subprocess.run([program, "models"], check=False, capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL, env={**os.environ, "NO_COLOR": "1"})
    except subprocess.TimeoutExpired:
        return [], None, f"`{program} models` did not answer in {timeout:g}s"
    except OSError as e:
        return [], None, f"`{program} models` could not run: {e.strerror}"
    if r.returncode != 0:
        return [], None, f"`{program} models` failed with exit code {r.returncode} (logged in? `{program} login`)"
    ids: list[str] = []
    default = None
    for line in r.stdout.splitlines():
        match = _CURSOR_MODEL.match(_ANSI.sub("", line).strip())
        if not match or match.group(1) in ids:
            continue
        ids.append(match.group(1))
        if default is None and re.search(r"\((current|default)\)", match.group(2), re.IGNORECASE):
            default = match.group(1)
    return ids, default, None if ids else f"`{program} models` listed no models"


@dataclass(frozen=True)
class InitResult:
    path: Path
    default_model: str
    models: dict[str, str]  # id -> backend
    installed: dict[str, bool]
    note: str | None  # why Cursor's models are missing, when they are


# Models written for each CLI that has no way to list its own (the Cursor CLI has: `agent models`).
_STARTER_MODELS = {
    "claude": ("opus", "sonnet", "haiku"),  # stable aliases the Claude Code CLI resolves itself
    "codex": ("gpt-5.5", "gpt-5.6-sol"),
    "gemini": ("gemini-2.5-pro", "gemini-2.5-flash"),
}


def init_user_config(*, force: bool) -> InitResult:
    """Detect the installed CLIs and write the user config; never replace one without FORCE."""
    path = user_config_path()
    if path.exists() and not force:
        raise DispatchError(f"{path} already exists: edit it, or run `dispatch init --force` to replace it")
    installed = installed_clis()
    models: dict[str, str] = {}
    for backend, ids in _STARTER_MODELS.items():
        if installed[backend]:
            models.update({m: backend for m in ids})
    cursor_ids, cursor_default, note = cursor_models() if installed["cursor"] else ([], None, None)
    for m in cursor_ids:
        low = m.lower()
        native = "claude" if any(w in low for w in CLAUDE_WORDS) else "codex" if any(
            w in low for w in OPENAI_WORDS) else "gemini" if any(w in low for w in GEMINI_WORDS) else None
        models.setdefault(m, native if native and installed[native] else "cursor")
    # As the original's first-run setup recommended: a Claude model, else OpenAI, else Cursor's own pick.
    default = next((_STARTER_MODELS[b][0] for b in ("claude", "codex") if installed[b]), "")
    default = default or cursor_default or next(iter(cursor_ids), "") or next(iter(models), "")
    files.write_atomic(path, _render_init(default, models, installed))
    return InitResult(path, default, models, installed, note)


def _cli_list(installed: dict[str, bool], want: bool) -> str:
    names = [f"{BUILTIN_BACKENDS[b]['command'][0]} ({INSTALL[b][0]})" for b in INSTALL if installed[b] == want]
    return ", ".join(names) or "none"


def _render_init(default: str, models: dict[str, str], installed: dict[str, bool]) -> str:
    lines = [
        "# dispatch user configuration, written by `dispatch init`; edit it freely.",
        "# Layers, later wins: built-in defaults < ~/.dispatch/config.yaml (the /dispatch skill's)",
        "#   < this file < a repository's .dispatch.toml < command-line flags.",
        "# `dispatch config show` prints the result; `dispatch config example` prints every key.",
        "",
        f"# Agent CLIs found on PATH: {_cli_list(installed, True)}",
        f"# Not found: {_cli_list(installed, False)}",
        "",
        "# The model (or alias) a worker runs when `dispatch new` gets no --model.",
        f"default_model = {json.dumps(default)}",
        "",
        "# Models, and the backend (agent CLI) that runs each. A model not listed here runs on",
        "# claude when its id contains opus, sonnet or haiku; on codex when it contains gpt, codex, o1,",
        "# o3 or o4-mini, on gemini when it contains gemini (each on cursor when its CLI is missing);",
        "# on cursor otherwise.",
        "[models]",
        *[f"{toml_key(m)} = {{ backend = {json.dumps(b)} }}" for m, b in models.items()],
        "",
        "# Aliases: a short name for a model, with an optional prompt put before the worker's own.",
        "# [aliases.security-reviewer]",
        '# model = "opus"',
        '# prompt = "Focus on security: OWASP Top 10, auth flaws, injection risks."',
        "",
        "# Backends: override a built-in one (claude, codex, cursor, gemini, aider, opencode) or add",
        "# any command. {prompt} {model} {worktree} {python} are filled in; without {prompt} the",
        "# prompt goes on stdin. Nothing runs through a shell.",
        "# [backends.my-agent]",
        '# command = ["my-agent", "--model", "{model}", "{prompt}"]',
        "",
    ]
    return "\n".join(lines)
