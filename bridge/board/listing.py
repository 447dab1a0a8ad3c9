"""The board's queries: open escalations filtered, ordered and paginated in SQL.

SLA clocks run on business calendars that SQL cannot evaluate, so :func:`refresh_standings`
computes each open escalation's standing with the same code as ``bridge sla`` and keeps it
in ``board_standing``; :func:`page` then joins it, so filtering by standing, "breached and
at-risk first" and paging all happen in the database. Per-row details (tickets, failures,
last message, Tasks) are read in one query each for the rows of the page only.
"""

from __future__ import annotations

import json
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
    SyncCursor,
    utcnow,
)

PAGE_SIZE = 50
STANDINGS = ("breached", "at-risk", "on-track", "paused", "best-effort", "error")
_RANK = {"breached": 0, "at-risk": 1, "on-track": 2, "paused": 2, "best-effort": 3, "error": 4}
#: Outbox kinds whose write the customer sees (the escalate flow's and sync's action names).
CUSTOMER_KINDS = ("public_reply", "Acknowledge", "Announce", "PublicReply", "StatusUpdate")


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
        return cls(**{k: (args.get(k) or "").strip()[:100] for k in ("severity", "tier", "organization", "standing", "q")},
                   page=page)

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


def _open_query(f: Filters):
    query = (select(Escalation, BoardStanding)
             .join(BoardStanding, col(BoardStanding.escalation_id) == col(Escalation.id), isouter=True)
             .where(col(Escalation.last_resolution).is_(None)))
    if f.severity:
        query = query.where(Escalation.severity == f.severity)
    if f.tier:
        query = query.where(Escalation.tier == f.tier)
    if f.organization:
        query = query.where(Escalation.organization == f.organization)
    if f.standing:
        query = query.where(BoardStanding.standing == f.standing)
    if f.q:
        needle = f.q.lstrip("#")
        ticket = (select(LinkedTicket.escalation_id).where(LinkedTicket.ticket_id == needle))
        query = query.where(sa.or_(sa.func.upper(Escalation.jira_key) == needle.upper(),
                                   col(Escalation.id).in_(ticket)))
    return query


def page(engine, f: Filters) -> Page:
    """One page of open escalations: breached, then at risk, then the rest; soonest due first."""
    query = _open_query(f)
    ordered = query.order_by(sa.func.coalesce(BoardStanding.rank, 5), col(BoardStanding.due_at).is_(None),
                             col(BoardStanding.due_at), col(Escalation.id))
    with Session(engine) as s:
        total = s.exec(select(sa.func.count()).select_from(query.subquery())).one()
        found = s.exec(ordered.limit(PAGE_SIZE).offset((f.page - 1) * PAGE_SIZE)).all()
        rows = [Row(e, b.standing if b else None, b.due_at if b else None, b.next_update_due if b else None)
                for e, b in found]
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
    for escalation_id, count in s.exec(
            select(OutboxEntry.escalation_id, sa.func.count()).where(
                col(OutboxEntry.escalation_id).in_(ids), OutboxEntry.state == "failed")
            .group_by(OutboxEntry.escalation_id)).all():
        by_id[escalation_id].failures = count
    last = (select(OutboxEntry.escalation_id, sa.func.max(OutboxEntry.sent_at).label("at"))
            .where(col(OutboxEntry.escalation_id).in_(ids), OutboxEntry.state == "sent",
                   col(OutboxEntry.kind).in_(CUSTOMER_KINDS))
            .group_by(OutboxEntry.escalation_id)).subquery()
    for escalation_id, target, at in s.exec(
            select(OutboxEntry.escalation_id, OutboxEntry.target, OutboxEntry.sent_at)
            .join(last, sa.and_(last.c.escalation_id == OutboxEntry.escalation_id, last.c.at == OutboxEntry.sent_at))
            .where(col(OutboxEntry.kind).in_(CUSTOMER_KINDS))).all():
        row = by_id[escalation_id]
        row.last_message_at, row.last_message_to = at, target
    for escalation_id, task in s.exec(
            select(RelatedTaskLink.escalation_id, RelatedTask)
            .join(RelatedTask, col(RelatedTask.id) == col(RelatedTaskLink.related_task_id))
            .where(col(RelatedTaskLink.escalation_id).in_(ids))).all():
        by_id[escalation_id].tasks.append(task)
    names = {f"sync:sentry:regressed:{i}": i for i in ids}
    for cursor in s.exec(select(SyncCursor).where(col(SyncCursor.name).in_(list(names)))).all():
        try:
            by_id[names[cursor.name]].regressions = list(json.loads(cursor.value or "[]"))
        except ValueError:
            pass


def choices(engine) -> dict[str, list[str]]:
    """The values the filters offer: those present among open escalations."""
    out: dict[str, list[str]] = {}
    with Session(engine) as s:
        for name, column in (("severity", Escalation.severity), ("tier", Escalation.tier),
                             ("organization", Escalation.organization)):
            out[name] = [v for v in s.exec(select(column).where(col(Escalation.last_resolution).is_(None))
                                           .distinct().order_by(column)).all() if v]
    out["standing"] = list(STANDINGS)
    return out


def version(engine, escalation_id: int | None = None) -> str:
    """A fingerprint that changes whenever something the board shows changes."""
    with Session(engine) as s:
        outbox = select(sa.func.count(), sa.func.max(OutboxEntry.id), sa.func.max(OutboxEntry.sent_at),
                        sa.func.sum(sa.case((OutboxEntry.state == "failed", 1), else_=0)))
        escalations = select(sa.func.count(), sa.func.max(Escalation.updated_at))
        if escalation_id is not None:
            outbox = outbox.where(OutboxEntry.escalation_id == escalation_id)
            escalations = escalations.where(Escalation.id == escalation_id)
        parts = [*s.exec(outbox).one(), *s.exec(escalations).one()]
        if escalation_id is None:
            parts.append(s.exec(select(sa.func.max(BoardStanding.computed_at))).one())
    return "|".join(str(p) for p in parts)


def refresh_standings(engine, sla_rows: list[dict[str, Any]], *, now: datetime | None = None) -> int:
    """Replace ``board_standing`` with the standings in ``sla_rows`` (as ``services.sla_rows``
    gives them, keyed by JIRA key); how many rows were written."""
    now = now or utcnow()
    with Session(engine) as s:
        ids = dict(s.exec(select(Escalation.jira_key, Escalation.id).where(col(Escalation.jira_key).is_not(None))).all())
        values = []
        for row in sla_rows:
            escalation_id = ids.get(row.get("jira_key"))
            if escalation_id is None:
                continue
            standing = row.get("standing") or "error"
            first, nxt = _when(row.get("first_response_due")), _when(row.get("next_update_due"))
            sla = row.get("sla") or {}
            due = first if first and not sla.get("first_response_at") else nxt
            values.append({"escalation_id": escalation_id, "standing": standing, "rank": _RANK.get(standing, 4),
                           "due_at": due, "next_update_due": nxt, "computed_at": now})
        s.exec(sa.delete(BoardStanding))
        if values:
            s.exec(sa.insert(BoardStanding), params=values)
        s.commit()
    return len(values)


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
