"""Worker slots: agents wait on a model's API, not on the CPU, and a worker waiting on an answer holds none."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import FAST, dispatch, state_is, task_status, wait_for


def _config(tmp_path: Path, text: str) -> None:
    config = tmp_path / "home" / ".config" / "dispatch" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(text)


def test_a_worker_blocked_in_ask_holds_no_slot(repo: Path, tmp_path: Path) -> None:
    _config(tmp_path, "max_running = 1\n")
    r = dispatch("new", "Asker", "--model", "scripted", "--item", "Write `a.txt` (ask: Which name?)", cwd=repo, env=FAST)
    assert r.code == 0, r.err
    # Queued behind the asker, or started at once if it asks first: either way it runs while the asker waits.
    r = dispatch("new", "Other", "--model", "scripted", "--item", "Write `o.txt`", cwd=repo, env=FAST)
    assert r.code == 0, r.err
    wait_for(state_is(repo, "other", "done"), message="the other task to run while the asker waits")
    assert task_status(repo, "asker")["state"] == "asking"
    # Once answered, the asker goes on and finishes too.
    assert dispatch("answer", "asker", "Ada", cwd=repo).code == 0
    wait_for(state_is(repo, "asker", "done"), message="the asker to finish")


def test_the_default_limit_is_not_the_number_of_cores(repo: Path) -> None:
    cores = os.cpu_count() or 1
    if cores + 1 > 8:
        pytest.skip(f"{cores} cores: one worker more than that is past the default limit of 8 too")
    ids = [f"hang-{n}" for n in range(cores + 1)]  # one more than the cores: none queued
    for task_id in ids:
        r = dispatch("new", task_id, "--model", "scripted", "--item", "Write `h.txt` (hang)", "--json", cwd=repo,
                     env=FAST)
        assert r.code == 0, r.err
        assert json.loads(r.out)["task"]["queued"] is False
    for task_id in ids:
        wait_for(state_is(repo, task_id, "running"), message=f"{task_id} to run")
        assert dispatch("stop", task_id, cwd=repo).code == 0
