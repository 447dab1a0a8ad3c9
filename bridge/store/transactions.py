"""Transactions and the base every repository of the store shares.

One short transaction per repository call: :func:`transaction` opens a session whose
transaction commits when the block ends and rolls back on error, and turns a failure to
*connect* into :class:`bridge.errors.ConfigError` with the masked URL. :class:`Repository`
is the base of the table-group repositories (``store.escalations``, ``store.links``, ...).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, TypeVar

import sqlalchemy.exc
from sqlalchemy import Engine
from sqlmodel import Session, SQLModel

from bridge.store.urls import connection_error

__all__ = ["NO_SYNC", "Repository", "chunks", "encode", "get_for_update", "short", "transaction"]

# Audit and outbox errors are for people skimming a list, not for dumps of response bodies
# (which could carry customer data).
_MAX_DETAIL = 500
#: ORM-enabled UPDATE/DELETE would otherwise try to sync objects in a session that holds none.
NO_SYNC = {"synchronize_session": False}
_Row = TypeVar("_Row", bound=SQLModel)


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """A session whose transaction commits when the block ends and rolls back on error.

    Objects stay readable after the block (``expire_on_commit=False``). A failure to
    *connect* becomes :class:`bridge.errors.ConfigError` with the masked URL.
    """
    try:
        with Session(engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise
    except sqlalchemy.exc.DBAPIError as exc:
        if exc.statement is None or exc.connection_invalidated:
            raise connection_error(exc, engine.url) from None
        raise


class Repository:
    """The queries of one table group; each method is one short transaction.

    Rows come back detached from their session with their attributes loaded: read them
    freely, change the store only through the repositories' methods.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def session(self) -> AbstractContextManager[Session]:
        """A transaction on the store (see :func:`transaction`)."""
        return transaction(self.engine)

    def within(self, s: Session | None) -> AbstractContextManager[Session]:
        """The caller's session ``s`` (the work commits with the caller's transaction, so
        several repositories' bulk writes land together), or a transaction of its own."""
        return nullcontext(s) if s is not None else transaction(self.engine)


def get_for_update(s: Session, model: type[_Row], row_id: int) -> _Row:
    """The row ``row_id`` of ``model``, locked for the rest of the transaction."""
    # FOR UPDATE on PostgreSQL serialises concurrent read-modify-write of one row;
    # SQLite's BEGIN IMMEDIATE already does, and ignores the clause.
    row = s.get(model, row_id, with_for_update=True)
    if row is None:
        raise LookupError(f"no {model.__tablename__} with id {row_id}")  # type: ignore[attr-defined]
    return row


def encode(value: Any) -> str:
    """JSON text for a payload column: stable key order so equal payloads compare equal."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def short(text: str) -> str:
    """``text`` on one line, cut to a length people skim (never a whole response body)."""
    text = " ".join(text.split())
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"


def upsert(s: Session, model: type[SQLModel], values: dict[str, Any], *, key: tuple[str, ...]) -> Any:
    """``INSERT ... ON CONFLICT (key) DO UPDATE`` for SQLite and PostgreSQL alike.

    Atomic on both backends, so concurrent writers of one new row never collide on its
    unique key the way a read-then-insert does.
    """
    table = model.__table__  # type: ignore[attr-defined]
    dialect = s.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    # Bind through the column types (UTCDateTime), which a core insert of raw values does too.
    statement = insert(table).values(**values)
    updates = {name: statement.excluded[name] for name in values if name not in key}
    return statement.on_conflict_do_update(index_elements=list(key), set_=updates)


def chunks(values: list[Any], size: int = 500) -> Iterator[list[Any]]:
    """``values`` in slices of at most ``size``: IN lists stay within every backend's
    limit on bound parameters however many rows a pass touches."""
    for start in range(0, len(values), size):
        yield values[start:start + size]
