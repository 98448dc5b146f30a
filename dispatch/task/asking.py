"""A worker asks, keeps its context while it waits, and gets the answer: ask, answer, questions."""

from __future__ import annotations

import os
import time
from pathlib import Path

from dispatch import clock, events, files, git, jsontext, objects
from dispatch.batch import Batch
from dispatch.config import Config
from dispatch.errors import ASK_TIMEOUT_EXIT, DispatchError
from dispatch.repo import Repo, locked
from dispatch.task import runtime
from dispatch.task.model import QUESTIONS, TaskRef, get_task, list_tasks
from dispatch.typed import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from typing import Any


class AskTimeout(DispatchError):
    exit_code = ASK_TIMEOUT_EXIT


def find_asking_task(repo: Repo, cfg: Config, task_id: str | None, cwd: Path) -> TaskRef:
    """The task from --task, else $DISPATCH_TASK, else the task worktree CWD is in."""
    task_id = task_id or os.environ.get("DISPATCH_TASK") or None
    if task_id:
        return get_task(repo, cfg, task_id)
    # The task whose worktree holds CWD, the innermost where one holds another: found without asking git.
    inside = [task for task in list_tasks(repo, cfg).values()
              if task.worktree is not None and (cwd == task.worktree.path or task.worktree.path in cwd.parents)]
    if inside:
        return max(inside, key=lambda task: len(task.worktree.path.parts))  # type: ignore[union-attr]
    raise DispatchError("not in a task's worktree: run `dispatch ask` from one, or name the task with --task ID")


def _questions_path(task: TaskRef) -> Path:
    if task.worktree is None or not task.worktree_exists:
        raise DispatchError(f"task `{task.id}` has no worktree: `dispatch doctor` says how to repair it")
    return task.worktree.path / QUESTIONS


def _load(path: Path, task_id: str) -> Any:
    from dispatch.task.questions import parse_questions

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        from dispatch import templates

        text = templates.render("QUESTIONS.md.j2", id=task_id)
    return parse_questions(text, task_id)


def _commit_questions(repo: Repo, worktree: Path, message: str, prepared: objects.FileCommit | None = None) -> None:
    """Commit QUESTIONS.md alone, from objects, then bring the worktree's index in line with it.

    Only when nobody else's git runs in the worktree: inside the worker's own `ask` (it waits on us), or
    with no worker running. A running worker's branch and index are its own: a commit of ours would take
    its index lock, and moving its branch under a `git commit` of its fails that commit (git's own
    compare-and-swap on HEAD). The commit never touches the index or what the worker staged; the index
    is then told the new file (a stale entry would put the old file back in the worker's next commit).
    """
    # The temporary index goes in the worktree's own git dir: a confined worker's `ask` may write there.
    pending = prepared or objects.FileCommit(worktree, QUESTIONS, _git_dir(worktree))
    # The worktree's index told at once, beside the commit (they share nothing but the file, which is final).
    told = Batch([(["update-index", "--add", "--", QUESTIONS], worktree)], limit=1)
    try:
        pending.commit(message)
    finally:
        r = told.results(ok_codes=range(256))[0]
    for _ in range(50):  # a person's git may hold the index a moment: wait for it, never fail it
        if r.returncode == 0 or "index.lock" not in r.stderr:
            return
        time.sleep(0.1)
        r = git.run(["update-index", "--add", "--", QUESTIONS], cwd=worktree, check=False)


def _git_dir(worktree: Path) -> Path:
    """The worktree's own git folder, as its `.git` file names it (`gitdir: PATH`); git says where it is not one."""
    try:
        text = (worktree / ".git").read_text(encoding="utf-8")
    except OSError:
        text = ""
    if text.startswith("gitdir: ") and text.count("\n") <= 1:
        return (worktree / text.removeprefix("gitdir: ").strip()).resolve()  # (a relative one is the worktree's)
    return Path(git.out(["rev-parse", "--absolute-git-dir"], cwd=worktree))


# The marker lives in a folder of its own: a confined worker may write it and nothing else of the task's runtime.
ASK_FOLDER = "asking"


def _ask_marker(repo: Repo, task_id: str) -> Path:
    return repo.task_dir(task_id) / ASK_FOLDER / "ask.json"


class _QuestionsLock(files.Held):
    """The task's questions to ourselves: `ask` and `answer` take this lock, not the repository's (`answer`
    takes both), so that a confined worker, whose `ask` needs it, can hold up the answers to itself only."""

    def __init__(self, repo: Repo, cfg: Config, task_id: str) -> None:
        super().__init__(repo.task_dir(task_id) / ASK_FOLDER / "lock", float(cfg["lock_timeout"]))
        self.task_id = task_id

    def __enter__(self) -> int:
        try:
            return super().__enter__()
        except files.LockBusy:
            raise DispatchError(f"another dispatch command holds the questions of task `{self.task_id}` for more "
                                f"than {self.timeout:g}s: wait for it to finish and retry") from None


