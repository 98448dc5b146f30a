"""Time and cost per task: recorded per worker run, read from what the CLI reports; a budget stops a worker."""

from __future__ import annotations

import textwrap
from pathlib import Path

from conftest import FAST, dispatch, git, task_status, wait_for, worker_json

from dispatch.task.usage import parse_usage, totals


def test_a_worker_past_its_time_budget_is_stopped_and_its_work_saved(repo: Path, tmp_path: Path) -> None:
    r = dispatch("new", "Slowpoke", "--model", "scripted", "--item", "Write `s.txt` (hang)", "--budget-time", "1",
                 cwd=repo, env=FAST)
    assert r.code == 0, r.err
    wait_for(lambda: worker_json(repo, "slowpoke").get("phase") == "exited", message="the budget to stop it")
    data = worker_json(repo, "slowpoke")
    assert (data["stopped"], data["reason"], data["budget"]) == (True, "it used its time budget of 1s", {"time": 1.0})
    assert len(data["runs"]) == 1 and data["runs"][0]["seconds"] >= 1.0
    assert git(repo, "log", "-1", "--format=%s", "dispatch/slowpoke") == "dispatch: save uncommitted work (worker exit -15)"
    status = task_status(repo, "slowpoke")
    assert (status["state"], status["cost_usd"], status["tokens"]) == ("stopped", None, None)
    assert status["seconds"] >= 1.0
    log = dispatch("logs", "slowpoke", cwd=repo).out
    assert "] the task used its time budget of 1s: stopping the worker\n" in log
    r = dispatch("resume", "slowpoke", cwd=repo)
    assert (r.code, r.err) == (1, (
        "dispatch: task `slowpoke` has used its time budget (1s): raise it, say to 2s: "
        "`dispatch resume slowpoke --budget-time 2`\n"
    ))
    r = dispatch("resume", "slowpoke", "--budget-time", "60", cwd=repo, env=FAST)
    assert r.code == 0, r.err
    assert worker_json(repo, "slowpoke")["budget"] == {"time": 60.0}
    dispatch("stop", "slowpoke", cwd=repo)


def test_time_is_recorded_per_run(repo: Path) -> None:
    assert dispatch("new", "Quick", "--model", "scripted", "--item", "Write `q.txt`", cwd=repo, env=FAST).code == 0
    wait_for(lambda: worker_json(repo, "quick").get("phase") == "exited", message="the worker")
    (run,) = worker_json(repo, "quick")["runs"]
    assert (run["run"], run["model"], run["backend"], run["exit_code"], run["cost_usd"]) == (1, "scripted", "scripted", 0, None)
    assert run["seconds"] >= 0
    assert task_status(repo, "quick")["seconds"] == run["seconds"]
    from dispatch.output import usage_text

    lines = dispatch("review", "quick", cwd=repo).out.splitlines()
    assert lines[2] == f"  workers: {usage_text(run['seconds'], None, None)}"
    assert f"  usage     {usage_text(run['seconds'], None, None)}" in dispatch("show", "quick", cwd=repo).out.splitlines()


def test_usage_from_claude_and_codex_output() -> None:
    claude = textwrap.dedent("""\
        {"type":"system","subtype":"init"}
        not json at all
        {"type":"result","subtype":"success","total_cost_usd":0.0125,"usage":{"input_tokens":400,"cache_read_input_tokens":100,"output_tokens":80}}
        """)
    assert parse_usage(claude).to_json() == {"cost_usd": 0.0125, "input_tokens": 500, "output_tokens": 80}
    codex = textwrap.dedent("""\
        {"type":"thread.started","thread_id":"t"}
        {"type":"turn.completed","usage":{"input_tokens":1000,"cached_input_tokens":200,"output_tokens":50}}
        {"type":"turn.completed","usage":{"input_tokens":300,"output_tokens":7}}
        """)
    assert parse_usage(codex).to_json() == {"cost_usd": None, "input_tokens": 1300, "output_tokens": 57}
    assert parse_usage("plain text\n").to_json() == {"cost_usd": None, "input_tokens": None, "output_tokens": None}
    runs = [{"seconds": 2.5, "cost_usd": 0.5, "input_tokens": 10, "output_tokens": 1},
            {"seconds": 1.0, "cost_usd": None}]
    assert totals(runs, running_since=100.0, now=103.0) == {
        "seconds": 6.5, "cost_usd": 0.5, "tokens": {"input": 10, "output": 1}
    }


def test_budget_must_be_positive(repo: Path) -> None:
    r = dispatch("new", "Bad budget", "--no-start", "--budget-time", "0", cwd=repo)
    assert (r.code, r.err) == (1, "dispatch: --budget-time must be more than 0\n")
    assert git(repo, "branch", "--list", "dispatch/*") == ""
