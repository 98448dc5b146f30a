"""`merge`, `rebase`, `clean` and `pr` on real repositories: nothing moves unless the whole landing can."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import dispatch, git, snapshot

from dispatch import config
from dispatch.errors import DispatchError
from dispatch.land import merge as land
from dispatch.repo import open_repo
from dispatch.task import runtime


def _task(repo: Path, title: str, files: dict[str, str], *, base: str | None = None) -> Path:
    """A task whose worker changed FILES in one commit and ticked its one item; returns its worktree."""
    args = ["--base", base] if base else []
    r = dispatch("new", title, "--item", "Do the work", *args, "--no-start", "--json", cwd=repo)
    assert r.code == 0, r.err
    wt = Path(json.loads(r.out)["task"]["worktree"])
    for path, text in files.items():
        (wt / path).parent.mkdir(parents=True, exist_ok=True)
        (wt / path).write_text(text)
    git(wt, "add", "-A")
    git(wt, "commit", "-qm", f"work on {title.lower()}")
    plan = wt / ".dispatch" / "PLAN.md"
    plan.write_text(plan.read_text().replace("- [ ] Do the work", "- [x] Do the work"))
    git(wt, "commit", "-qam", "tick")
    return wt


def _commit(cwd: Path, path: str, text: str, message: str) -> str:
    (cwd / path).write_text(text)
    git(cwd, "add", path)
    git(cwd, "commit", "-qm", message)
    return git(cwd, "rev-parse", "HEAD")


def _short(repo: Path, rev: str) -> str:
    return git(repo, "rev-parse", "--short", rev)


def _task_files_on(repo: Path, rev: str) -> list[str]:
    return [p for p in git(repo, "ls-tree", "-r", "--name-only", rev).splitlines() if p.startswith(".dispatch")]


def test_squash_onto_a_dirty_main_keeps_the_local_changes_and_can_be_restored(repo: Path, tmp_path: Path) -> None:
    _task(repo, "Fix it", {"src/app.py": "def main():\n    return 2\n"})
    tip, old = git(repo, "rev-parse", "dispatch/fix-it"), git(repo, "rev-parse", "main")
    (repo / "README.md").write_text("# app\n\nlocal edit\n")
    (repo / "scratch.txt").write_text("untracked\n")
    r = dispatch("merge", "fix-it", "--yes", cwd=repo, tmp=tmp_path)
    assert (r.code, r.err) == (0, "")
    new = git(repo, "rev-parse", "main")
    assert r.out == textwrap.dedent(f"""\
        landed fix-it on main by squash: {old[:7]} -> {new[:7]}
          removed its worktree and branch; `dispatch restore fix-it` brings them back
        """)
    message = "Fix it\n\n- [x] Do the work\n\ndispatch-task: fix-it"
    assert git(repo, "log", "-1", "--format=%P%n%B", "main") == f"{old}\n{message}"
    assert _task_files_on(repo, "main") == []
    assert (repo / "src" / "app.py").read_text() == "def main():\n    return 2\n"
    assert git(repo, "status", "--porcelain") == "M README.md\n?? scratch.txt"
    assert (repo / "README.md").read_text() == "# app\n\nlocal edit\n"
    assert git(repo, "branch", "--list", "dispatch/*") == ""
    assert git(repo, "rev-parse", "refs/dispatch/trash/fix-it^") == tip
    events = [json.loads(line) for line in (repo / ".git" / "dispatch" / "events.jsonl").read_text().splitlines()]
    assert {k: events[-1][k] for k in ("kind", "strategy", "into", "old", "new", "kept")} == {
        "kind": "merged", "strategy": "squash", "into": "main", "old": old, "new": new, "kept": False,
    }
    assert dispatch("trash", cwd=repo).out.splitlines()[1].split()[2] == "merged"
    assert dispatch("restore", "fix-it", cwd=repo).code == 0
    assert git(repo, "rev-parse", "dispatch/fix-it") == tip
    assert (tmp_path / "work" / "app.dispatch" / "fix-it" / ".dispatch" / "PLAN.md").exists()
    assert json.loads(dispatch("status", "--json", cwd=repo).out)["tasks"][0]["state"] == "merged"


def test_local_changes_to_a_file_the_task_touches_refuse_the_landing(repo: Path, tmp_path: Path) -> None:
    _task(repo, "Fix it", {"src/app.py": "def main():\n    return 2\n"})
    (repo / "src" / "app.py").write_text("def main():\n    return 'mine'\n")
    before = snapshot(repo)
    r = dispatch("merge", "fix-it", "--yes", cwd=repo, tmp=tmp_path)
    assert (r.code, r.out) == (1, "")
    assert r.err == (
        "dispatch: main is checked out in <tmp>/work/app with local changes to src/app.py that landing would "
        "overwrite: nothing changed; commit or stash them there, then retry\n"
    )
    assert snapshot(repo) == before
    assert (repo / "src" / "app.py").read_text() == "def main():\n    return 'mine'\n"


@pytest.mark.parametrize("strategy", ["squash", "merge", "rebase", "ff"])
def test_a_predicted_conflict_moves_nothing(repo: Path, strategy: str) -> None:
    _task(repo, "Fix it", {"src/app.py": "def main():\n    return 2\n"})
    _commit(repo, "src/app.py", "def main():\n    return 3\n", "main changes the same line")
    before = snapshot(repo)
    r = dispatch("merge", "fix-it", "--strategy", strategy, "--yes", cwd=repo)
    assert (r.code, r.out) == (1, "")
    assert r.err == (
        "dispatch: fix-it would conflict with main in src/app.py: nothing changed; "
        "`dispatch rebase fix-it --leave` rebases it and leaves the conflicts to resolve\n"
    )
    assert snapshot(repo) == before


def test_merge_strategy_makes_a_merge_commit_of_the_tasks_own_work(repo: Path, hermetic: Path) -> None:
    _task(repo, "Add feature", {"feature.py": "x = 1\n"})
    tip = git(repo, "rev-parse", "dispatch/add-feature")
    old = _commit(repo, "README.md", "# app\nmoved on\n", "main moves on")
    user_config = hermetic / ".config" / "dispatch" / "config.toml"
    user_config.parent.mkdir(parents=True)
    user_config.write_text('merge_strategy = "merge"\n')
    r = dispatch("merge", "add-feature", "--message", "Land the feature", "--yes", cwd=repo)
    assert r.code == 0, r.err
    assert r.out.splitlines()[0].startswith("landed add-feature on main by merge: ")
    parents = git(repo, "log", "-1", "--format=%P", "main").split()
    assert parents[0] == old
    assert git(repo, "log", "-1", "--format=%B", "main") == "Land the feature"
    # The merged side is the task's own commit, copied without the task files; the plan commits stay on the task.
    merged = git(repo, "log", "-1", "--format=%P%n%s", parents[1])
    assert merged == f"{git(repo, 'merge-base', old, tip)}\nwork on add feature"
    assert _task_files_on(repo, "main") == []
    assert git(repo, "log", "--format=%s", "main", "--", ".dispatch") == ""
    assert _task_files_on(repo, tip) == [".dispatch/NOTES.md", ".dispatch/PLAN.md", ".dispatch/QUESTIONS.md"]
    assert (repo / "feature.py").read_text() == "x = 1\n"


def test_rebase_strategy_replays_the_commits_on_top(repo: Path, tmp_path: Path) -> None:
    _task(repo, "Add feature", {"feature.py": "x = 1\n"})
    old = _commit(repo, "README.md", "# app\nmoved on\n", "main moves on")
    r = dispatch("merge", "add-feature", "--strategy", "rebase", "--yes", cwd=repo)
    assert r.code == 0, r.err
    subjects = git(repo, "log", "--format=%s", f"{old}..main").splitlines()
    assert subjects == ["work on add feature"]  # the plan and tick commits touched only the task files
    assert git(repo, "rev-list", "--merges", "main") == ""
    assert _task_files_on(repo, "main") == []
    assert not (tmp_path / "work" / "app.dispatch" / "add-feature").exists()
    # The trash keeps the replayed commits, with the plan, so the task comes back as it landed.
    replayed = "refs/dispatch/trash/add-feature^"
    assert git(repo, "log", "--format=%s", f"{old}..{replayed}").splitlines() == [
        "tick", "work on add feature", "dispatch: plan add-feature",
    ]
    assert git(repo, "diff", "--stat", replayed, "main", "--", ".", ":(exclude).dispatch") == ""


def test_ff_strategy_fast_forwards_or_says_why_not(repo: Path) -> None:
    _task(repo, "Add feature", {"feature.py": "x = 1\n"})
    _task(repo, "Other", {"other.py": "y = 1\n"})
    tip = git(repo, "rev-parse", "dispatch/add-feature")
    assert dispatch("merge", "add-feature", "--strategy", "ff", "--yes", cwd=repo).code == 0
    # The task's own commit, copied without the task files, straight on top of the old main.
    assert git(repo, "log", "--format=%s", f"{git(repo, 'merge-base', 'main', tip)}..main") == "work on add feature"
    assert git(repo, "diff", "--stat", tip, "main", "--", ".", ":(exclude).dispatch") == ""
    r = dispatch("merge", "other", "--strategy", "ff", "--yes", cwd=repo)
    assert (r.code, r.err) == (1, (
        "dispatch: main has moved since other started, so it cannot fast-forward: "
        "`dispatch rebase other` first, or land with `--strategy squash` or `merge`\n"
    ))


@pytest.mark.parametrize("strategy", ["merge", "rebase", "ff"])
def test_the_base_history_never_mentions_the_task_files(repo: Path, strategy: str) -> None:
    """Every strategy lands only the task's own work: no plan, ask, answer or removal commits on the base."""
    wt = _task(repo, "Add feature", {"feature.py": "x = 1\n"})
    r = dispatch("ask", "Which name?", "--timeout", "0", cwd=wt)
    assert r.code == 75
    assert dispatch("answer", "add-feature", "feature", cwd=repo).code == 0  # committed as `dispatch: answer Q1`
    _commit(wt, "feature.py", "x = 2\n", "second step")
    plan = wt / ".dispatch" / "PLAN.md"
    plan.write_text(plan.read_text() + "- a note in the same commit as work\n")
    (wt / "feature.py").write_text("x = 3\n")
    git(wt, "commit", "-qam", "third step, with a note")
    plan.write_text(plan.read_text() + "- a note alone\n")
    git(wt, "commit", "-qam", "the note alone")
    assert "dispatch: answer Q1" in git(wt, "log", "--format=%s")
    old = git(repo, "rev-parse", "main")
    if strategy == "rebase":
        old = _commit(repo, "README.md", "# app\nmoved on\n", "main moves on")
    r = dispatch("merge", "add-feature", "--strategy", strategy, "--yes", cwd=repo)
    assert (r.code, r.err) == (0, "")
    assert git(repo, "log", "--format=%s", "main", "--", ".dispatch") == ""
    own = git(repo, "log", "--format=%s%x09%an%x09%ad", "--date=iso-strict", f"{old}..main", "--no-merges")
    assert own.splitlines() == [
        f"{subject}\tAda Tester\t2026-11-23T10:00:00+00:00"
        for subject in ("third step, with a note", "second step", "work on add feature")
    ]
    assert (repo / "feature.py").read_text() == "x = 3\n"
    assert _task_files_on(repo, "main") == []


