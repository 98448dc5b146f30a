"""Confined workers (bubblewrap): a worker writes its own task and nothing of yours; real bwrap, real processes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import dispatch, git, snapshot
from test_workers import FAST, events, state_is, task_status, wait_for, worker_json

from dispatch import git as git_names
from dispatch.task import runtime
from dispatch.task.branchview import BranchView
from dispatch.worker import sandbox

NO_BWRAP = ("bubblewrap (`bwrap`) is not installed: install bubblewrap (`sudo apt-get install bubblewrap`, "
            "or `sudo dnf install bubblewrap`)")


def confined_here() -> None:
    found = sandbox.probe()
    if not found.works:
        pytest.skip(f"SKIPPED LOUDLY: bwrap cannot confine workers here, so nothing of the sandbox is tested: "
                    f"{found.problem}")


def files_of(folder: Path) -> dict[str, str]:
    """Every file under FOLDER but the git dir, with its content: what must come out unchanged."""
    return {str(p.relative_to(folder)): p.read_text(errors="replace") for p in sorted(folder.rglob("*"))
            if p.is_file() and p.relative_to(folder).parts[0] != ".git"}


def without_bwrap(tmp_path: Path) -> dict[str, str]:
    """A PATH with git and nothing else: as on a machine where bubblewrap is not installed."""
    folder = tmp_path / "bin-without-bwrap"
    folder.mkdir(exist_ok=True)
    for program in ("git",):
        link = folder / program
        if not link.exists():
            link.symlink_to(next(Path(d) / program for d in os.environ["PATH"].split(os.pathsep)
                                 if (Path(d) / program).exists()))
    return {"PATH": str(folder)}


def script_models(home: Path, source: str, models: dict[str, str], top: str = "", backend: str = "") -> None:
    """Models each running SOURCE (a Python script) with its one argument, in HOME's user config; TOP: the
    config's first lines; BACKEND: more lines of every backend table."""
    script = home / "worker.py"
    script.write_text(source)
    tables = "".join(f'[backends.{name}]\ncommand = ["{{python}}", "{script}", "{arg}"]\n{backend}'
                     f'[models.{name}]\nbackend = "{name}"\n' for name, arg in models.items())
    config = home / ".config" / "dispatch" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(top + tables)


def test_a_confined_worker_edits_commits_asks_and_is_stopped_with_its_work_saved(repo: Path, tmp_path: Path) -> None:
    confined_here()
    r = dispatch("new", "Paint", "--model", "scripted", "--sandbox", "bwrap", "--item", "Write `a.txt`",
                 "--item", "ask: Which colour?", "--item", "Write `b.txt` (hang)", cwd=repo, env=FAST)
    assert (r.code, r.err) == (0, "")
    wt = tmp_path / "work" / "app.dispatch" / "paint"
    wait_for(state_is(repo, "paint", "asking"), message="the confined worker to ask")
    r = dispatch("answer", "paint", "Blue", cwd=repo)
    assert (r.code, r.out, r.err) == (0, "answered Q1 of paint: the waiting worker continues with it\n", "")
    wait_for(lambda: (wt / "b.txt").exists(), message="the confined worker to write b.txt")
    r = dispatch("stop", "paint", cwd=repo)
    assert (r.code, r.err) == (0, "")
    assert git(repo, "log", "--format=%s", "main..dispatch/paint").splitlines() == [
        "dispatch: save uncommitted work (worker exit -15)", "ask: Which colour?", "dispatch: answer Q1",
        "dispatch: ask Q1", "Write `a.txt`", "dispatch: plan paint",
    ]
    assert (wt / "a.txt").read_text() == "Write `a.txt`\n"
    assert git(wt, "show", "HEAD:b.txt") == "Write `b.txt`"
    assert git(wt, "status", "--porcelain") == ""
    data = worker_json(repo, "paint")
    assert (data["sandbox"], data["sandbox_flag"], data["exit_code"]) == ("bwrap", "bwrap", -15)
    shown = dispatch("show", "paint", cwd=repo).out.splitlines()
    assert "  sandbox  bwrap (confined to its task)" in shown  # one whole line of the Worker section
    assert [line for line in shown if "not confined" in line] == []  # no note: workers are confined here
    r = dispatch("doctor", "--json", cwd=repo)
    assert json.loads(r.out)["sandbox"] == {"requested": "auto", "mode": "bwrap", "network": True, "problem": ""}
    assert dispatch("doctor", cwd=repo).out.splitlines()[-1] == (
        "sandbox  bwrap (auto): workers run confined; bubblewrap works here")
    # The flag stays with the task: the next run is confined too.
    r = dispatch("resume", "paint", cwd=repo, env=FAST)
    assert (r.code, r.err) == (0, "")
    wait_for(lambda: worker_json(repo, "paint").get("run") == 2 and worker_json(repo, "paint")["phase"] == "running",
             message="the second run")
    assert worker_json(repo, "paint")["sandbox"] == "bwrap"
    dispatch("stop", "paint", cwd=repo)


