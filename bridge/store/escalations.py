"""``store.escalations``: one row per JIRA Bug the bridge escalated to.

:meth:`EscalationRepository.record_intent` is race-safe across threads and processes on
SQLite and PostgreSQL alike — one escalation per label and per ticket however many runs
race — because it leans on unique constraints rather than on read-then-write.

It also hands out the *claim* on creating the Bug: while an escalation is an ``intent``,
exactly one holder (a process and thread) may call JIRA for it. Others get the row with
``claimed=False`` and wait (call :meth:`~EscalationRepository.record_intent` again a moment
later) until the Bug is recorded, the claim expires, or its holder provably dies (same host,
no such process), when the next caller takes the claim over and — since a crashed holder may
have created the Bug already — first looks for the Bug by its label.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import sqlalchemy.exc
from sqlalchemy import update
from sqlmodel import Session, col, select

from bridge.store.holders import Holder, is_provably_dead, this_process
from bridge.store.tables import Escalation, LinkedTicket, utcnow
from bridge.store.transactions import NO_SYNC, Repository, chunks, encode, get_for_update, one_of, update_by_key

__all__ = ["CLAIM_TTL", "EscalationRepository", "clear_sla_checks"]

#: How long a claim on creating a Bug holds without the Bug being recorded: longer than a
#: find-or-create in JIRA takes with its retries, short enough that a holder that died on
#: another host does not block its ticket for long (one on this host is taken over at once).
CLAIM_TTL = timedelta(minutes=15)
_NO_CLAIM: dict[str, Any] = {
    "claim_holder": None, "claim_host": None, "claim_pid": None,
    "claim_process_scope": None, "claim_expires_at": None,
}


class SeenRow(NamedTuple):
    """What :meth:`EscalationRepository.complete_seen_by_issue` answers per Bug."""

    id: int
    #: The Bug's ``updated`` when a pass last went through it (None: never).
    jira_updated: datetime | None


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

    def complete_by_issue(self, issue_ids: Iterable[str]) -> dict[str, Escalation]:
        """The complete escalations of these JIRA issue ids, by issue id (chunked queries:
        a sync pass asks about what changed, never about every escalation)."""
        found: dict[str, Escalation] = {}
        with self.reading() as s:
            for chunk in chunks(sorted(set(issue_ids))):
                # Looked up by issue id alone, the state checked here: with ``state`` in
                # the WHERE, SQLite (no statistics) reads every complete escalation through
                # the state index instead of the chunk's rows through the issue id's.
                for row in s.exec(select(Escalation).where(one_of(s, col(Escalation.jira_issue_id), chunk))):
                    if row.state == "complete":
                        found[row.jira_issue_id] = row
        return found

    def complete_seen_by_issue(self, issue_ids: Iterable[str]) -> dict[str, SeenRow]:
        """The complete escalations of these JIRA issue ids, by issue id: row id and the
        Bug's ``updated`` when a pass last went through it (a pass leases the escalations
        before it reads their rows, and leaves alone those whose Bug is as it last saw it:
        :meth:`bridge.sync.engine.SyncEngine._unchanged`)."""
        found: dict[str, SeenRow] = {}
        with self.reading() as s:
            for chunk in chunks(sorted(set(issue_ids))):
                rows = s.exec(select(Escalation.jira_issue_id, Escalation.id, Escalation.state,
                                     Escalation.last_jira_updated)
                              .where(one_of(s, col(Escalation.jira_issue_id), chunk))).all()
                # The state checked here, not in the query (see complete_by_issue).
                found.update((issue_id, SeenRow(row_id, updated))
                             for issue_id, row_id, state, updated in rows if state == "complete")
        return found

    def by_ids(self, escalation_ids: Iterable[int], *, states: Iterable[str] | None = None) -> dict[int, Escalation]:
        """These escalations by row id (optionally only those in ``states``)."""
        found: dict[int, Escalation] = {}
        with self.reading() as s:
            for chunk in chunks(sorted(set(escalation_ids))):
                query = select(Escalation).where(one_of(s, col(Escalation.id), chunk))
                if states is not None:
                    query = query.where(col(Escalation.state).in_(list(states)))
                found.update((row.id, row) for row in s.exec(query))
        return found

    def never_seen_issue_ids(self) -> list[str]:
        """Issue ids of complete escalations whose Bug sync has never read (just escalated)."""
        with self.session() as s:
            return list(s.exec(select(Escalation.jira_issue_id).where(
                col(Escalation.state) == "complete", col(Escalation.last_jira_updated).is_(None),
                col(Escalation.jira_issue_id).is_not(None))).all())

    def any_fix_versions(self) -> bool:
        """Whether any complete escalation's Bug was last seen with a fix version: only then
        can a version's release (which does not touch the Bugs) matter to a sync pass."""
        with self.session() as s:
            return s.exec(select(Escalation.id).where(
                col(Escalation.state) == "complete", col(Escalation.last_fix_versions).is_not(None),
                col(Escalation.last_fix_versions) != "[]").limit(1)).first() is not None

    def sla_due(self, before: datetime, *, page: int = 1000, only: Iterable[int] | None = None,
                skip: Collection[int] = ()) -> Iterator[list[Escalation]]:
        """Open (unresolved) complete escalations whose SLA clock needs a look before
        ``before`` (or was never computed), in pages by id: the index on
        ``sla_next_check_at`` makes this proportional to what is due, not to every row.
        Those of ``skip`` are left out before their rows are read (a pass skips what it
        has just told its customers: their checks were cleared, so all of them are due)."""
        after = 0
        wanted = None if only is None else sorted(set(only))
        while True:
            query = (select(Escalation.id)
                     .where(col(Escalation.state) == "complete", col(Escalation.last_resolution).is_(None),
                            col(Escalation.id) > after,
                            col(Escalation.sla_next_check_at).is_(None) | (col(Escalation.sla_next_check_at) <= before))
                     .order_by(col(Escalation.id)).limit(page))
            if wanted is not None:
                query = query.where(col(Escalation.id).in_(wanted))
            with self.session() as s:
                ids = list(s.exec(query).all())
                kept = [i for i in ids if i not in skip]
                rows = list(s.exec(select(Escalation).where(one_of(s, col(Escalation.id), kept))
                                   .order_by(col(Escalation.id))).all()) if kept else []
            if not ids:
                return
            if rows:
                yield rows
            after = ids[-1]

    def set_sla_next_checks(self, checks: dict[int, datetime | None]) -> None:
        """Store when each escalation's SLA clock next needs a look (None: at the next pass),
        all in one transaction (one statement on PostgreSQL: :func:`update_by_key`)."""
        if not checks:
            return
        with self.session() as s:
            update_by_key(s, Escalation.__table__, ("id",),  # type: ignore[attr-defined]
                          [{"id": i, "sla_next_check_at": at} for i, at in checks.items()])

    def forget_sla_checks(self, escalation_ids: Iterable[int], *, s: Session | None = None) -> None:
        """The SLA clock inputs of these escalations changed: compute them at the next pass
        (:func:`clear_sla_checks`)."""
        with self.within(s) as session:
            for chunk in chunks(sorted(set(escalation_ids))):
                clear_sla_checks(session, one_of(session, col(Escalation.id), chunk))

    def with_created_tasks(self) -> list[Escalation]:
        """Complete escalations with at least one created related Task (the regression check
        reads only their Tasks)."""
        from bridge.store.tables import RelatedTask, RelatedTaskLink

        tasks = (select(RelatedTaskLink.escalation_id)
                 .join(RelatedTask, col(RelatedTask.id) == col(RelatedTaskLink.related_task_id))
                 .where(col(RelatedTask.state) == "created"))
        with self.session() as s:
            return list(s.exec(select(Escalation).where(col(Escalation.state) == "complete",
                                                        col(Escalation.id).in_(tasks))
                               .order_by(col(Escalation.id))).all())

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
        customer_zone: str | None = None,
        holder: str | None = None,
        claim_ttl: timedelta = CLAIM_TTL,
        now: datetime | None = None,
    ) -> tuple[Escalation, bool]:
        """Claim the ticket's escalation before creating its Bug — call this *before* JIRA.

        Returns ``(escalation, claimed)``; ``claimed`` True means "this caller, and no one
        else, may now find or create the Bug" (then :meth:`mark_created`, which ends the
        claim, or :meth:`release_claim` on failure):

        - a new ticket: the escalation is inserted in state ``intent`` together with the
          origin ticket's link, in one transaction, claimed by ``holder``;
        - an escalation with this label exists: ``(existing, True)`` if it is still an
          intent whose claim is ``holder``'s, expired, released, or held by a provably
          dead process (taken over by a compare-and-swap); else ``(existing, False)`` —
          another caller is creating the Bug, or it exists (``existing.state``);
        - the ticket is linked to another escalation (``--into``): ``(that one, False)``.

        Unique constraints and conditional UPDATEs decide, never a read followed by a
        write: of any number of racing callers on one store, exactly one gets True, and the
        others get the winner's row, never an exception. ``holder`` defaults to this
        process and thread.
        """
        now = now or utcnow()
        me = this_process(holder)
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
            customer_zone=customer_zone,
            escalated_by=escalated_by,
            opened_at=opened_at,
            created_at=now,
            updated_at=now,
            affected_count=1,
            **_claim(me, now + claim_ttl),
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
        if existing.label != label or existing.state != "intent":
            return existing, False
        return self._take_claim(existing, me, now, claim_ttl)

    def _take_claim(self, existing: Escalation, me: Holder, now: datetime, ttl: timedelta) -> tuple[Escalation, bool]:
        """Take over the claim on an intent that is ours, free, expired or provably orphaned."""
        intent = (col(Escalation.id) == existing.id) & (col(Escalation.state) == "intent")
        free = (
            col(Escalation.claim_holder).is_(None)
            | (col(Escalation.claim_holder) == me.name)
            | (col(Escalation.claim_expires_at) <= now)
        )
        with self.session() as s:
            if _set(s, intent & free, _claim(me, now + ttl)):
                return _reread(s, existing.id), True
            if is_provably_dead(existing.claim_host, existing.claim_pid, existing.claim_process_scope):
                # Compare-and-swap: the dead holder's claim exactly as read, else someone
                # else took it over first.
                unchanged = (
                    (col(Escalation.claim_holder) == existing.claim_holder)
                    & (col(Escalation.claim_pid) == existing.claim_pid)
                    & (col(Escalation.claim_expires_at) == existing.claim_expires_at)
                )
                if _set(s, intent & unchanged, _claim(me, now + ttl)):
                    return _reread(s, existing.id), True
            return _reread(s, existing.id), False

    def release_claim(self, escalation_id: int, *, holder: str | None = None) -> bool:
        """Give up the claim on creating the Bug (the call to JIRA failed): the next caller
        need not wait for its expiry. False if ``holder`` did not hold it."""
        me = this_process(holder)
        with self.session() as s:
            return _set(s, (col(Escalation.id) == escalation_id) & (col(Escalation.claim_holder) == me.name),
                        _NO_CLAIM)

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
            for column, value in _NO_CLAIM.items():  # the Bug exists: nothing left to claim
                setattr(escalation, column, value)
            escalation.updated_at = utcnow()
            s.add(escalation)
            return escalation

    def begin_refile(self, escalation_id: int, *, replaced_issue_id: str, s: Session | None = None) -> bool:
        """Take the Bug JIRA no longer has off the escalation, so a new one can be filed
        (``bridge escalate --refile``): the row becomes an unclaimed ``intent`` again and the
        first escalation's claim and find-or-create path takes over. True if this call did
        it; False when the escalation no longer holds ``replaced_issue_id`` (another run
        began the same refile first, or finished it).

        One conditional UPDATE: of racing callers exactly one changes the row. What sync
        last saw of the gone Bug goes with it — a resolution remembered from it would make
        the new, unresolved Bug look reopened to the customers. What the escalation is to
        the customers stays: severity, tier, the SLA clock's start (``opened_at``), pages
        sent, the linked tickets and what each was told."""
        values = {**_NO_CLAIM, "state": "intent", "jira_issue_id": None, "jira_key": None, "jira_url": None,
                  "last_status": None, "last_resolution": None, "last_fix_versions": None,
                  "last_jira_updated": None, "last_jira_comment_id": None, "sla_next_check_at": None,
                  "updated_at": utcnow()}
        with self.within(s) as session:
            return _set(session, (col(Escalation.id) == escalation_id)
                        & (col(Escalation.jira_issue_id) == replaced_issue_id), values)

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

    def record_seen_many(self, seen: Iterable[dict[str, Any]], *, s: Session | None = None) -> None:
        """:meth:`record_issue_seen` (and :meth:`record_jira_comment_seen`) for many
        escalations in one transaction: dicts with ``id``, ``jira_key``, ``status``,
        ``resolution``, ``fix_versions``, ``jira_updated``, optionally ``jira_url`` and
        ``comment_id`` (None: the comment cursor stays)."""
        rows = [{"id": row["id"], "jira_key": row["jira_key"], "jira_url": row.get("jira_url"),
                 "last_status": row["status"], "last_resolution": row["resolution"],
                 "last_fix_versions": encode(list(row["fix_versions"])), "last_jira_updated": row["jira_updated"],
                 "last_jira_comment_id": row.get("comment_id")} for row in seen]
        with self.within(s) as session:
            update_by_key(session, Escalation.__table__, ("id",), rows,  # type: ignore[attr-defined]
                          constants={"updated_at": utcnow()}, keep_when_null=("jira_url", "last_jira_comment_id"))

    def set_severity(self, escalation_id: int, *, severity: str, priority: str) -> Escalation:
        """Record a new severity and JIRA priority (``bridge escalate --emergency`` on an
        escalation made at a lower severity)."""
        with self.session() as s:
            escalation = get_for_update(s, Escalation, escalation_id)
            escalation.severity = severity
            escalation.priority = priority
            escalation.updated_at = utcnow()
            escalation.sla_next_check_at = None  # the clock's targets follow the severity
            s.add(escalation)
            return escalation

    def record_jira_comment_seen(self, escalation_id: int, comment_id: str) -> None:
        """Record the newest comment on the Bug that sync has processed."""
        with self.session() as s:
            if not _set(s, col(Escalation.id) == escalation_id,
                        {"last_jira_comment_id": comment_id, "updated_at": utcnow()}):
                raise LookupError(f"no escalation with id {escalation_id}")

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


def _claim(me: Holder, until: datetime) -> dict[str, Any]:
    return {
        "claim_holder": me.name, "claim_host": me.host, "claim_pid": me.pid,
        "claim_process_scope": me.process_scope, "claim_expires_at": until,
    }


def _set(s: Session, condition: Any, values: dict[str, Any]) -> bool:
    result = s.exec(update(Escalation).where(condition).values(**values).execution_options(**NO_SYNC))
    return bool(result.rowcount == 1)


def _reread(s: Session, escalation_id: int | None) -> Escalation:
    return s.exec(
        select(Escalation).where(Escalation.id == escalation_id).execution_options(populate_existing=True)
    ).one()


def clear_sla_checks(session: Session, which: Any) -> None:
    """Have the SLA clocks of the escalations ``which`` selects (a condition on
    ``Escalation``: their ids, or the owners of some tickets) computed again at the next
    pass: their inputs changed. Rows cleared already are left as they are (a pass's link
    updates often cleared them a moment before; on PostgreSQL every row an UPDATE sets is a
    new row version)."""
    session.exec(update(Escalation).where(which, col(Escalation.sla_next_check_at).is_not(None))
                 .values(sla_next_check_at=None).execution_options(**NO_SYNC))
