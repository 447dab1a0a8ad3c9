"""``store.inbox``: webhook deliveries accepted by `bridge serve`, waiting for a worker.

The inbox is the source of truth for "something happened, look at it" (issue 12):

- :meth:`InboxRepository.accept` inserts a delivery under its ``(source, delivery_id)``;
  a redelivery hits the unique key and changes nothing.
- :meth:`InboxRepository.claim` hands items to one worker under a lease, by conditional
  UPDATEs (race-safe across threads and processes on SQLite and PostgreSQL). An item whose
  worker died is claimable again once its lease has expired.
- :meth:`InboxRepository.done`, :meth:`retry_later` and :meth:`release` change only items
  the caller still holds, so a worker that lost its lease cannot undo another's work.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy.exc
from sqlalchemy import Engine, and_, func, or_, update
from sqlmodel import Session, col, select

from bridge.store.tables import InboxItem, utcnow
from bridge.store.urls import connection_error

__all__ = ["Backlog", "InboxRepository"]

_NO_SYNC = {"synchronize_session": False}
# Errors are for people skimming a list; a response body could carry customer data.
_MAX_ERROR = 500
#: States of an item still to be worked on.
OPEN_STATES = ("pending", "working")


@dataclass(frozen=True)
class Backlog:
    """Items waiting or being worked on, and when the oldest of them arrived."""

    waiting: int
    working: int
    failed: int
    oldest_received_at: datetime | None


class InboxRepository:
    """The inbox; each method is one short transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        #: Called as ``on_accept(session, item)`` inside the transaction that inserts a new
        #: item (flushed, so ``item.id`` is set). bridge/jobs sets it on PostgreSQL to defer
        #: the item's procrastinate job in that same transaction: no row without its doorbell.
        self.on_accept: Callable[[Session, InboxItem], None] | None = None

    @contextmanager
    def session(self) -> Iterator[Session]:
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

    # -- accepting ---------------------------------------------------------------------------
    def accept(self, source: str, delivery_id: str, event: str, subject: dict[str, Any], *,
               now: datetime | None = None) -> bool:
        """Record a delivery; False when this ``(source, delivery_id)`` was already accepted."""
        now = now or utcnow()
        item = InboxItem(source=source, delivery_id=delivery_id[:255], event=event[:255],
                         subject=json.dumps(subject, sort_keys=True), received_at=now, available_at=now)
        try:
            with self.session() as s:
                s.add(item)
                if self.on_accept is not None:
                    s.flush()
                    self.on_accept(s, item)
            return True
        except sqlalchemy.exc.IntegrityError:
            return False

    def item(self, source: str, delivery_id: str) -> InboxItem | None:
        with self.session() as s:
            return s.exec(select(InboxItem).where(InboxItem.source == source,
                                                  InboxItem.delivery_id == delivery_id)).first()

    def items(self, *, states: Iterable[str] | None = None, limit: int = 1000) -> list[InboxItem]:
        """Items oldest first, optionally only those in ``states``."""
        query = select(InboxItem).order_by(col(InboxItem.id)).limit(limit)
        if states is not None:
            query = query.where(col(InboxItem.state).in_(list(states)))
        with self.session() as s:
            return list(s.exec(query).all())

    @staticmethod
    def subject(item: InboxItem) -> dict[str, Any]:
        return json.loads(item.subject or "{}")

    # -- working -----------------------------------------------------------------------------
    def claim(self, holder: str, ttl: timedelta, *, limit: int = 20, now: datetime | None = None,
              ids: Iterable[int] | None = None) -> list[InboxItem]:
        """Take up to ``limit`` claimable items (oldest first) for ``holder`` until now + ttl.

        Claimable: ``pending`` and available, or ``working`` with an expired lease (its
        worker died). Each is taken by a conditional UPDATE that re-checks the condition, so
        two workers never hold one item. ``ids``: only among these items (a job's own).
        """
        now = now or utcnow()
        claimable = or_(
            and_(col(InboxItem.state) == "pending", col(InboxItem.available_at) <= now),
            and_(col(InboxItem.state) == "working", col(InboxItem.lease_expires_at) <= now),
        )
        if ids is not None:
            claimable = and_(claimable, col(InboxItem.id).in_(list(ids)))
        with self.session() as s:
            candidates = list(s.exec(select(InboxItem.id).where(claimable).order_by(col(InboxItem.id))
                                     .limit(limit)).all())
        taken: list[int] = []
        for item_id in candidates:
            with self.session() as s:
                result = s.exec(
                    update(InboxItem).where(col(InboxItem.id) == item_id, claimable)
                    .values(state="working", holder=holder, lease_expires_at=now + ttl,
                            attempts=InboxItem.attempts + 1)
                    .execution_options(**_NO_SYNC))
                if result.rowcount == 1:
                    taken.append(item_id)
        if not taken:
            return []
        with self.session() as s:
            return list(s.exec(select(InboxItem).where(col(InboxItem.id).in_(taken))
                               .order_by(col(InboxItem.id))).all())

    def renew(self, ids: Iterable[int], holder: str, ttl: timedelta, *, now: datetime | None = None) -> int:
        """Extend the lease on the items ``holder`` still holds; how many it still holds."""
        now = now or utcnow()
        with self.session() as s:
            result = s.exec(update(InboxItem).where(*self._held(ids, holder))
                            .values(lease_expires_at=now + ttl).execution_options(**_NO_SYNC))
            return result.rowcount

    def done(self, ids: Iterable[int], holder: str, *, now: datetime | None = None) -> int:
        """Mark held items done; how many were still held."""
        with self.session() as s:
            result = s.exec(update(InboxItem).where(*self._held(ids, holder))
                            .values(state="done", holder=None, lease_expires_at=None,
                                    finished_at=now or utcnow(), last_error=None)
                            .execution_options(**_NO_SYNC))
            return result.rowcount

    def retry_later(self, ids: Iterable[int], holder: str, error: str, *, delay: timedelta,
                    max_attempts: int, now: datetime | None = None) -> None:
        """Put held items back after a failure, available after ``delay``; an item that has
        had ``max_attempts`` goes to ``failed`` (kept, with its error, for people to see)."""
        now = now or utcnow()
        error = " ".join(error.split())[:_MAX_ERROR]
        with self.session() as s:
            s.exec(update(InboxItem).where(*self._held(ids, holder), col(InboxItem.attempts) >= max_attempts)
                   .values(state="failed", holder=None, lease_expires_at=None, finished_at=now, last_error=error)
                   .execution_options(**_NO_SYNC))
            s.exec(update(InboxItem).where(*self._held(ids, holder))
                   .values(state="pending", holder=None, lease_expires_at=None, available_at=now + delay,
                           last_error=error)
                   .execution_options(**_NO_SYNC))

    def release(self, holder: str, ids: Iterable[int] | None = None) -> int:
        """Give back what ``holder`` holds (all, or ``ids``), available at once and without
        counting the attempt: a graceful shutdown is not the item's fault."""
        conditions = [col(InboxItem.state) == "working", col(InboxItem.holder) == holder]
        if ids is not None:
            conditions.append(col(InboxItem.id).in_(list(ids)))
        with self.session() as s:
            result = s.exec(update(InboxItem).where(*conditions)
                            .values(state="pending", holder=None, lease_expires_at=None, available_at=utcnow(),
                                    attempts=InboxItem.attempts - 1)
                            .execution_options(**_NO_SYNC))
            return result.rowcount

    @staticmethod
    def _held(ids: Iterable[int], holder: str) -> list[Any]:
        return [col(InboxItem.id).in_(list(ids)), col(InboxItem.state) == "working", col(InboxItem.holder) == holder]

    # -- reporting ---------------------------------------------------------------------------
    def backlog(self) -> Backlog:
        """What is waiting, for `bridge status`, /metrics and /readyz."""
        with self.session() as s:
            counts = dict(s.exec(select(InboxItem.state, func.count()).group_by(InboxItem.state)).all())
            oldest = s.exec(select(func.min(InboxItem.received_at))
                            .where(col(InboxItem.state).in_(OPEN_STATES))).first()
        return Backlog(waiting=counts.get("pending", 0), working=counts.get("working", 0),
                       failed=counts.get("failed", 0), oldest_received_at=_aware(oldest))

    def last_delivery_by_source(self) -> dict[str, datetime]:
        """When each source's newest accepted delivery arrived."""
        with self.session() as s:
            rows = s.exec(select(InboxItem.source, func.max(InboxItem.received_at))
                          .group_by(InboxItem.source)).all()
        return {source: _aware(at) for source, at in rows if at is not None}


def _aware(value: datetime | str | None) -> datetime | None:
    """An aggregate's timestamp as aware UTC: SQLite hands MIN/MAX back as untyped text."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