def test_a_target_not_checked_out_moves_by_compare_and_swap(repo: Path) -> None:
    git(repo, "branch", "release")
    _task(repo, "Fix it", {"fix.py": "ok = True\n"}, base="release")
    old = git(repo, "rev-parse", "release")
    main = git(repo, "rev-parse", "main")
    r = dispatch("merge", "fix-it", "--yes", cwd=repo)
    assert r.code == 0, r.err
    new = git(repo, "rev-parse", "release")
    assert r.out.splitlines()[0] == f"landed fix-it on release by squash: {old[:7]} -> {new[:7]}"
    assert git(repo, "rev-parse", "release^") == old
    assert git(repo, "rev-parse", "main") == main
    assert git(repo, "reflog", "-1", "--format=%gs", "release") == "dispatch: land fix-it"


def _prepare(repo: Path, task_id: str, **options: str | None) -> tuple[land.Landing, object, object]:
    r, cfg = open_repo(repo), config.load(repo)
    options = {"strategy": "squash", "into": None, "message": None} | options
    return land.prepare(r, cfg, task_id, **options), r, cfg  # type: ignore[arg-type]


@pytest.mark.parametrize("checked_out", [False, True])
def test_a_target_moved_by_another_process_is_reported_not_overwritten(repo: Path, checked_out: bool) -> None:
    if not checked_out:
        git(repo, "branch", "release")
    target = "main" if checked_out else "release"
    _task(repo, "Fix it", {"fix.py": "ok = True\n"}, base=target)
    landing, r, cfg = _prepare(repo, "fix-it")
    old = git(repo, "rev-parse", target)
    # Another process lands something first.
    if checked_out:
        moved = _commit(repo, "other.txt", "x\n", "someone else")
    else:
        moved = git(repo, "commit-tree", "-p", old, "-m", "someone else", f"{old}^{{tree}}")
        git(repo, "update-ref", "refs/heads/release", moved)
    before = snapshot(repo)
    with pytest.raises(DispatchError) as e:
        land.land(r, cfg, landing, keep=False)  # type: ignore[arg-type]
    assert str(e.value) == f"{target} moved meanwhile (now {moved[:7]}, was {old[:7]}): nothing changed; retry"
    assert snapshot(repo) == before


