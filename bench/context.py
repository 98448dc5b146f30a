"""What one task's whole lifecycle adds to the host's context, measured on the real Claude Code CLI.

    .venv/bin/python bench/context.py [--log requests.jsonl] [--json]

Runs the host session of tests/test_skill_host.py (the real `claude` from .ci/install-claude, a fake
Anthropic API, a real project and task, the scripted worker), or reads the request log of one (--log).
The API receives the host's whole conversation on every turn, so the last request holds everything the
lifecycle added. Each part is sorted into a phase by what it is, and measured as the text the model
reads: text blocks, tool calls (tool name + input JSON) and tool results, UTF-8 bytes; the API's JSON
framing (ids, roles, cache marks) is left out, and shown on its own as the growth of the whole
`messages` JSON. Tokens are estimated as bytes / 4, the usual rule of thumb for English text (no
tokenizer for Claude models runs offline); path-heavy command output tokenizes denser, so read the
estimate as +-30%. Not part of the test suite: it measures and prints, and asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from fake_anthropic import read_log

# The original /dispatch skill's SKILL.md, as issue 6 gives its size: loaded whole on first use.
ORIGINAL_SKILL_BYTES = 24 * 1024

PHASES = [
    ("skill listing", "the skill's line in the system prompt (name: description), on every request"),
    ("skill text", "the Skill call, its result and the SKILL.md body it loads"),
    ("dispatch", "`models pick`, `new`, `wait` started in the background"),
    ("relayed question", "wake-up notice, `wait`'s output read, `answer`, `wait` started again"),
    ("finish", "wake-up notice, `wait`'s output read"),
    ("review", "`review --stat`"),
    ("merge", "`merge --yes`"),
]
OTHER = [
    ("host's replies", "the model's own words to the user (scripted here, 35-154 bytes each)"),
    ("user's words", "the request, the answer, \"Merge it.\""),
    ("other", "anything else the conversation gained"),
]


def tokens(n: int) -> int:
    return round(n / 4)


def _size(block: dict[str, Any]) -> int:
    kind = block.get("type")
    if kind == "text":
        return len(block["text"].encode())
    if kind == "tool_use":
        return len(block["name"].encode()) + len(json.dumps(block["input"], ensure_ascii=False).encode())
    if kind == "tool_result":
        content = block.get("content")
        text = content if isinstance(content, str) else "".join(b.get("text", "") for b in content or [])
        return len(text.encode())
    return len(json.dumps(block, ensure_ascii=False).encode())


def _blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message["content"]
    return [{"type": "text", "text": content}] if isinstance(content, str) else list(content)


def _listing_line(body: dict[str, Any], name: str) -> str:
    texts = [json.dumps(body.get("system"))] + [json.dumps(m["content"]) for m in body["messages"]
                                                 if m["role"] == "system"]
    for text in texts:
        found = re.search(r"\\n- " + re.escape(name) + r": (.*?)\\n", text)
        if found:
            description: str = json.loads(f'"{found.group(1)}"')
            return f"- {name}: {description}\n"
    return ""


def _phase_of_call(block: dict[str, Any], current: str) -> str:
    if block["name"] == "Skill":
        return "skill text"
    command = str(block["input"].get("command", "")) if block["name"] == "Bash" else ""
    words = command.split()
    if words[:1] != ["dispatch"] or len(words) < 2:
        return current
    return {"models": "dispatch", "new": "dispatch", "answer": "relayed question", "review": "review",
            "merge": "merge"}.get(words[1], current)


def _phase_of_news(result: str) -> str:
    if re.search(r" asks Q\d+:", result):
        return "relayed question"
    if " finished" in result:
        return "finish"
    return "other"


def measure(log: Path) -> dict[str, Any]:
    """Bytes per phase of the lifecycle, from the request log of one host session."""
    requests = [e["body"] for e in read_log(log) if e["kind"] == "agent"]
    first, last = requests[0], requests[-1]
    sizes: dict[str, int] = defaultdict(int)
    sizes["skill listing"] = len(_listing_line(last, "dispatch").encode())
    messages = [m for m in last["messages"] if m["role"] != "system"]
    start = 1  # the first user message (reminders and the request) is the context before the lifecycle
    sizes["user's words"] += _size(_blocks(messages[0])[-1])
    results = {b["tool_use_id"]: b for m in messages for b in _blocks(m) if b["type"] == "tool_result"}
    current, pending_notices = "dispatch", 0
    for message in messages[start:]:
        for block in _blocks(message):
            if block["type"] == "tool_use":
                if block["name"] == "Read":  # reading a background command's output: the news it brings
                    current = _phase_of_news(_text(results.get(block["id"])))
                    sizes[current] += pending_notices
                    pending_notices = 0
                else:
                    current = _phase_of_call(block, current)
                sizes[current] += _size(block)
                if block["id"] in results:
                    sizes[current] += _size(results[block["id"]])
            elif block["type"] == "tool_result":
                continue  # counted with its call
            elif message["role"] == "assistant":
                sizes["host's replies"] += _size(block)
            elif "<task-notification>" in block.get("text", ""):
                pending_notices += _size(block)
            elif block.get("text", "").startswith("Base directory for this skill:"):
                sizes["skill text"] += _size(block)
            elif message["role"] == "user":
                sizes["user's words"] += _size(block)
            else:
                sizes["other"] += _size(block)
    sizes["other"] += pending_notices
    lifecycle = sum(sizes[name] for name, _ in PHASES)
    framing = len(json.dumps(last["messages"]).encode()) - len(json.dumps(first["messages"]).encode())
    return {"requests": len(requests), "phases": {name: sizes[name] for name, _ in [*PHASES, *OTHER]},
            "lifecycle": lifecycle, "messages_growth": framing,
            "first_request": len(json.dumps(first).encode()), "last_request": len(json.dumps(last).encode())}


def _text(block: dict[str, Any] | None) -> str:
    if block is None:
        return ""
    content = block.get("content")
    return content if isinstance(content, str) else "".join(b.get("text", "") for b in content or [])


def report(m: dict[str, Any]) -> str:
    rows = ["| part | what it is | bytes | ~tokens |", "| --- | --- | ---: | ---: |"]
    for name, what in PHASES:
        n = m["phases"][name]
        rows.append(f"| {name} | {what} | {n:,} | {tokens(n):,} |")
    rows.append(f"| **one task's lifecycle** | the rows above | **{m['lifecycle']:,}** | **{tokens(m['lifecycle']):,}** |")
    for name, what in OTHER:
        n = m["phases"][name]
        rows.append(f"| {name} | {what} | {n:,} | {tokens(n):,} |")
    rows.append(f"| `messages` JSON growth | first request to last, API framing included | "
                f"{m['messages_growth']:,} | {tokens(m['messages_growth']):,} |")
    original = ORIGINAL_SKILL_BYTES
    return "\n".join([
        *rows, "",
        (f"{m['requests']} requests; the first sent {m['first_request']:,} bytes in all (Claude Code's own system "
        f"prompt and tools), the last {m['last_request']:,}."),
        (f"The original skill's SKILL.md alone is about {original:,} bytes (~{tokens(original):,} tokens), loaded "
        f"whole on first use, before its host writes any plan, monitor script or IPC file; here the whole "
        f"lifecycle, skill text included, is {m['lifecycle']:,} bytes (~{tokens(m['lifecycle']):,} tokens)."),
    ])


def _hermetic_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "DISPATCH_", "XDG_"))}
    env.update({
        "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"), "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_STATE_HOME": str(home / ".local" / "state"), "XDG_CACHE_HOME": str(home / ".cache"),
        "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
        "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.com", "GIT_EDITOR": "false",
        "NO_COLOR": "1", "COLUMNS": "200",
    })
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", type=Path, help="measure this request log instead of running a session")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.log:
        m = measure(args.log)
    else:
        from test_skill_host import CLAUDE, run_host_session

        if CLAUDE is None:
            print("context: the Claude Code CLI is missing: run `bash .ci/install-claude`", file=sys.stderr)
            return 1
        with tempfile.TemporaryDirectory(prefix="dispatch-context-") as tmp:
            home = Path(tmp) / "home"
            home.mkdir()
            session = run_host_session(Path(tmp) / "work", _hermetic_env(home))
            failed = [r for r in session.runs if r.returncode != 0]
            if failed or len(session.runs) != 3:
                print(f"context: the host session failed: {failed[0].stderr[-2000:] if failed else ''}",
                      file=sys.stderr)
                return 1
            m = measure(session.log)
    print(json.dumps(m, indent=2, sort_keys=True) if args.json else report(m))
    return 0


if __name__ == "__main__":
    sys.exit(main())
