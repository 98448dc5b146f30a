"""What a worker run cost, read from what its CLI reports on its output."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass
class Usage:
    cost_usd: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None

    def to_json(self) -> dict[str, Any]:
        cost = None if self.cost_usd is None else round(self.cost_usd, 6)  # a millionth of a dollar is enough
        return {"cost_usd": cost, "input_tokens": self.input_tokens, "output_tokens": self.output_tokens}


def _add(a: int | None, b: Any) -> int | None:
    return (a or 0) + int(b) if isinstance(b, int | float) else a


def parse_usage(text: str) -> Usage:
    """Usage from JSON lines a CLI printed.

    Claude Code (`--output-format json` or `stream-json`) ends with a `result` object holding
    `total_cost_usd` and `usage`; Codex (`exec --json`) reports tokens on each `turn.completed`.
    Lines that are not JSON objects are skipped.
    """
    usage = Usage()
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if not isinstance(event, dict):
            continue
        if event.get("type") == "result":
            if isinstance(event.get("total_cost_usd"), int | float):
                usage.cost_usd = (usage.cost_usd or 0.0) + float(event["total_cost_usd"])
            tokens = event.get("usage") or {}
            if isinstance(tokens, dict):
                usage.input_tokens = _add(usage.input_tokens, tokens.get("input_tokens"))
                usage.input_tokens = _add(usage.input_tokens, tokens.get("cache_read_input_tokens"))
                usage.input_tokens = _add(usage.input_tokens, tokens.get("cache_creation_input_tokens"))
                usage.output_tokens = _add(usage.output_tokens, tokens.get("output_tokens"))
        elif event.get("type") == "turn.completed" and isinstance(event.get("usage"), dict):
            tokens = event["usage"]
            usage.input_tokens = _add(usage.input_tokens, tokens.get("input_tokens"))
            usage.output_tokens = _add(usage.output_tokens, tokens.get("output_tokens"))
    return usage


def totals(runs: list[dict[str, Any]], *, running_since: float | None, now: float) -> dict[str, Any]:
    """Wall time, cost and tokens over a task's runs (the current one counted up to NOW)."""
    seconds = sum(float(r.get("seconds") or 0) for r in runs)
    if running_since is not None:
        seconds += max(0.0, now - running_since)
    costs = [r["cost_usd"] for r in runs if isinstance(r.get("cost_usd"), int | float)]
    inputs = [r["input_tokens"] for r in runs if isinstance(r.get("input_tokens"), int)]
    outputs = [r["output_tokens"] for r in runs if isinstance(r.get("output_tokens"), int)]
    return {
        "seconds": round(seconds, 1),
        "cost_usd": round(sum(costs), 6) if costs else None,
        "tokens": {"input": sum(inputs), "output": sum(outputs)} if inputs or outputs else None,
    }
