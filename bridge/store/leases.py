"""``store.leases``: mutual exclusion between processes sharing a store (e.g. ``bridge sync``)."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy.exc
from sqlalchemy import delete, update
from sqlmodel import col

from bridge.store.tables import Lease, utcnow
from bridge.store.transactions import NO_SYNC, Repository

__all__ = ["LeaseRepository"]


class LeaseRepository(Repository):
    """Named leases: at most one holder until the lease expires."""

    def acquire(self, name: str, holder: str, ttl: timedelta, *, now: datetime | None = None) -> bool:
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
                    .where(col(Lease.name) == name, (col(Lease.expires_at) <= now) | (col(Lease.holder) == holder))
                    .values(holder=holder, expires_at=expires)
                    .execution_options(**NO_SYNC)
                )
                if taken.rowcount == 1:
                    return True
                s.add(Lease(name=name, holder=holder, expires_at=expires))
            return True
        except sqlalchemy.exc.IntegrityError:
            return False

    def renew(self, name: str, holder: str, ttl: timedelta, *, now: datetime | None = None) -> bool:
        """Extend a lease we hold; False when another holder has taken it over meanwhile."""
        now = now or utcnow()
        with self.session() as s:
            renewed = s.exec(
                update(Lease)
                .where(col(Lease.name) == name, col(Lease.holder) == holder)
                .values(expires_at=now + ttl)
                .execution_options(**NO_SYNC)
            )
            return renewed.rowcount == 1

    def release(self, name: str, holder: str) -> bool:
        """Give the lease up; False if ``holder`` did not hold it (nothing is changed)."""
        with self.session() as s:
            released = s.exec(
                delete(Lease).where(col(Lease.name) == name, col(Lease.holder) == holder).execution_options(**NO_SYNC)
            )
            return released.rowcount == 1

    def get(self, name: str) -> Lease | None:
        """Who holds the lease ``name`` and until when (possibly expired)."""
        with self.session() as s:
            return s.get(Lease, name)
