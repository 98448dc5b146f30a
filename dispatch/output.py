"""Turning core results into text for people and JSON for programs."""

from __future__ import annotations

import json
import os
import shutil
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


def status_table(tasks: list[Any], width: int | None = None) -> str:
    return "\n".join(text for text, _kind in status_lines(tasks, width))


# Columns left out first when the terminal is narrow: the worktree (always `<repo>.dispatch/<id>`
# unless configured) goes first; ID and STATE always stay. TITLE shrinks before anything but WORKTREE goes.
# RUNNER (where a task's worker runs) is shown only when some task is on a runner.
_DROP_ORDER = ("WORKTREE", "USAGE", "DIRTY", "LAST", "COMMITS", "Q", "RUNNER", "TITLE", "PLAN")
_COLUMNS = ("ID", "STATE", "PLAN", "Q", "COMMITS", "DIRTY", "LAST", "USAGE", "RUNNER", "TITLE", "WORKTREE")
MIN_TITLE = 12  # a title cut shorter than this says nothing
NEEDS_YOU = (  # state, how the summary line counts it
    ("asking", "question"), ("blocked", "question"), ("conflict", "conflict"), ("failed", "failed"),
    ("broken", "broken"), ("unreachable", "unreachable"), ("done", "to review"), ("stopped", "stopped"), ("idle", "idle"),
)


