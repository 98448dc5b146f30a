"""The /dispatch skill: valid Agent Skills format, small, and installed where Claude Code finds it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, dispatch

SKILL = ROOT / "skill" / "dispatch"


def test_skill_is_small() -> None:
    assert len((SKILL / "SKILL.md").read_bytes()) <= 6 * 1024


def test_skill_passes_agentskills_validate() -> None:
    exe = shutil.which("agentskills") or str(Path(sys.executable).parent / "agentskills")
    if not Path(exe).exists():
        pytest.skip("SKIPPED LOUDLY: agentskills (PyPI skills-ref) is not installed: pip install -e '.[test]'")
    r = subprocess.run([exe, "validate", str(SKILL)], capture_output=True, text=True)
    assert (r.returncode, r.stdout.strip()) == (0, f"Valid skill: {SKILL}")


def test_skill_path_and_install_global_then_project(repo: Path, tmp_path: Path) -> None:
    assert dispatch("skill", "path", cwd=repo).out == f"{SKILL}\n"
    r = dispatch("skill", "install", cwd=repo, tmp=tmp_path)
    assert (r.code, r.out) == (0, (
        "installed the dispatch skill in <tmp>/home/.claude/skills/dispatch\n"
        "  Claude Code loads it in new sessions: type /dispatch\n"
    ))
    installed = tmp_path / "home" / ".claude" / "skills" / "dispatch"
    assert (installed / "SKILL.md").read_bytes() == (SKILL / "SKILL.md").read_bytes()
    assert sorted(p.name for p in (installed / "references").iterdir()) == ["config.md", "recovery.md", "setup.md"]
    r = dispatch("skill", "install", "--global", cwd=repo, tmp=tmp_path)
    assert r.out == "the skill in <tmp>/home/.claude/skills/dispatch is already up to date\n"
    r = dispatch("skill", "install", "--project", cwd=repo, tmp=tmp_path)
    assert r.out.splitlines()[0] == "installed the dispatch skill in <tmp>/work/app/.claude/skills/dispatch"


def test_install_refuses_to_overwrite_a_changed_copy(repo: Path, tmp_path: Path) -> None:
    assert dispatch("skill", "install", cwd=repo).code == 0
    installed = tmp_path / "home" / ".claude" / "skills" / "dispatch" / "SKILL.md"
    installed.write_text(installed.read_text() + "\nmy own rule\n")
    r = dispatch("skill", "install", cwd=repo, tmp=tmp_path)
    assert (r.code, r.out, r.err) == (1, "", (
        "dispatch: <tmp>/home/.claude/skills/dispatch has been changed (SKILL.md): keep it, "
        "or replace it with `dispatch skill install --force`\n"
    ))
    assert installed.read_text().endswith("my own rule\n")
    r = dispatch("skill", "install", "--force", cwd=repo, tmp=tmp_path)
    assert r.out.splitlines()[0] == "updated the dispatch skill in <tmp>/home/.claude/skills/dispatch"
    assert installed.read_bytes() == (SKILL / "SKILL.md").read_bytes()
