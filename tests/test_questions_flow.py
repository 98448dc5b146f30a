"""Questions end to end: a worker asks and keeps its context, the host is woken, the answer reaches it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from claude_cli import INSTALL_HINT, claude_env, find_claude
from conftest import FAST, dispatch, events, git, state_is, task_status, wait_for, worker_json
from fake_anthropic import (
    Conversation,
    FakeAnthropic,
    Script,
    read_log,
    text,
    tool_results,
    tool_use,
)

FALLBACK = (
    "Mark the current item `[?]` with the question, write what you know under \"Notes from the dispatcher\" "
    "in .dispatch/PLAN.md, commit, and stop: the dispatcher will answer and resume the task"
)


_started: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def reap_started() -> Iterator[None]:
    """A test that fails half-way leaves no `wait` or `ask` of its own running."""
    yield
    while _started:
        proc = _started.pop()
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def start(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start the real `dispatch` as a separate process and return at once."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "dispatch", *args], cwd=cwd, env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    _started.append(proc)
    return proc


def finish(proc: subprocess.Popen[str], timeout: float = 60) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def worktree(tmp_path: Path, task_id: str) -> Path:
    return tmp_path / "work" / "app.dispatch" / task_id


def subjects(repo: Path, task_id: str) -> str:
    return git(repo, "log", "--format=%s", f"main..dispatch/{task_id}")


def open_numbers(repo: Path) -> list[tuple[str, int]]:
    r = dispatch("questions", "--json", cwd=repo)
    assert r.code == 0, r.err
    return [(q["task"], q["number"]) for q in json.loads(r.out)["questions"]]


def test_worker_asks_host_is_woken_and_the_same_worker_finishes_with_the_answer(repo: Path, tmp_path: Path) -> None:
    r = dispatch(
        "new", "Paint", "--model", "scripted", "--item", "Write `color.txt` (ask: Which color?)",
        "--item", "Write `done.txt`", cwd=repo, env=FAST,
    )
    assert r.code == 0, r.err
    waiter = start("wait", cwd=repo)  # most likely before the question exists
    assert finish(waiter) == (0, 'paint asks Q1: Which color?\n  → dispatch answer paint "..."\n', "")
    wait_for(state_is(repo, "paint", "asking"), message="paint to be asking")
    pid = worker_json(repo, "paint")["pid"]

    r = dispatch("questions", cwd=repo)
    assert (r.code, r.err) == (0, "")
    assert r.out == "TASK   Q   AGE  QUESTION\npaint  Q1  0s   Which color?\n"
    r = dispatch("questions", "--json", cwd=repo)
    assert json.loads(r.out) == {"version": 1, "questions": [
        {"task": "paint", "number": 1, "text": "Which color?", "asked": "2026-11-23T11:00:00Z"},
    ]}
    wt = worktree(tmp_path, "paint")
    asked_file = (wt / ".dispatch" / "QUESTIONS.md").read_text()
    assert asked_file == textwrap.dedent("""\
        # Questions from the worker

        Asked with `dispatch ask "..."`; answered with `dispatch answer paint "..."`.

        ## Q1 — open
        asked: 2026-11-23T11:00:00Z

        > Which color?
        """)

    r = dispatch("answer", "paint", "Blue, the dark one", cwd=repo)
    assert (r.code, r.out, r.err) == (0, "answered Q1 of paint: the waiting worker continues with it\n", "")
    wait_for(state_is(repo, "paint", "done"), message="paint to be done")
    # The supervisor records the exit, then appends its event: wait for the event, not the state.
    wait_for(lambda: any(e["kind"] == "exited" for e in events(repo)), message="paint's exited event")

    data = worker_json(repo, "paint")
    assert (data["pid"], data["run"], data["exit_code"]) == (pid, 1, 0)  # the same worker, still in its first run
    assert subjects(repo, "paint") == (
        "Write `done.txt`\nWrite `color.txt`\ndispatch: answer Q1\ndispatch: ask Q1\ndispatch: plan paint"
    )
    assert git(repo, "show", "dispatch/paint:color.txt") == "Write `color.txt`\n\nAnswer: Blue, the dark one"
    assert git(repo, "show", "--format=", "--name-only", "dispatch/paint~3") == ".dispatch/QUESTIONS.md"
    assert git(repo, "show", "--format=", "--name-only", "dispatch/paint~2") == ".dispatch/QUESTIONS.md"
    assert git(repo, "show", "dispatch/paint~3:.dispatch/QUESTIONS.md") + "\n" == asked_file
    assert git(repo, "show", "dispatch/paint~2:.dispatch/QUESTIONS.md") + "\n" == asked_file.replace(
        "## Q1 — open\nasked: 2026-11-23T11:00:00Z\n",
        "## Q1 — answered\nasked: 2026-11-23T11:00:00Z\nanswered: 2026-11-23T11:00:00Z\n",
    ) + "\n### Answer\n\n> Blue, the dark one\n"
    assert git(wt, "status", "--porcelain") == ""
    log = dispatch("logs", "paint", cwd=repo).out
    assert "asking: Which color?\nanswer: Blue, the dark one\ndone: Write `color.txt`\n" in log

    # The supervisor tells the events log after worker.json (which makes the state `done`).
    wait_for(lambda: events(repo)[-1]["kind"] == "exited", message="the exited event")
    assert [(e["task"], e["kind"]) for e in events(repo)] == [
        ("paint", "created"), ("paint", "started"), ("paint", "question"), ("paint", "answered"), ("paint", "exited"),
    ]
    question, answered, exited = events(repo)[2:]
    assert question == {"time": "2026-11-23T11:00:00Z", "task": "paint", "kind": "question", "number": 1,
                        "text": "Which color?", "asked": "2026-11-23T11:00:00Z"}
    assert answered == {"time": "2026-11-23T11:00:00Z", "task": "paint", "kind": "answered", "number": 1}
    assert (exited["code"], exited["state"], exited["run"]) == (0, "done", 1)

    r = dispatch("wait", "--timeout", "30", cwd=repo)
    assert (r.code, r.out, r.err) == (0, "paint finished: every item is done\n  → dispatch review paint\n", "")


def test_ask_by_hand_leaves_the_workers_uncommitted_changes_as_they_were(repo: Path, tmp_path: Path) -> None:
    assert dispatch("new", "Refactor", "--no-start", "--item", "Tidy the app", cwd=repo).code == 0
    wt = worktree(tmp_path, "refactor")
    (wt / "staged.py").write_text("staged = 1\n")
    git(wt, "add", "staged.py")
    (wt / "src" / "app.py").write_text("def main():\n    return 2\n")  # unstaged
    (wt / "both.py").write_text("v = 1\n")
    git(wt, "add", "both.py")
    (wt / "both.py").write_text("v = 2\n")  # staged, then changed again
    (wt / "new.txt").write_text("untracked\n")

    def changes() -> dict[str, str]:
        return {
            "status": git(wt, "status", "--porcelain"), "staged": git(wt, "diff", "--cached"),
            "unstaged": git(wt, "diff"), "untracked": (wt / "new.txt").read_text(),
        }

    before = changes()
    assert before["status"] == "AM both.py\n M src/app.py\nA  staged.py\n?? new.txt"
    asker = start("ask", "Keep the old name?", cwd=wt / "src")  # the task is the worktree it runs in
    wait_for(lambda: open_numbers(repo) == [("refactor", 1)], message="the question")
    wait_for(lambda: subjects(repo, "refactor").startswith("dispatch: ask Q1"), message="the ask commit")
    assert git(wt, "show", "--format=", "--name-only", "HEAD") == ".dispatch/QUESTIONS.md"
    assert changes() == before

    r = dispatch("answer", "refactor", "Yes", cwd=repo)
    assert (r.code, r.out) == (0, "answered Q1 of refactor: the waiting worker continues with it\n")
    assert finish(asker) == (0, "Yes\n", "")
    assert subjects(repo, "refactor") == "dispatch: answer Q1\ndispatch: ask Q1\ndispatch: plan refactor"
    assert git(wt, "show", "--format=", "--name-only", "HEAD") == ".dispatch/QUESTIONS.md"
    assert changes() == before


def test_second_ask_is_refused_and_tasks_are_independent(repo: Path, tmp_path: Path) -> None:
    for task_id in ("north", "south"):
        r = dispatch("new", task_id.title(), "--model", "scripted", "--item", f"Write `{task_id}.txt` (ask: Which way?)",
                     cwd=repo, env=FAST)
        assert r.code == 0, r.err
    wait_for(lambda: open_numbers(repo) in ([("north", 1), ("south", 1)], [("south", 1), ("north", 1)]),
             message="both questions")
    r = dispatch("ask", "Another one?", "--task", "north", cwd=repo)
    assert (r.code, r.out, r.err) == (
        1, "", "dispatch: Q1 of task `north` is still open: wait for its answer before asking again\n"
    )
    r = dispatch("ask", "Another one?", cwd=worktree(tmp_path, "south"), env={"DISPATCH_TASK": "south"})
    assert (r.code, r.err) == (1, "dispatch: Q1 of task `south` is still open: wait for its answer before asking again\n")

    assert dispatch("answer", "south", "Down", cwd=repo).code == 0
    wait_for(state_is(repo, "south", "done"), message="south to be done")
    assert task_status(repo, "north")["state"] == "asking"
    assert open_numbers(repo) == [("north", 1)]
    assert dispatch("answer", "north", "Up", cwd=repo).code == 0
    wait_for(state_is(repo, "north", "done"), message="north to be done")
    assert git(repo, "show", "dispatch/north:north.txt") == "Write `north.txt`\n\nAnswer: Up"
    assert git(repo, "show", "dispatch/south:south.txt") == "Write `south.txt`\n\nAnswer: Down"
    for task_id in ("north", "south"):
        assert subjects(repo, task_id) == (
            f"Write `{task_id}.txt`\ndispatch: answer Q1\ndispatch: ask Q1\ndispatch: plan {task_id}"
        )


def test_ask_timeout_exits_75_with_the_fallback(repo: Path, tmp_path: Path) -> None:
    assert dispatch("new", "Lonely", "--no-start", cwd=repo).code == 0
    r = dispatch("ask", "Anyone there?", "--timeout", "1", cwd=worktree(tmp_path, "lonely"))
    assert (r.code, r.out) == (75, "")
    assert r.err == f"dispatch: no answer to Q1 within 1s. {FALLBACK}\n"
    assert open_numbers(repo) == [("lonely", 1)]  # still open: the dispatcher answers it later
    assert subjects(repo, "lonely") == "dispatch: ask Q1\ndispatch: plan lonely"


CLAUDE = find_claude()

# The fake model's second turn: write the tool_result its first call (`dispatch ask`) got into greeting.txt.
# The request log is appended right after the response, so the command waits for its line.
RECORD_ANSWER = """\
import json, sys, time
for _ in range(200):
    asks = [e for e in map(json.loads, open(sys.argv[1])) if e.get("kind") == "agent" and e.get("turn") == 1]
    if asks:
        break
    time.sleep(0.05)
