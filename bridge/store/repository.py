"""The queries the engine makes of the state store.

:class:`Store` wraps an engine and offers one method per question or fact the escalate and
sync engines have, each in its own short transaction. The methods that protect an
invariant are race-safe across threads and processes on SQLite and PostgreSQL alike,
because they lean on a unique constraint or a conditional UPDATE rather than on
read-then-write:

- :meth:`Store.record_intent` — one escalation per label, however many runs race;
- :meth:`Store.outbox_claim` — one claim per idempotency key;
- :meth:`Store.acquire_lease` — one holder per lease until it expires.

Rows come back detached from their session with their attributes loaded: read them freely,
change the store only through these methods.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar

import sqlalchemy.exc
from sqlalchemy import Engine, delete, func, update
from sqlmodel import Session, col, select

from bridge.store.tables import (
    AuditEntry,
    Escalation,
    Lease,
    LinkedTicket,
    OutboxEntry,
    RelatedTask,
    RelatedTaskLink,
    SyncCursor,
    utcnow,
)
from bridge.store.urls import connection_error

__all__ = ["AUDIT_RESULTS", "Store"]

AuditResult = Literal["ok", "failed", "denied", "skipped"]
AUDIT_RESULTS: frozenset[str] = frozenset({"ok", "failed", "denied", "skipped"})
# Audit and outbox errors are for people skimming a list, not for dumps of response bodies
# (which could carry customer data).
_MAX_DETAIL = 500
# ORM-enabled UPDATE/DELETE would otherwise try to sync objects in a session that holds none.
_NO_SYNC = {"synchronize_session": False}
_Row = TypeVar("_Row", Escalation, RelatedTask)


def _encode(value: Any) -> str:
    """JSON text for a payload column: stable key order so equal payloads compare equal."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"


