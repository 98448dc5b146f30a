"""Which sandbox a task's worker gets: the config's `sandbox` or the task's `--sandbox`, as it can be here.

The mechanics of bubblewrap (probing it, its command line) are in dispatch.worker.sandbox; this module
decides: `auto` is `bwrap` where it works and `off` elsewhere, said in one line by `status`, `show` and
`doctor`; `bwrap` refuses, before anything is created, where it cannot run.
"""

from __future__ import annotations

import os
from pathlib import Path

from dispatch.config import Config
from dispatch.errors import DispatchError
from dispatch.repo import Repo
from dispatch.task import runtime
from dispatch.task.model import TaskRef
from dispatch.typed import TYPE_CHECKING, NamedTuple
from dispatch.worker import sandbox as sandboxing

if TYPE_CHECKING:
    from typing import Any


class Confinement(NamedTuple):
    """The sandbox a worker gets: `bwrap` or `off`, what was asked for, and why it is off under `auto`."""

    mode: str
    requested: str
    network: bool = True
    problem: str = ""

    @property
    def note(self) -> str:
        """The one line `status`, `show` and `doctor` print when workers run unconfined under `auto`."""
        if self.mode == "off" and self.requested == "auto":
            return f"workers are not confined: {self.problem}; or set `sandbox = \"off\"` to say so"
        return ""


def check_mode(mode: str, what: str) -> str:
    if mode not in sandboxing.MODES:
        raise DispatchError(f"{what} `{mode}` is not a sandbox mode: use one of {', '.join(sandboxing.MODES)}")
    return mode


def resolve(requested: str, network: bool = True, cached: bool = False) -> Confinement:
    """REQUESTED (auto, bwrap or off) as it is here; refuses `bwrap` when bwrap cannot run, naming why.
    CACHED: the answer may come from the user's cache (for a note, not for starting a worker)."""
    check_mode(requested, "sandbox")
    if requested == "off":
        return Confinement("off", "off", network)
    found = sandboxing.cached_probe(network) if cached else sandboxing.probe(network)
    if found.works:
        return Confinement("bwrap", requested, network)
    if requested == "bwrap":
        raise DispatchError(f"sandbox `bwrap` cannot run: {found.problem}; or start the worker with `--sandbox off`")
    return Confinement("off", "auto", network, found.problem)


def confinement(cfg: Config, sandbox: str | None = None, cached: bool = False) -> Confinement:
    """The sandbox workers get here: SANDBOX (a task's `--sandbox`) or the config's, which a repository
    file may set only when trusted (it could loosen it)."""
    from dispatch.config import trust

    for key in ("sandbox", "sandbox_network", "sandbox_write"):
        trust.require_trusted(cfg, key)
    confined = resolve(sandbox or cfg["sandbox"], bool(cfg["sandbox_network"]), cached)
    return _with_branch_folder(cfg, confined)


def _with_branch_folder(cfg: Config, confined: Confinement) -> Confinement:
    """A confined worker sees a folder of its own where its branch is (dispatch.task.branchview): with no folder of
    their own, that would be refs/heads, and `main` and every branch of yours would be out of its sight.
    Checked here, before `new` creates anything."""
    prefix = cfg["branch_prefix"]
    if confined.mode != "bwrap" or "/" in prefix:
        return confined
    problem = (f"a confined worker needs the task branches in a folder of their own, and branch_prefix `{prefix}` "
               "has none: set it to end in `/` (such as `dispatch/`)")
    if confined.requested == "bwrap":
        raise DispatchError(f"sandbox `bwrap` cannot run: {problem}; or start the worker with `--sandbox off`")
    return Confinement("off", "auto", confined.network, problem)


def note(cfg: Config) -> str:
    """One line for `status` and `show` when workers would start unconfined, or not at all, here."""
    try:
        return confinement(cfg, cached=True).note
    except DispatchError as e:
        return f"workers cannot start: {e}"


def report(cfg: Config) -> tuple[str, dict[str, Any]]:
    """`doctor`'s line and its JSON: the config's sandbox mode, in force here, and whether it works (probed afresh)."""
    requested, network = str(cfg["sandbox"]), bool(cfg["sandbox_network"])
    try:
        confined = confinement(cfg)
    except DispatchError as e:
        return f"workers cannot start: {e}", {"requested": requested, "mode": None, "network": network,
                                              "problem": str(e)}
    facts = {"requested": requested, "mode": confined.mode, "network": network, "problem": confined.problem}
    if confined.note:
        return confined.note, facts
    if confined.mode == "off":
        return "off: workers run unconfined, as `sandbox = \"off\"` says", facts
    cut = "" if network else ", without a network"
    return f"bwrap ({requested}): workers run confined{cut}; bubblewrap works here", facts


def set_sandbox(repo: Repo, task_id: str, sandbox: str | None) -> None:
    """Record the task's `--sandbox` (beside its budget): later runs, queued ones too, keep it."""
    if sandbox is not None:
        runtime.update_worker(repo, task_id, sandbox_flag=check_mode(sandbox, "--sandbox"))


def wrapper(
    repo: Repo, cfg: Config, task: TaskRef, launch: Any, confined: Confinement, worker_env: dict[str, str]
) -> list[str]:
    """The bwrap command line the worker's own goes after: its task writable, nothing else."""
    from dispatch.task.model import worktree_root

    env = {k: v for k, v in os.environ.items() if k not in launch.env_unset} | worker_env
    layout = sandboxing.Layout(
        worktree=task.worktree.path,  # type: ignore[union-attr]
        main_root=repo.root, common_dir=repo.common_dir, worktrees_root=worktree_root(repo, cfg),
        branch_ref=task.branch, home=Path(env.get("HOME") or Path.home()),
        state=[path for path in (sandboxing.expand(p, env) for p in (*launch.sandbox_write, *cfg["sandbox_write"]))
               if path is not None],
    )
    sandboxing.prepare(layout, task.id)
    program = sandboxing.probe(confined.network).program or "bwrap"
    return sandboxing.command(layout, task.id, confined.network, program, env)