def test_refusals_change_nothing(repo: Path, tmp_path: Path) -> None:
    wt = _task(repo, "Fix it", {"src/app.py": "def main():\n    return 2\n"})
    before = snapshot(repo)

    def refused(*args: str) -> tuple[int, str]:
        r = dispatch(*args, cwd=repo, tmp=tmp_path)
        assert r.out == ""
        assert snapshot(repo) == before
        return r.code, r.err

    assert refused("merge", "fix-it") == (
        1, ("dispatch: landing fix-it on main by squash needs confirmation and there is no terminal to ask on: "
        "pass --yes\n")
    )
    assert refused("merge", "fix-it", "--strategy", "octopus", "--yes") == (
        2, "dispatch: unknown strategy `octopus`: use one of squash, merge, rebase, ff\n"
    )
    assert refused("merge", "fix-it", "--strategy", "ff", "--message", "Hello", "--yes") == (
        2, "dispatch: --message is for squash and merge: ff lands the task's own commits as they are\n"
    )
    assert refused("merge", "fix-it", "--into", "nope", "--yes") == (
        1, "dispatch: `nope` is not a branch here: name the branch to land on with `--into BRANCH`\n"
    )
    (wt / "src" / "app.py").write_text("half done\n")
    (wt / "new.txt").write_text("new\n")
    before = snapshot(repo)
    assert refused("merge", "fix-it", "--yes") == (1, (
        "dispatch: fix-it has uncommitted changes in <tmp>/work/app.dispatch/fix-it: src/app.py, new.txt: "
        "commit or remove them there, then land it\n"
    ))
    git(wt, "checkout", "src/app.py")
    (wt / "new.txt").unlink()
    # This test's own process stands in for a live worker and its supervisor.
    me, started = os.getpid(), runtime.process_start_time(os.getpid())
    runtime.write_worker(open_repo(repo), "fix-it", {
        "phase": "running", "pid": me, "pid_start": started, "supervisor_pid": me, "supervisor_start": started,
    })
    before = snapshot(repo)
    stop = "dispatch: the worker of `fix-it` is still running: stop it with `dispatch stop fix-it`, then"
    assert refused("merge", "fix-it", "--yes") == (1, f"{stop} land it\n")
    assert refused("rebase", "fix-it") == (1, f"{stop} rebase it\n")


