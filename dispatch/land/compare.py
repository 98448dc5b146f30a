"""`review GROUP`: a group's candidates side by side, and the files they agree or differ on."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

from dispatch import git, output
from dispatch.config import Config
from dispatch.errors import DispatchError
from dispatch.repo import Repo
from dispatch.task import runtime
from dispatch.task.model import WITHOUT_TASK_FILES
from dispatch.typed import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

MAX_FILES = 20  # the text view fits a screen; --json has them all
DELETED = "deleted"


@dataclass
class Candidate:
    id: str
    label: str  # the model part of the id, as a column heading
    model: str | None
    state: str
    plan: dict[str, int]
    commits: int | None
    files: int | None
    added: int | None
    removed: int | None
    uncommitted: int
    seconds: float | None
    cost_usd: float | None
    tokens: int | None
    problem: str | None


@dataclass
class FileVerdict:
    path: str
    versions: dict[str, str | None]  # task id -> "a", "b"... (same letter, same content), "deleted", None: untouched
    same: bool  # every candidate left it with the same content


@dataclass
class GroupReview:
    id: str
    title: str
    base: str | None
    candidates: list[Candidate]
    files: list[FileVerdict]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["agree"] = [f.path for f in self.files if f.same]
        data["differ"] = [f.path for f in self.files if not f.same]
        return data


def compare(repo: Repo, cfg: Config, group_id: str, rows: list[Any]) -> GroupReview:
    """ROWS are the group's status rows (group.members)."""
    from dispatch.land import review as review_mod

    candidates, blobs = [], {}
    for row in rows:
        seconds, cost, tokens = spent(runtime.read_worker(repo, row.id), running=row.state in ("running", "asking"))
        label = row.id.removeprefix(f"{group_id}-")
        try:
            r = review_mod.review(repo, cfg, row.id)
        except DispatchError:  # a broken task: its row says so
            candidates.append(Candidate(row.id, label, row.model, row.state, row.plan._asdict(), None, None, None, None,
                                        0, seconds, cost, tokens, row.problem))
            continue
        blobs[row.id] = changed_blobs(repo, r.merge_base, r.tip)
        candidates.append(Candidate(
            row.id, label, row.model, row.state, row.plan._asdict(), len(r.commits), len(r.files),
            sum(f.added for f in r.files), sum(f.removed for f in r.files), r.uncommitted, seconds, cost, tokens,
            row.problem,
        ))
    files = []
    for path in sorted({p for changed in blobs.values() for p in changed}):
        letters: dict[str, str] = {}
        versions: dict[str, str | None] = {}
        for c in candidates:
            blob = blobs.get(c.id, {}).get(path, "")
            if blob == "":
                versions[c.id] = None
            elif blob is None:
                versions[c.id] = DELETED
            else:
                versions[c.id] = letters.setdefault(blob, "abcdefghijklmnopqrstuvwxyz"[len(letters) % 26])
        files.append(FileVerdict(path, versions, len(set(versions.values())) == 1))
    first = rows[0]
    return GroupReview(group_id, first.title, first.base, candidates, files)


def changed_blobs(repo: Repo, old: str, new: str) -> dict[str, str | None]:
    """Path -> its blob at NEW (None: deleted) for every path changed from OLD, task files left out."""
    text = git.run(["diff", "--raw", "-z", "--no-abbrev", "--no-renames", old, new, "--", *WITHOUT_TASK_FILES],
                   cwd=repo.root).stdout
    fields = git.zsplit(text)
    changed: dict[str, str | None] = {}
    for meta, path in zip(fields[::2], fields[1::2], strict=True):
        _old_mode, _new_mode, _old_blob, new_blob, status = meta.lstrip(":").split(" ")
        changed[path] = None if status == "D" else new_blob
    return changed


