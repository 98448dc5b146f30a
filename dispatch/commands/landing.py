"""Commands that review and land work: review, merge, rebase, conflicts, clean, pr."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dispatch.cli import JsonOpt, app, confirm, context
from dispatch.errors import DispatchError, UsageError

YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
StrategyOpt = Annotated[
    str | None,
    typer.Option("--strategy", help="squash, merge, rebase or ff (default: config `merge_strategy`, else squash)."),
]


@app.command()
def review(
    task_id: Annotated[str, typer.Argument(metavar="ID|GROUP")],
    stat: Annotated[bool, typer.Option("--stat", help="Only the changed files with their +/- counts.")] = False,
    patch: Annotated[bool, typer.Option("--patch", help="Everything, the whole patch included.")] = False,
    files: Annotated[bool, typer.Option("--files", help="Only the changed paths, one a line.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """What the task did against its base: commits, plan, answers, files, patch (alias: diff).

    Given a group (one task sent to several models), its candidates side by side.
    """
    from dispatch import output
    from dispatch.land import review as review_mod

    if stat + patch + files + json_out > 1:
        raise UsageError("give one of --stat, --patch, --files and --json")
    repo, cfg = context()
    if _review_group(repo, cfg, task_id, detail=stat or patch or files, json_out=json_out):
        return
    r = review_mod.review(repo, cfg, task_id)
    if json_out:
        output.emit_json({"review": r.to_json()})
        return
    mode = "stat" if stat else "patch" if patch else "files" if files else "summary"
    text = review_mod.render(r, mode=mode, color=output.use_color())
    if text:
        print(text)


app.command("diff", hidden=True, help="Alias of review.")(review)


def _review_group(repo: Any, cfg: Any, name: str, *, detail: bool, json_out: bool) -> bool:
    """Review the group NAME when it is one (and no task has that id); False when it is not a group."""
    from dispatch import output
    from dispatch.land import compare, group
    from dispatch.task.model import list_tasks

    if name in list_tasks(repo, cfg):
        return False
    rows = group.members(repo, cfg, name)
    if not rows:
        return False
    if detail:
        raise UsageError(f"`{name}` is a group: --stat, --patch and --files are for one of its tasks "
                         f"({', '.join(r.id for r in rows)})")
    compared = compare.compare(repo, cfg, name, rows)
    if json_out:
        output.emit_json({"group": compared.to_json()})
    else:
        print(compare.render(compared))
    return True


@app.command()
def merge(
    task_id: Annotated[str, typer.Argument(metavar="ID")],
    strategy: StrategyOpt = None,
    into: Annotated[
        str | None, typer.Option("--into", metavar="BRANCH", help="Land on BRANCH instead of the task's base.")
    ] = None,
    message: Annotated[
        str | None, typer.Option("--message", "-m", help="Message of the squash or merge commit.")
    ] = None,
    keep: Annotated[bool, typer.Option("--keep", help="Keep the task's branch and worktree after landing.")] = False,
    yes: YesOpt = False,
) -> None:
    """Land the task on its base by a fast-forward only; conflicts are found before anything moves."""
    from dispatch.land import merge as land

    repo, cfg = context()
    landing = land.prepare(
        repo, cfg, task_id, strategy=strategy or land.default_strategy(cfg), into=into, message=message
    )
    _confirm_landing(landing, yes)
    _print_landed(land.land(repo, cfg, landing, keep=keep))


def _confirm_landing(landing: Any, yes: bool, *, then: str = "") -> None:
    task_id, target = landing.work.id, landing.target.removeprefix("refs/heads/")
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
    task_id: Annotated[str, typer.Argument(metavar="ID")],
    strategy: StrategyOpt = None,
    yes: YesOpt = False,
) -> None:
    """Land this candidate of a group, as merge does, then discard the group's other tasks (to the trash)."""
    from dispatch.land import group
    from dispatch.land import merge as land

    repo, cfg = context()
    chosen = group.prepare_pick(repo, cfg, task_id, strategy=strategy or land.default_strategy(cfg))
    others = ", ".join(chosen.others)
    _confirm_landing(chosen.landing, yes, then=f", then discarding {others} (saved to the trash)" if others else "")
    done = group.finish_pick(repo, cfg, chosen)
    _print_landed(done.landed)
    for entry in done.discarded:
        saved = ", uncommitted work included" if entry.uncommitted else ""
        print(f"discarded {entry.id}: saved as {entry.ref} ({entry.record[:7]}{saved})")
    if done.discarded:
        print("  `dispatch restore ID` brings one back")
    if done.left:
        why = "; ".join(f"{other}: {reason}" for other, reason in done.left)
        raise DispatchError(f"{task_id} landed, but not every other candidate was discarded: {why}")


@app.command()
def rebase(
    task_id: Annotated[str, typer.Argument(metavar="ID")],
    onto: Annotated[
        str | None, typer.Option("--onto", metavar="REF", help="Rebase onto REF instead of the base's tip.")
    ] = None,
    leave: Annotated[
        bool, typer.Option("--leave", help="On conflicts, leave the rebase in progress to resolve.")
    ] = False,
) -> None:
    """Rebase the task's commits onto its base's current tip, in its worktree."""
    from dispatch.land import merge as land

    repo, cfg = context()
    done = land.rebase(repo, cfg, task_id, onto=onto, leave=leave)
    if done.old == done.new:
        print(f"{done.id} is already on top of {done.onto}: nothing to do")
    else:
        print(f"rebased {done.id} onto {done.onto}: {done.old[:7]} -> {done.new[:7]}")


@app.command()
def conflicts(json_out: JsonOpt = False) -> None:
    """Which tasks conflict with their base or with each other, and an order that lands the most work."""
    from dispatch import output
    from dispatch.land import conflicts as conflicts_mod

    repo, cfg = context()
    radar = conflicts_mod.radar(repo, cfg)
    if json_out:
        output.emit_json(radar.to_json())
    else:
        print(conflicts_mod.render(radar))


@app.command()
def clean(
    merged: Annotated[bool, typer.Option("--merged", help="Also remove tasks already merged into their base.")] = False,
    yes: YesOpt = False,
) -> None:
    """Prune entries of worktrees deleted by hand; with --merged, trash and remove merged tasks."""
    from dispatch.land import merge as land

    repo, cfg = context()
    ids = land.merged_tasks(repo, cfg)
    if merged and ids:
        confirm(f"removing the merged tasks {', '.join(ids)} (saved to the trash first)", yes)
    done = land.clean(repo, cfg, merged=merged)
    for path in done.pruned:
        print(f"pruned the worktree entry of {path} (its folder was deleted)")
    for task_id in done.removed:
        print(f"removed {task_id}: merged; `dispatch restore {task_id}` brings it back")
    for reason in done.skipped:
        print(f"left {reason}")
    if not merged and ids:
        print(f"merged, still here: {', '.join(ids)}; `dispatch clean --merged` removes them")
    elif not (done.pruned or done.removed or done.skipped):
        print("nothing to clean")


@app.command()
def pr(
    task_id: Annotated[str, typer.Argument(metavar="ID")],
    draft: Annotated[bool, typer.Option("--draft", help="Open the pull request as a draft.")] = False,
) -> None:
    """Push the work without .dispatch/ to the remote branch dispatch/<id> and open a pull request with gh."""
    from dispatch.land import merge as land

    repo, cfg = context()
    done = land.open_pr(repo, cfg, task_id, draft=draft)
    print(f"pushed {done.pushed[:7]} to {done.remote} {done.branch}")
    print(f"  pull request: {done.url}" if done.url else "  pull request opened")
