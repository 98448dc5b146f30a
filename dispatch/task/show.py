"""The whole of one task: checklist, questions, commits and files changed."""

from __future__ import annotations

from dataclasses import dataclass, field

from dispatch import clock, git
from dispatch.config import Config
from dispatch.repo import Repo
from dispatch.task.branchview import KEPT_PREFIX
from dispatch.task.model import list_tasks
from dispatch.task.record import load_one
from dispatch.task.status import TaskStatus, of
from dispatch.typed import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any


@dataclass
class TaskDetail:
    status: TaskStatus
    items: list[dict[str, Any]] = field(default_factory=list)
    questions: list[dict[str, Any]] = field(default_factory=list)
    commits: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, str]] = field(default_factory=list)
    kept: list[dict[str, str]] = field(default_factory=list)  # commits kept aside by its confined worker's sync

    def to_json(self) -> dict[str, Any]:
        data = self.status.to_json()
        data.update(items=self.items, questions=self.questions, commits=self.commits, files=self.files,
                    kept=self.kept)
        return data


def show(repo: Repo, cfg: Config, task_id: str) -> TaskDetail:
    from dispatch.task.questions import parse_questions

    live = list_tasks(repo, cfg)
    record = load_one(repo, cfg, task_id, live)
    detail = TaskDetail(of(repo, [record], live=set(live))[0])
    if record.plan is not None:  # else status.problem says why
        detail.items = [{"mark": i.mark, "text": i.text, "detail": i.detail} for i in record.plan.items]
    if record.questions_text is not None:
        detail.questions = [
            {"number": q.number, "text": q.text, "asked": q.asked, "answer": q.answer, "answered": q.answered}
            for q in parse_questions(record.questions_text).questions
        ]
    task, base = record.ref, record.base_sha
    if task.tip is not None and base:
        merge_base = git.run(["merge-base", base, task.tip.sha], cwd=repo.root, check=False).stdout.strip()
        if merge_base:
            detail.commits = _commits(repo, merge_base, task.tip.sha)
            detail.files = _files(repo, merge_base, task.tip.sha)
    # What was committed here while its confined worker committed in its sandbox (dispatch.task.branchview).
    detail.kept = [{"ref": ref.name, "sha": ref.sha, "subject": ref.subject}
                   for ref in git.refs(repo.root, f"{KEPT_PREFIX}{task_id}/")]
    return detail


def _commits(repo: Repo, merge_base: str, tip: str) -> list[dict[str, Any]]:
    text = git.out(["log", "--format=%H%x00%ct%x00%s", f"{merge_base}..{tip}"], cwd=repo.root)
    commits = []
    for line in text.splitlines():
        sha, when, subject = line.split("\0", 2)
        commits.append({"sha": sha, "time": clock.iso(int(when)), "subject": subject})
    return commits


def _files(repo: Repo, merge_base: str, tip: str) -> list[dict[str, str]]:
    """Files changed against the merge base, task files left out."""
    text = git.run(
        ["diff", "--name-status", "-z", "-M", merge_base, tip, "--", ".", ":(exclude).dispatch"], cwd=repo.root
    ).stdout
    fields = git.zsplit(text)
    files, i = [], 0
    while i < len(fields):
        letter = fields[i][0]
        if letter in "RC":
            files.append({"status": letter, "path": fields[i + 2], "from": fields[i + 1]})
            i += 3
        else:
            files.append({"status": letter, "path": fields[i + 1]})
            i += 2
    return files