def terminal_width() -> int | None:
    """The width to fit: COLUMNS, else the terminal's; None when stdout is no terminal (a pipe gets whole lines)."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if getattr(sys.stdout, "isatty", lambda: False)():
        return shutil.get_terminal_size().columns
    return None


def status_lines(tasks: list[Any], width: int | None = None) -> list[tuple[str, str]]:
    """The status table, its notes and what needs the user, each line with what it shows: `header`, `group`,
    a state, a note's kind, or `summary`.

    A group's tasks (one task sent to several models) come together under a line naming the group.
    Every line fits WIDTH: columns are dropped by `_DROP_ORDER` and the title shortened, never wrapped.
    """
    tasks = _by_group(tasks)
    rows = []
    notes: list[tuple[str, str]] = []
    runners = any(t.extra.get("runner") for t in tasks)  # a RUNNER column only when a task has one
    for t in tasks:
        rows.append({
            "ID": f"  {t.id}" if t.group else t.id, "STATE": t.state, "PLAN": plan_cell(t.plan),
            "Q": str(t.questions_open or "-"), "COMMITS": commits_cell(t.ahead, t.behind),
            "DIRTY": "-" if not t.dirty else str(t.dirty),
            "LAST": clock.age(clock.parse_iso(t.last_commit["time"])) if t.last_commit else "-",
            "USAGE": usage_cell(t.seconds, t.cost_usd), "RUNNER": t.extra.get("runner") or "local",
            "TITLE": t.title or "-", "WORKTREE": t.worktree or "-",
        })
        notes += _notes(t)
    columns, title_width = _fit(rows, width, _COLUMNS if runners else tuple(c for c in _COLUMNS if c != "RUNNER"))
    cells = [[_cut(r[c], title_width) if c == "TITLE" else r[c] for c in columns] for r in rows]
    header, *lines = table_lines(cells, list(columns))
    out = [(header, "header")]
    for i, (t, line) in enumerate(zip(tasks, lines, strict=True)):
        if t.group and (i == 0 or tasks[i - 1].group != t.group):
            out.append((f"group {t.group}: `dispatch review {t.group}` compares its candidates", "group"))
        out.append((line, t.state))
    out += notes + [(needs_you(tasks), "summary")]
    return [(_cut(text, width), kind) for text, kind in out]


def _notes(t: Any) -> list[tuple[str, str]]:
    """The lines under the table about one task: its question, why it is broken, blocked, queued or in conflict."""
    notes = []
    if t.state == "unreachable":
        last = t.extra.get("last_state") or "unknown"
        gone = (f"{t.id} is on {t.extra.get('runner')}, which does not answer: its last known state was {last}; "
                "the worker goes on there, the next command catches up")
        notes.append((gone, "unreachable"))
    if t.question:
        notes.append((f"{t.id} asks: {t.question}", "question"))
    if t.problem:
        notes.append((f"{t.id} is broken: {t.problem}", "broken"))
    if t.extra.get("conflicts"):
        files = ", ".join(t.extra["conflicts"][:3])
        notes.append((f"{t.id} no longer merges cleanly into {t.base} ({files}): `dispatch rebase {t.id} --leave`",
                      "conflict"))
    stopped = t.extra.get("in_progress")
    if stopped:
        notes.append((f"{t.id} {conflict_text(stopped)}: {stopped['next']}", "conflict"))
    reason = (t.worker or {}).get("reason")
    if t.state == "blocked" and reason:
        notes.append((f"{t.id} is blocked: {reason}", "blocked"))
    if t.state == "queued":
        after = (t.worker or {}).get("after") or []
        notes.append((f"{t.id} waits for {', '.join(after)}" if after else f"{t.id} waits for a free worker slot",
                      "queued"))
    return notes


def conflict_text(stopped: dict[str, Any]) -> str:
    """`stopped mid-rebase with conflicts in a.txt`, or without conflicts left."""
    files = stopped["files"]
    where = f"with conflicts in {', '.join(files[:3])}" + (f" and {len(files) - 3} more" if len(files) > 3 else "")
    return f"stopped mid-{stopped['operation']} " + (where if files else "(no conflicts left)")


def needs_you(tasks: list[Any]) -> str:
    """One line: what waits on the user (questions, conflicts, failures, work to review, tasks no worker is on)."""
    kinds = dict(NEEDS_YOU)
    found: dict[str, list[str]] = {}
    for t in tasks:
        if t.state in kinds:
            found.setdefault(kinds[t.state], []).append(t.id)
    if not found:
        busy = sum(t.state in ("preparing", "running", "queued") for t in tasks)
        return "nothing needs you" + (f": {busy} at work or queued, `dispatch wait` tells you when one does" if busy else "")
    parts = []
    for kind in dict.fromkeys(kinds.values()):
        ids = found.get(kind)
        if ids:
            plural = "s" if len(ids) > 1 and kind in ("question", "conflict") else ""
            parts.append(f"{len(ids)} {kind}{plural} ({', '.join(ids)})")
    return "needs you: " + ", ".join(parts)


def _fit(rows: list[dict[str, str]], width: int | None, columns: tuple[str, ...]) -> tuple[tuple[str, ...], int | None]:
    """Those of COLUMNS that fit WIDTH, and the width the title is cut to (None: whole)."""
    natural = {c: max(len(c), *(len(r[c]) for r in rows)) for c in columns}
    drops = [c for c in _DROP_ORDER if c in columns]
    while width is not None:
        total = sum(natural[c] for c in columns) + 2 * (len(columns) - 1)
        if total <= width:
            return columns, None
        room = natural.get("TITLE", 0) - (total - width)
        if "TITLE" in columns and "WORKTREE" not in columns and room >= MIN_TITLE:
            return columns, room
        if not drops:
            return columns, MIN_TITLE if "TITLE" in columns else None
        drop = drops.pop(0)
        columns = tuple(c for c in columns if c != drop)
    return columns, None


def _cut(text: str, width: int | None) -> str:
    """TEXT cut to WIDTH characters, its end marked `…`."""
    return text if width is None or len(text) <= width else text[: max(width - 1, 0)] + "…"


def commits_text(ahead: int, behind: int) -> str:
    """`3 commits ahead, 1 behind`: the commits the task has that its base has not, and the other way round."""
    return f"{ahead} commit{'' if ahead == 1 else 's'} ahead, {behind} behind"


def commits_cell(ahead: int | None, behind: int | None) -> str:
    """Commits ahead of and behind the base: `↑2 ↓1` (`+N -M` always counts lines, as in git's diffstat)."""
    return "-" if ahead is None else f"↑{ahead} ↓{behind}"


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
