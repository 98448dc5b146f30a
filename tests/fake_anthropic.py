"""A fake Anthropic Messages API that replays scripted assistant turns.

Used to run the real Claude Code CLI in tests: only the model is fake. The
CLI is pointed at this server with ANTHROPIC_BASE_URL (see claude_cli.py) and
gets, turn by turn, the assistant messages a test scripted: text, and tool
calls (Bash, Write, Edit, ...) that the real CLI then really executes.

Stdlib only. Two ways to use it:

    script = Script([Conversation(match="add a file", turns=[
        [text("On it."), tool_use("Bash", {"command": "echo hi > a.txt"})],
        [text("Done: a.txt holds hi.")],
    ])])
    with FakeAnthropic(script, log_path) as api:
        env = claude_env(api.base_url, home)      # tests/claude_cli.py
        subprocess.run([claude, "-p", "add a file", ...], env=env)

or as its own process, for runs where the test is not the CLI's parent:

    python tests/fake_anthropic.py --script script.json --log requests.jsonl
    # first stdout line: http://127.0.0.1:PORT ; serves until killed

Script JSON: {"conversations": [{"match": "...", "turns": [[block, ...], ...]}]}
(or just the list of conversations); a block is {"type": "text", "text": ...}
or {"type": "tool_use", "name": "Bash", "input": {...}} (an "id" is made up
when absent). Optional top-level "usage": token counts reported per response.

Which turn answers a request is decided statelessly, from the request alone:

* conversation: the first one whose `match` is a substring of the text of
  the request's first user message or of its system prompt ("" matches all);
* turn: the number of assistant messages already in the request's
  `messages` (0 for the first call, 1 after the first tool round, ...).
  Past the last scripted turn the answer is a plain "done." (end_turn).

So retries, and several CLI processes talking to one server at once, each
get the right answer without any server-side state.

Requests that are not the agent loop are answered minimally (see
`classify`). Every request is appended as one JSON line to the log file:
{"seq", "time", "method", "path", "query", "kind", "headers", "body",
 "conversation", "turn", "status"}.
"""

from __future__ import annotations

import argparse
import bisect
import json
import re
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

Block = dict[str, Any]

FINAL_TEXT = "done."

DEFAULT_USAGE = {
    "input_tokens": 100,
    "output_tokens": 20,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 0,
}

# Request headers worth keeping in the log (lower-case).
LOGGED_HEADERS = (
    "anthropic-beta",
    "anthropic-version",
    "content-type",
    "user-agent",
    "x-app",
    "x-api-key",
    "authorization",
    "x-claude-code-session-id",
    "x-stainless-retry-count",
)


def text(s: str) -> Block:
    return {"type": "text", "text": s}


def tool_use(name: str, input: dict[str, Any], id: str | None = None) -> Block:
    block: Block = {"type": "tool_use", "name": name, "input": input}
    if id:
        block["id"] = id
    return block


@dataclass
class Conversation:
    match: str = ""
    turns: list[list[Block]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for turn in self.turns:
            if not isinstance(turn, list) or not turn:
                raise ValueError(f"a turn is a non-empty list of blocks, not {turn!r}")
            for block in turn:
                kind = block.get("type") if isinstance(block, dict) else None
                if kind == "text":
                    ok = isinstance(block.get("text"), str)
                elif kind == "tool_use":
                    ok = isinstance(block.get("name"), str) and isinstance(block.get("input", {}), dict)
                else:
                    ok = False
                if not ok:
                    raise ValueError(f"bad block in script (want text or tool_use): {block!r}")

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Conversation:
        return cls(match=obj.get("match", ""), turns=obj.get("turns", []))


@dataclass
class Script:
    conversations: list[Conversation] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_USAGE))

    @classmethod
    def from_json(cls, obj: Any) -> Script:
        if isinstance(obj, list):
            obj = {"conversations": obj}
        usage = dict(DEFAULT_USAGE)
        usage.update(obj.get("usage", {}))
        return cls([Conversation.from_json(c) for c in obj.get("conversations", [])], usage)

    @classmethod
    def load(cls, path: str | Path) -> Script:
        return cls.from_json(json.loads(Path(path).read_text()))

    def to_json(self) -> dict[str, Any]:
        return {
            "conversations": [{"match": c.match, "turns": c.turns} for c in self.conversations],
            "usage": self.usage,
        }

    def find(self, body: dict[str, Any]) -> tuple[int | None, Conversation | None]:
        haystacks = (first_user_text(body), system_text(body))
        for i, conv in enumerate(self.conversations):
            if any(conv.match in h for h in haystacks):
                return i, conv
        return None, None


