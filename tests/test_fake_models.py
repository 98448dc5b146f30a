"""The fake model APIs on their own: each wire format answers the scripted turn, chosen from the request alone."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from fake_models import Conversation, FakeModel, Script, fail, read_log, say, shell

SCRIPT = Script([Conversation("Your task is `t`", [
    [say("On it."), shell("echo hi > a.txt")],
    [fail(400, "no more")],
])])


def post(url: str, body: dict[str, Any]) -> tuple[int, str]:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def sse_data(text: str) -> list[Any]:
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ") and line != "data: [DONE]"]


def test_responses_first_turn_then_the_scripted_error(tmp_path: Path) -> None:
    with FakeModel("responses", SCRIPT, tmp_path / "log.jsonl") as api:
        code, text = post(f"{api.base_url}/v1/responses", {"model": "m", "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Your task is `t`"}]}]})
        done = [e["item"] for e in sse_data(text) if e["type"] == "response.output_item.done"]
        assert code == 200
        assert [(i["type"], i.get("name"), i.get("arguments")) for i in done] == [
            ("message", None, None), ("function_call", "exec_command", '{"cmd": "echo hi > a.txt"}')]
        code, text = post(f"{api.base_url}/v1/responses", {"model": "m", "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Your task is `t`"}]},
            {"type": "function_call_output", "call_id": "c", "output": "ok"}]})
        assert (code, json.loads(text)["error"]["message"]) == (400, "no more")
    assert [(e["kind"], e["turn"], e["status"]) for e in read_log(tmp_path / "log.jsonl")] == [
        ("agent", 0, 200), ("agent", 1, 400)]


def test_gemini_stream_and_side_call(tmp_path: Path) -> None:
    with FakeModel("gemini", SCRIPT, tmp_path / "log.jsonl") as api:
        url = f"{api.base_url}/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        code, text = post(url, {"contents": [{"role": "user", "parts": [{"text": "Your task is `t`"}]}],
                                "tools": [{"functionDeclarations": [{"name": "run_shell_command"}]}]})
        (chunk,) = sse_data(text)
        assert (code, chunk["candidates"][0]["content"]["parts"]) == (
            200, [{"text": "On it."}, {"functionCall": {"name": "run_shell_command", "args": {"command": "echo hi > a.txt"}}}])
        code, text = post(f"{api.base_url}/v1beta/models/gemini-2.5-flash:generateContent", {"contents": []})
        assert (code, json.loads(text)["candidates"][0]["content"]["parts"]) == (200, [{"text": "Done"}])


def test_chat_completions_streamed_with_usage(tmp_path: Path) -> None:
    with FakeModel("chat", SCRIPT, tmp_path / "log.jsonl") as api:
        code, text = post(f"{api.base_url}/v1/chat/completions", {
            "model": "m1", "stream": True, "tools": [{"type": "function", "function": {"name": "bash"}}],
            "messages": [{"role": "user", "content": "Your task is `t`"}]})
    chunks = sse_data(text)
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    calls = [d["tool_calls"][0]["function"] for d in deltas if "tool_calls" in d]
    assert code == 200 and text.endswith("data: [DONE]\n\n")
    assert [(c["name"], json.loads(c["arguments"])["command"]) for c in calls] == [("bash", "echo hi > a.txt")]
    assert chunks[-1]["usage"] == {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}
