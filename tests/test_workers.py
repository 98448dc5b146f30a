"""Workers under a detached supervisor: the built-in scripted worker, real processes and signals."""

from __future__ import annotations

import json
import os
import signal
import textwrap
from pathlib import Path

import pytest
from conftest import FAST, dispatch, events, git, snapshot, state_is, task_status, wait_for, worker_json


def test_scripted_worker_runs_the_plan_to_done(repo: Path, tmp_path: Path) -> None:
    r = dispatch(
        "new", "Greet", "--model", "scripted", "--item", "Write `hello.txt`", "--item", "Write `bye.txt`",
        cwd=repo, env=FAST, tmp=tmp_path,
    )
    assert (r.code, r.err) == (0, "")
    assert r.out.splitlines()[-1] == "  worker    scripted on scripted: `dispatch logs greet -f` follows it"
    # `new` returns without waiting for the worker: test_stop_saves_the_edit_and_resume_continues shows it
    # with a worker that never ends. Tests assert no timings.
    wait_for(state_is(repo, "greet", "done"), message="greet to be done")
    # The supervisor records the exit in worker.json first, then tells the events log.
    wait_for(lambda: events(repo)[-1]["kind"] == "exited", message="the exited event")
    wt = tmp_path / "work" / "app.dispatch" / "greet"
    assert git(repo, "log", "--format=%s", "main..dispatch/greet") == "Write `bye.txt`\nWrite `hello.txt`\ndispatch: plan greet"
    assert (wt / "hello.txt").read_text() == "Write `hello.txt`\n"
    assert git(wt, "status", "--porcelain") == ""
    data = worker_json(repo, "greet")
    assert (data["phase"], data["exit_code"], data["run"], data["model"], data["backend"]) == (
        "exited", 0, 1, "scripted", "scripted"
    )
    assert [(e["task"], e["kind"]) for e in events(repo)] == [
        ("greet", "created"), ("greet", "started"), ("greet", "exited")
    ]
    assert events(repo)[-1]["state"] == "done" and events(repo)[-1]["code"] == 0
    log = dispatch("logs", "greet", cwd=repo, tmp=tmp_path).out.splitlines()
    assert [line.split("] ", 1)[-1] for line in log if line.startswith("[dispatch")] == [
        "run 1: model scripted on backend scripted", "worker exited with code 0"
    ]
    assert "every item is done" in log
    assert dispatch("logs", "greet", "-n", "1", cwd=repo).out.split("] ", 1)[1] == "worker exited with code 0\n"


def test_worker_sees_its_environment_and_cwd(repo: Path, tmp_path: Path) -> None:
    (repo / ".dispatch.toml").write_text(textwrap.dedent("""\
        [backends.envdump]
        command = ["{python}", "-c", "import os,sys; open('env.json','w').write(__import__('json').dumps({'cwd': os.getcwd(), 'task': os.environ['DISPATCH_TASK'], 'repo': os.environ['DISPATCH_REPO'], 'which': __import__('shutil').which('dispatch'), 'stdin': sys.stdin.read()[:40], 'argv': sys.argv[1:]}))", "{model}"]
        [models.dumper]
        backend = "envdump"
        """))
    assert dispatch("trust", cwd=repo).code == 0
    r = dispatch("new", "Env check", "--model", "dumper", cwd=repo)
    assert r.code == 0, r.err
    wt = tmp_path / "work" / "app.dispatch" / "env-check"
    wait_for(lambda: worker_json(repo, "env-check").get("phase") == "exited", message="the worker to exit")
    seen = json.loads((wt / "env.json").read_text())
    assert seen == {
        "cwd": str(wt), "task": "env-check", "repo": str(repo),
        "which": str(repo / ".git" / "dispatch" / "tasks" / "env-check" / "bin" / "dispatch"),
        "stdin": "You are a dispatch worker. Your task is ", "argv": ["dumper"],
    }
    # The supervisor committed what the worker left behind.
    assert git(repo, "log", "-1", "--format=%s", "dispatch/env-check") == "dispatch: save uncommitted work (worker exit 0)"


def test_stop_saves_the_edit_and_resume_continues(repo: Path, tmp_path: Path) -> None:
    r = dispatch(
        "new", "Slow", "--model", "scripted", "--item", "Write `a.txt`", "--item", "Write `b.txt` (hang)",
        cwd=repo, env=FAST,
    )
    assert r.code == 0, r.err
    wt = tmp_path / "work" / "app.dispatch" / "slow"
    wait_for(lambda: (wt / "b.txt").exists(), message="the worker to write b.txt")
    assert task_status(repo, "slow")["state"] == "running"
    r = dispatch("resume", "slow", cwd=repo)
    assert (r.code, r.err) == (1, "dispatch: the worker of `slow` is still running: `dispatch stop slow` first\n")
    r = dispatch("stop", "slow", cwd=repo)
    saved = git(repo, "rev-parse", "dispatch/slow")
    assert (r.code, r.err) == (0, "")
    assert r.out == (
        f"stopped the worker of slow; its uncommitted work was committed as {saved[:7]}\n"
        "  `dispatch resume slow` starts a fresh worker where it left off\n"
    )
    assert git(repo, "log", "-1", "--format=%s", "dispatch/slow") == "dispatch: save uncommitted work (worker exit -15)"
    assert git(repo, "show", "dispatch/slow:b.txt") == "Write `b.txt`"
    status = task_status(repo, "slow")
    assert (status["state"], status["plan"]["done"]) == ("stopped", 1)
    assert dispatch("stop", "slow", cwd=repo).err == (
        "dispatch: the worker of `slow` is not running: `dispatch status slow` says where it stands\n"
    )
    # A person takes the hang out of the plan; a fresh worker finishes the task.
    plan = wt / ".dispatch" / "PLAN.md"
    plan.write_text(plan.read_text().replace(" (hang)", ""))
    git(wt, "commit", "-qam", "unhang")
    r = dispatch("resume", "slow", cwd=repo, env=FAST)
    assert (r.code, r.out) == (0, "resumed slow: run 2, scripted on scripted\n  `dispatch logs slow -f` follows it\n")
    wait_for(state_is(repo, "slow", "done"), message="slow to be done")
    assert worker_json(repo, "slow")["run"] == 2
    # The supervisor records the state before its exit event: wait for the event, not the state.
    kinds = lambda: [e["kind"] for e in events(repo) if e["task"] == "slow"]
    wait_for(lambda: kinds().count("exited") == 2, message="the second run's exit event")
    # `stop` and the supervisor's own exit record race; either order is one stop.
    assert kinds() in (
        ["created", "started", "stopped", "exited", "resumed", "started", "exited"],
        ["created", "started", "exited", "stopped", "resumed", "started", "exited"],
    )


