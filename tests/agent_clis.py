"""Run the real Codex, Gemini CLI, opencode and aider hermetically against tests/fake_models.py.

`.ci/install-<cli>` installs each, pinned, under <checkout>/.tools/<cli>; `find()` finds it there.
`Cli.setup()` writes what the CLI needs into a HOME of the test's own and returns the environment
and the dispatch config that make a `dispatch new --model <Cli.model>` worker talk to nobody but
the fake model. What each needs, found by running it:

- Codex 0.171.0 ignores OPENAI_BASE_URL: a custom provider in $CODEX_HOME/config.toml
  (`wire_api = "responses"`, `env_key`) reaches the fake, with no retries.
- Gemini CLI 0.61.0: GEMINI_API_KEY, GOOGLE_GEMINI_BASE_URL, ~/.gemini/settings.json selecting the
  `gemini-api-key` auth type (else exit 41); GEMINI_CLI_TRUST_WORKSPACE (dispatch sets it).
- opencode 1.18.33: a provider in OPENCODE_CONFIG_CONTENT (`@ai-sdk/openai-compatible`, bundled),
  model ids `provider/model`; the model's price in the config gives `step_finish` a cost.
- aider 0.86.2: OPENAI_API_BASE and `openai/<id>`; LITELLM_LOCAL_MODEL_COST_MAP keeps litellm from
  downloading its price list (aider still tries its own once and says so in one line).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / ".tools"

# Inherited variables that would send a CLI elsewhere or change what it does.
_DROP_PREFIXES = ("OPENAI_", "CODEX_", "GEMINI_", "GOOGLE_", "OPENCODE_", "AIDER_", "ANTHROPIC_", "LITELLM_")
_DROP_NAMES = {"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy", "NODE_OPTIONS"}


@dataclass(frozen=True)
class Cli:
    name: str  # the backend, and the folder under .tools/
    binary: Path  # the executable .ci/install-<name> puts there
    model: str  # the model id a test asks dispatch for
    wire: str  # tests/fake_models.py wire format
    version: str

    def find(self) -> str | None:
        """The installed executable, or None (the test then skips, saying how to install it)."""
        return str(self.binary) if self.binary.exists() and os.access(self.binary, os.X_OK) else None

    @property
    def install_hint(self) -> str:
        """How to install it, and why .ci/run could not (the error it kept), if it tried."""
        hint = f"run `bash .ci/install-{self.name}` to install {self.name} {self.version} into .tools/{self.name}"
        try:
            why = " ".join((TOOLS / f"install-{self.name}.err").read_text(errors="replace").split())[:300]
        except OSError:
            return hint
        return f"{hint} (.ci/run tried and failed: {why})"

    def setup(self, base_url: str, home: Path) -> tuple[dict[str, str], str]:
        """The environment for dispatch and its workers, and the dispatch user config (TOML)."""
        home.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if k not in _DROP_NAMES and not k.startswith(_DROP_PREFIXES)}
        env.update({
            "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"), "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_DATA_HOME": str(home / ".local" / "share"), "XDG_STATE_HOME": str(home / ".local" / "state"),
            "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
            "PATH": os.pathsep.join([str(self._bin(home)), os.environ["PATH"]]),
        })
        config = ""
        if self.name == "codex":
            codex_home = home / ".codex"
            codex_home.mkdir()
            (codex_home / "config.toml").write_text(
                'model_provider = "fake"\n[model_providers.fake]\nname = "fake"\n'
                f'base_url = "{base_url}/v1"\nenv_key = "FAKE_OPENAI_KEY"\nwire_api = "responses"\n'
            )
            env.update({"CODEX_HOME": str(codex_home), "FAKE_OPENAI_KEY": "sk-fake"})
        elif self.name == "gemini":
            (home / ".gemini").mkdir()
            (home / ".gemini" / "settings.json").write_text(
                json.dumps({"security": {"auth": {"selectedType": "gemini-api-key"}}}))
            env.update({"GEMINI_API_KEY": "fake-key", "GOOGLE_GEMINI_BASE_URL": base_url})
        elif self.name == "opencode":
            provider = {"npm": "@ai-sdk/openai-compatible", "name": "Fake",
                        "options": {"baseURL": f"{base_url}/v1", "apiKey": "sk-fake"},
                        "models": {"m1": {"name": "m1", "cost": {"input": 3, "output": 15}}}}
            env.update({
                "OPENCODE_CONFIG_CONTENT": json.dumps({"autoupdate": False, "share": "disabled",
                                                       "provider": {"fake": provider}}),
                "OPENCODE_DISABLE_MODELS_FETCH": "1", "OPENCODE_DISABLE_AUTOUPDATE": "1",
            })
            config = f'[models."{self.model}"]\nbackend = "opencode"\n'
        elif self.name == "aider":
            # Where git has no user.name and user.email, aider writes placeholders into the repository's
            # .git/config at its start, which a confined worker may not (README: Confined workers). A person
            # running aider has them set, as aider asks; so does this home.
            (home / ".gitconfig").write_text("[user]\n\tname = Ada Tester\n\temail = ada@example.com\n")
            env.update({"OPENAI_API_BASE": f"{base_url}/v1", "OPENAI_API_KEY": "sk-fake",
                        "LITELLM_LOCAL_MODEL_COST_MAP": "True"})
            config = f'[models."{self.model}"]\nbackend = "aider"\n'
        return env, config

    def _bin(self, home: Path) -> Path:
        """A folder holding only the CLI (aider's venv bin/ has a python3 of its own, not for PATH)."""
        folder = home / "bin"
        folder.mkdir(exist_ok=True)
        (folder / self.binary.name).symlink_to(self.binary)
        return folder


CODEX = Cli("codex", TOOLS / "codex" / "node_modules" / ".bin" / "codex", "gpt-5.5", "responses", "0.171.0")
GEMINI = Cli("gemini", TOOLS / "gemini" / "node_modules" / ".bin" / "gemini", "gemini-2.5-flash", "gemini", "0.61.0")
OPENCODE = Cli("opencode", TOOLS / "opencode" / "node_modules" / ".bin" / "opencode", "fake/m1", "chat", "1.18.33")
AIDER = Cli("aider", TOOLS / "aider" / "bin" / "aider", "openai/fake-1", "chat", "0.86.2")
CLIS = {c.name: c for c in (CODEX, GEMINI, OPENCODE, AIDER)}
