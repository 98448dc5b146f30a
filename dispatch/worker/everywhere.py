"""`wait` on tasks wherever their workers run: here, and on each runner that holds tasks it covers, side by side.

A runner's share is a `dispatch wait --json` forwarded there (argv as JSON on stdin: dispatch.worker.ssh), started
at once, while the local wait runs here. The first side with news ends the whole wait: the others are hung up on,
which ends their command there (dispatch.worker.serve), and what one had printed by then is delivered too. A wait
moves its consumer's cursor only after printing its news (waiting.wait), so one hung up on before that leaves the
news for the next wait: none is lost. A runner that cannot be reached (ssh fails to connect, the connection drops)
is said once, and its share is started again after a back-off until it answers or the time is up; one that answers
with an error is said once and left out; the wait goes on with the rest.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from dispatch.changes import Changes
from dispatch.config import Config
from dispatch.errors import WAIT_NOTHING_EXIT, WAIT_TIMEOUT_EXIT, DispatchError
from dispatch.repo import Repo
from dispatch.task import runtime
from dispatch.typed import TYPE_CHECKING
from dispatch.worker import waiting
from dispatch.worker.waiting import Notice

# The runners' modules (ssh, git transport) load only when a task is on one: a local wait starts as fast.
if TYPE_CHECKING:
    from dispatch.worker import remote, ssh

GRACE = 5.0  # seconds a runner's wait has to end once hung up on, before its ssh is killed
QUIET = 60.0  # seconds between looks while only runners are waited on and none says anything (each wakes us)
RETRY_FIRST = 2.0  # seconds before an unreachable runner's share is tried again, doubled after each failed try
RETRY_MOST = 30.0  # seconds at most between its tries

Deliver = Callable[[list[Notice]], None]


@dataclass
class Far:
    """One runner's share of the wait: its forwarded `wait` (tried again while the runner cannot be reached),
    under way, and what came of it."""

    where: remote.Place
    tasks: list[str]  # the runner's tasks the wait covers: their branches are fetched after its news
    words: list[str]  # its `wait` without --timeout: each try is given the time left
    wake: Callable[[], None]
    call: ssh.Running | None = None
    ended: threading.Event = field(default_factory=threading.Event)
    answer: ssh.Answer | None = None
    seen: bool = False
    brought: bool = False
    failures: int = 0  # tries in a row that could not reach the runner
    again: threading.Timer | None = None  # while unreachable: wakes the wait when the next try is due
    again_at: float | None = None

    def launch(self, timeout: float | None) -> None:
        """A try: its `wait` started there, watched by a thread that wakes the local wait when it ends."""
        from dispatch.worker import ssh

        words = [*self.words, *(["--timeout", f"{timeout:g}"] if timeout is not None else [])]
        call = self.call = ssh.start(self.where.runner, words, cwd=self.where.path)
        ended = self.ended = threading.Event()
        self.answer, self.seen, self.again_at = None, False, None

        def watch() -> None:
            self.answer = call.answer(None)
            ended.set()
            self.wake()

        threading.Thread(target=watch, daemon=True).start()

    def retry_later(self) -> None:
        """Unreachable: the next try after the back-off (RETRY_FIRST, doubled per failure, at most RETRY_MOST)."""
        delay = min(RETRY_FIRST * 2 ** self.failures, RETRY_MOST)
        self.failures += 1
        self.again_at = time.monotonic() + delay
        self.again = threading.Timer(delay, self.wake)
        self.again.daemon = True
        self.again.start()

    @property
    def done(self) -> bool:
        """Its news taken, or its failure said, and no try is to come."""
        return self.seen and self.again_at is None


def wait(repo: Repo, cfg: Config, ids: list[str], *, timeout: float | None, consumer: str, deliver: Deliver,
         warn: Callable[[str], None]) -> None:
    """Block until there is news of IDS (every task when empty) wherever they run, and DELIVER it; WARN once
    of a runner that cannot be reached (tried again until the TIMEOUT), or that fails while other tasks are
    still waited on."""
    waiting.check_consumer(consumer)
    shares = _shares(repo, cfg, ids) if runtime.runner_task_ids(repo) else []
    with Changes(repo.state_dir, waiting.POLL) as changes:  # the folder of the events log; runners' ends wake it too
        if not shares:
            waiting.wait(repo, cfg, ids, timeout=timeout, consumer=consumer, changes=changes, deliver=deliver)
            return
        there = {task_id for _where, tasks in shares for task_id in tasks}
        here = [task_id for task_id in ids if task_id not in there]
        deadline = None if timeout is None else time.monotonic() + timeout
        fars = [_far(where, tasks, given=bool(ids), consumer=consumer, wake=changes.wake) for where, tasks in shares]
        sides = Sides(fars, many=len(fars) > 1 or not ids or bool(here), warn=warn, deadline=deadline)
        for far in fars:
            far.launch(timeout)
        try:
            _wait_sides(repo, cfg, ids, here if not ids or here else None, sides, timeout=timeout, deadline=deadline,
                        consumer=consumer, changes=changes, deliver=deliver)
        finally:  # every runner's wait ended before this returns (and before CHANGES closes)
            late = sides.collect()
            if late:  # one had printed news as we stopped (Ctrl-C, a failure): told there, so printed here
                deliver(late)
    brought = [task_id for far in fars if far.brought for task_id in far.tasks]
    if brought:
        from dispatch.worker import remote

        remote.sync(repo, cfg, brought)  # the question or the last commits, here: `show`, `review` read them


def _shares(repo: Repo, cfg: Config, ids: list[str]) -> list[tuple[remote.Place, list[str]]]:
    """The tasks among IDS (all when empty) that are on runners, by runner and its repository there. Without
    IDS, a task whose runner left the config is left out (`status` and `doctor` say so)."""
    from dispatch.worker import remote

    found: dict[tuple[str, str], tuple[remote.Place, list[str]]] = {}
    for task_id in ids or runtime.runner_task_ids(repo):
        data = remote.record(repo, task_id)
        if data is None or not ids and data["runner"] not in cfg.values["runners"]:
            continue
        where = remote.place(repo, cfg, task_id)
        if where is not None:
            found.setdefault((where.name, where.path), (where, []))[1].append(task_id)
    return list(found.values())


def _far(where: remote.Place, tasks: list[str], *, given: bool, consumer: str, wake: Callable[[], None]) -> Far:
    """The runner's share, not yet started: its `wait` on its TASKS when GIVEN by the user, else on all it has."""
    return Far(where, tasks, ["wait", *(tasks if given else []), "--consumer", consumer, "--json"], wake)


