"""Confined workers: the worker runs under bubblewrap (`bwrap`) and can write its own task and nothing of yours.

The whole filesystem is mounted read-only; a few paths are mounted again writable: the task's
worktree, its git admin folder, the object store, the `dispatch ask` files, and the state folders
of its agent CLI. Inside those, what must not move is mounted read-only again: the worktree's
`.git` pointer, the admin folder's `commondir`/`gitdir`, the object store's packs and info folders.
The repository lock is hidden (a read is enough to hold a flock). Loose objects stay writable (a
commit writes them), and so deletable: its supervisor packs the repository's loose objects before
it starts; what others make while it runs stays exposed. A private /tmp, a private pid namespace,
and optionally no network.

Its branch: git replaces a ref by renaming a new file over it, so a worker that commits must write
the folder its branch's file is in, and could make any name there: the branch of a task made after
it started, a loose ref shadowing a packed one. So the folder it sees there (`refs/heads/dispatch/`)
is its own, filled and synced both ways by its supervisor (dispatch.task.branchview), and no other
name it makes there leaves its sandbox.

No `--new-session`: `dispatch stop` signals the worker's process group, and a new session would
take the worker out of it (nor could the worker inject keystrokes: it has no terminal, the
supervisor runs in a session of its own). `--die-with-parent`: when bwrap is killed, so is
everything inside. bwrap itself would die of the SIGTERM that `stop` sends to the group, and take
the worker down at once with it; so the supervisor starts bwrap with SIGTERM and SIGINT ignored
and `env --default-signal` gives the worker back their default, so it stops as gracefully as an
unconfined one.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from dispatch import files, git, jsontext, operations
from dispatch.errors import DispatchError
from dispatch.typed import NamedTuple

MODES = ("auto", "bwrap", "off")
INSTALL = "install bubblewrap (`sudo apt-get install bubblewrap`, or `sudo dnf install bubblewrap`)"
SKELETON = ["--die-with-parent", "--unshare-pid", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
            "--tmpfs", "/tmp"]
# What the worker's command is wrapped in: SIGTERM and SIGINT back to their default (see above).
RESTORE_SIGNALS = ["env", "--default-signal=TERM,INT"]


class Probe(NamedTuple):
    works: bool
    program: str | None
    problem: str  # why it does not work here, and what to do: one line


_probes: dict[tuple[str | None, bool], Probe] = {}


def probe(network: bool = True) -> Probe:
    """Whether bwrap runs a confined command here; run once per process (a few milliseconds)."""
    program = files.which("bwrap")
    key = (program, network)
    if key not in _probes:
        _probes[key] = _probe(program, network)
    return _probes[key]


# What decides whether bwrap works: the sysctls that allow (or forbid) unprivileged user namespaces.
_USERNS_SYSCTLS = ("kernel/unprivileged_userns_clone", "user/max_user_namespaces",
                   "kernel/apparmor_restrict_unprivileged_userns")


def cache_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dispatch" / "sandbox.json"


def _machine_key(program: str | None, network: bool) -> list[str]:
    key = [str(program), str(network), os.uname().release]
    if program is not None:
        st = os.stat(program)
        key += [str(st.st_ino), str(st.st_mtime_ns)]
    for name in _USERNS_SYSCTLS:
        try:
            key.append(Path("/proc/sys", name).read_text().strip())
        except OSError:
            key.append("-")
    return key


def cached_probe(network: bool = True) -> Probe:
    """The probe's answer for `status`, `show` and `doctor`, kept in the user's cache for as long as bwrap,
    the kernel and the user-namespace sysctls stay as they were (starting a worker probes afresh)."""
    program = files.which("bwrap")
    key = _machine_key(program, network)
    path = cache_path()
    try:
        data = jsontext.loads(path.read_text(encoding="utf-8"))
        if data.get("key") == key:
            return Probe(**data["probe"])
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        pass
    found = probe(network)
    import json

    try:
        files.write_atomic(path, json.dumps({"key": key, "probe": found._asdict()}) + "\n")
    except OSError:
        pass  # a confined worker's home is read-only: it probes again next time
    return found


def _probe(program: str | None, network: bool) -> Probe:
    if not sys.platform.startswith("linux"):
        return Probe(False, None, "bubblewrap confines workers on Linux only (on macOS `auto` means `off` for now)")
    if program is None:
        return Probe(False, None, f"bubblewrap (`bwrap`) is not installed: {INSTALL}")
    import subprocess  # here, as signal below: a plain `status` imports this module for its cached probe

    argv = [program, *SKELETON, *([] if network else ["--unshare-net"]), "--", *RESTORE_SIGNALS, "true"]
    try:
        r = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        return Probe(False, program, f"{program} does not run ({e}): {INSTALL}")
    if r.returncode != 0:
        cause = (r.stderr.strip().splitlines() or [f"exit code {r.returncode}"])[-1]
        return Probe(False, program, f"{program} cannot confine a process here ({cause}): allow unprivileged user "
                                     "namespaces (`sudo sysctl -w kernel.unprivileged_userns_clone=1`; on Ubuntu "
                                     "`sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`)")
    return Probe(True, program, "")


# --- what a confined worker may write --------------------------------------------------------


_VARIABLE = re.compile(r"\$\{(\w+)(:-[^}]*)?\}|\$(\w+)")


def expand(path: str, env: Mapping[str, str]) -> Path | None:
    """A `sandbox_write` entry with `$VAR`, `${VAR}` and `${VAR:-default}` expanded (no shell), then a leading
    `~`. None when it names a variable that is not set (and has no default) or is not absolute then: never a
    folder made where the command happens to run."""
    unset = False

    def value(match: re.Match[str]) -> str:
        nonlocal unset
        name = match.group(1) or match.group(3)
        if env.get(name):
            return env[name]
        if match.group(2) is not None:
            return match.group(2)[2:]
        unset = True
        return ""

    text = _VARIABLE.sub(value, path)
    home = env.get("HOME") or str(Path.home())
    text = home + text[1:] if text == "~" or text.startswith("~/") else text
    return None if unset or not text.startswith("/") else Path(os.path.normpath(text))


class Layout(NamedTuple):
    """The paths of one task a confined worker needs, resolved by the command that starts it."""

    worktree: Path
    main_root: Path
    common_dir: Path
    worktrees_root: Path
    branch_ref: git.RefName
    home: Path
    state: list[Path]  # the backend's state and `sandbox_write`

    @property
    def state_dir(self) -> Path:
        return self.common_dir / "dispatch"

    def admin_dir(self) -> Path:
        """The worktree's folder in the common dir (`.git/worktrees/<name>`), from its `.git` file."""
        pointer = (self.worktree / ".git").read_text(encoding="utf-8").strip()
        if not pointer.startswith("gitdir:"):
            raise DispatchError(f"{self.worktree}/.git is not a worktree's pointer: `dispatch doctor` says how to repair it")
        path = Path(pointer.partition(":")[2].strip())
        return path if path.is_absolute() else (self.worktree / path).resolve()


