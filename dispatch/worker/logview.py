"""Worker logs for people and hosts: one short line per JSON event that agent CLIs stream."""

from __future__ import annotations

import json
from typing import Any

WIDTH = 160


def _short(text: str, width: int = WIDTH) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _content(blocks: Any) -> list[str]:
    if isinstance(blocks, str):
        return [_short(blocks)] if blocks.strip() else []
    lines = []
    for block in blocks if isinstance(blocks, list) else []:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text" and str(block.get("text", "")).strip():
            lines.append(f"says: {_short(block['text'])}")
        elif kind == "tool_use":
            args = block.get("input") or {}
            detail = args.get("command") or args.get("file_path") or args.get("pattern") or json.dumps(args)
            lines.append(f"{block.get('name', 'tool')}: {_short(str(detail))}")
        elif kind == "tool_result":
            text = block.get("content")
            if isinstance(text, list):
                text = " ".join(str(b.get("text", "")) for b in text if isinstance(b, dict))
            lines.append(f"{'error' if block.get('is_error') else 'got'}: {_short(str(text or ''))}")
    return lines


def summarize(line: str) -> list[str]:
    """LINE as it reads best: JSON events of Claude Code, Codex, Cursor or Gemini condensed, anything else as is."""
    stripped = line.strip()
    if not stripped.startswith("{"):
        return [line]
    try:
        event = json.loads(stripped)
    except ValueError:
        return [line]
    if not isinstance(event, dict) or "type" not in event:
        return [line]
    kind = event["type"]
    if kind in ("assistant", "user") and isinstance(event.get("message"), dict):
        return _content(event["message"].get("content"))
    if kind == "system":
        return [f"· {event.get('subtype', 'system')}" + (f" (model {event['model']})" if event.get("model") else "")]
    if kind == "result":
        cost = event.get("total_cost_usd")
        parts = [str(event.get("subtype", "done"))]
        if event.get("num_turns") is not None:
            parts.append(f"{event['num_turns']} turns")
        if isinstance(cost, int | float):
            parts.append(f"${cost:.4f}")
        return [f"· result: {', '.join(parts)}"]
    if kind.startswith("item.") and isinstance(event.get("item"), dict):  # Codex
        item = event["item"]
        text = item.get("text") or item.get("command") or item.get("aggregated_output") or ""
        return [f"{item.get('type', 'item')}: {_short(str(text))}"] if kind == "item.completed" else []
    if kind == "turn.completed" and isinstance(event.get("usage"), dict):
        u = event["usage"]
        return [f"· turn done: {u.get('input_tokens', 0)} tokens in, {u.get('output_tokens', 0)} out"]
    return [f"· {kind}: {_short(json.dumps({k: v for k, v in event.items() if k != 'type'}), 100)}"]


def render(lines: list[str]) -> list[str]:
    return [short for line in lines for short in summarize(line)]
