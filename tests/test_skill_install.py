"""`npx skills add`: the npm `skills` CLI installs the /dispatch skill where Claude Code finds it.

The CLI and a Node 22 to run it come from `.ci/install-skills` (pinned, into .tools/skills). It is run as a
user would, non-interactively: `skills add <checkout>/skill/dispatch -a claude-code -y [-g]`, with HOME
isolated and telemetry off. When the real Claude Code CLI is installed too, it is asked what skills it sees.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from claude_cli import claude_env, find_claude
from conftest import ROOT, git
from fake_anthropic import Conversation, FakeAnthropic, Script, read_log, text
from test_skill_host import front_matter_and_body, skill_listing

SKILL = ROOT / "skill" / "dispatch"


@pytest.fixture(scope="module")
def skills_cli() -> list[str]:
    """`node cli.mjs`, installed (or found installed) by .ci/install-skills."""
    r = subprocess.run(["bash", str(ROOT / ".ci" / "install-skills")], capture_output=True, text=True, timeout=600,
                       check=False)
    if r.returncode != 0:
        why = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"exit {r.returncode}"
        pytest.skip(f"SKIPPED LOUDLY: .ci/install-skills could not install the npm skills CLI and Node 22: {why}")
    node, cli = r.stdout.split()
    return [node, cli]


def skills_add(cli: list[str], cwd: Path, *flags: str) -> list[dict[str, object]]:
    env = {**os.environ, "DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1"}
    r = subprocess.run([*cli, "add", str(SKILL), "-a", "claude-code", "-y", "--json", *flags], cwd=cwd, env=env,
                       capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    result: list[dict[str, object]] = json.loads(r.stdout)
    return result


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def skills_claude_code_lists(cwd: Path, home: Path, tmp: Path) -> dict[str, str]:
    """The skills the real Claude Code CLI lists to its model when started in CWD."""
    claude = find_claude()
    if claude is None:
        pytest.skip("SKIPPED LOUDLY: the Claude Code CLI is missing: run `bash .ci/install-claude`")
    log = tmp / "requests.jsonl"
    with FakeAnthropic(Script([Conversation(turns=[[text("ok")]])]), log) as api:
        r = subprocess.run([claude, "-p", "hello"], cwd=cwd, env=claude_env(api.base_url, str(home)),
                           capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120, check=False)
    assert (r.returncode, r.stdout) == (0, "ok\n"), r.stderr
    return skill_listing(next(e["body"] for e in read_log(log) if e["kind"] == "agent"))


def project(tmp_path: Path) -> Path:
    path = tmp_path / "work" / "app"
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    return path


def expected_result(path: Path, scope: str) -> dict[str, object]:
    return {"name": "dispatch", "status": "installed", "source": str(SKILL), "ref": None, "path": str(path),
            "scope": scope, "agents": ["Claude Code"], "mode": "copy", "security": None}


def without_hash(results: list[dict[str, object]]) -> list[dict[str, object]]:
    assert all(re.fullmatch(r"[0-9a-f]{64}", str(r.pop("hash"))) for r in results)
    return results


def test_skills_add_installs_into_the_project(skills_cli: list[str], tmp_path: Path, hermetic: Path) -> None:
    app = project(tmp_path)
    installed = app / ".claude" / "skills" / "dispatch"
    assert without_hash(skills_add(skills_cli, app)) == [expected_result(installed, "project")]
    assert tree(installed) == tree(SKILL)
    assert not (hermetic / ".claude" / "skills").exists()
    meta, _ = front_matter_and_body(SKILL / "SKILL.md")
    assert skills_claude_code_lists(app, hermetic, tmp_path)["dispatch"] == meta["description"]


def test_skills_add_global_installs_for_every_project(skills_cli: list[str], tmp_path: Path, hermetic: Path) -> None:
    app = project(tmp_path)
    installed = hermetic / ".claude" / "skills" / "dispatch"
    assert without_hash(skills_add(skills_cli, app, "-g")) == [expected_result(installed, "global")]
    assert tree(installed) == tree(SKILL)
    assert not (app / ".claude").exists()
    other = project(tmp_path / "elsewhere")
    meta, _ = front_matter_and_body(SKILL / "SKILL.md")
    assert skills_claude_code_lists(other, hermetic, tmp_path)["dispatch"] == meta["description"]
