"""``store.cursors``: named high-water marks of the sync jobs (e.g. JIRA's last ``updated``)."""

from __future__ import annotations

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

    def set(self, name: str, value: str) -> None:
        """Set the named high-water mark (last write wins).

        One upsert: two processes setting a new cursor at once both succeed, where an
        insert after a read would make the later one fail on the primary key.
        """
        with self.session() as s:
            s.exec(upsert(s, SyncCursor, {"name": name, "value": value, "updated_at": utcnow()}, key=("name",)))