# --- reading requests -------------------------------------------------------


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = []
    for block in content or []:
        if isinstance(block, dict) and block.get("type") == "text":
            parts.append(block.get("text", ""))
    return "\n".join(parts)


def first_user_text(body: dict[str, Any]) -> str:
    """All text blocks of the first user message (the CLI puts context
    reminders there besides the prompt)."""
    for msg in body.get("messages", []):
        if msg.get("role") == "user":
            return _content_text(msg.get("content"))
    return ""


def system_text(body: dict[str, Any]) -> str:
    """The system prompt, plus any role "system" messages (the CLI 2.1.330
    sends its environment section as one, right after the first user
    message)."""
    parts = [_content_text(body.get("system"))]
    parts += [_content_text(m.get("content")) for m in body.get("messages", []) if m.get("role") == "system"]
    return "\n".join(p for p in parts if p)


def assistant_count(body: dict[str, Any]) -> int:
    return sum(1 for m in body.get("messages", []) if m.get("role") == "assistant")


def tool_results(body: dict[str, Any]) -> list[Block]:
    """The tool_result blocks of all user messages in a request."""
    out = []
    for msg in body.get("messages", []):
        if msg.get("role") == "user" and isinstance(msg.get("content"), list):
            out.extend(b for b in msg["content"] if isinstance(b, dict) and b.get("type") == "tool_result")
    return out


def tool_result_text(block: Block) -> str:
    content = block.get("content")
    return content if isinstance(content, str) else _content_text(content)


def classify(method: str, path: str, body: Any) -> str:
    """What a request is.

    - "agent": POST /v1/messages whose body has a non-empty `tools` list: a
      step of the agent loop (the main one, or a subagent's). Answered from
      the script.
    - "side": POST /v1/messages without tools (no `tools` key, or `tools: []`):
      the CLI's helper calls, e.g. the session-title request of the
      interactive TUI (tools: [], output_config.format = json_schema
      {"title": string}), seen only when CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC
      is unset (a `-p` run with it set makes agent calls only); any other
      helper call (a quota probe with max_tokens 1, topic detection on the
      small/fast model, ...) lands here too. Answered with a short text
      (side_answer), never from the script, so they don't shift turns.
    - "count_tokens": POST /v1/messages/count_tokens.
    - "models": GET /v1/models[/id].
    - "root": GET/HEAD / and /api/hello (connectivity checks: the CLI sends
      HEAD /api/hello at start unless nonessential traffic is disabled).
    - "unknown": anything else; answered 404 and logged.
    """
    if method == "POST" and path == "/v1/messages":
        if isinstance(body, dict) and body.get("tools"):
            return "agent"
        return "side"
    if method == "POST" and path == "/v1/messages/count_tokens":
        return "count_tokens"
    if method == "GET" and (path == "/v1/models" or path.startswith("/v1/models/")):
        return "models"
    if method in ("GET", "HEAD") and path in ("", "/", "/api/hello"):
        return "root"
    return "unknown"


# --- building responses -----------------------------------------------------


def _msg_id() -> str:
    return "msg_fake_" + uuid.uuid4().hex[:20]


def _tool_id() -> str:
    return "toolu_fake_" + uuid.uuid4().hex[:20]


def materialize(blocks: list[Block]) -> list[Block]:
    """Full content blocks, as the API returns them (ids filled in)."""
    out = []
    for b in blocks:
        if b["type"] == "text":
            out.append({"type": "text", "text": b["text"]})
        elif b["type"] == "tool_use":
            out.append({"type": "tool_use", "id": b.get("id") or _tool_id(), "name": b["name"], "input": b.get("input", {})})
        else:
            raise ValueError(f"unsupported block type: {b!r}")
    return out


def message(model: str, content: list[Block], usage: dict[str, int]) -> dict[str, Any]:
    stop = "tool_use" if any(b["type"] == "tool_use" for b in content) else "end_turn"
    return {
        "id": _msg_id(),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": dict(usage),
    }


