"""Layered config, the original skill's YAML, trust, and the config / models / init / trust commands."""

from __future__ import annotations

import json
import os
import shutil
import textwrap
from pathlib import Path

import pytest
from conftest import dispatch, snapshot

from dispatch import config
from dispatch.config import trust
from dispatch.errors import DispatchError

ROOT = Path(__file__).resolve().parent.parent

# `config show` lines for the built-in backends, as every whole-output test here expects them.
BUILTIN_LINES = """\
backends.aider.command = ["aider", "--model", "{model}", "--yes-always", "--no-check-update", "--no-gitignore", "--no-analytics", "--no-show-model-warnings", "--map-tokens", "0", "--chat-history-file", "/dev/null", "--input-history-file", "/dev/null", "--file", ".dispatch/PLAN.md", "--read", ".dispatch/QUESTIONS.md", "--message", "{prompt}"]  # default
backends.aider.fails_on = ["^litellm\\\\.\\\\w+Error: "]  # default
backends.aider.sandbox_write = ["~/.aider"]  # default
backends.claude.command = ["claude", "-p", "{prompt}", "--model", "{model}", "--dangerously-skip-permissions", "--output-format", "stream-json", "--verbose"]  # default
backends.claude.sandbox_write = ["~/.claude", "~/.claude.json"]  # default
backends.claude.unset = ["CLAUDECODE", "CLAUDE_CODE_ENTRYPOINT"]  # default
backends.codex.command = ["codex", "exec", "--dangerously-bypass-approvals-and-sandbox", "--json", "-c", "allow_login_shell=false", "--model", "{model}", "{prompt}"]  # default
backends.codex.sandbox_write = ["${CODEX_HOME:-~/.codex}"]  # default
backends.cursor.command = ["agent", "-p", "--force", "--trust", "--output-format", "stream-json", "--model", "{model}", "{prompt}"]  # default
backends.cursor.sandbox_write = ["~/.cursor", "${XDG_CONFIG_HOME:-~/.config}/cursor"]  # default
backends.gemini.command = ["gemini", "--approval-mode", "yolo", "--output-format", "stream-json", "--model", "{model}", "--prompt", "{prompt}"]  # default
backends.gemini.env.GEMINI_CLI_TRUST_WORKSPACE = "true"  # default
backends.gemini.sandbox_write = ["~/.gemini"]  # default
backends.opencode.command = ["opencode", "run", "--auto", "--format", "json", "--dir", "{worktree}", "--model", "{model}", "{prompt}"]  # default
backends.opencode.sandbox_write = ["${XDG_DATA_HOME:-~/.local/share}/opencode", "${XDG_CONFIG_HOME:-~/.config}/opencode", "${XDG_STATE_HOME:-~/.local/state}/opencode", "${XDG_CACHE_HOME:-~/.cache}/opencode"]  # default
backends.scripted.command = ["{python}", "-I", "-m", "dispatch.scripted"]  # default
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def user_file(home: Path) -> Path:
    return home / ".config" / "dispatch" / "config.toml"


def legacy_file(home: Path) -> Path:
    return home / ".dispatch" / "config.yaml"


def stub_bin(tmp_path: Path, *names: str, agent_models: str | None = None) -> str:
    """A PATH holding only git and stub executables NAMES (detection is tested, not the agents)."""
    bindir = tmp_path / "bin"
    bindir.mkdir(parents=True)
    os.symlink(shutil.which("git") or "/usr/bin/git", bindir / "git")
    for name in names:
        body = "#!/bin/sh\n"
        if name == "agent" and agent_models is not None:
            body += f"if [ \"$1\" = models ]; then printf '%s' '{agent_models}'; fi\n"
        (bindir / name).write_text(body)
        (bindir / name).chmod(0o755)
    return str(bindir)


def test_defaults_shown_with_their_source(repo: Path) -> None:
    r = dispatch("config", "show", cwd=repo)
    assert (r.code, r.err) == (0, "")
    assert r.out == "ask_timeout = 600.0  # default\n" + BUILTIN_LINES + textwrap.dedent("""\
        branch_prefix = "dispatch/"  # default
        budget_cost = 0.0  # default
        budget_time = 0.0  # default
        copy = []  # default
        default_model = ""  # default
        lock_timeout = 60.0  # default
        max_running = 0  # default
        merge_strategy = "squash"  # default
        notify = []  # default
        runner = ""  # default
        sandbox = "auto"  # default
        sandbox_network = true  # default
        sandbox_write = []  # default
        setup = []  # default
        stop_grace = 10.0  # default
        worktree_root = ""  # default
        """)


def test_each_layer_wins_over_the_one_below(repo: Path, tmp_path: Path, hermetic: Path) -> None:
    write(legacy_file(hermetic), """\
        default: haiku
        models:
          composer-1.5: { backend: cursor }
        aliases:
          quick: { model: haiku }
        """)
    write(user_file(hermetic), """\
        default_model = "sonnet"
        lock_timeout = 30
        branch_prefix = "agents/"
        copy = [".env"]
        [aliases.quick]
        model = "sonnet"
        """)
    write(repo / ".dispatch.toml", """\
        lock_timeout = 5.5
        setup = ["npm ci", ["make", "deps"]]
        [aliases.quick]
        prompt = "Be quick."
        """)
    assert dispatch("trust", cwd=repo).code == 0  # an alias's prompt counts from a trusted file only
    r = dispatch("config", "show", cwd=repo, tmp=tmp_path)
    assert (r.code, r.err) == (0, "")
    assert r.out == textwrap.dedent("""\
        aliases.quick.model = "sonnet"  # <tmp>/home/.config/dispatch/config.toml
        aliases.quick.prompt = "Be quick."  # <tmp>/work/app/.dispatch.toml
        ask_timeout = 600.0  # default
        """) + BUILTIN_LINES + textwrap.dedent("""\
        branch_prefix = "agents/"  # <tmp>/home/.config/dispatch/config.toml
        budget_cost = 0.0  # default
        budget_time = 0.0  # default
        copy = [".env"]  # <tmp>/home/.config/dispatch/config.toml
        default_model = "sonnet"  # <tmp>/home/.config/dispatch/config.toml
        lock_timeout = 5.5  # <tmp>/work/app/.dispatch.toml
        max_running = 0  # default
        merge_strategy = "squash"  # default
        models."composer-1.5".backend = "cursor"  # <tmp>/home/.dispatch/config.yaml
        notify = []  # default
        runner = ""  # default
        sandbox = "auto"  # default
        sandbox_network = true  # default
        sandbox_write = []  # default
        setup = [["npm", "ci"], ["make", "deps"]]  # <tmp>/work/app/.dispatch.toml
        stop_grace = 10.0  # default
        worktree_root = ""  # default
        """)
    # Flags win over every file.
    cfg = config.load(repo, {"lock_timeout": 1, "default_model": "opus"})
    assert (cfg["lock_timeout"], cfg["default_model"], cfg["branch_prefix"]) == (1.0, "opus", "agents/")
    assert (cfg.sources["lock_timeout"], cfg.source_path("lock_timeout"), cfg.source_path("branch_prefix")) == (
        "flag", None, user_file(hermetic)
    )
    assert cfg.source_path("aliases.quick") == repo / ".dispatch.toml"
    assert cfg.source_path("ask_timeout") is None


def test_show_json(repo: Path, hermetic: Path) -> None:
    write(user_file(hermetic), 'default_model = "opus"\n')
    data = json.loads(dispatch("config", "show", "--json", cwd=repo).out)
    assert data["version"] == 1
    assert data["config"]["default_model"] == {"value": "opus", "source": str(user_file(hermetic))}
    assert data["config"]["backends.claude.unset"] == {
        "value": ["CLAUDECODE", "CLAUDE_CODE_ENTRYPOINT"], "source": "default"
    }


def test_legacy_yaml_backends_format(hermetic: Path) -> None:
    # The original skill's first-run setup wrote this (references/first-run-setup.md).
    write(legacy_file(hermetic), """\
        default: opus
        backends:
          claude:
            command: >
              env -u CLAUDE_CODE_ENTRYPOINT -u CLAUDECODE
              claude -p --dangerously-skip-permissions
          cursor:
            command: >
              agent -p --force --workspace "$(pwd)"
          codex:
            command: >
              codex exec --full-auto -C "$(pwd)"
        models:
          opus:          { backend: claude }
          opus-4.5-thinking: {}
          gpt-5.3-codex: { backend: codex }
          gemini-3.1-pro:  { backend: cursor }
        aliases:
          security-reviewer:
            model: opus
            prompt: >
              You are a security-focused reviewer.
        """)
    cfg = config.load(None)
    assert cfg["default_model"] == "opus"
    assert {name: cfg["backends"][name] for name in ("claude", "cursor", "codex")} == {
        "claude": {"command": ["claude", "-p", "--dangerously-skip-permissions", "{prompt}"],
                   "unset": ["CLAUDE_CODE_ENTRYPOINT", "CLAUDECODE"], "sandbox_write": ["~/.claude", "~/.claude.json"]},
        "cursor": {"command": ["agent", "-p", "--force", "--workspace", "{worktree}", "--model", "{model}", "{prompt}"],
                   "sandbox_write": ["~/.cursor", "${XDG_CONFIG_HOME:-~/.config}/cursor"]},
        "codex": {"command": ["codex", "exec", "--full-auto", "-C", "{worktree}", "--model", "{model}", "{prompt}"],
                  "sandbox_write": ["${CODEX_HOME:-~/.codex}"]},
    }  # the state folders a confined CLI writes stay the built-in ones
    assert cfg["models"] == {
        "opus": {"backend": "claude"}, "opus-4.5-thinking": {},
        "gpt-5.3-codex": {"backend": "codex"}, "gemini-3.1-pro": {"backend": "cursor"},
    }
    assert cfg["aliases"] == {"security-reviewer": {"model": "opus", "prompt": "You are a security-focused reviewer.\n"}}
    assert cfg.source_path("backends.claude") == legacy_file(hermetic)
    assert cfg.sources["backends.gemini.command"] == "default"  # the built-ins it does not name stay


def test_legacy_yaml_agents_format(hermetic: Path) -> None:
    # The oldest format (the original README): named agents, each a complete command.
    write(legacy_file(hermetic), """\
        default: harvey
        agents:
          harvey:
            command: >
              agent -p --force --model gpt-5
              --workspace "$(pwd)"
          claude:
            command: env -u CLAUDE_CODE_ENTRYPOINT -u CLAUDECODE claude -p --dangerously-skip-permissions
        """)
    cfg = config.load(None)
    assert cfg["default_model"] == "harvey"
    assert cfg["backends"]["harvey"] == {
        "command": ["agent", "-p", "--force", "--model", "gpt-5", "--workspace", "{worktree}", "{prompt}"]
    }
    assert cfg["backends"]["claude"]["command"] == ["claude", "-p", "--dangerously-skip-permissions", "{prompt}"]
    assert cfg["models"] == {"harvey": {"backend": "harvey"}, "claude": {"backend": "claude"}}


@pytest.mark.parametrize("where, text, message", [
    ("user", "lock_timeout = \n", "{user}: invalid TOML: Invalid value (at line 1, column 16): fix the file or move it away"),
    ("user", "lock_timeout = 'soon'\n", "{user}: key `lock_timeout` must be a number, not str 'soon'"),
    ("user", "max_running = -1\n", "{user}: key `max_running` must be zero or more, not int -1"),
    ("user", "merge_strategy = 'octopus'\n",
     "{user}: key `merge_strategy` must be one of squash, merge, rebase, ff, not str 'octopus'"),
    ("user", "colour = 'red'\n",
     "{user}: unknown key `colour`: `dispatch config example` prints every key dispatch reads"),
    ("user", "[backends.x]\ncommand = 3\n",
     "{user}: key `backends.x.command` must be a list of strings or a string, not int 3"),
    ("user", "[backends.x]\ncommand = 'run \"it'\n",
     "{user}: key `backends.x.command` is not a valid command line: No closing quotation"),
    ("user", "[backends.x]\ncommand = ['x']\ntimeout = 3\n",
     "{user}: unknown key `backends.x.timeout`: `dispatch config example` prints every key dispatch reads"),
    ("user", "[backends.x]\nenv = { A = 1 }\n", "{user}: key `backends.x.env.A` must be a string, not int 1"),
    ("user", "[backends.x]\ncommand = ['x']\nfails_on = ['error: (']\n",
     ("{user}: key `backends.x.fails_on` holds 'error: (', not a regular expression (missing ), unterminated "
     "subpattern at position 7): fix or remove it")),
    ("user", "[backends.x]\nenv = { A = 'b' }\n",
     "{user}: key `backends.x.command` is missing: backend `x` needs the command that runs it"),
    ("user", "[aliases.fast]\nprompt = 'hi'\n",
     "{user}: key `aliases.fast.model` is missing: alias `fast` needs the model it stands for"),
    ("user", "[models.\"gpt-5.4\"]\nbackend = 'nope'\n",
     ("{user}: key `models.\"gpt-5.4\".backend` names backend `nope`, which is not defined: add a [backends.nope] "
     "table or use one of aider, claude, codex, cursor, gemini, opencode, scripted")),
    ("user", "setup = ['ok', 7]\n",
     "{user}: key `setup[1]` must be a list of strings or a string, not int 7"),
    ("repo", "copy = '.env'\n", "{repo}: key `copy` must be a list of strings, not str '.env'"),
    ("legacy", "default: [opus\n",
     "{legacy}: invalid YAML: expected ',' or ']', but got '<stream end>' at line 2, column 1: fix the file or move it away"),
    ("legacy", "backends:\n  claude:\n    command: 3\n", "{legacy}: key `backends.claude.command` must be a string, not int 3"),
    ("legacy", "agents:\n  a:\n    cmd: x\n",
     "{legacy}: unknown key `agents.a.cmd`: a /dispatch skill backend has only `command`"),
    ("legacy", "workers: {}\n",
     "{legacy}: unknown key `workers`: the /dispatch skill's config has only default, backends, models, aliases, agents"),
])
def test_malformed_config_is_one_line_naming_file_and_key(
    repo: Path, hermetic: Path, where: str, text: str, message: str
) -> None:
    paths = {"user": user_file(hermetic), "repo": repo / ".dispatch.toml", "legacy": legacy_file(hermetic)}
    write(paths[where], text)
    before = snapshot(repo)
    for args in (["config", "show"], ["new", "Anything", "--no-start"]):
        r = dispatch(*args, cwd=repo)
        assert (r.code, r.out, r.err) == (1, "", "dispatch: " + message.format(**paths) + "\n")
    assert snapshot(repo) == before


def test_example_file_documents_every_key_with_its_default(tmp_path: Path) -> None:
    text = (ROOT / ".dispatch.toml.example").read_text()
    shutil.copy(ROOT / ".dispatch.toml.example", tmp_path / ".dispatch.toml")
    cfg = config.load(tmp_path)
    assert cfg.values == config.load(None).values
    for key in [*config.SCALARS, *config.LISTS, *config.TABLES]:
        assert f"\n{key} = " in text or f"[{key}." in text, key
    # The commented example tables are valid config too, once uncommented.
    lines, taking = [], False
    for line in text.splitlines():
        taking = line.startswith("# [") or (taking and line.startswith("# ") and " = " in line)
        if taking:
            lines.append(line[2:])
    write(tmp_path / ".dispatch.toml", "\n".join(lines) + "\n")
    cfg = config.load(tmp_path)
    assert (sorted(cfg["backends"]["my-agent"]), cfg["models"], sorted(cfg["aliases"])) == (
        ["command", "env", "fails_on", "sandbox_write", "unset"], {"gemini-2.5-pro": {"backend": "gemini", "runner": "box"}}, ["security-reviewer"]
    )
    assert [name for name in cfg["backends"] if name not in config.BUILTIN_BACKENDS] == ["my-agent", "qwen", "copilot", "pi"]


def test_trust_refuses_until_trusted_and_again_after_a_change(repo: Path, tmp_path: Path, hermetic: Path) -> None:
    path = write(repo / ".dispatch.toml", '[backends.mine]\ncommand = ["mine", "{prompt}"]\n')
    cfg = config.load(repo)
    with pytest.raises(DispatchError) as e:
        trust.require_trusted(cfg, "backends")
    assert str(e.value) == f"{path} defines `backends` and is not trusted: read it, then run `dispatch trust`"
    trust.require_trusted(cfg, "setup")  # the file does not define setup
    r = dispatch("trust", cwd=repo, tmp=tmp_path)
    sha = trust.digest(path)
    assert (r.code, r.err, r.out) == (0, "", f"trusted <tmp>/work/app/.dispatch.toml\n  sha256 {sha}\n")
    assert trust.is_trusted(path)
    trust.require_trusted(config.load(repo), "backends")
    assert json.loads((hermetic / ".local" / "share" / "dispatch" / "trusted.json").read_text()) == {
        "version": 1, "files": {str(path): sha}
    }
    write(path, '[backends.mine]\ncommand = ["mine", "--all", "{prompt}"]\n')
    assert not trust.is_trusted(path)
    with pytest.raises(DispatchError) as e:
        trust.require_trusted(config.load(repo), "backends")
    assert str(e.value) == f"{path} changed since you trusted it: read it, then run `dispatch trust` again"
    r = dispatch("trust", "--show", cwd=repo, tmp=tmp_path)
    assert r.out == f"STATE    SHA256        FILE\nchanged  {sha[:12]}  <tmp>/work/app/.dispatch.toml\n"
    r = dispatch("untrust", cwd=repo, tmp=tmp_path)
    assert (r.code, r.out) == (0, "untrusted <tmp>/work/app/.dispatch.toml\n")
    assert dispatch("trust", "--show", cwd=repo).out == (
        "nothing is trusted yet: `dispatch trust` in a repository trusts its .dispatch.toml\n"
    )


def test_user_config_needs_no_trust(repo: Path, hermetic: Path) -> None:
    write(user_file(hermetic), 'setup = ["make"]\n[backends.mine]\ncommand = ["mine"]\n')
    cfg = config.load(repo)
    # The user's own file runs its commands without `dispatch trust`: nothing is refused, nothing is dropped.
    trust.require_trusted(cfg, "setup")
    trust.require_trusted(cfg, "backends")
    assert (cfg["setup"], cfg["backends"]["mine"]["command"]) == ([["make"]], ["mine"])
    assert (cfg.from_repo("setup"), cfg.from_repo("backends")) == (False, False)


def test_trust_without_a_repository_file(repo: Path, tmp_path: Path) -> None:
    r = dispatch("trust", cwd=repo, tmp=tmp_path)
    assert (r.code, r.out, r.err) == (1, "", "dispatch: <tmp>/work/app has no .dispatch.toml: there is nothing to trust\n")


AGENT_MODELS = """\
Loading models…
Available models

