"""The real Codex, Gemini CLI, opencode and aider as dispatch workers; only the model is faked
(tests/fake_models.py, on 127.0.0.1). Each CLI is installed, pinned, by `.ci/install-<cli>`; a test
whose CLI is missing skips and says how to install it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from agent_clis import AIDER, CLIS, Cli
from conftest import dispatch, git, task_status, wait_for, worker_json
from fake_models import Conversation, FakeModel, Script, call, fail, patch, request_text, say, shell, tool_outputs

SHELL_CLIS = [CLIS[name] for name in ("codex", "gemini", "opencode")]
TICK = "sed -i 's/- \\[ \\] {item}/- [x] {item}/' .dispatch/PLAN.md && git add -A && git commit -qm '{subject}'"


def needs(cli: Cli) -> Any:
    return pytest.mark.skipif(cli.find() is None, reason=f"SKIPPED LOUDLY: {cli.name} is missing: {cli.install_hint}")


def each(clis: list[Cli]) -> Any:
    return pytest.mark.parametrize("cli", [pytest.param(c, id=c.name, marks=needs(c)) for c in clis])


def start(cli: Cli, api: FakeModel, tmp_path: Path, title: str, *items: str) -> dict[str, str]:
    """`dispatch new TITLE --model <cli's model>` in the test repo; the environment it ran with."""
    env, config = cli.setup(api.base_url, tmp_path / "home")
    if config:
        path = tmp_path / "home" / ".config" / "dispatch" / "config.toml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(config)
    args = [a for item in items for a in ("--item", item)]
    r = dispatch("new", title, "--model", cli.model, *args, cwd=tmp_path / "work" / "app", env=env)
    assert (r.code, r.err) == (0, "")
    return env


def exited(repo: Path, task_id: str, cli: Cli) -> None:
    wait_for(lambda: worker_json(repo, task_id).get("phase") == "exited", timeout=120, message=f"{cli.name} to exit")


def shown_logs(repo: Path, task_id: str) -> list[str]:
    """`dispatch logs` as a person reads it, without the timestamps of dispatch's own lines."""
    return [re.sub(r"^\[dispatch [^]]+\] ", "", line) for line in dispatch("logs", task_id, cwd=repo).out.splitlines()]


def write_turn(cli: Cli) -> list[dict[str, Any]]:
    """The model writes greeting.txt: Codex through its apply_patch tool (a file_change), the others
    with their shell tool."""
    if cli.name == "codex":
        return [patch("*** Begin Patch\n*** Add File: greeting.txt\n+hello\n*** End Patch\n")]
    return [shell("echo hello > greeting.txt")]


# What each CLI reports for the four model calls of the first test (100 tokens in, 20 out each).
USAGE = {"codex": (None, 400, 80), "gemini": (None, 400, 80), "opencode": (0.0024, 400, 80)}


