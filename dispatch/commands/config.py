"""Commands on configuration, models and trust: config show/set/unset, models [pick|add|rm|alias|unalias], init, trust."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from dispatch.commands.app import JsonOpt, app

config_app = typer.Typer(help="Show, explain and edit the configuration.", no_args_is_help=True)
models_app = typer.Typer(help="Models, aliases, the default, and which agent CLIs are installed.")
app.add_typer(config_app, name="config")
app.add_typer(models_app, name="models")


def _repo_root() -> Path | None:
    """The repository's main checkout, or None outside one: these commands work anywhere."""
    from dispatch.errors import DispatchError
    from dispatch.repo import open_repo

    try:
        return open_repo(Path.cwd()).root
    except DispatchError:
        return None


def _load() -> Any:
    from dispatch import config

    cfg = config.load(_repo_root())
    notice = config.ignored_notice(cfg)
    if notice:
        print(f"dispatch: {notice}", file=sys.stderr)
    return cfg


RepoOpt = Annotated[bool, typer.Option("--repo", help="Edit this repository's .dispatch.toml, not the user config.")]


def _edit_root(repo: bool) -> Path | None:
    """The repository whose .dispatch.toml an edit writes (--repo), or None for the user config."""
    if not repo:
        return None
    from dispatch.repo import open_repo

    return open_repo(Path.cwd()).root


def _edited(done: Any, did: str, same: str) -> None:
    print(did if done.changed else same)
    if done.trust_lapsed:
        print(f"note: {done.path} defines commands and has changed: dispatch runs none of them until you "
              "read it and run `dispatch trust` again", file=sys.stderr)


