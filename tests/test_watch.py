"""`status --watch`: refused without a terminal; on a real pseudo-terminal it draws, redraws in place, and
ends quietly on Ctrl-C."""

from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

from conftest import dispatch, git

from dispatch.task.questions import parse_questions

CSI = re.compile(r"\x1b\[([0-9;?]*)([A-Za-z])")


def screen(raw: str) -> list[str]:
    """The lines a terminal shows after RAW: enough of one for what rich Live writes (text, CR, LF, erase, up)."""
    lines, row, col, i = [""], 0, 0, 0
    while i < len(raw):
        match = CSI.match(raw, i)
        if match:
            params, final = match.groups()
            if final == "A":
                row = max(0, row - int(params or 1))
            elif final == "K":
                lines[row] = "" if params == "2" else lines[row][:col]
            i = match.end()  # colours (m) and cursor shown/hidden (h, l) draw nothing
            continue
        ch = raw[i]
        if ch == "\r":
            col = 0
        elif ch == "\n":
            row += 1
            lines += [""] * (row + 1 - len(lines))
        else:
            line = lines[row].ljust(col)
            lines[row] = line[:col] + ch + line[col + 1 :]
            col += 1
        i += 1
    return [line.rstrip() for line in lines]


class Terminal:
    """dispatch on a pseudo-terminal that is its controlling terminal, so ^C there is a real Ctrl-C."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str]) -> None:
        leader, follower = os.openpty()
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 160, 0, 0))

        def controlling_terminal() -> None:
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen([sys.executable, "-m", "dispatch", *args], cwd=cwd, env=env, stdin=follower,
                                     stdout=follower, stderr=follower, preexec_fn=controlling_terminal)
        os.close(follower)
        self.leader = leader
        self.raw = b""
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.leader, 65536)
            except OSError:  # EIO: the other side closed
                return
            if not chunk:
                return
            self.raw += chunk

    def text(self) -> str:
        return self.raw.decode(errors="replace")

    def wait_for_screen(self, want: list[str], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if screen(self.text()) == want:
                return
            time.sleep(0.05)
        assert screen(self.text()) == want  # shows the difference

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(timeout=5)
        os.close(self.leader)


def test_watch_without_a_terminal_is_refused(repo: Path) -> None:
    r = dispatch("status", "--watch", cwd=repo)
    assert (r.code, r.out, r.err) == (
        1, "", ("dispatch: status --watch redraws a terminal, and stdout is not one: use `dispatch wait`, "
               "which blocks until a task needs you\n"),
    )
    r = dispatch("status", "--interval", "2", cwd=repo)
    assert (r.code, r.err) == (2, "dispatch: --interval goes with --watch\n")
    r = dispatch("status", "--watch", "--json", cwd=repo)
    assert (r.code, r.err) == (2, ("dispatch: --watch draws for people: `dispatch status --json` prints once, "
                                  "`dispatch wait` blocks until there is news\n"))


def _ask(wt: Path, question: str) -> None:
    path = wt / ".dispatch" / "QUESTIONS.md"
    q = parse_questions(path.read_text())
    q.add(question, "2026-11-23T10:30:00Z")
    path.write_text(q.render())
    git(wt, "commit", "-qam", "dispatch: ask Q1")


def test_watch_draws_redraws_in_place_and_ends_on_ctrl_c(repo: Path, tmp_path: Path) -> None:
    made = {}
    for title in ("Asks", "By hand"):
        r = dispatch("new", title, "--item", "the work", "--no-start", "--json", cwd=repo)
        made[title] = Path(json.loads(r.out)["task"]["worktree"])
    _ask(made["Asks"], "Which database?")
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"} | {"TERM": "xterm-256color", "TZ": "UTC"}
    term = Terminal(["status", "--watch", "--interval", "0.2"], repo, env)
    try:
        wt = str(tmp_path / "work" / "app.dispatch")
        header = "ID       STATE    PLAN  Q  COMMITS  DIRTY  LAST  USAGE  TITLE    WORKTREE"
        term.wait_for_screen([
            "2 tasks: 1 blocked, 1 idle · 11:00:00 · Ctrl-C to stop",
            "",
            header,
            f"asks     blocked  0/1   1  ↑2 ↓0    -      1h    -      Asks     {wt}/asks",
            f"by-hand  idle     0/1   -  ↑1 ↓0    -      1h    -      By hand  {wt}/by-hand",
            "asks asks: Which database?",
            "needs you: 1 question (asks), 1 idle (by-hand)",
        ])
        # The task moves: the same lines are redrawn in place, nothing scrolls.
        plan = made["By hand"] / ".dispatch" / "PLAN.md"
        plan.write_text(plan.read_text().replace("- [ ] the work", "- [x] the work"))
        git(made["By hand"], "commit", "-qam", "tick")
        moved = [
            "2 tasks: 1 blocked, 1 done · 11:00:00 · Ctrl-C to stop",
            "",
            header,
            f"asks     blocked  0/1   1  ↑2 ↓0    -      1h    -      Asks     {wt}/asks",
            f"by-hand  done     1/1   -  ↑2 ↓0    -      1h    -      By hand  {wt}/by-hand",
            "asks asks: Which database?",
            "needs you: 1 question (asks), 1 to review (by-hand)",
        ]
        term.wait_for_screen(moved)
        # Questions and finished tasks stand out: bold yellow, bold green.
        out = term.text()
        assert "\x1b[1;33masks     blocked" in out
        assert "\x1b[1;33masks asks: Which database?" in out
        assert "\x1b[1;32mby-hand  done" in out
        os.write(term.leader, b"\x03")  # Ctrl-C, through the terminal
        assert term.proc.wait(timeout=30) == 0
        term.reader.join(timeout=5)
        assert screen(term.text()) == [*moved, ""]  # the last table stays on screen
        assert "interrupted" not in term.text() and "Traceback" not in term.text()
    finally:
        term.close()


def test_watch_ends_on_sigint_with_no_tasks(repo: Path) -> None:
    env = {**os.environ, "TZ": "UTC"}
    term = Terminal(["status", "--watch", "--interval", "0.1"], repo, env)
    try:
        term.wait_for_screen([
            "0 tasks · 11:00:00 · Ctrl-C to stop",
            "",
            'no tasks yet: `dispatch new "what to do"` creates one',
        ])
        term.proc.send_signal(signal.SIGINT)
        assert term.proc.wait(timeout=30) == 0
    finally:
        term.close()
    assert not re.search(r"\x1b\[[0-9;]*m", term.text())  # NO_COLOR: cursor moves, no styles
