"""Commands on the trash: discard (rm), restore, trash."""

from __future__ import annotations

from typing import Annotated

import typer

from dispatch.commands.app import JsonOpt, app
from dispatch.commands.common import confirm, context, folder_holding_cwd, say_if_removed
from dispatch.errors import DispatchError


@app.command()
def discard(
    task_id: Annotated[str, typer.Argument(metavar="<id>")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Move the task and its work to the trash.

    The branch tip and any uncommitted work are saved under refs/dispatch/trash/<id> first:
    `dispatch restore <id>` brings them back.
    """
    from dispatch.task.model import get_task
    from dispatch.worker import places

    repo, cfg = context()
    task = get_task(repo, cfg, task_id)
    where = f", worktree {task.worktree.path}" if task.worktree else ""
    confirm(f"discarding {task_id} (branch {task.branch_name}{where}; saved to the trash first)", yes)
    inside = folder_holding_cwd([task.worktree.path if task.worktree else None])
    entry, kept = places.discard(repo, cfg, task_id)
    saved = ", uncommitted work included" if entry.uncommitted else ""
    print(f"discarded {task_id}: saved as {entry.ref} ({entry.record[:7]}{saved})")
    if kept:
        print(f"  on its runner too: that trash entry, uncommitted work there included, is kept as {kept}")
    print(f"  `dispatch restore {task_id}` brings it back")
    say_if_removed(inside, repo.root)


app.command("rm", hidden=True, help="Alias of discard.")(discard)


@app.command()
def restore(task_id: Annotated[str, typer.Argument(metavar="<id>")]) -> None:
    """Bring a discarded task back, its uncommitted work included.

    Branch, worktree, and the work that was uncommitted, uncommitted again.
    """
    from dispatch.task import trash

    repo, cfg = context()
    restored = trash.restore(repo, cfg, task_id)
    print(f"restored {restored.id}")
    print(f"  branch    {restored.branch}")
    print(f"  worktree  {restored.worktree}" + (" (uncommitted work restored, uncommitted)" if restored.uncommitted else ""))


@app.command("trash")
def trash_cmd(
    purge: Annotated[
        list[str] | None, typer.Option("--purge", metavar="ID", help="Delete this trashed task for good.")
    ] = None,
    older_than: Annotated[
        float | None, typer.Option("--older-than", metavar="DAYS", help="Delete trashed tasks older than DAYS.")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """List discarded tasks, or delete them for good.

    --purge <id> or --older-than DAYS delete; nothing else does.
    """
    from dispatch import clock, output
    from dispatch.task import trash

    repo, cfg = context()
    if purge or older_than is not None:
        if purge and older_than is not None:
            raise DispatchError("give --purge ID or --older-than DAYS, not both")
        what = ", ".join(purge) if purge else f"trashed tasks older than {older_than:g} days"
        confirm(f"deleting {what} for good", yes)
        gone = trash.purge(repo, cfg, list(purge or []), older_than)
        if json_out:
            output.emit_json({"purged": [e.id for e in gone]})
        else:
            print("purged " + (", ".join(e.id for e in gone) if gone else "nothing"))
        return
    entries = trash.list_trash(repo)
    if json_out:
        output.emit_json({"trash": [
            {"id": e.id, "ref": e.ref, "record": e.record, "tip": e.tip, "uncommitted": e.uncommitted,
             "reason": e.reason, "discarded": clock.iso(e.discarded), "title": e.title}
            for e in entries
        ]})
    elif not entries:
        print("the trash is empty")
    else:
        rows = [[e.id, clock.age(e.discarded), e.reason, "yes" if e.uncommitted else "no", e.title] for e in entries]
        print(output.table(rows, ["ID", "AGE", "REASON", "UNCOMMITTED", "TITLE"]))
