"""What each CLI prints, as captured from the pinned versions: usage recorded, one short log line per event."""

from __future__ import annotations

import textwrap

from dispatch.task.usage import parse_usage
from dispatch.worker.logview import render

# Gemini CLI 0.61.0, --output-format stream-json (two tool calls, one message streamed in two chunks).
GEMINI = textwrap.dedent("""\
    YOLO mode is enabled. All tool calls will be automatically approved.
    {"type":"init","timestamp":"2026-12-02T10:56:00.048Z","session_id":"5f0d","model":"gemini-2.5-flash"}
    {"type":"message","timestamp":"2026-12-02T10:56:00.050Z","role":"user","content":"TASKX do it"}
    {"type":"message","timestamp":"2026-12-02T10:56:00.194Z","role":"assistant","content":"I will ","delta":true}
    {"type":"message","timestamp":"2026-12-02T10:56:00.195Z","role":"assistant","content":"start.","delta":true}
    {"type":"tool_use","timestamp":"2026-12-02T10:56:00.405Z","tool_name":"run_shell_command","tool_id":"r_0","parameters":{"command":"pwd > where.txt"}}
    {"type":"tool_result","timestamp":"2026-12-02T10:56:00.982Z","tool_id":"r_0","status":"success","output":""}
    {"type":"tool_use","timestamp":"2026-12-02T10:56:01.129Z","tool_name":"run_shell_command","tool_id":"r_1","parameters":{"command":"false"}}
    {"type":"tool_result","timestamp":"2026-12-02T10:56:01.337Z","tool_id":"r_1","status":"error","output":"","error":{"type":"shell","message":"exit 1"}}
    {"type":"message","timestamp":"2026-12-02T10:56:01.407Z","role":"assistant","content":"All done.","delta":true}
    {"type":"result","timestamp":"2026-12-02T10:56:01.432Z","status":"success","stats":{"total_tokens":360,"input_tokens":300,"output_tokens":60,"cached":0,"input":300,"duration_ms":1392,"tool_calls":2}}
    """)

# opencode 1.18.33, run --format json (ids shortened).
OPENCODE = textwrap.dedent("""\
    {"type":"step_start","timestamp":1,"sessionID":"s","part":{"id":"p1","type":"step-start"}}
    {"type":"text","timestamp":2,"sessionID":"s","part":{"id":"p2","type":"text","text":"I will start."}}
    {"type":"tool_use","timestamp":3,"sessionID":"s","part":{"type":"tool","tool":"bash","callID":"c","state":{"status":"completed","input":{"command":"echo hi > greeting.txt","description":"run it"},"output":"(no output)","title":"echo hi"}}}
    {"type":"step_finish","timestamp":4,"sessionID":"s","part":{"id":"p3","reason":"tool-calls","type":"step-finish","tokens":{"total":120,"input":100,"output":20,"reasoning":0,"cache":{"write":0,"read":5}},"cost":0.0006}}
    {"type":"step_finish","timestamp":5,"sessionID":"s","part":{"id":"p4","reason":"stop","type":"step-finish","tokens":{"total":120,"input":100,"output":20,"reasoning":0,"cache":{"write":0,"read":0}},"cost":0.0006}}
    {"type":"error","timestamp":6,"sessionID":"s","error":{"name":"UnknownError","data":{"message":"Unexpected server error. Check server logs for details."}}}
    """)

# aider 0.86.2, --message (plain text; the second call's price known).
AIDER = textwrap.dedent("""\
    Aider v0.86.2
    Model: openai/m1 with whole edit format
    Tokens: 595 sent, 15 received.
    Applied edit to greeting.txt
    Tokens: 2.1k sent, 1.0k cache hit, 1.2k received. Cost: $0.0123 message, $0.0123 session.
    """)

# Codex 0.171.0, exec --json: an apply_patch edit, a failed turn.
CODEX = textwrap.dedent("""\
    {"type":"thread.started","thread_id":"01a23665-742a-77d3-9bcf-d0e867ea8773"}
    {"type":"turn.started"}
    {"type":"item.completed","item":{"id":"item_0","type":"agent_message","text":"I will start."}}
    {"type":"item.started","item":{"id":"item_2","type":"file_change","changes":[{"path":"/w/greeting.txt","kind":"add"}],"status":"in_progress"}}
    {"type":"item.completed","item":{"id":"item_2","type":"file_change","changes":[{"path":"/w/greeting.txt","kind":"add"},{"path":"/w/PLAN.md","kind":"update"}],"status":"completed"}}
    {"type":"item.completed","item":{"id":"item_0","type":"error","message":"Model metadata for `gpt-5.4` not found."}}
    {"type":"error","message":"{\\"error\\": {\\"message\\": \\"the fake model refuses\\"}}"}
    {"type":"turn.failed","error":{"message":"the fake model refuses"}}
    {"type":"brand.new","payload":{"a":[1,2,3]}}
    {"no_type": "" , "blob": "%s"}
    """ % ("y" * 300))


def test_gemini_usage_comes_from_its_result_stats() -> None:
    assert parse_usage(GEMINI).to_json() == {"cost_usd": None, "input_tokens": 300, "output_tokens": 60}


def test_opencode_usage_adds_up_its_step_finish_parts() -> None:
    assert parse_usage(OPENCODE).to_json() == {"cost_usd": 0.0012, "input_tokens": 205, "output_tokens": 40}


def test_aider_usage_comes_from_its_tokens_lines() -> None:
    assert parse_usage(AIDER).to_json() == {"cost_usd": 0.0123, "input_tokens": 2695, "output_tokens": 1215}


def test_gemini_events_one_short_line_each() -> None:
    assert render(GEMINI.splitlines()) == [
        "YOLO mode is enabled. All tool calls will be automatically approved.",
        "· init (model gemini-2.5-flash)",
        "says: I will start.",
        "run_shell_command: pwd > where.txt",
        "got: ",
        "run_shell_command: false",
        "error: exit 1",
        "says: All done.",
        "· result: success, 300 tokens in, 60 out",
    ]


def test_opencode_parts_one_short_line_each() -> None:
    assert render(OPENCODE.splitlines()) == [
        "says: I will start.",
        "bash: echo hi > greeting.txt",
        "got: (no output)",
        "· step done: 100 tokens in, 20 out, $0.0006",
        "· step done: 100 tokens in, 20 out, $0.0006",
        "error: Unexpected server error. Check server logs for details.",
    ]


def test_codex_file_changes_show_their_paths_and_unknown_events_stay_one_line() -> None:
    assert render(CODEX.splitlines()) == [
        "· thread started",
        "says: I will start.",
        "file_change: add /w/greeting.txt, update /w/PLAN.md",
        "error: Model metadata for `gpt-5.4` not found.",
        'error: {"error": {"message": "the fake model refuses"}}',
        "· turn failed: the fake model refuses",
        '· brand.new: {"payload": {"a": [1, 2, 3]}}',
        ('{"no_type": "" , "blob": "' + "y" * 300)[:159] + "…",
    ]
