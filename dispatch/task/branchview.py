"""A confined worker's branch as it sees it: in a folder of its own, synced to the real branch by its supervisor.

git replaces a ref by renaming a new file over it, so a worker that commits must write the folder its
branch's file is in (`refs/heads/dispatch/`), and could make any name there: the branch of a task made
after it started, a loose ref shadowing a packed one. dispatch.worker.sandbox mounts this folder of the
task's own over that one; this module fills it and brings the worker's moves back.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from dispatch import files, git

KEPT_PREFIX = "refs/dispatch/kept/"  # then the task's id, then the commit's
_OID = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")


class BranchView:
    """The folder of a confined worker's branch (and of its reflog) as the worker sees it: a folder of its own in
    the task's runtime folder, mounted over the real one. `seed`, before it starts, puts its branch there;
    `follow_others` keeps the other task branches and their reflogs there as they are here (a base that is
    another task's branch resolves; a `git prune` it runs keeps their commits); `sync`, while it runs and when
    it ends, brings each side's moves of its branch to the other (see there). Nothing else it writes there (a
    branch of another task's name, a ref shadowing a packed one) reaches the repository."""

    def __init__(self, main_root: Path, common_dir: Path, task_id: str, branch: str) -> None:
        self.root, self.common_dir, self.task_id, self.branch = main_root, common_dir, task_id, branch
        self.folder = common_dir / "dispatch" / "tasks" / task_id / "branch"
        self.refs, self.logs = self.folder / "refs", self.folder / "logs"
        self.leaf = branch.rpartition("/")[2]
        # The real folders of the branch and of its reflog, which the worker's own are mounted over.
        self.real_refs, self.real_logs = (common_dir / branch).parent, (common_dir / "logs" / branch).parent
        self.kept_ref = f"{KEPT_PREFIX}{task_id}"
        self._lock = threading.Lock()  # the supervisor's watcher thread, and its last sync once the worker ended
        self._copied: dict[str, tuple[int, int, int]] = {}  # what follow_others copied: inode, size, mtime

    def seed(self) -> str | None:
        """Just before the worker starts: what an earlier run left unsynced synced first (a supervisor killed),
        then the folders made afresh from the real ones. A line to say, when there is one."""
        import shutil

        said = self.sync()
        tip = self._real()
        for folder in (self.refs, self.logs):
            shutil.rmtree(folder, ignore_errors=True)
        for folder in (self.real_refs, self.real_logs, self.refs, self.logs):
            folder.mkdir(parents=True, exist_ok=True)
        self._copied.clear()
        self.follow_others()
        if tip:
            files.write_atomic(self.refs / self.leaf, tip + "\n")
        try:
            shutil.copyfile(self.real_logs / self.leaf, self.logs / self.leaf)
        except OSError:
            pass  # no reflog yet: git starts one
        self._remember(tip)
        return said

    def follow_others(self) -> None:
        """The other task branches and their reflogs in its folders as they are here: each file changed since the
        last look copied in (so that, say, a `git prune` it runs keeps their newest commits). Its own branch is
        synced, never copied; lock files are left out (git would take them as held)."""
        for real, own in ((self.real_refs, self.refs), (self.real_logs, self.logs)):
            try:
                entries = list(os.scandir(real))
            except OSError:
                continue
            for entry in entries:
                if entry.name == self.leaf or entry.name.endswith(".lock") or entry.name.startswith("."):
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                    if not stat.S_ISREG(st.st_mode) or self._copied.get(entry.path) == (st.st_ino, st.st_size,
                                                                                        st.st_mtime_ns):
                        continue
                    files.write_atomic(own / entry.name, Path(entry.path).read_bytes())
                except OSError:
                    continue  # gone meanwhile: the next look sees what replaced it
                self._copied[entry.path] = (st.st_ino, st.st_size, st.st_mtime_ns)

    def sync(self) -> str | None:
        """Each side's moves of the branch since the last sync brought to the other: the worker's (in its folder)
        to the real branch by compare-and-swap, and a move made here (a commit of yours, or an `ask` run here, in
        its worktree) into its folder, as git itself locks a ref. When both moved and neither holds the other,
        the branch follows the worker (its worktree and index hold its line) and what was committed here is kept
        under `refs/dispatch/kept/ID/...`: the line said then is the return value."""
        with self._lock:
            for _ in range(10):  # a side that moves again between our look and our swap: look again
                done, said = self._sync_once()
                if done:
                    return said
            return None  # still moving: the next wake-up syncs

    def _sync_once(self) -> tuple[bool, str | None]:
        view, known, real = self._read(self.refs / self.leaf), self._read(self.folder / "synced"), self._real()
        worker_moved, here_moved = view is not None and view != known, real is not None and real != known
        if not worker_moved and not here_moved:
            return True, None
        if not here_moved or (worker_moved and real is not None and git.is_ancestor(self.root, real, view or "")):
            return self._move(view or "", real or "", self._reason(view or "")), None
        if not worker_moved or (view is not None and git.is_ancestor(self.root, view, real or "")):
            return self._into_view(real or "", view), None
        assert view is not None and real is not None
        kept = f"{self.kept_ref}/{real[:12]}"
        git.run(["update-ref", "-m", f"dispatch: moved off {self.branch} by its confined worker's commits", kept, real],
                cwd=self.root)
        if not self._move(view, real, self._reason(view)):
            return False, None
        return True, (f"{self.branch} moved here while the worker committed in its sandbox: the branch follows the "
                      f"worker, and what was committed here ({real[:7]}) is kept as {kept}")

    @contextlib.contextmanager
    def syncing(self, say: Callable[[str], None]) -> Iterator[None]:
        """While the worker runs: each move of its branch synced as it happens (its folder watched), and once more
        at the end. What cannot be synced is said, never raised: the worker's end must be recorded."""
        from dispatch.changes import Changes

        stop = threading.Event()

        def sync() -> None:
            try:
                if said := self.sync():
                    say(said)
                self.follow_others()
            except Exception as e:  # noqa: BLE001 - the next sync, or the next run's seed, tries again
                say(f"could not bring the worker's commits to {self.branch}: {e}")

        with Changes(self.refs, 0.25, self.real_refs, self.real_logs) as changes:
            def watch() -> None:
                while not stop.is_set():
                    changes.wait(1.0)
                    sync()

            watcher = threading.Thread(target=watch, name="branch-sync", daemon=True)
            watcher.start()
            try:
                yield
            finally:
                stop.set()
                changes.wake()
                watcher.join()
        sync()

    def _move(self, new: str, old: str, message: str) -> bool:
        """The real branch from OLD to NEW (compare-and-swap), remembered as synced."""
        moved = git.run(["update-ref", "-m", message, self.branch, new, old], cwd=self.root,
                        check=False).returncode == 0
        if moved:
            self._remember(new)
        return moved

    def _into_view(self, new: str, old: str | None) -> bool:
        """The worker's branch in its folder from OLD to NEW under git's own lock (a worker's git committing
        that moment holds it: False, and its rename wakes us again)."""
        path = self.refs / self.leaf
        lock = path.with_name(path.name + ".lock")
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        except FileNotFoundError:  # no folder: no worker has seen it yet (its seed makes it)
            self._remember(new)
            return True
        try:
            os.write(fd, (new + "\n").encode())
            os.close(fd)
            if self._read(path) != old:
                lock.unlink()
                return False
            os.replace(lock, path)
        except BaseException:
            lock.unlink(missing_ok=True)
            raise
        self._remember(new)
        return True

    def _real(self) -> str | None:
        """The real branch's commit: its loose file, else (packed, or a symbolic ref) what git says."""
        found = self._read(self.real_refs / self.leaf)
        if found is None:
            found = git.run(["rev-parse", "--verify", "--quiet", f"{self.branch}^{{commit}}"], cwd=self.root,
                            check=False).stdout.strip() or None
        return found

    def _remember(self, synced: str | None) -> None:
        if synced is None:
            (self.folder / "synced").unlink(missing_ok=True)
        else:
            files.write_atomic(self.folder / "synced", synced + "\n")

    def _reason(self, new: str) -> str:
        """The worker's own reflog message for NEW (`commit: ...`), else a plain one."""
        try:
            with (self.logs / self.leaf).open("rb") as log:
                log.seek(max(0, log.seek(0, os.SEEK_END) - 4096))
                last = log.read().decode("utf-8", errors="replace").splitlines()[-1]
        except (OSError, IndexError):
            last = ""
        head, _, reason = last.partition("\t")
        fields = head.split(" ")
        if len(fields) > 1 and fields[1] == new and reason.strip():
            return reason.strip()[:300]
        return f"dispatch: {self.task_id}'s worker"

    @staticmethod
    def _read(path: Path) -> str | None:
        """The commit id a ref file holds (not a symbolic ref, not through a link), or None."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            return None
        try:
            text = os.read(fd, 200).decode("ascii", errors="replace").strip()
        finally:
            os.close(fd)
        return text if _OID.fullmatch(text) else None
