"""The runners command: the machines a task's worker may run on, each checked."""

from __future__ import annotations

from dispatch.commands.app import JsonOpt, app


@app.command()
def runners(json_out: JsonOpt = False) -> None:
    """The machines a worker may run on, each checked.

    The [runners.NAME] tables of your user config: reachable (over ssh), the git and dispatch versions there,
    and for a Slurm runner what `sinfo` says; what fails and how to fix it.
    `dispatch new ... --on NAME` runs a task's worker on one.
    """
    from dispatch import config, output
    from dispatch.config import user_config_path
    from dispatch.worker import checkup

    cfg = config.load(None)  # runners live in the user config only: no repository needed
    rows = checkup.check(cfg)
    chosen = {model: entry["runner"] for model, entry in sorted(cfg["models"].items()) if entry.get("runner")}
    if json_out:
        output.emit_json({"runners": rows, "default": cfg["runner"] or None, "models": chosen})
        return
    if not rows:
        print(f'no runners yet: add a [runners.NAME] table (kind = "ssh" or "slurm", host, path) to {user_config_path()}')
        return
    slurm = any(r["kind"] == "slurm" for r in rows)
    print(output.table([[r["name"], r["kind"], r["host"] or "(here)", "yes" if r["reachable"] else "no", r["git"] or "-",
                         r["dispatch"] or "-", *([r["slurm"] or "-"] if slurm else [])] for r in rows],
                       ["RUNNER", "KIND", "HOST", "REACHABLE", "GIT", "DISPATCH", *(["SLURM"] if slurm else [])]))
    for r in rows:
        if r["problem"]:
            print(f"{r['name']}: {r['problem']}")
    if cfg["runner"]:
        print(f"new tasks run on `{cfg['runner']}` without --on (`runner` in {cfg.source_path('runner')}); "
              "`--on local` keeps one here")
    for model, name in chosen.items():
        print(f"tasks on model {model} run on `{name}` without --on")


@app.command("runner-call", hidden=True)
def runner_call() -> None:
    """On a runner: run the dispatch command that the JSON request on stdin names (sent over ssh)."""
    import io
    import sys

    import typer

    from dispatch.commands import app as typer_app
    from dispatch.commands.common import boundary
    from dispatch.worker import serve

    req = serve.prepare(sys.stdin)
    if req is None:
        return
    sys.stdin = io.StringIO(req["input"] or "")  # the command's own stdin: the text the request carries
    code = boundary(lambda: typer_app.run(req["argv"]))
    if code:
        raise typer.Exit(code)