class Asked(NamedTuple):
    task: str
    number: int
    tended: bool  # its worker's supervisor tells the person and gives the worker's slot away


def _tended(repo: Repo, task_id: str) -> bool:
    """This `ask` is the task's own worker's, and its supervisor (alive) tells the person and frees its slot. A
    person's `ask`, or an orphaned worker's, does both itself (a confined worker is never orphaned: it dies with
    its supervisor)."""
    if os.environ.get("DISPATCH_TASK") != task_id:
        return False
    return runtime.supervisor_alive(runtime.read_worker(repo, task_id) or {})


def post_question(repo: Repo, cfg: Config, task: TaskRef, text: str) -> Asked:
    """Append an open question, record the event, commit that file only."""
    text = text.strip()
    if not text:
        raise DispatchError("the question is empty: give the question to ask")
    path = _questions_path(task)
    with _QuestionsLock(repo, cfg, task.id):
        questions = _load(path, task.id)
        still_open = questions.open()
        if still_open:
            n = still_open[0].number
            raise DispatchError(
                f"Q{n} of task `{task.id}` is still open: wait for its answer before asking again"
            )
        question = questions.add(text, clock.iso(clock.now()))
        files.write_atomic(path, questions.render())
        # Told before the commit: a waiting `wait` reads the question from the file, and wakes meanwhile.
        event = events.append(repo, task.id, "question", number=question.number, text=text, asked=question.asked)
        _commit_questions(repo, task.worktree.path, f"dispatch: ask Q{question.number}")  # type: ignore[union-attr]
        tended = _tended(repo, task.id)
        me = os.getpid()
        marker = _ask_marker(repo, task.id)
        marker.parent.mkdir(parents=True, exist_ok=True)
        # `told`: this ask tells the person itself; a supervisor looking at the marker does not again.
        files.write_atomic(marker, jsontext.dumps({"pid": me, "start": runtime.process_start_time(me),
                                                   "ns": runtime.pid_namespace(), "number": question.number,
                                                   "event": event, "told": not tended}))
    if not tended:
        from dispatch.task import notify  # (after the question is out: the waiting side wakes meanwhile)

        notify.notify(repo, event, cfg)
    return Asked(task.id, question.number, tended)


def await_answer(repo: Repo, cfg: Config, task: TaskRef, number: int, timeout: float, poll: float = 0.05) -> str:
    """Block until question NUMBER has an answer; commit the answered file; return the answer. The
    file's folder is watched (inotify on Linux): `answer` writing it wakes us; POLL is the interval
    where it cannot be watched."""
    path = _questions_path(task)
    deadline = time.monotonic() + timeout
    answer: str | None = None
    # The answer's commit made ready while we wait: once it comes, only what needs it runs.
    pending = objects.FileCommit(path.parent.parent, QUESTIONS, _git_dir(path.parent.parent))
    try:
        if timeout > 0:  # with none, the answer is read once, under the lock below
            pending.prepare()
            answer = _watch_for_answer(path, task.id, number, deadline, poll)
        with _QuestionsLock(repo, cfg, task.id):
            # `answer` writes under this lock: what we read now is final, and it sees the marker end with it.
            answer = answer if answer is not None else _answer_of(path, task.id, number)
            if answer is None:
                _end_marker(repo, task.id)
                raise AskTimeout(
                    f"no answer to Q{number} within {timeout:g}s. Mark the current item `[?]` with the question, "
                    "write what you know under \"Notes from the dispatcher\" in .dispatch/PLAN.md, commit, and stop: "
                    "the dispatcher will answer and resume the task"
                )
            _commit_questions(repo, path.parent.parent, f"dispatch: answer Q{number}", pending)
    finally:
        pending.close()
        _end_marker(repo, task.id)
    return answer


def _watch_for_answer(path: Path, task_id: str, number: int, deadline: float, poll: float) -> str | None:
    """The answer to question NUMBER once the file holds one, or None at DEADLINE; the file is read
    again only when it changed, woken by the change where the folder can be watched."""
    from dispatch.changes import Changes

    seen: tuple[int, int, int] | None = None
    with Changes(path.parent, poll) as changes:
        while time.monotonic() < deadline:
            try:
                st = path.stat()
                stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
            except FileNotFoundError:
                stamp = (0, 0, 0)
            if stamp != seen:
                seen = stamp
                answer = _answer_of(path, task_id, number)
                if answer is not None:
                    return answer
            changes.wait(deadline - time.monotonic())
    return None


