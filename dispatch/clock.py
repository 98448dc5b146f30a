"""Time as dispatch shows it; `DISPATCH_NOW` pins it for reproducible output."""

from __future__ import annotations

import os
import time


def now() -> float:
    """Unix seconds; `DISPATCH_NOW` (unix seconds or ISO 8601) overrides it."""
    pinned = os.environ.get("DISPATCH_NOW")
    if pinned:
        try:
            return float(pinned)
        except ValueError:
            return parse_iso(pinned)
    return time.time()


def iso(seconds: float) -> str:
    """UTC, to the second: `2026-12-02T18:41:31Z` (formatted by `time`: importing datetime cost every command 2 ms)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(seconds)))


def parse_iso(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text).timestamp()


def age(seconds: float, *, at: float | None = None) -> str:
    """A short age such as `40s`, `5m`, `3h`, `2d`."""
    delta = max(0, int((now() if at is None else at) - seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if delta >= size:
            return f"{delta // size}{unit}"
    return f"{delta}s"
