"""``store.escalations``: one row per JIRA Bug the bridge escalated to.

:meth:`EscalationRepository.record_intent` is race-safe across threads and processes on
SQLite and PostgreSQL alike — one escalation per label and per ticket however many runs
race — because it leans on unique constraints rather than on read-then-write.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import sqlalchemy.exc
from sqlalchemy import update
from sqlmodel import col, select

from bridge.store.tables import Escalation, LinkedTicket, utcnow
from bridge.store.transactions import NO_SYNC, Repository, encode, get_for_update

__all__ = ["EscalationRepository"]


class EscalationRepository(Repository):
    """Escalations: looked up by row id, label, JIRA issue id or key, or one of their tickets."""

    def get(self, escalation_id: int) -> Escalation | None:
        """The escalation with this row id."""
        with self.session() as s:
            return s.get(Escalation, escalation_id)

    def by_label(self, label: str) -> Escalation | None:
        """The escalation with this deterministic label (also the label on its Bug)."""
        with self.session() as s:
            return s.exec(select(Escalation).where(Escalation.label == label)).first()

    def by_issue(self, jira_issue_id: str) -> Escalation | None:
        """The escalation of the JIRA issue with this (immutable) id."""
        with self.session() as s:
            return s.exec(select(Escalation).where(Escalation.jira_issue_id == jira_issue_id)).first()

    def by_key(self, jira_key: str) -> Escalation | None:
        """The escalation whose issue had this key when last seen (keys change on moves:
        prefer :meth:`by_issue` whenever the id is known)."""
        with self.session() as s:
            return s.exec(select(Escalation).where(Escalation.jira_key == jira_key)).first()

    def by_ticket(self, helpdesk: str, ticket_id: str) -> Escalation | None:
        """The escalation this ticket is linked to, as origin or as a joined ticket."""
        with self.session() as s:
            return s.exec(
                select(Escalation)
                .join(LinkedTicket, col(LinkedTicket.escalation_id) == col(Escalation.id))
                .where(LinkedTicket.helpdesk == helpdesk, LinkedTicket.ticket_id == ticket_id)
            ).first()

    def list(self, *, states: Iterable[str] | None = None) -> list[Escalation]:
        """All escalations (oldest first), optionally only those in ``states``."""
        query = select(Escalation).order_by(col(Escalation.id))
        if states is not None:
            query = query.where(col(Escalation.state).in_(list(states)))
        with self.session() as s:
            return list(s.exec(query).all())

    def record_intent(
        self,
        *,
        label: str,
        origin_helpdesk: str,
        origin_ticket_id: str,
        severity: str,
        priority: str,
        profile: str,
        escalated_by: str,
        opened_at: datetime,
        tier: str | None = None,
        organization: str | None = None,
        locale: str | None = None,
        requester_tier: str | None = None,
    ) -> tuple[Escalation, bool]:
        """Record that the bridge is about to create a Bug — call this *before* JIRA.

        Inserts the escalation in state ``intent`` together with the origin ticket's link,
        in one transaction. Returns ``(escalation, True)`` when this call inserted it, and
        ``(existing, False)`` when an escalation with this label exists, or the ticket is
        already linked to another escalation (check ``existing.label``): the unique
        constraints decide, so of any number of racing callers exactly one gets True.
        """
        now = utcnow()
        escalation = Escalation(
            label=label,
            origin_helpdesk=origin_helpdesk,
            origin_ticket_id=origin_ticket_id,
            state="intent",
            severity=severity,
            priority=priority,
            profile=profile,
            tier=tier,
            organization=organization,
            escalated_by=escalated_by,
            opened_at=opened_at,
            created_at=now,
            updated_at=now,
            affected_count=1,
        )
        try:
            with self.session() as s:
                s.add(escalation)
                s.flush()
                assert escalation.id is not None
                s.add(
                    LinkedTicket(
                        escalation_id=escalation.id,
                        helpdesk=origin_helpdesk,
                        ticket_id=origin_ticket_id,
                        role="origin",
                        locale=locale,
                        requester_tier=requester_tier,
                        linked_at=now,
                    )
                )
            return escalation, True
        except sqlalchemy.exc.IntegrityError:
            existing = self.by_label(label) or self.by_ticket(origin_helpdesk, origin_ticket_id)
            if existing is None:  # a constraint other than the two unique keys: a real error
                raise
            return existing, False

    def mark_created(
        self, escalation_id: int, *, jira_issue_id: str, jira_key: str, jira_url: str | None = None
    ) -> Escalation:
        """Record the Bug JIRA created (or that a crashed run's Bug was found by its label).

        Idempotent for the same issue id; raises ``ValueError`` if the escalation already
        points at a different issue, which would mean two Bugs for one escalation.
        """
        with self.session() as s:
            escalation = get_for_update(s, Escalation, escalation_id)
            if escalation.jira_issue_id not in (None, jira_issue_id):
                raise ValueError(
                    f"escalation {escalation.label} is already issue {escalation.jira_issue_id}, "
                    f"not {jira_issue_id}"
                )
            escalation.jira_issue_id = jira_issue_id
            escalation.jira_key = jira_key
            escalation.jira_url = jira_url or escalation.jira_url
            if escalation.state == "intent":
                escalation.state = "created"
            escalation.updated_at = utcnow()
            s.add(escalation)
            return escalation

    def mark_complete(self, escalation_id: int) -> Escalation:
        """Record that every step of the escalation (link, note, acknowledgement) is done."""
        with self.session() as s:
            escalation = get_for_update(s, Escalation, escalation_id)
            if escalation.state == "intent":
                raise ValueError(f"escalation {escalation.label} has no JIRA issue yet")
            escalation.state = "complete"
            escalation.updated_at = utcnow()
            s.add(escalation)
            return escalation

    def record_issue_seen(
        self,
        escalation_id: int,
        *,
        jira_key: str,
        status: str | None,
        resolution: str | None,
        fix_versions: Sequence[str],
        jira_updated: datetime | None,
        jira_url: str | None = None,
    ) -> Escalation:
        """Record what sync last saw of the Bug (its key too: keys change on moves)."""
        with self.session() as s:
            escalation = get_for_update(s, Escalation, escalation_id)
            escalation.jira_key = jira_key
            escalation.jira_url = jira_url or escalation.jira_url
            escalation.last_status = status
            escalation.last_resolution = resolution
            escalation.last_fix_versions = encode(list(fix_versions))
            escalation.last_jira_updated = jira_updated
            escalation.updated_at = utcnow()
            s.add(escalation)
            return escalation

    def set_severity(self, escalation_id: int, *, severity: str, priority: str) -> Escalation:
        """Record a new severity and JIRA priority (``bridge escalate --emergency`` on an
        escalation made at a lower severity)."""
        with self.session() as s:
            escalation = get_for_update(s, Escalation, escalation_id)
            escalation.severity = severity
            escalation.priority = priority
            escalation.updated_at = utcnow()
            s.add(escalation)
            return escalation

    def add_pages_sent(self, escalation_id: int, count: int = 1) -> int:
        """Count pages sent for an emergency escalation; returns the new total."""
        with self.session() as s:
            s.exec(
                update(Escalation)
                .where(col(Escalation.id) == escalation_id)
                .values(pages_sent=Escalation.pages_sent + count, updated_at=utcnow())
                .execution_options(**NO_SYNC)
            )
            return s.exec(select(Escalation.pages_sent).where(Escalation.id == escalation_id)).one()
