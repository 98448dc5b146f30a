"""Atomic writes and locks, against the real file system and a real second process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dispatch import files


def test_write_atomic_creates_the_folder_and_keeps_a_files_mode(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "state.json"
    files.write_atomic(path, "one\n")
    path.chmod(0o640)
    files.write_atomic(path, "two\n")
    assert (path.read_text(), oct(path.stat().st_mode & 0o777)) == ("two\n", "0o640")
    files.write_atomic(path, b"three\n", mode=0o600)
    assert (path.read_bytes(), oct(path.stat().st_mode & 0o777)) == (b"three\n", "0o600")
    assert sorted(p.name for p in path.parent.iterdir()) == ["state.json"]


def test_a_failed_write_leaves_the_old_content_and_no_temporary_file(tmp_path: Path) -> None:
    tmp_path = tmp_path / "here"
    target = tmp_path / "taken"
    (target / "inside").mkdir(parents=True)  # a folder where the file should go: the rename fails
    with pytest.raises(OSError):
        files.write_atomic(target, "text", durable=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]
    assert sorted(p.name for p in target.iterdir()) == ["inside"]


def test_a_lock_held_by_another_process_times_out(tmp_path: Path) -> None:
    tmp_path = tmp_path / "here"
    tmp_path.mkdir()
    lock = tmp_path / "repo.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", ("import sys; from pathlib import Path; from dispatch import files; "
         "fd = files.acquire(Path(sys.argv[1])); print('held', flush=True); sys.stdin.read()"), str(lock)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(files.LockBusy):
            files.acquire(lock, timeout=0.1)
    finally:
        holder.communicate("")  # the holder exits; the kernel drops its lock
    with files.locked(lock, timeout=5) as fd:
        assert fd >= 0
    # A folder is locked through its own descriptor, nothing created inside it.
    with files.locked(tmp_path):
        assert sorted(p.name for p in tmp_path.iterdir()) == ["repo.lock"]
    assert os.path.exists(lock)
