"""The status table: one row per task, grouped, fitted to the terminal, with the notes under it and what needs you."""

from __future__ import annotations

from dispatch import clock
from dispatch.output import commits_cell, conflict_text, plan_cell, table_lines, usage_cell
from dispatch.typed import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any


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
    if t.state == "unreachable" and not t.extra.get("runner_note"):  # else the note says why
        last = t.extra.get("last_state") or "unknown"
        gone = (f"{t.id} is on {t.extra.get('runner')}, which does not answer: its last known state was {last}; "
                "the worker goes on there, the next command catches up")
        notes.append((gone, "unreachable"))
    if t.extra.get("runner_note"):
        notes.append((f"{t.id}: {t.extra['runner_note']}", "unreachable"))
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


def _by_group(tasks: list[Any]) -> list[Any]:
    """TASKS in their order, each group's tasks moved up to where its first one is."""
    first: dict[str, int] = {}
    for i, t in enumerate(tasks):
        first.setdefault(t.group or f"\0{t.id}", i)
    return sorted(tasks, key=lambda t: first[t.group or f"\0{t.id}"])


def task_json(t: Any) -> dict[str, Any]:
    return dict(t.to_json())
