"""Commands that review and land work: review, merge, rebase, conflicts, clean, pr."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from dispatch.commands import hot
from dispatch.commands.app import JsonOpt, app
from dispatch.commands.common import confirm, context, folder_holding_cwd, say_if_removed
from dispatch.errors import DispatchError

YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
StrategyOpt = Annotated[
    str | None,
    typer.Option("--strategy", metavar="STRATEGY", help="squash, merge, rebase or ff (default: config `merge_strategy`, else squash)."),
]


@app.command()
def review(
    task_id: Annotated[str, typer.Argument(metavar="<id>|<group>")],
    stat: Annotated[bool, typer.Option("--stat", help="Only the changed files with their +/- counts.")] = False,
    patch: Annotated[bool, typer.Option("--patch", help="Everything, the whole patch included.")] = False,
    files: Annotated[bool, typer.Option("--files", help="Only the changed paths, one a line.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """What the task did against its base.

    Commits, plan, answers, files and patch; given a group (one task sent to several models), its
    candidates side by side.
    """
    hot.review(task_id, stat=stat, patch=patch, files=files, json_out=json_out)


app.command("diff", hidden=True, help="Alias of review.")(review)


@app.command()
def merge(
    task_id: Annotated[str, typer.Argument(metavar="<id>")],
    strategy: StrategyOpt = None,
    into: Annotated[
        str | None, typer.Option("--into", metavar="BRANCH", help="Land on BRANCH instead of the task's base.")
    ] = None,
    message: Annotated[
        str | None, typer.Option("--message", "-m", metavar="TEXT", help="Message of the squash or merge commit.")
    ] = None,
    keep: Annotated[bool, typer.Option("--keep", help="Keep the task's branch and worktree after landing.")] = False,
    yes: YesOpt = False,
) -> None:
    """Land the task: build the result, then fast-forward the base.

    The result is built first, in memory, so that a conflict stops it before anything moves: one
    squash commit of the task's work by default (--strategy merge: a merge commit; rebase: its
    commits replayed; ff: its commits as they are). Then the base moves to the result, and only by
    a fast-forward: it ends either unchanged or holding the result. Last, unless --keep, the task
    goes to the trash.
    """
    from dispatch.faults import checkpoint
    from dispatch.land import merge as land
    from dispatch.worker import places, remote

    repo, cfg = context()
    where = places.refuse_while_working(repo, cfg, task_id, "land it")
    landing = land.prepare(
        repo, cfg, task_id, strategy=strategy or land.default_strategy(cfg), into=into, message=message
    )
    _confirm_landing(landing, yes)
    inside = folder_holding_cwd([_worktree_path(landing.work.task)])
    _print_landed(land.land(repo, cfg, landing, keep=keep))
    if where is not None and not keep:
        checkpoint("merge:runner")  # landed here, still there: `dispatch doctor` finds it
        kept = remote.retire(repo, where, task_id)
        print(f"  on {where.name} too: discarded there, its trash entry kept here as {kept}")
    say_if_removed(inside, repo.root)


def _worktree_path(task: Any) -> Path | None:
    return task.worktree.path if task.worktree is not None else None


def _confirm_landing(landing: Any, yes: bool, *, then: str = "") -> None:
    from dispatch import git

    task_id, target = landing.work.id, git.branch_name(landing.target)
    if landing.stands_on:
        print(f"{task_id} stands on {', '.join(landing.stands_on)}: landing it lands their work on {target} too")
    confirm(f"landing {task_id} on {target} by {landing.strategy}{then}", yes)


def _print_landed(done: Any) -> None:
    print(f"landed {done.id} on {done.target} by {done.strategy}: {done.old[:7]} -> {done.new[:7]}")
    if done.trash_ref:
        print(f"  removed its worktree and branch; `dispatch restore {done.id}` brings them back")
    else:
        print("  kept its worktree and branch")


@app.command()
def pick(
    task_id: Annotated[str, typer.Argument(metavar="<id>")],
    strategy: StrategyOpt = None,
    yes: YesOpt = False,
) -> None:
    """Land one candidate of a group and trash the others.

    It lands as `dispatch merge` does; the group's other tasks go to the trash.
    """
    from dispatch.land import group
    from dispatch.land import merge as land

    repo, cfg = context()
    chosen = group.prepare_pick(repo, cfg, task_id, strategy=strategy or land.default_strategy(cfg))
    others = ", ".join(chosen.others)
    _confirm_landing(chosen.landing, yes, then=f", then discarding {others} (saved to the trash)" if others else "")
    inside = _holding_cwd(repo, cfg, [task_id, *chosen.others])
    done = group.finish_pick(repo, cfg, chosen)
    _print_landed(done.landed)
    for entry in done.discarded:
        saved = ", uncommitted work included" if entry.uncommitted else ""
        print(f"discarded {entry.id}: saved as {entry.ref} ({entry.record[:7]}{saved})")
    if done.discarded:
        print("  " + " or ".join(f"`dispatch restore {e.id}`" for e in done.discarded) + " brings one back")
    say_if_removed(inside, repo.root)
    if done.left:
        why = "; ".join(f"{other}: {reason}" for other, reason in done.left)
        raise DispatchError(f"{task_id} landed, but not every other candidate was discarded: {why}")


def _worktree_owners(repo: Any, cfg: Any) -> dict[str, str]:
    """Worktree path -> the task it belongs to."""
    from dispatch.task.model import list_tasks

    return {str(t.worktree.path): t.id for t in list_tasks(repo, cfg).values() if t.worktree is not None}


def _holding_cwd(repo: Any, cfg: Any, ids: list[str]) -> Path | None:
    """The worktree of one of IDS that the current directory is in, if any."""
    from dispatch.task.model import list_tasks

    live = list_tasks(repo, cfg)
    return folder_holding_cwd([_worktree_path(live[i]) for i in ids if i in live])


@app.command()
def rebase(
    task_id: Annotated[str, typer.Argument(metavar="<id>")],
    onto: Annotated[
        str | None, typer.Option("--onto", metavar="REF", help="Rebase onto REF instead of the base's tip.")
    ] = None,
    leave: Annotated[
        bool, typer.Option("--leave", help="On conflicts, leave the rebase in progress to resolve.")
    ] = False,
) -> None:
    """Rebase the task's commits onto its base's tip, in its worktree."""
    from dispatch.land import rebase as rebasing
    from dispatch.task.runtime import on_runner

    repo, cfg = context()
    if on_runner(repo, task_id):  # rebased in its worktree there, onto this side's base
        from dispatch.worker import remote

        name, old, new = remote.rebase(repo, cfg, task_id, onto=onto, leave=leave)
    else:
        done = rebasing.rebase(repo, cfg, task_id, onto=onto, leave=leave)
        name, old, new = done.onto, done.old, done.new
    if old == new:
        print(f"{task_id} is already on top of {name}: nothing to do")
    else:
        print(f"rebased {task_id} onto {name}: {old[:7]} -> {new[:7]}")


@app.command()
def conflicts(json_out: JsonOpt = False) -> None:
    """Which tasks conflict, and an order that lands the most work.

    Each task against its base, and the tasks against each other.
    """
    hot.conflicts(json_out=json_out)


@app.command()
def clean(
    merged: Annotated[bool, typer.Option("--merged", help="Also remove tasks already merged into their base.")] = False,
    yes: YesOpt = False,
) -> None:
    """Prune worktrees deleted by hand; --merged trashes merged tasks."""
    from dispatch.land import clean as cleaning

    repo, cfg = context()
    ids = cleaning.merged_tasks(repo, cfg)
    if merged and ids:
        confirm(f"removing the merged tasks {', '.join(ids)} (saved to the trash first)", yes)
    inside = _holding_cwd(repo, cfg, ids) if merged else None
    owners = _worktree_owners(repo, cfg)
    done = cleaning.clean(repo, cfg, merged=merged)
    for path in done.pruned:
        print(f"pruned the worktree entry of {path} (its folder was deleted)")
        owner = owners.get(path)
        if owner is not None and owner not in done.removed:
            print(f"  task {owner} keeps its branch: `dispatch doctor --fix` checks it out there again, "
                  f"`dispatch discard {owner}` drops it")
    for task_id in done.removed:
        print(f"removed {task_id}: merged; `dispatch restore {task_id}` brings it back")
    for reason in done.skipped:
        print(f"left {reason}")
    if not merged and ids:
        print(f"merged, still here: {', '.join(ids)}; `dispatch clean --merged` removes them")
    elif not (done.pruned or done.removed or done.skipped):
        print("nothing to clean")
    say_if_removed(inside, repo.root)


@app.command()
def pr(
    task_id: Annotated[str, typer.Argument(metavar="<id>")],
    draft: Annotated[bool, typer.Option("--draft", help="Open the pull request as a draft.")] = False,
) -> None:
    """Push the task's work and open a pull request with gh.

    The work goes without .dispatch/ to the remote branch dispatch/<id>.
    """
    from dispatch.land import pr as pull_request

    repo, cfg = context()
    done = pull_request.open_pr(repo, cfg, task_id, draft=draft)
    print(f"pushed {done.pushed[:7]} to {done.remote} {done.branch}")
    print(f"  pull request: {done.url}" if done.url else "  pull request opened")
