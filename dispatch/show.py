"""The whole of one task: checklist, questions, commits and files changed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dispatch import clock, git
from dispatch.config import Config
from dispatch.repo import Repo
from dispatch.status import TaskStatus, collect
from dispatch.tasks import get_task, task_texts


@dataclass
class TaskDetail:
    status: TaskStatus
    items: list[dict[str, Any]] = field(default_factory=list)
    questions: list[dict[str, Any]] = field(default_factory=list)
    commits: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = self.status.to_json()
        data.update(items=self.items, questions=self.questions, commits=self.commits, files=self.files)
        return data


def show(repo: Repo, cfg: Config, task_id: str) -> TaskDetail:
    from dispatch.plan import PlanError, parse_plan
    from dispatch.questions import parse_questions

    task = get_task(repo, cfg, task_id)
    status = collect(repo, cfg, [task_id])[0]
    detail = TaskDetail(status)
    plan_text, questions_text = task_texts(repo, task)
    if plan_text is not None:
        try:
            plan = parse_plan(plan_text)
            detail.items = [
                {"mark": i.mark, "text": i.text, "detail": i.detail} for i in plan.items
            ]
        except PlanError:
            pass  # status.problem already says why
    if questions_text is not None:
        detail.questions = [
            {"number": q.number, "text": q.text, "asked": q.asked, "answer": q.answer, "answered": q.answered}
            for q in parse_questions(questions_text).questions
        ]
    if task.tip is not None:
        base = git.resolve_base(repo.root, status.base) if status.base else None
        base = base or status.base_commit
        if base:
            merge_base = git.run(["merge-base", base, task.tip.sha], cwd=repo.root, check=False).stdout.strip()
            if merge_base:
                detail.commits = _commits(repo, merge_base, task.tip.sha)
                detail.files = _files(repo, merge_base, task.tip.sha)
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
