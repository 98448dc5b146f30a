"""`review` (alias `diff`): summary and stat by default, --stat, --files, --patch, --json; whole outputs."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from conftest import dispatch, git

from dispatch.task.questions import parse_questions


def _task_with_every_kind_of_change(repo: Path) -> Path:
    """A task that modifies, adds (binary), renames, deletes, changes a mode, and answers a question."""
    (repo / "old.txt").write_text("one\ntwo\nthree\nfour\n")
    (repo / "gone.txt").write_text("bye\nbye\n")
    (repo / "run.sh").write_text("echo hi\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "more files")
    items = ["--item", "Rename the old file", "--item", "Ship it"]
    r = dispatch("new", "Tidy up", *items, "--no-start", "--json", cwd=repo)
    wt = Path(json.loads(r.out)["task"]["worktree"])
    (wt / "src" / "app.py").write_text("def main():\n    return 2\n")
    git(wt, "mv", "old.txt", "new.txt")
    (wt / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (wt / "gone.txt").unlink()
    (wt / "run.sh").chmod(0o755)
    git(wt, "add", "-A")
    git(wt, "commit", "-qm", "tidy the files")
    plan = wt / ".dispatch" / "PLAN.md"
    plan.write_text(plan.read_text().replace("- [ ] Rename", "- [x] Rename"))
    questions = wt / ".dispatch" / "QUESTIONS.md"
    q = parse_questions(questions.read_text())
    q.add("Keep the logo?\nIt is large.", "2026-11-23T10:10:00Z")
    q.answer(1, "Yes, as PNG.", "2026-11-23T10:20:00Z")
    questions.write_text(q.render())
    git(wt, "commit", "-qam", "tick and ask")
    return wt


def test_review_default_is_summary_and_stat(repo: Path) -> None:
    _task_with_every_kind_of_change(repo)
    tip = git(repo, "rev-parse", "--short", "dispatch/tidy-up")
    middle = git(repo, "rev-parse", "--short", "dispatch/tidy-up~1")
    plan = git(repo, "rev-parse", "--short", "dispatch/tidy-up~2")
    base = git(repo, "rev-parse", "--short", "main")
    r = dispatch("review", "tidy-up", cwd=repo)
    assert (r.code, r.err) == (0, "")
    assert r.out == textwrap.dedent(f"""\
        tidy-up — Tidy up
          dispatch/tidy-up: 3 commits of its own since it left main at {base}, plan 1/2 done

        Checklist
          [x] Rename the old file
          [ ] Ship it

        Commits
          {tip}  tick and ask
          {middle}  tidy the files
          {plan}  dispatch: plan tidy-up

        Answered questions
          Q1 Keep the logo? …
             → Yes, as PNG.

        Files (5 files changed, +1 -3)
          D  gone.txt            +0 -2
          A  logo.png            binary
          R  old.txt -> new.txt  +0 -0
          M  run.sh              +0 -0, mode 100644 -> 100755
          M  src/app.py          +1 -1
        """)
    # The alias, and the stat and file list alone.
    assert dispatch("diff", "tidy-up", cwd=repo).out == r.out
    assert dispatch("review", "tidy-up", "--stat", cwd=repo).out == textwrap.dedent("""\
          D  gone.txt            +0 -2
          A  logo.png            binary
          R  old.txt -> new.txt  +0 -0
          M  run.sh              +0 -0, mode 100644 -> 100755
          M  src/app.py          +1 -1
        """)
    assert dispatch("review", "tidy-up", "--files", cwd=repo).out == "gone.txt\nlogo.png\nnew.txt\nrun.sh\nsrc/app.py\n"


def test_review_patch_shows_everything_without_task_files(repo: Path) -> None:
    _task_with_every_kind_of_change(repo)
    r = dispatch("review", "tidy-up", "--patch", cwd=repo)
    assert r.code == 0, r.err
    summary = dispatch("review", "tidy-up", cwd=repo).out
    assert r.out.startswith(summary)
    png = git(repo, "rev-parse", "--short", "dispatch/tidy-up:logo.png")
    app_old = git(repo, "rev-parse", "--short", "main:src/app.py")
    app_new = git(repo, "rev-parse", "--short", "dispatch/tidy-up:src/app.py")
    gone = git(repo, "rev-parse", "--short", "main:gone.txt")
    assert r.out[len(summary):] == textwrap.dedent(f"""\

        diff --git a/gone.txt b/gone.txt
        deleted file mode 100644
        index {gone}..0000000
        --- a/gone.txt
        +++ /dev/null
        @@ -1,2 +0,0 @@
        -bye
        -bye
        diff --git a/logo.png b/logo.png
        new file mode 100644
        index 0000000..{png}
        Binary files /dev/null and b/logo.png differ
        diff --git a/old.txt b/new.txt
        similarity index 100%
        rename from old.txt
        rename to new.txt
        diff --git a/run.sh b/run.sh
        old mode 100644
        new mode 100755
        diff --git a/src/app.py b/src/app.py
        index {app_old}..{app_new} 100644
        --- a/src/app.py
        +++ b/src/app.py
        @@ -1,2 +1,2 @@
         def main():
        -    return 1
        +    return 2
        """)
    assert ".dispatch" not in r.out.replace("dispatch/tidy-up", "").replace("dispatch: plan", "")


def test_review_json_carries_files_with_hunks(repo: Path) -> None:
    _task_with_every_kind_of_change(repo)
    data = json.loads(dispatch("review", "tidy-up", "--json", cwd=repo).out)
    review = data["review"]
    assert (data["version"], review["id"], review["branch"]) == (1, "tidy-up", "dispatch/tidy-up")
    assert review["merge_base"] == git(repo, "rev-parse", "main")
    assert review["answered"] == [{"number": 1, "question": "Keep the logo?\nIt is large.", "answer": "Yes, as PNG."}]
    assert [c["subject"] for c in review["commits"]] == ["tick and ask", "tidy the files", "dispatch: plan tidy-up"]
    files = {f["path"]: f for f in review["files"]}
    assert files["src/app.py"] == {
        "path": "src/app.py", "old_path": None, "status": "M", "binary": False, "old_mode": None, "new_mode": None,
        "added": 1, "removed": 1,
        "hunks": [{
            "source_start": 1, "source_length": 2, "target_start": 1, "target_length": 2, "section": "",
            "lines": [" def main():", "-    return 1", "+    return 2"],
        }],
    }
    assert files["new.txt"] | {"hunks": None} == {
        "path": "new.txt", "old_path": "old.txt", "status": "R", "binary": False, "old_mode": None,
        "new_mode": None, "added": 0, "removed": 0, "hunks": None,
    }
    assert (files["logo.png"]["status"], files["logo.png"]["binary"], files["logo.png"]["hunks"]) == ("A", True, [])
    assert (files["run.sh"]["old_mode"], files["run.sh"]["new_mode"]) == ("100644", "100755")
    assert (files["gone.txt"]["status"], files["gone.txt"]["removed"]) == ("D", 2)
    assert dispatch("review", "tidy-up", "--json", "--stat", cwd=repo).code == 2


def _on_a_terminal(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    """Run dispatch with stdout on a pseudo-terminal; return what it printed."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "dispatch", *args], cwd=cwd, stdout=follower,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, env=env)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the other side closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait(timeout=60)
    os.close(leader)
    return b"".join(chunks).decode()


