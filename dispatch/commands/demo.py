"""`dispatch demo`: see dispatch work, with no AI CLI needed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dispatch.commands.app import app
from dispatch.errors import DispatchError


@app.command()
def demo(
    folder: Annotated[Path | None, typer.Option("--dir", metavar="PATH", help="Where to make the scratch repository (default: a new temporary folder).")] = None,
    delay: Annotated[float, typer.Option("--delay", metavar="SECONDS", help="How long the scripted workers take per item.")] = 0.4,
) -> None:
    """Walk through dispatch in a scratch repository, no AI needed.

    The built-in scripted worker does the work.
    """
    from dispatch import demo as demo_mod

    try:
        for text in demo_mod.run(folder.resolve() if folder else None, delay):
            print(text, flush=True)
    except demo_mod.DemoError as e:
        raise DispatchError(f"the demo stopped: {e}") from None
