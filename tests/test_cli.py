"""The command map in dispatch/commands/app.py names every command, in the module that registers it."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import typer
from conftest import dispatch

from dispatch.commands import app as typer_app


def test_the_command_map_is_complete_and_true() -> None:
    for module in sorted(set(typer_app.COMMANDS.values())):
        importlib.import_module(f"dispatch.commands.{module}")
    found = {
        (c.name or c.callback.__name__.replace("_", "-")): c.callback.__module__.rsplit(".", 1)[1]
        for c in typer_app.app.registered_commands
    }
    for group in typer_app.app.registered_groups:
        found[group.name] = group.typer_instance.registered_commands[0].callback.__module__.rsplit(".", 1)[1]
    assert found == typer_app.COMMANDS


def test_a_command_run_imports_only_its_own_module() -> None:
    code = (
        "import sys; from dispatch.cli import main; main(['trash', '--help']);"
        "print(sorted(m for m in sys.modules if m.startswith('dispatch.commands.')))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # app, common and hot are every run's: the typer app, the shared helpers and the plain hot commands
    assert r.stdout.splitlines()[-1] == (
        "['dispatch.commands.app', 'dispatch.commands.common', 'dispatch.commands.hot', 'dispatch.commands.trash']")


# git's help convention (17.3): arguments `<id>`, `<title>`, `<text>|-`; option values upper-case
# (`--base REF`, `--budget-time SECONDS`); each command's summary whole on one line, aliases beside it.
ARGUMENT = re.compile(r"^\[?<[a-z]+>(\|<[a-z]+>|\|-)*\]?(\.\.\.)?$")
OPTION = re.compile(r"^  (?:-\w, )?--[\w-]+(?:, -\w)?(?: (?P<metavar>\S+))?(?:  |$)")
OPTION_VALUE = re.compile(r"^[A-Z][A-Z0-9_]*(,[A-Z][A-Z0-9_]*|\|-)?$")


def _every_command() -> list[list[str]]:
    """The path of every command and group, the root included."""
    typer_app.load_commands([])
    paths, todo = [], [([], typer.main.get_command(typer_app.app))]
    while todo:
        path, command = todo.pop(0)
        paths.append(path)
        if hasattr(command, "list_commands"):
            ctx = typer._click.Context(command)
            todo += [([*path, name], command.get_command(ctx, name)) for name in command.list_commands(ctx)]
    return paths


def _sections(text: str) -> dict[str, list[str]]:
    """The help's sections by heading ("Usage", "Arguments", "Options", "Commands"), each its lines."""
    found: dict[str, list[str]] = {}
    heading = ""
    for line in text.splitlines():
        if line.startswith("Usage: "):
            heading = "Usage"
            found[heading] = [line[len("Usage: "):]]
        elif line.endswith(":") and not line.startswith(" "):
            heading = line[:-1]
            found[heading] = []
        elif line.strip():
            found[heading].append(line)
    return found


def test_every_command_s_help_follows_one_convention(tmp_path: Path) -> None:
    paths = _every_command()
    assert {path[0] for path in paths if path} == set(typer_app.COMMANDS)  # the walk saw every command
    for path in paths:
        r = dispatch(*path, "--help", cwd=tmp_path, env={"COLUMNS": "80"})
        assert (r.code, r.err) == (0, ""), path
        sections = _sections(r.out)
        usage = sections["Usage"][0].split()
        assert usage[:len(path) + 2] == ["dispatch", *path, "[OPTIONS]"], path
        rest = usage[len(path) + 2:]
        if rest[:1] == ["COMMAND"]:
            assert rest == ["COMMAND", "[ARGS]..."], path
        else:
            assert [a for a in rest if not ARGUMENT.match(a)] == [], path
        for line in sections.get("Arguments", []):
            if not line.startswith("   "):  # a wrapped help line is indented further
                assert ARGUMENT.match(line.split()[0]), (path, line)
        for line in sections["Options"]:
            match = OPTION.match(line)
            if match and match["metavar"]:
                assert OPTION_VALUE.match(match["metavar"]), (path, line)
        for line in sections.get("Commands", []):
            # One line each at 80 columns: a wrapped summary's second line would start with spaces only.
            assert re.match(r"^  [a-z]+ +\S", line) and not line.rstrip().endswith("..."), (path, line)


def test_aliases_show_beside_their_command(tmp_path: Path) -> None:
    rows = _sections(dispatch("--help", cwd=tmp_path, env={"COLUMNS": "80"}).out)["Commands"]
    aliased = {line.split()[0]: line.split("(alias: ")[1] for line in rows if "(alias: " in line}
    assert aliased == {"status": "ls).", "discard": "rm).", "review": "diff)."}


def test_merge_help_says_it_builds_the_result_then_fast_forwards(tmp_path: Path) -> None:
    """"by a fast-forward only" read as `--ff-only`, while the default is a squash (17.13)."""
    r = dispatch("merge", "--help", cwd=tmp_path, env={"COLUMNS": "80"})
    assert (r.code, r.err) == (0, "")
    assert r.out == """\
Usage: dispatch merge [OPTIONS] <id>

  Land the task: build the result, then fast-forward the base.

  The result is built first, in memory, so that a conflict stops it before
  anything moves: one squash commit of the task's work by default (--strategy
  merge: a merge commit; rebase: its commits replayed; ff: its commits as they
  are). Then the base moves to the result, and only by a fast-forward: it ends
  either unchanged or holding the result. Last, unless --keep, the task goes
  to the trash.

Arguments:
  <id>  [required]

Options:
  --strategy STRATEGY  squash, merge, rebase or ff (default: config
                       `merge_strategy`, else squash).
  --into BRANCH        Land on BRANCH instead of the task's base.
  -m, --message TEXT   Message of the squash or merge commit.
  --keep               Keep the task's branch and worktree after landing.
  -y, --yes            Do not ask for confirmation.
  -h, --help           Show this message and exit.
"""