def test_patch_is_coloured_only_on_a_terminal_and_never_with_no_color(repo: Path) -> None:
    _task_with_every_kind_of_change(repo)
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"} | {"TERM": "xterm"}
    coloured = _on_a_terminal(["review", "tidy-up", "--patch"], repo, env)
    assert "\x1b[31m-    return 1\x1b[0m" in coloured
    assert "\x1b[32m+    return 2\x1b[0m" in coloured
    assert "\x1b[36m@@ -1,2 +1,2 @@\x1b[0m" in coloured
    assert "\x1b[1mdiff --git a/src/app.py b/src/app.py\x1b[0m" in coloured
    assert "\x1b[" not in _on_a_terminal(["review", "tidy-up", "--patch"], repo, env | {"TERM": "dumb"})
    assert "\x1b[" not in _on_a_terminal(["review", "tidy-up", "--patch"], repo, env | {"NO_COLOR": "1"})
    assert "\x1b[" not in dispatch("review", "tidy-up", "--patch", cwd=repo, env=env).out  # piped


def test_review_of_a_task_with_no_work_yet(repo: Path) -> None:
    dispatch("new", "Nothing yet", "--no-start", cwd=repo)
    base = git(repo, "rev-parse", "--short", "main")
    plan = git(repo, "rev-parse", "--short", "dispatch/nothing-yet")
    r = dispatch("review", "nothing-yet", cwd=repo)
    assert r.out == textwrap.dedent(f"""\
        nothing-yet — Nothing yet
          dispatch/nothing-yet: 1 commit of its own since it left main at {base}, plan 0/1 done

        Checklist
          [ ] Read the task and the code, then replace this item with a concrete checklist and commit it

        Commits
          {plan}  dispatch: plan nothing-yet

        Files: no changes outside .dispatch/
        """)
    r = dispatch("review", "nope", cwd=repo)
    assert (r.code, r.err) == (1, "dispatch: no task `nope`: `dispatch status` lists the tasks\n")


