"""Fake model APIs for the real Codex, Gemini CLI, opencode and aider: only the model is fake.

One server speaks one wire format, picked by `wire`:

* "responses": OpenAI Responses API (`POST /v1/responses`, server-sent events), spoken by Codex;
  its shell tool is `exec_command` with `{"cmd": ...}`.
* "gemini": Gemini `POST /v1beta/models/M:streamGenerateContent?alt=sse` (and the plain
  `:generateContent` the CLI uses for side questions); the shell tool is `run_shell_command`.
* "chat": OpenAI Chat Completions (`POST /v1/chat/completions`, streamed or not), spoken by
  opencode (shell tool `bash`) and aider (no tools: the model answers in aider's edit format).

A test scripts the model's turns per conversation. Which turn answers a request is decided from the
request alone (no server state, so retries and several CLIs at once get the right answer): the
conversation is the first whose `match` occurs in the request's text; the turn is the number of tool
results in the request (for aider, which has no tools, the number of assistant messages after the
first message holding `match`). Past the
last scripted turn the model says FINAL_TEXT. A request that carries no tools while the CLI does use
tools (a title or a next-speaker question) is a side call and gets a short answer.

A turn is a list of steps: `say("...")` (text), `shell("...")` (one call of the CLI's shell tool),
`fail(status, "...")` (the API answers with that HTTP error), or a callable that gets the request
body and returns such steps (for answers made from what the CLI sent). Every request is logged as
one JSON line: {"path", "kind", "conversation", "turn", "body", "status"}.

Stdlib only.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

FINAL_TEXT = "done."
USAGE = {"input": 100, "output": 20}  # tokens reported for every model call

Step = dict[str, Any]
Turn = list[Step] | Callable[[dict[str, Any]], list[Step]]


def say(text: str) -> Step:
    return {"say": text}


def shell(command: str, **extra: Any) -> Step:
    """One call of the shell tool; EXTRA goes into its arguments (Codex: `yield_time_ms`)."""
    return {"shell": command, "extra": extra}


def call(name: str, **args: Any) -> Step:
    """One call of any other function tool (Responses only: Codex's `write_stdin`)."""
    return {"call": name, "args": args}


def patch(text: str) -> Step:
    """One call of Codex's freeform `apply_patch` tool (other wires do not have it)."""
    return {"patch": text}


def fail(status: int, message: str) -> Step:
    return {"fail": status, "message": message}


@dataclass
class Conversation:
    match: str
    turns: list[Turn]


@dataclass
class Script:
    conversations: list[Conversation] = field(default_factory=list)

    def find(self, text: str) -> tuple[int | None, Conversation | None]:
        for i, conv in enumerate(self.conversations):
            if conv.match in text:
                return i, conv
        return None, None


def read_log(path: str | Path) -> list[dict[str, Any]]:
    p = Path(path)
    entries = [json.loads(line) for line in p.read_text().splitlines() if line.strip()] if p.exists() else []
    return sorted(entries, key=lambda e: e.get("seq", 0))  # in the order the requests came


# --- what a request says, per wire format ---------------------------------------------------------


def _texts(value: Any) -> Iterator[str]:
    """Every string inside VALUE (the request's text, for matching a conversation)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _texts(v)
    elif isinstance(value, list):
        for v in value:
            yield from _texts(v)


def request_text(body: Any) -> str:
    return "\n".join(_texts(body))


def tool_outputs(wire: str, body: dict[str, Any]) -> list[str]:
    """The text of every tool result in the request, oldest first."""
    if wire == "responses":
        out = []
        for item in body.get("input") or []:
            if isinstance(item, dict) and item.get("type") in ("function_call_output", "custom_tool_call_output"):
                value = item.get("output")
                out.append(value if isinstance(value, str) else request_text(value))
        return out
    if wire == "gemini":
        return [json.dumps(part["functionResponse"].get("response")) for c in body.get("contents") or []
                for part in c.get("parts") or [] if isinstance(part, dict) and "functionResponse" in part]
    return [m["content"] if isinstance(m.get("content"), str) else request_text(m.get("content"))
            for m in body.get("messages") or [] if m.get("role") == "tool"]


def assistant_messages(body: dict[str, Any], match: str) -> int:
    """Assistant messages after the first message holding MATCH (aider sends examples before it)."""
    messages = body.get("messages") or []
    start = next((i for i, m in enumerate(messages) if match in request_text(m.get("content"))), len(messages))
    return sum(1 for m in messages[start:] if m.get("role") == "assistant")


def has_tools(body: dict[str, Any]) -> bool:
    return bool(body.get("tools"))


# --- answers, per wire format ----------------------------------------------------------------------


def _id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


def responses_events(steps: list[Step], model: str) -> Iterator[dict[str, Any]]:
    rid = _id("resp")
    yield {"type": "response.created", "response": {"id": rid, "object": "response", "model": model, "status": "in_progress", "output": []}}
    output = []
    for i, step in enumerate(steps):
        if "say" in step:
            item_id = _id("msg")
            yield {"type": "response.output_item.added", "output_index": i,
                   "item": {"type": "message", "id": item_id, "role": "assistant", "status": "in_progress", "content": []}}
            yield {"type": "response.output_text.delta", "item_id": item_id, "output_index": i, "content_index": 0, "delta": step["say"]}
            item = {"type": "message", "id": item_id, "role": "assistant", "status": "completed",
                    "content": [{"type": "output_text", "text": step["say"], "annotations": []}]}
        elif "call" in step:
            item = {"type": "function_call", "id": _id("fc"), "call_id": _id("call"), "name": step["call"],
                    "arguments": json.dumps(step["args"]), "status": "completed"}
        elif "patch" in step:
            item = {"type": "custom_tool_call", "id": _id("ctc"), "call_id": _id("call"), "name": "apply_patch",
                    "input": step["patch"], "status": "completed"}
        else:
            item = {"type": "function_call", "id": _id("fc"), "call_id": _id("call"), "name": "exec_command",
                    "arguments": json.dumps({"cmd": step["shell"], **step["extra"]}), "status": "completed"}
        output.append(item)
        yield {"type": "response.output_item.done", "output_index": i, "item": item}
    usage = {"input_tokens": USAGE["input"], "input_tokens_details": {"cached_tokens": 0},
             "output_tokens": USAGE["output"], "output_tokens_details": {"reasoning_tokens": 0},
             "total_tokens": USAGE["input"] + USAGE["output"]}
    yield {"type": "response.completed", "response": {"id": rid, "object": "response", "model": model,
                                                      "status": "completed", "output": output, "usage": usage}}


def gemini_chunk(steps: list[Step], model: str) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    for step in steps:
        if "say" in step:
            parts.append({"text": step["say"]})
        else:
            parts.append({"functionCall": {"name": "run_shell_command", "args": {"command": step["shell"], **step["extra"]}}})
    return {
        "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": USAGE["input"], "candidatesTokenCount": USAGE["output"],
                          "totalTokenCount": USAGE["input"] + USAGE["output"]},
        "modelVersion": model,
        "responseId": _id("gem"),
    }


def chat_message(steps: list[Step]) -> dict[str, Any]:
    text = "".join(s["say"] for s in steps if "say" in s)
    calls = [{"id": _id("call"), "type": "function",
              "function": {"name": "bash", "arguments": json.dumps({"command": s["shell"], "description": "run it",
                                                                    **s["extra"]})}}
             for s in steps if "shell" in s]
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if calls:
        message["tool_calls"] = calls
    return message


def chat_usage() -> dict[str, int]:
    return {"prompt_tokens": USAGE["input"], "completion_tokens": USAGE["output"],
            "total_tokens": USAGE["input"] + USAGE["output"]}


def chat_chunks(steps: list[Step], model: str) -> Iterator[dict[str, Any]]:
    cid, created = _id("chatcmpl"), int(time.time())
    message = chat_message(steps)

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    yield chunk({"role": "assistant", "content": ""})
    if message["content"]:
        yield chunk({"content": message["content"]})
    for i, call in enumerate(message.get("tool_calls", [])):
        yield chunk({"tool_calls": [{"index": i, **call}]})
    yield chunk({}, "tool_calls" if message.get("tool_calls") else "stop")
    yield {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model, "choices": [],
           "usage": chat_usage()}


# --- the server ------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        fake = self.server.fake
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else {}
        except ValueError:
            body = {}
        # `seq`, the log's order: a client may send its next request before this one is logged.
        entry: dict[str, Any] = {"seq": fake._arrived(), "method": self.command, "path": self.path, "body": body}
        try:
            entry["status"] = self._respond(fake, body if isinstance(body, dict) else {}, entry)
        except (BrokenPipeError, ConnectionResetError):
            entry["status"] = "client-gone"
        except Exception as e:  # a bug in a script: say so to the client and the test's log
            entry["error"] = repr(e)
            print(f"fake_models: error answering {self.command} {self.path}: {e!r}", file=sys.stderr)
            try:
                entry["status"] = self._json(500, {"error": {"message": f"fake_models: {e!r}"}})
            except OSError:
                entry["status"] = "client-gone"
        fake._record(entry)

    def _steps(self, fake: FakeModel, body: dict[str, Any], entry: dict[str, Any]) -> list[Step]:
        wire = fake.wire
        side = wire != "responses" and not fake.aider and not has_tools(body)
        if side:
            entry["kind"] = "side"
            return [say(fake.side_text)]
        entry["kind"] = "agent"
        conv_i, conv = fake.script.find(request_text(body))
        if conv is None:
            return [say(FINAL_TEXT)]
        turn = assistant_messages(body, conv.match) if fake.aider else len(tool_outputs(wire, body))
        entry["conversation"], entry["turn"] = conv_i, turn
        if turn >= len(conv.turns):
            return [say(FINAL_TEXT)]
        planned = conv.turns[turn]
        return planned(body) if callable(planned) else planned

    def _respond(self, fake: FakeModel, body: dict[str, Any], entry: dict[str, Any]) -> int:
        path = self.path.split("?", 1)[0]
        known = {"responses": ("/v1/responses",), "chat": ("/v1/chat/completions", "/chat/completions"),
                 "gemini": ()}[fake.wire]
        gemini_call = fake.wire == "gemini" and path.startswith("/v1beta/models/") and ":" in path
        if self.command != "POST" or not (path in known or gemini_call):
            entry["kind"] = "unknown"
            return self._json(404, {"error": {"message": f"fake_models: no {self.command} {path} here"}})
        steps = self._steps(fake, body, entry)
        failure = next((s for s in steps if "fail" in s), None)
        if failure is not None:
            return self._error(fake.wire, failure["fail"], failure["message"])
        model = str(body.get("model") or path.rsplit("/", 1)[-1].split(":")[0])
        if fake.wire == "responses":
            return self._sse(responses_events(steps, model))
        if fake.wire == "gemini":
            if path.endswith(":streamGenerateContent"):
                return self._sse(iter([gemini_chunk(steps, model)]))
            if path.endswith(":countTokens"):
                return self._json(200, {"totalTokens": USAGE["input"]})
            return self._json(200, gemini_chunk(steps, model))
        if body.get("stream"):
            return self._sse(chat_chunks(steps, model), done=True)
        return self._json(200, {"id": _id("chatcmpl"), "object": "chat.completion", "created": int(time.time()),
                                "model": model, "usage": chat_usage(),
                                "choices": [{"index": 0, "message": chat_message(steps),
                                             "finish_reason": "stop"}]})

    def _error(self, wire: str, status: int, message: str) -> int:
        if wire == "gemini":
            return self._json(status, {"error": {"code": status, "message": message, "status": "INVALID_ARGUMENT"}})
        return self._json(status, {"error": {"message": message, "type": "invalid_request_error", "code": None,
                                             "param": None}})

    def _json(self, status: int, obj: Any) -> int:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        return status

    def _sse(self, events: Iterator[dict[str, Any]], *, done: bool = False) -> int:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()

        def send(payload: bytes) -> None:
            self.wfile.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
            self.wfile.flush()

        for data in events:
            head = f"event: {data['type']}\n" if "type" in data and self.server.fake.wire == "responses" else ""
            send(f"{head}data: {json.dumps(data)}\n\n".encode())
        if done:
            send(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        return 200


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeModel


class FakeModel:
    """A fake model API on 127.0.0.1 (a free port), as a context manager."""

    def __init__(self, wire: str, script: Script, log_path: str | Path, *, aider: bool = False,
                 side_text: str = "Done") -> None:
        assert wire in ("responses", "gemini", "chat")
        self.wire, self.script, self.log_path, self.aider, self.side_text = wire, script, Path(log_path), aider, side_text
        self._lock = threading.Lock()
        self._seq = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Self:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def _arrived(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

    def _record(self, entry: dict[str, Any]) -> None:
        with self._lock, open(self.log_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")

    def requests(self, kind: str = "agent") -> list[dict[str, Any]]:
        return [e for e in read_log(self.log_path) if e.get("kind") == kind]
