"""Turning core results into text for people and JSON for programs."""

from __future__ import annotations

import os
import sys

from dispatch import clock
from dispatch.jsontext import string as _string  # (C: see dispatch.jsontext)
from dispatch.typed import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

JSON_VERSION = 1
_INFINITY = float("inf")


def emit_json(payload: dict[str, Any]) -> None:
    print(dumps({"version": JSON_VERSION, **payload}))


def dumps(value: Any) -> str:
    """`json.dumps(VALUE, sort_keys=True, indent=2, ensure_ascii=False)`, the same text, at the C encoder's speed.

    With an indent the json module falls back to its pure-Python encoder, twice as slow on a large diff;
    here Python lays out the containers and C escapes the strings."""
    out: list[str] = []
    try:
        _write(value, "\n", out)
    except _Unusual:  # a value the fast path does not know: json decides, or says what is wrong
        import json

        return json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False, default=_rendered_value)
    return "".join(out)


class Rendered:
    """VALUE's JSON as `dumps` writes it, made ahead of the rest (a review's files, each while git still
    writes the next), for `dumps` to place at any depth: the text's newlines are its layout alone (a newline
    in a string is written `\\n`), so its depth is the newlines' indent."""

    __slots__ = ("text", "value")

    def __init__(self, value: Any) -> None:
        self.value = value
        self.text = dumps(value)


def _rendered_value(value: Any) -> Any:
    if isinstance(value, Rendered):
        return value.value
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


class _Unusual(Exception):
    pass


def _write(value: Any, newline: str, out: list[str]) -> None:
    """Append VALUE as JSON to OUT, its nested lines starting with NEWLINE (a newline and VALUE's indent)."""
    if isinstance(value, str):
        out.append(_string(value))
    elif value is None or value is True or value is False:
        out.append("null" if value is None else "true" if value else "false")
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, float):
        out.append(float.__repr__(value) if value - value == 0 else  # (as json writes it: inf - inf is NaN)
                   "Infinity" if value == _INFINITY else "-Infinity" if value == -_INFINITY else "NaN")
    elif isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise _Unusual
        inner, separator = newline + "  ", "{"
        for key in sorted(value):
            out += (separator, inner, _string(key), ": ")
            _write(value[key], inner, out)
            separator = ","
        out.append(newline + "}" if value else "{}")
    elif isinstance(value, (list, tuple)):
        inner = newline + "  "
        try:  # a list of strings, such as a hunk's lines: escaped and joined in C
            out += ("[", inner, ("," + inner).join(map(_string, value)), newline, "]") if value else ("[]",)
        except TypeError:
            for n, item in enumerate(value):
                out += ("[" if n == 0 else ",", inner)
                _write(item, inner, out)
            out.append(newline + "]")
    elif isinstance(value, Rendered):
        out.append(value.text.replace("\n", newline) if newline != "\n" else value.text)
    else:
        raise _Unusual


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


