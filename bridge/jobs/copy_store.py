"""`bridge db copy FROM_URL TO_URL`: move an installation from SQLite to PostgreSQL.

Every table of the store's schema is copied row by row with its ids (links, outbox keys,
related Tasks and the audit trail refer to each other by id), parents before children, in
one transaction on the target. The outbox comes along, so what was sent before the move is
known after it: a sync right afterwards sends nothing twice. Leases are not copied (they
name processes of the old installation), nor the job engine's tables (the target's own).
PostgreSQL's id sequences are moved past the copied ids, so new rows do not collide.

The source is only read (a SQLite file is opened ``mode=ro``; a missing one is refused, not
created). The target must hold no row of any copied table; the check runs in the copy's own
transaction under the lock `bridge db upgrade` takes, so two copies at once cannot both
pass it. A row the target refuses (PostgreSQL's text cannot hold a NUL character, say) is
named by table and key, and the transaction rolls back: the target is as it was, and the
copy can run again once the row is corrected.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import sqlalchemy.exc
from sqlalchemy import Connection, Engine, Table, func, select, text
from sqlalchemy.engine import URL
from sqlmodel import SQLModel

import bridge.store.tables  # noqa: F401 - registers the tables on SQLModel.metadata
from bridge.errors import UsageError
from bridge.store.db import (
    current_revision,
    hold_schema_lock,
    in_memory,
    make_engine,
    require_current,
    store_errors,
    upgrade,
)
from bridge.store.urls import mask_url, normalise_url, scrub

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
    source = _open_source(normalise_url(from_url))  # refuses a store not at this bridge's version
    try:
        target = make_engine(to_url)
        try:
            upgrade(target, jobs=True)
            with store_errors(target):  # the server lost half-way: a connection error, not a bug
                return _copy(source, target)
        finally:
            target.dispose()
    finally:
        source.dispose()


def _open_source(url: URL) -> Engine:
    """A read-only engine on the store to copy, refusing anything that is not a store at
    this bridge's revision: opening it for writing would create a mistyped SQLite path (and
    then call it "not migrated"), and a file that is no store would copy as an empty one."""
    masked = mask_url(url)
    on_disk = url.get_backend_name() == "sqlite" and not in_memory(url)
    if on_disk and not Path(str(url.database)).expanduser().is_file():
        raise UsageError(f"bridge db copy: there is no store at {masked}: the file does not exist",
                         hint="check FROM_URL: it names the SQLite file of the installation that moves")
    engine = make_engine(url, read_only=True)
    try:
        if current_revision(engine) is None:
            raise UsageError(f"bridge db copy: {masked} holds no bridge store (it was never migrated)",
                             hint="check FROM_URL: it names the store of the installation that moves")
        require_current(engine, url)
    except BaseException:
        engine.dispose()
        raise
    return engine


def _copy(source: Engine, target: Engine) -> dict[str, int]:
    counts: dict[str, int] = {}
    tables = [t for t in SQLModel.metadata.sorted_tables if t.name not in SKIPPED]
    with source.connect() as reading, target.begin() as writing:
        hold_schema_lock(writing)
        _refuse_non_empty(writing, tables, target.url)
        for table in tables:
            copied = 0
            # In key order, so that a refused row's place in the table means something.
            rows = reading.execute(select(table).order_by(*table.primary_key.columns)).mappings()
            while batch := rows.fetchmany(BATCH):
                _insert(writing, table, [dict(row) for row in batch], copied, target.url)
                copied += len(batch)
            counts[table.name] = copied
            if writing.dialect.name == "postgresql":
                _move_sequences(writing, table)
    return counts


def _refuse_non_empty(connection: Connection, tables: list[Table], url: URL) -> None:
    """Every copied table must be empty: a row of any (a board account made on the new
    server first, say) would collide with a copied id, or mix two installations."""
    held = {t.name: n for t in tables if (n := connection.execute(select(func.count()).select_from(t)).scalar_one())}
    if held:
        what = "escalations" if "escalation" in held else "rows"
        listed = ", ".join(f"{n} in {name}" for name, n in held.items())
        raise UsageError(f"bridge db copy: the store at {mask_url(url)} already holds {what} ({listed})",
                         hint="copy into a new, empty database")


def _insert(connection: Connection, table: Table, rows: list[dict[str, Any]], before: int, url: URL) -> None:
    """Insert one batch; when the target refuses it, find and name the row it refused."""
    try:
        with connection.begin_nested():
            connection.execute(table.insert(), rows)
        return
    except sqlalchemy.exc.DBAPIError as exc:
        if exc.statement is None or exc.connection_invalidated:
            raise  # the connection, not a row: store_errors reports it
        refused = exc
    # Row by row, each under a savepoint, to name the first one the target refuses (only
    # after a failure: the batch above is the fast path).
    for place, row in enumerate(rows, start=before + 1):
        try:
            with connection.begin_nested():
                connection.execute(table.insert(), [row])
        except sqlalchemy.exc.DBAPIError as exc:
            raise _refusal(table, row, place, exc, url) from None
    raise _refusal(table, None, None, refused, url) from None  # only the batch as a whole


def _refusal(table: Table, row: Mapping[str, Any] | None, place: int | None,
             exc: sqlalchemy.exc.DBAPIError, url: URL) -> UsageError:
    # The driver's first line says why without quoting the row (PostgreSQL puts values in
    # its DETAIL line); the row is named by an integer key, else by its place in key order,
    # never by a text key (a session's token hash, an account's name).
    reason = scrub((str(exc.orig).strip().splitlines() or [type(exc.orig).__name__])[0], url)
    keys = [c.name for c in table.primary_key.columns]
    if row is not None and all(isinstance(row[k], int) for k in keys):
        which = "row " + ", ".join(f"{k}={row[k]}" for k in keys)
    elif place is not None:
        which = f"row {place} (in key order)"
    else:
        which = "a row"
    return UsageError(f"bridge db copy: the store at {mask_url(url)} refused {which} of table {table.name}: "
                      f"{reason}; nothing was copied",
                      hint="TO_URL is as it was: correct that row in FROM_URL, then run the copy again")


def _move_sequences(connection: Connection, table: Table) -> None:
    for column in table.primary_key.columns:
        if not column.autoincrement or column.type.python_type is not int:
            continue
        sequence = connection.execute(text("SELECT pg_get_serial_sequence(:t, :c)"),
                                      {"t": table.name, "c": column.name}).scalar_one()
        if sequence:
            connection.execute(text(f'SELECT setval(:s, COALESCE((SELECT max("{column.name}") FROM "{table.name}"), 0) + 1, false)'),
                               {"s": sequence})
