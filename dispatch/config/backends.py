"""Which agent CLI runs a model, and the exact argv it gets (never through a shell)."""

from __future__ import annotations

import re
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dispatch.config import BUILTIN_BACKENDS, Config, dotted
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