def terminal_width() -> int | None:
    """The width to fit: COLUMNS, else the terminal's; None when stdout is no terminal (a pipe gets whole lines)."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if getattr(sys.stdout, "isatty", lambda: False)():
        try:  # (as shutil.get_terminal_size does, without its import and bz2's and lzma's)
            return os.get_terminal_size(sys.stdout.fileno()).columns or 80
        except (OSError, ValueError):
            return 80
    return None


def conflict_text(stopped: dict[str, Any]) -> str:
    """`stopped mid-rebase with conflicts in a.txt`, or without conflicts left."""
    files = stopped["files"]
    where = f"with conflicts in {', '.join(files[:3])}" + (f" and {len(files) - 3} more" if len(files) > 3 else "")
    return f"stopped mid-{stopped['operation']} " + (where if files else "(no conflicts left)")


def commits_text(ahead: int, behind: int) -> str:
    """`3 commits ahead, 1 behind`: the commits the task has that its base has not, and the other way round."""
    return f"{ahead} commit{'' if ahead == 1 else 's'} ahead, {behind} behind"


def commits_cell(ahead: int | None, behind: int | None) -> str:
    """Commits ahead of and behind the base: `↑2 ↓1` (`+N -M` always counts lines, as in git's diffstat)."""
    return "-" if ahead is None else f"↑{ahead} ↓{behind}"


_MARK_WORD = {" ": "[ ]", "x": "[x]", "X": "[x]", "?": "[?]", "!": "[!]"}


def detail_text(detail: Any) -> str:
    s = detail.status
    lines = [f"{s.id} — {s.title}" if s.title else s.id]
    facts = [
        ("state", s.state + (f" ({s.problem})" if s.problem else "")),
        *_conflict_facts(s.extra.get("in_progress")),
        ("branch", s.branch + (f" (base {s.base}: {commits_text(s.ahead, s.behind or 0)})" if s.ahead is not None else "")),
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
        lines += [f"  {c['sha'][:7]}  {c['subject']}  ({clock.age(clock.parse_iso(c['time']))} ago)" for c in detail.commits]
    if detail.files:
        lines += ["", "Files changed"]
        lines += [
            f"  {f['status']}  {f['from'] + ' -> ' if 'from' in f else ''}{f['path']}" for f in detail.files
        ]
    if detail.kept:
        lines += ["", "Kept aside (committed here while its confined worker committed: the branch followed the worker)"]
        lines += [f"  {k['sha'][:7]}  {k['subject']}  ({k['ref']})" for k in detail.kept]
    if s.worker:
        lines += ["", "Worker"] + worker_lines(s.worker)
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


def worker_lines(worker: dict[str, Any]) -> list[str]:
    """`show`'s worker section in words: which run, on what, how it stands, when it started and ended."""
    facts = []
    if worker.get("run"):
        on = f": {worker['model']} on {worker['backend']}" if worker.get("model") and worker.get("backend") else ""
        facts.append(("run", f"{worker['run']}{on}"))
    facts.append(("state", _worker_state_text(worker)))
    for key, word in (("started", "started"), ("exited", "ended")):
        if worker.get(key):
            facts.append((word, f"{worker[key]} ({clock.age(clock.parse_iso(worker[key]))} ago)"))
    if worker.get("saved"):
        facts.append(("saved", f"{worker['saved'][:7]}: the work it left uncommitted, committed for it"))
    if worker.get("sandbox"):
        confined = worker["sandbox"] != "off"
        facts.append(("sandbox", f"{worker['sandbox']} ({'confined to its task' if confined else 'not confined'})"))
    width = max(len(k) for k, _ in facts)
    return [f"  {k.ljust(width)}  {v}" for k, v in facts]


def _worker_state_text(worker: dict[str, Any]) -> str:
    state, code = worker.get("state"), worker.get("exit_code")
    if state == "running":
        return f"running (pid {worker['pid']})" if worker.get("pid") else "running"
    if state == "queued":
        after = worker.get("after") or []
        return f"queued: waits for {', '.join(after)}" if after else "queued: waits for a free worker slot"
    if state in ("blocked", "stopped") and worker.get("reason"):
        return f"{state}: {worker['reason']}"
    if state == "failed" and worker.get("setup_failed"):
        return f"failed: its setup commands failed (exit {code})"
    if state in ("exited", "failed") and code is not None:
        return f"ended with exit code {code}" + (", a failure" if code else "")
    if state == "lost":
        return "lost: its supervisor is gone (`dispatch doctor --fix`)"
    return str(state)


def _conflict_facts(stopped: dict[str, Any] | None) -> list[tuple[str, str]]:
    """Under the state of a task in conflict: what stopped where, and the way on."""
    if not stopped:
        return []
    return [("stopped", conflict_text(stopped).removeprefix("stopped ")), ("way on", stopped["next"])]


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
