"""Costs that must not grow with the size of the history or the number of tasks (issue 18).

Tests assert no timings (bench/run.py measures those); they assert the things that make a cost grow:
the git processes a command runs, and the memory a walk of an old base's history keeps.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tracemalloc
from collections import Counter
from pathlib import Path

import pytest
from conftest import dispatch, git, wait_for

from dispatch import history


def _new(repo: Path, title: str) -> None:
    r = dispatch("new", title, "--item", "one", "--no-start", "--json", cwd=repo)
    assert r.code == 0, r.err


def _commit_in_task(repo: Path, task_id: str, name: str, text: str = "work\n") -> None:
    """Commit the file NAME holding TEXT in the task's worktree, as its worker would."""
    wt = repo.parent / f"{repo.name}.dispatch" / task_id
    (wt / name).write_text(text)
    git(wt, "add", name)
    git(wt, "commit", "-qm", "work")


def _grow_main(repo: Path, commits: int) -> None:
    """COMMITS more commits on main, in one `git fast-import` (a long history in a moment)."""
    stream = []
    for i in range(commits):
        stream.append(f"commit refs/heads/main\ncommitter Ada <ada@example.com> {1795420000 + i} +0000\n"
                      f"data 5\nc{i:03}\n" + ("from refs/heads/main^0\n" if i == 0 else "") + "\n")
    git(repo, "fast-import", "--quiet", input="".join(stream))
    git(repo, "reset", "-q", "--hard", "main")


# A git command's name, in a shell wrapper: its first argument after any `-C FOLDER` and `-c NAME=VALUE`.
_NAME = '( while [ "$1" = -C ] || [ "$1" = -c ]; do shift 2; done; echo "$1" )'


