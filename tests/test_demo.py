"""`dispatch demo` runs to the end on the scripted worker and leaves a repository that shows it."""

from __future__ import annotations

from pathlib import Path

from conftest import dispatch, git


def test_demo_runs_to_the_end(tmp_path: Path) -> None:
    r = dispatch("demo", "--dir", str(tmp_path / "d"), "--delay", "0", cwd=tmp_path, tmp=tmp_path)
    assert (r.code, r.err) == (0, "")
    lines = r.out.splitlines()
    assert lines[:4] == [
        "dispatch demo: three tasks for background workers, in a scratch repository.",
        "The workers are dispatch's built-in scripted worker: no AI CLI or account needed.",
        "",
        "Scratch repository: <tmp>/d/shop (branch main, one commit)",
    ]
    assert "    write-the-docs asks Q1: Which tone should the docs use?" in lines
    step = lines.index("   The scripted worker reads these forms in an item (`dispatch models` lists them too):")
    assert lines[step + 1:step + 6] == [
        "     `PATH`           a path in backquotes: the file it writes (else notes/<item>.md)",
        "     (ask: QUESTION)  asks through `dispatch ask`, writes the answer in the file",
        "     ask: QUESTION    the same, as the whole item",
        "     (fail)           marks the item [!] and exits 1",
        "     (hang)           writes the file, then waits uncommitted until stopped",
    ]
    assert "    answered Q1 of write-the-docs: the waiting worker continues with it" in lines
    assert lines[-2:] == [
        "The scratch repository is yours to look at: cd <tmp>/d/shop",
        "Task worktrees are in <tmp>/d/shop.dispatch; `dispatch logs write-the-docs` shows a worker's output.",
    ]
    repo = tmp_path / "d" / "shop"
    assert git(repo, "log", "--format=%s", "main") == "Add a greeting module\nA tiny shop"
    assert git(repo, "ls-tree", "-r", "--name-only", "main") == "README.md\ngreet.py\nshop.py\ntest_greet.py"
    assert git(repo, "for-each-ref", "--format=%(refname)", "refs/dispatch/trash/") == (
        "refs/dispatch/trash/add-a-greeting-module\nrefs/dispatch/trash/try-a-risky-idea"
    )
    docs = tmp_path / "d" / "shop.dispatch" / "write-the-docs"
    assert (docs / "docs" / "usage.md").read_text() == (
        "Write `docs/usage.md`\n\nAnswer: Friendly and short.\n"
    )
    assert git(docs, "status", "--porcelain") == ""


def test_demo_refuses_an_existing_scratch_folder(tmp_path: Path) -> None:
    (tmp_path / "d" / "shop").mkdir(parents=True)
    r = dispatch("demo", "--dir", str(tmp_path / "d"), cwd=tmp_path, tmp=tmp_path)
    assert (r.code, r.out, r.err) == (1, "", "dispatch: the demo stopped: <tmp>/d/shop already exists: choose another --dir\n")