def _chunks(s: str, n: int = 3) -> list[str]:
    """Split s into up to n non-empty pieces (deltas are streamed in parts,
    as the real API does, so the client has to accumulate them)."""
    if len(s) <= 1:
        return [s]
    size = max(1, -(-len(s) // n))
    return [s[i : i + size] for i in range(0, len(s), size)]


def sse_events(msg: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The (event, data) pairs of a streamed Messages API response:
    message_start, ping, per block content_block_start / *_delta /
    content_block_stop, then message_delta (stop_reason, usage) and
    message_stop."""
    usage = msg["usage"]
    start = dict(msg, content=[], stop_reason=None, stop_sequence=None)
    start["usage"] = dict(usage, output_tokens=1)
    yield "message_start", {"type": "message_start", "message": start}
    yield "ping", {"type": "ping"}
    for i, block in enumerate(msg["content"]):
        if block["type"] == "text":
            yield "content_block_start", {"type": "content_block_start", "index": i, "content_block": {"type": "text", "text": ""}}
            for piece in _chunks(block["text"]):
                yield "content_block_delta", {"type": "content_block_delta", "index": i, "delta": {"type": "text_delta", "text": piece}}
        else:
            head = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            yield "content_block_start", {"type": "content_block_start", "index": i, "content_block": head}
            for piece in _chunks(json.dumps(block["input"])):
                yield "content_block_delta", {"type": "content_block_delta", "index": i, "delta": {"type": "input_json_delta", "partial_json": piece}}
        yield "content_block_stop", {"type": "content_block_stop", "index": i}
    yield "message_delta", {
        "type": "message_delta",
        "delta": {"stop_reason": msg["stop_reason"], "stop_sequence": None},
        "usage": {"output_tokens": usage["output_tokens"]},
    }
    yield "message_stop", {"type": "message_stop"}


def sse_encode(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def parse_sse(raw: str | bytes) -> list[tuple[str, dict[str, Any]]]:
    """Parse an SSE stream back into (event, data) pairs (for tests)."""
    if isinstance(raw, bytes):
        raw = raw.decode()
    out = []
    for frame in re.split(r"\r?\n\r?\n", raw):
        event, data = None, []
        for line in frame.splitlines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip())
        if event or data:
            out.append((event or "message", json.loads("\n".join(data))))
    return out


def _example(schema: Any) -> Any:
    """A minimal value satisfying a (simple) JSON schema."""
    if not isinstance(schema, dict):
        return None
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            return _example(schema[key][0])
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {k: _example(props.get(k, {})) for k in schema.get("required", list(props))}
    return {"string": "Scripted session", "boolean": False, "integer": 0, "number": 0, "array": [], "null": None}.get(kind, "")


def side_answer(body: dict[str, Any]) -> str:
    """A short answer for a helper call. When the call asks for structured
    output (output_config.format json_schema, as the CLI's session-title
    call does), a minimal object matching the schema; when its prompt asks
    for JSON otherwise, "{}"; else "OK"."""
    fmt = (body.get("output_config") or {}).get("format") or {}
    if fmt.get("type") == "json_schema":
        return json.dumps(_example(fmt.get("schema", {})))
    prompt = (system_text(body) + "\n" + first_user_text(body)).lower()
    if "json" in prompt:
        return "{}"
    return "OK"


# --- the server -------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_HEAD(self) -> None:
        self._handle("HEAD")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_OPTIONS(self) -> None:
        self._handle("OPTIONS")

    def _handle(self, method: str) -> None:
        # Counted until it is logged: the client has its answer before that, and may stop the server at once.
        fake: FakeAnthropic = self.server.fake
        with fake._settled:
            fake._inflight += 1
        try:
            self._serve(method)
        finally:
            with fake._settled:
                fake._inflight -= 1
                fake._settled.notify_all()

    def _serve(self, method: str) -> None:
        fake: FakeAnthropic = self.server.fake
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/") or "/"
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        kind = classify(method, path, body)
        entry: dict[str, Any] = {
            "seq": fake._arrived(),  # the log's order: a client may send its next request before this is logged
            "method": method,
            "path": path,
            "query": parse_qs(parts.query),
            "kind": kind,
            "headers": {h: self.headers[h] for h in LOGGED_HEADERS if self.headers.get(h) is not None},
            "body": body,
        }
        if kind == "unknown":
            print(f"fake_anthropic: unknown request {method} {self.path}", file=sys.stderr)
        try:
            status = self._respond(fake, kind, body, entry)
        except (BrokenPipeError, ConnectionResetError):
            status = "client-gone"
        except Exception as e:  # a bug in a script or here: tell the client, keep serving
            entry["error"] = repr(e)
            print(f"fake_anthropic: error answering {method} {self.path}: {e!r}", file=sys.stderr)
            try:
                status = self._json(500, {"type": "error", "error": {"type": "api_error", "message": f"fake_anthropic: {e!r}"}})
            except OSError:
                status = "client-gone"
        entry["status"] = status
        fake._record(entry)

    def _json(self, status: int, obj: Any) -> int:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("request-id", "req_fake_" + uuid.uuid4().hex[:16])
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        return status

    def _stream(self, msg: dict[str, Any]) -> int:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("request-id", "req_fake_" + uuid.uuid4().hex[:16])
        self.end_headers()
        for event, data in sse_events(msg):
            payload = sse_encode(event, data)
            self.wfile.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        return 200

    def _respond(self, fake: FakeAnthropic, kind: str, body: Any, entry: dict[str, Any]) -> int:
        if kind in ("agent", "side"):
            if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
                return self._json(400, {"type": "error", "error": {"type": "invalid_request_error", "message": "messages: field required"}})
            model = body.get("model", "claude-fake")
            if kind == "agent":
                conv_i, conv = fake.script.find(body)
                turn = assistant_count(body)
                entry["conversation"], entry["turn"] = conv_i, turn
                if conv is not None and turn < len(conv.turns):
                    blocks = conv.turns[turn]
                else:
                    blocks = [text(FINAL_TEXT)]
            else:
                blocks = [text(side_answer(body))]
            msg = message(model, materialize(blocks), fake.script.usage)
            if body.get("stream"):
                return self._stream(msg)
            return self._json(200, msg)
        if kind == "count_tokens":
            n = max(1, len(json.dumps(body)) // 4) if body else 1
            return self._json(200, {"input_tokens": n})
        if kind == "models":
            return self._json(200, {"data": [], "has_more": False, "first_id": None, "last_id": None})
        if kind == "root":
            return self._json(200, {})
        return self._json(404, {"type": "error", "error": {"type": "not_found_error", "message": f"fake_anthropic: no route {entry['method']} {entry['path']}"}})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeAnthropic


class FakeAnthropic:
    """The fake API server. `with FakeAnthropic(script, log) as api:` serves
    on 127.0.0.1 (a free port) in a background thread; `api.base_url` is
    what ANTHROPIC_BASE_URL must be set to."""

    def __init__(self, script: Script | dict | list, log_path: str | Path | None = None, port: int = 0):
        self.script = script if isinstance(script, Script) else Script.from_json(script)
        self.log_path = Path(log_path) if log_path else None
        self._port = port
        self._lock = threading.Lock()
        self._settled = threading.Condition()
        self._inflight = 0  # requests answered or being answered, not yet logged
        self._seq = 0
        self.requests: list[dict[str, Any]] = []
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeAnthropic:
        self._httpd = _Server(("127.0.0.1", self._port), _Handler)
        self._httpd.fake = self
        if self.log_path:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self.log_path.touch()
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fake-anthropic", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            with self._settled:  # every request answered is in the log (a streaming one may take a while)
                self._settled.wait_for(lambda: self._inflight == 0, timeout=10)
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _arrived(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

    def _record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            entry = {"seq": entry.pop("seq"), "time": time.time(), **entry}
            bisect.insort(self.requests, entry, key=lambda e: e["seq"])
            if self.log_path:
                with self.log_path.open("a") as f:
                    f.write(json.dumps(entry) + "\n")


def read_log(path: str | Path) -> list[dict[str, Any]]:
    """The request log written by a FakeAnthropic, one dict per request."""
    entries = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    return sorted(entries, key=lambda e: e["seq"])  # in the order the requests came


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Fake Anthropic Messages API replaying a script.")
    p.add_argument("--script", required=True, help="script JSON file")
    p.add_argument("--log", help="append one JSON line per request here")
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    args = p.parse_args(argv)
    api = FakeAnthropic(Script.load(args.script), args.log, port=args.port).start()
    print(api.base_url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        api.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