auto - Auto
gpt-5.4 - GPT-5.4 (current)
sonnet-4.6 - Claude 4.6 Sonnet
gemini-3.1-pro - Gemini 3.1 Pro
\x1b[2mTip: use --model <id>\x1b[0m
"""


def test_init_detects_clis_and_cursor_models_and_writes_once(tmp_path: Path, hermetic: Path) -> None:
    path_env = {"PATH": stub_bin(tmp_path, "claude", "agent", agent_models=AGENT_MODELS)}
    r = dispatch("init", cwd=tmp_path, env=path_env, tmp=tmp_path)
    assert (r.code, r.err) == (0, "")
    assert r.out == textwrap.dedent("""\
        wrote <tmp>/home/.config/dispatch/config.toml
          default   opus
          models    7: opus, sonnet, haiku, auto, gpt-5.4, sonnet-4.6, gemini-3.1-pro
          found     claude, cursor, scripted
        """)
    written = user_file(hermetic).read_text()
    assert written == textwrap.dedent("""\
        # dispatch user configuration, written by `dispatch init`; edit it freely.
        # Layers, later wins: built-in defaults < ~/.dispatch/config.yaml (the /dispatch skill's)
        #   < this file < a repository's .dispatch.toml < command-line flags.
        # `dispatch config show` prints the result; `dispatch config example` prints every key.

        # Agent CLIs found on PATH: claude (Claude Code), agent (Cursor CLI)
        # Not found: codex (Codex CLI), gemini (Gemini CLI), aider (aider), opencode (opencode)

        # The model (or alias) a worker runs when `dispatch new` gets no --model.
        default_model = "opus"

        # Models, and the backend (agent CLI) that runs each. A model not listed here runs on
        # claude when its id contains opus, sonnet or haiku; on codex when it contains gpt, codex, o1,
        # o3 or o4-mini, on gemini when it contains gemini (each on cursor when its CLI is missing);
        # on cursor otherwise.
        [models]
        opus = { backend = "claude" }
        sonnet = { backend = "claude" }
        haiku = { backend = "claude" }
        auto = { backend = "cursor" }
        "gpt-5.4" = { backend = "cursor" }
        "sonnet-4.6" = { backend = "claude" }
        "gemini-3.1-pro" = { backend = "cursor" }

        # Aliases: a short name for a model, with an optional prompt put before the worker's own.
        # [aliases.security-reviewer]
        # model = "opus"
        # prompt = "Focus on security: OWASP Top 10, auth flaws, injection risks."

        # Backends: override a built-in one (claude, codex, cursor, gemini, aider, opencode) or add
        # any command. {prompt} {model} {worktree} {python} are filled in; without {prompt} the
        # prompt goes on stdin. Nothing runs through a shell.
        # [backends.my-agent]
        # command = ["my-agent", "--model", "{model}", "{prompt}"]
        """)
    assert config.load(None)["models"]["gpt-5.4"] == {"backend": "cursor"}
    r = dispatch("init", cwd=tmp_path, env=path_env, tmp=tmp_path)
    assert (r.code, r.out, r.err) == (1, "", (
        "dispatch: <tmp>/home/.config/dispatch/config.toml already exists: "
        "edit it, or run `dispatch init --force` to replace it\n"
    ))
    assert user_file(hermetic).read_text() == written
    # With --force it replaces the file; Cursor's default is the default when no claude or codex is found.
    r = dispatch("init", "--force", cwd=tmp_path, env={"PATH": stub_bin(tmp_path / "b", "agent",
                                                                            agent_models=AGENT_MODELS)})
    assert r.code == 0, r.err
    assert config.load(None)["default_model"] == "gpt-5.4"


def test_init_says_when_cursor_lists_nothing(tmp_path: Path) -> None:
    r = dispatch("init", cwd=tmp_path, env={"PATH": stub_bin(tmp_path, "agent", agent_models="")}, tmp=tmp_path)
    assert r.out == textwrap.dedent("""\
        wrote <tmp>/home/.config/dispatch/config.toml
          default   none (no agent CLI found)
          models    0
          found     cursor, scripted
          cursor    `agent models` listed no models
        """)


def test_models_lists_configured_examples_aliases_and_clis(repo: Path, tmp_path: Path, hermetic: Path) -> None:
    write(user_file(hermetic), """\
        default_model = "reviewer"
        [models."gemini-2.5-pro"]
        backend = "gemini"
        [aliases.reviewer]
        model = "opus"
        prompt = "Review for security problems first."
        """)
    path = stub_bin(tmp_path, "claude", "codex")
    (Path(path) / "codex").write_text("#!/bin/sh\n[ \"$1\" = --version ] && echo 'codex-cli 0.171.0'\n")
    r = dispatch("models", cwd=repo, env={"PATH": path}, tmp=tmp_path)
    assert (r.code, r.err) == (0, "")
    assert r.out == textwrap.dedent("""\
        MODEL           BACKEND   FROM
        gemini-2.5-pro  gemini    <tmp>/home/.config/dispatch/config.toml
        gpt-5.5         codex     example
        gpt-5.6-sol     codex     example
        haiku           claude    example
        opus            claude    example
        scripted        scripted  example
        sonnet          claude    example

        ALIAS     MODEL  PROMPT
        reviewer  opus   Review for security problems first.

        default: reviewer (from <tmp>/home/.config/dispatch/config.toml)
        installed: claude, codex 0.171.0, scripted
        missing: cursor, gemini, aider, opencode

        scripted, the built-in worker with no AI behind it, reads these forms in an item:
          `PATH`           a path in backquotes: the file it writes (else notes/<item>.md)
          (ask: QUESTION)  asks through `dispatch ask`, writes the answer in the file
          ask: QUESTION    the same, as the whole item
          (fail)           marks the item [!] and exits 1
          (hang)           writes the file, then waits uncommitted until stopped
        """)
    data = json.loads(dispatch("models", "--json", cwd=repo, env={"PATH": path}).out)
    assert data["clis"]["codex"] == {"executable": "codex", "installed": True, "version": "0.171.0"}
    data = json.loads(dispatch("models", "--json", cwd=repo, env={"PATH": stub_bin(tmp_path / "x")}).out)
    assert data["default"] == {"model": "reviewer", "source": str(user_file(hermetic))}
    assert {m["id"]: m["backend"] for m in data["models"]}["gpt-5.5"] == "cursor"  # codex is missing there
    assert data["clis"]["cursor"] == {"executable": "agent", "installed": False, "version": None}


@pytest.mark.parametrize("text, out", [
    ("use sonnet to fix the login bug", "sonnet\n"),
    ("have opus look first, then gpt-5 to write the tests", "gpt-5\n"),
    ("ask the reviewer to check auth.py", "reviewer\n"),
    ("Use GPT-5.3-codex.", "gpt-5.3-codex\n"),
    ("try claude-opus-4-1 on video3.py and foo1.py", "claude-opus-4-1\n"),
    ("fix the flaky test in models.py", "haiku (default)\n"),
])
def test_models_pick(repo: Path, hermetic: Path, text: str, out: str) -> None:
    write(user_file(hermetic), 'default_model = "haiku"\n[aliases.reviewer]\nmodel = "opus"\n')
    r = dispatch("models", "pick", text, cwd=repo)
    assert (r.code, r.out, r.err) == (0, out, "")


def test_models_pick_json_and_no_default(repo: Path, hermetic: Path) -> None:
    write(user_file(hermetic), '[aliases.reviewer]\nmodel = "opus"\nprompt = "Be strict."\n')
    r = dispatch("models", "pick", "get the reviewer on it", "--json", cwd=repo)
    assert json.loads(r.out) == {"version": 1, "pick": {
        "name": "reviewer", "default": False, "alias": True, "model": "opus", "backend": "claude"
    }}
    r = dispatch("models", "pick", "fix the bug", cwd=repo)
    assert (r.code, r.out, r.err) == (1, "", (
        "dispatch: the text names no model and no default_model is configured: "
        "name one (such as `sonnet`), or run `dispatch init`\n"
    ))


def test_config_example_prints_the_example_file_anywhere(tmp_path: Path) -> None:
    """Outside any repository too: init and the errors send readers to it, and a wheel has no clone (17.2)."""
    r = dispatch("config", "example", cwd=tmp_path)
    assert (r.code, r.out, r.err) == (0, (ROOT / ".dispatch.toml.example").read_text(), "")