def _wait_sides(repo: Repo, cfg: Config, ids: list[str], here: list[str] | None, sides: Sides, *,
                timeout: float | None, deadline: float | None, consumer: str, changes: Changes,
                deliver: Deliver) -> None:
    """The local wait on HERE (every local task when empty; None: no local side) until a runner's wait ends
    (or one is due to be tried again), then a look at what it brought; again until there is news, nothing
    left to wait on, or the time is up."""
    while deadline is None or time.monotonic() < deadline:
        left = None if deadline is None else deadline - time.monotonic()
        if here is not None:
            try:
                if waiting.wait(repo, cfg, here, timeout=left, consumer=consumer, changes=changes,
                                deliver=lambda news: deliver(news + sides.collect()), stop=sides.ended):
                    return
            except waiting.NothingToWaitFor:
                here = None
            except waiting.WaitTimeout:
                break
        else:
            changes.wait(QUIET if left is None else left)
        news = sides.look()
        if news:
            deliver(news + sides.collect())
            return
        if here is None and sides.all_seen():
            raise sides.nothing(ids, timeout)
    news = sides.collect()
    if not news:
        raise waiting.timed_out(timeout or 0.0)
    deliver(news)


class Sides:
    """The runners' waits: which ended, what they brought, which failed (said by WARN when MANY sides wait),
    which cannot be reached (said by WARN, tried again)."""

    def __init__(self, fars: list[Far], *, many: bool, warn: Callable[[str], None], deadline: float | None) -> None:
        self.fars, self.many, self.warn, self.deadline = fars, many, warn, deadline
        self.failed: list[str] = []
        self.unreachable: set[str] = set()  # the runners said to be so: once per wait
        self.timed_out = False  # a runner's wait timed out (started after ours, only just after ours would)

    def ended(self) -> bool:
        """Whether a runner's wait ended, or one is due to be tried again, since the last look: the local wait
        stops for a look."""
        return any(far.ended.is_set() and not far.seen or self._due(far) for far in self.fars)

    def all_seen(self) -> bool:
        return all(far.done for far in self.fars)

    def look(self) -> list[Notice]:
        """The news of the runners' waits that ended since the last look; those due tried again."""
        news = [n for far in self.fars if far.ended.is_set() and not far.seen for n in self._take(far, failing=True)]
        for far in self.fars:
            if not news and self._due(far):
                far.launch(None if self.deadline is None else max(self.deadline - time.monotonic(), 0.0))
        return news

    def _due(self, far: Far) -> bool:
        """Whether an unreachable runner's next try is due, and there is time left for it."""
        now = time.monotonic()
        return far.again_at is not None and far.again_at <= now and (self.deadline is None or now < self.deadline)

    def collect(self) -> list[Notice]:
        """Every runner's wait ended (hung up on, killed after GRACE), and the news they printed before."""
        for far in self.fars:
            if far.again is not None:
                far.again.cancel()
            if far.call is not None and not far.ended.is_set():
                far.call.hang_up()
        for far in self.fars:
            if far.call is not None and not far.ended.wait(GRACE):
                far.call.kill()
                far.ended.wait()
        return [n for far in self.fars if not far.seen for n in self._take(far, failing=False)]

    def _take(self, far: Far, *, failing: bool) -> list[Notice]:
        from dispatch.worker import remote, ssh

        far.seen = True
        answer = far.answer or ssh.Answer(ssh.UNREACHABLE, "", "")
        news = _news(answer)
        far.brought = bool(news)
        self.timed_out |= answer.returncode == WAIT_TIMEOUT_EXIT
        if not news and failing and answer.returncode not in (WAIT_TIMEOUT_EXIT, WAIT_NOTHING_EXIT):
            said = (remote.problem(answer, far.where.name, "run `dispatch wait`", far.where.runner["host"])
                    or f"runner `{far.where.name}` answered something that is not dispatch's JSON: check that "
                       f"runners.{far.where.name}.dispatch runs dispatch there (`dispatch runners`)")
            if answer.unreachable:  # it may come back (sshd restarted, the network back): tried again
                far.retry_later()
                if far.where.name not in self.unreachable:
                    self.unreachable.add(far.where.name)
                    self.warn(f"{said}; {'waiting on the other tasks and ' if self.many else ''}"
                              "trying again until it answers")
                return news
            self.failed.append(far.where.name)
            if self.many:
                self.warn(f"{said}; waiting on the other tasks")
            else:
                raise DispatchError(said)
        return news

    def nothing(self, ids: list[str], timeout: float | None) -> DispatchError:
        """Why the wait ends without news: the time is up, nothing to wait for anywhere, or nowhere that answered."""
        if self.timed_out:
            return waiting.timed_out(timeout or 0.0)
        if not self.failed:
            return waiting.nothing_for(ids)
        names = ", ".join(f"`{name}`" for name in self.failed)
        return DispatchError(f"nothing to wait for but the tasks on runner {names}, which answered with an error "
                             "(said above): `dispatch runners` checks each runner")


def _news(answer: ssh.Answer) -> list[Notice]:
    """What a runner's `wait --json` printed, whatever its exit code: hung up on after printing, it told it."""
    try:
        return [Notice.from_json(item) for item in json.loads(answer.stdout)["items"]]
    except (ValueError, KeyError, TypeError, AttributeError):
        return []
