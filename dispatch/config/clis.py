"""The agent CLIs installed here: their versions (`dispatch models`), Cursor's model list, and
the starter config `dispatch init` writes from what it finds."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from dispatch import files
from dispatch.config import BUILTIN_BACKENDS, toml_key, user_config_path
from dispatch.config.backends import CLAUDE_WORDS, GEMINI_WORDS, INSTALL, OPENAI_WORDS, executable, is_installed
from dispatch.errors import DispatchError


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