result = [b for m in asks[0]["body"]["messages"] if isinstance(m.get("content"), list) for b in m["content"]
          if b.get("type") == "tool_result"][-1]["content"]
text = result if isinstance(result, str) else "".join(b.get("text", "") for b in result)
open("greeting.txt", "w").write(text + "\\n")
"""


@pytest.mark.skipif(CLAUDE is None, reason=f"SKIPPED LOUDLY: the Claude Code CLI is missing: {INSTALL_HINT}")
def test_claude_worker_asks_through_dispatch_ask_and_continues_with_the_answer(repo: Path, tmp_path: Path) -> None:
    assert CLAUDE is not None
    # In the home folder: a confined worker has a /tmp of its own, where the test's files are not.
    helper = tmp_path / "home" / "record_answer.py"
    helper.write_text(RECORD_ANSWER)
    log = tmp_path / "home" / "requests.jsonl"
    script = Script([Conversation(match="Your task is `greet`", turns=[
        [text("Only the user can pick the greeting."), tool_use("Bash", {
            "command": 'dispatch ask "Which greeting should greeting.txt hold?"', "timeout": 120000,
        })],
        [tool_use("Bash", {
            "command": f"python3 {helper} {log} && sed -i 's/- \\[ \\] Write greeting.txt/- [x] Write greeting.txt/'"
                       " .dispatch/PLAN.md && git add -A && git commit -qm 'Write the greeting'",
        })],
        [text("Every item is done.")],
    ])])
    with FakeAnthropic(script, log) as api:
        env = claude_env(api.base_url, str(tmp_path / "home"))
        env["PATH"] = os.pathsep.join([str(Path(CLAUDE).parent), env["PATH"]])
        r = dispatch("new", "Greet", "--model", "sonnet", "--item", "Write greeting.txt", cwd=repo, env=env)
        assert r.code == 0, r.err
        r = dispatch("wait", "--timeout", "90", cwd=repo)
        assert (r.code, r.out) == (
            0, 'greet asks Q1: Which greeting should greeting.txt hold?\n  → dispatch answer greet "..."\n'
        ), dispatch("logs", "greet", cwd=repo).out
        assert task_status(repo, "greet")["state"] == "asking"
        r = dispatch("answer", "greet", "Hello, world", cwd=repo)
        assert (r.code, r.out) == (0, "answered Q1 of greet: the waiting worker continues with it\n")
        wait_for(lambda: worker_json(repo, "greet").get("phase") == "exited", timeout=90, message="claude to finish")
    assert task_status(repo, "greet")["state"] == "done", dispatch("logs", "greet", cwd=repo).out
    requests = [e for e in read_log(log) if e["kind"] == "agent"]
    assert len(requests) == 3
    results = tool_results(requests[1]["body"])
    assert [(r.get("is_error", False), r["content"]) for r in results] == [(False, "Hello, world")]
    assert subjects(repo, "greet") == "Write the greeting\ndispatch: answer Q1\ndispatch: ask Q1\ndispatch: plan greet"
    assert git(repo, "show", "dispatch/greet:greeting.txt") == "Hello, world"
    assert worker_json(repo, "greet")["run"] == 1


def test_worker_falls_back_on_timeout_and_answer_resume_finishes_it(repo: Path, tmp_path: Path) -> None:
    config = tmp_path / "home" / ".config" / "dispatch" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("ask_timeout = 1\n")
    questions = {"tabs": "Tabs or spaces?", "quotes": "Single or double quotes?"}
    for task_id, question in questions.items():
        r = dispatch("new", task_id.title(), "--model", "scripted", "--item", f"Write `{task_id}.txt` (ask: {question})",
                     "--item", f"Write `{task_id}-2.txt`", cwd=repo, env=FAST)
        assert r.code == 0, r.err
    for task_id in questions:
        wait_for(lambda t=task_id: worker_json(repo, t).get("phase") == "exited", message=f"{task_id}'s worker to stop")
    for task_id, question in questions.items():
        status = task_status(repo, task_id)
        assert (status["state"], status["plan"], status["worker"]["exit_code"]) == (
            "blocked", {"done": 0, "total": 2, "blocked": 1, "failed": 0}, 0
        )
        plan = (worktree(tmp_path, task_id) / ".dispatch" / "PLAN.md").read_text()
        assert plan.split("\n---\n", 1)[1] == textwrap.dedent(f"""\
            # {task_id.title()}

            ## Checklist
            - [?] Write `{task_id}.txt` (ask: {question})
            - [ ] Write `{task_id}-2.txt`

            ## Notes from the dispatcher
            - scripted worker — Waiting for an answer to: {question}
            """)
        assert subjects(repo, task_id) == f"Blocked on a question: {question}\ndispatch: ask Q1\ndispatch: plan {task_id}"
        assert git(worktree(tmp_path, task_id), "status", "--porcelain") == ""

    r = dispatch("answer", "tabs", "--resume", "Spaces", cwd=repo, env=FAST)
    assert (r.code, r.out, r.err) == (0, "answered Q1 of tabs; resumed it: run 2, scripted on scripted\n", "")
    r = dispatch("answer", "quotes", "Double", cwd=repo)
    assert (r.code, r.out, r.err) == (
        0, "answered Q1 of quotes; no worker is running: `dispatch resume quotes` continues with the answer\n", ""
    )
    assert dispatch("resume", "quotes", cwd=repo, env=FAST).code == 0
    for task_id, answer in (("tabs", "Spaces"), ("quotes", "Double")):
        wait_for(state_is(repo, task_id, "done"), message=f"{task_id} to be done")
        assert worker_json(repo, task_id)["run"] == 2
        assert git(repo, "show", f"dispatch/{task_id}:{task_id}.txt") == f"Write `{task_id}.txt`\n\nAnswer: {answer}"
        assert subjects(repo, task_id) == (
            f"Write `{task_id}-2.txt`\nWrite `{task_id}.txt`\ndispatch: answer Q1\n"
            f"Blocked on a question: {questions[task_id]}\ndispatch: ask Q1\ndispatch: plan {task_id}"
        )


def test_answer_resume_queues_when_every_worker_slot_is_taken(repo: Path, tmp_path: Path) -> None:
    config = tmp_path / "home" / ".config" / "dispatch" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("max_running = 1\n")
    assert dispatch("new", "Busy", "--model", "scripted", "--item", "Write `busy.txt` (hang)", cwd=repo, env=FAST).code == 0
    assert dispatch("new", "Later", "--model", "scripted", "--no-start", "--item", "Write `later.txt`", cwd=repo).code == 0
    wait_for(lambda: (worktree(tmp_path, "busy") / "busy.txt").exists(), message="busy to be working")
    assert dispatch("ask", "Go on?", "--timeout", "0", cwd=worktree(tmp_path, "later")).code == 75
    r = dispatch("answer", "later", "--resume", "Yes", cwd=repo, env=FAST)
    assert (r.code, r.out, r.err) == (
        0, "answered Q1 of later; queued it: it starts when a worker slot is free (max_running)\n", ""
    )
    assert dispatch("stop", "busy", cwd=repo).code == 0
    wait_for(state_is(repo, "later", "done"), message="later to start from the queue and finish")


def test_answer_without_a_waiting_worker(repo: Path, tmp_path: Path) -> None:
    assert dispatch("new", "Later", "--no-start", cwd=repo).code == 0
    wt = worktree(tmp_path, "later")
    assert dispatch("ask", "First?", "--timeout", "0", cwd=wt).code == 75
    r = dispatch("answer", "later", "-q", "1", "-", input="Use the second one,\n\nnot the first.\n", cwd=repo)
    assert (r.code, r.out, r.err) == (
        0, "answered Q1 of later; no worker is running: `dispatch resume later` continues with the answer\n", ""
    )
    assert dispatch("ask", "Second?", "--timeout", "0", cwd=wt).code == 75
    r = dispatch("answer", "later", "--question", "1", "Again", cwd=repo)
    assert (r.code, r.out, r.err) == (
        1, "", "dispatch: question 1 in task later is already answered: see `dispatch questions later`\n"
    )
    r = dispatch("answer", "later", "-q", "3", "Again", cwd=repo)
    assert (r.code, r.err) == (1, "dispatch: no question 3 in task later: see `dispatch questions later`\n")
    r = dispatch("questions", "later", cwd=repo)
    assert (r.code, r.out) == (0, "TASK   Q   AGE  QUESTION\nlater  Q2  0s   Second?\n")
    assert dispatch("answer", "later", "-q", "2", "Yes", cwd=repo).code == 0
    r = dispatch("answer", "later", "More", cwd=repo)
    assert (r.code, r.out, r.err) == (
        1, "", "dispatch: task `later` has no open question: `dispatch show later` lists its questions\n"
    )
    assert (dispatch("questions", "later", cwd=repo).out, dispatch("questions", cwd=repo).out) == (
        "no open questions\n", "no open questions\n"
    )
    r = dispatch("answer", "nowhere", "Yes", cwd=repo)
    assert (r.code, r.err) == (1, "dispatch: no task `nowhere`: `dispatch status` lists the tasks\n")
    # Nobody waited: `answer` committed each answer itself.
    assert subjects(repo, "later") == (
        "dispatch: answer Q2\ndispatch: ask Q2\ndispatch: answer Q1\ndispatch: ask Q1\ndispatch: plan later"
    )
    assert git(wt, "status", "--porcelain") == ""
    assert (wt / ".dispatch" / "QUESTIONS.md").read_text() == textwrap.dedent("""\
        # Questions from the worker

        Asked with `dispatch ask "..."`; answered with `dispatch answer later "..."`.

        ## Q1 — answered
        asked: 2026-11-23T11:00:00Z
        answered: 2026-11-23T11:00:00Z

        > First?

        ### Answer

        > Use the second one,
        >
        > not the first.

        ## Q2 — answered
        asked: 2026-11-23T11:00:00Z
        answered: 2026-11-23T11:00:00Z

        > Second?

        ### Answer

        > Yes
        """)


def test_events_since_and_json(repo: Path, tmp_path: Path) -> None:
    assert dispatch("new", "Logged", "--no-start", cwd=repo).code == 0
    assert dispatch("ask", "Why?", "--timeout", "0", cwd=worktree(tmp_path, "logged")).code == 75
    later = {"DISPATCH_NOW": "2026-11-23T12:00:00Z"}
    assert dispatch("answer", "logged", "Because", cwd=repo, env=later).code == 0
    r = dispatch("events", cwd=repo)
    assert (r.code, r.err) == (0, "")
    assert r.out == (
        "2026-11-23T11:00:00Z  logged  created  base=main\n"
        "2026-11-23T11:00:00Z  logged  question  asked=2026-11-23T11:00:00Z number=1 text=Why?\n"
        "2026-11-23T12:00:00Z  logged  answered  number=1\n"
    )
    assert dispatch("events", "--since", "30m", cwd=repo, env=later).out == (
        "2026-11-23T12:00:00Z  logged  answered  number=1\n"
    )
    assert dispatch("events", "--since", "1h", cwd=repo, env=later).out == r.out
    assert dispatch("events", "--since", "2026-11-23T11:30:00Z", cwd=repo).out == (
        "2026-11-23T12:00:00Z  logged  answered  number=1\n"
    )
    assert dispatch("events", "--since", "2026-11-23T13:00:00Z", cwd=repo).out == ""
    r = dispatch("events", "--since", "2026-11-23T11:30:00Z", "--json", cwd=repo)
    assert json.loads(r.out) == {"version": 1, "events": [
        {"time": "2026-11-23T12:00:00Z", "task": "logged", "kind": "answered", "number": 1},
    ]}
    r = dispatch("events", "--since", "yesterday", cwd=repo)
    assert (r.code, r.out, r.err) == (
        1, "", "dispatch: --since 'yesterday' is neither a time (2026-11-23T10:00:00Z) nor an age (30m, 2h, 1d)\n"
    )


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_an_ask_stopped_while_it_waits_leaves_nothing_behind(repo: Path, tmp_path: Path, signum: int) -> None:
    """The answer's commit is prepared while the ask waits (a temporary index in the worktree's git folder):
    stopped meanwhile, the ask removes it and ends its marker on its way out."""
    assert dispatch("new", "Refactor", "--no-start", "--item", "Tidy the app", cwd=repo).code == 0
    wt = worktree(tmp_path, "refactor")
    admin = Path(git(wt, "rev-parse", "--absolute-git-dir"))
    asker = start("ask", "Keep the old name?", cwd=wt)
    marker = repo / ".git" / "dispatch" / "tasks" / "refactor" / "asking" / "ask.json"
    # The marker is written once the question is committed: an index then is the answer's, prepared.
    wait_for(lambda: marker.exists() and list(admin.glob("commit-*.index")), message="the answer's commit prepared")
    asker.send_signal(signum)
    assert finish(asker) == (128 + signum, "", "")
    assert list(admin.glob("commit-*.index")) == []
    left = json.loads(marker.read_text())
    assert (left["pid"], left["number"]) == (None, 1)
    assert open_numbers(repo) == [("refactor", 1)]  # the question stays open, for the dispatcher to answer