def _task_with_awkward_changes(repo: Path) -> tuple[Path, str, str]:
    """Every change git's diff writes its own way, under names it quotes; returns the worktree, base and tip."""
    (repo / "old name.txt").write_text("".join(f"line {n}\n" for n in range(20)))
    (repo / "gone.txt").write_text("bye\n")
    (repo / "run.sh").write_text("echo hi\n")
    (repo / "empty").write_text("")
    (repo / "ends.txt").write_text("no newline at the end")
    (repo / "blob.bin").write_bytes(bytes(range(256)))
    (repo / "crlf.txt").write_bytes(b"one\r\ntwo\r\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "awkward files")
    r = dispatch("new", "Awkward", "--no-start", "--json", cwd=repo)
    wt = Path(json.loads(r.out)["task"]["worktree"])
    git(wt, "mv", "old name.txt", "new name.txt")
    (wt / "new name.txt").write_text("".join(f"line {n}\n" for n in range(20)).replace("line 7\n", "line seven\n"))
    (wt / "gone.txt").unlink()
    (wt / "run.sh").chmod(0o755)
    (wt / "empty").write_text("full now\n")
    (wt / "ends.txt").write_text("no newline at the end, still")
    (wt / "blob.bin").write_bytes(bytes(range(255, -1, -1)))
    (wt / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (wt / "tab\there.txt").write_text("a tab in the name\n")
    (wt / 'quote"d é.txt').write_text('a quote, a space and an accent\n')
    (wt / "back\\slash.txt").write_text("+looks added\n-looks removed\n")
    (wt / "crlf.txt").write_bytes(b"one\r\ntwo,\x0cthen a form feed\r\n")
    git(wt, "add", "-A")
    git(wt, "commit", "-qm", "awkward changes")
    tip = git(repo, "rev-parse", "dispatch/awkward")
    return wt, git(repo, "merge-base", "main", tip), tip


def _git_z(repo: Path, *args: str) -> list[str]:
    """NUL-separated fields of a `git diff -z` between the task's merge base and tip, task files left out."""
    out = subprocess.run(["git", "diff", "-z", "-M", *args, "--", ".", ":(exclude).dispatch"], cwd=repo,
                         check=True, capture_output=True, text=True).stdout
    return out.split("\0")[:-1]


def test_review_json_says_what_git_says(repo: Path) -> None:
    _, base, tip = _task_with_awkward_changes(repo)
    files = json.loads(dispatch("review", "awkward", "--json", cwd=repo).out)["review"]["files"]

    # Status and paths, against `--name-status -z` (a rename: R and its score, then both paths).
    fields, statuses = _git_z(repo, "--name-status", base, tip), []
    while fields:
        status = fields.pop(0)
        old = fields.pop(0) if status.startswith("R") else None
        statuses.append((status[0], old, fields.pop(0)))
    assert [(f["status"], f["old_path"], f["path"]) for f in files] == statuses
    assert ("M", None, "empty") in statuses and ("R", "old name.txt", "new name.txt") in statuses
    assert {"tab\there.txt", 'quote"d é.txt', "back\\slash.txt"} <= {f["path"] for f in files}

    # Counts, against `--numstat -z` (binary files: `-`; a rename: an empty path, then both paths).
    fields, counts = _git_z(repo, "--numstat", base, tip), []
    while fields:
        added, removed, path = fields.pop(0).split("\t", 2)
        path = path or (fields.pop(0), fields.pop(0))[1]
        binary = added == "-"
        counts.append((path, 0 if binary else int(added), 0 if binary else int(removed), binary))
    assert [(f["path"], f["added"], f["removed"], f["binary"]) for f in files] == counts
    assert sum(f["binary"] for f in files) == 2

    # Modes, against `--raw -z`: old_mode when the mode changed or the file went, new_mode when it changed or came.
    fields, modes = _git_z(repo, "--raw", base, tip), []
    while fields:
        old_mode, new_mode, _, _, status = fields.pop(0).lstrip(":").split(" ")
        fields[:2 if status.startswith("R") else 1] = []
        changed = status[0] in "MR" and old_mode != new_mode
        modes.append((old_mode if changed or status == "D" else None, new_mode if changed or status == "A" else None))
    assert [(f["old_mode"], f["new_mode"]) for f in files] == modes
    assert ("100644", "100755") in modes

    # The hunks as git wrote them, the no-newline markers included.
    by_path = {f["path"]: f for f in files}
    assert by_path["ends.txt"]["hunks"] == [{
        "source_start": 1, "source_length": 1, "target_start": 1, "target_length": 1, "section": "",
        "lines": ["-no newline at the end", "\\ No newline at end of file",
                  "+no newline at the end, still", "\\ No newline at end of file"],
    }]
    assert by_path["empty"]["hunks"] == [{"source_start": 0, "source_length": 0, "target_start": 1,
                                          "target_length": 1, "section": "", "lines": ["+full now"]}]
    assert by_path["back\\slash.txt"]["hunks"][0]["lines"] == ["++looks added", "+-looks removed"]
    assert by_path["crlf.txt"]["hunks"][0]["lines"] == [" one\r", "-two\r", "+two,\x0cthen a form feed\r"]
    assert [h["lines"] for h in by_path["new name.txt"]["hunks"]] == [
        [" line 4", " line 5", " line 6", "-line 7", "+line seven", " line 8", " line 9", " line 10"]]


def test_review_patch_is_gits_own_text(repo: Path) -> None:
    _, base, tip = _task_with_awkward_changes(repo)
    summary = dispatch("review", "awkward", cwd=repo).out
    # Both read as bytes: a pipe read as text would turn each \r into a line break.
    patch = subprocess.run([sys.executable, "-m", "dispatch", "review", "awkward", "--patch"], cwd=repo, check=True,
                           capture_output=True).stdout.decode()
    assert patch.startswith(summary)
    gits = subprocess.run(["git", "-c", "core.quotePath=false", "diff", "-M", base, tip, "--", ".", ":(exclude).dispatch"],
                          cwd=repo, check=True, capture_output=True).stdout.decode()
    assert patch[len(summary):] == "\n" + gits
    assert '"b/tab\\there.txt"' in gits  # git quoted that name, and the summary reads it back
    assert "A  tab\there.txt" in summary

    # Coloured, it is the same text: every \r and form feed kept, each line wrapped in its colour.
    from dispatch import config
    from dispatch.land.review import render, review
    from dispatch.repo import open_repo

    opened = open_repo(repo)
    coloured = render(review(opened, config.load(opened.root), "awkward"), mode="patch", color=True)
    assert "\x1b[31m-two\r\x1b[0m\n\x1b[32m+two,\x0cthen a form feed\r\x1b[0m\n" in coloured
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured) + "\n" == patch


def test_review_of_a_criss_cross_history_diffs_from_the_merge_base_it_names(repo: Path) -> None:
    # Two merge bases with main (the task merged main's first commit after main merged the task's): the diff
    # starts from the one `git merge-base` names, the review's own `merge_base`, whichever way git is asked.
    r = dispatch("new", "Cross", "--item", "x", "--no-start", "--json", cwd=repo)
    wt = Path(json.loads(r.out)["task"]["worktree"])
    (wt / "task.txt").write_text("from the task\n")
    git(wt, "add", "task.txt")
    git(wt, "commit", "-qm", "task work")
    (repo / "main.txt").write_text("from main\n")
    git(repo, "add", "main.txt")
    git(repo, "commit", "-qm", "main work")
    main_work = git(repo, "rev-parse", "HEAD")
    git(repo, "merge", "-q", "--no-edit", "dispatch/cross")
    git(wt, "merge", "-q", "--no-edit", main_work)
    (wt / "task.txt").write_text("from the task, again\n")
    git(wt, "commit", "-qam", "more task work")
    assert len(git(repo, "merge-base", "--all", "main", "dispatch/cross").split()) == 2

    review = json.loads(dispatch("review", "cross", "--json", cwd=repo).out)["review"]
    assert review["merge_base"] == git(repo, "merge-base", "main", "dispatch/cross")
    numstat = git(repo, "diff", "--numstat", review["merge_base"], "dispatch/cross", "--", ".", ":(exclude).dispatch")
    assert [(f["path"], f["added"], f["removed"]) for f in review["files"]] == [
        (path, int(added), int(removed)) for added, removed, path in (line.split("\t") for line in numstat.splitlines())]
    assert review["files"] != []


def _files_seen(files: list[Any]) -> list[tuple[Any, ...]]:
    return [(repr(f), f.patch, f.hunks, f.counts) for f in files]


def test_a_diff_read_as_git_writes_it_is_the_diff_read_whole(repo: Path) -> None:
    # review reads each file of the diff as soon as git has written it (dispatch.land.diff.read), while git
    # writes the next: wherever the blocks fall (in a UTF-8 sequence, in a `diff --git` line, between the
    # two), the files are those of the whole text, each handed on once its next file has begun.
    from dispatch.gitargs import DIFF, WITHOUT_TASK_FILES
    from dispatch.land.diff import parse, read

    wt, base, _ = _task_with_awkward_changes(repo)
    (wt / "utf8.txt").write_bytes("é → ü\n".encode() + b"an undecodable \xe2\x82 sequence\n")
    git(wt, "add", "-A")
    git(wt, "commit", "-qm", "more")
    raw = subprocess.run(["git", *DIFF, base, "HEAD", "--", *WITHOUT_TASK_FILES], cwd=wt, check=True,
                         capture_output=True).stdout
    whole = parse(raw.decode("utf-8", "replace"))
    assert len(whole) == 12 and "\ufffd" in whole[-1].patch and "é → ü" in whole[-1].patch
    for size in (1, 2, 3, 7, 12, 13, 64, 4096):
        assert _files_seen(read(raw[n:n + size] for n in range(0, len(raw), size))) == _files_seen(whole), size
    for cut in range(len(raw) + 1):
        assert _files_seen(read([raw[:cut], raw[cut:]])) == _files_seen(whole), cut

    # Byte by byte: a file is handed on with the last byte of the next one's `\ndiff --git `, the last at the end.
    came, handed = [0], []
    blocks = (came.__setitem__(0, n + 1) or raw[n:n + 1] for n in range(len(raw)))
    assert _files_seen(read(blocks, lambda f: handed.append((came[0], f)))) == _files_seen(whole)
    starts = [m.start() + 1 for m in re.finditer(rb"\ndiff --git ", raw)]
    assert [n for n, _ in handed] == [start + len("diff --git ") for start in starts] + [len(raw)]
    assert _files_seen([f for _, f in handed]) == _files_seen(whole)


def test_review_json_is_laid_out_as_json_lays_it_out(repo: Path) -> None:
    # Each file's JSON is written while git writes the diff (dispatch.output.Rendered), then placed at its depth.
    _task_with_awkward_changes(repo)
    for process in (False, True):
        out = dispatch("review", "awkward", "--json", cwd=repo, process=process).out
        assert out == json.dumps(json.loads(out), sort_keys=True, indent=2, ensure_ascii=False) + "\n"
        assert len(json.loads(out)["review"]["files"]) == 11