def test_nothing_to_land(repo: Path) -> None:
    wt = _task(repo, "Fix it", {"fix.py": "ok = True\n"})
    _commit(repo, "fix.py", "ok = True\n", "the same fix, landed by hand")
    r = dispatch("merge", "fix-it", "--yes", cwd=repo)
    assert (r.code, r.err) == (1, (
        "dispatch: nothing to land: the work of fix-it is already on main; `dispatch clean --merged` removes the task\n"
    ))
    assert wt.exists()


def test_keep_leaves_the_task_and_status_says_merged(repo: Path, tmp_path: Path) -> None:
    wt = _task(repo, "Fix it", {"fix.py": "ok = True\n"})
    tip = git(repo, "rev-parse", "dispatch/fix-it")
    r = dispatch("merge", "fix-it", "--keep", "--yes", cwd=repo)
    assert r.out.splitlines()[1:] == ["  kept its worktree and branch"]
    assert git(repo, "rev-parse", "dispatch/fix-it") == tip
    assert (wt / ".dispatch" / "PLAN.md").exists()
    assert json.loads(dispatch("status", "--json", cwd=repo).out)["tasks"][0]["state"] == "merged"
    r = dispatch("clean", cwd=repo)
    assert (r.code, r.out) == (0, "merged, still here: fix-it; `dispatch clean --merged` removes them\n")
    r = dispatch("clean", "--merged", cwd=repo)
    assert (r.code, r.err) == (1, (
        "dispatch: removing the merged tasks fix-it (saved to the trash first) needs confirmation "
        "and there is no terminal to ask on: pass --yes\n"
    ))
    r = dispatch("clean", "--merged", "--yes", cwd=repo)
    assert (r.code, r.out) == (0, "removed fix-it: merged; `dispatch restore fix-it` brings it back\n")
    assert not wt.exists()
    assert git(repo, "rev-parse", "refs/dispatch/trash/fix-it^") == tip


