"""Run the real Claude Code CLI hermetically against tests/fake_anthropic.py.

`.ci/install-claude` installs a pinned @anthropic-ai/claude-code under
<checkout>/.tools/claude; `find_claude()` finds it there. `claude_env()`
builds the environment for a run that talks to nobody but the fake server
and keeps all its state (~/.claude.json, ~/.claude/) in a HOME of the
test's own.

What the CLI needs, found by running it (2.1.330):
- `-p` (print mode) needs no login and no onboarding: ANTHROPIC_API_KEY
  (any value) and ANTHROPIC_BASE_URL suffice, with an empty HOME.
- As root, `--dangerously-skip-permissions` refuses to run unless
  IS_SANDBOX=1.
- With CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 a `-p` run makes only
  POST /v1/messages?beta=true calls; without it, it also sends
  HEAD /api/hello to the base URL first (and tries other hosts).
- The interactive TUI additionally shows onboarding, asks to approve the
  API key, to confirm bypass-permissions mode and to trust the folder;
  `seed_home()` pre-answers all of these (claude_env calls it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLAUDE_BIN = ROOT / ".tools" / "claude" / "node_modules" / ".bin" / "claude"

# Looks like a key (the CLI only checks it is set); the fake server ignores it.
FAKE_API_KEY = "sk-ant-api03-fake-key-for-dispatch-tests-0000000000"

INSTALL_HINT = "run `bash .ci/install-claude` to install the pinned Claude Code CLI into .tools/claude"

# Inherited variables that would change what the CLI does or where it talks
# to: any ANTHROPIC_* / CLAUDE_* (auth tokens, CLAUDE_CONFIG_DIR, Bedrock or
# Vertex switches, ...; also CLAUDECODE and CLAUDE_CODE_ENTRYPOINT, set when
# this runs inside a Claude Code session), OpenTelemetry, proxies.
_DROP_PREFIXES = ("ANTHROPIC_", "CLAUDE", "OTEL_", "AWS_BEARER_TOKEN_BEDROCK")
_DROP_NAMES = {
    "CLAUDECODE",
    "CLAUDE_CODE_ENTRYPOINT",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "NODE_OPTIONS",
    "MCP_TIMEOUT",
}


def find_claude() -> str | None:
    """The `claude` executable installed by .ci/install-claude, or None."""
    try:
        real = CLAUDE_BIN.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    # A failed postinstall leaves a tiny shell stub that only prints an error.
    if not os.access(real, os.X_OK) or real.stat().st_size < 1_000_000:
        return None
    return str(CLAUDE_BIN)


def seed_home(home: str | os.PathLike, trust: Iterable[str | os.PathLike] = (), api_key: str = FAKE_API_KEY) -> None:
    """Pre-answer the CLI's first-run questions in HOME (idempotent; keeps
    what the CLI wrote there itself). Not needed for `-p`, needed for the
    interactive TUI: onboarding, approval of the API key from the
    environment, the bypass-permissions warning, and trust of each folder
    in `trust` (the TUI asks per working directory; parents don't count)."""
    home = Path(home)
    (home / ".claude").mkdir(parents=True, exist_ok=True)
    cfg_path = home / ".claude.json"
    try:
        cfg = json.loads(cfg_path.read_text())
    except (OSError, ValueError):
        cfg = {}
    cfg["hasCompletedOnboarding"] = True
    responses = cfg.setdefault("customApiKeyResponses", {"approved": [], "rejected": []})
    approved = responses.setdefault("approved", [])
    if api_key.strip()[-20:] not in approved:
        approved.append(api_key.strip()[-20:])
    projects = cfg.setdefault("projects", {})
    for d in trust:
        projects.setdefault(str(Path(d).resolve()), {})["hasTrustDialogAccepted"] = True
    cfg_path.write_text(json.dumps(cfg, indent=2))

    settings_path = home / ".claude" / "settings.json"
    try:
        settings = json.loads(settings_path.read_text())
    except (OSError, ValueError):
        settings = {}
    settings["skipDangerousModePermissionPrompt"] = True
    settings_path.write_text(json.dumps(settings, indent=2))


def claude_env(
    base_url: str,
    home: str,
    *,
    trust: Iterable[str | os.PathLike] = (),
    base: dict[str, str] | None = None,
) -> dict[str, str]:
    """Environment for running the CLI against the fake API at `base_url`
    with `home` as HOME. Starts from `base` (default: os.environ) less the
    variables that would leak a real setup in; also seeds `home` (see
    seed_home; `trust` lists working directories for the interactive TUI)."""
    env = {
        k: v
        for k, v in (os.environ if base is None else base).items()
        if k not in _DROP_NAMES and not k.startswith(_DROP_PREFIXES)
    }
    home_path = Path(home)
    home_path.mkdir(parents=True, exist_ok=True)
    seed_home(home_path, trust=trust)
    env.update(
        {
            "HOME": str(home_path),
            "XDG_CONFIG_HOME": str(home_path / ".config"),
            "XDG_CACHE_HOME": str(home_path / ".cache"),
            "XDG_DATA_HOME": str(home_path / ".local" / "share"),
            "XDG_STATE_HOME": str(home_path / ".local" / "state"),
            "ANTHROPIC_BASE_URL": base_url,
            "ANTHROPIC_API_KEY": FAKE_API_KEY,
            # root may use --dangerously-skip-permissions only "in a sandbox"
            "IS_SANDBOX": "1",
            # no update checks, telemetry, error reports, feature-flag or
            # other calls to Anthropic's hosts (covers the four below too)
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_AUTOUPDATER": "1",
            "DISABLE_TELEMETRY": "1",
            "DISABLE_ERROR_REPORTING": "1",
            "DISABLE_BUG_COMMAND": "1",
            "CLAUDE_CODE_DISABLE_FEEDBACK_SURVEY": "1",
            # never route the loopback through a proxy
            "NO_PROXY": "127.0.0.1,localhost,::1",
            "no_proxy": "127.0.0.1,localhost,::1",
        }
    )
    return env
