"""The fake Messages API (tests/fake_anthropic.py), alone and driving the
real Claude Code CLI (installed by .ci/install-claude)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from claude_cli import INSTALL_HINT, claude_env, find_claude
from fake_anthropic import (
    FINAL_TEXT,
    Conversation,
    FakeAnthropic,
    Script,
    parse_sse,
    read_log,
    text,
    tool_results,
    tool_use,
)

HERE = Path(__file__).resolve().parent

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Worker",
    "GIT_AUTHOR_EMAIL": "worker@example.invalid",
    "GIT_COMMITTER_NAME": "Worker",
    "GIT_COMMITTER_EMAIL": "worker@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


# --- the server alone ---------------------------------------------------------


def post(base_url: str, path: str, body: dict, headers: dict | None = None) -> tuple[int, str, str]:
    req = urllib.request.Request(
        base_url + path,
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", "x-api-key": "k", "anthropic-version": "2023-06-01", **(headers or {})},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers.get("content-type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("content-type", ""), e.read().decode()


def assemble(events: list[tuple[str, dict]]) -> dict:
    """Rebuild a message from SSE events the way an SDK client does."""
    names = [e for e, _ in events]
    assert names[0] == "message_start" and names[-1] == "message_stop"
    msg = events[0][1]["message"]
    assert msg["content"] == [] and msg["stop_reason"] is None
    blocks: dict[int, dict] = {}
    partial: dict[int, str] = {}
    open_blocks: set[int] = set()
    for event, data in events[1:-1]:
        assert data["type"] == event
        if event == "content_block_start":
            i = data["index"]
            blocks[i] = dict(data["content_block"])
            open_blocks.add(i)
        elif event == "content_block_delta":
            i, delta = data["index"], data["delta"]
            assert i in open_blocks
            if delta["type"] == "text_delta":
                blocks[i]["text"] += delta["text"]
            else:
                assert delta["type"] == "input_json_delta"
                partial[i] = partial.get(i, "") + delta["partial_json"]
        elif event == "content_block_stop":
            i = data["index"]
            open_blocks.remove(i)
            if i in partial:
                blocks[i]["input"] = json.loads(partial[i])
        elif event == "message_delta":
            msg["stop_reason"] = data["delta"]["stop_reason"]
            msg["usage"]["output_tokens"] = data["usage"]["output_tokens"]
        else:
            assert event == "ping"
    assert not open_blocks
    msg["content"] = [blocks[i] for i in sorted(blocks)]
    return msg


SERVER_SCRIPT = Script(
    [
        Conversation(
            match="task A",
            turns=[
                [text("Looking."), tool_use("Bash", {"command": "ls -la", "description": "List"})],
                [text("Finished A.")],
            ],
        ),
        Conversation(match="", turns=[[text("Generic answer.")]]),
    ]
)

TOOLS = [{"name": "Bash", "description": "run", "input_schema": {"type": "object"}}]


def agent_body(first: str, assistants: int, stream: bool = True) -> dict:
    messages: list[dict] = [{"role": "user", "content": [{"type": "text", "text": "<system-reminder>ctx</system-reminder>"}, {"type": "text", "text": first}]}]
    for k in range(assistants):
        messages.append({"role": "assistant", "content": [{"type": "tool_use", "id": f"t{k}", "name": "Bash", "input": {}}]})
        messages.append({"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"t{k}", "content": f"output {k}"}]})
    return {"model": "claude-x", "max_tokens": 100, "stream": stream, "tools": TOOLS, "messages": messages}


def test_server_streams_turns_chosen_by_assistant_count(tmp_path):
    log = tmp_path / "requests.jsonl"
    with FakeAnthropic(SERVER_SCRIPT, log) as api:
        status, ctype, raw = post(api.base_url, "/v1/messages?beta=true", agent_body("please do task A", 0))
        assert status == 200 and ctype.startswith("text/event-stream")
        events = parse_sse(raw)
        assert [e for e, _ in events][:2] == ["message_start", "ping"]
        msg = assemble(events)
        assert msg["role"] == "assistant" and msg["model"] == "claude-x"
        assert msg["stop_reason"] == "tool_use"
        assert msg["content"][0] == {"type": "text", "text": "Looking."}
        call = msg["content"][1]
        assert call["type"] == "tool_use" and call["name"] == "Bash" and call["id"].startswith("toolu_")
        assert call["input"] == {"command": "ls -la", "description": "List"}

        # Second turn: one assistant message in the history.
        msg = assemble(parse_sse(post(api.base_url, "/v1/messages", agent_body("please do task A", 1))[2]))
        assert msg["stop_reason"] == "end_turn" and msg["content"] == [{"type": "text", "text": "Finished A."}]

        # Past the script: "done."; a retry of turn 0 gets turn 0 again.
        msg = assemble(parse_sse(post(api.base_url, "/v1/messages", agent_body("please do task A", 5))[2]))
        assert msg["content"] == [{"type": "text", "text": FINAL_TEXT}] and msg["stop_reason"] == "end_turn"
        msg = assemble(parse_sse(post(api.base_url, "/v1/messages", agent_body("please do task A", 0))[2]))
        assert msg["content"][0]["text"] == "Looking."

        # Another conversation, not streamed: plain JSON.
        status, ctype, raw = post(api.base_url, "/v1/messages", agent_body("something else", 0, stream=False))
        assert status == 200 and ctype.startswith("application/json")
        msg = json.loads(raw)
        assert msg["type"] == "message" and msg["content"] == [{"type": "text", "text": "Generic answer."}]
        assert msg["usage"]["input_tokens"] == 100 and msg["usage"]["output_tokens"] == 20

        # A side call (no tools) never consumes the script.
        side = {"model": "claude-haiku", "max_tokens": 1, "messages": [{"role": "user", "content": "quota"}]}
        msg = json.loads(post(api.base_url, "/v1/messages?beta=true", side)[2])
        assert msg["stop_reason"] == "end_turn" and msg["content"][0]["type"] == "text"
        # ... and one asking for structured output gets an object of its schema.
        schema = {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}
        titled = {**side, "tools": [], "output_config": {"format": {"type": "json_schema", "schema": schema}}}
        msg = json.loads(post(api.base_url, "/v1/messages", titled)[2])
        assert isinstance(json.loads(msg["content"][0]["text"])["title"], str)

        assert json.loads(post(api.base_url, "/v1/messages/count_tokens", side)[2])["input_tokens"] > 0
        status, _, raw = post(api.base_url, "/v1/nope", {})
        assert status == 404 and json.loads(raw)["type"] == "error"

    entries = read_log(log)
    assert [e["kind"] for e in entries] == ["agent"] * 5 + ["side", "side", "count_tokens", "unknown"]
    assert [(e.get("conversation"), e.get("turn")) for e in entries[:5]] == [(0, 0), (0, 1), (0, 5), (0, 0), (1, 0)]
    assert entries[0]["query"] == {"beta": ["true"]}
    assert entries[0]["headers"]["anthropic-version"] == "2023-06-01"
    assert tool_results(entries[1]["body"])[0]["content"] == "output 0"
    assert entries[-1]["status"] == 404


def test_script_json_roundtrip_and_standalone_server(tmp_path):
    script_path = tmp_path / "script.json"
    script_path.write_text(json.dumps(SERVER_SCRIPT.to_json()))
    assert Script.load(script_path) == SERVER_SCRIPT
    log = tmp_path / "requests.jsonl"
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "fake_anthropic.py"), "--script", str(script_path), "--log", str(log)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = proc.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        msg = assemble(parse_sse(post(base_url, "/v1/messages", agent_body("task A", 1))[2]))
        assert msg["content"][0]["text"] == "Finished A."
        # The server logs a request once it has answered it: give it that moment before stopping it.
        import time

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (log.exists() and log.read_text().strip()):
            time.sleep(0.02)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    (entry,) = read_log(log)
    assert entry["turn"] == 1 and entry["body"]["model"] == "claude-x"


# --- the real CLI against it ---------------------------------------------------


@pytest.fixture(scope="module")
def claude() -> str:
    path = find_claude()
    if path is None:
        pytest.skip(f"Claude Code CLI not installed: {INSTALL_HINT}  (CI installs it; these end-to-end tests must run there)")
    return path


@pytest.fixture
def repo(tmp_path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", "start"], cwd=repo, check=True, env={**os.environ, **GIT_ENV})
    return repo


def run_claude(claude: str, prompt: str, cwd: Path, env: dict, *extra: str, fmt: str = "json") -> subprocess.CompletedProcess:
    args = [claude, "-p", prompt, "--model", "sonnet", "--dangerously-skip-permissions", "--output-format", fmt, *extra]
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, f"claude exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


def test_claude_cli_runs_scripted_tools(claude, repo, tmp_path):
    notes = repo / "notes.txt"
    script = Script(
        [
            Conversation(
                match="Do the scripted task",
                turns=[
                    [text("Committing a file."), tool_use("Bash", {"command": "echo hello > out.txt && git add out.txt && git commit -qm work", "description": "Write and commit out.txt"})],
                    [tool_use("Write", {"file_path": str(notes), "content": "alpha\nbeta\n"})],
                    [text("Now the edit."), tool_use("Edit", {"file_path": str(notes), "old_string": "beta", "new_string": "gamma"})],
                    [text("All three steps are done.")],
                ],
            )
        ]
    )
    log = tmp_path / "requests.jsonl"
    with FakeAnthropic(script, log) as api:
        env = {**claude_env(api.base_url, str(tmp_path / "home")), **GIT_ENV}
        proc = run_claude(claude, "Do the scripted task, please.", repo, env)

    assert (repo / "out.txt").read_text() == "hello\n"
    assert notes.read_text() == "alpha\ngamma\n"
    log_out = subprocess.run(["git", "log", "--format=%s|%an", "--name-only"], cwd=repo, capture_output=True, text=True, check=True).stdout
    assert log_out.splitlines()[:3] == ["work|Worker", "", "out.txt"]

    result = json.loads(proc.stdout)
    assert result["type"] == "result" and result["subtype"] == "success"
    assert result["is_error"] is False
    assert result["result"] == "All three steps are done."
    assert result["num_turns"] == 4
    assert result["stop_reason"] == "end_turn"
    assert isinstance(result["session_id"], str) and result["session_id"]
    assert isinstance(result["total_cost_usd"], (int, float)) and result["total_cost_usd"] > 0

    entries = read_log(log)
    agent = [e for e in entries if e["kind"] == "agent"]
    assert [e["turn"] for e in agent] == [0, 1, 2, 3]
    assert all(e["conversation"] == 0 for e in agent)
    assert all(e["body"]["stream"] is True for e in agent)
    # The CLI adds up the usage the fake reported for every call it made.
    calls = [e for e in entries if e["kind"] in ("agent", "side")]
    assert result["usage"]["input_tokens"] == 100 * len(calls)
    assert result["usage"]["output_tokens"] == 20 * len(calls)

    tools = {t["name"] for t in agent[0]["body"]["tools"]}
    assert {"Bash", "Write", "Edit", "Read"} <= tools
    assert agent[0]["headers"]["x-api-key"].startswith("sk-ant-")

    # The Bash call's tool_result reached the model, in the second request.
    second = agent[1]["body"]
    (call,) = [b for m in second["messages"] if m["role"] == "assistant" for b in m["content"] if b.get("type") == "tool_use"]
    assert call["name"] == "Bash" and call["input"]["command"].startswith("echo hello > out.txt")
    (res,) = tool_results(second)
    assert res["tool_use_id"] == call["id"]
    assert res.get("is_error") in (None, False)
    assert "no output" in json.dumps(res["content"])  # 2.1.330: "(Bash completed with no output)"
    # Write and Edit results came back without errors too.
    last = tool_results(agent[3]["body"])
    assert len(last) == 3 and not any(r.get("is_error") for r in last)


def test_parallel_cli_runs_share_one_server(claude, tmp_path):
    """Two workers at once, each its own CLI process and conversation, with
    stream-json output."""
    repos = []
    for name in ("w1", "w2"):
        r = tmp_path / name
        r.mkdir()
        subprocess.run(["git", "init", "-q"], cwd=r, check=True)
        repos.append(r)
    script = Script(
        [
            Conversation(match=f"job {name}", turns=[[tool_use("Bash", {"command": f"echo {name} > who.txt"})], [text(f"{name} finished")]])
            for name in ("w1", "w2")
        ]
    )
    log = tmp_path / "requests.jsonl"
    with FakeAnthropic(script, log) as api:
        envs = [{**claude_env(api.base_url, str(tmp_path / f"home-{r.name}")), **GIT_ENV} for r in repos]
        with ThreadPoolExecutor(2) as pool:
            procs = list(pool.map(lambda i: run_claude(claude, f"job {repos[i].name}", repos[i], envs[i], "--verbose", fmt="stream-json"), range(2)))
    for r, proc in zip(repos, procs):
        assert (r / "who.txt").read_text() == f"{r.name}\n"
        lines = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
        assert lines[0]["type"] == "system" and lines[0]["subtype"] == "init"
        final = lines[-1]
        assert final["type"] == "result" and final["result"] == f"{r.name} finished"
    agent = [e for e in read_log(log) if e["kind"] == "agent"]
    assert sorted((e["conversation"], e["turn"]) for e in agent) == [(0, 0), (0, 1), (1, 0), (1, 1)]
