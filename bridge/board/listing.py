"""The board's queries: open escalations filtered, ordered and paginated in SQL.

SLA clocks run on business calendars that SQL cannot evaluate, so :func:`refresh_standings`
computes each open escalation's standing with the same code as ``bridge sla`` and keeps it
in ``board_standing``; :func:`page` then joins it, so filtering by standing, "breached and
at-risk first" and paging all happen in the database. Per-row details (tickets, failures,
last message, Tasks) are read in one query each for the rows of the page only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from bridge.store.tables import (
    BoardStanding,
    Escalation,
    LinkedTicket,
    OutboxEntry,
    RelatedTask,
    RelatedTaskLink,
    utcnow,
)

PAGE_SIZE = 50
#: ``board_standing.order_key`` of a row with no running target: after every due time.
NO_DUE = 2**62
STANDINGS = ("breached", "at-risk", "on-track", "paused", "best-effort", "error")
_RANK = {"breached": 0, "at-risk": 1, "on-track": 2, "paused": 2, "best-effort": 3, "error": 4}
#: Outbox kinds whose write the customer sees (the escalate flow's and sync's action names).
CUSTOMER_KINDS = ("public_reply", "Acknowledge", "Announce", "PublicReply", "StatusUpdate")


class BadFilter(ValueError):
    """A filter value no escalation can have and the store cannot compare (a NUL)."""


@dataclass(frozen=True)
class Filters:
    """What the board's filter form asked for (empty strings mean "any")."""

    severity: str = ""
    tier: str = ""
    organization: str = ""
    standing: str = ""
    q: str = ""
    page: int = 1

    @classmethod
    def from_args(cls, args) -> "Filters":
        try:
            page = max(1, min(int(args.get("page", "1") or 1), 100_000))
        except ValueError:
            page = 1
        texts = {}
        for name in ("severity", "tier", "organization", "standing", "q"):
            value = args.get(name) or ""
            if "\x00" in value:
                # PostgreSQL refuses NUL in text parameters (a DataError, a 500): the caller's mistake.
                raise BadFilter(f"the {name} filter cannot contain a NUL character")
            texts[name] = value.strip()[:100]
        return cls(**texts, page=page)

    def args(self, **changes: Any) -> dict[str, Any]:
        values = {"severity": self.severity, "tier": self.tier, "organization": self.organization,
                  "standing": self.standing, "q": self.q, "page": self.page, **changes}
        return {k: v for k, v in values.items() if v not in ("", None, 1) or (k == "page" and v != 1)}


@dataclass
class Row:
    escalation: Escalation
    standing: str | None
    due_at: datetime | None
    next_update_due: datetime | None
    tickets: list[LinkedTicket] = field(default_factory=list)
    failures: int = 0
    last_message_at: datetime | None = None
    last_message_to: str | None = None
    tasks: list[RelatedTask] = field(default_factory=list)
    regressions: list[Any] = field(default_factory=list)


@dataclass
class Page:
    rows: list[Row]
    total: int
    filters: Filters

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // PAGE_SIZE))


def _conditions(f: Filters, helpdesk: str | None = None) -> list:
    """The WHERE terms of the filters over ``escalation`` and ``board_standing``."""
    terms: list = [col(Escalation.last_resolution).is_(None)]
    if f.severity:
        terms.append(Escalation.severity == f.severity)
    if f.tier:
        terms.append(Escalation.tier == f.tier)
    if f.organization:
        terms.append(Escalation.organization == f.organization)
    if f.standing:
        terms.append(BoardStanding.standing == f.standing)
    if f.q:
        needle = f.q.lstrip("#")
        ticket = select(LinkedTicket.escalation_id).where(LinkedTicket.ticket_id == needle)
        if helpdesk is not None:
            # (helpdesk, ticket_id) is the unique index: a lookup instead of a scan.
            ticket = ticket.where(LinkedTicket.helpdesk == helpdesk)
        terms.append(sa.or_(Escalation.jira_key == needle.upper(), col(Escalation.id).in_(ticket)))
    return terms


