"""A full disk is a condition the user fixes: one line naming the folder, nothing half-written, and the
worker's end recorded as it was, its work committed, once there is space again. On a real small tmpfs."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import dispatch, git, wait_for, worker_json

WORKER = textwrap.dedent("""\
    import pathlib, sys, time
    # Leaves an edit uncommitted, then exits 7 once told to (by then the disk is full).
    pathlib.Path("work.txt").write_text("unsaved work\\n")
    go = pathlib.Path(sys.argv[1])
    while not go.exists():
        time.sleep(0.02)
    sys.exit(7)
    """)


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB tmpfs: only root may mount one, so elsewhere the test is skipped, and says why."""
    folder = tmp_path / "disk"
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip("SKIPPED LOUDLY: mounting a small tmpfs to fill needs root")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"SKIPPED LOUDLY: cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _fill(folder: Path) -> Path:
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for size in (65536, 4096, 1):
            while True:
                try:
                    os.write(fd, b"\0" * size)
                except OSError as e:
                    assert e.errno == errno.ENOSPC
                    break
    finally:
        os.close(fd)
    return filler


def _tmp_files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*.tmp*"))


def test_disk_full_is_one_line_and_the_worker_end_is_recorded_once_space_is_back(disk: Path, tmp_path: Path,
                                                                                  hermetic: Path) -> None:
    repo = disk / "app"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "commit", "-q", "--allow-empty", "-m", "init")
    script, go = tmp_path / "worker.py", tmp_path / "go"
    script.write_text(WORKER)
    config = hermetic / ".config" / "dispatch" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(f'[backends.w]\ncommand = ["{{python}}", "{script}", "{go}"]\n[models.w]\nbackend = "w"\n')
    assert dispatch("new", "Fill", "--model", "w", "--item", "x", cwd=repo).code == 0
    assert dispatch("new", "Other", "--item", "y", "--no-start", cwd=repo).code == 0
    wt = disk / "app.dispatch" / "fill"
    wait_for(lambda: (wt / "work.txt").exists() and worker_json(repo, "fill").get("phase") == "running",
             message="the worker to run")
    filler = _fill(disk)
    go.write_text("")
    # A command that must write says so in one line and changes nothing; status still answers.
    before = git(repo, "for-each-ref")
    full = f"dispatch: no space left on the device holding {repo}/.git/dispatch: free some space, then run the command again\n"
    for args in (["discard", "other", "--yes"], ["new", "Third", "--no-start"]):
        r = dispatch(*args, cwd=repo, process=True)
        assert (r.code, r.out, r.err) == (1, "", full)
    assert dispatch("status", cwd=repo, process=True).code == 0
    assert git(repo, "for-each-ref") == before
    # Its log line may not fit on the full disk: the kernel tells when the supervisor sleeps between tries.
    supervisor = worker_json(repo, "fill")["supervisor_pid"]
    wait_for(lambda: Path(f"/proc/{supervisor}/wchan").read_text() == "hrtimer_nanosleep",
             message="the supervisor to wait for space")
    assert worker_json(repo, "fill")["phase"] == "running"
    filler.unlink()
    wait_for(lambda: worker_json(repo, "fill").get("phase") == "exited", message="the exit to be recorded")
    data = worker_json(repo, "fill")
    assert (data["exit_code"], data["saved"] is not None) == (7, True)
    assert git(wt, "log", "-1", "--format=%s") == "dispatch: save uncommitted work (worker exit 7)"
    assert git(wt, "status", "--porcelain") == ""
    def exited() -> list[tuple[str, int]]:
        lines = (repo / ".git" / "dispatch" / "events.jsonl").read_text().splitlines()
        return [(e["task"], e["code"]) for e in map(json.loads, lines) if e["kind"] == "exited"]

    wait_for(exited, message="the exited event")
    assert exited() == [("fill", 7)]
    log = (repo / ".git" / "dispatch" / "tasks" / "fill" / "worker.log").read_text()
    said = [line.split("] ", 1)[1] for line in log.splitlines() if line.startswith("[dispatch")]
    back = [line for line in said if line.startswith(f"there was no space left on the device holding {wt} for ")]
    assert [line.rsplit("s: ", 1)[1] for line in back] == ["then could commit the work it left uncommitted"]
    assert "Traceback" not in log
    assert _tmp_files(disk) == []
