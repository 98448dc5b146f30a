"""The typer application: every command registers itself on `app`; a run builds only the one it runs.
The hot commands (dispatch.commands.hot) run without it when their command line is plain."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dispatch import __version__

app = typer.Typer(
    name="dispatch",
    help="Hand coding tasks to background AI workers, each in its own git branch and worktree.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (a versioned envelope).")]
SandboxOpt = typer.Option("--sandbox", metavar="MODE", help="Confine the worker: auto, bwrap or off (default: sandbox "
                          "in the config); kept for the task's later runs.")


def _version(value: bool) -> None:
    if value:
        print(f"dispatch {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Hand coding tasks to background AI workers, each in its own git branch and worktree."""


# Which module registers each command. A run imports (and typer builds) only the module of the
# command it runs; help and unknown names load them all. tests/test_cli.py keeps this map true.
COMMANDS = {
    **dict.fromkeys(("new", "status", "ls", "show", "note"), "tasks"),
    **dict.fromkeys(("discard", "rm", "restore", "trash"), "trash"),
    **dict.fromkeys(("logs", "stop", "resume"), "workers"),
    **dict.fromkeys(("ask", "answer", "questions", "events", "wait"), "questions"),
    **dict.fromkeys(("review", "diff", "merge", "pick", "rebase", "conflicts", "clean", "pr"), "landing"),
    **dict.fromkeys(("config", "models", "init", "trust", "untrust"), "config"),
    "demo": "demo",
    "doctor": "doctor",
    **dict.fromkeys(("runners", "runner-call"), "runners"),
    "skill": "skill",
}


def load_commands(argv: list[str]) -> Any:
    """The click command for ARGV, built as far as it needs: typer turning a function's signature into
    options is most of a start-up's cost past the imports, so a command builds only itself, and the
    command list (`--help`, `--version`, no arguments) builds no command's options at all."""
    import importlib

    name = next((a for a in argv if not a.startswith("-")), None)
    # In the map's order, so that `--help` lists the everyday commands first.
    modules = [COMMANDS[name]] if name in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    for module in modules:
        importlib.import_module(f"dispatch.commands.{module}")
    from dispatch import helpstyle

    helpstyle.apply(app)
    if name in COMMANDS:
        return _built(commands=[c for c in app.registered_commands if _name(c) == name],
                      groups=[g for g in app.registered_groups if g.name == name])
    if name is None:
        return _listing()
    return typer.main.get_command(app)  # an unknown name: the whole set, to suggest the nearest


def _name(info: Any) -> str:
    return str(info.name or info.callback.__name__.replace("_", "-"))


def _built(*, commands: list[Any], groups: list[Any]) -> Any:
    """The root group with only COMMANDS and GROUPS in it (the app's lists are left as they were)."""
    saved = app.registered_commands, app.registered_groups
    app.registered_commands, app.registered_groups = commands, groups
    try:
        return typer.main.get_command(app)
    finally:
        app.registered_commands, app.registered_groups = saved


def _listing() -> Any:
    """The root group with every command as a stand-in that holds only what the command list shows."""
    import inspect

    from typer.core import TyperCommand, TyperGroup

    root = _built(commands=[], groups=[])
    for info in app.registered_commands:
        help_text = inspect.cleandoc(info.help) if info.help else inspect.getdoc(info.callback)
        root.add_command(TyperCommand(_name(info), callback=info.callback, help=help_text, hidden=info.hidden))
    for group in app.registered_groups:
        root.add_command(TyperGroup(name=group.name, help=typer.main.solve_typer_info_help(group), hidden=group.hidden))
    return root


def run(argv: list[str]) -> int:
    """Parse ARGV with typer and run its command: its exit code (click's errors and Ctrl-C raised)."""
    result = load_commands(argv).main(args=argv, prog_name="dispatch", standalone_mode=False)
    if result == 130:  # click turns Ctrl-C into a quiet exit code
        raise KeyboardInterrupt
    return result if isinstance(result, int) else 0