def _value(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


@config_app.command("show")
def config_show(json_out: JsonOpt = False) -> None:
    """Every key of the configuration, and where its value came from."""
    from dispatch.output import emit_json

    rows = _load().flat()
    if json_out:
        emit_json({"config": {key: {"value": value, "source": source} for key, value, source in rows}})
        return
    for key, value, source in rows:
        print(f"{key} = {_value(value)}  # {source}")


@config_app.command("example")
def config_example() -> None:
    """Print .dispatch.toml.example: every key, its default, its use."""
    from dispatch import config

    print(config.example_text(), end="")


@config_app.command("set", context_settings={"ignore_unknown_options": True})
def config_set(
    key: Annotated[str, typer.Argument(metavar="<key>", help='A key as in the file: default_model, models."gpt-5".backend...')],
    value: Annotated[str, typer.Argument(metavar="<value>", help='A string as typed; numbers, lists and tables as TOML (\'[".env"]\').')],
    repo: RepoOpt = False,
) -> None:
    """Set <key> in the user config (the repository's with --repo).

    The file keeps its comments and layout.
    """
    from dispatch.config import edit as config_edit

    done = config_edit.set_key(key, value, repo_root=_edit_root(repo))
    _edited(done, f"set {done.key} = {done.value} in {done.path}", f"{done.key} is already {done.value} in {done.path}")


@config_app.command("unset")
def config_unset(key: Annotated[str, typer.Argument(metavar="<key>", help="A key as in the file, or a whole table.")], repo: RepoOpt = False) -> None:
    """Remove <key> from the user config (the repository's with --repo).

    <key> is a value, or a whole models./aliases./backends. entry.
    """
    from dispatch.config import edit as config_edit

    done = config_edit.unset_key(key, repo_root=_edit_root(repo))
    _edited(done, f"removed {done.key} from {done.path}", f"{done.key} is not in {done.path}: nothing to remove")


@models_app.callback(invoke_without_command=True)
def models(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """Models (configured, and built-in examples), aliases, the default, and the installed CLIs."""
    if ctx.invoked_subcommand is not None:
        return
    from dispatch import output
    from dispatch.config import BUILTIN_BACKENDS, backends, clis, dotted

    cfg = _load()
    rows = backends.model_rows(cfg)
    aliases = [(name, a["model"], a.get("prompt", ""), str(cfg.source_path(dotted("aliases", name))))
               for name, a in sorted(cfg["aliases"].items())]
    installed = clis.installed_clis()
    versions = clis.cli_versions(installed)
    default = cfg["default_model"]
    if json_out:
        output.emit_json({
            "models": [{"id": r.id, "backend": r.backend, "source": r.source} for r in rows],
            "aliases": [{"name": n, "model": m, "prompt": p, "source": s} for n, m, p, s in aliases],
            "default": {"model": default, "source": cfg.sources["default_model"]} if default else None,
            "clis": {b: {"executable": BUILTIN_BACKENDS[b]["command"][0], "installed": ok,
                         "version": versions.get(b)} for b, ok in installed.items()},
        })
        return
    print(output.table([[r.id, r.backend, r.source] for r in rows], ["MODEL", "BACKEND", "FROM"]))
    if aliases:
        print()
        print(output.table([[n, m, _short(p) or "-"] for n, m, p, _ in aliases], ["ALIAS", "MODEL", "PROMPT"]))
    print()
    if default:
        print(f"default: {default} (from {cfg.sources['default_model']})")
    else:
        print("default: none: pass --model MODEL, or set default_model (`dispatch init` writes one)")
    print("installed: " + (", ".join(f"{b} {versions[b]}" if versions.get(b) else b
                                      for b, ok in installed.items() if ok)))
    print("missing: " + (", ".join(b for b, ok in installed.items() if not ok) or "none"))
    from dispatch.scripted import item_forms_text

    print()
    print("scripted, the built-in worker with no AI behind it, reads these forms in an item:")
    print(item_forms_text())


def _short(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 60 else line[:59] + "…"


@models_app.command("pick")
def models_pick(
    text: Annotated[str, typer.Argument(metavar="<text>", help="The user's request, in their words.")],
    json_out: JsonOpt = False,
) -> None:
    """The model or alias named last in <text>, or the default.

    The default is followed by ` (default)`.
    """
    from dispatch.config import backends
    from dispatch.errors import DispatchError
    from dispatch.output import emit_json

    cfg = _load()
    picked = backends.pick(cfg, text)
    if picked is None:
        raise DispatchError("the text names no model and no default_model is configured: "
                            "name one (such as `sonnet`), or run `dispatch init`")
    name, is_default = picked
    if json_out:
        launch = backends.resolve(cfg, name)
        emit_json({"pick": {"name": name, "default": is_default, "alias": name in cfg["aliases"],
                            "model": launch.model, "backend": launch.backend}})
    else:
        print(f"{name} (default)" if is_default else name)


@models_app.command("add")
def models_add(
    model: Annotated[str, typer.Argument(metavar="<model>")],
    backend: Annotated[str | None, typer.Option("--backend", metavar="B", help="The backend that runs it (default: by its name).")] = None,
    repo: RepoOpt = False,
) -> None:
    """Add <model> to the config, with the backend that runs it.

    A [models.<model>] table; --backend, else the one its name picks.
    """
    from dispatch.config import edit as config_edit

    done = config_edit.add_model(model, backend, repo_root=_edit_root(repo))
    _edited(done, f"added model {model} in {done.path}: it runs on {done.backend}",
            f"model {model} is already in {done.path}: it runs on {done.backend}")


@models_app.command("rm")
def models_rm(model: Annotated[str, typer.Argument(metavar="<model>")], repo: RepoOpt = False) -> None:
    """Remove <model>'s [models.<model>] table from the config."""
    from dispatch.config import edit as config_edit

    done = config_edit.remove_model(model, repo_root=_edit_root(repo))
    _edited(done, f"removed model {model} from {done.path}", f"model {model} is not in {done.path}: nothing to remove")


@models_app.command("alias")
def models_alias(
    name: Annotated[str, typer.Argument(metavar="<name>")],
    model: Annotated[str, typer.Option("--model", metavar="M", help="The model the alias runs.")],
    prompt: Annotated[str | None, typer.Option("--prompt", metavar="TEXT", help='Put before the worker\'s prompt ("" removes it; default: keep).')] = None,
    repo: RepoOpt = False,
) -> None:
    """Make <name> an alias of a model, with a standing prompt.

    `dispatch models unalias <name>` removes it.
    """
    from dispatch.config import edit as config_edit

    done = config_edit.set_alias(name, model, prompt, repo_root=_edit_root(repo))
    _edited(done, f"alias {name} runs {model} ({done.path})", f"alias {name} already runs {model} ({done.path})")


@models_app.command("unalias")
def models_unalias(name: Annotated[str, typer.Argument(metavar="<name>")], repo: RepoOpt = False) -> None:
    """Remove the alias <name> from the config."""
    from dispatch.config import edit as config_edit

    done = config_edit.remove_alias(name, repo_root=_edit_root(repo))
    _edited(done, f"removed alias {name} from {done.path}", f"alias {name} is not in {done.path}: nothing to remove")


@app.command()
def init(force: Annotated[bool, typer.Option("--force", help="Replace an existing user config.")] = False) -> None:
    """Find the installed agent CLIs and write the user config.

    Cursor's `agent models` list too, when it is installed.
    """
    from dispatch.config import clis

    result = clis.init_user_config(force=force)
    print(f"wrote {result.path}")
    print(f"  default   {result.default_model or 'none (no agent CLI found)'}")
    print(f"  models    {len(result.models)}" + (f": {', '.join(result.models)}" if result.models else ""))
    print(f"  found     {', '.join(b for b, ok in result.installed.items() if ok)}")
    if result.note:
        print(f"  cursor    {result.note}")


@app.command("trust")
def trust_cmd(
    show: Annotated[bool, typer.Option("--show", help="List the files trusted so far.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Let this repository's .dispatch.toml run its commands.

    Its backends, copy and setup, and its guarded keys (where files go), until the file changes.
    """
    from dispatch import output
    from dispatch.config import trust

    if show:
        entries = trust.trusted_files()
        if json_out:
            output.emit_json({"trusted": [{"path": str(e.path), "sha256": e.sha256, "state": e.state}
                                          for e in entries]})
        elif not entries:
            print("nothing is trusted yet: `dispatch trust` in a repository trusts its .dispatch.toml")
        else:
            print(output.table([[e.state, e.sha256[:12], str(e.path)] for e in entries], ["STATE", "SHA256", "FILE"]))
        return
    from dispatch.repo import open_repo

    path = trust.trust(open_repo(Path.cwd()).root)
    sha = trust.digest(path) or ""
    if json_out:
        output.emit_json({"trusted": {"path": str(path), "sha256": sha}})
    else:
        print(f"trusted {path}")
        print(f"  sha256 {sha}")


@app.command()
def untrust() -> None:
    """Forget the trust given to this repository's .dispatch.toml."""
    from dispatch.config import trust
    from dispatch.repo import open_repo

    root = open_repo(Path.cwd()).root
    path = root / ".dispatch.toml"
    print(f"untrusted {path}" if trust.untrust(root) else f"{path} was not trusted: nothing to do")
