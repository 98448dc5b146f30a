"""One help convention for every command, as git writes it: `<id>` arguments, upper-case option
values, whole one-line summaries, aliases shown beside the command they stand for.

typer writes a required argument `{ID}` and cuts each summary at 45-odd characters with `...`;
these classes undo both, and tests/test_cli.py walks every command's help to hold the convention.
"""

from __future__ import annotations

import re

import typer
from typer.core import TyperCommand, TyperGroup

from dispatch.typed import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

_BRACED = re.compile(r"^\{(.*)\}$")


def _unbrace(pieces: list[str]) -> list[str]:
    return [_BRACED.sub(r"\1", piece) for piece in pieces]


def summary(command: Any) -> str:
    """The first paragraph of a command's help, whole, on one line."""
    first = (command.help or "").split("\n\n", 1)[0]
    return " ".join(first.split())


class Command(TyperCommand):
    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return _unbrace(super().collect_usage_pieces(ctx))


class Group(TyperGroup):
    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return _unbrace(super().collect_usage_pieces(ctx))

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """Each command with its whole summary (wrapped on a narrow terminal, never cut) and aliases."""
        commands = [(name, self.get_command(ctx, name)) for name in self.list_commands(ctx)]
        aliases: dict[Any, list[str]] = {}
        for name, cmd in commands:
            if cmd is not None and cmd.hidden:
                aliases.setdefault(_function(cmd), []).append(name)
        rows = []
        for name, cmd in commands:
            if cmd is None or cmd.hidden:
                continue
            also = aliases.get(_function(cmd), [])
            rows.append((name, _with_aliases(summary(cmd), also)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _with_aliases(text: str, aliases: list[str]) -> str:
    """`Where every task stands (alias: ls).`"""
    if not aliases:
        return text
    note = f" (alias: {', '.join(aliases)})"
    return f"{text[:-1]}{note}." if text.endswith(".") else text + note


def _function(command: Any) -> Any:
    """The function a command runs: an alias is the same function registered under another name."""
    callback = command.callback
    return getattr(callback, "__wrapped__", callback)


def apply(app: typer.Typer) -> None:
    """Give every command and group of APP these classes (typer has no app-wide default for them)."""
    app.info.cls = Group
    for info in app.registered_commands:
        if info.cls in (None, TyperCommand):  # a command that names its own class keeps it
            info.cls = Command
    for group in app.registered_groups:
        group.cls = Group
        if group.typer_instance is not None:
            apply(group.typer_instance)
