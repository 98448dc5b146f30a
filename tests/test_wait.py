"""`dispatch wait`: the host's monitor; per-consumer cursors, kills and restarts, many tasks at once."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from conftest import FAST, dispatch, state_is, wait_for
from test_questions_flow import finish, reap_started, start, worktree  # noqa: F401 - reap_started: autouse


def nothing_within(seconds: str) -> str:
    return f"dispatch: nothing new within {seconds}s: run `dispatch wait` again to keep waiting\n"


def asks(task_id: str, n: int, question: str) -> str:
    return f'{task_id} asks Q{n}: {question}\n  → dispatch answer {task_id} "..."\n'


def finished(task_id: str) -> str:
    return f"{task_id} finished: every item is done\n  → dispatch review {task_id}\n"


def ask_and_give_up(tmp_path: Path, task_id: str, question: str) -> None:
    """Leave an open question in TASK_ID, as a worker whose ask timed out does."""
    r = dispatch("ask", question, "--timeout", "0", cwd=worktree(tmp_path, task_id))
    assert r.code == 75, r.err


def nothing_new(repo: Path, *args: str) -> bool:
    """Nothing is pending for the consumer, and news may still come: `wait` looks once and times out (exit 124)."""
    r = dispatch("wait", "--timeout", "0", *args, cwd=repo)
    assert (r.code, r.out, r.err) == (124, "", nothing_within("0"))
    return True


NOTHING_LEFT = ("dispatch: nothing to wait for: no worker runs or is queued and no question is open; "
                "`dispatch status` says what needs you\n")


def nothing_left(repo: Path, *args: str) -> bool:
    """Nothing is pending and nothing can bring news: `wait` says so at once (exit 69), whatever its time-out."""
    r = dispatch("wait", *args, cwd=repo)
    whose = [a for a in args if not a.startswith("-") and a not in ("host", "monitor", "late")]
    message = NOTHING_LEFT.replace("; `", f" for {', '.join(whose)}; `") if whose else NOTHING_LEFT
    assert (r.code, r.out, r.err) == (69, "", message)
    return True


def run_to_done(repo: Path, *task_ids: str) -> None:
    for task_id in task_ids:
        r = dispatch("new", task_id.title(), "--model", "scripted", "--item", f"Write `{task_id}.txt`", cwd=repo, env=FAST)
        assert r.code == 0, r.err
    # Reading the log, not running `dispatch status` every poll: on a small machine the polls slow the workers.
    for task_id in task_ids:
        wait_for(lambda t=task_id: any(e.get("kind") == "exited" and e["task"] == t for e in log(repo)),
                 message=f"{task_id} to end")


def wait_out(repo: Path, *args: str) -> str:
    """What `dispatch wait` reports (a time-out, rather than a hang, when a test is wrong)."""
    r = dispatch("wait", "--timeout", "60", *args, cwd=repo)
    assert (r.code, r.err) == (0, "")
    return r.out


def log(repo: Path) -> list[dict]:
    path = repo / ".git" / "dispatch" / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_wait_returns_at_once_when_news_is_pending_and_never_repeats_it(repo: Path, tmp_path: Path) -> None:
    assert nothing_left(repo)  # no events log at all yet
    assert dispatch("new", "Alpha", "--no-start", cwd=repo).code == 0
    ask_and_give_up(tmp_path, "alpha", "Which database?\nPostgres or SQLite.")
    r = dispatch("wait", "--timeout", "0", cwd=repo)  # pending already: reported without waiting
    assert (r.code, r.out, r.err) == (0, asks("alpha", 1, "Which database?"), "")
    assert nothing_new(repo)
    assert dispatch("answer", "alpha", "SQLite", cwd=repo).code == 0
    ask_and_give_up(tmp_path, "alpha", "Which version?")
    assert wait_out(repo) == asks("alpha", 2, "Which version?")
    assert nothing_new(repo)


def test_killed_wait_is_restarted_without_losing_or_repeating_anything(repo: Path, tmp_path: Path) -> None:
    assert dispatch("new", "Alpha", "--no-start", cwd=repo).code == 0
    cursor = repo / ".git" / "dispatch" / "consumers" / "host.json"
    waiter = start("wait", "--consumer", "host", cwd=repo)
    wait_for(cursor.exists, message="wait to read the log")  # it has read `created`, found nothing, and waits
    os.kill(waiter.pid, signal.SIGKILL)
    # No worker runs or is queued, so `wait` may say there is nothing to wait for (exit 69, 17.11) before the
    # kill lands; either way it told nothing, and nothing below may be lost or repeated.
    assert finish(waiter)[:2] in ((-signal.SIGKILL, ""), (69, ""))

    # News while nobody waits: a question, and a worker that finishes.
    ask_and_give_up(tmp_path, "alpha", "Which port?")
    run_to_done(repo, "beta")
    assert wait_out(repo, "--consumer", "host") == asks("alpha", 1, "Which port?") + finished("beta")
    assert nothing_new(repo, "--consumer", "host")

    # Killed while waiting again: the next one still gets what came after.
    waiter = start("wait", "--consumer", "host", cwd=repo)
    assert dispatch("answer", "alpha", "8080", cwd=repo).code == 0  # an answer is not news
    os.kill(waiter.pid, signal.SIGKILL)
    finish(waiter)
    ask_and_give_up(tmp_path, "alpha", "Which host?")
    assert wait_out(repo, "--consumer", "host") == asks("alpha", 2, "Which host?")
    assert nothing_new(repo, "--consumer", "host")


def test_two_consumers_are_each_told_everything_once(repo: Path) -> None:
    r = dispatch("new", "Gamma", "--model", "scripted", "--item", "Write `g.txt` (ask: Which name?)", cwd=repo, env=FAST)
    assert r.code == 0, r.err
    host, monitor = start("wait", "--consumer", "host", cwd=repo), start("wait", "--consumer", "monitor", cwd=repo)
    assert finish(host) == finish(monitor) == (0, asks("gamma", 1, "Which name?"), "")
    assert dispatch("answer", "gamma", "Gamma", cwd=repo).code == 0
    wait_for(state_is(repo, "gamma", "done"), message="gamma to be done")
    for consumer in ("host", "monitor"):
        assert wait_out(repo, "--consumer", consumer) == finished("gamma")
        assert nothing_left(repo, "--consumer", consumer)
    # A new consumer is told everything still worth telling: the question is answered, the finish is not stale.
    assert wait_out(repo, "--consumer", "late") == finished("gamma")


def test_open_question_whose_event_was_lost_is_still_reported(repo: Path, tmp_path: Path) -> None:
    assert dispatch("new", "Alpha", "--no-start", cwd=repo).code == 0
    assert nothing_left(repo)
    ask_and_give_up(tmp_path, "alpha", "Which port?")
    events = repo / ".git" / "dispatch" / "events.jsonl"
    lines = events.read_text().splitlines(keepends=True)
    assert [json.loads(line)["kind"] for line in lines] == ["created", "question"]
    events.write_text(lines[0])  # as if the ask crashed between its commit and its event
    assert wait_out(repo) == asks("alpha", 1, "Which port?")
    assert nothing_new(repo)

    # The log edited under a cursor (lines before it removed): later news still comes, once.
    run_to_done(repo, "beta")
    assert wait_out(repo) == finished("beta")
    run_to_done(repo, "gamma")
    events.write_text("".join(line for line in events.read_text().splitlines(keepends=True) if '"beta"' not in line))
    assert wait_out(repo) == finished("gamma")
    assert nothing_new(repo)


def test_wait_for_some_tasks_leaves_the_others_news_for_later(repo: Path) -> None:
    run_to_done(repo, "alpha", "beta")
    assert wait_out(repo, "beta") == finished("beta")
    assert nothing_left(repo, "beta")
    assert wait_out(repo) == finished("alpha")
    assert nothing_left(repo)
    r = dispatch("wait", "nowhere", cwd=repo)
    assert (r.code, r.out, r.err) == (1, "", "dispatch: no task `nowhere`: `dispatch status` lists the tasks\n")


def test_wait_json(repo: Path, tmp_path: Path) -> None:
    assert dispatch("new", "Alpha", "--no-start", cwd=repo).code == 0
    ask_and_give_up(tmp_path, "alpha", "Which port?\nThe old one is taken.")
    run_to_done(repo, "beta")
    assert json.loads(wait_out(repo, "--json")) == {"version": 1, "items": [
        {"key": "q:alpha:1:2026-11-23T11:00:00Z", "kind": "question", "task": "alpha", "text": "asks Q1: Which port?",
         "command": 'dispatch answer alpha "..."', "number": 1, "question": "Which port?\nThe old one is taken."},
        {"key": "x:beta:1:2026-11-23T11:00:00Z", "kind": "done", "task": "beta", "text": "finished: every item is done",
         "command": "dispatch review beta", "code": 0},
    ]}
    r = dispatch("wait", "--json", "--timeout", "0", cwd=repo)
    assert (r.code, r.out) == (124, "")


def test_ten_tasks_asking_at_once(repo: Path, tmp_path: Path) -> None:
    config = tmp_path / "home" / ".config" / "dispatch" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("max_running = 10\n")  # all ten at once, whatever this machine's CPU count
    ids = [f"task-{i}" for i in range(10)]
    for task_id in ids:
        r = dispatch("new", task_id, "--model", "scripted", "--item", f"Write `{task_id}.txt` (ask: Name for {task_id}?)",
                     cwd=repo, env=FAST)
        assert r.code == 0, r.err

    def consume(count: int) -> list[str]:
        """One host's loop: rerun `wait` until COUNT items came; every line pair as reported."""
        told: list[str] = []
        while len(told) < count:
            lines = wait_out(repo, "--consumer", "host").splitlines(keepends=True)
            told += ["".join(lines[i : i + 2]) for i in range(0, len(lines), 2)]
        return told

    assert sorted(consume(10)) == sorted(asks(task_id, 1, f"Name for {task_id}?") for task_id in ids)
    for task_id in ids:
        r = dispatch("answer", task_id, f"{task_id} it is", cwd=repo)
        assert (r.code, r.out) == (0, f"answered Q1 of {task_id}: the waiting worker continues with it\n")
    assert sorted(consume(10)) == sorted(finished(task_id) for task_id in ids)
    r = dispatch("status", "--json", cwd=repo)
    assert sorted((t["id"], t["state"]) for t in json.loads(r.out)["tasks"]) == [(task_id, "done") for task_id in ids]
    assert nothing_left(repo, "--consumer", "host")