def ask_dir(state_dir: Path, task_id: str) -> Path:
    """The one runtime folder of a task its worker writes: `dispatch ask`'s marker (its worker record, which
    names the pid `dispatch stop` signals, stays out of its reach)."""
    from dispatch.task.asking import ASK_FOLDER  # (here: status's note about confinement needs none of it)

    return state_dir / "tasks" / task_id / ASK_FOLDER


def prepare(layout: Layout, task_id: str) -> None:
    """Make what must exist before it can be mounted: the ref and reflog folders, the ask files, the state folders."""
    if "/" not in layout.branch_ref.removeprefix("refs/heads/"):
        raise DispatchError(f"a confined worker needs its branch in a folder of its own, not {layout.branch_ref}: "
                            "set `branch_prefix` to end in `/` (such as `dispatch/`), or use `--sandbox off`")
    objects = layout.common_dir / "objects"
    for folder in (ask_dir(layout.state_dir, task_id), objects / "pack", objects / "info"):
        folder.mkdir(parents=True, exist_ok=True)
    for name in ("lock", "events.jsonl"):
        (layout.state_dir / name).touch(exist_ok=True)
    # With extensions.worktreeConfig on, git reads this file's settings (core.fsmonitor, core.hooksPath: commands)
    # in the worktree, also when the supervisor or you run git there: it must exist to be mounted read-only.
    (layout.admin_dir() / "config.worktree").touch(exist_ok=True)
    for path in layout.state:
        if not path.exists() and path.suffix != ".json":
            path.mkdir(parents=True, exist_ok=True, mode=0o700)