HOSTILE = '''\
"""A hostile worker: tries every escape, records how each ended, commits that record, then leaves."""
import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

here = Path.cwd()
repo = Path(os.environ["DISPATCH_REPO"])
other = here.parent / "other"
results = []


def write(name, path):
    try:
        with open(path, "a") as f:
            f.write("pwned\\n")
        results.append(f"{name}: WRITTEN")
    except OSError as e:
        results.append(f"{name}: {e.strerror}")


def git(name, *args, cwd=here):
    r = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    results.append(f"{name}: {'refused' if r.returncode else 'DONE'}")


gone = []
for loose in (repo / ".git" / "objects").glob("[0-9a-f][0-9a-f]/*"):  # your commits' objects, if left loose
    try:
        loose.unlink()
        gone.append(loose.parent.name + loose.name)
    except OSError:
        pass
lost = [sha for sha in gone if subprocess.run(["git", "cat-file", "-e", sha], cwd=repo).returncode]
results.append(f"loose copies deleted: {'some' if gone else 'none'}; objects lost with them: {len(lost)}")
write("main checkout file", repo / "README.md")
write("new file in the main checkout", repo / "PWNED")
write("git config", repo / ".git" / "config")
write("packed refs", repo / ".git" / "packed-refs")
git("main ref", "update-ref", "refs/heads/main", "HEAD")
git("main ref from the main checkout", "update-ref", "refs/heads/main", "HEAD", cwd=repo)
git("other task's branch, as it sees it", "update-ref", "refs/heads/dispatch/other", "HEAD")  # not yours
git("new branch", "branch", "escape")
git("worktree of the repository", "worktree", "add", "-q", "--detach", "nested")
write("other task's worktree", other / "README.md")
write("other task's QUESTIONS.md", other / ".dispatch" / "QUESTIONS.md")
write("the shim", shutil.which("dispatch"))
write("home", Path.home() / "pwned")
write("its worker record", repo / ".git" / "dispatch" / "tasks" / os.environ["DISPATCH_TASK"] / "worker.json")
write("its worktree's .git pointer", here / ".git")
try:
    lock = os.open(repo / ".git" / "dispatch" / "lock", os.O_RDONLY)
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    results.append("hold the repository lock: HELD")
except OSError as e:
    results.append(f"hold the repository lock: {e.strerror}")
pack = next((repo / ".git" / "objects" / "pack").glob("*.pack"))
try:
    pack.unlink()
    results.append("a pack of the repository: DELETED")
except OSError as e:
    results.append(f"a pack of the repository: {e.strerror}")
write("the object store's alternates", repo / ".git" / "objects" / "info" / "alternates")
git("a fetch of 112 objects, kept loose", "fetch", "-q", str(Path.home() / "upstream"), "main")
admin = subprocess.run(["git", "rev-parse", "--absolute-git-dir"], capture_output=True, text=True).stdout.strip()
write("its worktree's own git config", Path(admin) / "config.worktree")
write("its worktree's way to the repository", Path(admin) / "commondir")
record = json.loads((repo / ".git" / "dispatch" / "tasks" / os.environ["DISPATCH_TASK"] / "worker.json").read_text())
try:
    os.kill(record["supervisor_pid"], 0)  # its own pid namespace: your processes are not there to signal
    results.append("signal its supervisor: SENT")
except OSError as e:
    results.append(f"signal its supervisor: {e.strerror}")
status = subprocess.run(["dispatch", "status", "--json", os.environ["DISPATCH_TASK"]], capture_output=True, text=True)
results.append(f"its own state, as it sees it: {json.loads(status.stdout)['tasks'][0]['state']}")  # not `broken`
Path("escapes.txt").write_text("\\n".join(results) + "\\n")
subprocess.run(["git", "add", "escapes.txt"], check=True)
subprocess.run(["git", "commit", "-q", "-m", "tried every escape"], check=True)
# Last: HEAD onto main, and work left uncommitted, for the supervisor to commit there (it must not).
subprocess.run(["git", "symbolic-ref", "HEAD", "refs/heads/main"], check=True)
Path("stray.txt").write_text("for main\\n")
subprocess.run(["touch", str(repo / "touched")])  # its error goes to the worker's log, as any tool's
print("hostile worker done", flush=True)
'''


def test_a_hostile_confined_worker_escapes_nowhere(repo: Path, tmp_path: Path, hermetic: Path) -> None:
    confined_here()
    script_models(hermetic, HOSTILE, {"hostile": ""})
    assert dispatch("new", "Other", "--id", "other", "--no-start", cwd=repo).code == 0
    git(repo, "pack-refs", "--all")  # main and the other branch packed; the other one loose again below
    git(repo, "repack", "-q", "-d")  # a pack, for it to try to delete
    upstream = hermetic / "upstream"  # more objects than a fetch keeps loose by default (100)
    git(hermetic, "init", "-q", "-b", "main", str(upstream))
    for n in range(110):
        (upstream / f"f{n}.txt").write_text(f"{n}\n")
    git(upstream, "add", ".")
    git(upstream, "commit", "-q", "-m", "110 files")
    other = tmp_path / "work" / "app.dispatch" / "other"
    git(other, "commit", "-q", "--allow-empty", "-m", "the other task's work")
    (repo / "NEW.md").write_text("a commit of yours, its objects loose when the worker starts\n")
    git(repo, "add", "NEW.md")
    git(repo, "commit", "-q", "-m", "yours")
    shim = repo / ".git" / "dispatch" / "tasks" / "hostile" / "bin" / "dispatch"
    before = {"main": files_of(repo), "other": files_of(other), "refs": git(repo, "for-each-ref"),
              "git config": (repo / ".git" / "config").read_text(), "home": sorted(os.listdir(hermetic))}

    r = dispatch("new", "Escape", "--id", "hostile", "--model", "hostile", cwd=repo)
    assert (r.code, r.err) == (0, "")
    wait_for(lambda: events(repo)[-1]["kind"] == "exited", message="the hostile worker to exit")

    assert git(repo, "show", "dispatch/hostile:escapes.txt").splitlines() == [
        "loose copies deleted: some; objects lost with them: 0",  # each is in a pack, where it cannot reach
        "main checkout file: Read-only file system",
        "new file in the main checkout: Read-only file system",
        "git config: Read-only file system",
        "packed refs: Read-only file system",
        "main ref: refused",
        "main ref from the main checkout: refused",
        "other task's branch, as it sees it: DONE",  # in its own folder of branches: see below
        "new branch: refused",
        "worktree of the repository: refused",
        "other task's worktree: Read-only file system",
        "other task's QUESTIONS.md: Read-only file system",
        "the shim: Read-only file system",
        "home: Read-only file system",
        "its worker record: Read-only file system",
        "its worktree's .git pointer: Read-only file system",
        "hold the repository lock: Permission denied",
        "a pack of the repository: Read-only file system",
        "the object store's alternates: Read-only file system",
        "a fetch of 112 objects, kept loose: DONE",
        "its worktree's own git config: Read-only file system",
        "its worktree's way to the repository: Read-only file system",
        "signal its supervisor: No such process",
        "its own state, as it sees it: running",
    ]
    assert git(repo, "log", "--format=%s", "main..dispatch/hostile") == "tried every escape\ndispatch: plan hostile"
    refs = git(repo, "for-each-ref").splitlines()
    assert [line for line in refs if not line.endswith("refs/heads/dispatch/hostile")] == before["refs"].splitlines()
    assert files_of(repo) == before["main"]
    git(repo, "fsck", "--no-progress", "--connectivity-only")  # every object of every ref is there
    assert files_of(other) == before["other"]
    assert (repo / ".git" / "config").read_text() == before["git config"]
    assert sorted(os.listdir(hermetic)) == before["home"]
    assert shim.read_text() == f"#!/bin/sh\nexec '{sys.executable}' -I -m dispatch \"$@\"\n"
    assert not list((repo / ".git" / "refs").rglob("*.lock"))
    log = dispatch("logs", "hostile", cwd=repo).out.splitlines()
    assert f"touch: cannot touch '{repo}/touched': Read-only file system" in log  # a whole line of it
    assert [line.split("] ", 1)[-1] for line in log if line.startswith("[dispatch")] == [
        "run 1: model hostile on backend hostile",
        "worker exited with code 0",
        ("the worker moved the worktree's HEAD off refs/heads/dispatch/hostile to refs/heads/main: "
         "its uncommitted work was left as it is"),
    ]


