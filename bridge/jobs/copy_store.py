"""`bridge db copy FROM_URL TO_URL`: move an installation from SQLite to PostgreSQL.

Every table of the store's schema is copied row by row with its ids (links, outbox keys,
related Tasks and the audit trail refer to each other by id), parents before children, in
one transaction on the target. The outbox comes along, so what was sent before the move is
known after it: a sync right afterwards sends nothing twice. Leases are not copied (they
name processes of the old installation), nor the job engine's tables (the target's own).
PostgreSQL's id sequences are moved past the copied ids, so new rows do not collide.
"""

from __future__ import annotations

from sqlalchemy import Engine, func, select, text
from sqlmodel import SQLModel

import bridge.store.tables  # noqa: F401 - registers the tables on SQLModel.metadata
from bridge.errors import UsageError
from bridge.store.db import make_engine, open_store, upgrade
from bridge.store.urls import mask_url, normalise_url

__all__ = ["copy_store"]

#: Rows of a process's lifetime, meaningless in another installation; and the job engine's,
#: which belong to the target (its migrations as `bridge db upgrade` recorded them, its
#: workers' buckets and journal).
SKIPPED = frozenset({"lease", "bridge_rate_limits", "bridge_job_journal", "bridge_job_engine_migration"})
BATCH = 1000


def copy_store(from_url: str, to_url: str) -> dict[str, int]:
    """Copy the store at ``from_url`` into the (empty) store at ``to_url``; rows per table."""
    if normalise_url(from_url) == normalise_url(to_url):
        raise UsageError("bridge db copy: FROM_URL and TO_URL are the same store")
    source = open_store(from_url, auto_upgrade=False)  # refuses a store not at this bridge's version
    target = make_engine(to_url)
    try:
        upgrade(target, jobs=True)
        _refuse_non_empty(target, to_url)
        return _copy(source.engine, target)
    finally:
        source.close()
        target.dispose()


def _refuse_non_empty(target: Engine, to_url: str) -> None:
    table = SQLModel.metadata.tables["escalation"]
    with target.connect() as connection:
        if connection.execute(select(func.count()).select_from(table)).scalar_one():
            raise UsageError(f"bridge db copy: the store at {mask_url(to_url)} already holds escalations",
                             hint="copy into a new, empty database")


def _copy(source: Engine, target: Engine) -> dict[str, int]:
    counts: dict[str, int] = {}
    tables = [t for t in SQLModel.metadata.sorted_tables if t.name not in SKIPPED]
    with source.connect() as reading, target.begin() as writing:
        for table in tables:
            copied = 0
            rows = reading.execute(select(table)).mappings()
            while batch := rows.fetchmany(BATCH):
                writing.execute(table.insert(), [dict(row) for row in batch])
                copied += len(batch)
            counts[table.name] = copied
            if writing.dialect.name == "postgresql":
                _move_sequences(writing, table)
    return counts


def _move_sequences(connection, table) -> None:
    for column in table.primary_key.columns:
        if not column.autoincrement or column.type.python_type is not int:
            continue
        sequence = connection.execute(text("SELECT pg_get_serial_sequence(:t, :c)"),
                                      {"t": table.name, "c": column.name}).scalar_one()
        if sequence:
            connection.execute(text(f'SELECT setval(:s, COALESCE((SELECT max("{column.name}") FROM "{table.name}"), 0) + 1, false)'),
                               {"s": sequence})