def test_sigkill_of_the_worker_leaves_its_edit_committed(repo: Path, tmp_path: Path) -> None:
    assert dispatch("new", "Killed", "--model", "scripted", "--item", "Write `k.txt` (hang)", cwd=repo, env=FAST).code == 0
    wt = tmp_path / "work" / "app.dispatch" / "killed"
    # The whole edit, not the file alone: it is created empty, then written.
    wait_for(lambda: (wt / "k.txt").is_file() and (wt / "k.txt").read_text() != "", message="the edit")
    os.killpg(worker_json(repo, "killed")["pid"], signal.SIGKILL)
    wait_for(lambda: worker_json(repo, "killed").get("phase") == "exited", message="the supervisor to record the exit")
    assert git(repo, "log", "-1", "--format=%s", "dispatch/killed") == "dispatch: save uncommitted work (worker exit -9)"
    assert git(repo, "show", "dispatch/killed:k.txt") == "Write `k.txt`"
    assert task_status(repo, "killed")["state"] == "failed"


def test_failing_item_makes_the_task_failed(repo: Path) -> None:
    assert dispatch("new", "Doomed", "--model", "scripted", "--item", "Try (fail)", cwd=repo, env=FAST).code == 0
    wait_for(lambda: worker_json(repo, "doomed").get("phase") == "exited", message="the worker to exit")
    status = task_status(repo, "doomed")
    assert (status["state"], status["plan"]["failed"], status["worker"]["exit_code"]) == ("failed", 1, 1)


def test_copy_and_setup_prepare_the_worktree(repo: Path, tmp_path: Path) -> None:
    (repo / ".env").write_text("SECRET=1\n")
    (repo / "local.cfg").write_text("x\n")
    (repo / ".worktreeinclude").write_text("# files the worker needs\n.env\n")
    git(repo, "add", ".worktreeinclude")
    git(repo, "commit", "-qm", "include")
    config = tmp_path / "home" / ".config" / "dispatch" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("copy = [\"local.cfg\"]\nsetup = [[\"python3\", \"-c\", \"open('setup-ran', 'w').write('yes')\"]]\n")
    assert dispatch("new", "Prepared", "--model", "scripted", "--item", "Write `p.txt`", cwd=repo, env=FAST).code == 0
    wait_for(state_is(repo, "prepared", "done"), message="prepared to be done")
    wt = tmp_path / "work" / "app.dispatch" / "prepared"
    assert (wt / ".env").read_text() == "SECRET=1\n"
    assert (wt / "local.cfg").read_text() == "x\n"
    assert (wt / "setup-ran").read_text() == "yes"
    log = dispatch("logs", "prepared", cwd=repo).out
    assert "] copied from the main checkout: .env, local.cfg\n" in log or "] copied from the main checkout: local.cfg, .env\n" in log


def test_untrusted_repository_setup_is_refused_until_trusted(repo: Path, tmp_path: Path) -> None:
    (repo / ".dispatch.toml").write_text('setup = [["python3", "-c", "open(\'ran\', \'w\').write(\'1\')"]]\n')
    before = snapshot(repo)
    r = dispatch("new", "Guarded", "--model", "scripted", cwd=repo, tmp=tmp_path)
    assert (r.code, r.out) == (1, "")
    assert r.err == (
        "dispatch: <tmp>/work/app/.dispatch.toml defines `setup` and is not trusted: read it, then run `dispatch trust`\n"
    )
    assert snapshot(repo) == before
    assert dispatch("trust", cwd=repo).code == 0
    assert dispatch("new", "Guarded", "--model", "scripted", "--item", "x", cwd=repo, env=FAST).code == 0
    wait_for(state_is(repo, "guarded", "done"), message="guarded to be done")
    assert (tmp_path / "work" / "app.dispatch" / "guarded" / "ran").read_text() == "1"
    (repo / ".dispatch.toml").write_text('setup = [["python3", "-c", "print(2)"]]\n')
    r = dispatch("new", "Changed", "--model", "scripted", cwd=repo, tmp=tmp_path)
    assert r.err == (
        "dispatch: <tmp>/work/app/.dispatch.toml changed since you trusted it: read it, then run `dispatch trust` again\n"
    )


@pytest.mark.parametrize("model, cli", [("opus", "claude")])
def test_missing_cli_creates_nothing(repo: Path, model: str, cli: str) -> None:
    before = snapshot(repo)
    r = dispatch("new", "Needs a CLI", "--model", model, cwd=repo, env={"PATH": "/usr/bin:/bin"})
    assert (r.code, r.out) == (1, "")
    assert r.err.startswith(f"dispatch: `{cli}` ")
    assert r.err.count("\n") == 1
    assert snapshot(repo) == before