def test_clean_prunes_deleted_worktrees_and_removes_merged_tasks(repo: Path, tmp_path: Path) -> None:
    merged = _task(repo, "Merged by hand", {"a.py": "a = 1\n"})
    _task(repo, "Still going", {"b.py": "b = 1\n"})
    lost = _task(repo, "Lost folder", {"c.py": "c = 1\n"})
    git(repo, "merge", "-q", "--no-ff", "-m", "merge by hand", "dispatch/merged-by-hand")
    shutil.rmtree(lost)
    r = dispatch("clean", "--merged", "--yes", cwd=repo, tmp=tmp_path)
    assert (r.code, r.err) == (0, "")
    assert r.out == textwrap.dedent("""\
        pruned the worktree entry of <tmp>/work/app.dispatch/lost-folder (its folder was deleted)
          task lost-folder keeps its branch: `dispatch doctor --fix` checks it out there again, `dispatch discard lost-folder` drops it
        removed merged-by-hand: merged; `dispatch restore merged-by-hand` brings it back
        """)
    assert not merged.exists()
    assert git(repo, "branch", "--list", "--format=%(refname:short)", "dispatch/*").splitlines() == [
        "dispatch/lost-folder", "dispatch/still-going",
    ]
    assert dispatch("clean", cwd=repo).out == "nothing to clean\n"


def test_rebase_onto_the_moved_base(repo: Path) -> None:
    _task(repo, "Add feature", {"feature.py": "x = 1\n"})
    old_tip = git(repo, "rev-parse", "dispatch/add-feature")
    main = _commit(repo, "README.md", "# app\nmoved on\n", "main moves on")
    r = dispatch("rebase", "add-feature", cwd=repo)
    new_tip = git(repo, "rev-parse", "dispatch/add-feature")
    assert (r.code, r.out) == (0, f"rebased add-feature onto main: {old_tip[:7]} -> {new_tip[:7]}\n")
    assert git(repo, "rev-parse", "dispatch/add-feature~3") == main
    assert dispatch("rebase", "add-feature", cwd=repo).out == "add-feature is already on top of main: nothing to do\n"
    other = _commit(repo, "other.txt", "o\n", "another line of work")
    git(repo, "branch", "elsewhere", other)
    git(repo, "reset", "-q", "--hard", "HEAD~1")
    assert dispatch("rebase", "add-feature", "--onto", "elsewhere", cwd=repo).code == 0
    assert git(repo, "rev-parse", "dispatch/add-feature~3") == other