@each(SHELL_CLIS)
def test_cli_worker_edits_ticks_and_commits_in_its_worktree(repo: Path, tmp_path: Path, cli: Cli) -> None:
    wt = tmp_path / "work" / "app.dispatch" / "add-a-greeting"
    main_head = git(repo, "rev-parse", "main")
    script = Script([Conversation("Your task is `add-a-greeting`", [
        [say("I will start."), shell('pwd > where.txt && echo "$PWD" >> where.txt && echo "$DISPATCH_TASK" >> where.txt')],
        write_turn(cli),
        [shell(TICK.format(item="Create greeting.txt", subject="Add the greeting"))],
        [say("Every item is done.")],
    ])])
    with FakeModel(cli.wire, script, tmp_path / "requests.jsonl") as api:
        start(cli, api, tmp_path, "Add a greeting", "Create greeting.txt")
        exited(repo, "add-a-greeting", cli)
        requests = api.requests()
    logs = shown_logs(repo, "add-a-greeting")
    assert task_status(repo, "add-a-greeting")["state"] == "done", logs
    assert git(repo, "log", "--format=%s", "main..dispatch/add-a-greeting") == "Add the greeting\ndispatch: plan add-a-greeting"
    assert (wt / "where.txt").read_text() == f"{wt}\n{wt}\nadd-a-greeting\n"
    assert git(repo, "show", "dispatch/add-a-greeting:greeting.txt") == "hello"
    # The main checkout is untouched: no file, no commit.
    assert (git(repo, "status", "--porcelain", "--untracked-files=all"), git(repo, "rev-parse", "main")) == ("", main_head)
    data = worker_json(repo, "add-a-greeting")
    assert (data["exit_code"], data["argv"][0]) == (0, cli.name)
    (run,) = data["runs"]
    assert (run["cost_usd"], run["input_tokens"], run["output_tokens"]) == USAGE[cli.name]
    assert [r["turn"] for r in requests] == [0, 1, 2, 3]
    assert "Your task is `add-a-greeting`: Add a greeting" in str(requests[0]["body"])
    tick = "sed -i 's/- \\[ \\] Create greeting.txt/- [x] Create greeting.txt/' .dispatch/PLAN.md && git add -A && " \
           "git commit -qm 'Add the greeting'"
    where = 'pwd > where.txt && echo "$PWD" >> where.txt && echo "$DISPATCH_TASK" >> where.txt'
    events = {
        "codex": [
            "· thread started",
            "says: I will start.",
            f"command_execution: /bin/bash -c '{where}'",  # no login shell (allow_login_shell=false)
            f"file_change: add {wt / 'greeting.txt'}",
            "command_execution: /bin/bash -c \"" + tick.replace("\\", "\\\\") + "\"",  # quoted as bash reads it
            "says: Every item is done.",
            "· turn done: 400 tokens in, 80 out",
        ],
        "gemini": [
            "· init (model gemini-2.5-flash)",
            "says: I will start.",
            f"run_shell_command: {where}",
            "got: ",
            "run_shell_command: echo hello > greeting.txt",
            "got: ",
            f"run_shell_command: {tick}",
            "got: ",
            "says: Every item is done.",
            "· result: success, 400 tokens in, 80 out",
        ],
        "opencode": [
            "says: I will start.",
            f"bash: {where}",
            "got: (no output)",
            "· step done: 100 tokens in, 20 out, $0.0006",
            "bash: echo hello > greeting.txt",
            "got: (no output)",
            "· step done: 100 tokens in, 20 out, $0.0006",
            f"bash: {tick}",
            "got: (no output)",
            "· step done: 100 tokens in, 20 out, $0.0006",
            "says: Every item is done.",
            "· step done: 100 tokens in, 20 out, $0.0006",
        ],
    }[cli.name]
    assert without_banners(logs) == [f"run 1: model {cli.model} on backend {cli.name}", *events,
                                     "worker exited with code 0"]


# What the CLIs say on stderr about the machine they run on (a terminal's colours, ripgrep, a
# CODEX_HOME under /tmp); it varies with the machine, so `dispatch logs` is compared without it.
BANNERS = ("WARNING: proceeding, even though we could not create PATH aliases", "Reading additional input from stdin",
           "Warning: 256-color support not detected", "YOLO mode is enabled", "Ripgrep is not available",
           "[STARTUP] ")  # Gemini CLI's start-up profiler, when a phase ends after its metrics are taken


def without_banners(logs: list[str]) -> list[str]:
    return [line for line in logs if not line.startswith(BANNERS)]


# The CLI's own words for a model call the API refuses, as `dispatch logs` shows them.
FAILURE_LINE = {
    "codex": "· turn failed: " + '{"error": {"message": "the fake model refuses", "type": "invalid_request_error", '
             '"code": null, "param": null}}',
    "gemini": '· result: error: [API Error: {"error":{"code":400,"message":"the fake model refuses",'
              '"status":"INVALID_ARGUMENT"}}], 0 tokens in, 0 out',
    "opencode": "error: the fake model refuses",
}


@each(SHELL_CLIS)
def test_cli_worker_whose_model_call_fails_ends_failed_with_the_clis_message(repo: Path, tmp_path: Path, cli: Cli) -> None:
    script = Script([Conversation("Your task is `refused`", [[fail(400, "the fake model refuses")]])])
    with FakeModel(cli.wire, script, tmp_path / "requests.jsonl") as api:
        start(cli, api, tmp_path, "Refused", "Do anything")
        exited(repo, "refused", cli)
    logs = shown_logs(repo, "refused")
    assert task_status(repo, "refused")["state"] == "failed", logs
    assert worker_json(repo, "refused")["exit_code"] != 0
    assert FAILURE_LINE[cli.name] in logs, logs


def after_the_question(cli: Cli):  # type: ignore[no-untyped-def]
    """The model's turns after it ran `dispatch ask`, decided by the last tool output: the answer
    came (write it into greeting.txt, tick, commit); Codex says the command still runs (poll it with
    write_stdin, as a model does); anything else (the commit went through): done."""
    def turn(body: dict[str, Any]) -> list[dict[str, Any]]:
        got = tool_outputs(cli.wire, body)[-1]
        if "Hello, world" in got:
            return [shell("printf '%s\\n' 'Hello, world' > greeting.txt && "
                          + TICK.format(item="Write greeting.txt", subject="Write the greeting"))]
        running = re.search(r"Process running with session ID (\d+)", got)
        if running:
            return [call("write_stdin", session_id=int(running.group(1)), chars="", yield_time_ms=30000)]
        return [say("Every item is done.")]
    return turn


