"""Turning core results into text for people and JSON for programs."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from dispatch import clock

JSON_VERSION = 1


def emit_json(payload: dict[str, Any]) -> None:
    print(json.dumps({"version": JSON_VERSION, **payload}, sort_keys=True, indent=2, ensure_ascii=False))


def table(rows: list[list[str]], header: list[str]) -> str:
    """Columns padded to their widest cell; the last column is never padded."""
    return "\n".join(table_lines(rows, header))


def table_lines(rows: list[list[str]], header: list[str]) -> list[str]:
    """The lines of `table`: the header's, then one for each row."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    lines = []
    for row in [header, *rows]:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])] + [row[-1]]
        lines.append("  ".join(cells).rstrip())
    return lines


def use_color(stream: Any = None) -> bool:
    stream = stream or sys.stdout
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


def plan_cell(plan: Any) -> str:
    cell = f"{plan.done}/{plan.total}"
    if plan.blocked:
        cell += f" {plan.blocked}?"
    if plan.failed:
        cell += f" {plan.failed}!"
    return cell


def status_table(tasks: list[Any]) -> str:
    return "\n".join(text for text, _kind in status_lines(tasks))


def status_lines(tasks: list[Any]) -> list[tuple[str, str]]:
    """The status table and its notes, each line with what it shows: `header`, `group`, a state, or a note's kind.

    A group's tasks (one task sent to several models) come together under a line naming the group.
    """
    tasks = _by_group(tasks)
    rows = []
    notes: list[tuple[str, str]] = []
    runners = any(t.extra.get("runner") for t in tasks)  # a RUNNER column only when a task has one
    for t in tasks:
        last = clock.age(t.last_commit["time"]) if t.last_commit else "-"
        ahead = "-" if t.ahead is None else f"+{t.ahead}/-{t.behind}"
        dirty = "-" if not t.dirty else str(t.dirty)
        rows.append([
            f"  {t.id}" if t.group else t.id, t.state, plan_cell(t.plan), str(t.questions_open or "-"), ahead, dirty,
            last, usage_cell(t.seconds, t.cost_usd), *([t.extra.get("runner") or "local"] if runners else []),
            t.worktree or "-",
        ])
        if t.state == "unreachable":
            last_state = t.extra.get("last_state") or "unknown"
            notes.append(((f"{t.id} is on {t.extra.get('runner')}, which does not answer: its last known state was "
                          f"{last_state}; the worker goes on there, the next command catches up"), "unreachable"))
        if t.question:
            notes.append((f"{t.id} asks: {t.question}", "question"))
        if t.problem:
            notes.append((f"{t.id} is broken: {t.problem}", "broken"))
        if t.extra.get("conflicts"):
            files = ", ".join(t.extra["conflicts"][:3])
            notes.append((f"{t.id} no longer merges cleanly into {t.base} ({files}): `dispatch rebase {t.id} --leave`",
                          "conflict"))
        reason = (t.worker or {}).get("reason")
        if t.state == "blocked" and reason:
            notes.append((f"{t.id} is blocked: {reason}", "blocked"))
        if t.state == "queued":
            after = (t.worker or {}).get("after") or []
            notes.append((f"{t.id} waits for {', '.join(after)}" if after else f"{t.id} waits for a free worker slot",
                          "queued"))
    header, *lines = table_lines(rows, ["ID", "STATE", "PLAN", "Q", "COMMITS", "DIRTY", "LAST", "USAGE",
                                        *(["RUNNER"] if runners else []), "WORKTREE"])
    out = [(header, "header")]
    for i, (t, line) in enumerate(zip(tasks, lines, strict=True)):
        if t.group and (i == 0 or tasks[i - 1].group != t.group):
            out.append((f"group {t.group}: `dispatch review {t.group}` compares its candidates", "group"))
        out.append((line, t.state))
    return out + notes


