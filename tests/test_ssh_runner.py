"""Tasks on an ssh runner, against a real sshd on 127.0.0.1 started here with its own keys.

The remote "machine" is this box, reached over ssh as a second local user (as root: `dispatchrun`,
made here, key-only login, its own home and its own dispatch, installed from this checkout's wheel
with a Python outside /root, which it cannot read); without root, as this same user, running this
checkout's dispatch. Without sshd the tests skip, loudly; CI sets DISPATCH_REQUIRE_SSHD=1 (.ci/run
installs it), and then a missing sshd fails them.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from claude_cli import INSTALL_HINT, claude_env, find_claude
from conftest import FAST, PINNED_GIT_DATE, PINNED_NOW, dispatch, git, sandbox_line
from fake_anthropic import Conversation, FakeAnthropic, Script, text, tool_use
from test_workers import wait_for

from dispatch.output import usage_cell

SSHD = "/usr/sbin/sshd"
FAR_USER = "dispatchrun"
ROOT = Path(__file__).resolve().parent.parent


def _unavailable(why: str) -> None:
    message = f"no sshd to test ssh runners against: {why} (as root: `apt-get install -y openssh-server`)"
    if os.environ.get("DISPATCH_REQUIRE_SSHD") == "1":
        pytest.fail(message)
    pytest.skip(f"SKIPPED LOUDLY: {message}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


@dataclass
class Far:
    """The runner's side: the user ssh logs in as, the folder its tests' files go under, its dispatch."""

    user: str
    home: Path
    root: Path
    dispatch: list[str]

    @property
    def other(self) -> bool:
        return self.user != getpass.getuser()

    def as_far(self, argv: list[str]) -> list[str]:
        return ["runuser", "-u", self.user, "--", *argv] if self.other else argv

    def git(self, cwd: Path, *args: str) -> str:
        """git run there as that user (what it writes stays its own)."""
        return subprocess.run(self.as_far(["git", "-C", str(cwd), *args]), check=True, capture_output=True,
                              text=True).stdout.strip()

    def folder(self, tmp_path: Path) -> Path:
        """This test's folder there, that user's."""
        path = self.root / hashlib.sha256(str(tmp_path).encode()).hexdigest()[:8]  # short: status rows fit
        path.mkdir(parents=True, exist_ok=True)
        if self.other:
            shutil.chown(path, self.user, self.user)
        return path


def _far_side(tmp_path_factory: pytest.TempPathFactory) -> Far:
    """As root: user dispatchrun (made once; a new account is locked, and sshd without PAM refuses it
    until `usermod -p '*'`) with dispatch installed in a venv of its own from this checkout's wheel.
    Everything of one test run (the venv, the authorized key, the tests' folders) is in a folder of
    its own there, so that runs at once (other checkouts) never share a key or an install."""
    if os.geteuid() != 0:
        d = tmp_path_factory.mktemp("far")
        return Far(getpass.getuser(), d, d, [str(Path(sys.executable).parent / "dispatch")])
    python = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin")
    if python is None or os.path.realpath(python).startswith("/root/"):
        _unavailable("no Python outside /root for the runner's user")
    try:
        pwd.getpwnam(FAR_USER)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", FAR_USER], check=True)
    subprocess.run(["usermod", "-p", "*", FAR_USER], check=True)
    home = Path(pwd.getpwnam(FAR_USER).pw_dir)
    (home / "t").mkdir(exist_ok=True)
    root = Path(tempfile.mkdtemp(dir=home / "t", prefix=f"{tmp_path_factory.getbasetemp().name}-"))
    dist = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w",
                    str(dist), str(ROOT)], check=True, capture_output=True)
    [wheel] = dist.glob("*.whl")
    subprocess.run([python, "-m", "venv", str(root / "venv")], check=True)
    subprocess.run([str(root / "venv" / "bin" / "pip"), "install", "--quiet", str(wheel)], check=True,
                   capture_output=True)
    subprocess.run(["chown", "-R", f"{FAR_USER}:{FAR_USER}", str(home / "t")], check=True)
    return Far(FAR_USER, home, root, [str(root / "venv" / "bin" / "dispatch")])


@dataclass
class Server:
    """A throwaway sshd on 127.0.0.1 (key-only, its own host key); D holds its files and the ssh_config."""

    d: Path
    port: int
    far: Far
    proc: subprocess.Popen[bytes] | None = field(default=None)

    def start(self) -> None:
        with open(self.d / "sshd.log", "a") as log:
            self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.d / "sshd_config")], stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.proc.poll() is None:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        _unavailable(f"sshd did not start: {(self.d / 'sshd.log').read_text().strip()}")

    def drop(self) -> None:
        """Our shared connection gone (its master told to exit), as when the network drops: every call on it ends."""
        subprocess.run(["ssh", "-F", str(self.d / "ssh_config"), "-o",
                        f"ControlPath=/tmp/dispatch-ssh-{os.getuid()}/%C", "-O", "exit", "box"],
                       capture_output=True, check=False)

    def stop(self) -> None:
        """The server and our shared connection to it gone, as when the host goes down."""
        self.drop()
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait()


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if not os.path.exists(SSHD) or shutil.which("ssh") is None or shutil.which("ssh-keygen") is None:
        _unavailable(f"{SSHD} or the ssh client is not installed")
    d = tmp_path_factory.mktemp("sshd")
    far = _far_side(tmp_path_factory)
    _keygen(d / "host_key")
    _keygen(d / "client_key")
    keys = far.root / "authorized_keys"
    keys.write_text((d / "client_key.pub").read_text())
    if far.other:  # sshd reads it as that user
        shutil.chown(keys, far.user, far.user)
    port = _free_port()
    (d / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nAuthorizedKeysFile {keys}\n"
        f"PidFile {d}/sshd.pid\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
    )
    host_key = (d / "host_key.pub").read_text().split()
    (d / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")
    (d / "ssh_config").write_text(
        f"Host box\n  HostName 127.0.0.1\n  Port {port}\n  User {far.user}\n  IdentityFile {d}/client_key\n"
        f"  IdentitiesOnly yes\n  UserKnownHostsFile {d}/known_hosts\n  StrictHostKeyChecking yes\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True) if os.geteuid() == 0 else None
    server = Server(d, port, far)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        if far.other:
            shutil.rmtree(far.root, ignore_errors=True)


@pytest.fixture(autouse=True)
def read_far_repositories(hermetic: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests read the runner's repositories as this user: git would refuse another user's as dubious."""
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "safe.directory")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "*")


def runner_config(sshd: Server, tmp_path: Path, *, delay: str = "0", host: str = "box", name: str = "box",
                  kind: str = "ssh", more: str = "", env: dict[str, str] | None = None) -> Path:
    """The user config naming runner NAME (`box`) on host `box`; its dispatch runs with a home of its own there
    (ENV: more of its environment)."""
    far = sshd.far.folder(tmp_path)
    remote_home = far / "home"
    remote_home.mkdir(exist_ok=True)
    env = {
        "HOME": str(remote_home), "XDG_CONFIG_HOME": str(remote_home / ".config"),
        "XDG_STATE_HOME": str(remote_home / ".state"), "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Ada Tester", "GIT_AUTHOR_EMAIL": "ada@example.com",
        "GIT_COMMITTER_NAME": "Ada Tester", "GIT_COMMITTER_EMAIL": "ada@example.com",
        "GIT_AUTHOR_DATE": PINNED_GIT_DATE, "GIT_COMMITTER_DATE": PINNED_GIT_DATE,
        "DISPATCH_SCRIPTED_DELAY": delay, **(env or {}),
    }
    if sshd.far.other:  # its home, and whatever a test wrote in it, are that user's
        subprocess.run(["chown", "-R", f"{sshd.far.user}:{sshd.far.user}", str(remote_home)], check=True)
    remote_dispatch = ["env", *(f"{k}={v}" for k, v in env.items()), *sshd.far.dispatch]
    path = Path(os.environ["XDG_CONFIG_HOME"]) / "dispatch" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f'[runners.{name}]\nkind = "{kind}"\nhost = "{host}"\npath = "{far / "remote"}"\n'
        f'ssh = ["ssh", "-F", "{sshd.d / "ssh_config"}"]\ndispatch = {json.dumps(remote_dispatch)}\n{more}'
    )
    return path


