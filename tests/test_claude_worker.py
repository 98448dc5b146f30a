"""The real Claude Code CLI as a dispatch worker, its model faked by tests/fake_anthropic.py."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from claude_cli import INSTALL_HINT, claude_env, find_claude
from conftest import dispatch, git, task_status, wait_for, worker_json
from fake_anthropic import (
    Conversation,
    FakeAnthropic,
    Script,
    read_log,
    text,
    tool_results,
    tool_use,
)

CLAUDE = find_claude()
needs_claude = pytest.mark.skipif(CLAUDE is None, reason=f"SKIPPED LOUDLY: the Claude Code CLI is missing: {INSTALL_HINT}")


def worker_env(api: FakeAnthropic, home: Path) -> dict[str, str]:
    assert CLAUDE is not None
    env = claude_env(api.base_url, str(home))
    env["PATH"] = os.pathsep.join([str(Path(CLAUDE).parent), env["PATH"]])
    return env


@needs_claude
def test_claude_worker_edits_ticks_and_commits(repo: Path, tmp_path: Path) -> None:
    wt = tmp_path / "work" / "app.dispatch" / "add-a-greeting"
    script = Script([Conversation(match="Your task is `add-a-greeting`", turns=[
        [text("I will start."), tool_use("Bash", {
            "command": 'pwd > where.txt && echo "$DISPATCH_TASK" >> where.txt && echo hello > greeting.txt'
                       ' && echo "$BASH_MAX_TIMEOUT_MS" > .git-ignored-timeout',
        })],
        [tool_use("Bash", {
            "command": "sed -i 's/- \\[ \\] Create greeting.txt/- [x] Create greeting.txt/' .dispatch/PLAN.md"
                       " && git add -A && git commit -qm 'Add the greeting'",
        })],
        [text("Every item is done.")],
    ])])
    log = tmp_path / "requests.jsonl"
    with FakeAnthropic(script, log) as api:
        env = worker_env(api, tmp_path / "home")
        r = dispatch("new", "Add a greeting", "--model", "sonnet", "--item", "Create greeting.txt", cwd=repo, env=env)
        assert (r.code, r.err) == (0, "")
        assert r.out.splitlines()[-1] == "  worker    sonnet on claude: `dispatch logs add-a-greeting -f` follows it"
        wait_for(lambda: worker_json(repo, "add-a-greeting").get("phase") == "exited", timeout=90, message="claude")
    assert task_status(repo, "add-a-greeting")["state"] == "done", dispatch("logs", "add-a-greeting", cwd=repo).out
    assert git(repo, "log", "--format=%s", "main..dispatch/add-a-greeting") == (
        "Add the greeting\ndispatch: plan add-a-greeting"
    )
    assert (wt / "where.txt").read_text() == f"{wt}\nadd-a-greeting\n"
    # Claude Code's Bash tool may wait as long as `dispatch ask` does (ask_timeout 600 s + 60 s).
    assert (wt / ".git-ignored-timeout").read_text() == "660000\n"
    assert git(repo, "show", "dispatch/add-a-greeting:greeting.txt") == "hello"
    data = worker_json(repo, "add-a-greeting")
    assert data["exit_code"] == 0
    # Cost and tokens come from the CLI's own result line (the fake API reports 100 in, 20 out a call).
    (run,) = data["runs"]
    assert (run["cost_usd"], run["input_tokens"], run["output_tokens"]) == (0.0012, 300, 60)
    status = task_status(repo, "add-a-greeting")
    assert (status["cost_usd"], status["tokens"]) == (0.0012, {"input": 300, "output": 60})
    assert data["argv"][:2] == ["claude", "-p"]
    assert data["argv"][2].startswith("You are a dispatch worker. Your task is `add-a-greeting`: Add a greeting\n")
    requests = [e for e in read_log(log) if e["kind"] == "agent"]
    assert len(requests) == 3
    first_user = requests[0]["body"]["messages"][0]["content"]
    first_text = first_user if isinstance(first_user, str) else "".join(b.get("text", "") for b in first_user)
    assert "Your task is `add-a-greeting`" in first_text
    results = tool_results(requests[1]["body"])
    assert [r.get("is_error", False) for r in results] == [False]
    # The CLI's stream-json output went to the worker log.
    lines = [json.loads(x) for x in dispatch("logs", "add-a-greeting", "--raw", cwd=repo).out.splitlines()
             if x.startswith("{")]
    assert lines[-1]["type"] == "result" and lines[-1]["subtype"] == "success"
    # Read by a person or a host, each event is one short line.
    shown = [line.split("] ", 1)[1] if line.startswith("[dispatch ") else line
             for line in dispatch("logs", "add-a-greeting", cwd=repo).out.splitlines()]
    assert shown == [
        "run 1: model sonnet on backend claude",
        "· init (model claude-sonnet-5-5)",
        "says: I will start.",
        ('Bash: pwd > where.txt && echo "$DISPATCH_TASK" >> where.txt && echo hello > greeting.txt && echo '
        '"$BASH_MAX_TIMEOUT_MS" > .git-ignored-timeout'),
        "got: (Bash completed with no output)",
        ("Bash: sed -i 's/- \\[ \\] Create greeting.txt/- [x] Create greeting.txt/' .dispatch/PLAN.md && git add -A && "
        "git commit -qm 'Add the greeting'"),
        "got: (Bash completed with no output)",
        "says: Every item is done.",
        "· result: success, 3 turns, $0.0012",
        "worker exited with code 0",
    ]
