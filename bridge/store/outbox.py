"""``store.outbox``: every external write the bridge intends, under a unique idempotency key.

:meth:`OutboxRepository.claim` is race-safe across threads and processes: one claim per
key, decided by the key's unique constraint and a conditional UPDATE, never read-then-write.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy.exc
from sqlalchemy import update
from sqlmodel import col, select

from bridge.store.tables import OutboxEntry, utcnow
from bridge.store.transactions import NO_SYNC, Repository, encode, short

__all__ = ["OutboxRepository"]


class OutboxRepository(Repository):
    """Outbox entries: claim a write, record its outcome, find what is unfinished."""

    def claim(
        self,
        key: str,
        *,
        target: str,
        kind: str,
        payload: Mapping[str, Any] | None = None,
        escalation_id: int | None = None,
    ) -> bool:
        """Claim the right to perform the external write ``key``; True means "do it now".

        True when this call created the entry, or took over one that ``failed`` earlier
        (``attempts`` counts the tries). False when the key is ``sent``, or ``pending``: a
        write is under way elsewhere, or a process died during it. Only the engine holding
        the sync lease may resolve such an orphan, after checking the helpdesk's own marker:
        :meth:`done` if the write landed, else :meth:`failed` and claim again.
        """
        now = utcnow()
        try:
            with self.session() as s:
                retried = s.exec(
                    update(OutboxEntry)
                    .where(col(OutboxEntry.key) == key, col(OutboxEntry.state) == "failed")
                    .values(state="pending", attempts=OutboxEntry.attempts + 1)
                    .execution_options(**NO_SYNC)
                )
                if retried.rowcount == 1:
                    return True
                s.add(
                    OutboxEntry(
                        key=key,
                        escalation_id=escalation_id,
                        target=target,
                        kind=kind,
                        payload=encode(dict(payload or {})),
                        state="pending",
                        attempts=1,
                        created_at=now,
                    )
                )
            return True
        except sqlalchemy.exc.IntegrityError:
            if self.get(key) is None:  # not the key's unique constraint
                raise
            return False

    def done(self, key: str, *, at: datetime | None = None, sent: Mapping[str, Any] | None = None) -> None:
        """Record that the write ``key`` was performed; ``sent`` (what exactly was written:
        the message body, its locale) joins the entry's payload for the board's timeline."""
        values: dict[str, Any] = {"state": "sent", "sent_at": at or utcnow(), "last_error": None}
        if sent:
            with self.session() as s:
                entry = s.exec(select(OutboxEntry).where(col(OutboxEntry.key) == key)).first()
            if entry is not None:
                values["payload"] = encode({**self.payload(entry), **dict(sent)})
        self._finish(key, **values)

    def failed(self, key: str, error: str) -> None:
        """Record that the write ``key`` failed (``error`` must not hold secrets); the next
        :meth:`claim` of the key may try again."""
        self._finish(key, state="failed", last_error=short(error))

    def _finish(self, key: str, **values: Any) -> None:
        with self.session() as s:
            result = s.exec(
                update(OutboxEntry).where(col(OutboxEntry.key) == key).values(**values).execution_options(**NO_SYNC)
            )
            if result.rowcount != 1:
                raise LookupError(f"no outbox entry {key!r}: claim it first")

    def get(self, key: str) -> OutboxEntry | None:
        """The outbox entry with this key."""
        with self.session() as s:
            return s.exec(select(OutboxEntry).where(OutboxEntry.key == key)).first()

    def list(
        self,
        *,
        states: Iterable[str] | None = ("pending", "failed"),
        escalation_id: int | None = None,
        key_prefix: str | None = None,
    ) -> list[OutboxEntry]:
        """Outbox entries, oldest first; by default the unfinished ones (to retry or resolve)."""
        query = select(OutboxEntry).order_by(col(OutboxEntry.id))
        if states is not None:
            query = query.where(col(OutboxEntry.state).in_(list(states)))
        if escalation_id is not None:
            query = query.where(OutboxEntry.escalation_id == escalation_id)
        if key_prefix is not None:
            query = query.where(col(OutboxEntry.key).startswith(key_prefix, autoescape=True))
        with self.session() as s:
            return list(s.exec(query).all())

    def by_keys(self, keys: Iterable[str]) -> dict[str, OutboxEntry]:
        """The outbox entries with these keys, in one query per thousand keys."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, OutboxEntry] = {}
        with self.session() as s:
            for start in range(0, len(wanted), 1000):
                chunk = wanted[start:start + 1000]
                for entry in s.exec(select(OutboxEntry).where(col(OutboxEntry.key).in_(chunk))).all():
                    found[entry.key] = entry
        return found

    @staticmethod
    def payload(entry: OutboxEntry) -> dict[str, Any]:
        """The entry's payload, decoded."""
        decoded: dict[str, Any] = json.loads(entry.payload)
        return decoded
