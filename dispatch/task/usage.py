"""What a worker run cost, read from what its CLI reports on its output."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from dispatch.typed import TYPE_CHECKING

if TYPE_CHECKING:
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


# aider prints no JSON: after each model call "Tokens: 2.1k sent, 15 received." and, when it knows
# the model's price, "Cost: $0.0012 message, $0.0034 session."
_AIDER_TOKENS = re.compile(r"^Tokens: ([0-9.]+)(k?) sent(?:, [0-9.]+k? cache \w+)*, ([0-9.]+)(k?) received\.")
_AIDER_COST = re.compile(r"Cost: \$([0-9.]+) message")


def _count(number: str, kilo: str) -> int:
    return round(float(number) * (1000 if kilo else 1))


def _json_event(line: str) -> dict[str, Any] | None:
    if not line.startswith("{"):
        return None
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) else None


def _add_cost(usage: Usage, cost: Any) -> None:
    if isinstance(cost, int | float) and not isinstance(cost, bool):
        usage.cost_usd = (usage.cost_usd or 0.0) + float(cost)


def _add_tokens(usage: Usage, inputs: list[Any], outputs: list[Any]) -> None:
    for value in inputs:
        usage.input_tokens = _add(usage.input_tokens, value)
    for value in outputs:
        usage.output_tokens = _add(usage.output_tokens, value)


def _from_event(usage: Usage, event: dict[str, Any]) -> None:
    kind = event.get("type")
    if kind == "result":
        _add_cost(usage, event.get("total_cost_usd"))  # Claude Code
        tokens = event.get("usage")
        if isinstance(tokens, dict):  # Claude Code
            _add_tokens(usage, [tokens.get("input_tokens"), tokens.get("cache_read_input_tokens"),
                                tokens.get("cache_creation_input_tokens")], [tokens.get("output_tokens")])
        stats = event.get("stats")
        if isinstance(stats, dict):  # Gemini CLI: the whole run's tokens, no dollar cost
            _add_tokens(usage, [stats.get("input_tokens")], [stats.get("output_tokens")])
    elif kind == "turn.completed" and isinstance(event.get("usage"), dict):  # Codex
        tokens = event["usage"]
        _add_tokens(usage, [tokens.get("input_tokens")], [tokens.get("output_tokens")])
    elif kind == "step_finish" and isinstance(event.get("part"), dict):  # opencode: one per model call
        part = event["part"]
        tokens = _mapping(part.get("tokens"))
        cache = _mapping(tokens.get("cache"))
        _add_tokens(usage, [tokens.get("input"), cache.get("read"), cache.get("write")], [tokens.get("output")])
        _add_cost(usage, part.get("cost"))


def _from_text(usage: Usage, line: str) -> None:
    tokens = _AIDER_TOKENS.match(line)
    if tokens:
        _add_tokens(usage, [_count(tokens.group(1), tokens.group(2))], [_count(tokens.group(3), tokens.group(4))])
        cost = _AIDER_COST.search(line)
        if cost:
            _add_cost(usage, float(cost.group(1)))


def parse_usage(text: str) -> Usage:
    """Usage from what a CLI printed, summed over the run.

    Claude Code (`--output-format json` or `stream-json`) ends with a `result` object holding
    `total_cost_usd` and `usage`; Gemini CLI (`--output-format stream-json`) with a `result` holding
    `stats`; Codex (`exec --json`) reports tokens on each `turn.completed`; opencode (`--format json`)
    tokens and cost on each `step_finish`; aider a "Tokens: ... sent, ... received." line per call.
    Other lines are skipped.
    """
    usage = Usage()
    for line in text.splitlines():
        line = line.strip()
        event = _json_event(line)
        if event is not None:
            _from_event(usage, event)
        else:
            _from_text(usage, line)
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


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