class Store:
    """The bridge's state store. Build it with :func:`bridge.store.db.open_store`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def close(self) -> None:
        """Release the store's connections."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits when the block ends and rolls back on error.

        Objects stay readable after the block (``expire_on_commit=False``). A failure to
        *connect* becomes :class:`bridge.errors.ConfigError` with the masked URL.
        """
        try:
            with Session(self.engine, expire_on_commit=False) as session:
                try:
                    yield session
                    session.commit()
                except BaseException:
                    session.rollback()
                    raise
        except sqlalchemy.exc.DBAPIError as exc:
            if exc.statement is None or exc.connection_invalidated:
                raise connection_error(exc, self.engine.url) from None
            raise

    # -- escalations -------------------------------------------------------------------

    def escalation(self, escalation_id: int) -> Escalation | None:
        """The escalation with this row id."""
        with self.session() as s:
            return s.get(Escalation, escalation_id)

    def escalation_by_label(self, label: str) -> Escalation | None:
        """The escalation with this deterministic label (also the label on its Bug)."""
        with self.session() as s:
            return s.exec(select(Escalation).where(Escalation.label == label)).first()

    def escalation_by_issue(self, jira_issue_id: str) -> Escalation | None:
        """The escalation of the JIRA issue with this (immutable) id."""
        with self.session() as s:
            return s.exec(select(Escalation).where(Escalation.jira_issue_id == jira_issue_id)).first()

    def escalation_by_key(self, jira_key: str) -> Escalation | None:
        """The escalation whose issue had this key when last seen (keys change on moves:
        prefer :meth:`escalation_by_issue` whenever the id is known)."""
        with self.session() as s:
            return s.exec(select(Escalation).where(Escalation.jira_key == jira_key)).first()

    def escalation_by_ticket(self, helpdesk: str, ticket_id: str) -> Escalation | None:
        """The escalation this ticket is linked to, as origin or as a joined ticket."""
        with self.session() as s:
            return s.exec(
                select(Escalation)
                .join(LinkedTicket, col(LinkedTicket.escalation_id) == col(Escalation.id))
                .where(LinkedTicket.helpdesk == helpdesk, LinkedTicket.ticket_id == ticket_id)
            ).first()

    def escalations(self, *, states: Iterable[str] | None = None) -> list[Escalation]:
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
            existing = self.escalation_by_label(label) or self.escalation_by_ticket(
                origin_helpdesk, origin_ticket_id
            )
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
            escalation = self._get_for_update(s, Escalation, escalation_id)
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
            escalation = self._get_for_update(s, Escalation, escalation_id)
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
            escalation = self._get_for_update(s, Escalation, escalation_id)
            escalation.jira_key = jira_key
            escalation.jira_url = jira_url or escalation.jira_url
            escalation.last_status = status
            escalation.last_resolution = resolution
            escalation.last_fix_versions = _encode(list(fix_versions))
            escalation.last_jira_updated = jira_updated
            escalation.updated_at = utcnow()
            s.add(escalation)
            return escalation

    def set_severity(self, escalation_id: int, *, severity: str, priority: str) -> Escalation:
        """Record a new severity and JIRA priority (``bridge escalate --emergency`` on an
        escalation made at a lower severity)."""
        with self.session() as s:
            escalation = self._get_for_update(s, Escalation, escalation_id)
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
                .execution_options(**_NO_SYNC)
            )
            return s.exec(select(Escalation.pages_sent).where(Escalation.id == escalation_id)).one()

    # -- linked tickets -------------------------------------------------------------------

    def link_ticket(
        self,
        escalation_id: int,
        helpdesk: str,
        ticket_id: str,
        *,
        role: str = "joined",
        locale: str | None = None,
        requester_tier: str | None = None,
    ) -> tuple[LinkedTicket, bool]:
        """Attach a ticket to an escalation and keep ``affected_count`` current.

        Returns ``(link, True)`` when this call linked it, ``(existing, False)`` when the
        ticket was already linked — possibly to *another* escalation (check
        ``existing.escalation_id``): a ticket belongs to one Bug.
        """
        link = LinkedTicket(
            escalation_id=escalation_id,
            helpdesk=helpdesk,
            ticket_id=ticket_id,
            role=role,
            locale=locale,
            requester_tier=requester_tier,
            linked_at=utcnow(),
        )
        try:
            with self.session() as s:
                s.add(link)
                s.flush()
                self._refresh_affected_count(s, escalation_id)
            return link, True
        except sqlalchemy.exc.IntegrityError:
            existing = self.linked_ticket(helpdesk, ticket_id)
            if existing is None:  # e.g. the escalation does not exist (foreign key)
                raise
            return existing, False

    @staticmethod
    def _refresh_affected_count(s: Session, escalation_id: int) -> None:
        count = (
            select(func.count()).select_from(LinkedTicket).where(LinkedTicket.escalation_id == escalation_id)
        )
        s.exec(
            update(Escalation)
            .where(col(Escalation.id) == escalation_id)
            .values(affected_count=count.scalar_subquery(), updated_at=utcnow())
            .execution_options(**_NO_SYNC)
        )

    def linked_ticket(self, helpdesk: str, ticket_id: str) -> LinkedTicket | None:
        """The link of this ticket, whichever escalation it belongs to."""
        with self.session() as s:
            return s.exec(
                select(LinkedTicket).where(
                    LinkedTicket.helpdesk == helpdesk, LinkedTicket.ticket_id == ticket_id
                )
            ).first()

    def links_by_escalation(self) -> dict[int, list[LinkedTicket]]:
        """Every linked ticket, grouped by escalation, in one query (sync reads them all
        each run; one query per escalation would make a run O(escalations) round trips)."""
        grouped: dict[int, list[LinkedTicket]] = {}
        with self.session() as s:
            for link in s.exec(select(LinkedTicket).order_by(col(LinkedTicket.id))).all():
                grouped.setdefault(link.escalation_id, []).append(link)
        return grouped

    def outbox_entries_by_key(self, keys: Iterable[str]) -> dict[str, OutboxEntry]:
        """The outbox entries with these keys, in one query per thousand keys."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, OutboxEntry] = {}
        with self.session() as s:
            for start in range(0, len(wanted), 1000):
                chunk = wanted[start:start + 1000]
                for entry in s.exec(select(OutboxEntry).where(col(OutboxEntry.key).in_(chunk))).all():
                    found[entry.key] = entry
        return found

    def linked_tickets(self, escalation_id: int) -> list[LinkedTicket]:
        """The tickets of an escalation, the origin first, then in the order they joined."""
        with self.session() as s:
            return list(
                s.exec(
                    select(LinkedTicket)
                    .where(LinkedTicket.escalation_id == escalation_id)
                    .order_by(col(LinkedTicket.id))
                ).all()
            )

    def record_announcement(
        self, helpdesk: str, ticket_id: str, state: str, *, at: datetime | None = None
    ) -> None:
        """Record that the customer of this ticket was told about ``state`` (a public update)."""
        self._update_link(
            helpdesk, ticket_id, last_announced_state=state, last_public_update_at=at or utcnow()
        )

    def record_state(self, helpdesk: str, ticket_id: str, state: str) -> None:
        """Record the state a ticket is in without a public message (an internal note stood
        for it): the SLA clocks do not count it as an update to the customer."""
        self._update_link(helpdesk, ticket_id, last_announced_state=state)

    def record_public_update(self, helpdesk: str, ticket_id: str, *, at: datetime | None = None) -> None:
        """Record a public message to the customer that announced no state (SLA clock)."""
        self._update_link(helpdesk, ticket_id, last_public_update_at=at or utcnow())

    def set_waiting_on_customer(self, helpdesk: str, ticket_id: str, since: datetime | None) -> None:
        """Start (a time) or stop (None) the waiting-on-customer pause of the SLA clock."""
        self._update_link(helpdesk, ticket_id, waiting_on_customer_since=since)

    def _update_link(self, helpdesk: str, ticket_id: str, **values: Any) -> None:
        with self.session() as s:
            result = s.exec(
                update(LinkedTicket)
                .where(col(LinkedTicket.helpdesk) == helpdesk, col(LinkedTicket.ticket_id) == ticket_id)
                .values(**values)
                .execution_options(**_NO_SYNC)
            )
            if result.rowcount != 1:
                raise LookupError(f"{helpdesk} ticket {ticket_id} is not linked to an escalation")

    # -- related tasks (Sentry) ---------------------------------------------------------

    def record_task_intent(
        self,
        *,
        sentry_issue_id: str,
        label: str,
        sentry_short_id: str | None = None,
        sentry_permalink: str | None = None,
    ) -> tuple[RelatedTask, bool]:
        """Record that a Task is about to be filed for a Sentry issue — before calling JIRA.

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
            existing = self.task_by_sentry(sentry_issue_id)
            if existing is None:
                raise
            return existing, False

    def mark_task_created(self, task_id: int, *, jira_issue_id: str, jira_key: str) -> RelatedTask:
        """Record the Task JIRA created for the Sentry issue."""
        with self.session() as s:
            task = self._get_for_update(s, RelatedTask, task_id)
            if task.jira_issue_id not in (None, jira_issue_id):
                raise ValueError(
                    f"task {task.label} is already issue {task.jira_issue_id}, not {jira_issue_id}"
                )
            task.jira_issue_id = jira_issue_id
            task.jira_key = jira_key
            task.state = "created"
            s.add(task)
            return task

    def task_by_sentry(self, sentry_issue_id: str) -> RelatedTask | None:
        """The Task filed for this Sentry issue."""
        with self.session() as s:
            return s.exec(select(RelatedTask).where(RelatedTask.sentry_issue_id == sentry_issue_id)).first()

    def relate_task(self, task_id: int, escalation_id: int) -> bool:
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

    def related_tasks(self) -> list[RelatedTask]:
        """Every Task filed for a Sentry issue (the outbound gate learns their ids)."""
        with self.session() as s:
            return list(s.exec(select(RelatedTask).order_by(col(RelatedTask.id))).all())

    def tasks_for(self, escalation_id: int) -> list[RelatedTask]:
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

    def escalations_for_task(self, task_id: int) -> list[Escalation]:
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

    # -- outbox ---------------------------------------------------------------------------

    def outbox_claim(
        self,
        key: str,
        *,
        target: str,
        kind: str,
        payload: Mapping[str, Any] | None = None,
        escalation_id: int | None = None,
    ) -> bool:
        """Claim the right to perform the external write ``key``; True means "do it now".

        True when this call created the entry, or took over one that ``failed`` earlier
        (``attempts`` counts the tries). False when the key is ``sent``, or ``pending``: a
        write is under way elsewhere, or a process died during it. Only the engine holding
        the sync lease may resolve such an orphan, after checking the helpdesk's own marker:
        :meth:`outbox_done` if the write landed, else :meth:`outbox_failed` and claim again.
        """
        now = utcnow()
        try:
            with self.session() as s:
                retried = s.exec(
                    update(OutboxEntry)
                    .where(col(OutboxEntry.key) == key, col(OutboxEntry.state) == "failed")
                    .values(state="pending", attempts=OutboxEntry.attempts + 1)
                    .execution_options(**_NO_SYNC)
                )
                if retried.rowcount == 1:
                    return True
                s.add(
                    OutboxEntry(
                        key=key,
                        escalation_id=escalation_id,
                        target=target,
                        kind=kind,
                        payload=_encode(dict(payload or {})),
                        state="pending",
                        attempts=1,
                        created_at=now,
                    )
                )
            return True
        except sqlalchemy.exc.IntegrityError:
            if self.outbox_entry(key) is None:  # not the key's unique constraint
                raise
            return False

    def outbox_done(self, key: str, *, at: datetime | None = None) -> None:
        """Record that the write ``key`` was performed."""
        self._finish(key, state="sent", sent_at=at or utcnow(), last_error=None)

    def outbox_failed(self, key: str, error: str) -> None:
        """Record that the write ``key`` failed (``error`` must not hold secrets); the next
        :meth:`outbox_claim` of the key may try again."""
        self._finish(key, state="failed", last_error=_short(error))

    def _finish(self, key: str, **values: Any) -> None:
        with self.session() as s:
            result = s.exec(
                update(OutboxEntry)
                .where(col(OutboxEntry.key) == key)
                .values(**values)
                .execution_options(**_NO_SYNC)
            )
            if result.rowcount != 1:
                raise LookupError(f"no outbox entry {key!r}: claim it first")

    def outbox_entry(self, key: str) -> OutboxEntry | None:
        """The outbox entry with this key."""
        with self.session() as s:
            return s.exec(select(OutboxEntry).where(OutboxEntry.key == key)).first()

    def outbox_entries(
        self,
        *,
        states: Iterable[str] | None = ("pending", "failed"),
        escalation_id: int | None = None,
        key_prefix: str | None = None,
    ) -> list[OutboxEntry]:
        """Outbox entries, oldest first; by default the unfinished ones (to retry or resolve)."""
        query = select(OutboxEntry).order_by(col(OutboxEntry.id))
        if states is not None:
            query = query.where(col(OutboxEntry.state).in_(list(states)))
        if escalation_id is not None:
            query = query.where(OutboxEntry.escalation_id == escalation_id)
        if key_prefix is not None:
            query = query.where(col(OutboxEntry.key).startswith(key_prefix, autoescape=True))
        with self.session() as s:
            return list(s.exec(query).all())

    @staticmethod
    def outbox_payload(entry: OutboxEntry) -> dict[str, Any]:
        """The entry's payload, decoded."""
        decoded: dict[str, Any] = json.loads(entry.payload)
        return decoded

    # -- audit ------------------------------------------------------------------------------

    def audit(
        self, actor: str, action: str, target: str, result: AuditResult, detail: str = ""
    ) -> AuditEntry:
        """Record an external write or a refusal. ``detail`` is short and never a secret."""
        if result not in AUDIT_RESULTS:
            raise ValueError(f"audit result {result!r} is not one of {sorted(AUDIT_RESULTS)}")
        entry = AuditEntry(
            at=utcnow(), actor=actor, action=action, target=target, result=result, detail=_short(detail)
        )
        with self.session() as s:
            s.add(entry)
        return entry

    def audit_entries(self, *, target: str | None = None, limit: int | None = 100) -> list[AuditEntry]:
        """The newest audit entries first, optionally only those about ``target``."""
        query = select(AuditEntry).order_by(col(AuditEntry.id).desc()).limit(limit)
        if target is not None:
            query = query.where(AuditEntry.target == target)
        with self.session() as s:
            return list(s.exec(query).all())

    # -- cursors ----------------------------------------------------------------------------

    def get_cursor(self, name: str) -> str | None:
        """The value of the named high-water mark, or None before the first run."""
        with self.session() as s:
            cursor = s.get(SyncCursor, name)
            return cursor.value if cursor else None

    def set_cursor(self, name: str, value: str) -> None:
        """Set the named high-water mark (last write wins: only the lease holder writes)."""
        with self.session() as s:
            cursor = s.get(SyncCursor, name)
            if cursor is None:
                cursor = SyncCursor(name=name, value=value)
            cursor.value = value
            cursor.updated_at = utcnow()
            s.add(cursor)

    # -- leases -----------------------------------------------------------------------------

    def acquire_lease(self, name: str, holder: str, ttl: timedelta, *, now: datetime | None = None) -> bool:
        """Take the lease ``name`` for ``ttl`` unless someone else holds an unexpired one.

        One transaction: take over the row if it is expired or already ours (a conditional
        UPDATE, atomic on every backend), else insert it; if another process inserted it
        first, its unique key refuses ours. Re-acquiring one's own lease renews it.
        """
        now = now or utcnow()
        expires = now + ttl
        try:
            with self.session() as s:
                taken = s.exec(
                    update(Lease)
                    .where(
                        col(Lease.name) == name,
                        (col(Lease.expires_at) <= now) | (col(Lease.holder) == holder),
                    )
                    .values(holder=holder, expires_at=expires)
                    .execution_options(**_NO_SYNC)
                )
                if taken.rowcount == 1:
                    return True
                s.add(Lease(name=name, holder=holder, expires_at=expires))
            return True
        except sqlalchemy.exc.IntegrityError:
            return False

    def renew_lease(self, name: str, holder: str, ttl: timedelta, *, now: datetime | None = None) -> bool:
        """Extend a lease we hold; False when another holder has taken it over meanwhile."""
        now = now or utcnow()
        with self.session() as s:
            renewed = s.exec(
                update(Lease)
                .where(col(Lease.name) == name, col(Lease.holder) == holder)
                .values(expires_at=now + ttl)
                .execution_options(**_NO_SYNC)
            )
            return renewed.rowcount == 1

    def release_lease(self, name: str, holder: str) -> bool:
        """Give the lease up; False if ``holder`` did not hold it (nothing is changed)."""
        with self.session() as s:
            released = s.exec(
                delete(Lease)
                .where(col(Lease.name) == name, col(Lease.holder) == holder)
                .execution_options(**_NO_SYNC)
            )
            return released.rowcount == 1

    def lease(self, name: str) -> Lease | None:
        """Who holds the lease ``name`` and until when (possibly expired)."""
        with self.session() as s:
            return s.get(Lease, name)

    # -- internals --------------------------------------------------------------------------

    @staticmethod
    def _get_for_update(s: Session, model: type[_Row], row_id: int) -> _Row:
        # FOR UPDATE on PostgreSQL serialises concurrent read-modify-write of one row;
        # SQLite's BEGIN IMMEDIATE already does, and ignores the clause.
        row = s.get(model, row_id, with_for_update=True)
        if row is None:
            raise LookupError(f"no {model.__tablename__} with id {row_id}")
        return row
