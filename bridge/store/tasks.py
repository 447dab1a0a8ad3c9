"""``store.tasks``: error-tracker (Sentry, Bugsink) issues filed as JIRA Tasks related to Bugs.

A Task is never linked to a customer ticket; one error issue has one Task, which may be
related to several Bugs.
"""

from __future__ import annotations

import sqlalchemy.exc
from sqlalchemy import update
from sqlmodel import col, select

from bridge.store.tables import Escalation, RelatedTask, RelatedTaskLink, utcnow
from bridge.store.transactions import NO_SYNC, Repository, get_for_update

__all__ = ["TaskRepository"]


class TaskRepository(Repository):
    """Related Tasks and which escalations' Bugs they are related to."""

    def record_intent(
        self,
        *,
        sentry_issue_id: str,
        label: str,
        sentry_short_id: str | None = None,
        sentry_permalink: str | None = None,
    ) -> tuple[RelatedTask, bool]:
        """Record that a Task is about to be filed for an error issue — before calling JIRA.

        ``(task, True)`` when this call inserted it; ``(existing, False)`` otherwise.
        """
        task = RelatedTask(
            sentry_issue_id=sentry_issue_id,
            sentry_short_id=sentry_short_id,
            sentry_permalink=sentry_permalink,
            label=label,
            state="intent",
            created_at=utcnow(),
        )
        try:
            with self.session() as s:
                s.add(task)
            return task, True
        except sqlalchemy.exc.IntegrityError:
            existing = self.by_error_issue(sentry_issue_id)
            if existing is None:
                raise
            return existing, False

    def mark_created(self, task_id: int, *, jira_issue_id: str, jira_key: str) -> RelatedTask:
        """Record the Task JIRA created for the error issue."""
        with self.session() as s:
            task = get_for_update(s, RelatedTask, task_id)
            if task.jira_issue_id not in (None, jira_issue_id):
                raise ValueError(f"task {task.label} is already issue {task.jira_issue_id}, not {jira_issue_id}")
            task.jira_issue_id = jira_issue_id
            task.jira_key = jira_key
            task.state = "created"
            s.add(task)
            return task

    def by_error_issue(self, sentry_issue_id: str) -> RelatedTask | None:
        """The Task filed for this error-tracker issue."""
        with self.session() as s:
            return s.exec(select(RelatedTask).where(RelatedTask.sentry_issue_id == sentry_issue_id)).first()

    def relate(self, task_id: int, escalation_id: int) -> bool:
        """Record that the Task is related to the escalation's Bug; False if it already was."""
        try:
            with self.session() as s:
                s.add(RelatedTaskLink(related_task_id=task_id, escalation_id=escalation_id))
            return True
        except sqlalchemy.exc.IntegrityError:
            with self.session() as s:
                found = s.exec(
                    select(RelatedTaskLink).where(
                        RelatedTaskLink.related_task_id == task_id,
                        RelatedTaskLink.escalation_id == escalation_id,
                    )
                ).first()
            if found is None:  # a missing task or escalation (foreign key)
                raise
            return False

    def all(self) -> list[RelatedTask]:
        """Every Task filed for an error issue (the outbound gate learns their ids)."""
        with self.session() as s:
            return list(s.exec(select(RelatedTask).order_by(col(RelatedTask.id))).all())

    def of(self, escalation_id: int) -> list[RelatedTask]:
        """The Tasks related to an escalation's Bug."""
        with self.session() as s:
            return list(
                s.exec(
                    select(RelatedTask)
                    .join(RelatedTaskLink, col(RelatedTaskLink.related_task_id) == col(RelatedTask.id))
                    .where(RelatedTaskLink.escalation_id == escalation_id)
                    .order_by(col(RelatedTask.id))
                ).all()
            )

    def escalations_of(self, task_id: int) -> list[Escalation]:
        """The escalations whose Bugs a Task is related to."""
        with self.session() as s:
            return list(
                s.exec(
                    select(Escalation)
                    .join(RelatedTaskLink, col(RelatedTaskLink.escalation_id) == col(Escalation.id))
                    .where(RelatedTaskLink.related_task_id == task_id)
                    .order_by(col(Escalation.id))
                ).all()
            )

    def record_error_status(self, task_id: int, status: str | None) -> None:
        """Record the error tracker's status of the Task's issue as sync last read it."""
        with self.session() as s:
            result = s.exec(
                update(RelatedTask).where(col(RelatedTask.id) == task_id)
                .values(last_error_status=status).execution_options(**NO_SYNC)
            )
            if result.rowcount != 1:
                raise LookupError(f"no related_task with id {task_id}")

    def flag_regression(self, task_id: int, escalation_id: int, flagged: bool = True) -> None:
        """Mark (or clear) that the Task's error issue is unresolved again while the
        escalation's Bug is resolved, so the regression is reported once."""
        with self.session() as s:
            result = s.exec(
                update(RelatedTaskLink)
                .where(
                    col(RelatedTaskLink.related_task_id) == task_id,
                    col(RelatedTaskLink.escalation_id) == escalation_id,
                )
                .values(regression_flagged=flagged).execution_options(**NO_SYNC)
            )
            if result.rowcount != 1:
                raise LookupError(f"task {task_id} is not related to escalation {escalation_id}")

    def regressions_of(self, escalation_id: int) -> list[str]:
        """The error issues flagged as regressed for an escalation, by short id where known
        (what ``bridge status`` and the board show)."""
        with self.session() as s:
            rows = s.exec(
                select(RelatedTask.sentry_short_id, RelatedTask.sentry_issue_id)
                .join(RelatedTaskLink, col(RelatedTaskLink.related_task_id) == col(RelatedTask.id))
                .where(RelatedTaskLink.escalation_id == escalation_id, col(RelatedTaskLink.regression_flagged))
            ).all()
        return sorted(short_id or issue_id for short_id, issue_id in rows)
