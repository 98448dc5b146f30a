"""Waking on a folder's change (issue 18): `wait` and `ask` sleep until the file they wait on is written,
not for a fixed poll interval. The bounds below are not timings: each wait would otherwise last 60 s."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

from dispatch import changes, files

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SKIPPED LOUDLY: inotify is Linux's")


def _woken_within(watch: changes.Changes, seconds: float) -> bool:
    started = time.monotonic()
    watch.wait(60)
    return time.monotonic() - started < seconds


def test_a_write_in_the_folder_wakes_the_wait(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(changes, "BACKSTOP", 60.0)  # no backstop look within the test: only the change wakes it
    with changes.Changes(tmp_path, poll=60.0) as watch:
        assert watch.notified
        writer = threading.Timer(0.2, files.write_atomic, [tmp_path / "QUESTIONS.md", "answered\n"])
        writer.start()
        assert _woken_within(watch, 30)
        writer.join()


def test_a_change_before_the_wait_is_not_missed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(changes, "BACKSTOP", 60.0)
    log = tmp_path / "events.jsonl"
    with changes.Changes(tmp_path, poll=60.0) as watch:
        with open(log, "a") as f:  # an append, as events.append does, between a look and the wait
            f.write('{"kind": "question"}\n')
        assert _woken_within(watch, 30)


def test_a_folder_that_cannot_be_watched_is_polled(tmp_path: Path) -> None:
    with changes.Changes(tmp_path / "missing", poll=0.05) as watch:
        assert not watch.notified
        assert _woken_within(watch, 30)  # after the poll interval, with nothing changed