def test_rebase_conflict_aborts_or_is_left_for_a_person_then_lands(repo: Path, tmp_path: Path) -> None:
    wt = _task(repo, "Fix it", {"src/app.py": "def main():\n    return 2\n"})
    _commit(repo, "src/app.py", "def main():\n    return 3\n", "main changes the same line")
    tip = git(repo, "rev-parse", "dispatch/fix-it")
    r = dispatch("rebase", "fix-it", cwd=repo, tmp=tmp_path)
    assert (r.code, r.out, r.err) == (1, "", (
        "dispatch: rebasing fix-it onto main conflicts in src/app.py: aborted, nothing changed; "
        "`dispatch rebase fix-it --leave` leaves the rebase in progress to resolve\n"
    ))
    assert git(wt, "status", "--porcelain") == ""
    assert git(wt, "symbolic-ref", "HEAD") == "refs/heads/dispatch/fix-it"
    assert git(repo, "rev-parse", "dispatch/fix-it") == tip

    r = dispatch("rebase", "fix-it", "--leave", cwd=repo, tmp=tmp_path)
    assert (r.code, r.out, r.err) == (1, "", (
        "dispatch: rebasing fix-it onto main stopped on conflicts in src/app.py: resolve them in "
        "<tmp>/work/app.dispatch/fix-it, `git add` them and `git rebase --continue` there, or let a worker do it: "
        "`dispatch resume fix-it --message \"resolve the rebase conflicts\"`\n"
    ))
    assert git(wt, "status", "--porcelain") == "UU src/app.py"
    r = dispatch("merge", "fix-it", "--yes", cwd=repo, tmp=tmp_path)
    assert (r.code, r.err) == (1, (
        "dispatch: a rebase is in progress in <tmp>/work/app.dispatch/fix-it: finish it (`git rebase --continue`) "
        "or abort it (`git rebase --abort`) there, then land it\n"
    ))
    (wt / "src" / "app.py").write_text("def main():\n    return 2 + 3\n")
    git(wt, "add", "src/app.py")
    subprocess.run(["git", "rebase", "--continue"], cwd=wt, check=True, capture_output=True,
                   env={**os.environ, "GIT_EDITOR": "true"})
    r = dispatch("merge", "fix-it", "--yes", cwd=repo)
    assert r.code == 0, r.err
    assert (repo / "src" / "app.py").read_text() == "def main():\n    return 2 + 3\n"
    assert _task_files_on(repo, "main") == []


