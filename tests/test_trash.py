"""discard saves everything first; restore brings branch, worktree and uncommitted work back; trash lists and purges."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from conftest import dispatch, git


def _new(repo: Path, title: str) -> Path:
    r = dispatch("new", title, "--no-start", "--json", cwd=repo)
    assert r.code == 0, r.err
    return Path(json.loads(r.out)["task"]["worktree"])


def test_discard_and_restore_keep_uncommitted_work(repo: Path, tmp_path: Path) -> None:
    wt = _new(repo, "Edit things")
    (wt / "src" / "app.py").write_text("def main():\n    return 2\n")
    git(wt, "add", "src/app.py")
    git(wt, "commit", "-qm", "worker commit")
    (wt / "README.md").write_text("# app\n\nuncommitted edit\n")
    (wt / "notes.txt").write_text("untracked work\n")
    (wt / "src" / "app.py").unlink()
    tip = git(repo, "rev-parse", "dispatch/edit-things")

    r = dispatch("discard", "edit-things", "--yes", cwd=repo, tmp=tmp_path)
    record = git(repo, "rev-parse", "refs/dispatch/trash/edit-things")
    assert (r.code, r.err) == (0, "")
    assert r.out == textwrap.dedent(f"""\
        discarded edit-things: saved as refs/dispatch/trash/edit-things ({record[:7]}, uncommitted work included)
          `dispatch restore edit-things` brings it back
        """)
    assert not wt.exists()
    assert git(repo, "branch", "--list", "dispatch/*") == ""
    assert git(repo, "rev-parse", f"{record}^") == tip
    assert git(repo, "show", f"{record}:notes.txt") == "untracked work"

    r = dispatch("trash", cwd=repo)
    assert r.out == textwrap.dedent("""\
        ID           AGE  REASON   UNCOMMITTED  TITLE
        edit-things  1h   discard  yes          Edit things
        """)

    r = dispatch("restore", "edit-things", cwd=repo, tmp=tmp_path)
    assert (r.code, r.err) == (0, "")
    assert r.out == textwrap.dedent("""\
        restored edit-things
          branch    dispatch/edit-things
          worktree  <tmp>/work/app.dispatch/edit-things (uncommitted work restored, uncommitted)
        """)
    assert git(repo, "rev-parse", "dispatch/edit-things") == tip
    assert git(wt, "status", "--porcelain", "--untracked-files=all") == "M README.md\n D src/app.py\n?? notes.txt"
    assert (wt / "README.md").read_text() == "# app\n\nuncommitted edit\n"
    assert (wt / "notes.txt").read_text() == "untracked work\n"
    assert git(repo, "for-each-ref", "refs/dispatch/") == ""
    assert dispatch("trash", cwd=repo).out == "the trash is empty\n"


def test_discard_of_a_clean_task_and_json_listing(repo: Path) -> None:
    _new(repo, "Clean one")
    tip = git(repo, "rev-parse", "dispatch/clean-one")
    assert dispatch("discard", "clean-one", "--yes", cwd=repo).code == 0
    record = git(repo, "rev-parse", "refs/dispatch/trash/clean-one")
    data = json.loads(dispatch("trash", "--json", cwd=repo).out)
    assert data == {
        "version": 1,
        "trash": [{
            "id": "clean-one", "ref": "refs/dispatch/trash/clean-one", "record": record, "tip": tip,
            "uncommitted": False, "reason": "discard", "discarded": "2026-11-23T10:00:00Z", "title": "Clean one",
        }],
    }
    assert git(repo, "rev-parse", f"{record}^{{tree}}") == git(repo, "rev-parse", f"{tip}^{{tree}}")


def test_rm_alias_and_purge(repo: Path) -> None:
    _new(repo, "Alpha")
    _new(repo, "Beta")
    assert dispatch("rm", "alpha", "--yes", cwd=repo).code == 0
    assert dispatch("rm", "beta", "--yes", cwd=repo).code == 0
    r = dispatch("trash", "--purge", "alpha", cwd=repo)
    assert (r.code, r.out) == (1, "")
    assert r.err == "dispatch: deleting alpha for good needs confirmation and there is no terminal to ask on: pass --yes\n"
    r = dispatch("trash", "--purge", "alpha", "--yes", cwd=repo)
    assert (r.code, r.out) == (0, "purged alpha\n")
    assert git(repo, "for-each-ref", "--format=%(refname)", "refs/dispatch/") == "refs/dispatch/trash/beta"
    # Ages are counted from the pinned clock: the record is an hour old, so a day spares it.
    assert dispatch("trash", "--older-than", "1", "--yes", cwd=repo).out == "purged nothing\n"
    assert dispatch("trash", "--older-than", "0.01", "--yes", cwd=repo).out == "purged beta\n"
    assert git(repo, "for-each-ref", "refs/dispatch/") == ""
    # The id is free again.
    assert dispatch("new", "Alpha", "--id", "alpha", "--no-start", cwd=repo).code == 0


def test_discard_when_the_worktree_folder_was_deleted_by_hand(repo: Path) -> None:
    import shutil

    wt = _new(repo, "Lost folder")
    shutil.rmtree(wt)
    r = dispatch("discard", "lost-folder", "--yes", cwd=repo)
    assert r.code == 0, r.err
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert dispatch("restore", "lost-folder", cwd=repo).code == 0
    assert (wt / ".dispatch" / "PLAN.md").exists()