@each(SHELL_CLIS)
def test_cli_worker_asks_and_the_same_process_continues_with_the_answer(repo: Path, tmp_path: Path, cli: Cli) -> None:
    ask = 'dispatch ask "Which greeting should greeting.txt hold?"'
    script = Script([Conversation("Your task is `greet`", [
        # Codex hands a command that runs past yield_time_ms back as a session, which its model
        # polls: a short yield makes `dispatch ask` take that path, as a long wait for an answer does.
        [say("Only the user can pick the greeting."),
         shell(ask, yield_time_ms=250) if cli.name == "codex" else shell(ask)],
        *[after_the_question(cli)] * 8,
    ])])
    with FakeModel(cli.wire, script, tmp_path / "requests.jsonl") as api:
        env = start(cli, api, tmp_path, "Greet", "Write greeting.txt")
        r = dispatch("wait", "--timeout", "120", cwd=repo, env=env)
        assert (r.code, r.out) == (
            0, 'greet asks Q1: Which greeting should greeting.txt hold?\n  → dispatch answer greet "..."\n'
        ), "\n".join(shown_logs(repo, "greet"))
        pid = worker_json(repo, "greet")["pid"]
        r = dispatch("answer", "greet", "Hello, world", cwd=repo, env=env)
        assert (r.code, r.out) == (0, "answered Q1 of greet: the waiting worker continues with it\n")
        exited(repo, "greet", cli)
    assert task_status(repo, "greet")["state"] == "done", shown_logs(repo, "greet")
    data = worker_json(repo, "greet")
    assert (data["run"], data["pid"]) == (1, pid)  # the same CLI process asked and went on
    assert git(repo, "show", "dispatch/greet:greeting.txt") == "Hello, world"
    assert git(repo, "log", "--format=%s", "main..dispatch/greet") == (
        "Write the greeting\ndispatch: answer Q1\ndispatch: ask Q1\ndispatch: plan greet"
    )


# aider has no tools its model can call: the model answers in aider's "whole" edit format (each
# file it changes, in full), aider applies the edits and commits them itself.
PLAN_IN_CHAT = re.compile(r"\.dispatch/PLAN\.md\n```\n(.*?)```", re.DOTALL)
COMMIT_PROMPT = "one-line Git commit messages"


def aider_edit(item: str, mark: str, files: dict[str, str], note: str = "") -> Any:
    """A turn that marks ITEM in the plan aider put in the chat and writes FILES."""
    def turn(body: dict[str, Any]) -> list[dict[str, Any]]:
        plans = [m.group(1) for msg in body.get("messages") or [] for m in PLAN_IN_CHAT.finditer(str(msg.get("content")))]
        plan = re.sub(rf"- \[[ ?]\] {re.escape(item)}", lambda _: f"- [{mark}] {item}", plans[-1])
        if note:
            plan = plan.rstrip("\n") + f"\n- {note}\n"
        listing = "".join(f"{path}\n```\n{text}```\n\n" for path, text in {**files, ".dispatch/PLAN.md": plan}.items())
        return [say(f"Here are the changes.\n\n{listing}")]
    return turn


def aider_script(task: str, *turns: Any, resumed: list[Any] | None = None) -> Script:
    # First the commit message aider asks for: that request quotes the chat, task included.
    conversations = [Conversation(COMMIT_PROMPT, [[say("Edit as the model said")]]),
                     Conversation(f"Your task is `{task}`", list(turns))]
    if resumed is not None:
        conversations.append(Conversation(f"continuing task `{task}`", resumed))
    return Script(conversations)


def aider_tokens(logs: list[str]) -> tuple[int, int]:
    """The tokens of aider's "Tokens: 1.2k sent, 126 received." lines, added up."""
    def count(text: str) -> int:
        return round(float(text[:-1]) * 1000) if text.endswith("k") else int(text)

    found = [re.match(r"Tokens: ([0-9.]+k?) sent, ([0-9.]+k?) received\.", line) for line in logs]
    return sum(count(m.group(1)) for m in found if m), sum(count(m.group(2)) for m in found if m)


