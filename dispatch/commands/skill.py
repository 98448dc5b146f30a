"""`dispatch skill`: the /dispatch skill for Claude Code and other Agent Skills hosts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dispatch.commands.app import app

skill_app = typer.Typer(help="The /dispatch skill for Claude Code and other Agent Skills hosts.", no_args_is_help=True)
app.add_typer(skill_app, name="skill")


@skill_app.command("path")
def path() -> None:
    """Print where the shipped skill folder is."""
    from dispatch import skill

    print(skill.shipped_dir())


@skill_app.command("install")
def install(
    project: Annotated[bool, typer.Option("--project", help="Into this repository's .claude/skills/dispatch.")] = False,
    global_: Annotated[bool, typer.Option("--global", help="Into ~/.claude/skills/dispatch (the default).")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace a copy that was changed by hand.")] = False,
) -> None:
    """Install the skill where Claude Code finds it."""
    from dispatch import skill
    from dispatch.errors import DispatchError

    if project and global_:
        raise DispatchError("give --project or --global, not both")
    root = None
    if project:
        from dispatch.repo import open_repo

        root = open_repo(Path.cwd()).root
    done = skill.install(skill.target_dir(project=root), force=force)
    if done.action == "unchanged":
        print(f"the skill in {done.path} is already up to date")
    else:
        print(f"{done.action} the dispatch skill in {done.path}")
        print("  Claude Code loads it in new sessions: type /dispatch")
