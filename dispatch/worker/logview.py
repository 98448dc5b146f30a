"""Worker logs for people and hosts: one short line per JSON event that agent CLIs stream."""

from __future__ import annotations

import json

from dispatch.typed import TYPE_CHECKING

if TYPE_CHECKING:
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


def _detail(args: Any) -> str:
    """The one argument of a tool call worth showing: its command, file or pattern, else all of them."""
    if not isinstance(args, dict):
        return str(args)
    for key in ("command", "cmd", "file_path", "filePath", "path", "pattern"):
        if args.get(key):
            return str(args[key])
    return json.dumps(args)


def _codex(kind: str, event: dict[str, Any]) -> list[str] | None:
    """Codex `exec --json`: items, turns and errors."""
    if kind.startswith("item.") and isinstance(event.get("item"), dict):
        if kind != "item.completed":
            return []
        item = event["item"]
        if item.get("type") in ("agent_message", "reasoning") and str(item.get("text", "")).strip():
            return [f"{'says' if item['type'] == 'agent_message' else 'thinks'}: {_short(str(item['text']))}"]
        if item.get("type") == "file_change":
            changes = [c for c in item.get("changes") or [] if isinstance(c, dict)]
            paths = ", ".join(f"{c.get('kind', 'change')} {c.get('path', '?')}" for c in changes)
            return [f"file_change: {_short(paths or '(no paths)')}"]
        text = item.get("text") or item.get("message") or item.get("command") or item.get("aggregated_output") or ""
        return [f"{item.get('type', 'item')}: {_short(str(text))}"]
    if kind == "thread.started":
        return ["· thread started"]
    if kind == "turn.started":
        return []
    if kind == "turn.completed" and isinstance(event.get("usage"), dict):
        u = event["usage"]
        return [f"· turn done: {u.get('input_tokens', 0)} tokens in, {u.get('output_tokens', 0)} out"]
    if kind == "turn.failed":
        error = event.get("error")
        return [f"· turn failed: {_short(str(error.get('message') if isinstance(error, dict) else error))}"]
    if kind == "error" and "message" in event:
        return [f"error: {_short(str(event['message']))}"]
    return None


def _gemini(kind: str, event: dict[str, Any]) -> list[str] | None:
    """Gemini CLI `--output-format stream-json`: init, messages, tool calls and their results, result."""
    if kind == "init":
        return [f"· init (model {event['model']})" if event.get("model") else "· init"]
    if kind == "message":
        if event.get("role") != "assistant":
            return []  # the prompt, already in the worker's argv
        return [f"says: {_short(str(event.get('content', '')))}"] if str(event.get("content", "")).strip() else []
    if kind == "tool_use":
        return [f"{event.get('tool_name', 'tool')}: {_short(_detail(event.get('parameters')))}"]
    if kind == "tool_result":
        if event.get("status") == "success":
            return [f"got: {_short(str(event.get('output') or ''))}"]
        error = event.get("error")
        return [f"error: {_short(str(error.get('message') if isinstance(error, dict) else event.get('output') or error))}"]
    if kind == "result" and "stats" in event:
        stats = event["stats"] if isinstance(event["stats"], dict) else {}
        error = event.get("error")
        head = f"error: {_short(str(error.get('message')), 100)}" if isinstance(error, dict) else str(event.get("status"))
        return [f"· result: {head}, {stats.get('input_tokens', 0)} tokens in, {stats.get('output_tokens', 0)} out"]
    return None


def _opencode(kind: str, event: dict[str, Any]) -> list[str] | None:
    """opencode `run --format json`: one event per part of the session (text, tool, step)."""
    part = event.get("part")
    if kind == "error" and isinstance(event.get("error"), dict):
        error = event["error"]
        data = error.get("data") if isinstance(error.get("data"), dict) else {}
        return [f"error: {_short(str(data.get('message') or error.get('name') or 'unknown error'))}"]
    if not isinstance(part, dict):
        return None
    if kind == "step_start":
        return []
    if kind in ("text", "reasoning"):
        text = str(part.get("text", ""))
        return [f"{'says' if kind == 'text' else 'thinks'}: {_short(text)}"] if text.strip() else []
    if kind == "tool_use":
        state = _mapping(part.get("state"))
        lines = [f"{part.get('tool', 'tool')}: {_short(_detail(state.get('input')))}"]
        if state.get("status") == "error":
            lines.append(f"error: {_short(str(state.get('error', '')))}")
        elif state.get("status") == "completed":
            lines.append(f"got: {_short(str(state.get('output', '')))}")
        return lines
    if kind == "step_finish":
        tokens = _mapping(part.get("tokens"))
        cost = part.get("cost")
        money = f", ${cost:.4f}" if isinstance(cost, int | float) and cost else ""
        return [f"· step done: {tokens.get('input', 0)} tokens in, {tokens.get('output', 0)} out{money}"]
    return None


def summarize(line: str) -> list[str]:
    """LINE as it reads best: JSON events of Claude Code, Codex, Cursor, Gemini CLI or opencode
    condensed, one short line each (an unknown event too), anything else as is."""
    stripped = line.strip()
    if not stripped.startswith("{"):
        return [line]
    try:
        event = json.loads(stripped)
    except ValueError:
        return [line]
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        return [_short(stripped)]  # JSON of no known shape: one short line, never a raw dump
    kind = event["type"]
    if kind in ("assistant", "user") and isinstance(event.get("message"), dict):
        return _content(event["message"].get("content"))
    if kind == "system":
        return [f"· {event.get('subtype', 'system')}" + (f" (model {event['model']})" if event.get("model") else "")]
    if kind == "result" and "stats" not in event:
        cost = event.get("total_cost_usd")
        parts = [str(event.get("subtype", "done"))]
        if event.get("num_turns") is not None:
            parts.append(f"{event['num_turns']} turns")
        if isinstance(cost, int | float):
            parts.append(f"${cost:.4f}")
        return [f"· result: {', '.join(parts)}"]
    for reader in (_codex, _opencode, _gemini):  # opencode events carry a `part`, Gemini's do not
        shown = reader(kind, event)
        if shown is not None:
            return shown
    return [f"· {kind}: {_short(json.dumps({k: v for k, v in event.items() if k != 'type'}), 100)}"]


def _gemini_delta(line: str) -> str | None:
    """The text of a Gemini CLI assistant message chunk (it streams one message in many)."""
    stripped = line.strip()
    if not (stripped.startswith("{") and '"delta"' in stripped):
        return None
    try:
        event = json.loads(stripped)
    except ValueError:
        return None
    if isinstance(event, dict) and event.get("type") == "message" and event.get("role") == "assistant" \
            and event.get("delta"):
        return str(event.get("content", ""))
    return None


def render(lines: list[str]) -> list[str]:
    """Every line summarized; the chunks of one streamed Gemini message shown as one line."""
    out: list[str] = []
    pending: list[str] = []
    for line in lines:
        chunk = _gemini_delta(line)
        if chunk is not None:
            pending.append(chunk)
            continue
        if pending:
            out += [f"says: {_short(''.join(pending))}"] if "".join(pending).strip() else []
            pending = []
        out += summarize(line)
    if pending and "".join(pending).strip():
        out.append(f"says: {_short(''.join(pending))}")
    return out


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
