"""Model -> backend, aliases, the argv a worker gets, and which CLIs are installed."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dispatch import config
from dispatch.config import backends, clis
from dispatch.config.backends import Launch
from dispatch.errors import DispatchError


def user_config(home: Path, text: str) -> None:
    path = home / ".config" / "dispatch" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


def stub_path(tmp_path: Path, *names: str) -> str:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name in names:
        (bindir / name).write_text("#!/bin/sh\n")
        (bindir / name).chmod(0o755)
    return str(bindir)


@pytest.mark.parametrize("model, codex_installed, backend", [
    ("opus", True, "claude"),
    ("sonnet", False, "claude"),
    ("claude-haiku-4-5", True, "claude"),
    ("opus-4.5-thinking", False, "claude"),
    ("gpt-5.4", True, "codex"),
    ("gpt-5.4", False, "cursor"),
    ("gpt-5.3-codex", True, "codex"),
    ("o3", True, "codex"),
    ("o1-preview", True, "codex"),
    ("o4-mini", False, "cursor"),
    ("scripted", False, "scripted"),
    ("gemini-2.5-pro", True, "gemini"),
    ("gemini-3-flash-preview", False, "cursor"),
    ("composer-1.5", True, "cursor"),
    ("auto", False, "cursor"),
])
def test_model_to_backend_rule(model: str, codex_installed: bool, backend: str) -> None:
    asked: list[str] = []

    def installed(program: str) -> bool:
        asked.append(program)
        return codex_installed

    assert backends.backend_for_model(config.load(None), model, installed=installed) == backend
    openai = model.startswith(("gpt", "o1", "o3", "o4"))
    native = "codex" if openai else "gemini" if model.startswith("gemini") else None
    assert asked == ([native] if native else [])  # only OpenAI and Gemini ids depend on their CLI being there


def test_configured_backend_wins_over_the_rule(hermetic: Path) -> None:
    user_config(hermetic, """\
        [models.opus]
        backend = "cursor"
        [models."gemini-2.5-pro"]
        backend = "gemini"
        """)
    cfg = config.load(None)
    assert backends.backend_for_model(cfg, "opus") == "cursor"
    assert backends.backend_for_model(cfg, "gemini-2.5-pro") == "gemini"


def test_codex_fallback_follows_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = config.load(None)
    monkeypatch.setenv("PATH", stub_path(tmp_path, "codex"))
    assert backends.backend_for_model(cfg, "gpt-5.4") == "codex"
    assert clis.installed_clis() == {
        "claude": False, "codex": True, "cursor": False, "gemini": False, "aider": False, "opencode": False,
        "scripted": True,
    }
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    assert backends.backend_for_model(cfg, "gpt-5.4") == "cursor"


def test_resolve_alias_carries_its_prompt_and_model(hermetic: Path) -> None:
    user_config(hermetic, """\
        default_model = "reviewer"
        [aliases.reviewer]
        model = "opus"
        prompt = "Review for security first."
        """)
    cfg = config.load(None)
    expected = Launch(
        requested="reviewer", model="opus", backend="claude",
        command=["claude", "-p", "{prompt}", "--model", "{model}", "--dangerously-skip-permissions",
                 "--output-format", "stream-json", "--verbose"],
        prompt_prefix="Review for security first.", env={}, env_unset=("CLAUDECODE", "CLAUDE_CODE_ENTRYPOINT"),
        from_repo=False, sandbox_write=("~/.claude", "~/.claude.json"),
    )
    assert backends.resolve(cfg, "reviewer") == expected
    assert backends.resolve(cfg, None) == expected
    assert backends.resolve(cfg, "sonnet").prompt_prefix == ""
    gemini = backends.resolve(cfg, "gemini-2.5-pro")
    assert (gemini.backend, gemini.env) == ("cursor", {})


def test_resolve_without_model_or_default() -> None:
    with pytest.raises(DispatchError) as e:
        backends.resolve(config.load(None), None)
    assert str(e.value) == (
        "no model given and no default_model configured: pass --model MODEL or run `dispatch init`"
    )


def test_repository_backend_is_marked_for_trust(repo: Path) -> None:
    (repo / ".dispatch.toml").write_text('[backends.claude.env]\nFOO = "1"\n[models.local]\nbackend = "claude"\n')
    cfg = config.load(repo)
    launch = backends.resolve(cfg, "local")
    assert (launch.backend, launch.env, launch.from_repo) == ("claude", {"FOO": "1"}, True)
    assert launch.command[0] == "claude"  # the built-in command, overridden key by key
    assert backends.resolve(cfg, "gpt-5.4").from_repo is False


def launch(command: list[str], model: str = "m") -> Launch:
    return Launch(requested=model, model=model, backend="x", command=command, prompt_prefix="", env={},
                  env_unset=(), from_repo=False)


def test_render_argv_fills_placeholders_inside_elements() -> None:
    argv, stdin = backends.render_argv(
        launch(["{python}", "--model={model}", "--cwd", "{worktree}", "-p", "{prompt}", "{prompt}!"]),
        prompt="do it", worktree=Path("/w/t"),
    )
    assert (argv, stdin) == ([sys.executable, "--model=m", "--cwd", "/w/t", "-p", "do it", "do it!"], None)


def test_render_argv_sends_the_prompt_on_stdin_without_a_placeholder() -> None:
    argv, stdin = backends.render_argv(launch(["{python}", "-m", "dispatch.scripted"]), prompt="the plan",
                                       worktree=Path("/w"))
    assert (argv, stdin) == ([sys.executable, "-m", "dispatch.scripted"], "the plan")


def test_shell_metacharacters_stay_literal_arguments(tmp_path: Path) -> None:
    cwd = tmp_path / "run"
    cwd.mkdir()
    nasty = "$(touch pwned) `touch pwned2`; rm -rf x && echo {model} | cat > out '\"\n{worktree}"
    model = "m; touch pwned3"
    argv, stdin = backends.render_argv(
        launch(["{python}", "-c", "import json, sys; print(json.dumps(sys.argv[1:]))", "{prompt}", "--model={model}"],
               model=model),
        prompt=nasty, worktree=cwd,
    )
    out = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=True).stdout
    assert (json.loads(out), stdin) == ([nasty, f"--model={model}"], None)
    assert list(cwd.iterdir()) == []


def test_check_installed_names_the_cli_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    cfg = config.load(None)
    messages = {}
    for model in ("opus", "gpt-5.4", "composer-1.5"):
        with pytest.raises(DispatchError) as e:
            backends.check_installed(backends.resolve(cfg, model))
        messages[model] = str(e.value)
    assert messages == {
        "opus": "`claude` (Claude Code) is not installed: `npm install -g @anthropic-ai/claude-code`, "
                "or pick another model with --model",
        "gpt-5.4": "`agent` (Cursor CLI) is not installed: `curl https://cursor.com/install -fsS | bash`, "
                   "or pick another model with --model",
        "composer-1.5": "`agent` (Cursor CLI) is not installed: `curl https://cursor.com/install -fsS | bash`, "
                        "or pick another model with --model",
    }
    backends.check_installed(backends.resolve(cfg, "scripted"))  # dispatch's own Python is always there
    with pytest.raises(DispatchError) as e:
        backends.check_installed(launch(["my-agent", "{prompt}"]))
    assert str(e.value) == (
        "`my-agent` (backend `x`) is not on PATH: install it or fix `backends.x.command`, "
        "or pick another model with --model"
    )
    monkeypatch.setenv("PATH", stub_path(tmp_path, "claude"))
    backends.check_installed(backends.resolve(cfg, "opus"))


def test_legacy_claude_backend_runs_the_real_cli_without_env(hermetic: Path) -> None:
    path = hermetic / ".dispatch" / "config.yaml"
    path.parent.mkdir()
    path.write_text("backends:\n  claude:\n    command: env -u CLAUDECODE FOO=1 claude -p --dangerously-skip-permissions\n")
    got = backends.resolve(config.load(None), "opus")
    assert (got.command, got.env, got.env_unset) == (
        ["claude", "-p", "--dangerously-skip-permissions", "{prompt}"], {"FOO": "1"}, ("CLAUDECODE",)
    )