def remote_repo(sshd: Server, tmp_path: Path) -> Path:
    [path] = [p for p in (sshd.far.folder(tmp_path) / "remote").iterdir() if not p.name.endswith(".dispatch")]
    return path


def pwned(sshd: Server, tmp_path: Path) -> list[Path]:
    """Files a shell would have made of task text, anywhere either side could write them."""
    places = [*_found(tmp_path), *_found(sshd.far.folder(tmp_path)), *Path.home().glob("pwned*"),
              *sshd.far.home.glob("pwned*")]
    return [p for p in places if p.is_file()]


def _found(folder: Path) -> list[Path]:
    """`pwned*` under FOLDER, git dirs left out: a supervisor packing loose objects removes their folders as
    this walks (os.walk passes over a folder that went away; rglob fails on it)."""
    found = []
    for top, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if d != ".git"]
        found += [Path(top) / n for n in names if n.startswith("pwned")]
    return found


def status_of(repo: Path, task_id: str) -> dict[str, Any]:
    r = dispatch("status", task_id, "--json", cwd=repo)
    assert r.code == 0, r.err
    task: dict[str, Any] = json.loads(r.out)["tasks"][0]
    return task


def test_a_repository_config_may_not_define_runners(repo: Path) -> None:
    (repo / ".dispatch.toml").write_text('[runners.box]\nkind = "ssh"\nhost = "evil"\n')
    r = dispatch("status", cwd=repo)
    config = Path(os.environ["XDG_CONFIG_HOME"]) / "dispatch" / "config.toml"
    assert (r.code, r.out, r.err) == (1, "", (f"dispatch: {repo}/.dispatch.toml: key `runners` may be set only in "
                                              f"your user config ({config}): move the [runners.*] tables there\n"))


@pytest.mark.parametrize(("table", "error"), [
    ('kind = "pbs"\nhost = "h"\n', "key `runners.box.kind` must be one of ssh, slurm, not str 'pbs'"),
    ('kind = "ssh"\n', ("key `runners.box.host` is missing: runner `box` needs its kind (ssh or slurm) and, for ssh, "
                       "its host (an ssh destination)")),
    ('kind = "ssh"\nhost = "h"\nsbatch = ["-p", "cpu"]\n',
     'key `runners.box.sbatch` is for Slurm runners: remove it, or set runners.box.kind = "slurm"'),
    ('kind = "slurm"\nsbatch = "-p cpu"\n', "key `runners.box.sbatch` must be a list of strings, not str '-p cpu'"),
    ('kind = "ssh"\nhost = "h"\ndispatch = []\n', "key `runners.box.dispatch` is an empty command"),
    ('kind = "ssh"\nhost = "h"\nport = 22\n',
     "unknown key `runners.box.port`: `dispatch config example` prints every key dispatch reads"),
])
def test_a_bad_runner_table_is_refused_in_one_line(repo: Path, table: str, error: str) -> None:
    config = Path(os.environ["XDG_CONFIG_HOME"]) / "dispatch" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("[runners.box]\n" + table)
    r = dispatch("runners", cwd=repo)
    assert (r.code, r.out, r.err) == (1, "", f"dispatch: {config}: {error}\n")


def test_runners_without_any_says_how_to_add_one(tmp_path: Path) -> None:
    r = dispatch("runners", cwd=tmp_path)
    config = Path(os.environ["XDG_CONFIG_HOME"]) / "dispatch" / "config.toml"
    assert (r.code, r.out, r.err) == (
        0, f'no runners yet: add a [runners.NAME] table (kind = "ssh" or "slurm", host, path) to {config}\n', "")


