"""The wheel ships the templates: build it, install it in a fresh venv, run `dispatch new` there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, git


def test_installed_wheel_finds_its_templates(repo: Path, tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(dist), str(ROOT)],
        check=True, capture_output=True,
    )
    (wheel,) = dist.glob("*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # Dependencies come from wherever pip finds them; the package itself only from the wheel.
    subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", str(wheel)], check=True, capture_output=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    r = subprocess.run(
        [str(venv / "bin" / "dispatch"), "new", "From the wheel", "--item", "works", "--no-start", "--json"],
        cwd=repo, env=env, capture_output=True, text=True,
    )
    assert (r.returncode, r.stderr) == (0, "")
    worktree = Path(json.loads(r.stdout)["task"]["worktree"])
    assert (worktree / ".dispatch" / "PLAN.md").read_text().endswith(
        "# From the wheel\n\n## Checklist\n- [ ] works\n\n## Notes from the dispatcher\n"
    )
    assert git(worktree, "log", "-1", "--format=%s") == "dispatch: plan from-the-wheel"
    # The module it ran is the installed one, not this checkout.
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import dispatch.templates as t; print(t.templates_dir())"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True,
    ).stdout.strip()
    assert where.startswith(str(venv)) and where.endswith("dispatch/templates")
    skill = subprocess.run(
        [str(venv / "bin" / "dispatch"), "skill", "path"], cwd=tmp_path, env=env, capture_output=True, text=True
    ).stdout.strip()
    assert skill.startswith(str(venv)) and (Path(skill) / "SKILL.md").is_file()
