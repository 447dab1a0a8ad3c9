"""Doorbells: procrastinate jobs deferred by SQL inside the store's own transactions.

The inbox is the source of truth; a job only rings the bell. With a PostgreSQL store,
:func:`attach` makes ``store.inbox.accept`` insert the item's ``process_inbox_item`` job in
the transaction that inserts the item, so either both exist or neither (a crash between
"row written" and "job deferred" cannot lose a delivery). procrastinate's own
``procrastinate_defer_jobs_v1`` does the insert, so its triggers (NOTIFY to the workers)
fire on commit as for any deferred job.

A job can still be lost (a worker SIGKILLed holding it; an operator deleting jobs):
:func:`lost_inbox_items` finds open items that no waiting or running job will take, and the
sweeper task rings their bell again. A lost job delays work; it never drops it.
"""

from __future__ import annotations

import json

from sqlalchemy import Connection, Engine, text

__all__ = ["ESCALATE_TASK", "INBOX_TASK", "SYNC_TASK", "attach", "defer_in", "escalation_lock",
           "lost_inbox_items", "reissue", "sync_queueing_lock"]

INBOX_TASK = "bridge:process_inbox_item"
SYNC_TASK = "bridge:sync_escalation"
ESCALATE_TASK = "bridge:escalate_ticket"

_DEFER = text("""
    SELECT procrastinate_defer_jobs_v1(ARRAY[
        ROW(:queue, :task, 0, :lock, :queueing_lock, CAST(:args AS jsonb), NULL)::procrastinate_job_to_defer_v1
    ])
""")
_LOST = text("""
    SELECT i.id FROM inbox i
    WHERE ((i.state = 'pending' AND i.available_at <= now())
           OR (i.state = 'working' AND i.lease_expires_at <= now()))
      AND NOT EXISTS (
          SELECT 1 FROM procrastinate_jobs j
          WHERE j.task_name = :task AND j.status IN ('todo', 'doing')
            AND (j.args ->> 'item_id') = i.id::text)
    ORDER BY i.id LIMIT :limit
""")


def escalation_lock(escalation_id: int) -> str:
    """The procrastinate ``lock`` of every job that works on one escalation."""
    return f"escalation:{int(escalation_id)}"


def sync_queueing_lock(escalation_id: int) -> str:
    """At most one *waiting* sync job per escalation: later doorbells join it."""
    return f"sync-waiting:{int(escalation_id)}"


def defer_in(connection: Connection, task: str, args: dict, *, queue: str, lock: str | None = None,
             queueing_lock: str | None = None) -> int:
    """Insert a job in ``connection``'s transaction; its id."""
    return connection.execute(_DEFER, {"queue": queue, "task": task, "lock": lock, "queueing_lock": queueing_lock,
                                       "args": json.dumps(args)}).scalar_one()[0]


def attach(store) -> None:
    """Have ``store.inbox.accept`` defer each new item's job in the item's transaction."""

    def ring(session, item) -> None:
        defer_in(session.connection(), INBOX_TASK, {"item_id": item.id}, queue="inbox")

    store.inbox.on_accept = ring


def lost_inbox_items(engine: Engine, *, limit: int = 500) -> list[int]:
    """Open inbox items (pending and due, or held under an expired lease) that no waiting
    or running job will take."""
    with engine.connect() as connection:
        return list(connection.execute(_LOST, {"task": INBOX_TASK, "limit": limit}).scalars())


def reissue(engine: Engine, item_ids: list[int]) -> None:
    """Ring again for ``item_ids`` (one transaction)."""
    with engine.begin() as connection:
        for item_id in item_ids:
            defer_in(connection, INBOX_TASK, {"item_id": item_id}, queue="inbox")