def _by_group(tasks: list[Any]) -> list[Any]:
    """TASKS in their order, each group's tasks moved up to where its first one is."""
    first: dict[str, int] = {}
    for i, t in enumerate(tasks):
        first.setdefault(t.group or f"\0{t.id}", i)
    return sorted(tasks, key=lambda t: first[t.group or f"\0{t.id}"])


def task_json(t: Any) -> dict[str, Any]:
    return dict(t.to_json())


_MARK_WORD = {" ": "[ ]", "x": "[x]", "X": "[x]", "?": "[?]", "!": "[!]"}


def detail_text(detail: Any) -> str:
    s = detail.status
    lines = [f"{s.id} — {s.title}" if s.title else s.id]
    facts = [
        ("state", s.state + (f" ({s.problem})" if s.problem else "")),
        ("branch", s.branch + (f" (base {s.base}, +{s.ahead}/-{s.behind})" if s.ahead is not None else "")),
        ("worktree", s.worktree or "-"),
        ("model", s.model or "-"),
        ("created", s.created or "-"),
        ("dirty", f"{s.dirty} changed file{'s' if s.dirty != 1 else ''}" if s.dirty else "no"),
    ]
    if s.seconds is not None:
        facts.append(("usage", usage_text(s.seconds, s.cost_usd, s.tokens)))
    width = max(len(k) for k, _ in facts)
    lines += [f"  {k.ljust(width)}  {v}" for k, v in facts]
    lines += ["", f"Checklist ({plan_cell(s.plan)} done)"]
    for item in detail.items:
        lines.append(f"  {_MARK_WORD.get(item['mark'], '[ ]')} {item['text']}")
        lines += [f"      {d}" for d in item["detail"]]
    if detail.questions:
        lines += ["", "Questions"]
        for q in detail.questions:
            state = "open" if q["answer"] is None else "answered"
            lines.append(f"  Q{q['number']} ({state}) {first_line(q['text'])}")
            if q["answer"] is not None:
                lines.append(f"     → {first_line(q['answer'])}")
    if detail.commits:
        lines += ["", "Commits"]
        lines += [f"  {c['sha'][:7]}  {c['subject']}  ({clock.age(c['time'])} ago)" for c in detail.commits]
    if detail.files:
        lines += ["", "Files changed"]
        lines += [
            f"  {f['status']}  {f['from'] + ' -> ' if 'from' in f else ''}{f['path']}" for f in detail.files
        ]
    if s.worker:
        lines += ["", "Worker"]
        lines += [f"  {k}: {v}" for k, v in sorted(s.worker.items()) if v not in (None, "")]
    return "\n".join(lines)


def first_line(text: str) -> str:
    """The first line of TEXT, with ` …` when more follows."""
    lines = text.strip().splitlines()
    return (lines[0] if lines else "") + (" …" if len(lines) > 1 else "")


def duration(seconds: float | None) -> str:
    """`42s`, `3m05s`, `2h07m`; `-` when not known."""
    if seconds is None:
        return "-"
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def money(usd: float | None) -> str:
    """`$1.25`, or `$0.0042` below a cent; `-` when not known."""
    if usd is None:
        return "-"
    return f"${usd:.2f}" if usd >= 0.01 else f"${usd:.4f}"


def usage_text(seconds: float | None, cost: float | None, tokens: dict[str, int] | None) -> str:
    """`3m12s, $0.04, 12,300 tokens in / 900 out`, leaving out what is not known."""
    if seconds is None:
        return "-"
    parts = [duration(seconds)]
    if cost is not None:
        parts.append(money(cost))
    if tokens:
        parts.append(f"{tokens['input']:,} tokens in / {tokens['output']:,} out")
    return ", ".join(parts)


def usage_cell(seconds: float | None, cost: float | None) -> str:
    """The workers' wall time, and their cost where known: `1m35s $0.01`."""
    if seconds is None:
        return "-"
    return duration(seconds) if cost is None else f"{duration(seconds)} {money(cost)}"