LATECOMER = '''\
"""Waits for `go`, then tries the branches of a task made after it started and of one packed before."""
import os
import subprocess
import time
from pathlib import Path

repo = Path(os.environ["DISPATCH_REPO"])
while not Path("go").exists():
    time.sleep(0.02)
late = Path("go").read_text().strip()  # the late task's newest commit, made after this worker started
Path("go").unlink()
head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout
results = []
for _ in range(500):
    seen = subprocess.run(["git", "rev-parse", "refs/heads/dispatch/late"], capture_output=True, text=True).stdout
    if seen.strip() == late:
        break
    time.sleep(0.02)
results.append(f"late's branch as it sees it: {seen.strip()}")
subprocess.run(["git", "prune"], check=True)  # what it cannot reach, it deletes: never the late task's commit
for name in ("late", "packed"):
    r = subprocess.run(["git", "update-ref", f"refs/heads/dispatch/{name}", "HEAD"], capture_output=True)
    results.append(f"git update-ref of {name}'s branch: {'refused' if r.returncode else 'done'}")
    try:
        (repo / ".git" / "refs" / "heads" / "dispatch" / name).write_text(head)
        results.append(f"its file written: {name}")
    except OSError as e:
        results.append(f"its file: {e.strerror}")
seen = subprocess.run(["git", "for-each-ref", "--format=%(refname)", "refs/heads/dispatch/"], capture_output=True,
                      text=True).stdout.split()
results.append("task branches it sees: " + " ".join(seen))
Path("late.txt").write_text("\\n".join(results) + "\\n")
subprocess.run(["git", "add", "late.txt"], check=True)
subprocess.run(["git", "commit", "-q", "-m", "tried the late branches"], check=True)
'''


def test_a_confined_worker_moves_no_branch_made_after_it_started_nor_shadows_a_packed_one(
        repo: Path, tmp_path: Path, hermetic: Path) -> None:
    """The folder of task branches a confined worker sees is its own: git renames a new file over a ref, so
    the worker must write the folder its branch is in, and a branch made there later (or a loose file over a
    packed one) was its to rewrite. Its supervisor brings its own branch's moves to the real one."""
    confined_here()
    script_models(hermetic, LATECOMER, {"latecomer": ""})
    assert dispatch("new", "Packed", "--no-start", cwd=repo).code == 0
    git(repo, "pack-refs", "--all")  # `packed` has no loose file: a loose one would shadow it
    assert not (repo / ".git" / "refs" / "heads" / "dispatch" / "packed").exists()
    assert dispatch("new", "Latecomer", "--model", "latecomer", "--sandbox", "bwrap", cwd=repo).code == 0
    wait_for(lambda: worker_json(repo, "latecomer").get("phase") == "running", message="the worker to start")
    assert dispatch("new", "Late", "--no-start", cwd=repo).code == 0
    late_tree = tmp_path / "work" / "app.dispatch" / "late"
    (late_tree / "late.txt").write_text("the late task's work, its objects loose\n")
    git(late_tree, "add", "late.txt")
    git(late_tree, "commit", "-q", "-m", "the late task's work")
    late = git(repo, "rev-parse", "dispatch/late")
    before = git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads/", "refs/dispatch/")
    (tmp_path / "work" / "app.dispatch" / "latecomer" / "go").write_text(late + "\n")
    wait_for(lambda: worker_json(repo, "latecomer").get("phase") == "exited", message="the worker to end")

    assert git(repo, "show", "dispatch/latecomer:late.txt").splitlines() == [
        f"late's branch as it sees it: {late}",  # its folder follows the branches here
        "git update-ref of late's branch: done",  # in its own folder only
        "its file written: late",
        "git update-ref of packed's branch: done",
        "its file written: packed",
        "task branches it sees: refs/heads/dispatch/late refs/heads/dispatch/latecomer refs/heads/dispatch/packed",
    ]
    after = git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads/", "refs/dispatch/")
    assert [line for line in after.splitlines() if "/latecomer " not in line] == [
        line for line in before.splitlines() if "/latecomer " not in line]
    assert git(repo, "log", "--format=%s", "main..dispatch/latecomer") == (
        "tried the late branches\ndispatch: plan latecomer")
    assert git(repo, "reflog", "--format=%gs", "dispatch/latecomer").splitlines()[0] == (
        "commit: tried the late branches")  # its own reflog message, as the worker's git wrote it
    assert task_status(repo, "latecomer")["state"] == "idle"  # its plan has no item ticked
    assert git(repo, "show", "dispatch/late:late.txt") == "the late task's work, its objects loose"
    git(repo, "fsck", "--no-progress", "--connectivity-only")  # every object of every ref is there


def test_a_confined_worker_dies_with_its_supervisor_and_its_work_is_kept(repo: Path, tmp_path: Path) -> None:
    """bwrap --die-with-parent: no confined worker runs on unsupervised (unconfined, tests/test_nothing_lost.py
    stops such an orphan); what it left uncommitted goes into the trash record with the rest."""
    confined_here()
    r = dispatch("new", "Orphan", "--model", "scripted", "--sandbox", "bwrap", "--item", "Write `o.txt` (hang)",
                 cwd=repo, env={"DISPATCH_SCRIPTED_DELAY": "0"})
    assert (r.code, r.err) == (0, "")
    wt = tmp_path / "work" / "app.dispatch" / "orphan"
    wait_for(lambda: (wt / "o.txt").exists(), message="the edit")
    worker = worker_json(repo, "orphan")
    os.kill(worker["supervisor_pid"], signal.SIGKILL)
    wait_for(lambda: not runtime.is_alive(worker["pid"], worker["pid_start"]), message="the worker to die with it")
    assert task_status(repo, "orphan")["state"] == "broken"
    r = dispatch("discard", "orphan", "--yes", cwd=repo)
    assert r.code == 0, r.err
    assert git(repo, "show", "refs/dispatch/trash/orphan:o.txt") == "Write `o.txt`"


UNSYNCED = '''\
"""Commits once told to (its supervisor stopped by then), leaves a file uncommitted, and waits."""
import subprocess
import time
from pathlib import Path

while not Path("go").exists():
    time.sleep(0.02)
Path("go").unlink()
Path("w.txt").write_text("the worker's\\n")
subprocess.run(["git", "add", "w.txt"], check=True)
subprocess.run(["git", "commit", "-q", "-m", "committed while its supervisor was stopped"], check=True)
Path("left.txt").write_text("uncommitted\\n")
time.sleep(600)
'''