def spent(data: dict[str, Any] | None, *, running: bool) -> tuple[float | None, float | None, int | None]:
    """Wall seconds, cost and tokens over the worker's recorded runs (None where nothing was recorded)."""
    runs = [r for r in (data or {}).get("runs") or [] if isinstance(r, dict)]
    seconds = [float(r["seconds"]) for r in runs if isinstance(r.get("seconds"), int | float)]
    costs = [float(r["cost_usd"]) for r in runs if isinstance(r.get("cost_usd"), int | float)]
    tokens = [n for r in runs for n in _token_counts(r)]
    since = (data or {}).get("running_since")
    if running and isinstance(since, int | float):
        seconds.append(max(0.0, time.time() - since))
    return (sum(seconds) if seconds else None), (sum(costs) if costs else None), (sum(tokens) if tokens else None)


def _token_counts(run: dict[str, Any]) -> list[int]:
    tokens = run.get("tokens")
    if isinstance(tokens, int):
        return [tokens]
    if isinstance(tokens, dict):
        return [n for n in tokens.values() if isinstance(n, int)]
    return [run[k] for k in ("input_tokens", "output_tokens") if isinstance(run.get(k), int)]


# --- Rendering ---


def render(g: GroupReview) -> str:
    from dispatch.output import plan_cell, table
    from dispatch.task.plan import Progress

    lines = [f"group {g.id} — {g.title}: {len(g.candidates)} candidates on {g.base or '?'}", ""]
    rows = []
    for c in g.candidates:
        plan = plan_cell(Progress(**c.plan))
        lines_changed = "-" if c.added is None else f"+{c.added} -{c.removed}"
        rows.append([c.id, c.state, plan, _num(c.commits), _num(c.files), lines_changed,
                     output.duration(c.seconds), output.money(c.cost_usd), tokens(c.tokens)])
    lines.append(table(rows, ["TASK", "STATE", "PLAN", "COMMITS", "FILES", "LINES", "TIME", "COST", "TOKENS"]))
    for c in g.candidates:
        if c.problem:
            lines.append(f"{c.id} is broken: {c.problem}")
        elif c.uncommitted:
            lines.append(f"{c.id} has {c.uncommitted} uncommitted file{'s' if c.uncommitted != 1 else ''}, "
                         "not compared")
    lines.append("")
    if not g.files:
        lines.append("no candidate changed a file outside .dispatch/ yet")
    else:
        labels = [c.label for c in g.candidates]
        matrix = [
            [f.path, *(_version(f.versions[c.id]) for c in g.candidates), _verdict(f, g.candidates)]
            for f in g.files[:MAX_FILES]
        ]
        lines.append(table(matrix, ["FILE", *labels, ""]))
        if len(g.files) > MAX_FILES:
            lines.append(f"… {len(g.files) - MAX_FILES} more files (`dispatch review {g.id} --json` lists them all)")
        lines.append("same letter, same content; - not changed")
        agree = [f.path for f in g.files if f.same]
        differ = [f.path for f in g.files if not f.same]
        lines.append(f"agree on {_n(len(agree), 'file')}{': ' + _names(agree) if agree else ''}; "
                     f"differ on {len(differ)}{': ' + _names(differ) if differ else ''}")
    first = g.candidates[0].id if g.candidates else g.id
    lines += ["", (f"`dispatch review {first}` shows one candidate; `dispatch pick {first}` lands it and discards "
                  "the others (any candidate's id will do)")]
    return "\n".join(lines)


def _version(v: str | None) -> str:
    return "-" if v is None else "del" if v == DELETED else v


def _verdict(f: FileVerdict, candidates: list[Candidate]) -> str:
    if f.same:
        return "same"
    touched = [c.label for c in candidates if f.versions[c.id] is not None]
    if len(touched) < len(candidates):
        return "only " + ", ".join(touched)
    return "differ"


def _num(n: int | None) -> str:
    return "-" if n is None else str(n)


def tokens(n: int | None) -> str:
    if n is None:
        return "-"
    return str(n) if n < 1000 else f"{n / 1000:.1f}k" if n < 1_000_000 else f"{n / 1_000_000:.1f}M"


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _names(paths: list[str], most: int = 5) -> str:
    shown = ", ".join(paths[:most])
    return shown + (f" and {len(paths) - most} more" if len(paths) > most else "")
