"""`notify` in the user config: an argv run on the news a person cares about, never through a shell."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

from conftest import FAST, dispatch, git, wait_for, worker_json

RECORDER = textwrap.dedent("""\
    import json, sys
    with open(sys.argv[1], "a") as f:
        f.write(json.dumps({"argv": sys.argv[2:], "stdin": json.load(sys.stdin)}) + "\\n")
""")


def _recorder(tmp_path: Path) -> tuple[list[str], Path]:
    script, out = tmp_path / "record.py", tmp_path / "notified.jsonl"
    script.write_text(RECORDER)
    return [sys.executable, str(script), str(out)], out


def _told(out: Path) -> list[dict]:
    return [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []


def _user_config(tmp_path: Path, text: str) -> None:
    path = tmp_path / "home" / ".config" / "dispatch" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_notify_runs_the_users_command_on_news_with_the_text_as_arguments_and_json_on_stdin(
    repo: Path, tmp_path: Path
) -> None:
    argv, out = _recorder(tmp_path)
    _user_config(tmp_path, f"notify = {json.dumps(argv)}\n")
    steps = [
        ("done-task", "Write `d.txt`"), ("failing", "Write `f.txt` (fail)"), ("asking", "Write `a.txt` (ask: Which license?)"),
    ]
    for count, (task_id, item) in enumerate(steps, start=1):
        r = dispatch("new", task_id, "--model", "scripted", "--item", item, cwd=repo, env=FAST)
        assert r.code == 0, r.err
        wait_for(lambda n=count: len(_told(out)) == n, message=f"{task_id}'s notification")
    assert dispatch("answer", "asking", "MIT $(touch pwned); `touch pwned`", cwd=repo).code == 0
    wait_for(lambda: len(_told(out)) == 4, message="the last notification")
    told = _told(out)
    assert [t["argv"] for t in told] == [
        ["done", "done-task", "done-task finished: every item is done; no worker is left running or queued"],
        ["failed", "failing", "failing failed (exit 1); no worker is left running or queued"],
        ["question", "asking", "asking asks Q1: Which license?"],
        ["done", "asking", "asking finished: every item is done; no worker is left running or queued"],
    ]
    assert [(t["stdin"]["kind"], t["stdin"]["event"]["kind"], t["stdin"]["event"]["task"]) for t in told] == [
        ("done", "exited", "done-task"), ("failed", "exited", "failing"), ("question", "question", "asking"),
        ("done", "exited", "asking"),
    ]
    assert told[2]["stdin"]["event"]["text"] == "Which license?"
    assert not list(repo.parent.rglob("pwned"))


def test_a_persons_ask_beside_a_running_worker_is_told_once(repo: Path, tmp_path: Path) -> None:
    """The supervisor tells you of its worker's questions; one a person asks by hand tells you itself, and the
    supervisor, seeing its marker, does not again."""
    argv, out = _recorder(tmp_path)
    _user_config(tmp_path, f"notify = {json.dumps(argv)}\n")
    r = dispatch("new", "Busy", "--model", "scripted", "--item", "Write `b.txt`", cwd=repo,
                 env={"DISPATCH_SCRIPTED_DELAY": "3"})
    assert r.code == 0, r.err
    wait_for(lambda: worker_json(repo, "busy").get("phase") == "running", message="the worker to run")
    assert dispatch("ask", "--task", "busy", "--timeout", "0", "By hand?", cwd=repo).code == 75
    # Its supervisor looks every quarter of a second, and once more as the worker ends: then it has seen it.
    wait_for(lambda: worker_json(repo, "busy").get("phase") == "exited", message="the worker to end")
    wait_for(lambda: len(_told(out)) == 2, message="the two notifications")
    assert [t["argv"] for t in _told(out)] == [
        ["question", "busy", "busy asks Q1: By hand?"],
        ["question", "busy", "busy stopped on an open question; no worker is left running or queued"],
    ]


def test_notify_is_rate_limited(repo: Path, tmp_path: Path) -> None:
    argv, out = _recorder(tmp_path)
    _user_config(tmp_path, f"notify = {json.dumps(argv)}\nask_timeout = 0\n")
    assert dispatch("new", "Asks a lot", "--no-start", cwd=repo).code == 0
    wt = tmp_path / "work" / "app.dispatch" / "asks-a-lot"
    for n in range(1, 13):
        assert dispatch("ask", f"Question {n}?", cwd=wt).code == 75
        assert dispatch("answer", "asks-a-lot", f"Answer {n}", cwd=repo).code == 0
    wait_for(lambda: len(_told(out)) == 10, message="ten notifications")
    assert [t["argv"][2] for t in _told(out)] == [f"asks-a-lot asks Q{n}: Question {n}?" for n in range(1, 11)]


def test_a_repository_config_sets_notify_only_when_trusted(repo: Path, tmp_path: Path) -> None:
    argv, out = _recorder(tmp_path)
    (repo / ".dispatch.toml").write_text(f"notify = {json.dumps(argv)}\n")
    git(repo, "add", ".dispatch.toml")
    git(repo, "commit", "-qm", "team notify")
    r = dispatch("new", "Work", "--model", "scripted", "--item", "Write `w.txt`", cwd=repo, tmp=tmp_path)
    assert (r.code, r.out, r.err) == (1, "", (
        "dispatch: <tmp>/work/app/.dispatch.toml defines `notify` and is not trusted: read it, then run `dispatch trust`\n"
    ))
    assert dispatch("new", "By hand", "--no-start", cwd=repo).code == 0
    wt = tmp_path / "work" / "app.dispatch" / "by-hand"
    assert dispatch("ask", "Untrusted?", "--timeout", "0", cwd=wt).code == 75
    assert dispatch("answer", "by-hand", "yes", cwd=repo).code == 0
    assert dispatch("trust", cwd=repo).code == 0
    assert dispatch("ask", "Trusted?", "--timeout", "0", cwd=wt).code == 75
    wait_for(lambda: len(_told(out)) == 1, message="the notification")
    assert [t["argv"] for t in _told(out)] == [["question", "by-hand", "by-hand asks Q2: Trusted?"]]


def test_notify_config_is_checked_and_desktop_is_built_in(repo: Path, tmp_path: Path) -> None:
    _user_config(tmp_path, "notify = 3\n")
    r = dispatch("status", cwd=repo, tmp=tmp_path)
    assert (r.code, r.err) == (1, (
        "dispatch: <tmp>/home/.config/dispatch/config.toml: key `notify` must be a list of strings or a string, "
        "not int 3\n"
    ))
    _user_config(tmp_path, 'notify = "desktop"\n')
    r = dispatch("config", "show", cwd=repo, tmp=tmp_path)
    assert r.code == 0
    assert [line for line in r.out.splitlines() if line.startswith("notify")] == [
        'notify = ["desktop"]  # <tmp>/home/.config/dispatch/config.toml'
    ]
    r = dispatch("config", "set", "notify", '["notify-send", "--urgency=low"]', cwd=repo, tmp=tmp_path)
    assert (r.code, r.err) == (0, "")
    assert (tmp_path / "home" / ".config" / "dispatch" / "config.toml").read_text() == (
        'notify = ["notify-send", "--urgency=low"]\n'
    )
    r = dispatch("config", "set", "notify", "desktop", cwd=repo, tmp=tmp_path)
    assert (r.code, r.err) == (0, "")
    assert (tmp_path / "home" / ".config" / "dispatch" / "config.toml").read_text() == 'notify = "desktop"\n'


def test_notify_desktop_runs_notify_send_with_the_text_as_data(repo: Path, tmp_path: Path) -> None:
    bin_dir, out = tmp_path / "bin", tmp_path / "notified.jsonl"
    bin_dir.mkdir()
    fake = bin_dir / "notify-send"  # records what it was given, as the real one would show it
    fake.write_text(f"#!{sys.executable}\n" + RECORDER.replace("sys.argv[1]", repr(str(out))).replace(
        "sys.argv[2:]", "sys.argv[1:]"))
    fake.chmod(0o755)
    _user_config(tmp_path, 'notify = "desktop"\n')
    assert dispatch("new", "Desk", "--no-start", cwd=repo).code == 0
    path = {"PATH": f"{bin_dir}:{os.environ['PATH']}"}
    r = dispatch("ask", "Tabs or `rm -rf ~`?", "--timeout", "0", cwd=tmp_path / "work" / "app.dispatch" / "desk", env=path)
    assert r.code == 75
    wait_for(lambda: len(_told(out)) == 1, message="the desktop notification")
    assert [t["argv"] for t in _told(out)] == [["--app-name=dispatch", "dispatch", "desk asks Q1: Tabs or `rm -rf ~`?"]]