def test_the_commits_of_a_confined_worker_whose_supervisor_died_unsynced_reach_its_branch(
        repo: Path, tmp_path: Path, hermetic: Path) -> None:
    """Its supervisor brings its commits from its own folder of branches to the branch: a supervisor killed
    before it could leaves them there, and `doctor --fix` brings them before it saves what is uncommitted."""
    confined_here()
    script_models(hermetic, UNSYNCED, {"unsynced": ""})
    assert dispatch("new", "Unsynced", "--model", "unsynced", "--sandbox", "bwrap", cwd=repo).code == 0
    wait_for(lambda: worker_json(repo, "unsynced").get("phase") == "running", message="the worker to start")
    worker = worker_json(repo, "unsynced")
    wt = tmp_path / "work" / "app.dispatch" / "unsynced"
    os.kill(worker["supervisor_pid"], signal.SIGSTOP)  # no sync from now on
    (wt / "go").touch()
    wait_for(lambda: (wt / "left.txt").exists(), message="the worker's commit")
    assert git(repo, "log", "--format=%s", "main..dispatch/unsynced") == "dispatch: plan unsynced"  # not here yet
    os.kill(worker["supervisor_pid"], signal.SIGKILL)
    wait_for(lambda: not runtime.is_alive(worker["pid"], worker["pid_start"]), message="the worker to die with it")
    r = dispatch("doctor", "--fix", cwd=repo)
    assert r.code == 0, r.out + r.err
    assert git(repo, "log", "--format=%s", "main..dispatch/unsynced").splitlines() == [
        "dispatch: save uncommitted work (worker exit -1)", "committed while its supervisor was stopped",
        "dispatch: plan unsynced"]
    assert git(repo, "show", "dispatch/unsynced:left.txt") == "uncommitted"


def test_a_confined_workers_question_reaches_you_and_gives_its_slot_away(repo: Path, tmp_path: Path,
                                                                        hermetic: Path) -> None:
    """A confined `dispatch ask` may start no worker and write none of the repository's state: its supervisor,
    outside the sandbox, notices the question, runs your notify command and starts the task queued behind it."""
    from test_notify import _recorder, _told

    confined_here()
    argv, out = _recorder(tmp_path)
    config = hermetic / ".config" / "dispatch" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f'max_running = 1\nsandbox = "bwrap"\nnotify = {json.dumps(argv)}\n')
    r = dispatch("new", "Asker", "--model", "scripted", "--item", "Write `a.txt` (ask: Which name?)", cwd=repo,
                 env={"DISPATCH_SCRIPTED_DELAY": "2"})  # slow to ask: the other task is queued first
    assert (r.code, r.err) == (0, "")
    r = dispatch("new", "Other", "--model", "scripted", "--item", "Write `o.txt`", "--json", cwd=repo, env=FAST)
    assert (r.code, json.loads(r.out)["task"]["queued"]) == (0, True)
    # Read from the files, not by `dispatch status`: any dispatch command of yours would start it too.
    wait_for(lambda: worker_json(repo, "other").get("phase") == "exited", message="the queued task to run")
    assert task_status(repo, "other")["state"] == "done"
    assert task_status(repo, "asker")["state"] == "asking"
    assert worker_json(repo, "other")["sandbox"] == "bwrap"
    wait_for(lambda: len(_told(out)) == 2, message="the two notifications")
    assert [t["argv"] for t in _told(out)] == [
        ["question", "asker", "asker asks Q1: Which name?"], ["done", "other", "other finished: every item is done"],
    ]
    log = dispatch("logs", "asker", cwd=repo).out.splitlines()
    assert [line.split("] ", 1)[-1] for line in log if line.startswith("[dispatch")] == [
        "run 1: model scripted on backend scripted", "started queued task other",
    ]
    assert dispatch("answer", "asker", "Ada", cwd=repo).code == 0
    wait_for(state_is(repo, "asker", "done"), message="the asker to finish")


SHIM_USER = '''\
"""Forges the `dispatch` on its PATH, or reports what the one on its PATH says."""
import pathlib, shutil, subprocess, sys
shim = shutil.which("dispatch")
if sys.argv[1] == "forge":
    try:
        pathlib.Path(shim).write_text("#!/bin/sh\\necho forged\\n")  # 0555: only root gets this far
    except OSError:
        pass
version = subprocess.run(["dispatch", "--version"], capture_output=True, text=True).stdout
pathlib.Path("report.txt").write_text(f"{shim}\\n{version}")
'''


def test_no_worker_changes_the_dispatch_another_one_runs(repo: Path, tmp_path: Path, hermetic: Path) -> None:
    """Item 3 of issue 14, unconfined too: each task's worker runs its own read-only copy of the shim, so one
    that rewrites the `dispatch` on its PATH changes no other worker's, and its own next run gets it back."""
    from dispatch import __version__

    script_models(hermetic, SHIM_USER, {"forger": "forge", "reporter": "report"}, top='sandbox = "off"\n')
    shims = repo / ".git" / "dispatch" / "tasks"
    for task_id, model in (("forge", "forger"), ("report", "reporter")):
        assert dispatch("new", task_id, "--model", model, cwd=repo).code == 0
        wait_for(lambda t=task_id: worker_json(repo, t).get("phase") == "exited", message=f"{task_id} to exit")
    reports = {t: (tmp_path / "work" / "app.dispatch" / t / "report.txt").read_text() for t in ("forge", "report")}
    assert (shims / "forge" / "bin" / "dispatch").stat().st_mode & 0o777 == 0o555
    assert reports["report"] == f"{shims / 'report' / 'bin' / 'dispatch'}\ndispatch {__version__}\n"
    forged = reports["forge"] == f"{shims / 'forge' / 'bin' / 'dispatch'}\nforged\n"
    assert forged == (os.getuid() == 0)  # the file mode stops all but root; root forges its own copy only
    assert dispatch("resume", "forge", "--model", "reporter", cwd=repo).code == 0
    wait_for(lambda: worker_json(repo, "forge").get("run") == 2 and worker_json(repo, "forge")["phase"] == "exited",
             message="the second run")
    report = (tmp_path / "work" / "app.dispatch" / "forge" / "report.txt").read_text()
    assert report == f"{shims / 'forge' / 'bin' / 'dispatch'}\ndispatch {__version__}\n"


