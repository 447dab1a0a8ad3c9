"""The state store: an engine and one repository per table group.

:class:`Store` owns the engine; each attribute is the repository of one table group, whose
methods are each one short transaction:

- ``store.escalations`` (:mod:`bridge.store.escalations`) — the Bugs escalated to;
- ``store.links`` (:mod:`bridge.store.links`) — the tickets attached to them;
- ``store.tasks`` (:mod:`bridge.store.tasks`) — error-tracker issues filed as Tasks;
- ``store.outbox`` (:mod:`bridge.store.outbox`) — every external write, keyed;
- ``store.audit`` (:mod:`bridge.store.audit`) — every write and refusal;
- ``store.cursors`` (:mod:`bridge.store.cursors`) — the sync jobs' high-water marks;
- ``store.leases`` (:mod:`bridge.store.leases`) — mutual exclusion between processes;
- ``store.users`` (:mod:`bridge.store.users`) — the board's accounts, sessions, throttling;
- ``store.inbox`` (:mod:`bridge.store.inbox`) — webhook deliveries for `bridge serve`'s workers.

The methods that protect an invariant (``escalations.record_intent``, ``outbox.claim``,
``leases.acquire``) are race-safe across threads and processes on SQLite and PostgreSQL
alike, because they lean on a unique constraint or a conditional UPDATE rather than on
read-then-write.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from sqlalchemy import Engine
from sqlalchemy.pool import StaticPool
from sqlmodel import Session

from bridge.store.audit import AUDIT_RESULTS, AuditRepository
from bridge.store.cursors import CursorRepository
from bridge.store.escalations import EscalationRepository
from bridge.store.inbox import InboxRepository
from bridge.store.leases import LeaseRepository
from bridge.store.links import LinkRepository
from bridge.store.outbox import OutboxRepository
from bridge.store.tasks import TaskRepository
from bridge.store.transactions import transaction
from bridge.store.users import UserRepository

__all__ = ["AUDIT_RESULTS", "Store"]


class Store:
    """The bridge's state store. Build it with :func:`bridge.store.db.open_store`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.escalations = EscalationRepository(engine)
        self.inbox = InboxRepository(engine)
        self.links = LinkRepository(engine)
        self.tasks = TaskRepository(engine)
        self.outbox = OutboxRepository(engine)
        self.audit = AuditRepository(engine)
        self.cursors = CursorRepository(engine)
        self.leases = LeaseRepository(engine)
        self.users = UserRepository(engine)

    def session(self) -> AbstractContextManager[Session]:
        """A session whose transaction commits when the block ends and rolls back on error.

        Objects stay readable after the block (``expire_on_commit=False``). A failure to
        *connect* becomes :class:`bridge.errors.ConfigError` with the masked URL.
        """
        return transaction(self.engine)

    @property
    def parallel_sessions(self) -> bool:
        """Whether two threads may each have a transaction open at once: every store but
        SQLite in memory, whose sessions share its one connection (a second thread's
        transaction would interleave with the first's)."""
        return not isinstance(self.engine.pool, StaticPool)

    def close(self) -> None:
        """Release the store's connections."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
