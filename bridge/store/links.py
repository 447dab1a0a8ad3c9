"""``store.links``: the helpdesk tickets attached to each escalation, and what each was told.

A ticket belongs to one escalation (a unique key on helpdesk and ticket id); many tickets
may share one Bug. The SLA clocks read what each ticket was last told and when.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any, Final, Literal

import sqlalchemy.exc
from collections.abc import Iterable

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from bridge.store.escalations import clear_sla_checks
from bridge.store.tables import Escalation, LinkedTicket, utcnow
from bridge.store.transactions import NO_SYNC, Repository, chunks, one_of, update_by_key

__all__ = ["KEEP", "LinkRepository"]

#: Columns the SLA clock reads (see :meth:`bridge.store.escalations.EscalationRepository.sla_due`).
_CLOCK_INPUTS = frozenset({"last_public_update_at", "waiting_on_customer_since", "last_announced_state"})


class _Keep(Enum):
    KEEP = "keep"


#: "Leave this column as it is" for :meth:`LinkRepository.record_seen`.
KEEP: Final = _Keep.KEEP
_Kept = Literal[_Keep.KEEP]


class LinkRepository(Repository):
    """Linked tickets: attach, look up, and record what their customers were told."""

    def add(
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
                _refresh_affected_count(s, escalation_id)
            return link, True
        except sqlalchemy.exc.IntegrityError:
            existing = self.get(helpdesk, ticket_id)
            if existing is None:  # e.g. the escalation does not exist (foreign key)
                raise
            return existing, False

    def get(self, helpdesk: str, ticket_id: str) -> LinkedTicket | None:
        """The link of this ticket, whichever escalation it belongs to."""
        with self.session() as s:
            return s.exec(
                select(LinkedTicket).where(
                    LinkedTicket.helpdesk == helpdesk, LinkedTicket.ticket_id == ticket_id
                )
            ).first()

    def of(self, escalation_id: int) -> list[LinkedTicket]:
        """The tickets of an escalation, the origin first, then in the order they joined."""
        with self.session() as s:
            return list(
                s.exec(
                    select(LinkedTicket)
                    .where(LinkedTicket.escalation_id == escalation_id)
                    .order_by(col(LinkedTicket.id))
                ).all()
            )

    def by_escalation(self) -> dict[int, list[LinkedTicket]]:
        """Every linked ticket, grouped by escalation, in one query (sync reads them all
        each run; one query per escalation would make a run O(escalations) round trips)."""
        grouped: dict[int, list[LinkedTicket]] = {}
        with self.session() as s:
            for link in s.exec(select(LinkedTicket).order_by(col(LinkedTicket.id))).all():
                grouped.setdefault(link.escalation_id, []).append(link)
        return grouped

    def of_many(self, escalation_ids) -> dict[int, list[LinkedTicket]]:
        """The tickets of these escalations, grouped (one query per 500 escalations)."""
        grouped: dict[int, list[LinkedTicket]] = {}
        with self.reading() as s:
            for chunk in chunks(sorted(set(escalation_ids))):
                for link in s.exec(select(LinkedTicket).where(one_of(s, col(LinkedTicket.escalation_id), chunk))
                                   .order_by(col(LinkedTicket.id))):
                    grouped.setdefault(link.escalation_id, []).append(link)
        return grouped

    def untold(self, escalation_ids: Iterable[int]) -> set[int]:
        """Those of these escalations with a linked ticket never told a state (one query
        per 500 escalations)."""
        found: set[int] = set()
        with self.reading() as s:
            for chunk in chunks(sorted(set(escalation_ids))):
                found.update(s.exec(select(LinkedTicket.escalation_id).distinct()
                                    .where(one_of(s, col(LinkedTicket.escalation_id), chunk),
                                           col(LinkedTicket.last_announced_state).is_(None))).all())
        return found

    def of_complete(self, helpdesk: str, *, ticket_ids=None, escalation_ids=None,
                    issue_ids=None) -> list[tuple[LinkedTicket, str]]:
        """This helpdesk's tickets linked to complete escalations, each with its Bug's issue
        id, narrowed to the tickets, escalations or issues named (all of them when none
        is given, streamed by the database in pages)."""
        base = (select(LinkedTicket, Escalation.jira_issue_id)
                .join(Escalation, col(Escalation.id) == col(LinkedTicket.escalation_id))
                .where(col(LinkedTicket.helpdesk) == helpdesk, col(Escalation.state) == "complete",
                       col(Escalation.jira_issue_id).is_not(None)))
        narrowings = [(col(LinkedTicket.ticket_id), ticket_ids), (col(LinkedTicket.escalation_id), escalation_ids),
                      (col(Escalation.jira_issue_id), issue_ids)]
        given = [(column, sorted(set(values))) for column, values in narrowings if values is not None]
        found: list[tuple[LinkedTicket, str]] = []
        with self.session() as s:
            if not given:
                return [(link, issue_id) for link, issue_id in
                        s.exec(base.order_by(col(LinkedTicket.id)).execution_options(yield_per=1000))]
            for column, values in given:
                for chunk in chunks(values):
                    found.extend(s.exec(base.where(one_of(s, column, chunk))).all())
        unique = {link.id: (link, issue_id) for link, issue_id in found}
        return [unique[i] for i in sorted(unique)]

    def record_announcement(
        self, helpdesk: str, ticket_id: str, state: str, *, at: datetime | None = None
    ) -> None:
        """Record that the customer of this ticket was told about ``state`` (a public update)."""
        self._update(helpdesk, ticket_id, last_announced_state=state, last_public_update_at=at or utcnow())

    def record_state(self, helpdesk: str, ticket_id: str, state: str) -> None:
        """Record the state a ticket is in without a public message (an internal note stood
        for it): the SLA clocks do not count it as an update to the customer."""
        self._update(helpdesk, ticket_id, last_announced_state=state)

    def record_public_update(self, helpdesk: str, ticket_id: str, *, at: datetime | None = None) -> None:
        """Record a public message to the customer that announced no state (SLA clock)."""
        self._update(helpdesk, ticket_id, last_public_update_at=at or utcnow())

    def set_waiting_on_customer(self, helpdesk: str, ticket_id: str, since: datetime | None) -> None:
        """Start (a time) or stop (None) the waiting-on-customer pause of the SLA clock."""
        self._update(helpdesk, ticket_id, waiting_on_customer_since=since)

    def record_seen(
        self,
        helpdesk: str,
        ticket_id: str,
        *,
        comment_id: str | None | _Kept = KEEP,
        status: str | None | _Kept = KEEP,
        version: str | None | _Kept = KEEP,
        view: str | None | _Kept = KEEP,
    ) -> None:
        """Record where sync stands in the ticket's conversation (``last_comment_id``,
        ``last_status``, ``known_version``, and ``known_view``: the ticket at that version,
        :mod:`bridge.ticket_views`); the columns not given keep their values."""
        given = {"last_comment_id": comment_id, "last_status": status, "known_version": version, "known_view": view}
        values = {column: value for column, value in given.items() if value is not KEEP}
        if values:
            self._update(helpdesk, ticket_id, **values)

    def record_many(self, changes: Iterable[tuple[str, str, dict[str, Any]]], *, s: Session | None = None) -> None:
        """Several tickets' columns in one transaction, as (helpdesk, ticket id, {column:
        value}) with the columns :meth:`record_seen`, :meth:`record_announcement`,
        :meth:`record_state`, :meth:`record_public_update` and
        :meth:`set_waiting_on_customer` write (a later change of one ticket's column wins).
        A ticket no longer linked has nothing to record and is passed over. As with the
        single calls, an SLA clock input changed makes its escalation's clock computed
        again at the next pass."""
        merged: dict[tuple[str, str], dict[str, Any]] = {}
        for helpdesk, ticket_id, values in changes:
            merged.setdefault((helpdesk, ticket_id), {}).update(values)
        if not merged:
            return
        table = LinkedTicket.__table__  # type: ignore[attr-defined]
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for (helpdesk, ticket_id), values in merged.items():
            columns = tuple(sorted(values))
            if not columns:
                continue
            groups.setdefault(columns, []).append(
                {"helpdesk": helpdesk, "ticket_id": ticket_id, **{c: values[c] for c in columns}})
        with self.within(s) as session:
            for rows in groups.values():
                update_by_key(session, table, ("helpdesk", "ticket_id"), rows)
            clocks: dict[str, list[str]] = {}
            for (helpdesk, ticket_id), values in merged.items():
                if _CLOCK_INPUTS & set(values):
                    clocks.setdefault(helpdesk, []).append(ticket_id)
            for helpdesk, ticket_ids in clocks.items():
                for chunk in chunks(sorted(ticket_ids)):
                    _forget_owners_checks(session, helpdesk, one_of(session, col(LinkedTicket.ticket_id), chunk))

    def by_tickets(self, helpdesk: str, ticket_ids: Iterable[str]) -> dict[str, LinkedTicket]:
        """The links of these tickets of one helpdesk, by ticket id (one query per 500)."""
        found: dict[str, LinkedTicket] = {}
        with self.session() as s:
            for chunk in chunks(sorted(set(ticket_ids))):
                found.update((link.ticket_id, link) for link in s.exec(
                    select(LinkedTicket).where(col(LinkedTicket.helpdesk) == helpdesk,
                                               one_of(s, col(LinkedTicket.ticket_id), chunk))))
        return found

    def record_baseline(self, helpdesk: str, ticket_id: str, *, comment_id: str, status: str | None) -> bool:
        """Record where the conversation stood when the ticket was linked, unless sync has
        already recorded a position (idempotent: re-running escalate never moves it back).
        True if this call recorded it."""
        with self.session() as s:
            result = s.exec(
                update(LinkedTicket)
                .where(
                    col(LinkedTicket.helpdesk) == helpdesk,
                    col(LinkedTicket.ticket_id) == ticket_id,
                    col(LinkedTicket.last_comment_id).is_(None),
                )
                .values(last_comment_id=comment_id, last_status=status)
                .execution_options(**NO_SYNC)
            )
            if result.rowcount == 1:
                return True
        if self.get(helpdesk, ticket_id) is None:
            raise LookupError(f"{helpdesk} ticket {ticket_id} is not linked to an escalation")
        return False

    def _update(self, helpdesk: str, ticket_id: str, **values: Any) -> None:
        with self.session() as s:
            result = s.exec(
                update(LinkedTicket)
                .where(col(LinkedTicket.helpdesk) == helpdesk, col(LinkedTicket.ticket_id) == ticket_id)
                .values(**values)
                .execution_options(**NO_SYNC)
            )
            if result.rowcount != 1:
                raise LookupError(f"{helpdesk} ticket {ticket_id} is not linked to an escalation")
            if _CLOCK_INPUTS & set(values):
                # The SLA clock reads these: its next check is computed again at the next pass.
                _forget_owners_checks(s, helpdesk, col(LinkedTicket.ticket_id) == ticket_id)


def _forget_owners_checks(session: Session, helpdesk: str, tickets: Any) -> None:
    """The SLA checks of the escalations owning this helpdesk's ``tickets`` (a condition
    on ``LinkedTicket.ticket_id``) cleared: a clock input of those tickets changed."""
    owners = select(LinkedTicket.escalation_id).where(col(LinkedTicket.helpdesk) == helpdesk, tickets)
    clear_sla_checks(session, col(Escalation.id).in_(owners.scalar_subquery()))


def _refresh_affected_count(s: Session, escalation_id: int) -> None:
    count = select(func.count()).select_from(LinkedTicket).where(LinkedTicket.escalation_id == escalation_id)
    s.exec(
        update(Escalation)
        .where(col(Escalation.id) == escalation_id)
        # A new ticket is a new input of the SLA clock: sync computes it again (sla_next_check_at).
        .values(affected_count=count.scalar_subquery(), updated_at=utcnow(), sla_next_check_at=None)
        .execution_options(**NO_SYNC)
    )