STATE_WRITER = '''\
import os
from pathlib import Path
results = []
for name, path in (("its backend's state", "~/.my-agent/session"), ("every worker's extra", "~/.extra/cache"),
                   ("unlisted", "~/.unlisted/file")):
    try:
        Path(os.path.expanduser(path)).parent.mkdir(exist_ok=True)
        Path(os.path.expanduser(path)).write_text("kept\\n")
        results.append(f"{name}: written")
    except OSError as e:
        results.append(f"{name}: {e.strerror}")
Path("state.txt").write_text("\\n".join(results) + "\\n")
'''


def test_a_confined_worker_writes_the_state_folders_its_backend_and_you_list(repo: Path, tmp_path: Path,
                                                                             hermetic: Path) -> None:
    """`sandbox_write` of its backend (the built-in ones: ~/.claude and so on) and the top-level one; an entry
    naming a variable that is not set is left out, no folder made for it."""
    confined_here()
    script_models(hermetic, STATE_WRITER, {"my-agent": ""}, backend='sandbox_write = ["~/.my-agent"]\n',
                  top='sandbox_write = ["${HOME}/.extra", "$DISPATCH_TEST_UNSET/somewhere"]\n')
    r = dispatch("new", "State", "--model", "my-agent", "--sandbox", "bwrap", cwd=repo)
    assert (r.code, r.err) == (0, "")
    wait_for(lambda: worker_json(repo, "state").get("phase") == "exited", message="the worker to exit")
    wt = tmp_path / "work" / "app.dispatch" / "state"
    assert (wt / "state.txt").read_text().splitlines() == [
        "its backend's state: written", "every worker's extra: written", "unlisted: Read-only file system",
    ]
    assert (hermetic / ".my-agent" / "session").read_text() == "kept\n"
    assert (hermetic / ".extra" / "cache").read_text() == "kept\n"
    assert not (hermetic / ".unlisted").exists()
    assert list(tmp_path.rglob("somewhere")) == []  # nor a folder for the entry whose variable is not set


def test_a_question_asked_just_before_the_worker_exits_is_told(repo: Path, tmp_path: Path, hermetic: Path) -> None:
    """The supervisor looks for questions four times a second: one asked and given up on in between, the worker
    gone at once, still reaches you before the news of its exit."""
    from test_notify import _recorder, _told

    confined_here()
    argv, out = _recorder(tmp_path)
    script_models(hermetic, 'import subprocess\nsubprocess.run(["dispatch", "ask", "--timeout", "0", "Quick?"])\n',
                  {"quick": ""}, top=f"notify = {json.dumps(argv)}\n")
    assert dispatch("new", "Quick", "--model", "quick", "--sandbox", "bwrap", cwd=repo).code == 0
    wait_for(lambda: len(_told(out)) == 2, message="the two notifications")
    assert [t["argv"] for t in _told(out)] == [
        ["question", "quick", "quick asks Q1: Quick?"],
        ["question", "quick", "quick stopped on an open question; no worker is left running or queued"],
    ]


DELETER = '''\
import os, time
from pathlib import Path
while not Path("go").exists():
    time.sleep(0.05)
for loose in (Path(os.environ["DISPATCH_REPO"]) / ".git" / "objects").glob("[0-9a-f][0-9a-f]/*"):
    try:
        loose.unlink()
    except OSError:
        pass
'''


def test_a_confined_worker_cannot_delete_the_work_of_one_that_ended_before_it(repo: Path, tmp_path: Path,
                                                                              hermetic: Path) -> None:
    """Git writes a commit's objects loose, where every confined worker may write: the supervisor of one that
    ends packs them (packs are read-only to workers), out of reach of those still running."""
    confined_here()
    script_models(hermetic, DELETER, {"deleter": ""})
    assert dispatch("new", "Deleter", "--model", "deleter", "--sandbox", "bwrap", cwd=repo).code == 0
    wait_for(lambda: worker_json(repo, "deleter").get("phase") == "running", message="the deleter to wait")
    r = dispatch("new", "Quick", "--model", "scripted", "--sandbox", "bwrap", "--item", "Write `q.txt`", cwd=repo,
                 env=FAST)
    assert (r.code, r.err) == (0, "")
    wait_for(lambda: worker_json(repo, "quick").get("phase") == "exited", message="the quick task to end")
    (tmp_path / "work" / "app.dispatch" / "deleter" / "go").touch()
    wait_for(lambda: worker_json(repo, "deleter").get("phase") == "exited", message="the deleter to end")
    git(repo, "fsck", "--no-progress", "--connectivity-only")  # every object of every ref is there
    assert git(repo, "show", "dispatch/quick:q.txt") == "Write `q.txt`"
    assert task_status(repo, "quick")["state"] == "done"


def test_packing_for_a_confined_worker_deletes_no_loose_object(repo: Path) -> None:
    """The supervisor packs loose objects but leaves them (and their folders) in place: deleting them (`repack -d`)
    removed `objects/xx` folders while other workers' git wrote objects there, failing their commits."""
    confined_here()
    (repo / "YOURS.md").write_text("a loose object of yours\n")
    git(repo, "add", "YOURS.md")
    git(repo, "commit", "-q", "-m", "yours, its objects loose")
    blob = git(repo, "rev-parse", "HEAD:YOURS.md")
    loose = repo / ".git" / "objects" / blob[:2] / blob[2:]
    assert loose.exists()
    r = dispatch("new", "Packs", "--model", "scripted", "--sandbox", "bwrap", "--item", "Write `p.txt`", cwd=repo, env=FAST)
    assert (r.code, r.err) == (0, "")
    wait_for(state_is(repo, "packs", "done"), message="the confined worker to finish")
    assert loose.exists()  # still there, its folder too
    loose.unlink()  # as a worker may: the object is still there, in a pack, out of a worker's reach
    assert git(repo, "cat-file", "-p", blob) == "a loose object of yours"


