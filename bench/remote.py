"""Tasks on an ssh runner against local ones: `status` with 10 tasks, and the question round trip over ssh.

    .venv/bin/python bench/remote.py [--reps N]

Not part of the test suite: it measures and prints medians; it asserts nothing. It starts its own
sshd on 127.0.0.1 (a high port, fresh keys, key-only login as this user: root needs
PermitRootLogin, which it sets) and uses this box as the runner, so the times are ssh's and the
remote dispatch's, never the network's. Needs openssh-server (`.ci/install-sshd`).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from latency import _check, _env, _run, one_round

TASKS = 10
SETTLE = 1.5  # the wait under test is past its ssh connection and the remote start-up, polling there


def _sshd(d: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """A throwaway sshd; the ssh_config naming it `box`."""
    for name in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / name)], check=True)
    (d / "authorized_keys").write_text((d / "client_key.pub").read_text())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    (d / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nAuthorizedKeysFile {d}/authorized_keys\n"
        f"PidFile {d}/sshd.pid\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n")
    key = (d / "host_key.pub").read_text().split()
    (d / "known_hosts").write_text(f"[127.0.0.1]:{port} {key[0]} {key[1]}\n")
    config = d / "ssh_config"
    config.write_text(f"Host box\n  HostName 127.0.0.1\n  Port {port}\n  User {getpass.getuser()}\n"
                      f"  IdentityFile {d}/client_key\n  IdentitiesOnly yes\n  UserKnownHostsFile {d}/known_hosts\n")
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(exist_ok=True)
    proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(d / "sshd_config")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, config
        time.sleep(0.05)
    raise SystemExit("bench: sshd did not start")


def _repo(path: Path, env: dict[str, str]) -> Path:
    path.mkdir()
    for argv in (["init", "-q", "-b", "main"], ["commit", "-q", "--allow-empty", "-m", "start"]):
        subprocess.run(["git", *argv], cwd=path, env=env, check=True)
    return path


def _timed(argv: list[str], cwd: Path, env: dict[str, str], reps: int) -> list[float]:
    times = []
    for _ in range(reps):
        started = time.monotonic()
        r = _run(argv, cwd, env)
        times.append(time.monotonic() - started)
        _check(r.returncode, " ".join(argv[1:]), r.stderr)
    return times


def status_rows(dispatch: Path, tmp: Path, env: dict[str, str], reps: int) -> list[tuple[str, list[float]]]:
    """`status` (and `--json`) with TASKS tasks, here and on the runner."""
    here, there = _repo(tmp / "here", env), _repo(tmp / "there", env)
    for i in range(TASKS):
        for repo, on in ((here, []), (there, ["--on", "box"])):
            r = _run([str(dispatch), "new", f"Task {i}", "--no-start", "--item", "Do it", *on], repo, env)
            _check(r.returncode, "dispatch new", r.stderr)
    rows = []
    for args in (["status"], ["status", "--json"]):
        rows.append((f"`{' '.join(args)}`, {TASKS} local tasks", _timed([str(dispatch), *args], here, env, reps)))
        rows.append((f"`{' '.join(args)}`, {TASKS} tasks on the ssh runner",
                     _timed([str(dispatch), *args], there, env, reps)))
    return rows


def round_trips(dispatch: Path, tmp: Path, env: dict[str, str], far_env: dict[str, str],
                reps: int) -> list[tuple[str, list[float]]]:
    """The worker asks on the runner (`dispatch ask` in the task's worktree there); `wait` here wakes; the
    `answer` given here reaches that waiting `ask`. Then with a local task too, `wait` on all tasks (here and
    there side by side): woken by the question there, and by one here (the wait there hung up on)."""
    repo = _repo(tmp / "asks", env)
    # A worker that hangs keeps `wait` waiting; the bench asks in its worktree, as that worker would.
    r = _run([str(dispatch), "new", "Bench", "--id", "bench", "--model", "scripted", "--item", "Write `x.txt` (hang)",
              "--on", "box"], repo, env)
    _check(r.returncode, "dispatch new --on box", r.stderr)
    worktree = _worktree(dispatch, repo, env, "bench", "box:")
    woken, answered = [], []
    for i in range(1, reps + 1):
        w, a = one_round(dispatch, i, task="bench", repo=repo, env=env, worktree=worktree, ask_env=far_env,
                         wait_args=["bench"], settle=SETTLE)
        woken.append(w)
        answered.append(a)
    r = _run([str(dispatch), "new", "Near", "--id", "near", "--model", "scripted", "--item", "Write `y.txt` (hang)"],
             repo, env)
    _check(r.returncode, "dispatch new", r.stderr)
    near = _worktree(dispatch, repo, env, "near", "")
    both_there, both_here = [], []
    for i in range(1, reps + 1):  # each task's questions are numbered from its Q1
        both_there.append(one_round(dispatch, reps + i, task="bench", repo=repo, env=env, worktree=worktree,
                                    ask_env=far_env, wait_args=[], settle=SETTLE)[0])
        both_here.append(one_round(dispatch, i, task="near", repo=repo, env=env, worktree=near, ask_env=env,
                                   wait_args=[], settle=SETTLE)[0])
    for task in ("bench", "near"):
        _run([str(dispatch), "stop", task], repo, env)
    return [("`ask` there → `wait` here exits", woken), ("`answer` here → `ask` there exits", answered),
            ("`ask` there → `wait` (all tasks, one here too) exits", both_there),
            ("`ask` here → `wait` (all tasks, one there too) exits", both_here)]


def _worktree(dispatch: Path, repo: Path, env: dict[str, str], task: str, prefix: str) -> Path:
    status = json.loads(_run([str(dispatch), "status", task, "--json"], repo, env).stdout)
    return Path(status["tasks"][0]["worktree"].removeprefix(prefix))


def main() -> int:
    parser = argparse.ArgumentParser(description="Time status and the question round trip on an ssh runner.")
    parser.add_argument("--reps", type=int, default=10, help="runs to take the median of (default 10)")
    args = parser.parse_args()
    dispatch = Path(sys.executable).parent / "dispatch"
    with tempfile.TemporaryDirectory(prefix="dispatch-remote-") as name:
        tmp = Path(name)
        (tmp / "sshd").mkdir()
        sshd, ssh_config = _sshd(tmp / "sshd")
        try:
            env = _env(tmp / "home", dispatch.parent)
            far_env = _env(tmp / "far-home", dispatch.parent)
            for home in (tmp / "home", tmp / "far-home"):
                home.mkdir()
            far_words = ["env", *(f"{k}={v}" for k, v in far_env.items() if k.startswith(("GIT_", "XDG_", "HOME")))]
            config = Path(env["XDG_CONFIG_HOME"]) / "dispatch" / "config.toml"
            config.parent.mkdir(parents=True)
            config.write_text(f'[runners.box]\nkind = "ssh"\nhost = "box"\npath = "{tmp / "far"}"\n'
                              f'ssh = ["ssh", "-F", "{ssh_config}"]\n'
                              f'dispatch = {json.dumps([*far_words, str(dispatch)])}\n')
            rows = status_rows(dispatch, tmp, env, args.reps)
            rows += round_trips(dispatch, tmp, env, far_env, args.reps)
        finally:
            sshd.terminate()
            sshd.wait()
    print(f"ssh runner on loopback, {args.reps} runs, milliseconds (load average {os.getloadavg()[0]:.1f})\n")
    print("| measure | median | min | max |\n| --- | ---: | ---: | ---: |")
    for label, times in rows:
        print(f"| {label} | {statistics.median(times) * 1000:.0f} | {min(times) * 1000:.0f} | {max(times) * 1000:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
