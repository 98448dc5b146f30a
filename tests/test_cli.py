"""The command map in dispatch/cli.py names every command, in the module that registers it."""

from __future__ import annotations

import importlib
import subprocess
import sys

from dispatch import cli


def test_the_command_map_is_complete_and_true() -> None:
    for module in sorted(set(cli.COMMANDS.values())):
        importlib.import_module(f"dispatch.commands.{module}")
    found = {
        (c.name or c.callback.__name__.replace("_", "-")): c.callback.__module__.rsplit(".", 1)[1]
        for c in cli.app.registered_commands
    }
    for group in cli.app.registered_groups:
        found[group.name] = group.typer_instance.registered_commands[0].callback.__module__.rsplit(".", 1)[1]
    assert found == cli.COMMANDS


def test_a_command_run_imports_only_its_own_module() -> None:
    code = (
        "import sys; from dispatch.cli import main; main(['trash', '--help']);"
        "print(sorted(m for m in sys.modules if m.startswith('dispatch.commands.')))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.splitlines()[-1] == "['dispatch.commands.tasks']"
