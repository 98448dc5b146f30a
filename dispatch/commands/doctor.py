"""`dispatch doctor`: find and repair damaged task state."""

from __future__ import annotations

from typing import Annotated

import typer

from dispatch.commands.app import JsonOpt, app
from dispatch.commands.common import context


@app.command()
def doctor(
    fix: Annotated[bool, typer.Option("--fix", help="Repair what can be repaired (never deletes a commit).")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Find damaged state and say how to repair it (--fix does).

    A worktree or branch deleted by hand, a dead supervisor, stray files, a task landed here that its runner
    still holds; last, whether workers run confined here (the sandbox mode in force).
    """
    from dispatch import output
    from dispatch.task import doctor as doctor_mod
    from dispatch.worker import checkup, confine

    repo, cfg = context()
    findings = doctor_mod.check(repo, cfg, fix=fix) + checkup.doctor(repo, cfg, fix=fix)
    remaining = sum(1 for f in findings if not f.fixed)
    sandbox_line, sandbox_facts = confine.report(cfg)
    if json_out:
        output.emit_json({**doctor_mod.summary(findings), "sandbox": sandbox_facts})
    elif not findings:
        print("nothing to repair")
    else:
        for f in findings:
            who = f"{f.task}: " if f.task else ""
            if f.fixed:
                print(f"fixed    {who}{f.problem}: {f.fix}")
            elif f.fixable:
                print(f"problem  {who}{f.problem}: `dispatch doctor --fix` will {f.fix}")
            else:
                print(f"problem  {who}{f.problem}: {f.fix}")
    if not json_out:
        print(f"sandbox  {sandbox_line}")
    if remaining:
        raise typer.Exit(1)
