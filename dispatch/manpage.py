"""The git-dispatch(1) man page, made from the help text: `git dispatch --help` is `man git-dispatch`.

git turns `git dispatch --help` into `git help dispatch`, which opens the man page and never runs
us; the wheel installs this page under share/man/man1, where man finds it beside the venv's bin.
Regenerate with `python -m dispatch.manpage > man/git-dispatch.1` (tests/test_wheel.py checks it).
"""

from __future__ import annotations

WIDTH = 72  # man indents the text by 7 on an 80-column terminal


def help_text() -> str:
    """`dispatch --help` at a fixed width, every command listed."""
    import typer

    from dispatch.commands import app as typer_app

    typer_app.load_commands([])
    command = typer.main.get_command(typer_app.app)
    ctx = command.make_context("dispatch", [], resilient_parsing=True, terminal_width=WIDTH, max_content_width=WIDTH)
    return command.get_help(ctx)


def _roff(line: str) -> str:
    """A line of text as roff shows it verbatim: backslashes and hyphens escaped, no leading control."""
    line = line.replace("\\", "\\e").replace("-", "\\-")
    return "\\&" + line if line.startswith((".", "'")) else line


def render() -> str:
    """The whole page."""
    lines = [
        '.TH GIT-DISPATCH 1 "" "git-dispatch" "Git Manual"',
        ".SH NAME",
        "git\\-dispatch \\- hand coding tasks to background AI workers, each in its own branch and worktree",
        ".SH SYNOPSIS",
        ".B git dispatch",
        "COMMAND [ARGS]...",
        ".br",
        ".B dispatch",
        "COMMAND [ARGS]...",
        ".SH DESCRIPTION",
        "The same program under two names. Each command's own help:",
        ".B dispatch COMMAND \\-\\-help",
        "(or",
        ".BR \"git dispatch COMMAND \\-\\-help\" ).",
        ".PP",
        ".nf",
        *[_roff(line) for line in help_text().rstrip("\n").splitlines()],
        ".fi",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(), end="")