def page(engine, f: Filters, *, helpdesk: str | None = None) -> Page:
    """One page of open escalations: breached, then at risk, then the rest; soonest due first;
    escalations the background pass has not reached yet last, oldest first.
    ``helpdesk`` (the configured kind) lets a ticket search use the tickets' unique index."""
    terms = _conditions(f, helpdesk)
    offset = (f.page - 1) * PAGE_SIZE
    # Ranked rows: board_standing drives the join in the order of ix_board_standing_order,
    # so the first pages read about a page of rows instead of sorting every open escalation.
    ranked = (select(Escalation.id).select_from(BoardStanding)
              .join(Escalation, col(Escalation.id) == col(BoardStanding.escalation_id)).where(*terms))
    # Not ranked yet (escalated since the last background pass): after the ranked ones.
    unranked = (select(Escalation.id)
                .join(BoardStanding, col(BoardStanding.escalation_id) == col(Escalation.id), isouter=True)
                .where(col(BoardStanding.escalation_id).is_(None), *terms))
    ordered = ranked.order_by(col(BoardStanding.rank), col(BoardStanding.order_key), col(BoardStanding.escalation_id))
    with Session(engine) as s:
        if f.standing:  # only ranked rows have a standing
            total = s.execute(select(sa.func.count()).select_from(ranked.subquery())).scalar_one()
        else:
            total = s.execute(select(sa.func.count(col(Escalation.id))).where(*terms)).scalar_one()
        wanted = list(s.execute(ordered.limit(PAGE_SIZE).offset(offset)).scalars().all())
        if len(wanted) < PAGE_SIZE and not f.standing:
            ranked_total = s.execute(select(sa.func.count()).select_from(ranked.subquery())).scalar_one()
            wanted += s.execute(unranked.order_by(col(Escalation.id)).limit(PAGE_SIZE - len(wanted))
                                .offset(max(0, offset - ranked_total))).scalars().all()
        found = {e.id: (e, b) for e, b in s.exec(
            select(Escalation, BoardStanding)
            .join(BoardStanding, col(BoardStanding.escalation_id) == col(Escalation.id), isouter=True)
            .where(col(Escalation.id).in_(wanted))).all()}
        rows = [Row(e, b.standing if b else None, b.due_at if b else None, b.next_update_due if b else None)
                for e, b in (found[i] for i in wanted if i in found)]
        _details(s, rows)
    return Page(rows=rows, total=total, filters=f)


def _details(s: Session, rows: list[Row]) -> None:
    by_id = {r.escalation.id: r for r in rows}
    if not by_id:
        return
    ids = list(by_id)
    for t in s.exec(select(LinkedTicket).where(col(LinkedTicket.escalation_id).in_(ids))
                    .order_by(col(LinkedTicket.id))).all():
        by_id[t.escalation_id].tickets.append(t)
    # One read of the page's outbox rows by escalation (a few each), counted here: a filter
    # on the state or kind would lead SQLite to the state index and its tens of thousands
    # of sent rows instead.
    for escalation_id, target, kind, state, at in s.exec(
            select(OutboxEntry.escalation_id, OutboxEntry.target, OutboxEntry.kind, OutboxEntry.state,
                   OutboxEntry.sent_at).where(col(OutboxEntry.escalation_id).in_(ids))).all():
        row = by_id[escalation_id]
        if state == "failed":
            row.failures += 1
        elif (state == "sent" and kind in CUSTOMER_KINDS and at is not None
              and (row.last_message_at is None or at > row.last_message_at)):
            row.last_message_at, row.last_message_to = at, target
    for escalation_id, task, regressed in s.exec(
            select(RelatedTaskLink.escalation_id, RelatedTask, RelatedTaskLink.regression_flagged)
            .join(RelatedTask, col(RelatedTask.id) == col(RelatedTaskLink.related_task_id))
            .where(col(RelatedTaskLink.escalation_id).in_(ids))).all():
        row = by_id[escalation_id]
        row.tasks.append(task)
        if regressed:
            # The error issue is unresolved again while the Bug is resolved.
            row.regressions.append(task.sentry_short_id or task.sentry_issue_id)


