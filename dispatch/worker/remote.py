"""Tasks whose worker runs on another machine (a runner): the branch is the transport.

`new --on RUNNER` pushes the base to a repository of ours on the runner's host, and the dispatch
installed there creates the task and supervises its worker exactly as it does here. This side keeps
`refs/heads/dispatch/<id>`, which follows the runner's branch by fetch, fast-forward only, so that
`show`, `review` and `merge` work from local objects; what git does not hold (the worker, dirty
files, usage) comes from the remote `dispatch status --json`, one call per runner per listing.
The runner of a task is machine-local state: `<state>/tasks/<id>/runner.json`.
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from dispatch import config, git, objects
from dispatch.config import Config
from dispatch.errors import DispatchError
from dispatch.files import write_atomic
from dispatch.repo import Repo, locked
from dispatch.task import runtime
from dispatch.task.create import choose_id
from dispatch.task.model import default_base
from dispatch.typed import TYPE_CHECKING
from dispatch.worker import launch, ssh
from dispatch.worker.create import Request

if TYPE_CHECKING:
    from typing import Any

RECORD = runtime.RUNNER_RECORD
FETCHED = "refs/dispatch/runners"


@dataclass(frozen=True)
class Place:
    """Where a remote task lives: its runner's name and settings, the repository path there, its branch."""

    name: str
    runner: dict[str, Any]
    path: str
    branch: str


def repo_path(runner: dict[str, Any], repo: Repo) -> str:
    """One repository per local one: its folder name and a hash of where it is here."""
    digest = hashlib.sha256(str(repo.root).encode()).hexdigest()[:10]
    return f"{ssh.remote_path(runner).rstrip('/') or '.'}/{repo.root.name}-{digest}"


def place(repo: Repo, cfg: Config, task_id: str) -> Place | None:
    """The runner of TASK_ID, or None for a local task."""
    data = record(repo, task_id)
    if data is None:
        return None
    return Place(data["runner"], config.runner(cfg, data["runner"]), data["path"], data["branch"])


def runner_of(repo: Repo, task_id: str) -> str | None:
    """The name of the runner TASK_ID was sent to, as recorded (whether or not the config still has it)."""
    data = record(repo, task_id)
    return None if data is None else str(data["runner"])