def test_task_text_travels_as_a_json_request_never_on_the_ssh_command_line(repo: Path) -> None:
    from dispatch.worker import ssh

    runner = {"ssh": ["ssh"], "host": "box", "dispatch": ["/opt/my dispatch/bin/dispatch"]}
    title = "Greet $(touch pwned) `id`; it's"
    # The line the remote shell reads is the same whatever the task says: only the user's own config words.
    line = ssh._ssh_argv(runner, [*runner["dispatch"], "runner-call"])
    assert line[-3:] == ["--", "box", "'/opt/my dispatch/bin/dispatch' runner-call"]
    sent = ssh.request(["new", title, "--no-start", "--json"], cwd=str(repo), input="- [ ] a && b\n")
    # What the runner's end does with it: this checkout's dispatch, in a real process, without a shell;
    # its stdin stays open until it ends, as ssh keeps it (closed early, it stops the command).
    call = subprocess.Popen([sys.executable, "-m", "dispatch", "runner-call"], cwd=repo.parent, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert call.stdin is not None and call.stdout is not None and call.stderr is not None
    call.stdin.write(sent)
    call.stdin.flush()
    out, err = call.stdout.read(), call.stderr.read()
    assert (call.wait(), err) == (0, "")
    call.stdin.close()
    assert json.loads(out)["task"]["title"] == title
    assert [p for p in [*repo.parent.rglob("pwned*"), *Path.home().glob("pwned*")] if p.is_file()] == []
    bad = dispatch("runner-call", cwd=repo, input="new Greet", process=True)
    assert (bad.code, bad.out, bad.err) == (1, "", ("dispatch: runner-call reads one JSON request on stdin, as `dispatch` "
                                                    "sends it over ssh: it is not for use by hand\n"))
    assert [ssh.remote_path({"path": p}) for p in ("~/dispatch", "~", "/srv/runs", "runs")] == [
        "dispatch", ".", "/srv/runs", "runs"]


def test_an_unknown_runner_is_refused_before_anything_is_made(repo: Path, sshd: Server, tmp_path: Path) -> None:
    runner_config(sshd, tmp_path)
    before = git(repo, "for-each-ref")
    r = dispatch("new", "Greet", "--on", "nowhere", cwd=repo)
    config = Path(os.environ["XDG_CONFIG_HOME"]) / "dispatch" / "config.toml"
    assert (r.code, r.out, r.err) == (1, "", (f"dispatch: no runner `nowhere` (known: box): add a [runners.nowhere] "
                                              f"table to {config}\n"))
    assert git(repo, "for-each-ref") == before
    runner_config(sshd, tmp_path, host="nosuchhost.invalid")
    r = dispatch("new", "Greet", "--on", "box", cwd=repo)
    assert (r.code, r.out) == (1, "")
    assert r.err.startswith("dispatch: runner `box` is unreachable (ssh: Could not resolve hostname nosuchhost.invalid")
    assert r.err.endswith("): check that `ssh nosuchhost.invalid` logs in without a password prompt\n")
    assert git(repo, "for-each-ref") == before
    assert not (repo / ".git" / "dispatch" / "tasks").exists()
    config = runner_config(sshd, tmp_path)
    config.write_text(re.sub(r"dispatch = .*", 'dispatch = ["/nowhere/dispatch"]', config.read_text()))
    r = dispatch("new", "Greet", "--on", "box", cwd=repo)
    assert (r.code, r.out, r.err) == (1, "", ("dispatch: runner `box` could not create its repository: dispatch does not run "
                                             "there: install it (`pipx install git-dispatch`) or set "
                                             "runners.box.dispatch to its path\n"))
    assert git(repo, "for-each-ref") == before
    assert not (repo / ".git" / "dispatch" / "tasks").exists()


def test_the_config_names_where_new_tasks_run(repo: Path, sshd: Server, tmp_path: Path) -> None:
    config = runner_config(sshd, tmp_path)
    runners = config.read_text()
    config.write_text('runner = "box"\n' + runners)
    r = dispatch("new", "Greet", "--model", "scripted", "--no-start", cwd=repo)
    assert (r.code, r.err, r.out.splitlines()[0]) == (0, "", "created greet on box")
    r = dispatch("new", "Paint", "--model", "scripted", "--no-start", "--on", "local", cwd=repo)
    assert (r.code, r.err, r.out.splitlines()[0]) == (0, "", "created paint")
    refused = dispatch("new", "Fan", "--model", "scripted", "--model", "opus", "--no-start", cwd=repo)
    assert (refused.code, refused.out, refused.err) == (
        1, "", "dispatch: runner `box` (key `runner`) takes one model: give `--on local` to make the group here\n")
    # A model's own runner; other models' tasks stay here.
    config.write_text('[models.scripted]\nrunner = "box"\n' + runners)
    r = dispatch("new", "Wash", "--model", "scripted", "--no-start", cwd=repo)
    assert (r.code, r.err, r.out.splitlines()[0]) == (0, "", "created wash on box")
    r = dispatch("new", "Dry", "--model", "opus", "--no-start", cwd=repo)
    assert (r.code, r.err, r.out.splitlines()[0]) == (0, "", "created dry")
    rows = {t["id"]: t.get("runner") for t in json.loads(dispatch("status", "--json", cwd=repo).out)["tasks"]}
    assert rows == {"greet": "box", "paint": None, "wash": "box", "dry": None}
    config.write_text('runner = "box"\n[models.scripted]\nrunner = "box"\n' + runners)
    listed = dispatch("runners", cwd=repo)
    assert (listed.code, listed.err, listed.out.splitlines()[2:]) == (0, "", [
        f"new tasks run on `box` without --on (`runner` in {config}); `--on local` keeps one here",
        "tasks on model scripted run on `box` without --on"])
    data = json.loads(dispatch("runners", "--json", cwd=repo).out)
    assert (data["default"], data["models"]) == ("box", {"scripted": "box"})
    # A runner no table defines: one line, nothing made.
    config.write_text('runner = "nowhere"\n' + runners)
    before = git(repo, "for-each-ref")
    r = dispatch("new", "Mop", "--model", "scripted", "--no-start", cwd=repo)
    assert (r.code, r.out, r.err) == (1, "", (f"dispatch: {config}: key `runner` names runner `nowhere`, which is not "
                                              f"defined: add a [runners.nowhere] table to {config}, or give `--on local`\n"))
    assert git(repo, "for-each-ref") == before


def test_a_repository_config_may_name_a_runner_and_none_is_called_local(repo: Path, sshd: Server, tmp_path: Path) -> None:
    config = runner_config(sshd, tmp_path)
    (repo / ".dispatch.toml").write_text('runner = "box"\n')  # naming one needs no trust: defining one does
    r = dispatch("new", "Greet", "--model", "scripted", "--no-start", cwd=repo)
    assert (r.code, r.err, r.out.splitlines()[0]) == (0, "", "created greet on box")
    (repo / ".dispatch.toml").unlink()
    config.write_text(config.read_text().replace("[runners.box]", "[runners.local]"))
    r = dispatch("status", cwd=repo)
    assert (r.code, r.out, r.err) == (1, "", (f"dispatch: {config}: runner `local` means this machine (`--on local`): "
                                              "give that runner another name\n"))


def test_runners_lists_and_checks_each(repo: Path, sshd: Server, tmp_path: Path) -> None:
    runner_config(sshd, tmp_path)
    from dispatch import __version__

    git_version = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.split()[2]
    r = dispatch("runners", cwd=repo)
    assert (r.code, r.err) == (0, "")
    assert r.out == ("RUNNER  KIND  HOST  REACHABLE  GIT" + " " * (len(git_version) - 3) + "  DISPATCH\n"
                     f"box     ssh   box   yes        {git_version}  {__version__}\n")
    data = json.loads(dispatch("runners", "--json", cwd=repo).out)
    assert data == {"version": 1, "runners": [{
        "name": "box", "kind": "ssh", "host": "box", "path": str(sshd.far.folder(tmp_path) / "remote"), "reachable": True,
        "git": git_version, "dispatch": __version__, "slurm": None, "problem": None,
    }], "default": None, "models": {}}


def test_an_unreachable_runner_says_so_and_how_to_fix_it(repo: Path, sshd: Server, tmp_path: Path) -> None:
    runner_config(sshd, tmp_path, host="nosuchhost.invalid")
    r = dispatch("runners", "--json", cwd=repo)
    [row] = json.loads(r.out)["runners"]
    assert (row["reachable"], row["git"], row["dispatch"]) == (False, None, None)
    assert row["problem"].startswith("unreachable (ssh: Could not resolve hostname nosuchhost.invalid")
    assert row["problem"].endswith("): check that `ssh nosuchhost.invalid` logs in without a password prompt")


def test_a_host_key_that_does_not_match_is_refused_never_bypassed(repo: Path, sshd: Server, tmp_path: Path) -> None:
    runner_config(sshd, tmp_path)
    wrong = tmp_path / "other_host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(wrong)], check=True)
    kind, key = (wrong.with_suffix(".pub")).read_text().split()[:2]
    known = sshd.d / "known_hosts"
    saved = known.read_text()
    known.write_text(f"[127.0.0.1]:{sshd.port} {kind} {key}\n")
    sshd.drop()  # no shared connection made with the right key may stand in
    try:
        [row] = json.loads(dispatch("runners", "--json", cwd=repo).out)["runners"]
        assert (row["reachable"], row["problem"]) == (False, (
            "unreachable (Host key verification failed.): check that `ssh box` logs in without a password prompt"))
        r = dispatch("new", "Greet", "--no-start", "--on", "box", cwd=repo)
        assert (r.code, r.out, r.err) == (1, "", ("dispatch: runner `box` is unreachable (Host key verification failed.): "
                                                  "check that `ssh box` logs in without a password prompt\n"))
    finally:
        known.write_text(saved)


def test_a_task_runs_on_the_runner_and_its_branch_comes_back(repo: Path, sshd: Server, tmp_path: Path) -> None:
    runner_config(sshd, tmp_path)
    # Task text with shell syntax in it: it travels as quoted words and as stdin, never as shell.
    title = "Greet $(touch pwned) `id`; echo 'hi'"
    r = dispatch("new", title, "--id", "greet", "--model", "scripted", "--item", "Write `hello.txt`",
                 "--item", "Write `bye.txt` && touch pwned2", "--on", "box", cwd=repo)
    assert (r.code, r.err) == (0, "")
    far = remote_repo(sshd, tmp_path)
    base = git(repo, "rev-parse", "main")
    assert r.out == (f"created greet on box\n"
                     f"  branch    dispatch/greet (from main at {base[:7]}), fetched here\n"
                     f"  worktree  box:{far.parent / (far.name + '.dispatch')}/greet\n"
                     "  worker    scripted on scripted there: `dispatch logs greet -f` follows it\n")
    assert pwned(sshd, tmp_path) == []
    wait_for(lambda: status_of(repo, "greet")["state"] == "done", message="greet to be done on box")
    task = status_of(repo, "greet")
    assert (task["runner"], task["worktree"], task["plan"]) == (
        "box", f"box:{far.parent / (far.name + '.dispatch')}/greet", {"done": 2, "total": 2, "blocked": 0, "failed": 0})
    # The local branch followed the runner's by fast-forward: the worker's commits are here.
    assert git(repo, "log", "--format=%s", "main..dispatch/greet") == (
        "Write `bye.txt` && touch pwned2\nWrite `hello.txt`\ndispatch: plan greet")
    assert git(repo, "rev-parse", "dispatch/greet") == git(far, "rev-parse", "dispatch/greet")
    assert git(repo, "show", "dispatch/greet:.dispatch/PLAN.md").splitlines()[3] == f"title: {title}"
    table = dispatch("status", cwd=repo)
    usage = usage_cell(task["seconds"], None)
    assert (table.code, table.err) == (0, "")
    assert table.out == (
        "ID     STATE  PLAN  Q  COMMITS  DIRTY  LAST  USAGE  RUNNER  TITLE                                 WORKTREE\n"
        f"greet  done   2/2   -  ↑3 ↓0    -      1h    {usage:<5}  box     {title}  "
        f"box:{far.parent / (far.name + '.dispatch')}/greet\n"
        "needs you: 1 to review (greet)\n"
    )
    # Its worktree is on the runner: nothing here for doctor to repair (nor a worktree to make).
    doctor = dispatch("doctor", cwd=repo)
    assert (doctor.code, doctor.out, doctor.err) == (0, "nothing to repair\n" + sandbox_line(), "")
    logs = dispatch("logs", "greet", "-n", "1", cwd=repo)
    assert (logs.code, logs.out.split("] ", 1)[1], logs.err) == (0, "worker exited with code 0\n", "")
    # -f streams from there (ssh's own output here: a real process), and ends with the run.
    follow = dispatch("logs", "greet", "-f", cwd=repo, process=True)
    assert (follow.code, follow.err, follow.out.splitlines()[-1].split("] ", 1)[1]) == (0, "", "worker exited with code 0")
    # merge works from local objects; the task is then discarded on the runner too.
    m = dispatch("merge", "greet", "--yes", cwd=repo)
    assert (m.code, m.err) == (0, "")
    assert m.out.splitlines()[-1] == ("  on box too: discarded there, its trash entry kept here as "
                                      "refs/dispatch/runners/box/trash/greet")
    assert (repo / "hello.txt").read_text() == "Write `hello.txt`\n"
    assert git(far, "branch", "--list", "dispatch/*") == ""
    assert dispatch("status", cwd=repo).out == 'no tasks yet: `dispatch new "what to do"` creates one\n'


def test_stop_reaches_the_worker_on_the_runner(repo: Path, sshd: Server, tmp_path: Path) -> None:
    runner_config(sshd, tmp_path, delay="30")
    r = dispatch("new", "Slow", "--model", "scripted", "--item", "Write `a.txt`", "--on", "box", cwd=repo)
    assert r.code == 0, r.err
    wait_for(lambda: status_of(repo, "slow")["state"] == "running", message="slow to run on box")
    before = git(repo, "rev-parse", "main")
    m = dispatch("merge", "slow", "--yes", cwd=repo)
    assert (m.code, m.out, m.err) == (1, "", ("dispatch: the worker of slow is at work on `box`: wait for it, or "
                                             "`dispatch stop slow`, then land it\n"))
    assert git(repo, "rev-parse", "main") == before
    s = dispatch("stop", "slow", cwd=repo)
    assert (s.code, s.err) == (0, "")
    assert s.out.splitlines()[0].startswith("stopped the worker of slow")
    assert status_of(repo, "slow")["state"] == "stopped"
    again = dispatch("resume", "slow", cwd=repo)
    assert (again.code, again.out, again.err) == (
        0, "resumed slow: run 2, scripted on scripted\n  `dispatch logs slow -f` follows it\n", "")
    assert status_of(repo, "slow")["worker"]["run"] == 2
    assert dispatch("stop", "slow", cwd=repo).code == 0


def test_a_runner_that_does_not_answer_shows_unreachable(repo: Path, sshd: Server, tmp_path: Path) -> None:
    config = runner_config(sshd, tmp_path)
    r = dispatch("new", "Greet", "--model", "scripted", "--item", "Write `a.txt`", "--on", "box", cwd=repo)
    assert r.code == 0, r.err
    wait_for(lambda: status_of(repo, "greet")["state"] == "done", message="greet to be done on box")
    # status --watch draws the same rows (each frame fetches): not `broken` for want of a worktree here.
    from dispatch import config as config_mod
    from dispatch.repo import open_repo
    from dispatch.task.watch import frame
    from dispatch.worker.places import listing

    drawn = frame(open_repo(repo), config_mod.load(repo), [], listing=listing).plain.splitlines()
    assert drawn[2:] == [
        "ID     STATE  PLAN  Q  COMMITS  DIRTY  LAST  USAGE  RUNNER  TITLE  WORKTREE",
        (f"greet  done   1/1   -  ↑2 ↓0    -      1h    {usage_cell(status_of(repo, 'greet')['seconds'], None):<5}  box     "
         f"Greet  box:{remote_repo(sshd, tmp_path).parent / (remote_repo(sshd, tmp_path).name + '.dispatch')}/greet"),
        "needs you: 1 to review (greet)",
    ]
    config.write_text(config.read_text().replace('host = "box"', 'host = "nosuchhost.invalid"'))
    task = status_of(repo, "greet")
    assert (task["state"], task["last_state"], task["runner"]) == ("unreachable", "done", "box")
    table = dispatch("status", cwd=repo)
    assert (table.code, table.err) == (0, "")
    assert table.out == (
        "ID     STATE        PLAN  Q  COMMITS  DIRTY  LAST  USAGE  RUNNER  TITLE  WORKTREE\n"
        "greet  unreachable  1/1   -  ↑2 ↓0    -      1h    -      box     Greet  -\n"
        "greet is on box, which does not answer: its last known state was done; the worker goes on there, "
        "the next command catches up\n"
        "needs you: 1 unreachable (greet)\n"
    )


def test_questions_notes_show_and_discard_of_a_task_on_a_runner(repo: Path, sshd: Server, tmp_path: Path) -> None:
    runner_config(sshd, tmp_path)
    r = dispatch("new", "Paint", "--model", "scripted", "--item", "Write `color.txt` (ask: Which color?)",
                 "--on", "box", cwd=repo)
    assert r.code == 0, r.err
    # `wait` on a task of the runner waits there, and wakes here with its question.
    w = dispatch("wait", "paint", "--timeout", "60", cwd=repo)
    assert (w.code, w.out, w.err) == (0, 'paint asks Q1: Which color?\n  → dispatch answer paint "..."\n', "")
    assert status_of(repo, "paint")["state"] == "asking"
    assert status_of(repo, "paint")["question"] == "Which color?"
    # The answer travels as stdin, never as shell: this text would run a command if it were.
    a = dispatch("answer", "paint", "Blue; touch pwned $(touch pwned3)", cwd=repo)
    assert (a.code, a.out, a.err) == (0, "answered Q1 of paint: the waiting worker continues with it\n", "")
    w = dispatch("wait", "paint", "--timeout", "60", cwd=repo)
    assert (w.code, w.out, w.err) == (0, "paint finished: every item is done\n  → dispatch review paint\n", "")
    wait_for(lambda: status_of(repo, "paint")["state"] == "done", message="paint to be done on box")
    assert git(repo, "show", "dispatch/paint:color.txt") == "Write `color.txt`\n\nAnswer: Blue; touch pwned $(touch pwned3)"
    assert pwned(sshd, tmp_path) == []
    s = dispatch("show", "paint", cwd=repo)
    far = remote_repo(sshd, tmp_path)
    assert (s.code, s.err) == (0, "")
    shown = re.sub(r"(created   |usage     )\S+", r"\1<varies>", s.out.replace(str(far.parent), "<far>"))
    assert shown.split("\nWorker\n")[0] == textwrap.dedent(f"""\
        paint — Paint
          state     done
          branch    dispatch/paint (base main: 4 commits ahead, 0 behind)
          worktree  box:<far>/{far.name}.dispatch/paint
          model     scripted
          created   <varies>
          dirty     no
          usage     <varies>

        Checklist (1/1 done)
          [x] Write `color.txt` (ask: Which color?) — wrote color.txt

        Questions
          Q1 (answered) Which color?
             → Blue; touch pwned $(touch pwned3)

        Commits
          {git(repo, "rev-parse", "--short", "dispatch/paint")}  Write `color.txt`  (1h ago)
          {git(repo, "rev-parse", "--short", "dispatch/paint~")}  dispatch: answer Q1  (1h ago)
          {git(repo, "rev-parse", "--short", "dispatch/paint~2")}  dispatch: ask Q1  (1h ago)
          {git(repo, "rev-parse", "--short", "dispatch/paint~3")}  dispatch: plan paint  (1h ago)

        Files changed
          A  color.txt
        """)
    n = dispatch("note", "paint", "Use `blue` & keep it", cwd=repo)
    assert (n.code, n.out, n.err) == (
        0, (f"noted in {far.parent / (far.name + '.dispatch')}/paint/.dispatch/NOTES.md: no worker runs, so nobody reads it "
        "until one does (`dispatch resume paint` starts one); it never blocks landing\n"), "")
    d = dispatch("discard", "paint", "--yes", cwd=repo)
    assert (d.code, d.err) == (0, "")
    assert d.out == (f"discarded paint: saved as refs/dispatch/trash/paint "
                     f"({git(repo, 'rev-parse', '--short', 'refs/dispatch/trash/paint')})\n"
                     "  on its runner too: that trash entry, uncommitted work there included, "
                     "is kept as refs/dispatch/runners/box/trash/paint\n"
                     "  `dispatch restore paint` brings it back\n")
    assert git(far, "branch", "--list", "dispatch/paint") == ""
    # The note was uncommitted there: the trash entry fetched here holds it.
    assert "Use `blue` & keep it" in git(repo, "show", "refs/dispatch/runners/box/trash/paint:.dispatch/NOTES.md")
    assert dispatch("status", cwd=repo).out == 'no tasks yet: `dispatch new "what to do"` creates one\n'
    # restore brings it back here, as a local task with its worktree, the worker's commits in it.
    back = dispatch("restore", "paint", cwd=repo)
    assert back.code == 0, back.err
    task = status_of(repo, "paint")
    assert (task["state"], task.get("runner"), task["worktree"]) == ("done", None, str(repo.parent / "app.dispatch" / "paint"))
    assert (repo.parent / "app.dispatch" / "paint" / "color.txt").read_text().startswith("Write `color.txt`")


def greet_done_on_box(repo: Path, sshd: Server, tmp_path: Path) -> None:
    """Task `greet` made on runner `box`, its scripted worker done (it wrote `a.txt`)."""
    runner_config(sshd, tmp_path)
    r = dispatch("new", "Greet", "--model", "scripted", "--item", "Write `a.txt`", "--on", "box", cwd=repo)
    assert r.code == 0, r.err
    wait_for(lambda: status_of(repo, "greet")["state"] == "done", message="greet to be done on box")


def test_the_local_branch_follows_by_fast_forward_only(repo: Path, sshd: Server, tmp_path: Path) -> None:
    greet_done_on_box(repo, sshd, tmp_path)
    review = dispatch("review", "greet", "--files", cwd=repo)
    assert (review.code, review.out, review.err) == (0, "a.txt\n", "")
    far = remote_repo(sshd, tmp_path)
    # A commit made here on the task's branch, which the runner's branch lacks: never dropped.
    tip = git(repo, "rev-parse", "dispatch/greet")
    mine = git(repo, "commit-tree", f"{tip}^{{tree}}", "-p", tip, "-m", "mine")
    git(repo, "update-ref", "refs/heads/dispatch/greet", mine, tip)
    wt = far.parent / f"{far.name}.dispatch" / "greet"
    sshd.far.git(wt, "commit", "-q", "--allow-empty", "-m", "theirs")
    theirs = sshd.far.git(wt, "rev-parse", "HEAD")
    rebase = dispatch("rebase", "greet", cwd=repo)
    assert (rebase.code, rebase.out, rebase.err) == (1, "", (
        "dispatch: greet: its branch here has commits the one on `box` has not: left as it is (`git log "
        "refs/dispatch/runners/box/greet..dispatch/greet` shows them); rebase refused, nothing changed\n"))
    assert (git(repo, "rev-parse", "dispatch/greet"), sshd.far.git(wt, "rev-parse", "HEAD")) == (mine, theirs)
    s = dispatch("status", "greet", cwd=repo)
    assert (s.code, s.err) == (0, "")
    assert s.out.splitlines()[-2:] == [
        ("greet: its branch here has commits the one on `box` has not: left as it is "
         "(`git log refs/dispatch/runners/box/greet..dispatch/greet` shows them)"),
        "needs you: 1 to review (greet)"]
    assert git(repo, "log", "--format=%s", "refs/dispatch/runners/box/greet..dispatch/greet") == "mine"
    assert git(repo, "rev-parse", "dispatch/greet") == mine
    git(repo, "update-ref", "refs/heads/dispatch/greet", tip, mine)  # back behind: it follows again
    s = dispatch("status", "greet", cwd=repo)
    assert (s.code, s.err, s.out.splitlines()[-1]) == (0, "", "needs you: 1 to review (greet)")
    assert git(repo, "log", "-1", "--format=%s", "dispatch/greet") == "theirs"


def test_rebase_runs_on_the_runner_onto_the_base_as_it_is_here(repo: Path, sshd: Server, tmp_path: Path) -> None:
    greet_done_on_box(repo, sshd, tmp_path)
    far = remote_repo(sshd, tmp_path)
    (repo / "b.txt").write_text("b\n")  # main moves on here, and only here
    git(repo, "add", "b.txt")
    git(repo, "commit", "-qm", "b, here")
    main = git(repo, "rev-parse", "main")
    assert status_of(repo, "greet")["behind"] == 1
    old = git(repo, "rev-parse", "dispatch/greet")
    rebase = dispatch("rebase", "greet", cwd=repo)
    new = git(repo, "rev-parse", "dispatch/greet")
    assert (rebase.code, rebase.out, rebase.err) == (0, f"rebased greet onto main: {old[:7]} -> {new[:7]}\n", "")
    # Rebased in its worktree there, onto this side's main; taken here although no fast-forward, the old tip kept.
    assert git(repo, "log", "-3", "--format=%s", "dispatch/greet") == "Write `a.txt`\ndispatch: plan greet\nb, here"
    assert git(repo, "merge-base", "main", "dispatch/greet") == main
    assert git(far, "rev-parse", "dispatch/greet") == new
    assert git(repo, "rev-parse", "dispatch/greet@{1}") == old
    wt = far.parent / f"{far.name}.dispatch" / "greet"
    assert (sshd.far.git(wt, "rev-parse", "HEAD"), sshd.far.git(wt, "status", "--porcelain")) == (new, "")
    task = status_of(repo, "greet")
    assert (task["state"], task["ahead"], task["behind"]) == ("done", 2, 0)
    again = dispatch("rebase", "greet", cwd=repo)
    assert (again.code, again.out, again.err) == (0, "greet is already on top of main: nothing to do\n", "")
    # Onto another commit of this side's: it travels to the runner under a ref of its own.
    side = git(repo, "commit-tree", f"{main}^{{tree}}", "-p", main, "-m", "side")
    onto = dispatch("rebase", "greet", "--onto", side, cwd=repo)
    newer = git(repo, "rev-parse", "dispatch/greet")
    assert (onto.code, onto.out, onto.err) == (0, f"rebased greet onto {side}: {new[:7]} -> {newer[:7]}\n", "")
    assert git(repo, "rev-parse", "dispatch/greet~2") == side
    assert git(far, "rev-parse", f"refs/dispatch/bases/{side}") == side


def test_a_host_that_goes_down_loses_nothing_and_is_caught_up_with(repo: Path, sshd: Server, tmp_path: Path) -> None:
    runner_config(sshd, tmp_path, delay="1")
    r = dispatch("new", "Greet", "--model", "scripted", "--item", "Write `a.txt`", "--item", "Write `b.txt`",
                 "--item", "Write `c.txt`", "--on", "box", cwd=repo)
    assert r.code == 0, r.err
    wait_for(lambda: status_of(repo, "greet")["state"] == "running", message="greet to run on box")
    sshd.stop()
    try:
        task = status_of(repo, "greet")
        assert (task["state"], task["last_state"]) == ("unreachable", "running")
        # The worker goes on over there, under its own supervisor.
        far = remote_repo(sshd, tmp_path)
        wait_for(lambda: git(far, "log", "-1", "--format=%s", "dispatch/greet") == "Write `c.txt`", timeout=60,
                 message="the worker on box to finish while its sshd is down")
    finally:
        sshd.start()
    wait_for(lambda: status_of(repo, "greet")["state"] == "done", message="greet caught up as done")
    assert git(repo, "log", "--format=%s", "main..dispatch/greet") == (
        "Write `c.txt`\nWrite `b.txt`\nWrite `a.txt`\ndispatch: plan greet")


def test_the_id_is_chosen_here_so_a_local_task_is_never_touched(repo: Path, sshd: Server, tmp_path: Path) -> None:
    runner_config(sshd, tmp_path)
    assert dispatch("new", "Greet", "--no-start", "--item", "Write `a.txt`", cwd=repo).code == 0
    mine = git(repo, "rev-parse", "dispatch/greet")
    r = dispatch("new", "Greet", "--no-start", "--item", "Write `a.txt`", "--on", "box", cwd=repo)
    assert (r.code, r.err) == (0, "")
    assert r.out.splitlines()[0] == "created greet-2 on box"
    assert git(repo, "rev-parse", "dispatch/greet") == mine
    taken = dispatch("new", "Greet", "--id", "greet", "--on", "box", cwd=repo)
    assert (taken.code, taken.out, taken.err) == (
        1, "", ("dispatch: task id `greet` is already a live task: choose another `--id`, or move the old one to the trash "
        "first with `dispatch discard greet`\n"))
    assert [t["id"] for t in json.loads(dispatch("status", "--json", cwd=repo).out)["tasks"]] == ["greet", "greet-2"]


def far_calls(sshd: Server) -> list[str]:
    """The `dispatch runner-call` processes on the runner: each runs one command sent over ssh."""
    return subprocess.run(["pgrep", "-u", sshd.far.user, "-f", "dispatch runner-call"],
                          capture_output=True, text=True, check=False).stdout.split()


def test_the_connection_dropped_mid_wait_says_so_and_loses_no_news(repo: Path, sshd: Server, tmp_path: Path) -> None:
    runner_config(sshd, tmp_path, delay="3")
    r = dispatch("new", "Paint", "--model", "scripted", "--item", "Write `color.txt` (ask: Which color?)",
                 "--on", "box", cwd=repo)
    assert r.code == 0, r.err
    waiting = subprocess.Popen([sys.executable, "-m", "dispatch", "wait", "paint", "--timeout", "60"], cwd=repo,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: far_calls(sshd), message="the wait to run on box")
    sshd.drop()
    # Its end there went with the connection, before the question came: the wait, trying again, hears it.
    out, err = waiting.communicate(timeout=30)
    assert (waiting.returncode, out) == (0, 'paint asks Q1: Which color?\n  → dispatch answer paint "..."\n')
    assert err.startswith("dispatch: runner `box` is unreachable (") and err.count("\n") == 1
    assert err.endswith("; trying again until it answers\n")
    # Told once: the next wait has nothing new.
    w = dispatch("wait", "paint", "--timeout", "1", cwd=repo)
    assert (w.code, w.out, w.err) == (124, "", "dispatch: nothing new within 1s: run `dispatch wait` again to keep waiting\n")


def asks(task_id: str, question: str) -> str:
    return f'{task_id} asks Q1: {question}\n  → dispatch answer {task_id} "..."\n'


def test_wait_hears_every_task_here_and_on_the_runner(repo: Path, sshd: Server, tmp_path: Path) -> None:
    """`dispatch wait` with no ids waits here and on the runner side by side: the first news ends it."""
    runner_config(sshd, tmp_path)
    near = dispatch("new", "Near", "--model", "scripted", "--item", "Write `a.txt` (hang)", cwd=repo, env=FAST)
    assert near.code == 0, near.err
    far = dispatch("new", "Far", "--model", "scripted", "--item", "Write `color.txt` (ask: Which color?)", "--on", "box",
                   cwd=repo)
    assert far.code == 0, far.err
    w = dispatch("wait", "--timeout", "60", cwd=repo)
    assert (w.code, w.out, w.err) == (0, asks("far", "Which color?"), "")
    # Its branch followed: the question's commit is here.
    assert git(repo, "log", "-1", "--format=%s", "dispatch/far") == "dispatch: ask Q1"
    a = dispatch("answer", "far", "Blue", cwd=repo)
    assert (a.code, a.err) == (0, "")
    # Told once: the runner's wait moved its cursor past the question it printed.
    w = dispatch("wait", "--timeout", "60", cwd=repo)
    assert (w.code, w.out, w.err) == (0, "far finished: every item is done\n  → dispatch review far\n", "")
    s = dispatch("stop", "near", cwd=repo)
    assert (s.code, s.err) == (0, "")
    w = dispatch("wait", "--json", "--timeout", "60", cwd=repo)
    assert (w.code, w.err) == (0, "")
    assert json.loads(w.out) == {"version": 1, "items": [
        {"key": f"x:near:1:{PINNED_NOW}", "kind": "stopped", "task": "near", "text": "was stopped",
         "command": "dispatch resume near", "code": -15}]}
    w = dispatch("wait", "--timeout", "60", cwd=repo)
    assert (w.code, w.out, w.err) == (69, "", ("dispatch: nothing to wait for: no worker runs or is queued and no "
                                               "question is open; `dispatch status` says what needs you\n"))


def test_wait_on_tasks_here_and_there_ends_with_the_first_news_and_hangs_up_the_rest(
    repo: Path, sshd: Server, tmp_path: Path
) -> None:
    runner_config(sshd, tmp_path)
    far = dispatch("new", "Far", "--model", "scripted", "--item", "Write `a.txt` (hang)", "--on", "box", cwd=repo)
    assert far.code == 0, far.err
    near = dispatch("new", "Near", "--model", "scripted", "--item", "Write `size.txt` (ask: Which size?)", cwd=repo,
                    env=FAST)
    assert near.code == 0, near.err
    w = dispatch("wait", "near", "far", "--timeout", "60", cwd=repo)
    assert (w.code, w.out, w.err) == (0, asks("near", "Which size?"), "")
    # The runner's share was hung up on: its command there ended with its connection, having told nothing.
    wait_for(lambda: not far_calls(sshd), message="the wait on box to end when hung up on")
    s = dispatch("stop", "far", cwd=repo)
    assert (s.code, s.err) == (0, "")
    w = dispatch("wait", "far", "near", "--timeout", "60", cwd=repo)
    assert (w.code, w.out, w.err) == (0, "far was stopped\n  → dispatch resume far\n", "")
    assert dispatch("stop", "near", cwd=repo).code == 0


TRYING = "trying again until it answers"
TRYING_TOO = f"waiting on the other tasks and {TRYING}"


def refused(sshd: Server) -> str:
    """What `wait` says of runner `box` while its sshd is stopped."""
    return (f"dispatch: runner `box` is unreachable (ssh: connect to host 127.0.0.1 port {sshd.port}: Connection "
            "refused): check that `ssh box` logs in without a password prompt")


def waiting_past_the_runner(repo: Path, tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    """`dispatch wait ARGS` started, once it said on its stderr (wait.err) that the runner is down: still waiting."""
    with open(tmp_path / "wait.err", "w") as err:
        waiting = subprocess.Popen([sys.executable, "-m", "dispatch", "wait", *args], cwd=repo,
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, text=True)
    wait_for(lambda: (tmp_path / "wait.err").read_text().endswith("\n"), message="the wait to say box is down")
    assert waiting.poll() is None
    return waiting


def test_a_runner_that_does_not_answer_leaves_the_wait_on_the_local_tasks(repo: Path, sshd: Server, tmp_path: Path) -> None:
    runner_config(sshd, tmp_path)
    far = dispatch("new", "Far", "--model", "scripted", "--item", "Write `a.txt` (hang)", "--on", "box", cwd=repo)
    assert far.code == 0, far.err
    near = dispatch("new", "Near", "--model", "scripted", "--item", "Write `b.txt` (hang)", cwd=repo, env=FAST)
    assert near.code == 0, near.err
    unreachable = refused(sshd)
    sshd.stop()
    try:
        waiting = waiting_past_the_runner(repo, tmp_path, "--timeout", "60")  # on the local task
        s = dispatch("stop", "near", cwd=repo)
        assert (s.code, s.err) == (0, "")
        out, _ = waiting.communicate(timeout=30)
        assert (waiting.returncode, out) == (0, "near was stopped\n  → dispatch resume near\n")
        assert (tmp_path / "wait.err").read_text() == f"{unreachable}; {TRYING_TOO}\n"
        # Nothing left here, and the runner still down: tried again until the time is up, never "nothing to wait for".
        w = dispatch("wait", "--timeout", "3", cwd=repo)
        assert (w.code, w.out, w.err) == (124, "", (f"{unreachable}; {TRYING_TOO}\n"
                                                    "dispatch: nothing new within 3s: run `dispatch wait` again to keep "
                                                    "waiting\n"))
    finally:
        sshd.start()
    assert dispatch("stop", "far", cwd=repo).code == 0


def counted_ssh(config: Path, tmp_path: Path) -> Path:
    """The runner's ssh made a script that notes each call in the file it returns, then runs ssh."""
    calls = tmp_path / "ssh-calls"
    script = tmp_path / "ssh"
    script.write_text(f'#!/bin/sh\necho call >> "{calls}"\nexec ssh "$@"\n')
    script.chmod(0o755)
    config.write_text(config.read_text().replace('ssh = ["ssh",', f'ssh = ["{script}",', 1))
    return calls


def test_a_wait_on_a_runner_that_is_down_tries_again_and_hears_it_once_it_is_back(
    repo: Path, sshd: Server, tmp_path: Path
) -> None:
    runner_config(sshd, tmp_path, delay="2")
    r = dispatch("new", "Far", "--model", "scripted", "--item", "Write `color.txt` (ask: Which color?)", "--on", "box",
                 cwd=repo)
    assert r.code == 0, r.err
    sshd.stop()
    try:
        waiting = waiting_past_the_runner(repo, tmp_path, "far", "--timeout", "60")  # on the runner it tries again
    finally:
        sshd.start()
    out, _ = waiting.communicate(timeout=60)
    assert (waiting.returncode, out) == (0, asks("far", "Which color?"))
    assert (tmp_path / "wait.err").read_text() == f"{refused(sshd)}; {TRYING}\n"
    # Its news came as any runner's does: the branch followed, the question's commit is here.
    assert git(repo, "log", "-1", "--format=%s", "dispatch/far") == "dispatch: ask Q1"
    assert dispatch("stop", "far", cwd=repo).code == 0


def test_a_wait_on_a_runner_that_stays_down_ends_at_its_timeout(repo: Path, sshd: Server, tmp_path: Path) -> None:
    config = runner_config(sshd, tmp_path)
    r = dispatch("new", "Far", "--model", "scripted", "--item", "Write `a.txt` (hang)", "--on", "box", cwd=repo)
    assert r.code == 0, r.err
    calls = counted_ssh(config, tmp_path)
    sshd.stop()
    try:
        w = dispatch("wait", "far", "--timeout", "3", cwd=repo)
    finally:
        sshd.start()
    assert (w.code, w.out, w.err) == (124, "", (f"{refused(sshd)}; {TRYING}\n"
                                                "dispatch: nothing new within 3s: run `dispatch wait` again to keep "
                                                "waiting\n"))
    # Tried at once and again after the first back-off (2 s); the next would come after the timeout: no busy loop.
    assert calls.read_text() == "call\ncall\n"
    assert dispatch("stop", "far", cwd=repo).code == 0


def test_news_a_runner_printed_before_it_died_is_told_and_told_again(repo: Path, sshd: Server, tmp_path: Path) -> None:
    """The runner's `wait` moves its cursor only after printing: killed in between, its news is kept here and there."""
    runner_config(sshd, tmp_path, env={"DISPATCH_FAULT": "wait:told"})
    r = dispatch("new", "Far", "--model", "scripted", "--item", "Write `color.txt` (ask: Which color?)", "--on", "box",
                 cwd=repo)
    assert r.code == 0, r.err
    for _ in range(2):
        w = dispatch("wait", "far", "--timeout", "60", cwd=repo)
        assert (w.code, w.out, w.err) == (0, asks("far", "Which color?"), "")
    runner_config(sshd, tmp_path)
    w = dispatch("wait", "far", "--timeout", "60", cwd=repo)
    assert (w.code, w.out, w.err) == (0, asks("far", "Which color?"), "")
    w = dispatch("wait", "far", "--timeout", "1", cwd=repo)
    assert (w.code, w.out, w.err) == (124, "", "dispatch: nothing new within 1s: run `dispatch wait` again to keep waiting\n")
    assert dispatch("stop", "far", cwd=repo).code == 0


def test_a_merge_killed_between_landing_here_and_discarding_there_loses_nothing(
    repo: Path, sshd: Server, tmp_path: Path
) -> None:
    config = runner_config(sshd, tmp_path)
    r = dispatch("new", "Greet", "--model", "scripted", "--item", "Write `a.txt`", "--on", "box", cwd=repo)
    assert r.code == 0, r.err
    wait_for(lambda: status_of(repo, "greet")["state"] == "done", message="greet to be done on box")
    main = git(repo, "rev-parse", "main")
    # The connection gone before it starts: merge refuses, nothing moves.
    sshd.stop()
    try:
        m = dispatch("merge", "greet", "--yes", cwd=repo)
        assert (m.code, m.out, m.err) == (1, "", ("dispatch: runner `box` of greet is unreachable: land it once it "
                                                  "answers, so that no work of its worker is left behind\n"))
        assert git(repo, "rev-parse", "main") == main
    finally:
        sshd.start()
    # Killed (its ssh with it) once landed here, before the runner heard of it.
    m = dispatch("merge", "greet", "--yes", cwd=repo, env={"DISPATCH_FAULT": "merge:runner"})
    assert m.code == -9
    assert (repo / "a.txt").read_text() == "Write `a.txt`\n"
    far = remote_repo(sshd, tmp_path)
    assert git(far, "branch", "--list", "dispatch/greet") == "+ dispatch/greet"
    # A command that still reaches it there fetches, and never makes its branch here again.
    logs = dispatch("logs", "greet", "-n", "1", cwd=repo)
    assert (logs.code, logs.out.split("] ", 1)[1], logs.err) == (0, "worker exited with code 0\n", "")
    assert git(repo, "branch", "--list", "dispatch/*") == ""
    d = dispatch("doctor", cwd=repo)
    assert (d.code, d.out, d.err) == (1, ("problem  greet: landed or discarded here, it is still on runner `box`: "
                                          "`dispatch doctor --fix` will discard it there (its trash entry fetched here)\n" + sandbox_line()), "")
    f = dispatch("doctor", "--fix", cwd=repo)
    assert (f.code, f.out, f.err) == (0, ("fixed    greet: landed or discarded here, it is still on runner `box`: "
                                          "discarded it there; its trash entry is kept here as "
                                          "refs/dispatch/runners/box/trash/greet\n" + sandbox_line()), "")
    assert git(far, "branch", "--list", "dispatch/*") == ""
    assert git(repo, "show", "refs/dispatch/runners/box/trash/greet:a.txt") == "Write `a.txt`"
    assert dispatch("doctor", cwd=repo).out == "nothing to repair\n" + sandbox_line()
    # A task whose runner left the config: doctor says so, and how to reach it again.
    r = dispatch("new", "Paint", "--no-start", "--item", "Write `b.txt`", "--on", "box", cwd=repo)
    assert r.code == 0, r.err
    config.write_text("")
    s = dispatch("status", cwd=repo)
    assert (s.code, s.err) == (0, "")
    assert s.out.splitlines()[-2:] == [
        f"paint: its runner `box` is no longer in your config: add the [runners.box] table back to {config}",
        "needs you: 1 unreachable (paint)"]
    d = dispatch("doctor", cwd=repo)
    assert (d.code, d.out, d.err) == (1, ("problem  paint: its runner `box` is no longer in your config, and the task "
                                          f"lives there: add the [runners.box] table back to {config}\n" + sandbox_line()), "")


def test_review_and_conflicts_fetch_the_runners_latest_commits_first(repo: Path, sshd: Server, tmp_path: Path) -> None:
    greet_done_on_box(repo, sshd, tmp_path)
    far = remote_repo(sshd, tmp_path)
    wt = far.parent / f"{far.name}.dispatch" / "greet"
    (wt / "b.txt").write_text("b\n")
    if sshd.far.other:
        shutil.chown(wt / "b.txt", sshd.far.user, sshd.far.user)
    sshd.far.git(wt, "add", "b.txt")
    sshd.far.git(wt, "commit", "-q", "-m", "More work there")
    review = dispatch("review", "greet", "--files", cwd=repo)
    assert (review.code, review.out, review.err) == (0, "a.txt\nb.txt\n", "")
    assert git(repo, "log", "-1", "--format=%s", "dispatch/greet") == "More work there"
    # A listing started before the fetch (dispatch.prefetch) is never what status shows after it.
    sshd.far.git(wt, "commit", "-q", "--allow-empty", "-m", "Even more there")
    for args in (["status", "--json"], ["status", "greet", "--json"]):
        task = json.loads(dispatch(*args, cwd=repo).out)["tasks"][0]
        assert (task["last_commit"]["subject"], task["ahead"]) == ("Even more there", 4 + (args[1] == "greet"))
        sshd.far.git(wt, "commit", "-q", "--allow-empty", "-m", "Even more there")


def test_a_task_the_runner_lost_is_broken_here_and_discard_keeps_what_was_fetched(
    repo: Path, sshd: Server, tmp_path: Path
) -> None:
    runner_config(sshd, tmp_path)
    for title in ("Keep", "Gone"):
        r = dispatch("new", title, "--no-start", "--item", "Write `a.txt`", "--on", "box", cwd=repo)
        assert r.code == 0, r.err
    far = remote_repo(sshd, tmp_path)
    tip = git(repo, "rev-parse", "dispatch/gone")
    # Removed over there by hand: the other task on the runner goes on being fetched and listed.
    sshd.far.git(far, "worktree", "remove", "--force", str(far.parent / f"{far.name}.dispatch" / "gone"))
    sshd.far.git(far, "branch", "-D", "dispatch/gone")
    tasks = {t["id"]: t for t in json.loads(dispatch("status", "--json", cwd=repo).out)["tasks"]}
    assert (tasks["keep"]["state"], tasks["gone"]["state"], tasks["gone"]["problem"]) == (
        "idle", "broken", ("runner `box` no longer has it (removed there by hand?): its commits as last fetched are on "
        "its branch here; `dispatch discard gone` keeps them in the trash"))
    d = dispatch("doctor", cwd=repo)
    assert (d.code, d.out, d.err) == (1, ("problem  gone: runner `box` no longer has it: `dispatch discard gone` keeps "
                                          "its commits, as last fetched here, in the trash\n" + sandbox_line()), "")
    r = dispatch("discard", "gone", "--yes", cwd=repo)
    assert (r.code, r.err) == (0, "")
    assert r.out.splitlines()[-1] == "  `dispatch restore gone` brings it back"
    assert git(repo, "merge-base", "--is-ancestor", tip, "refs/dispatch/trash/gone") == ""
    assert [t["id"] for t in json.loads(dispatch("status", "--json", cwd=repo).out)["tasks"]] == ["keep"]
    assert dispatch("doctor", cwd=repo).out == "nothing to repair\n" + sandbox_line()


@pytest.mark.skipif(find_claude() is None, reason=f"SKIPPED LOUDLY: the Claude Code CLI is missing: {INSTALL_HINT}")
def test_the_real_claude_code_cli_works_a_task_on_the_runner(repo: Path, sshd: Server, tmp_path: Path) -> None:
    claude = find_claude()
    assert claude is not None
    script = Script([Conversation(match="Your task is `add-a-greeting`", turns=[
        [text("I will start."), tool_use("Bash", {"command": "echo hello > greeting.txt && whoami > who.txt"})],
        [tool_use("Bash", {
            "command": "sed -i 's/- \\[ \\] Create greeting.txt/- [x] Create greeting.txt/' .dispatch/PLAN.md"
                       " && git add -A && git commit -qm 'Add the greeting'",
        })],
        [text("Every item is done.")],
    ])])
    with FakeAnthropic(script, tmp_path / "requests.jsonl") as api:
        # The runner's dispatch (and so its worker) gets the CLI on its PATH and the fake API's address.
        home = sshd.far.folder(tmp_path) / "home"
        env = {k: v for k, v in claude_env(api.base_url, str(home), base={}).items() if k != "HOME"}
        env["PATH"] = os.pathsep.join([str(Path(claude).parent), "/usr/local/bin", "/usr/bin", "/bin"])
        runner_config(sshd, tmp_path, env=env)
        r = dispatch("new", "Add a greeting", "--model", "sonnet", "--item", "Create greeting.txt", "--on", "box",
                     cwd=repo)
        assert (r.code, r.err) == (0, "")
        assert r.out.splitlines()[-1] == ("  worker    sonnet on claude there: `dispatch logs add-a-greeting -f` "
                                          "follows it")
        wait_for(lambda: status_of(repo, "add-a-greeting")["state"] not in ("preparing", "running"), timeout=90,
                 message="claude on box")
    task = status_of(repo, "add-a-greeting")
    assert (task["state"], task["cost_usd"]) == ("done", 0.0012), dispatch("logs", "add-a-greeting", cwd=repo).out
    assert git(repo, "log", "--format=%s", "main..dispatch/add-a-greeting") == (
        "Add the greeting\ndispatch: plan add-a-greeting")
    assert git(repo, "show", "dispatch/add-a-greeting:who.txt") == sshd.far.user
    m = dispatch("merge", "add-a-greeting", "--yes", cwd=repo)
    assert (m.code, m.err) == (0, "")
    assert (repo / "greeting.txt").read_text() == "hello\n"
