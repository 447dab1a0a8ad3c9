"""``store.cursors``: named high-water marks of the sync jobs (e.g. JIRA's last ``updated``)."""

from __future__ import annotations

from datetime import datetime, timezone

from bridge.store.tables import SyncCursor, utcnow
from bridge.store.transactions import Repository, upsert

__all__ = ["CursorRepository"]


class CursorRepository(Repository):
    """Named cursors; only the holder of the sync lease writes them."""

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