def test_auto_without_bwrap_runs_unconfined_and_says_so(repo: Path, tmp_path: Path, hermetic: Path) -> None:
    env = {**FAST, **without_bwrap(tmp_path)}
    r = dispatch("new", "Plain", "--model", "scripted", "--item", "Write `a.txt`", cwd=repo, env=env)
    assert (r.code, r.err) == (0, "")
    wait_for(state_is(repo, "plain", "done"), message="the unconfined worker to finish")
    assert worker_json(repo, "plain")["sandbox"] == "off"
    note = f"workers are not confined: {NO_BWRAP}; or set `sandbox = \"off\"` to say so"
    status = dispatch("status", cwd=repo, env=env).out.splitlines()
    assert status[-2:] == ["", note]
    assert dispatch("show", "plain", cwd=repo, env=env).out.splitlines()[-2:] == ["", note]
    assert dispatch("doctor", cwd=repo, env=env).out == f"nothing to repair\nsandbox  {note}\n"
    # The notes' probe is kept in the user's cache, for as long as bwrap, the kernel and the sysctls stay as they are.
    cached = json.loads((hermetic / ".cache" / "dispatch" / "sandbox.json").read_text())
    assert cached["probe"] == {"works": False, "program": None, "problem": NO_BWRAP}
    # Said once, by the user: no more notes.
    r = dispatch("config", "set", "sandbox", "off", cwd=repo, env=env)
    assert r.code == 0, r.err
    assert dispatch("doctor", cwd=repo, env=env).out == (
        "nothing to repair\nsandbox  off: workers run unconfined, as `sandbox = \"off\"` says\n")


def test_bwrap_asked_for_but_missing_refuses_and_creates_nothing(repo: Path, tmp_path: Path) -> None:
    env = without_bwrap(tmp_path)
    before = snapshot(repo)
    r = dispatch("new", "Boxed", "--model", "scripted", "--sandbox", "bwrap", cwd=repo, env=env)
    assert (r.code, r.out) == (1, "")
    assert r.err == f"dispatch: sandbox `bwrap` cannot run: {NO_BWRAP}; or start the worker with `--sandbox off`\n"
    assert snapshot(repo) == before