def test_an_interrupted_merge_leaves_the_target_unchanged_or_fully_moved(repo: Path) -> None:
    # Ctrl-C reaches the whole process group, git included, at a different moment each round.
    (repo / "README.md").write_text("# app\n\nlocal edit that must survive\n")
    for n, delay in enumerate([0.25, 0.4, 0.55, 0.7]):
        _task(repo, f"Task {n}", {f"file{n}.py": f"n = {n}\n"})
        old, tip = git(repo, "rev-parse", "main"), git(repo, "rev-parse", f"dispatch/task-{n}")
        argv = [sys.executable, "-m", "dispatch", "merge", f"task-{n}", "--strategy", "rebase", "--yes"]
        proc = subprocess.Popen(argv, cwd=repo, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(delay)
        try:
            os.killpg(proc.pid, signal.SIGINT)
        except ProcessLookupError:
            pass
        proc.wait(timeout=60)
        new = git(repo, "rev-parse", "main")
        trashed = git(repo, "for-each-ref", f"refs/dispatch/trash/task-{n}")
        if new == old:
            assert git(repo, "rev-parse", f"dispatch/task-{n}") == tip
            assert git(repo, "-C", str(repo.parent / "app.dispatch" / f"task-{n}"), "status", "--porcelain") == ""
            assert trashed == ""
            dispatch("merge", f"task-{n}", "--yes", cwd=repo)  # land it for the next round
        else:
            assert git(repo, "log", "-1", "--format=%s", new) == f"work on task {n}"
            assert trashed != ""
            assert git(repo, "branch", "--list", f"dispatch/task-{n}") == ""
        assert git(repo, "status", "--porcelain") == "M README.md"
        assert (repo / f"file{n}.py").read_text() == f"n = {n}\n"


def _fake_gh(folder: Path) -> Path:
    """A stand-in `gh` that records its arguments and prints a pull request address."""
    folder.mkdir(parents=True)
    gh = folder / "gh"
    gh.write_text(textwrap.dedent(f"""\
        #!{sys.executable}
        import json, pathlib, sys
        pathlib.Path({str(folder / "gh-args.json")!r}).write_text(json.dumps(sys.argv[1:]))
        print("https://github.example/acme/app/pull/7")
        """))
    gh.chmod(0o755)
    return gh


def test_pr_pushes_the_work_without_task_files_and_opens_a_pull_request(repo: Path, tmp_path: Path) -> None:
    _task(repo, "Fix it", {"fix.py": "ok = True\n"})
    tip = git(repo, "rev-parse", "dispatch/fix-it")
    bin_dir = tmp_path / "bin"
    path = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    r = dispatch("pr", "fix-it", cwd=repo, env=path)
    assert (r.code, r.err) == (1, "dispatch: this repository has no remote: add one with `git remote add origin URL`\n")
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    no_gh = tmp_path / "no-gh"
    no_gh.mkdir()
    (no_gh / "git").symlink_to(shutil.which("git") or "git")
    r = dispatch("pr", "fix-it", cwd=repo, env={"PATH": str(no_gh)})
    assert (r.code, r.err) == (1, (
        "dispatch: the GitHub CLI `gh` is not installed: install it from https://cli.github.com, then retry\n"
    ))
    _fake_gh(bin_dir)
    r = dispatch("pr", "fix-it", "--draft", cwd=repo, env=path)
    pushed = git(remote, "rev-parse", "dispatch/fix-it")
    assert (r.code, r.err) == (0, "")
    assert r.out == f"pushed {pushed[:7]} to origin dispatch/fix-it\n  pull request: https://github.example/acme/app/pull/7\n"
    # The task's own work, as landing would put it on the base: no plan or tick commits.
    assert git(remote, "log", "--format=%s", pushed) == "work on fix it\nadd the app\ninitial commit"
    assert git(repo, "diff", "--stat", tip, pushed, "--", ".", ":(exclude).dispatch") == ""
    assert _task_files_on(remote, pushed) == []
    assert json.loads((bin_dir / "gh-args.json").read_text()) == [
        "pr", "create", "--head", "dispatch/fix-it", "--base", "main", "--title", "Fix it",
        "--body", "- [x] Do the work\n\nDispatched task `fix-it`.\n", "--draft",
    ]


def test_a_base_named_like_a_tag_is_the_branch_from_new_to_merge(repo: Path, tmp_path: Path) -> None:
    """A base is a branch to land on: beside a tag of the same name, every command takes the branch."""
    first = git(repo, "rev-list", "--max-parents=0", "HEAD")
    git(repo, "tag", "rel", first)
    git(repo, "branch", "rel", "main")
    (repo / "tagged.txt").write_text("only on the tag's side\n")
    git(repo, "add", "tagged.txt")
    git(repo, "commit", "-q", "-m", "a commit only the tag reaches")
    git(repo, "tag", "-f", "rel", "HEAD")
    git(repo, "reset", "-q", "--hard", "HEAD~1")
    rel = git(repo, "rev-parse", "refs/heads/rel")
    wt = _task(repo, "On rel", {"feature.txt": "new\n"}, base="rel")
    assert git(repo, "rev-parse", "dispatch/on-rel~3") == rel
    r = dispatch("status", "--json", cwd=repo)
    assert r.code == 0, r.err
    row = json.loads(r.out)["tasks"][0]
    assert (row["ahead"], row["behind"]) == (3, 0)
    r = dispatch("merge", "on-rel", "--yes", cwd=repo)
    assert r.code == 0, r.err
    assert git(repo, "ls-tree", "--name-only", "refs/heads/rel") == "README.md\nfeature.txt\nsrc"
    assert git(repo, "rev-list", "--count", "refs/heads/rel") == "3"
    assert not wt.exists()


def _start_operation(repo: Path, operation: str) -> None:
    """Leave OPERATION half-done on main in the main checkout, as a person in the middle of it would."""
    git(repo, "switch", "-q", "-c", "other", "main~1")
    _commit(repo, "README.md", "# other\n", "other readme")
    git(repo, "switch", "-q", "main")
    one = _commit(repo, "README.md", "# one\n", "readme one")
    _commit(repo, "README.md", "# two\n", "readme two")
    commands = {"rebase": ["rebase", "other"], "merge": ["merge", "other"], "cherry-pick": ["cherry-pick", "other"],
                "revert": ["revert", "--no-edit", one], "bisect": ["bisect", "start", "main", "main~2"]}
    subprocess.run(["git", *commands[operation]], cwd=repo, capture_output=True, check=False)


@pytest.mark.parametrize("operation", ["rebase", "merge", "cherry-pick", "revert", "bisect"])
def test_landing_refuses_while_the_target_is_mid_operation(repo: Path, tmp_path: Path, operation: str) -> None:
    _task(repo, "Fix it", {"src/app.py": "def main():\n    return 2\n"})
    _start_operation(repo, operation)
    before = snapshot(repo)
    r = dispatch("merge", "fix-it", "--yes", cwd=repo, tmp=tmp_path)
    way_out = ("end it (`git bisect reset`)" if operation == "bisect" else
               f"finish it (`git {operation} --continue`) or abort it (`git {operation} --abort`)")
    assert (r.code, r.out, r.err) == (
        1, "", f"dispatch: a {operation} is in progress on main in <tmp>/work/app: {way_out} there, then land fix-it\n"
    )
    assert snapshot(repo) == before
    git(repo, operation, "--abort" if operation != "bisect" else "reset")
    assert dispatch("merge", "fix-it", "--yes", cwd=repo).code == 0


@pytest.mark.parametrize("operation", ["rebase", "merge", "cherry-pick", "revert", "bisect", None])
def test_status_finds_the_operation_git_stopped_from_its_files_alone(repo: Path, tmp_path: Path,
                                                                      operation: str | None) -> None:
    # status looks in every worktree without a git process (operations.stopped_operation): it names what git's
    # own answer names (in_progress), bisect aside (no stopped work of a task's), in the main checkout and in a
    # linked worktree (its .git a file pointing at git's folder for it).
    from dispatch.operations import in_progress, stopped_operation

    if operation is not None:
        _start_operation(repo, operation)
    assert (stopped_operation(repo), in_progress(repo)) == (None if operation == "bisect" else operation, operation)

    linked = tmp_path / "linked"
    git(repo, "worktree", "add", "-q", "-b", "side", str(linked), "HEAD")
    _commit(linked, "README.md", "# theirs\n", "their readme")
    git(linked, "branch", "theirs")
    git(linked, "reset", "-q", "--hard", "HEAD~1")
    _commit(linked, "README.md", "# side\n", "side readme")
    assert (stopped_operation(linked), in_progress(linked)) == (None, None)
    subprocess.run(["git", "merge", "theirs"], cwd=linked, capture_output=True, check=False)
    assert (stopped_operation(linked), in_progress(linked)) == ("merge", "merge")