def test_each_piece_of_news_once_with_one_command(repo: Path, tmp_path: Path) -> None:
    """Two runs that both finish are one finish; a question its worker stopped waiting for is one item."""
    run_to_done(repo, "alpha")
    assert dispatch("resume", "alpha", cwd=repo, env=FAST).code == 0
    wait_for(lambda: sum(e["kind"] == "exited" for e in log(repo)) == 2, message="the second run to end")
    assert wait_out(repo) == finished("alpha")

    config = tmp_path / "home" / ".config" / "dispatch" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("ask_timeout = 1\n")
    r = dispatch("new", "Licensed", "--model", "scripted", "--item", "Write `l.txt` (ask: Which license?)", cwd=repo,
                 env=FAST)
    assert r.code == 0, r.err
    wait_for(lambda: any(e["kind"] == "exited" and e["task"] == "licensed" for e in log(repo)),
             message="the worker to stop waiting")
    assert wait_out(repo) == (
        "licensed asks Q1: Which license? (its worker stopped waiting)\n"
        '  → dispatch answer licensed --resume "..."\n'
    )
    assert nothing_new(repo)  # the question is still open: its answer may start a worker


def test_wait_with_nothing_to_wait_for_says_so_at_once(repo: Path) -> None:
    assert dispatch("new", "Idle", "--no-start", cwd=repo).code == 0
    run_to_done(repo, "beta")
    assert wait_out(repo) == finished("beta")
    r = dispatch("wait", cwd=repo)  # no time-out: without the check it would block for ever
    assert (r.code, r.out, r.err) == (69, "", NOTHING_LEFT)
    r = dispatch("wait", "idle", "--json", cwd=repo)
    assert (r.code, r.out, r.err) == (69, "", (
        "dispatch: nothing to wait for: no worker runs or is queued and no question is open for idle; "
        "`dispatch status` says what needs you\n"
    ))