def record(repo: Repo, task_id: str) -> dict[str, Any] | None:
    """The task's runner record (runner, path there, branch there, last known state); None for a local task."""
    try:
        data: dict[str, Any] = json.loads((repo.task_dir(task_id) / RECORD).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise DispatchError(f"{repo.task_dir(task_id) / RECORD}: unreadable ({e}): remove it") from None
    return data


def _save(repo: Repo, task_id: str, data: dict[str, Any]) -> None:
    write_atomic(repo.task_dir(task_id) / RECORD, json.dumps(data, sort_keys=True, indent=2) + "\n", private=True)


def _check(answer: ssh.Answer, name: str, doing: str, host: str) -> None:
    found = problem(answer, name, doing, host)
    if found is not None:
        raise DispatchError(found)


def problem(answer: ssh.Answer, name: str, doing: str, host: str) -> str | None:
    """What went wrong with a call to runner NAME, said with the fix; None when it answered."""
    if answer.unreachable:
        return (f"runner `{name}` is unreachable ({ssh.first_error_line(answer)}): "
                f"check that `ssh {host}` logs in without a password prompt")
    if answer.returncode == 127:  # the remote shell found no such command
        return (f"runner `{name}` could not {doing}: dispatch does not run there: install it "
                f"(`pipx install git-dispatch`) or set runners.{name}.dispatch to its path")
    if answer.returncode != 0:
        return f"runner `{name}` could not {doing}: {ssh.first_error_line(answer)}"
    return None


def _git_remote(repo: Repo, runner: dict[str, Any], args: list[str], name: str, doing: str) -> None:
    result = git.run(args, cwd=repo.root, check=False, env=ssh.git_env(runner))
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        raise DispatchError(f"runner `{name}` could not {doing}: {lines[-1].strip() if lines else result.returncode}")


def start(repo: Repo, cfg: Config, name: str, req: Request) -> dict[str, Any]:
    """Create the task on runner NAME and start its worker there; its `new --json` task, branch fetched here."""
    if len(req.models) > 1:
        raise DispatchError("--on takes one model: send the task to several models without --on")
    if req.after:
        raise DispatchError("--on cannot wait for other tasks (--after): start it when they are done")
    runner = config.runner(cfg, name)
    path = repo_path(runner, repo)
    base_name = req.base if req.base is not None else default_base(repo)
    base_commit = git.resolve_base(repo.root, base_name)
    if base_commit is None:
        raise DispatchError(f"base `{base_name}` is not a commit, branch or tag here: check `git branch -a`")
    with locked(repo, cfg["lock_timeout"]):  # chosen here, among this repository's tasks and branches
        task_id = choose_id(repo, cfg, req.title, req.task_id, [])
    _check(ssh.call(runner, [], cwd=path, init=True), name, "create its repository", runner["host"])
    is_branch = git.rev(repo.root, f"refs/heads/{base_name}") is not None
    target = f"refs/heads/{base_name}" if is_branch else f"refs/dispatch/bases/{base_commit}"
    _git_remote(repo, runner, ["push", "--quiet", ssh.git_url(runner, path), f"+{base_commit}:{target}"],
                name, f"receive the base {base_name}")
    words = _new_words(req, task_id, base_name if is_branch else base_commit)
    if runner["kind"] == "slurm":  # the dispatch there submits the supervisor with sbatch
        words += ["--engine", json.dumps(launch.engine_of(name, runner))]
    plan = None
    if req.items or req.description:  # the checklist travels as data, on stdin
        items = "\n".join(f"- [ ] {i}" for i in req.items)
        plan = "\n\n".join(part for part in (req.description, items) if part) + "\n"
        words += ["--plan", "-"]
    answer = ssh.call(runner, words, cwd=path, input=plan)
    _check(answer, name, "create the task", runner["host"])
    task: dict[str, Any] = _json(answer, name)["task"]
    if task.get("id") != task_id or not str(task.get("branch", "")).endswith("/" + task_id):
        raise DispatchError(f"runner `{name}` named the task {task.get('id')!r}, which is no task id: "
                            "check the dispatch there (`dispatch runners`)")
    # Recorded first: should the fetch below fail, `dispatch doctor` finds the task there.
    _save(repo, task["id"], {"runner": name, "path": path, "branch": task["branch"], "last": None})
    local = f"refs/heads/{cfg['branch_prefix']}{task['id']}"
    _git_remote(repo, runner, ["fetch", "--quiet", ssh.git_url(runner, path), f"refs/heads/{task['branch']}:{local}"],
                name, "send the task's branch back")
    return task


def _new_words(req: Request, task_id: str, base: str) -> list[str]:
    """`dispatch new` as the runner's dispatch is to run it: this task's id, base and model, no text but the title."""
    words = ["new", req.title, "--base", base, "--json", "--id", task_id, "--on", "local"]  # (there, whatever its config)
    words += ["--model", req.models[0]] if req.models else []
    words += [] if req.start else ["--no-start"]
    words += ["--budget-time", str(req.budget[0])] if req.budget[0] is not None else []
    words += ["--budget-cost", str(req.budget[1])] if req.budget[1] is not None else []
    words += ["--sandbox", req.sandbox] if req.sandbox else []  # confined there as asked here
    return words


def _json(answer: ssh.Answer, name: str) -> dict[str, Any]:
    """The remote dispatch's --json answer; another program's output there is refused in one line."""
    try:
        data = json.loads(answer.stdout)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise DispatchError(f"runner `{name}` answered something that is not dispatch's JSON: check that "
                            f"runners.{name}.dispatch runs dispatch there (`dispatch runners`)")
    return data


@dataclass
class Synced:
    """What one sync learnt: each task's status on its runner (None: the runner did not answer), and a note
    for a task whose branch could not follow or whose runner left the config."""

    found: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    lost: set[str] = field(default_factory=set)  # the runner answered, and no longer has these tasks


def sync(repo: Repo, cfg: Config, ids: list[str]) -> Synced:
    """Fetch each runner's tasks among IDS (one fetch and one status call per runner, at once, on one
    connection) and fast-forward their local branches."""
    by_runner: dict[str, list[tuple[str, Place]]] = {}
    done = Synced()
    for task_id in ids:
        where = _place_or_none(repo, cfg, task_id, done)
        if where is not None:
            by_runner.setdefault(where.name, []).append((task_id, where))
    for name, tasks in by_runner.items():
        _sync_runner(repo, cfg, name, tasks, done)
    return done


def _place_or_none(repo: Repo, cfg: Config, task_id: str, done: Synced) -> Place | None:
    data = record(repo, task_id)
    if data is None:
        return None
    if data["runner"] not in cfg.values["runners"]:  # the task shows as unreachable, with why
        done.notes[task_id] = (f"its runner `{data['runner']}` is no longer in your config: add the "
                               f"[runners.{data['runner']}] table back to {config.user_config_path()}")
        return Place(data["runner"], {}, data["path"], data["branch"])
    return Place(data["runner"], config.runner(cfg, data["runner"]), data["path"], data["branch"])


def _sync_runner(repo: Repo, cfg: Config, name: str, tasks: list[tuple[str, Place]], done: Synced) -> None:
    runner, path = tasks[0][1].runner, tasks[0][1].path
    done.found.update({task_id: None for task_id, _ in tasks})
    if not runner:
        return
    with ThreadPoolExecutor(1) as pool:  # the status call runs while git fetches
        asked = pool.submit(ssh.call, runner, ["status", "--json"], cwd=path)
        fetched = git.run(["fetch", "--quiet", ssh.git_url(runner, path), *_fetch_specs(name, tasks)], cwd=repo.root,
                          check=False, env=ssh.git_env(runner))
        answer = asked.result()
    if fetched.returncode != 0 or answer.returncode != 0:
        return
    for task_id, _ in tasks:
        if not _fast_forward(repo, cfg, name, task_id):
            done.notes[task_id] = (f"its branch here has commits the one on `{name}` has not: left as it is "
                                   f"(`git log {FETCHED}/{name}/{task_id}..{cfg['branch_prefix']}{task_id}` shows them)")
    try:
        remote = {t["id"]: t for t in _json(answer, name)["tasks"]}
    except (DispatchError, KeyError, TypeError):
        return
    for task_id, _ in tasks:
        data = record(repo, task_id) or {}
        if task_id in remote:
            data["last"] = remote[task_id]["state"]
            _save(repo, task_id, data)
        else:
            done.lost.add(task_id)
        done.found[task_id] = remote.get(task_id)


def _fetch_specs(name: str, tasks: list[tuple[str, Place]]) -> list[str]:
    """One glob for the branches of the runner's tasks (those there, whichever they are: a task it lost must
    not fail the fetch of the others); a refspec each when their branches share no prefix."""
    prefixes = {where.branch.removesuffix(task_id) for task_id, where in tasks}
    if len(prefixes) == 1 and all(where.branch.endswith("/" + task_id) for task_id, where in tasks):
        return [f"+refs/heads/{prefixes.pop()}*:{FETCHED}/{name}/*"]
    return [f"+refs/heads/{where.branch}:{FETCHED}/{name}/{task_id}" for task_id, where in tasks]


def _fast_forward(repo: Repo, cfg: Config, name: str, task_id: str) -> bool:
    """The local branch follows the runner's, fast-forward only: local commits are never dropped (False).
    A branch gone here (the task landed or discarded here) is never made again."""
    new = git.rev(repo.root, f"{FETCHED}/{name}/{task_id}")
    local = f"refs/heads/{cfg['branch_prefix']}{task_id}"
    old = git.rev(repo.root, local)
    if new is None or old is None or new == old:
        return True
    if old is not None and not git.is_ancestor(repo.root, old, new):
        return False
    objects.move_ref(repo.root, local, new, old, f"dispatch: follow {task_id} on {name}")
    return True


def rebase(repo: Repo, cfg: Config, task_id: str, *, onto: str | None, leave: bool) -> tuple[str, str, str]:
    """Rebase the task in its worktree on its runner onto this side's base tip (or ONTO), then take the rebased
    branch here: (the name rebased onto, the old tip, the new). This side's commit goes there first (the base
    branch of our repository there, or a ref of its own for ONTO), so the rebase lands on what you see here.
    Refused, with nothing changed, while this side's branch has commits the runner's has not."""
    from dispatch.task.record import load_one

    where = place(repo, cfg, task_id)
    if where is None:
        raise DispatchError(f"{task_id} is not on a runner")
    synced = sync(repo, cfg, [task_id])
    if synced.found.get(task_id) is None or task_id in synced.lost:
        raise DispatchError(f"runner `{where.name}` of {task_id} did not answer, or no longer has it: "
                            "`dispatch status` says which; rebase it once it does")
    if task_id in synced.notes:
        raise DispatchError(f"{task_id}: {synced.notes[task_id]}; rebase refused, nothing changed")
    task = load_one(repo, cfg, task_id)
    if task.ref.tip is None or not task.base:
        raise DispatchError(f"{task_id} has no branch here, or its plan names no base: `dispatch doctor` says why")
    name, tip = onto or task.base, task.ref.tip.sha
    commit = git.resolve_base(repo.root, name)
    if commit is None:
        raise DispatchError(f"`{name}` is not a branch or commit here: check `git branch`")
    target = f"refs/dispatch/bases/{commit}" if onto else f"refs/heads/{task.base}"
    url = ssh.git_url(where.runner, where.path)
    _git_remote(repo, where.runner, ["push", "--quiet", url, f"+{commit}:{target}"], where.name, f"receive {name}")
    words = ["rebase", task_id, *(["--onto", commit] if onto else []), *(["--leave"] if leave else [])]
    forward(repo, cfg, task_id, words)
    local, fetched = f"refs/heads/{cfg['branch_prefix']}{task_id}", f"{FETCHED}/{where.name}/{task_id}"
    with locked(repo, cfg["lock_timeout"]):
        _git_remote(repo, where.runner, ["fetch", "--quiet", url, f"+refs/heads/{where.branch}:{fetched}"],
                    where.name, "send the rebased branch back")
        new = git.out(["rev-parse", "--verify", fetched], cwd=repo.root)
        # Not a fast-forward, and asked for: the old tip stays in this branch's reflog (and the runner's).
        if new != tip and not objects.move_ref(repo.root, local, new, tip, f"dispatch: rebase {task_id} on {where.name}"):
            raise DispatchError(f"{task_id} was rebased on `{where.name}`, but its branch here moved meanwhile: left as "
                                f"it is; `git log {fetched}` shows the rebased commits")
    return name, tip, new


def forward(repo: Repo, cfg: Config, task_id: str, words: list[str], *, stream: bool = False,
            input: str | None = None, passing: tuple[int, ...] = (), timeout: float = ssh.CALL_TIMEOUT) -> ssh.Answer | int:
    """Run `dispatch WORDS` for the task on its runner: captured, or streamed to our output."""
    where = place(repo, cfg, task_id)
    if where is None:
        raise DispatchError(f"{task_id} is not on a runner")
    if stream:
        return ssh.passthrough(where.runner, words, cwd=where.path)
    answer = ssh.call(where.runner, words, cwd=where.path, input=input, timeout=timeout)
    if answer.returncode not in passing:  # exit codes that are answers (`wait` timed out: 124)
        _check(answer, where.name, f"run `dispatch {words[0]}`", where.runner["host"])
    return answer


def discard(repo: Repo, cfg: Config, task_id: str) -> str | None:
    """Discard the task on its runner (its trash there keeps its uncommitted work) and fetch that trash
    entry here, beside the runner's branches; the ref it is kept under (None: the runner had lost the
    task already). The local discard follows."""
    where = place(repo, cfg, task_id)
    if where is None:
        raise DispatchError(f"{task_id} is not on a runner")
    if task_id in sync(repo, cfg, [task_id]).lost:  # nothing left there: what was fetched here is all there is
        (repo.task_dir(task_id) / RECORD).unlink(missing_ok=True)
        return None
    return retire(repo, where, task_id)


def retire(repo: Repo, where: Place, task_id: str) -> str:
    """The task is done with here (discarded, or landed): discard it on its runner too, its trash entry
    fetched under refs/dispatch/runners/<runner>/trash/<id>; that ref."""
    answer = ssh.call(where.runner, ["discard", task_id, "--yes"], cwd=where.path)
    _check(answer, where.name, "discard the task there", where.runner["host"])
    keep = f"{FETCHED}/{where.name}/trash/{task_id}"
    _git_remote(repo, where.runner, ["fetch", "--quiet", ssh.git_url(where.runner, where.path),
                                     f"+refs/dispatch/trash/{task_id}:{keep}"], where.name, "send its trash entry back")
    (repo.task_dir(task_id) / RECORD).unlink(missing_ok=True)
    return keep
