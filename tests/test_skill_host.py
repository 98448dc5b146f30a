"""The real Claude Code CLI as the HOST: it finds the /dispatch skill, loads it, and drives one task from
request to merge with exactly the commands SKILL.md prescribes. Only the model is fake (tests/fake_anthropic.py);
every Bash call runs for real, so a real task is created, its scripted worker asks, finishes, and lands.

The session is three `claude -p` runs of one conversation (the user's request, their answer to the worker's
question, "merge it"), each `--resume`d from the last. `run_host_session` is also what bench/context.py
measures: the fake API's request log holds the host's whole context on every turn.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from claude_cli import INSTALL_HINT, claude_env, find_claude
from fake_anthropic import Conversation, FakeAnthropic, Script, read_log, text, tool_use

ROOT = Path(__file__).resolve().parent.parent
SKILL_MD = ROOT / "skill" / "dispatch" / "SKILL.md"
CLAUDE = find_claude()
needs_claude = pytest.mark.skipif(CLAUDE is None, reason=f"SKIPPED LOUDLY: the Claude Code CLI is missing: {INSTALL_HINT}")

TASK = "add-a-greeting"
REQUEST = "Use scripted to add a greeting file to this project."
QUESTION = "Which greeting should greeting.txt hold?"
ANSWER = "Hello, world"
ITEMS = [f"Write `greeting.txt` (ask: {QUESTION})", "Mention greeting.txt in `README.md`"]
OUTPUT_FILE = "{output-file}"  # in a scripted tool call: the file of the last background command that finished

# What a host following SKILL.md does, turn by turn (the fake API picks the turn from the number of
# assistant messages already in the conversation, so the three runs continue one script).
NEW = f'dispatch new "Add a greeting" --model scripted --item "{ITEMS[0]}" --item "{ITEMS[1]}"'
WAIT = {"command": "dispatch wait --consumer host", "run_in_background": True, "description": "Wait for news"}
TURNS: list[list[dict[str, Any]]] = [
    # run 1: the user's request
    [tool_use("Skill", {"skill": "dispatch"})],
    [tool_use("Bash", {"command": f'dispatch models pick "{REQUEST}"', "description": "Pick the model"})],
    [tool_use("Bash", {"command": NEW.replace("`", "\\`"), "description": "Create the task"})],
    [tool_use("Bash", WAIT)],
    [text(f"Dispatched `{TASK}` to scripted: write greeting.txt (it will ask which greeting), then mention it "
          "in README.md. I will tell you when it needs you.")],
    [tool_use("Read", {"file_path": OUTPUT_FILE})],
    [text(f"The worker on `{TASK}` asks: {QUESTION}")],
    # run 2: the user answers
    [tool_use("Bash", {"command": f'dispatch answer {TASK} "{ANSWER}"', "description": "Relay the answer"})],
    [tool_use("Bash", WAIT)],
    [text("Answer relayed; the worker goes on.")],
    [tool_use("Read", {"file_path": OUTPUT_FILE})],
    [tool_use("Bash", {"command": f"dispatch review {TASK} --stat", "description": "Review the task"})],
    [text(f"`{TASK}` is done: greeting.txt added, README.md mentions it. Merge, rebase or discard?")],
    # run 3: the user picks
    [tool_use("Bash", {"command": f"dispatch merge {TASK} --yes", "description": "Merge the task"})],
    [text(f"Merged `{TASK}` into main.")],
]
PROMPTS = [REQUEST, ANSWER, "Merge it."]
LAST_TURN_OF_RUN = [6, 12, 14]  # the text that ends each run


class HostScript(Script):
    """The script above, with the output file of the background command that just finished filled in."""

    def find(self, body: dict[str, Any]) -> tuple[int | None, Conversation | None]:
        i, conv = super().find(body)
        files = re.findall(r"<output-file>(.*?)</output-file>", json.dumps(body))
        if conv is None or not files:
            return i, conv
        filled = json.loads(json.dumps(conv.turns).replace(json.dumps(OUTPUT_FILE), json.dumps(files[-1])))
        return i, Conversation(conv.match, filled)


@dataclass
class HostSession:
    project: Path
    log: Path
    runs: list[subprocess.CompletedProcess[str]]

    def agent_requests(self) -> list[dict[str, Any]]:
        return [e["body"] for e in read_log(self.log) if e["kind"] == "agent"]


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def run_host_session(work: Path, env: dict[str, str], tmpdir: Path | None = None) -> HostSession:
    """A project with the skill installed and the scripted model configured; the host takes one task to merge.

    ENV must already be hermetic (HOME, XDG_*, git identity): the CLI's state and dispatch's user config
    both go under its HOME.
    """
    assert CLAUDE is not None, INSTALL_HINT
    env = {**env, "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", os.defpath)]),
           "DISPATCH_SCRIPTED_DELAY": "0"}
    project = work / "app"
    project.mkdir(parents=True)
    for argv in (["git", "init", "-q", "-b", "main"], ["git", "commit", "-q", "--allow-empty", "-m", "start"]):
        subprocess.run(argv, cwd=project, env=env, check=True)
    (project / "README.md").write_text("# app\n")
    for argv in (["dispatch", "skill", "install", "--project"], ["dispatch", "models", "add", "scripted"],
                 ["git", "add", "-A"], ["git", "commit", "-q", "-m", "the app, with the /dispatch skill"]):
        subprocess.run(argv, cwd=project, env=env, check=True, capture_output=True)
    log = work / "requests.jsonl"
    runs = []
    with FakeAnthropic(HostScript([Conversation(match=REQUEST, turns=TURNS)]), log) as api:
        cli_env = claude_env(api.base_url, env["HOME"], base=env)
        if tmpdir is not None:  # where the CLI keeps background commands' output
            cli_env["TMPDIR"] = str(tmpdir)
        session: list[str] = []
        for prompt in PROMPTS:
            argv = [CLAUDE, "-p", prompt, "--output-format", "json", "--allowedTools", "Bash(dispatch *)", *session]
            run = subprocess.run(argv, cwd=project, env=cli_env, capture_output=True, text=True, check=False,
                                 stdin=subprocess.DEVNULL, timeout=300)
            runs.append(run)
            if run.returncode != 0:
                break
            session = ["--resume", json.loads(run.stdout)["session_id"]]
    return HostSession(project, log, runs)


# --- reading what the host was sent ------------------------------------------------------------


def skill_listing(body: dict[str, Any]) -> dict[str, str]:
    """The skills the CLI lists for the model (name -> description), from its system-role message."""
    texts = [body.get("system")] + [m["content"] for m in body["messages"] if m["role"] == "system"]
    for content in texts:
        for block in content if isinstance(content, list) else [{"text": content or ""}]:
            _, found, rest = block.get("text", "").partition(
                "The following skills are available for use with the Skill tool:\n\n")
            if found:
                lines = rest.split("\n\n")[0].splitlines()
                return dict(line[2:].split(": ", 1) for line in lines if line.startswith("- "))
    return {}


def last_user_blocks(body: dict[str, Any]) -> list[dict[str, Any]]:
    content = [m for m in body["messages"] if m["role"] == "user"][-1]["content"]
    return [{"type": "text", "text": content}] if isinstance(content, str) else content


def tool_result_text(block: dict[str, Any]) -> str:
    content = block["content"]
    return content if isinstance(content, str) else "".join(b.get("text", "") for b in content)


def front_matter_and_body(path: Path) -> tuple[dict[str, str], str]:
    raw = path.read_text()
    _, head, body = raw.split("---\n", 2)
    return dict(line.split(": ", 1) for line in head.splitlines()), body


def normalised(out: str, session: HostSession) -> str:
    out = out.replace(str(session.project.parent), "<work>")
    return re.sub(r"\b[0-9a-f]{7,40}\b", "<sha>", out)


# --- the test ------------------------------------------------------------------------------------


@needs_claude
def test_claude_code_hosts_one_task_from_request_to_merge(tmp_path: Path) -> None:
    (tmp_path / "tmp").mkdir()
    session = run_host_session(tmp_path / "work", dict(os.environ), tmpdir=tmp_path / "tmp")
    assert [r.returncode for r in session.runs] == [0, 0, 0], [r.stderr[-2000:] for r in session.runs]
    assert [json.loads(r.stdout)["result"] for r in session.runs] == [TURNS[t][0]["text"] for t in LAST_TURN_OF_RUN]
    requests = session.agent_requests()
    assert len(requests) == len(TURNS)  # one request per scripted turn: nothing more, nothing retried

    # The skill is listed to the model, with its description, on every request.
    meta, body = front_matter_and_body(SKILL_MD)
    assert all(skill_listing(r)["dispatch"] == meta["description"] for r in requests)

    # The model calls the Skill tool; the next request carries the skill's body.
    blocks = last_user_blocks(requests[1])
    assert [b["type"] for b in blocks] == ["tool_result", "text"]
    assert tool_result_text(blocks[0]) == "Launching skill: dispatch"
    skill_dir = session.project / ".claude" / "skills" / "dispatch"
    assert blocks[1]["text"] == f"Base directory for this skill: {skill_dir}\n\n{body.strip()}\n"

    # Each Bash call ran for real; its output is what the model got back.
    got = {turn: normalised(_result(requests[turn + 1]), session) for turn, blocks in enumerate(TURNS)
           if blocks[0]["type"] == "tool_use" and blocks[0]["name"] in ("Bash", "Read")}
    background = (r"Command running in background with ID: \w+\. Output is being written to: \S+\.output\. "
                  r"You will be notified when it completes\. To check interim output, use Read on that file path\.")
    assert re.fullmatch(background, got.pop(3)) and re.fullmatch(background, got.pop(8))
    assert got == {
        1: "scripted",
        2: (f"created {TASK}\n"
            f"  branch    dispatch/{TASK} (from main at <sha>)\n"
            f"  worktree  <work>/app.dispatch/{TASK}\n"
            f"  plan      2 items: <work>/app.dispatch/{TASK}/.dispatch/PLAN.md\n"
            f"  worker    scripted on scripted: `dispatch logs {TASK} -f` follows it"),
        5: (f"1\t{TASK} asks Q1: {QUESTION}\n"
            f'2\t  → dispatch answer {TASK} "..."\n'
            "3\t\n4\t[exited with code 0]\n5\t"),
        7: f"answered Q1 of {TASK}: the waiting worker continues with it",
        10: (f"1\t{TASK} finished: every item is done\n"
             f"2\t  → dispatch review {TASK}\n"
             "3\t\n4\t[exited with code 0]\n5\t"),
        11: "M  README.md     +1 -0\nA  greeting.txt  +3 -0",
        13: (f"landed {TASK} on main by squash: <sha> -> <sha>\n"
             f"  removed its worktree and branch; `dispatch restore {TASK}` brings them back"),
    }
    # The host was woken by wait's exit: a notification of the finished background command each time.
    for turn in (5, 10):
        assert "<status>completed</status>" in last_user_blocks(requests[turn])[0]["text"]

    # The task landed on main as one commit, its plan and questions left behind in history.
    assert git(session.project, "log", "--format=%s", "main") == "Add a greeting\nthe app, with the /dispatch skill\nstart"
    assert git(session.project, "show", "main:greeting.txt") == f"Write `greeting.txt`\n\nAnswer: {ANSWER}"
    assert git(session.project, "show", "main:README.md") == "# app\nMention greeting.txt in `README.md`"
    assert ".dispatch/" not in git(session.project, "ls-tree", "-r", "--name-only", "main")
    assert git(session.project, "branch", "--list", "dispatch/*") == ""


def _result(body: dict[str, Any]) -> str:
    """The text of the one tool result in the request's last user message."""
    results = [b for b in last_user_blocks(body) if b["type"] == "tool_result"]
    assert len(results) == 1, results
    return tool_result_text(results[0])
