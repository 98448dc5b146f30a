"""Named points where the fault tests stop dispatch: DISPATCH_FAULT=NAME kills it, NAME:int interrupts it."""

from __future__ import annotations

import os


def checkpoint(name: str) -> None:
    """Exists for the fault tests: SIGKILL (or, with `:int`, SIGINT) ourselves when DISPATCH_FAULT names NAME."""
    fault = os.environ.get("DISPATCH_FAULT")
    if fault in (name, f"{name}:int"):
        import signal  # here: every command passes checkpoints, the fault tests alone stop at one

        os.kill(os.getpid(), signal.SIGKILL if fault == name else signal.SIGINT)