def command(layout: Layout, task_id: str, network: bool, program: str, inherited: Mapping[str, str]) -> list[str]:
    """The bwrap command line, up to the worker's own, that confines it to LAYOUT's task (INHERITED: the
    environment the worker starts from)."""
    admin = layout.admin_dir()
    out = [program, *SKELETON]
    # The private /tmp hides what lives under /tmp (a clone there, tests): the repository, the home and the
    # folders programs run from (PATH, this Python) come back read-only, each as its whole folder in /tmp
    # (an npm CLI on PATH is a link into its package beside it).
    for top in _tmp_tops([layout.home, layout.main_root, layout.common_dir, layout.worktrees_root,
                          Path(sys.prefix), Path(sys.executable),
                          *[Path(p) for p in inherited.get("PATH", "").split(os.pathsep) if p]]):
        out += ["--ro-bind", str(top), str(top)]
    writable = [layout.worktree, admin, layout.common_dir / "objects", ask_dir(layout.state_dir, task_id),
                layout.state_dir / "events.jsonl", *[p for p in layout.state if p.exists()]]
    for path in writable:
        out += ["--bind", str(path), str(path)]
    # The folder of its branch and of its reflog: its own (see BranchView).
    from dispatch.task.branchview import BranchView  # (with threading: only for a worker's command line)

    view = BranchView(layout.main_root, layout.common_dir, task_id, layout.branch_ref)
    for own, real in ((view.refs, view.real_refs), (view.logs, view.real_logs)):
        out += ["--bind", str(own), str(real)]
    kept = [layout.worktree / ".git", admin / "commondir", admin / "gitdir", admin / "config.worktree",
            # Every pack, made before the worker started or after, and the alternates and commit-graph files.
            layout.common_dir / "objects" / "pack", layout.common_dir / "objects" / "info"]
    for path in kept:
        if path.exists():
            out += ["--ro-bind", str(path), str(path)]
    # The repository lock, hidden: holding it (a read is enough for flock) would stop every dispatch command.
    out += ["--ro-bind", "/dev/null", str(layout.state_dir / "lock")]
    if not network:
        out.append("--unshare-net")
    for name, value in _settings(inherited).items():
        out += ["--setenv", name, value]
    return [*out, "--chdir", str(layout.worktree), "--", *RESTORE_SIGNALS]


def _tmp_tops(paths: list[Path]) -> list[Path]:
    """The folders right under /tmp that hold PATHS, those that exist."""
    tmp = Path("/tmp")
    tops = {tmp / p.relative_to(tmp).parts[0] for p in paths if p.is_absolute() and _under(p, tmp) and p != tmp}
    return sorted(t for t in tops if t.exists())


def _under(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _settings(inherited: Mapping[str, str]) -> dict[str, str]:
    """What the sandbox sets in the worker's environment (in bwrap's command line, not in the backend's env):
    temporary files in its private /tmp; no `git gc` or maintenance, which would need the rest of the
    repository writable, added after any git config INHERITED passes the same way."""
    try:
        count = int(inherited.get("GIT_CONFIG_COUNT") or 0)
    except ValueError:
        count = 0  # git itself refuses to run with such a count: leave it to say so
    # A fetch keeps what it gets as loose objects: the packs' folder is read-only to a confined worker.
    own = (("gc.auto", "0"), ("maintenance.auto", "false"), ("transfer.unpackLimit", "2147483647"))
    settings = {"TMPDIR": "/tmp", "GIT_CONFIG_COUNT": str(count + len(own))}
    for n, (key, value) in enumerate(own, start=count):
        settings |= {f"GIT_CONFIG_KEY_{n}": key, f"GIT_CONFIG_VALUE_{n}": value}
    return settings


# --- what the supervisor of a confined worker does differently -------------------------------------


def pack_loose_objects(worktree: Path) -> str | None:
    """Before a confined worker starts, and when it ends: the repository's loose objects (those of every ref,
    reflog and index: your commits, other tasks', its own) into a pack, as `git gc` does, for packs are
    read-only to confined workers and loose objects are not. git's error, if it failed.

    Not `-d`: its prune-packed deletes the loose copies and then their emptied `objects/xx` folders, under
    other workers' git at that moment writing an object there ("unable to create temporary file"). A loose
    copy a worker deletes loses nothing: the pack holds it; the user's `git gc` prunes the copies."""
    for attempt in range(5):
        r = git.run(["repack", "-q"], cwd=worktree, check=False)
        if r.returncode == 0:
            return None
        # A worktree being made that moment (`dispatch new` beside us) has a HEAD git cannot read yet.
        time.sleep(0.2 * (attempt + 1))
    return (r.stderr.strip().splitlines() or [f"exit code {r.returncode}"])[-1]


def ignore_stop_signals() -> None:
    """Before bwrap starts: it inherits this, and outlives the SIGTERM `stop` sends (see above)."""
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def setup_failed(code: int | None, output: str) -> bool:
    """Whether bwrap itself failed before the worker ran: its exit code 1 and its own `bwrap: Can't ...` line."""
    return code == 1 and any(line.startswith("bwrap: Can't ") for line in output.splitlines())


def exit_code(code: int) -> int:
    """The worker's exit code as an unconfined worker's reads: bwrap reports death by signal N as 128+N."""
    import signal

    return 128 - code if 128 < code < 128 + signal.NSIG else code


def head_moved(worktree: Path, branch: git.RefName) -> str | None:
    """Where a confined worker pointed HEAD when it is not BRANCH: saving there would commit, outside the
    sandbox, onto a ref the worker could not write itself (`main`, say)."""
    if not branch:
        return None
    head = git.run(["symbolic-ref", "-q", "HEAD"], cwd=worktree, check=False).stdout.strip()
    if head == branch or (not head and operations.in_progress(worktree)):
        return None
    return head or "a detached commit"