_CHOICES_TTL_S = 30.0
_choices_cache: dict[int, tuple[float, dict[str, list[str]]]] = {}


def choices(engine) -> dict[str, list[str]]:
    """The values the filters offer: those present among open escalations (re-read every
    half minute: a new severity or organisation rarely appears, and each read scans)."""
    cached = _choices_cache.get(id(engine))
    if cached is not None and time.monotonic() - cached[0] < _CHOICES_TTL_S:
        return cached[1]
    out: dict[str, list[str]] = {"severity": [], "tier": [], "organization": []}
    with Session(engine) as s:
        for severity, tier, organization in s.exec(
                select(Escalation.severity, Escalation.tier, Escalation.organization)
                .where(col(Escalation.last_resolution).is_(None)).distinct()).all():
            for name, value in (("severity", severity), ("tier", tier), ("organization", organization)):
                if value and value not in out[name]:
                    out[name].append(value)
    out = {name: sorted(values) for name, values in out.items()}
    out["standing"] = list(STANDINGS)
    _choices_cache[id(engine)] = (time.monotonic(), out)
    return out


def version(engine, escalation_id: int | None = None) -> str:
    """A fingerprint that changes whenever something the board shows changes: a new outbox
    entry or one changing state (counted per state, on its index), an escalation changed,
    standings recomputed."""
    with Session(engine) as s:
        # Sent rows are the bulk and are not counted: an entry reaching "sent" leaves
        # "pending" (or "failed"), whose counts are small ranges of the state index.
        outbox = select(sa.func.max(OutboxEntry.id),
                        sa.func.count().filter(OutboxEntry.state == "pending"),
                        sa.func.count().filter(OutboxEntry.state == "failed"))
        escalations = select(sa.func.count(), sa.func.max(Escalation.updated_at))
        if escalation_id is not None:
            outbox = select(sa.func.max(OutboxEntry.id), sa.func.count().filter(OutboxEntry.state == "sent"),
                            sa.func.count().filter(OutboxEntry.state == "failed")).where(
                OutboxEntry.escalation_id == escalation_id)
            escalations = escalations.where(Escalation.id == escalation_id)
        parts: list[Any] = [*s.exec(outbox).one(), *s.exec(escalations).one()]
        if escalation_id is None:
            # Every pass rewrites all standings with one time: any row tells it.
            parts.append(s.exec(select(BoardStanding.computed_at).limit(1)).first())
    return "|".join(str(p) for p in parts)


def refresh_standings(engine, sla_rows: list[dict[str, Any]], *, now: datetime | None = None) -> int:
    """Replace ``board_standing`` with the standings in ``sla_rows`` (as ``services.sla_rows``
    gives them, each naming its escalation); how many rows were written."""
    now = now or utcnow()
    with Session(engine) as s:
        values = []
        for row in sla_rows:
            # Every open escalation's row, keyless ones included (a Bug not created yet: its
            # customer's clock runs all the same).
            escalation_id = row.get("escalation_id")
            if escalation_id is None:
                continue
            standing = row.get("standing") or "error"
            first, nxt = _when(row.get("first_response_due")), _when(row.get("next_update_due"))
            sla = row.get("sla") or {}
            due = first if first and not sla.get("first_response_at") else nxt
            values.append({"escalation_id": escalation_id, "standing": standing, "rank": _RANK.get(standing, 4),
                           "due_at": due, "order_key": int(due.timestamp()) if due else NO_DUE,
                           "next_update_due": nxt, "computed_at": now})
        s.exec(sa.delete(BoardStanding))
        if values:
            s.exec(sa.insert(BoardStanding), params=values)
        s.commit()
    return len(values)


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