def test_bwrap_the_kernel_refuses_is_refused_with_its_cause_and_creates_nothing(repo: Path, tmp_path: Path) -> None:
    """bubblewrap installed, but no namespace for it here: a real refusal by the kernel, made by running dispatch
    without capabilities (as in a locked-down container). `--sandbox bwrap` names bwrap's own error and the
    fixes; `auto` starts the worker unconfined and says so."""
    bwrap, setpriv = shutil.which("bwrap"), shutil.which("setpriv")
    if os.getuid() != 0 or bwrap is None or setpriv is None:
        pytest.skip("SKIPPED LOUDLY: needs root, bwrap and setpriv to make the kernel refuse bwrap a namespace")

    def without_capabilities(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([setpriv, "--bounding-set=-all", "--inh-caps=-all", sys.executable, "-m", "dispatch",
                               *args], cwd=repo, capture_output=True, text=True, env={**os.environ, **FAST})

    before = snapshot(repo)
    r = without_capabilities("new", "Boxed", "--model", "scripted", "--sandbox", "bwrap")
    problem = (f"{bwrap} cannot confine a process here (bwrap: Creating new namespace failed: Operation not "
               "permitted): allow unprivileged user namespaces (`sudo sysctl -w kernel.unprivileged_userns_clone=1`; "
               "on Ubuntu `sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`)")
    assert (r.returncode, r.stdout, r.stderr) == (
        1, "", f"dispatch: sandbox `bwrap` cannot run: {problem}; or start the worker with `--sandbox off`\n")
    assert snapshot(repo) == before
    r = without_capabilities("new", "Plain", "--model", "scripted", "--item", "Write `a.txt`")
    assert (r.returncode, r.stderr) == (0, "")
    wait_for(lambda: worker_json(repo, "plain").get("phase") == "exited", message="the unconfined worker to exit")
    assert worker_json(repo, "plain")["sandbox"] == "off"
    assert without_capabilities("status").stdout.splitlines()[-1] == (
        f"workers are not confined: {problem}; or set `sandbox = \"off\"` to say so")


def test_a_sandbox_mode_that_does_not_exist_is_refused(repo: Path) -> None:
    before = snapshot(repo)
    r = dispatch("new", "Boxed", "--model", "scripted", "--sandbox", "jail", cwd=repo)
    assert (r.code, r.out, r.err) == (1, "", "dispatch: --sandbox `jail` is not a sandbox mode: use one of auto, bwrap, off\n")
    assert snapshot(repo) == before


def test_a_repository_file_loosens_the_sandbox_only_when_trusted(repo: Path, tmp_path: Path) -> None:
    (repo / ".dispatch.toml").write_text('sandbox = "off"\n')
    git(repo, "add", ".dispatch.toml")
    git(repo, "commit", "-q", "-m", "no sandbox, please")
    before = snapshot(repo)
    r = dispatch("new", "Loose", "--model", "scripted", cwd=repo, env=FAST, tmp=tmp_path)
    assert (r.code, r.err) == (1, ("dispatch: <tmp>/work/app/.dispatch.toml defines `sandbox` and is not trusted: "
                                   "read it, then run `dispatch trust`\n"))
    assert snapshot(repo) == before
    assert dispatch("trust", cwd=repo).code == 0
    r = dispatch("new", "Loose", "--model", "scripted", "--item", "Write `a.txt`", cwd=repo, env=FAST)
    assert (r.code, r.err) == (0, "")
    wait_for(state_is(repo, "loose", "done"), message="the worker to finish")
    assert worker_json(repo, "loose")["sandbox"] == "off"


NETWORK = '''\
import os
import socket

try:
    socket.create_connection(("127.0.0.1", int(os.environ["PORT"])), timeout=5).close()
    print("network: reached", flush=True)
except OSError as e:
    print(f"network: {e.strerror}", flush=True)
'''


@pytest.mark.parametrize(("setting", "seen"), [("true", "network: reached"), ("false", "network: Connection refused")])
def test_sandbox_network_false_cuts_the_worker_off(repo: Path, tmp_path: Path, hermetic: Path, setting: str,
                                                   seen: str) -> None:
    import socket

    confined_here()
    if setting == "false" and not sandbox.probe(network=False).works:
        pytest.skip(f"SKIPPED LOUDLY: bwrap cannot make a network namespace here: {sandbox.probe(network=False).problem}")
    server = socket.create_server(("127.0.0.1", 0))
    script_models(hermetic, NETWORK, {"net": ""}, top=f"sandbox_network = {setting}\n",
                  backend=f'env = {{ PORT = "{server.getsockname()[1]}" }}\n')
    r = dispatch("new", "Reach out", "--id", "net", "--model", "net", cwd=repo)
    assert (r.code, r.err) == (0, "")
    wait_for(lambda: events(repo)[-1]["kind"] == "exited", message="the worker to exit")
    server.close()
    log = dispatch("logs", "net", cwd=repo).out.splitlines()
    assert [line for line in log if line.startswith("network:")] == [seen]
    cut = "" if setting == "true" else ", without a network"
    assert dispatch("doctor", cwd=repo).out.splitlines()[-1] == (
        f"sandbox  bwrap (auto): workers run confined{cut}; bubblewrap works here")
    assert json.loads(json.dumps(worker_json(repo, "net")["sandbox"])) == "bwrap"


def test_the_sandbox_keys_take_only_their_values(repo: Path, tmp_path: Path) -> None:
    r = dispatch("config", "set", "sandbox", "jail", cwd=repo, tmp=tmp_path)
    assert (r.code, r.err) == (1, ("dispatch: <tmp>/home/.config/dispatch/config.toml: key `sandbox` must be one of "
                                   "auto, bwrap, off, not str 'jail'\n"))
    r = dispatch("config", "set", "sandbox_network", "yes", cwd=repo, tmp=tmp_path)
    assert (r.code, r.err) == (1, ("dispatch: <tmp>/home/.config/dispatch/config.toml: key `sandbox_network` must be "
                                   "true or false, not str 'yes'\n"))
    for key, value in (("sandbox", "bwrap"), ("sandbox_network", "false"), ("sandbox_write", '["~/.npm"]')):
        assert dispatch("config", "set", key, value, cwd=repo).code == 0
    shown = dispatch("config", "show", cwd=repo, tmp=tmp_path).out.splitlines()
    assert [line for line in shown if line.startswith("sandbox")] == [
        'sandbox = "bwrap"  # <tmp>/home/.config/dispatch/config.toml',
        "sandbox_network = false  # <tmp>/home/.config/dispatch/config.toml",
        'sandbox_write = ["~/.npm"]  # <tmp>/home/.config/dispatch/config.toml',
    ]


def test_the_real_claude_code_cli_works_confined(repo: Path, tmp_path: Path) -> None:
    """Claude Code (pinned, against the fake API on 127.0.0.1) as a confined worker: edits, asks through its Bash
    tool, commits, its cost parsed; its write into the main checkout fails as the shell's own error."""
    from claude_cli import INSTALL_HINT, find_claude
    from fake_anthropic import Conversation, FakeAnthropic, Script, text, tool_use
    from test_claude_worker import worker_env

    confined_here()
    if find_claude() is None:
        pytest.skip(f"SKIPPED LOUDLY: the Claude Code CLI is missing: {INSTALL_HINT}")
    wt = tmp_path / "work" / "app.dispatch" / "paint"
    script = Script([Conversation(match="Your task is `paint`", turns=[
        [text("Asking first."), tool_use("Bash", {
            "command": f"dispatch ask 'Which colour?' > colour.txt; {{ echo pwned >> {repo}/README.md; }} 2> escape.txt",
        })],
        [tool_use("Bash", {
            "command": "sed -i 's/- \\[ \\] Paint/- [x] Paint/' .dispatch/PLAN.md && git add -A && git commit -qm 'Paint'",
        })],
        [text("Every item is done.")],
    ])])
    with FakeAnthropic(script, tmp_path / "requests.jsonl") as api:
        env = worker_env(api, tmp_path / "home")
        r = dispatch("new", "Paint", "--model", "sonnet", "--sandbox", "bwrap", "--item", "Paint", cwd=repo, env=env)
        assert (r.code, r.err) == (0, "")
        wait_for(state_is(repo, "paint", "asking"), timeout=90, message="claude to ask")
        r = dispatch("answer", "paint", "Blue", cwd=repo)
        assert (r.code, r.out) == (0, "answered Q1 of paint: the waiting worker continues with it\n")
        wait_for(lambda: worker_json(repo, "paint").get("phase") == "exited", timeout=90, message="claude to finish")
    assert git(repo, "log", "--format=%s", "main..dispatch/paint").splitlines() == [
        "Paint", "dispatch: answer Q1", "dispatch: ask Q1", "dispatch: plan paint",
    ]
    assert git(repo, "show", "dispatch/paint:colour.txt") == "Blue"
    assert (wt / "escape.txt").read_text() == f"/bin/bash: line 1: {repo}/README.md: Read-only file system\n"
    assert (repo / "README.md").read_text() == "# app\n"
    data = worker_json(repo, "paint")
    assert (data["sandbox"], data["exit_code"], data["runs"][0]["cost_usd"]) == ("bwrap", 0, 0.0012)


def test_task_branches_without_a_folder_of_their_own_are_not_confined(repo: Path, tmp_path: Path) -> None:
    """A confined worker may write the folder of its branch: with `branch_prefix = "task-"` that would be
    refs/heads, where `main` is. `--sandbox bwrap` refuses before creating anything; `auto` runs unconfined and
    says why."""
    confined_here()
    (repo / ".dispatch.toml").write_text('branch_prefix = "task-"\n')
    assert dispatch("trust", cwd=repo).code == 0  # an untrusted file's branch_prefix is ignored (13.7)
    before = snapshot(repo)
    r = dispatch("new", "Flat", "--model", "scripted", "--sandbox", "bwrap", cwd=repo, env=FAST)
    problem = ("a confined worker needs the task branches in a folder of their own, and branch_prefix `task-` has "
               "none: set it to end in `/` (such as `dispatch/`)")
    assert (r.code, r.out, r.err) == (
        1, "", f"dispatch: sandbox `bwrap` cannot run: {problem}; or start the worker with `--sandbox off`\n")
    assert snapshot(repo) == before
    r = dispatch("new", "Flat", "--model", "scripted", "--item", "Write `a.txt`", cwd=repo, env=FAST)
    assert (r.code, r.err) == (0, "")
    wait_for(state_is(repo, "flat", "done"), message="the unconfined worker to finish")
    assert worker_json(repo, "flat")["sandbox"] == "off"
    assert dispatch("status", cwd=repo).out.splitlines()[-1] == (
        f"workers are not confined: {problem}; or set `sandbox = \"off\"` to say so")


def test_the_sandbox_flag_stays_with_the_task_until_resume_changes_it(repo: Path, tmp_path: Path) -> None:
    confined_here()
    r = dispatch("new", "Kept", "--model", "scripted", "--sandbox", "off", "--no-start", "--item", "Write `a.txt`",
                 "--item", "Write `b.txt`", cwd=repo)
    assert (r.code, r.err) == (0, "")
    r = dispatch("resume", "kept", cwd=repo, env={**FAST, "DISPATCH_SCRIPTED_DELAY": "0.3"})
    assert (r.code, r.err) == (0, "")
    wait_for(lambda: worker_json(repo, "kept").get("phase") == "exited", message="the first run")
    assert (worker_json(repo, "kept")["sandbox"], worker_json(repo, "kept")["sandbox_flag"]) == ("off", "off")
    git(tmp_path / "work" / "app.dispatch" / "kept", "reset", "-q", "--hard", "HEAD~1")  # one item to do again
    r = dispatch("resume", "kept", "--sandbox", "bwrap", cwd=repo, env=FAST)
    assert (r.code, r.err) == (0, "")
    wait_for(lambda: worker_json(repo, "kept").get("run") == 2 and worker_json(repo, "kept")["phase"] == "exited",
             message="the second run")
    assert (worker_json(repo, "kept")["sandbox"], worker_json(repo, "kept")["sandbox_flag"]) == ("bwrap", "bwrap")
    assert task_status(repo, "kept")["state"] == "done"


def test_a_confined_workers_commits_reach_its_branch_and_none_is_lost_when_you_committed_meanwhile(
        repo: Path, tmp_path: Path) -> None:
    """The folder of task branches a confined worker sees: seeded from the real one (lock files left out), and
    its branch's moves brought to the real branch by its supervisor (here: by hand, as a supervisor that died
    before it synced leaves it to the next run's seed); your commits in its worktree meanwhile brought into its
    folder. When both committed before a sync, the branch follows the worker, yours is kept."""
    confined_here()
    assert dispatch("new", "Mine", "--no-start", cwd=repo).code == 0
    assert dispatch("new", "Other", "--no-start", cwd=repo).code == 0
    common, wt = repo / ".git", tmp_path / "work" / "app.dispatch" / "mine"
    (common / "refs" / "heads" / "dispatch" / "other.lock").write_text(git(repo, "rev-parse", "main") + "\n")
    layout = sandbox.Layout(worktree=wt, main_root=repo, common_dir=common, worktrees_root=wt.parent,
                            branch_ref=git_names.head_ref("dispatch/mine"), home=tmp_path / "home", state=[])
    sandbox.prepare(layout, "mine")
    view = BranchView(repo, common, "mine", "refs/heads/dispatch/mine")
    plan = git(repo, "rev-parse", "dispatch/mine")
    assert view.seed() is None
    argv = sandbox.command(layout, "mine", True, "bwrap", dict(os.environ))

    def inside(*args: str) -> str:
        r = subprocess.run([*argv, *args], capture_output=True, text=True, check=False)
        assert (r.returncode, r.stderr) == (0, "")
        return r.stdout

    assert inside("ls", str(common / "refs" / "heads" / "dispatch")) == "mine\nother\n"
    inside("git", "commit", "-q", "--allow-empty", "-m", "inside")
    first = (view.refs / "mine").read_text().strip()
    assert git(repo, "rev-parse", "dispatch/mine") == plan  # not yet here
    assert view.seed() is None  # the next run's: synced first
    assert git(repo, "rev-parse", "dispatch/mine") == first != plan
    assert git(repo, "reflog", "--format=%gs", "-1", "dispatch/mine") == "commit: inside"

    git(wt, "commit", "-q", "--allow-empty", "-m", "yours")  # outside its sandbox, while it runs
    yours = git(repo, "rev-parse", "dispatch/mine")
    assert view.sync() is None
    assert (view.refs / "mine").read_text() == yours + "\n"  # into its folder, as git writes a ref
    inside("git", "commit", "-q", "--allow-empty", "-m", "inside, on yours")
    assert view.sync() is None
    assert git(repo, "log", "--format=%s", "-3", "dispatch/mine").splitlines() == ["inside, on yours", "yours", "inside"]

    git(wt, "commit", "-q", "--allow-empty", "-m", "yours again")  # and, before any sync, the worker commits too
    again = git(repo, "rev-parse", "dispatch/mine")
    inside("git", "commit", "-q", "--allow-empty", "-m", "inside, on its own line")
    its = (view.refs / "mine").read_text().strip()
    assert view.sync() == (f"refs/heads/dispatch/mine moved here while the worker committed in its sandbox: the "
                           f"branch follows the worker, and what was committed here ({again[:7]}) is kept as "
                           f"refs/dispatch/kept/mine/{again[:12]}")
    assert (git(repo, "rev-parse", "dispatch/mine"), git(repo, "rev-parse", f"refs/dispatch/kept/mine/{again[:12]}")) == (
        its, again)
    assert git(repo, "log", "--format=%s", "-2", "dispatch/mine").splitlines() == ["inside, on its own line",
                                                                                  "inside, on yours"]
    shown = dispatch("show", "mine", cwd=repo).out.rstrip("\n").split("\n\n")
    assert [part for part in shown if part.startswith("Kept aside")] == [
        ("Kept aside (committed here while its confined worker committed: the branch followed the worker)\n"
         f"  {again[:7]}  yours again  (refs/dispatch/kept/mine/{again[:12]})")]
    assert json.loads(dispatch("show", "mine", "--json", cwd=repo).out)["task"]["kept"] == [
        {"ref": f"refs/dispatch/kept/mine/{again[:12]}", "sha": again, "subject": "yours again"}]
    assert view.sync() is None  # said once


def test_a_confined_worker_runs_a_program_that_lives_under_tmp(repo: Path, tmp_path: Path, hermetic: Path) -> None:
    """The sandbox's /tmp is its own: a CLI installed under /tmp (a clone there, its `.tools/`) is mounted back,
    read-only, with its whole folder (an npm CLI on PATH links into its package beside it)."""
    import tempfile

    confined_here()
    top = Path(tempfile.mkdtemp(prefix="dispatch-test-", dir="/tmp"))
    try:
        package, bin_dir = top / "pkg", top / "bin"
        package.mkdir()
        bin_dir.mkdir()
        (package / "worker.sh").write_text("#!/bin/sh\nprintf 'ran\\n' > ran.txt\n")
        (package / "worker.sh").chmod(0o755)
        (bin_dir / "tmp-worker").symlink_to(package / "worker.sh")
        config = hermetic / ".config" / "dispatch" / "config.toml"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text('[backends.tmpcli]\ncommand = ["tmp-worker"]\n[models.tmpcli]\nbackend = "tmpcli"\n')
        env = {**FAST, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
        r = dispatch("new", "From tmp", "--model", "tmpcli", "--sandbox", "bwrap", cwd=repo, env=env)
        assert r.code == 0, r.err
        wait_for(lambda: worker_json(repo, "from-tmp").get("phase") == "exited", message="the worker to end")
        assert worker_json(repo, "from-tmp")["exit_code"] == 0
        assert (tmp_path / "work" / "app.dispatch" / "from-tmp" / "ran.txt").read_text() == "ran\n"
    finally:
        shutil.rmtree(top, ignore_errors=True)
