"""``store.cursors``: named high-water marks of the sync jobs (e.g. JIRA's last ``updated``)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable

from sqlmodel import Session

from bridge.store.tables import SyncCursor, utcnow
from bridge.store.transactions import Repository, upsert

__all__ = ["CursorRepository"]


class CursorRepository(Repository):
    """Named cursors. Only the holder of the sync lease sets them, but for the retry list,
    which every pass adds its failures to: that one is changed in place (:meth:`change`)."""

    def get(self, name: str) -> str | None:
        """The value of the named high-water mark, or None before the first run."""
        with self.session() as s:
            cursor = s.get(SyncCursor, name)
            return cursor.value if cursor else None

    def get_with_time(self, name: str) -> tuple[str, datetime] | None:
        """The named value and when it was last set (UTC), or None."""
        with self.session() as s:
            cursor = s.get(SyncCursor, name)
            if cursor is None:
                return None
            at = cursor.updated_at
            return cursor.value, (at if at.tzinfo is not None else at.replace(tzinfo=timezone.utc))

    def set(self, name: str, value: str) -> None:
        """Set the named high-water mark (last write wins).

        One upsert: two processes setting a new cursor at once both succeed, where an
        insert after a read would make the later one fail on the primary key.
        """
        with self.session() as s:
            s.exec(upsert(s, SyncCursor, {"name": name, "value": value, "updated_at": utcnow()}, key=("name",)))

    def change(self, name: str, change: Callable[[str | None], str]) -> str:
        """Set the named cursor to ``change(value)``, ``value`` being what it holds now (None
        before the first write), in one transaction that holds its row; returns the new value.

        Passes changing one cursor at once (the retry list) each see the other's change: a
        read, then a write, would lose one. The row is locked (FOR UPDATE on PostgreSQL;
        SQLite's BEGIN IMMEDIATE already serialises writers), and a missing row is created
        with ``change(None)`` by an insert that yields to a concurrent first write.
        ``change`` runs inside that transaction: it computes, it does not use the store.
        """
        with self.session() as s:
            created = change(None)
            if s.exec(_insert_if_missing(s, name, created)).first() is not None:
                return created
            cursor = s.get(SyncCursor, name, with_for_update=True)
            cursor.value, cursor.updated_at = change(cursor.value), utcnow()
            s.add(cursor)
            return cursor.value


def _insert_if_missing(s: Session, name: str, value: str):
    """``INSERT ... ON CONFLICT DO NOTHING RETURNING name`` of the cursor row, on SQLite and
    PostgreSQL: a row back when it was inserted, none when it was there."""
    if s.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(SyncCursor.__table__).values(name=name, value=value, updated_at=utcnow())  # type: ignore[attr-defined]
    return statement.on_conflict_do_nothing(index_elements=["name"]).returning(SyncCursor.name)
