"""Named points where the fault tests stop dispatch: DISPATCH_FAULT=NAME kills it, NAME:int interrupts it."""

from __future__ import annotations

import os
import signal


def checkpoint(name: str) -> None:
    """Exists for the fault tests: SIGKILL (or, with `:int`, SIGINT) ourselves when DISPATCH_FAULT names NAME."""
    fault = os.environ.get("DISPATCH_FAULT")
    if fault == name:
        os.kill(os.getpid(), signal.SIGKILL)
    elif fault == f"{name}:int":
        os.kill(os.getpid(), signal.SIGINT)
