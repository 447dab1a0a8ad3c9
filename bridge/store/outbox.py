"""``store.outbox``: every external write the bridge intends, under a unique idempotency key.

:meth:`OutboxRepository.claim` is race-safe across threads and processes: one claim per
key, decided by the key's unique constraint and a conditional UPDATE, never read-then-write.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy.exc
from sqlalchemy import update
from sqlmodel import Session, col, select
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random

from bridge.store.tables import OutboxEntry, utcnow
from bridge.store.transactions import (NO_SYNC, Repository, chunks, encode, insert_rows, is_deadlock, one_of,
                                       short, update_by_key)

__all__ = ["OutboxRepository"]

#: Tries of a claim the server ended to break a deadlock with a concurrent claimer.
DEADLOCK_TRIES = 3


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

    def claim_many(self, wanted: Sequence[Mapping[str, Any]], *,
                   s: Session | None = None) -> list[tuple[bool, Any]]:
        """:meth:`claim` for many writes in one transaction (a sync round's), answering per
        item of ``wanted`` (dicts of claim's arguments: ``key``, ``target``, ``kind``,
        ``payload``, ``escalation_id``) whether it is claimed and its entry as it now stands
        (a row of its ``key``, ``state`` and ``attempts``).

        As race-safe as :meth:`claim`: ``failed`` entries are taken back by one conditional
        UPDATE, new keys inserted with ``ON CONFLICT DO NOTHING``; a key counts as claimed
        only when this call's statement changed its row (``RETURNING``). A key named twice
        is claimed for its first mention only. The caller commits the claims (its own
        transaction, or this call's) before making any of the writes.

        Entries are created in the order ``wanted`` names them (their ids are the claim
        order :meth:`latest_by_target` reads). Two claimers inserting the same new keys in
        other orders can deadlock on PostgreSQL; in a transaction of its own the claim is
        then run again (the server rolled it back whole), else the caller's fails.
        """
        if s is not None:
            return self._claim_many(wanted, s)
        retrying = Retrying(retry=retry_if_exception(is_deadlock), stop=stop_after_attempt(DEADLOCK_TRIES),
                            wait=wait_random(0, 0.05), reraise=True)
        return retrying(self._claim_many, wanted, None)

    def _claim_many(self, wanted: Sequence[Mapping[str, Any]], s: Session | None) -> list[tuple[bool, Any]]:
        keys = list(dict.fromkeys(w["key"] for w in wanted))
        table = OutboxEntry.__table__  # type: ignore[attr-defined]
        taken: set[str] = set()
        with self.within(s) as session:
            connection = session.connection()
            # Which keys exist, and in which state: two columns, not ORM objects.
            known: dict[str, str] = {}
            for chunk in chunks(keys):
                known.update(connection.execute(
                    select(table.c.key, table.c.state).where(one_of(connection, table.c.key, chunk))).all())
            for chunk in chunks(sorted(k for k, state in known.items() if state == "failed")):
                taken.update(connection.execute(
                    update(table).where(one_of(connection, table.c.key, chunk), table.c.state == "failed")
                    .values(state="pending", attempts=table.c.attempts + 1).returning(table.c.key)).scalars())
            first = {w["key"]: w for w in reversed(wanted)}
            now = utcnow()
            rows = [{"key": key, "escalation_id": first[key].get("escalation_id"), "target": first[key]["target"],
                     "kind": first[key]["kind"], "payload": encode(dict(first[key].get("payload") or {})),
                     "state": "pending", "attempts": 1, "created_at": now}
                    for key in keys if key not in known]
            taken.update(insert_rows(connection, table, rows, skip_existing=("key",), returning=table.c.key))
            entries = {}
            for chunk in chunks(keys):  # three columns, not ORM objects (a round's 500 of them)
                entries.update((row.key, row) for row in connection.execute(
                    select(table.c.key, table.c.state, table.c.attempts)
                    .where(one_of(connection, table.c.key, chunk))))
        answers: list[tuple[bool, Any]] = []
        for w in wanted:
            answers.append((w["key"] in taken, entries.get(w["key"])))
            taken.discard(w["key"])  # a second mention of the key is not claimed again
        return answers

    def finish_many(self, *, done: Iterable[tuple[str, Mapping[str, Any] | None]] = (),
                    failed: Iterable[tuple[str, str]] = (), at: datetime | None = None,
                    s: Session | None = None) -> None:
        """:meth:`done` and :meth:`failed` for many keys in one transaction (a round's
        results): ``done`` as (key, what was sent or None), ``failed`` as (key, error).
        Keys must have been claimed; their entries' order of events is the caller's."""
        done, failed = list(done), list(failed)
        if not done and not failed:
            return
        table = OutboxEntry.__table__  # type: ignore[attr-defined]
        at = at or utcnow()
        with self.within(s) as session:
            with_sent = [(k, sent) for k, sent in done if sent]
            payloads: dict[str, str] = {}
            for chunk in chunks([k for k, _ in with_sent]):
                payloads.update(session.connection().execute(
                    select(table.c.key, table.c.payload).where(one_of(session, table.c.key, chunk))).all())
            sent = {"state": "sent", "sent_at": at, "last_error": None}
            update_by_key(session, table, ("key",), [{"key": k} for k, what in done if not what], constants=sent)
            update_by_key(session, table, ("key",),
                          [{"key": k, "payload": encode({**json.loads(payloads[k]), **dict(what)})}
                           for k, what in with_sent if k in payloads], constants=sent)
            update_by_key(session, table, ("key",), [{"key": k, "last_error": short(error)} for k, error in failed],
                          constants={"state": "failed"})

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
                for entry in s.exec(select(OutboxEntry).where(one_of(s, col(OutboxEntry.key), chunk))).all():
                    found[entry.key] = entry
        return found

    def latest_by_target(self, wanted: Iterable[tuple[int, str]], kinds: Iterable[str]) -> dict[str, OutboxEntry]:
        """The newest entry (by claim order) of one of these ``kinds`` for each target of
        ``wanted`` (escalation id, target), whatever its state: what the bridge last set
        out to write there. Read by escalation (indexed), a few rows each."""
        by_escalation: dict[int, set[str]] = {}
        for escalation_id, target in wanted:
            by_escalation.setdefault(escalation_id, set()).add(target)
        kinds = list(kinds)
        found: dict[str, OutboxEntry] = {}
        with self.session() as s:
            for chunk in chunks(sorted(by_escalation)):
                query = (select(OutboxEntry).where(one_of(s, col(OutboxEntry.escalation_id), chunk),
                                                   col(OutboxEntry.kind).in_(kinds))
                         .order_by(col(OutboxEntry.id)))
                found.update((e.target, e) for e in s.exec(query)
                             if e.target in by_escalation[e.escalation_id])
        return found

    @staticmethod
    def payload(entry: OutboxEntry) -> dict[str, Any]:
        """The entry's payload, decoded."""
        decoded: dict[str, Any] = json.loads(entry.payload)
        return decoded