def _git_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put a `git` first on PATH that notes each command's name (after `-C FOLDER`), then runs the real git."""
    real = shutil.which("git")
    assert real is not None
    folder, log = tmp_path / "bin", tmp_path / "git-commands.log"
    folder.mkdir()
    wrapper = folder / "git"
    wrapper.write_text(f'#!/bin/sh\n{_NAME} >> "{log}"\nexec "{real}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    return log


def _commands(log: Path, *args: str, cwd: Path) -> Counter[str]:
    log.write_text("")
    r = dispatch(*args, cwd=cwd)
    assert (r.code, r.err) == (0, "")
    return Counter(log.read_text().split())


def test_status_runs_the_same_git_processes_at_2_and_6_tasks(
        repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # One task far behind its base: the walk for ahead/behind is one process however old the base.
    _new(repo, "First")
    _grow_main(repo, 300)
    _new(repo, "Second")
    log = _git_log(tmp_path, monkeypatch)
    dispatch("status", cwd=repo)  # the merge checks cached, as on every later call
    at_two = _commands(log, "status", "--json", cwd=repo)
    for n in range(4):
        _new(repo, f"More {n}")
    dispatch("status", cwd=repo)
    at_six = _commands(log, "status", "--json", cwd=repo)

    # Only `git status` runs once per worktree (a worktree's changes need their own process); the
    # tasks' ahead/behind counts were kept by the run before (their tips and bases have not moved).
    fixed = {"rev-parse": 1, "for-each-ref": 1, "worktree": 1, "cat-file": 1}
    assert dict(at_two) == {**fixed, "status": 2}
    assert dict(at_six) == {**fixed, "status": 6}
    # The same from a folder below the main checkout, and from inside a task's worktree: the `git status` the
    # prefetch starts before the listing is in (found from git's files) is one of the six, not a seventh.
    assert dict(_commands(log, "status", "--json", cwd=repo / "src")) == {**fixed, "status": 6}
    assert dict(_commands(log, "status", "--json", cwd=repo.parent / "app.dispatch" / "second")) == {**fixed, "status": 6}
    # Counted again: one walk, two processes, for the six tasks sharing a base.
    (repo / ".git" / "dispatch" / "ahead-behind.json").unlink()
    assert dict(_commands(log, "status", "--json", cwd=repo)) == {**fixed, "status": 6, "merge-base": 1, "rev-list": 1}


def test_conflicts_merges_only_the_pairs_that_moved(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for n in range(3):
        _new(repo, f"Work {n}")
        wt = repo.parent / "app.dispatch" / f"work-{n}"
        (wt / "README.md").write_text(f"edited by {n}\n")
        git(wt, "commit", "-qam", "work")
    log = _git_log(tmp_path, monkeypatch)
    cold = _commands(log, "conflicts", "--json", cwd=repo)
    first = dispatch("conflicts", "--json", cwd=repo).out
    warm = _commands(log, "conflicts", "--json", cwd=repo)
    # Cold: the 3 merges with main and the 3 between tasks in one merge-tree, the sizes in one diff-tree.
    assert (cold["merge-tree"], cold["diff-tree"]) == (2, 2)  # (status's own merge checks are the other pair)
    assert (warm["merge-tree"], warm["diff-tree"]) == (0, 0)
    assert json.loads(first)["pairs"] == [{"tasks": [a, b], "files": ["README.md"]}
                                          for a, b in (("work-0", "work-1"), ("work-0", "work-2"), ("work-1", "work-2"))]
    # One task moves: only its pairs are merged again, and the answer is the one computed from nothing.
    wt = repo.parent / "app.dispatch" / "work-1"
    (wt / "README.md").write_text("edited by 0\n")
    git(wt, "commit", "-qam", "agree with work-0")
    moved = _commands(log, "conflicts", "--json", cwd=repo)
    assert (moved["merge-tree"], moved["diff-tree"]) == (2, 2)
    kept = dispatch("conflicts", "--json", cwd=repo).out
    (repo / ".git" / "dispatch" / "pair-merges.json").unlink()
    assert dispatch("conflicts", "--json", cwd=repo).out == kept
    assert json.loads(kept)["pairs"] == [{"tasks": [a, b], "files": ["README.md"]} for a, b in (("work-0", "work-2"), ("work-1", "work-2"))]


def test_ahead_behind_matches_git_for_every_pair(repo: Path) -> None:
    _new(repo, "Forked")
    _commit_in_task(repo, "forked", "work.txt")
    git(repo, "merge", "-q", "--no-ff", "-m", "merge it", "dispatch/forked")
    _grow_main(repo, 40)
    git(repo, "branch", "side", "main~20")
    tips = {name: git(repo, "rev-parse", name) for name in ("main", "side", "dispatch/forked", "main~39")}
    pairs = [(tips[a], tips[b]) for a in tips for b in tips]
    expected = []
    for tip, base in pairs:
        ahead, behind = git(repo, "rev-list", "--left-right", "--count", f"{tip}...{base}").split()
        expected.append(history.PairHistory(int(ahead), int(behind), git(repo, "merge-base", tip, base)))

    # Bases shared by four tips each (a walk per base), one walk for all, and a base of one tip each
    # (counted by git), in the order asked.
    assert history.histories(repo, pairs) == expected
    assert history.walk(repo, pairs) == expected
    one_each = [0, 5, 10, 15, 3]  # (main, main), (side, side), ... and (main, main~39): five bases, one tip each
    assert history.histories(repo, [pairs[n] for n in one_each]) == [expected[n] for n in one_each]
    mixed = [0, 1, 2, 7, 11]
    assert history.histories(repo, [pairs[n] for n in mixed]) == [expected[n] for n in mixed]
    assert history.ahead_behind(repo, [pairs[n] for n in mixed]) == [
        (expected[n].ahead, expected[n].behind) for n in mixed]
    # More bases than MAX_GROUPS: one walk for every pair.
    many = [(tips["dispatch/forked"], git(repo, "rev-parse", f"main~{k}")) for k in range(history.MAX_GROUPS + 2)]
    assert history.ahead_behind(repo, many) == [
        tuple(int(c) for c in git(repo, "rev-list", "--left-right", "--count", f"{tip}...{base}").split())
        for tip, base in many]


def test_status_keeps_no_history_in_memory_for_an_old_base(repo: Path) -> None:
    _new(repo, "Old base")

    def peak() -> int:
        dispatch("status", cwd=repo)  # warm: imports done, merge check cached
        tracemalloc.start()
        try:
            r = dispatch("status", "--json", cwd=repo)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
            assert json.loads(r.out)["tasks"][0]["id"] == "old-base"

    fresh = peak()
    _grow_main(repo, 5000)
    old = peak()

    # Walking 5,000 more commits keeps the walk's frontier, not the history (which took megabytes).
    assert old - fresh < 200_000, (fresh, old)


HEAVY = ("yaml", "jinja2", "unidiff", "dispatch.task.plan", "dispatch.task.record", "dispatch.worker.scheduler",
         "concurrent.futures", "hashlib", "tomllib", "tempfile")


def _heavy_imports(args: list[str], cwd: Path, heavy: tuple[str, ...] = HEAVY) -> list[str]:
    """Which of HEAVY a fresh interpreter has imported after running `dispatch ARGS`."""
    code = ("import sys\nfrom dispatch import cli\ncli.main(sys.argv[1:])\n"
            f"print('loaded:', *[m for m in {heavy!r} if m in sys.modules], file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True, check=True)
    return proc.stderr.splitlines()


def test_start_up_imports_only_what_the_command_uses(repo: Path) -> None:
    assert _heavy_imports(["--help"], repo) == ["loaded:"]
    assert _heavy_imports(["--version"], repo) == ["loaded:"]
    # No task: no plan to parse (yaml), no worktree to run `git status` in side by side, no queue to move.
    assert _heavy_imports(["status"], repo) == ["loaded:"]
    assert _heavy_imports(["status", "--json"], repo) == ["loaded:"]


def test_the_hot_commands_never_import_typing_or_subprocess(repo: Path) -> None:
    # typing: 3.5 ms of each start-up, and 0.1 ms for each NamedTuple class it makes (dispatch.typed stands
    # in: tests/test_typed.py); subprocess, with locale, signal and selectors: 4-5 ms (dispatch.spawn starts
    # git); urllib.parse, with ipaddress, 3 ms, which pathlib imports for Path.as_uri alone
    # (dispatch.cli._pathlib_alone); threading, 1 ms (the threads of the prefetch and review's diff are bare
    # _thread ones); the legacy YAML config's reader.
    _new(repo, "Typed")
    _commit_in_task(repo, "typed", "a.txt")
    dispatch("status", cwd=repo)  # (its first run probes bubblewrap, a process of its own: kept for the next)
    for args in (["status"], ["status", "--json"], ["review", "typed", "--json"], ["review", "typed"],
                 ["conflicts", "--json"], ["new", "Second", "--no-start"]):
        # json, with its decoder, scanner and encoder: 1.5 ms, for commands that read JSON, write `--json` and
        # log events (dispatch.jsontext reads, escapes and writes a line with json's C half); `conflicts`
        # keeps its first read of a plan's front matter (in json's key order) and writes its caches.
        heavy = ("typing", "subprocess", "signal", "urllib.parse", "threading", "dispatch.config.legacy",
                 *(("json",) if args[0] != "conflicts" else ()))
        assert _heavy_imports(args, repo, heavy)[-1] == "loaded:", args


def test_no_question_and_no_queue_load_no_module_for_them(repo: Path) -> None:
    # QUESTIONS.md without a question heading, an empty queue: one look each, neither's module imported.
    _new(repo, "Quiet")
    _commit_in_task(repo, "quiet", "a.txt")
    heavy = ("dispatch.task.questions", "dispatch.worker.queue")
    for args in (["status"], ["status", "--json"], ["review", "quiet", "--json"], ["review", "quiet"]):
        assert _heavy_imports(args, repo, heavy)[-1] == "loaded:", args
    asked = repo.parent / "app.dispatch" / "quiet" / ".dispatch" / "QUESTIONS.md"
    asked.write_text(asked.read_text() + "\n## Q1 — open\nasked: 2026-11-23T10:02:00Z\n\n> Which size?\n")
    assert _heavy_imports(["status", "--json"], repo, heavy)[-1] == "loaded: dispatch.task.questions"
    assert json.loads(dispatch("status", "--json", cwd=repo).out)["tasks"][0]["questions_open"] == 1


def test_a_status_whose_counts_and_merges_are_all_kept_loads_no_module_to_compute_them(repo: Path) -> None:
    # dispatch.objects (merges) and dispatch.history (ahead/behind walks): needed only for a tip or base that
    # moved since the last status, which kept the rest.
    _new(repo, "Kept")
    _commit_in_task(repo, "kept", "a.txt")
    heavy = ("dispatch.objects", "dispatch.history")
    assert _heavy_imports(["status", "--json"], repo, heavy)[-1] == "loaded: dispatch.objects dispatch.history"
    for args in (["status"], ["status", "--json"], ["status", "kept"]):
        assert _heavy_imports(args, repo, heavy)[-1] == "loaded:", args
    _commit_in_task(repo, "kept", "b.txt")
    assert _heavy_imports(["status", "--json"], repo, heavy)[-1] == "loaded: dispatch.objects dispatch.history"


def test_pathlib_without_urllib_still_makes_uris_and_urllib_is_whole(repo: Path) -> None:
    code = ("import sys\nfrom dispatch import cli\ncli.main(['status'])\n"
            "print('urllib.parse' in sys.modules)\n"
            "import pathlib, urllib.parse\n"
            "print(pathlib.Path('/a b/ü').as_uri(), urllib.parse.quote('a b'), urllib.parse.urlsplit('x://h/p').netloc)\n"
            "print(sys.modules['urllib.parse'] is urllib.parse, urllib.parse.__spec__.name)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, check=True)
    assert proc.stdout.splitlines()[-3:] == ["False", "file:///a%20b/%C3%BC a%20b h", "True urllib.parse"]

    # A module that imports urllib.parse while pathlib loads (none does in 3.11; another Python's might: here a
    # finder that runs as pathlib is looked for) gets the stand-in, and everything it asks of it later comes
    # from the one real module.
    code = ("import sys\nfrom dispatch import cli\n"
            "class Finder:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name == 'pathlib':\n"
            "            import urllib.parse as kept\n"
            "            sys.modules['kept_parse'] = kept\n"
            "sys.meta_path.insert(0, Finder())\n"
            "cli._pathlib_alone()\n"
            "kept = sys.modules['kept_parse']\n"
            "print(kept.quote('a b'), kept.urlsplit('x://h/p').netloc)\n"
            "real = sys.modules['urllib.parse']\n"
            "print(kept.quote.__globals__ is real.__dict__, kept.unquote.__globals__ is real.__dict__)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True)
    assert (proc.returncode, proc.stdout.splitlines(), proc.stderr) == (0, ["a%20b h", "True True"], "")


def test_pathlib_loads_without_looking_for_windows_modules(repo: Path) -> None:
    # ntpath tries nt and _winapi six times as it loads, each a search of every folder on sys.path (0.4 ms):
    # no finder is asked, nothing is left in sys.modules, and PureWindowsPath is whole.
    code = ("import sys\nasked = []\n"
            "class Finder:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        asked.append(name)\n"
            "sys.meta_path.insert(0, Finder())\n"
            "from dispatch import cli\ncli.main(['status'])\n"
            "print(*[n for n in ('nt', '_winapi') if n in asked or n in sys.modules], 'ntpath' in asked)\n"
            "import pathlib\nprint(pathlib.PureWindowsPath('C:/a/b.txt').parts, pathlib.PureWindowsPath('//h/s/x').anchor)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True)
    assert (proc.returncode, proc.stdout.splitlines()[-2:], proc.stderr) == (
        0, ["True", "('C:\\\\', 'a', 'b.txt') \\\\h\\s\\"], "")


def test_a_run_builds_only_the_command_it_runs() -> None:
    from dispatch.commands import app as typer_app

    assert list(typer_app.load_commands(["status", "--json"]).commands) == ["status"]
    assert list(typer_app.load_commands(["config", "show"]).commands) == ["config"]
    # The command list builds no command's options: each entry holds its name and help only.
    listing = typer_app.load_commands(["--help"]).commands
    assert sorted(listing) == sorted(typer_app.COMMANDS)
    assert [name for name, command in listing.items() if command.params] == []


def test_review_json_copies_no_diff_line_and_renders_no_patch(repo: Path) -> None:
    from dispatch import config
    from dispatch.land.review import review
    from dispatch.repo import open_repo

    _new(repo, "Diff")
    _commit_in_task(repo, "diff", "big.txt", "".join(f"line {n}\n" for n in range(50)))
    opened = open_repo(repo)
    r = review(opened, config.load(opened.root), "diff")

    data = r.to_json()

    # The encoder reads the hunks' own line lists: a 20,000-line diff is not copied on its way out.
    assert data["files"][0]["hunks"][0]["lines"] is r.files[0].hunks[0].lines
    assert "patch" not in data["files"][0] and "parsed" not in data["files"][0]
    assert r.files[0].patch.startswith("diff --git a/big.txt b/big.txt\nnew file mode 100644\n")


def test_review_asks_git_each_question_once(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Asked as the command starts (dispatch.prefetch): the repository and its listings, then the base's
    # commit, the merge base, and the commits, the diff and the worktree's status side by side. The command
    # takes each answer: none is asked twice, whatever the form of the review.
    _new(repo, "Reviewed")
    _commit_in_task(repo, "reviewed", "a.txt")
    log = _git_log(tmp_path, monkeypatch)
    once = {"rev-parse": 1, "for-each-ref": 1, "worktree": 1, "cat-file": 1, "merge-base": 1, "log": 1, "diff": 1,
            "status": 1}
    for args in (["review", "reviewed", "--json"], ["review", "reviewed"], ["diff", "--stat", "reviewed"]):
        assert dict(_commands(log, *args, cwd=repo)) == once, args

    # A plan whose front matter reads otherwise than plainly (here, a quoted base) is left to the command:
    # the same questions, asked once, and the same review (but for the plan, edited and not committed).
    plan = repo.parent / "app.dispatch" / "reviewed" / ".dispatch" / "PLAN.md"
    before = dispatch("review", "reviewed", "--json", cwd=repo).out
    plan.write_text(plan.read_text().replace("\nbase: main\n", "\nbase: 'main'\n"))
    assert dict(_commands(log, "review", "reviewed", "--json", cwd=repo)) == once
    after = json.loads(dispatch("review", "reviewed", "--json", cwd=repo).out)
    assert after == {**json.loads(before), "review": {**json.loads(before)["review"], "uncommitted": 1}}  # (the plan)

    # A base branch that is gone: its name asked, then the commit the task started from; each once.
    git(repo, "checkout", "-qb", "trunk")
    git(repo, "branch", "-qm", "main", "gone")
    assert dict(_commands(log, "review", "reviewed", "--json", cwd=repo)) == {**once, "cat-file": 2}
    gone = json.loads(dispatch("review", "reviewed", "--json", cwd=repo).out)
    assert (gone["review"]["base"], gone["review"]["files"]) == (after["review"]["base"], after["review"]["files"])


def test_conflicts_runs_no_git_status_in_the_worktrees(
        repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _new(repo, "First")
    _new(repo, "Second")
    log = _git_log(tmp_path, monkeypatch)
    dispatch("conflicts", cwd=repo)  # the merge checks cached, as on every later call

    # What it prints needs the tasks' commits and merges, nothing uncommitted in a worktree: no `git status`;
    # the merges and each task's size (`diff --numstat base...tip`) are kept from the run before, as are
    # status's ahead/behind counts: no commit moved.
    assert dict(_commands(log, "conflicts", "--json", cwd=repo)) == {
        "rev-parse": 1, "for-each-ref": 1, "worktree": 1, "cat-file": 2}


def test_cold_merge_checks_run_a_fixed_number_of_git_processes(
        repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = _git_log(tmp_path, monkeypatch)
    counts = []
    for n in range(6):
        _new(repo, f"Task {n}")
        _commit_in_task(repo, f"task-{n}", f"work-{n}.txt")
        if n in (1, 5):
            _grow_main(repo, 1)  # main moves: every task's merge check is cold again
            counts.append(_commands(log, "status", "--json", cwd=repo))

    # Every merge in one `merge-tree --stdin`, whether each changes its base in one `diff-tree --stdin`.
    # (A task whose merge changes nothing, one with no work yet or landed, still costs a `diff` of its own.)
    cold = {"rev-parse": 2, "for-each-ref": 1, "worktree": 1, "cat-file": 1, "merge-base": 1, "rev-list": 1,
            "merge-tree": 1, "diff-tree": 1}
    assert [dict(c) for c in counts] == [{**cold, "status": 2}, {**cold, "status": 6}]


def test_kept_ahead_behind_counts_follow_moving_tips_and_bases(repo: Path) -> None:
    def counts() -> tuple[int, int]:
        task = json.loads(dispatch("status", "--json", cwd=repo).out)["tasks"][0]
        return task["ahead"], task["behind"]

    _new(repo, "Moving")
    assert counts() == (1, 0)
    assert counts() == (1, 0)  # kept
    _commit_in_task(repo, "moving", "work.txt")
    assert counts() == (2, 0)
    _grow_main(repo, 3)
    assert counts() == (2, 3)
    git(repo.parent / "app.dispatch" / "moving", "reset", "-q", "--hard", "HEAD~1")  # back to a tip counted before, against the new base
    assert counts() == (1, 3)


def test_new_checks_out_once_and_commits_in_no_worktree(
        repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = _git_log(tmp_path, monkeypatch)
    log.write_text("")
    _new(repo, "Objects")

    # The plan commit is made of objects before the worktree exists and `worktree add` checks it out:
    # no `git add` or `git commit` in the fresh worktree. Every git process `new` runs, counted: the
    # repository and the base (one `rev-parse` each), the ids taken and the base's tree (side by side),
    # the blobs, both trees (one `mktree --batch`), the commit, the worktree.
    once = {"rev-parse": 2, "for-each-ref": 1, "ls-tree": 1, "hash-object": 1, "mktree": 1, "commit-tree": 1,
            "worktree": 1}
    assert dict(Counter(log.read_text().split())) == once
    # With a linked worktree, `worktree list` too (a worktree on a task's branch takes its id).
    assert dict(_commands(log, "new", "Second", "--item", "one", "--no-start", cwd=repo)) == {**once, "worktree": 2}
    assert git(repo, "log", "-1", "--format=%s", "dispatch/objects") == "dispatch: plan objects"


def test_new_no_start_imports_no_yaml_jinja2_or_worker_module(repo: Path) -> None:
    # A new task's front matter and files render without yaml and jinja2; no worker module without a worker.
    loaded = _heavy_imports(["new", "Light", "--no-start", "--item", "one"], repo)
    assert loaded[-1] == "loaded:"
    code = ("import sys\nfrom dispatch import cli\ncli.main(sys.argv[1:])\n"
            "print(*sorted(m for m in sys.modules if m.startswith('dispatch.worker.')), file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code, "new", "Lighter", "--no-start"], cwd=repo,
                          capture_output=True, text=True, check=True)
    loaded = proc.stderr.splitlines()[-1].split()
    assert "dispatch.worker.create" in loaded
    assert not {"dispatch.worker.control", "dispatch.worker.confine", "dispatch.worker.launch"} & set(loaded)


def test_a_question_round_trip_runs_a_fixed_set_of_git_processes(repo: Path, tmp_path: Path) -> None:
    """`ask` tells the waiting `wait` before it commits, and the woken `wait` runs no git: the question's
    way to the host costs the asker's start-up and task lookup, the answer's one commit built from objects."""
    r = dispatch("new", "Ask", "--id", "asker", "--item", "Ask", "--no-start", cwd=repo)
    assert r.code == 0, r.err
    # `wait` returns at once with no worker and no question: a scripted worker that hangs keeps one running.
    r = dispatch("new", "Keep", "--id", "keep", "--model", "scripted", "--item", "Write `keep.txt` (hang)", cwd=repo)
    assert r.code == 0, r.err
    real = shutil.which("git")
    assert real is not None
    (tmp_path / "bin").mkdir()
    wrapper = tmp_path / "bin" / "git"
    wrapper.write_text(f'#!/bin/sh\n{_NAME} >> "$GIT_COMMANDS_LOG"\nexec "{real}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)

    def start(name: str, *args: str, cwd: Path) -> subprocess.Popen[str]:
        env = {**os.environ, "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}",
               "GIT_COMMANDS_LOG": str(tmp_path / f"{name}.log")}
        env.pop("DISPATCH_TASK", None)
        return subprocess.Popen([sys.executable, "-m", "dispatch", *args], cwd=cwd, env=env, text=True,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def commands(name: str) -> list[str]:
        path = tmp_path / f"{name}.log"
        return path.read_text().split() if path.exists() else []

    looked = ["rev-parse", "for-each-ref", "worktree"]  # the repository, the task branches, their worktrees
    # A commit from objects: the tip's tree read into a temporary index, the file added, a tree, a commit, the
    # branch moved; the worktree's own index told of the file beside it (so in either order: sorted here).
    prepared = ["cat-file", "read-tree"]
    committed = sorted(["update-index", "write-tree", "commit-tree", "update-ref", "update-index"])

    def question_committed() -> bool:
        done = commands("ask")
        # (The first three start side by side, before the command's imports: dispatch.prefetch.)
        return sorted(done[:3]) == sorted(looked) and sorted(done[3:10]) == sorted(prepared + committed) and done[10:] == prepared

    waiting = start("wait", "wait", "--timeout", "60", cwd=repo)
    try:
        wait_for(lambda: commands("wait") == looked, message="the wait's first look")
        asking = start("ask", "ask", "Which size?", "--timeout", "60", cwd=repo.parent / f"{repo.name}.dispatch" / "asker")
        try:
            out, err = waiting.communicate(timeout=60)
            assert (waiting.returncode, out, err) == (0, 'asker asks Q1: Which size?\n  → dispatch answer asker "..."\n', "")
            assert commands("wait") == looked
            # ... and the answer's commit prepared while it waits: once the answer comes, only what needs it runs.
            wait_for(question_committed, message="the question committed, the answer's commit prepared")
            answering = start("answer", "answer", "asker", "Large", cwd=repo)
            assert answering.communicate(timeout=60)[1] == ""
            out, err = asking.communicate(timeout=60)
            assert (asking.returncode, out, err) == (0, "Large\n", "")
            assert sorted(commands("answer")) == sorted(looked)
            done = commands("ask")
            assert (len(done), sorted(done[12:])) == (17, committed)  # no tip read again: it did not move
        finally:
            asking.kill()
            asking.communicate()
    finally:
        waiting.kill()
        waiting.communicate()
        assert dispatch("stop", "keep", cwd=repo).code == 0


def test_git_run_outside_a_prefetch_keeps_nothing(repo: Path) -> None:
    # A supervisor runs git for hours without a prefetch: no note of what it asked may pile up.
    from dispatch import git, prefetch

    for n in range(50):
        git.run(["hash-object", "--stdin"], cwd=repo, input=f"{n}\n")
        git.run(["rev-parse", "HEAD"], cwd=repo)
    assert (prefetch._missed, prefetch._taken, prefetch._results) == (set(), set(), {})