def _end_marker(repo: Repo, task_id: str) -> None:
    """The ask no longer waits: its marker loses the asker's pid but keeps the question, for a supervisor
    that has not looked since it was asked (tending.Questions) to tell the person all the same."""
    data = asked_now(repo, task_id)
    if data is not None and data.get("pid") is not None:
        files.write_atomic(_ask_marker(repo, task_id), jsontext.dumps({**data, "pid": None, "start": None}))


def _answer_of(path: Path, task_id: str, number: int) -> str | None:
    from dispatch.task.questions import QuestionsError

    try:
        for q in _load(path, task_id).questions:
            if q.number == number:
                return str(q.answer) if q.answer is not None else None
    except QuestionsError:
        return None
    raise DispatchError(f"Q{number} disappeared from {path}: someone edited it away; ask again")


def asked_now(repo: Repo, task_id: str) -> dict[str, Any] | None:
    """What the task's `ask` marker holds (the asker's pid, the question's number and event), or None.
    Written by the worker's own `dispatch ask`: data to read, never to obey."""
    try:
        data = jsontext.loads(_ask_marker(repo, task_id).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def blocked_in_ask(repo: Repo, task_id: str) -> bool:
    """The task's worker is blocked in a live `dispatch ask`: it holds no worker slot meanwhile."""
    data = asked_now(repo, task_id)
    return data is not None and runtime.is_alive_in(data.get("pid"), data.get("start"), data.get("ns"))


def ask_is_waiting(repo: Repo, task_id: str, number: int) -> bool:
    """A live `ask` waits on question NUMBER (and so will commit its answer)."""
    data = asked_now(repo, task_id)
    return data is not None and data.get("number") == number and runtime.is_alive_in(
        data.get("pid"), data.get("start"), data.get("ns"))


class Answered(NamedTuple):
    task: str
    number: int
    waiting: bool  # a worker was waiting on it and now has it
    worker_running: bool


def answer(repo: Repo, cfg: Config, task_id: str, number: int | None, text: str) -> Answered:
    """Write the answer (atomically); a waiting `ask` picks it up within a poll."""
    text = text.strip()
    if not text:
        raise DispatchError("the answer is empty: give the text to answer with")
    task = get_task(repo, cfg, task_id)
    path = _questions_path(task)
    with locked(repo, cfg["lock_timeout"]), _QuestionsLock(repo, cfg, task_id):
        questions = _load(path, task_id)
        if number is None:
            still_open = questions.open()
            if not still_open:
                raise DispatchError(f"task `{task_id}` has no open question: `dispatch show {task_id}` lists its questions")
            number = still_open[0].number
        questions.answer(number, text, clock.iso(clock.now()))
        # Before writing: once written, a waiting `ask` may take the answer and clear its marker at once.
        waiting = ask_is_waiting(repo, task_id, number)
        files.write_atomic(path, questions.render())
        running = runtime.worker_alive(repo, task_id)
        if not waiting and not running:
            # Nobody will commit it for us: commit it now so the next worker finds it in history. A running
            # worker's own commits carry it (it is a file of its worktree), or the supervisor's save at its end.
            _commit_questions(repo, path.parent.parent, f"dispatch: answer Q{number}")
        events.append(repo, task_id, "answered", number=number)
    return Answered(task_id, number, waiting, running)


class OpenQuestion(NamedTuple):
    task: str
    number: int
    text: str
    asked: str

    def to_json(self) -> dict[str, Any]:
        return {"task": self.task, "number": self.number, "text": self.text, "asked": self.asked}


def open_questions(repo: Repo, cfg: Config, ids: list[str] | None = None,
                   worktrees: dict[str, Path] | None = None) -> list[OpenQuestion]:
    """Every open question across the tasks, oldest first. WORKTREES (task id → its worktree), when given,
    names the tasks and where their files are without asking git; it is filled in when empty."""
    worktrees = {} if worktrees is None else worktrees
    if not worktrees:
        worktrees.update({task.id: task.worktree.path for task in list_tasks(repo, cfg).values()
                          if task.worktree is not None and task.worktree_exists})
    found = []
    for task_id, worktree in worktrees.items():
        if ids and task_id not in ids:
            continue
        path = worktree / QUESTIONS
        if not path.exists():
            continue
        try:
            questions = _load(path, task_id)
        except DispatchError:
            continue
        found += [OpenQuestion(task_id, q.number, q.text, q.asked or "") for q in questions.open()]
    return sorted(found, key=lambda q: (q.asked, q.task, q.number))
