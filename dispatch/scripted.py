"""The built-in scripted worker (model `scripted`): follows the worker protocol with no AI behind it.

It works through `.dispatch/PLAN.md` like a real worker: for each open item it edits a
file, ticks the item and commits. The forms in ITEM_FORMS steer it, for the demo and the
tests. `DISPATCH_SCRIPTED_DELAY` (seconds, default 0.5) paces each item so people can watch.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from dispatch import git
from dispatch.errors import ASK_TIMEOUT_EXIT
from dispatch.task.ids import slugify
from dispatch.task.plan import Plan, parse_plan

PLAN = Path(".dispatch/PLAN.md")
# `(ask: Q)` anywhere in the item, or `ask: Q` as the whole item (what people type first).
ASK = re.compile(r"\(ask:\s*(.+?)\)\s*$|\(ask:\s*(.+?)\)|^\s*ask:\s*(.+?)\s*$", re.IGNORECASE)

# The item forms it understands, in one place: `dispatch models` and the demo print them and
# the README holds the same list (tests/test_readme.py), so that no form is a secret.
ITEM_FORMS = (
    ("`PATH`", "a path in backquotes: the file it writes (else notes/<item>.md)"),
    ("(ask: QUESTION)", "asks through `dispatch ask`, writes the answer in the file"),
    ("ask: QUESTION", "the same, as the whole item"),
    ("(fail)", "marks the item [!] and exits 1"),
    ("(hang)", "writes the file, then waits uncommitted until stopped"),
)


def item_forms_text(indent: str = "  ") -> str:
    """ITEM_FORMS as lines for a terminal."""
    width = max(len(form) for form, _ in ITEM_FORMS) + 2
    return "\n".join(f"{indent}{form:<{width}}{meaning}" for form, meaning in ITEM_FORMS)


def item_forms_markdown() -> str:
    """ITEM_FORMS as a markdown list, as the README has it."""
    return "\n".join(f"- `` {form} ``: {meaning}" if "`" in form else f"- `{form}`: {meaning}"
                     for form, meaning in ITEM_FORMS)


def _question(match: re.Match[str]) -> str:
    return next(g for g in match.groups() if g is not None).strip()
PATH = re.compile(r"`([^`\n]+)`")


def _plan() -> Plan:
    return parse_plan(PLAN.read_text(encoding="utf-8"))


def _commit(message: str) -> None:
    cwd = Path.cwd()
    git.run(["add", "-A"], cwd=cwd)
    git.run(["commit", "--quiet", "--no-verify", "-m", message], cwd=cwd)


def _write_plan(text: str) -> None:
    # Replaced whole, never rewritten in place: a reader never sees a half-written plan.
    tmp = PLAN.with_name(f".{PLAN.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, PLAN)


def _set_mark(index: int, mark: str, note: str | None = None) -> None:
    plan = _plan()
    plan.set_mark(index, mark, note)
    _write_plan(plan.render())


def _answered(question: str) -> str | None:
    """The answer to QUESTION when an earlier run asked it already (a resumed task)."""
    from dispatch.task.questions import parse_questions

    path = Path(".dispatch/QUESTIONS.md")
    if not path.exists():
        return None
    for q in parse_questions(path.read_text(encoding="utf-8")).questions:
        if q.text.strip() == question and q.answer is not None:
            return q.answer.strip()
    return None


def work_item(index: int, text: str) -> int | None:
    """Do one item; return an exit code to stop with, or None to go on."""
    match = PATH.search(text)
    target = Path(match.group(1)) if match else Path("notes") / f"{slugify(text)}.md"
    clean = ASK.sub("", text).replace("(fail)", "").replace("(hang)", "").strip() or text.strip()
    body = f"{clean}\n"
    asked = ASK.search(text)
    if asked:
        question = _question(asked)
        earlier = _answered(question)
        if earlier is not None:
            body += f"\nAnswer: {earlier}\n"
            asked = None
    if asked:
        question = _question(asked)
        print(f"asking: {question}", flush=True)
        r = subprocess.run(["dispatch", "ask", question], check=False, capture_output=True, text=True)
        if r.returncode == ASK_TIMEOUT_EXIT:
            # The item's text already holds the question; a note would become part of its text on resume.
            _set_mark(index, "?")
            plan = _plan()
            plan.add_note(f"Waiting for an answer to: {question}", "scripted worker")
            _write_plan(plan.render())
            _commit(f"Blocked on a question: {question}")
            return 0
        if r.returncode != 0:
            print(r.stderr, file=sys.stderr, end="")
            return r.returncode
        body += f"\nAnswer: {r.stdout.strip()}\n"
        print(f"answer: {r.stdout.strip()}", flush=True)
    if "(fail)" in text:
        _set_mark(index, "!", "the scripted worker was told to fail here")
        _commit(f"Failed: {clean}")
        return 1
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("a", encoding="utf-8") as f:
        f.write(body)
    if "(hang)" in text:
        print(f"wrote {target}; waiting without committing", flush=True)
        while True:
            time.sleep(3600)
    _set_mark(index, "x", f"wrote {target}")
    _commit(clean or f"item {index + 1}")
    print(f"done: {clean}", flush=True)
    return None


def main() -> int:
    delay = float(os.environ.get("DISPATCH_SCRIPTED_DELAY", "0.5"))
    print(f"scripted worker on task {os.environ.get('DISPATCH_TASK', '?')} in {Path.cwd()}", flush=True)
    sys.stdin.read() if not sys.stdin.isatty() else None  # the prompt: a real worker would read it
    while True:
        items = _plan().items
        if not items:
            # A plan with no checklist is damaged, never "all done".
            print(f"dispatch: {PLAN} has no checklist items: restore it with `git checkout -- {PLAN}`", file=sys.stderr)
            return 1
        pending = [i for i in items if i.mark != "x"]
        if not pending:
            print("every item is done", flush=True)
            return 0
        time.sleep(delay)
        item = pending[0]
        code = work_item(item.position, item.text)
        if code is not None:
            return code


if __name__ == "__main__":
    raise SystemExit(main())
