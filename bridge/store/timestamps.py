"""How the store keeps time: every datetime is timezone-aware UTC on the Python side,
whatever the backend keeps (PostgreSQL ``timestamptz``, SQLite text), and naive ones are
refused. The tables (:mod:`bridge.store.tables`) declare their timestamp columns with
:func:`timestamp_field`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Dialect
from sqlmodel import Field

__all__ = ["UTCDateTime", "timestamp_field", "utcnow"]


def utcnow() -> datetime:
    """The current time, timezone-aware UTC: the only kind of datetime the store accepts."""
    return datetime.now(UTC)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC on the Python side.

    PostgreSQL keeps ``timestamptz`` and hands back the session's zone; SQLite keeps text and
    drops the zone altogether. Both come back as UTC-aware datetimes here, so callers can
    compare and subtract them without caring which backend they run on. Naive datetimes are
    refused on the way in: their meaning depends on the machine's zone, which is how minute-
    precise JIRA timestamps get misread.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(_SQLiteDateTime())
        return dialect.type_descriptor(self.impl)

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not UTC:  # (most are UTC already: utcnow, the clocks)
            if value.tzinfo is None or value.utcoffset() is None:
                raise ValueError(f"naive datetime {value!r}: the store takes timezone-aware datetimes only")
            value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            # SQLite's DATETIME text has no zone; storing UTC wall time keeps text ordering
            # equal to time ordering, which the lease and cursor comparisons rely on.
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class _SQLiteDateTime(sqlite.DATETIME):
    """SQLite's DATETIME text written by ``isoformat`` (C) in the very format SQLAlchemy's
    own %-formatting writes ("2026-12-02 12:54:43.000000"), at a third of its cost: a sync
    round binds thousands of times. Reading is SQLAlchemy's (``fromisoformat`` already)."""

    def bind_processor(self, dialect: Dialect) -> Any:
        def process(value: datetime | None) -> str | None:
            return None if value is None else value.isoformat(" ", "microseconds")
        return process


def timestamp_field(*, nullable: bool = False, index: bool = False) -> Any:
    """A UTC timestamp column; non-null ones default to the time of the insert."""
    if nullable:
        return Field(default=None, sa_type=UTCDateTime, nullable=True, index=index)
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=index)