@needs(AIDER)
def test_aider_worker_edits_ticks_and_its_commits_are_kept(repo: Path, tmp_path: Path) -> None:
    cli = AIDER
    main_head = git(repo, "rev-parse", "main")
    script = aider_script("add-a-greeting", aider_edit("Create greeting.txt", "x", {"greeting.txt": "hello\n"}))
    with FakeModel(cli.wire, script, tmp_path / "requests.jsonl", aider=True) as api:
        start(cli, api, tmp_path, "Add a greeting", "Create greeting.txt")
        exited(repo, "add-a-greeting", cli)
    logs = shown_logs(repo, "add-a-greeting")
    assert task_status(repo, "add-a-greeting")["state"] == "done", logs
    assert git(repo, "log", "--format=%s", "main..dispatch/add-a-greeting") == (
        "Edit as the model said\ndispatch: plan add-a-greeting"
    ), logs
    assert git(repo, "show", "dispatch/add-a-greeting:greeting.txt") == "hello"
    wt = tmp_path / "work" / "app.dispatch" / "add-a-greeting"
    # Nothing of aider's own was left to commit: no .gitignore edit, no history, no map cache.
    assert git(repo, "ls-tree", "-r", "--name-only", "dispatch/add-a-greeting") == (
        ".dispatch/NOTES.md\n.dispatch/PLAN.md\n.dispatch/QUESTIONS.md\nREADME.md\ngreeting.txt\nsrc/app.py"
    )
    assert git(wt, "status", "--porcelain", "--ignored", "--untracked-files=all") == ""
    assert (git(repo, "status", "--porcelain", "--untracked-files=all"), git(repo, "rev-parse", "main")) == ("", main_head)
    data = worker_json(repo, "add-a-greeting")
    assert (data["exit_code"], data["argv"][0]) == (0, "aider")
    (run,) = data["runs"]
    sent, received = aider_tokens(logs)
    assert (run["cost_usd"], run["input_tokens"], run["output_tokens"]) == (None, sent, received)
    assert sent > 0 and received > 0


@needs(AIDER)
def test_aider_worker_whose_model_call_fails_ends_failed_with_its_message(repo: Path, tmp_path: Path) -> None:
    script = aider_script("refused", [fail(400, "the fake model refuses")])
    with FakeModel(AIDER.wire, script, tmp_path / "requests.jsonl", aider=True) as api:
        start(AIDER, api, tmp_path, "Refused", "Do anything")
        exited(repo, "refused", AIDER)
    logs = shown_logs(repo, "refused")
    error = "litellm.BadRequestError: OpenAIException - the fake model refuses"
    assert error in logs, logs
    assert logs[-1] == f"the worker exited with code 0 having changed nothing, after reporting: {error}"
    assert task_status(repo, "refused")["state"] == "failed", logs
    assert (worker_json(repo, "refused")["exit_code"], worker_json(repo, "refused")["failed_on"]) == (0, error)


@needs(AIDER)
def test_aider_resumed_after_an_answered_question_gets_the_answer(repo: Path, tmp_path: Path) -> None:
    wt = tmp_path / "work" / "app.dispatch" / "greet"
    question = "Which greeting should greeting.txt hold?"

    def with_the_answer(body: dict[str, Any]) -> list[dict[str, Any]]:
        text = "Hello, world" if "Hello, world" in request_text(body) else "NO ANSWER"
        return aider_edit("Write greeting.txt", "x", {"greeting.txt": text + "\n"})(body)

    script = aider_script(
        "greet", aider_edit("Write greeting.txt", "?", {}, note=f"aider — Waiting for an answer to: {question}"),
        resumed=[with_the_answer],
    )
    with FakeModel(AIDER.wire, script, tmp_path / "requests.jsonl", aider=True) as api:
        env = start(AIDER, api, tmp_path, "Greet", "Write greeting.txt")
        exited(repo, "greet", AIDER)
        assert task_status(repo, "greet")["state"] == "blocked", shown_logs(repo, "greet")
        # aider's model cannot run `dispatch ask`: the question is asked as a worker asks it, from the worktree.
        r = dispatch("ask", question, "--timeout", "0", cwd=wt, env=env)
        assert r.code == 75
        r = dispatch("answer", "greet", "--resume", "Hello, world", cwd=repo, env=env)
        assert (r.code, r.out, r.err) == (0, "answered Q1 of greet; resumed it: run 2, openai/fake-1 on aider\n", "")
        wait_for(lambda: worker_json(repo, "greet").get("run") == 2 and worker_json(repo, "greet").get("phase") == "exited",
                 timeout=120, message="aider's second run to exit")
    assert task_status(repo, "greet")["state"] == "done", shown_logs(repo, "greet")
    assert git(repo, "show", "dispatch/greet:greeting.txt") == "Hello, world"
    assert git(repo, "log", "--format=%s", "main..dispatch/greet") == (
        "Edit as the model said\ndispatch: answer Q1\ndispatch: ask Q1\nEdit as the model said\ndispatch: plan greet"
    )
