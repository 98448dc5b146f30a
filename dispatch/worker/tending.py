"""What a supervisor does for its worker and the queue: on a question, tell the person and give its slot away.

A worker's own `dispatch ask` does neither (see task.asking.Asked.tended): a confined worker may not start
workers nor write the repository's state, and one rule for every worker is the one to trust. The ask leaves
a marker in the task's `asking/` folder, the one runtime folder the worker may write; the supervisor, which
runs unconfined, polls it while it waits for the worker.
"""

from __future__ import annotations

from collections.abc import Callable

from dispatch.repo import Repo
from dispatch.task import asking, notify


class Questions:
    """The worker's questions as its supervisor sees them: `look` acts on one asked since the last look."""

    def __init__(self, repo: Repo, task_id: str, say: Callable[[str], None]) -> None:
        self.repo, self.task_id, self.say = repo, task_id, say
        data = asking.asked_now(repo, task_id)
        self.seen = None if data is None else data.get("number")  # an earlier run's: told then

    def look(self) -> None:
        """When the worker asked a question since the last look: notify, and start what its slot lets run.
        Never raises: the supervisor's own work comes first."""
        try:
            data = asking.asked_now(self.repo, self.task_id)
            if data is None or data.get("number") == self.seen:
                return
            self.seen = data.get("number")
            event = data["event"] if isinstance(data.get("event"), dict) else {}
            if not data.get("told"):  # a person's own `ask` tells them itself
                # Data the worker wrote: it speaks for its own task only, and only of a question.
                notify.notify(self.repo, {**event, "task": self.task_id, "kind": "question", "number": self.seen})
            advance_queue(self.repo, self.say)
        except Exception as e:  # noqa: BLE001 - a notification or a queued start is not worth the worker's record
            self.say(f"could not act on the worker's question: {e}")


def advance_queue(repo: Repo, say: Callable[[str], None]) -> None:
    """A slot is free (a worker ended, or waits on an answer): start whatever waited for that."""
    from dispatch import config
    from dispatch.worker import queue, scheduler

    if not queue.has_work(repo):
        return
    try:
        for started in scheduler.advance(repo, config.load(repo.root)):
            say(f"started queued task {started}")
    except Exception as e:  # noqa: BLE001 - the next dispatch command advances it anyway
        say(f"could not advance the queue: {e}")
