"""What dispatch tells a person to do next works as printed, and it says where they are left (17.15, 17.17)."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

from conftest import FAST, Run, dispatch, git, state_is, wait_for

HINT = re.compile(r"`(dispatch [^`]+)`")
# These ask [y/N] at a terminal, as printed; the suite has none, so it answers with --yes.
CONFIRMS = {"discard", "rm", "merge", "pick"}


def hints(r: Run) -> list[str]:
    """Every command printed in backquotes, in order."""
    return HINT.findall(r.out + r.err)


def follow(hint: str, cwd: Path) -> Run:
    """Run a printed hint as printed (one word added: --yes where a person would answer y)."""
    args = shlex.split(hint)[1:]
    if args[0] in CONFIRMS:
        args.append("--yes")
    r = dispatch(*args, cwd=cwd, env=FAST)
    assert r.code == 0, (hint, r.err)
    return r


def test_every_hint_the_suite_reaches_works_as_printed(repo: Path, tmp_path: Path) -> None:
    """`new --no-start --model X` told to pass --model again; `resume` said "resumed ... run 1" for a
    first run; `clean` left a task broken without a word (17.15)."""
    r = dispatch("new", "Later", "--no-start", "--model", "scripted", "--item", "Write `later.txt`", cwd=repo)
    assert hints(r) == ["dispatch resume later"]
    r = follow("dispatch resume later", repo)
    assert r.out == "started later: run 1, scripted on scripted\n  `dispatch logs later -f` follows it\n"
    follow(hints(r)[0], repo)  # logs -f: returns when the run ends
    wait_for(state_is(repo, "later", "done"), message="later to be done")

    assert dispatch("config", "set", "default_model", "scripted", cwd=repo).code == 0
    r = dispatch("new", "Default", "--no-start", "--item", "Write `d.txt`", cwd=repo)
    assert r.out.splitlines()[-1] == "  worker    not started: `dispatch resume default` starts one on scripted (the default)"
    follow(hints(r)[0], repo)
    wait_for(state_is(repo, "default", "done"), message="default to be done")

    # A question nobody answered in time: the answer says how to go on, and that works.
    r = dispatch("ask", "--task", "later", "--timeout", "0.1", "Which name?", cwd=repo)
    assert r.code == 75
    r = dispatch("answer", "later", "Bob", cwd=repo)
    assert hints(r) == ["dispatch resume later"]
    assert "resumed later: run 2" in follow(hints(r)[0], repo).out
    wait_for(state_is(repo, "later", "done"), message="later to be done again")

    # A worktree folder deleted by hand: clean prunes it and says both ways on; each works.
    for way in (0, 1):
        task_id = f"gone-{way}"
        assert dispatch("new", task_id, "--no-start", cwd=repo).code == 0
        shutil.rmtree(tmp_path / "work" / "app.dispatch" / task_id)
        r = dispatch("clean", cwd=repo, tmp=tmp_path)
        assert r.out == (
            f"pruned the worktree entry of <tmp>/work/app.dispatch/{task_id} (its folder was deleted)\n"
            f"  task {task_id} keeps its branch: `dispatch doctor --fix` checks it out there again, "
            f"`dispatch discard {task_id}` drops it\n"
        )
        follow(hints(r)[way], repo)
        assert dispatch("status", "--json", cwd=repo).code == 0
        assert dispatch("doctor", cwd=repo).code == 0  # nothing left to repair either way

    # Discarded, shown, landed, picked: each restore hint brings the task back.
    r = follow("dispatch discard default", repo)
    assert hints(r) == ["dispatch restore default"]
    r = dispatch("show", "default", cwd=repo)
    assert hints(r) == ["dispatch restore default"]
    follow(hints(r)[0], repo)
    r = follow("dispatch merge default", repo)
    assert hints(r) == ["dispatch restore default"]
    follow(hints(r)[0], repo)

    assert dispatch("models", "add", "fast", "--backend", "scripted", cwd=repo).code == 0
    r = dispatch("new", "Pair", "--models", "scripted,fast", "--item", "Write `pair.txt`", cwd=repo, env=FAST)
    assert r.code == 0, r.err
    for task_id in ("pair-scripted", "pair-fast"):
        wait_for(state_is(repo, task_id, "done"), message=f"{task_id} to be done")
    assert hints(r) == ["dispatch review pair", "dispatch pick pair-scripted"]
    r = follow(hints(r)[0], repo)
    assert hints(r) == ["dispatch review pair-fast", "dispatch pick pair-fast"]
    follow(hints(r)[0], repo)
    r = follow(hints(r)[1], repo)
    assert hints(r) == ["dispatch restore pair-fast", "dispatch restore pair-scripted"]
    for hint in hints(r):
        follow(hint, repo)


def test_merging_from_inside_the_task_s_worktree_says_where_to_go(repo: Path, tmp_path: Path) -> None:
    """The worktree the shell is in goes with the landing: say so, with the folder to `cd` to (17.17)."""
    assert dispatch("new", "Inside", "--no-start", cwd=repo).code == 0
    worktree = tmp_path / "work" / "app.dispatch" / "inside"
    (worktree / "inside.txt").write_text("made inside\n")
    git(worktree, "add", "inside.txt")
    git(worktree, "commit", "-q", "-m", "work inside")
    old = git(repo, "rev-parse", "--short=7", "main")
    r = dispatch("merge", "inside", "--yes", cwd=worktree, process=True, tmp=tmp_path)
    new = git(repo, "rev-parse", "--short=7", "main")
    assert (r.code, r.err) == (0, "")
    assert r.out == (
        f"landed inside on main by squash: {old} -> {new}\n"
        "  removed its worktree and branch; `dispatch restore inside` brings them back\n"
        "  your shell is in <tmp>/work/app.dispatch/inside, which is removed now: `cd <tmp>/work/app`\n"
    )
    assert not worktree.exists()


def test_discarding_from_a_sub_folder_of_the_worktree_says_where_to_go(repo: Path, tmp_path: Path) -> None:
    assert dispatch("new", "Drop me", "--no-start", cwd=repo).code == 0
    sub = tmp_path / "work" / "app.dispatch" / "drop-me" / "src"
    r = dispatch("discard", "drop-me", "--yes", cwd=sub, process=True, tmp=tmp_path)
    assert (r.code, r.err) == (0, "")
    assert r.out.splitlines()[1:] == [
        "  `dispatch restore drop-me` brings it back",
        "  your shell is in <tmp>/work/app.dispatch/drop-me, which is removed now: `cd <tmp>/work/app`",
    ]
