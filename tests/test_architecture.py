"""The layer contract in pyproject.toml holds, and it is able to fail."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).parent / "lint-imports"


def lint(project: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(project)}
    return subprocess.run([str(LINT), "--config", str(project / "pyproject.toml"), "--no-cache"],
                          cwd=project, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_the_package_keeps_its_import_contracts() -> None:
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken." in result.stdout.splitlines()


def test_a_cycle_breaks_the_contract(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "dispatch", tmp_path / "dispatch", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    # git is in the bottom layer; make it reach up to the task layer.
    git = tmp_path / "dispatch" / "git.py"
    git.write_text(git.read_text() + "\nfrom dispatch.task import model  # noqa: E402\n")
    result = lint(tmp_path)
    assert result.returncode == 1, result.stdout
    assert "Contracts: 0 kept, 2 broken." in result.stdout.splitlines()
    assert "dispatch.git is not allowed to import dispatch.task:" in result.stdout.splitlines()
    assert "- .git -> .task (1 import)" in result.stdout.splitlines()


def _tool(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(Path(sys.executable).parent / name), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, check=False)


def test_mypy_strict_passes() -> None:
    result = _tool("mypy")  # strict, on dispatch/, as pyproject.toml says
    assert result.returncode == 0, result.stdout
    assert result.stdout.startswith("Success: no issues found in "), result.stdout


def test_ruff_passes() -> None:
    result = _tool("ruff", "check", "--output-format", "concise", "dispatch", "tests", "bench")
    assert (result.returncode, result.stdout) == (0, "All checks passed!\n")


# Issue 12: every module under ~300 lines, no function over ~60 (a command's typer signature counts).
MODULE_LINES, FUNCTION_LINES = 350, 75


def sizes(package: Path) -> tuple[list[str], list[str]]:
    """The modules and functions of PACKAGE over the limits, as `path: N lines` and `path:name: N lines`."""
    import ast

    modules, functions = [], []
    for path in sorted(package.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        name = path.relative_to(package.parent).as_posix()
        if len(text.splitlines()) > MODULE_LINES:
            modules.append(f"{name}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = (node.end_lineno or node.lineno) - node.lineno + 1
                if n > FUNCTION_LINES:
                    functions.append(f"{name}:{node.name}: {n} lines")
    return modules, functions


def test_modules_and_functions_stay_small() -> None:
    assert sizes(ROOT / "dispatch") == ([], [])


def test_the_size_check_is_able_to_fail(tmp_path: Path) -> None:
    package = tmp_path / "dispatch"
    package.mkdir()
    body = "".join(f"    x{i} = {i}\n" for i in range(FUNCTION_LINES))
    (package / "big.py").write_text("def long():\n" + body + "\n" * (MODULE_LINES - FUNCTION_LINES))
    assert sizes(package) == ([f"dispatch/big.py: {MODULE_LINES + 1} lines"],
                              [f"dispatch/big.py:long: {FUNCTION_LINES + 1} lines"])
