"""The job journal: when each worker process held each escalation, and in which task.

Evidence that no escalation is ever worked by two workers at once, for tests and for people
reading ``bridge_job_journal``. A row covers the time a pass held an escalation's lease
(``sync:escalation:<id>``, bridge/store/lease_group.py), from just after taking it to just
before giving it back, or to its expiry if the pass did not renew it in time (a stalled
process: nobody can take a lease before it expires, and the pass's own check refuses every
write from then on), so two rows of one escalation overlap only if two holds did. Every
pass takes those leases through the store's lease repository; :func:`journaled` puts a
recording one in its place for the length of a job. A row without an end is a process that
died holding the lease (SIGKILL); the lease then expires.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, bindparam, text
from sqlalchemy.exc import OperationalError

from bridge.store.lease_group import escalation_lease

__all__ = ["JOURNAL_KEEP", "JournalingLeases", "journal_end", "journal_start", "journaled", "prune_journal"]

#: How long journal rows are kept (the reconciliation prunes older ones).
JOURNAL_KEEP = timedelta(days=7)
#: How long a job keeps trying to write its rows' end while the database is away.
JOURNAL_END_PATIENCE_S = 120.0

_PREFIX = escalation_lease(0).rsplit(":", 1)[0] + ":"


def journal_start(engine: Engine, escalation_ids: list[int], *, job_id: int | None, worker: str,
                  task: str) -> list[int]:
    """Record that this process now holds ``escalation_ids``; the rows' ids (one transaction)."""
    if not escalation_ids:
        return []
    with engine.begin() as connection:
        return [connection.execute(text(
            "INSERT INTO bridge_job_journal (escalation_id, job_id, worker, pid, task, started_at) "
            "VALUES (:e, :j, :w, :p, :t, clock_timestamp()) RETURNING id"),
            {"e": int(escalation_id), "j": job_id, "w": worker, "p": os.getpid(), "t": task}).scalar_one()
            for escalation_id in escalation_ids]


def journal_end(engine: Engine, row_ids: list[int], outcome: str, *, at: datetime | None = None,
                patience_s: float = JOURNAL_END_PATIENCE_S) -> None:
    """Record that the holds of ``row_ids`` ended ``at`` (default: now), and how the work went.

    The end is read from this process's clock, and written even if the database needs a
    while to come back (PostgreSQL restarting): a row left open could not show that this
    work ended before another worker's began."""
    if not row_ids:
        return
    ended = at or datetime.now(UTC)
    deadline = time.monotonic() + patience_s
    pause = 0.25
    statement = text("UPDATE bridge_job_journal SET ended_at = GREATEST(started_at, :t), outcome = :o "
                     "WHERE id IN :ids").bindparams(bindparam("ids", expanding=True))
    while True:
        try:
            with engine.begin() as connection:
                connection.execute(statement, {"t": ended, "o": outcome[:200], "ids": list(row_ids)})
            return
        except OperationalError:
            if time.monotonic() + pause > deadline:
                raise
            time.sleep(pause)  # the database is away: try again, less often as it stays away
            pause = min(4.0, pause * 2)


def prune_journal(engine: Engine, keep: timedelta = JOURNAL_KEEP) -> int:
    """Delete rows that started more than ``keep`` ago; how many."""
    with engine.begin() as connection:
        return connection.execute(text("DELETE FROM bridge_job_journal WHERE started_at < now() - :keep"),
                                  {"keep": keep}).rowcount


class JournalingLeases:
    """A store's lease repository that journals the escalation leases taken and given back
    through it (everything else passes through untouched)."""

    def __init__(self, inner, engine: Engine, *, job_id: int | None, worker: str, task: str) -> None:
        self.inner, self.engine = inner, engine
        self.job_id, self.worker, self.task = job_id, worker, task
        #: Journal row of each escalation lease held, by lease name; rows ended already.
        self.rows: dict[str, int] = {}
        self.ended: list[int] = []
        #: Until when each lease held is ours: its expiry as last set (taken or renewed).
        #: Nobody can take it before; a pass that did not renew it in time (a stalled
        #: process) has held it only until then, whenever it gets to give it back.
        self.expires: dict[str, datetime] = {}

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def acquire_many(self, names, holder, ttl, **kwargs):
        taken = self.inner.acquire_many(names, holder, ttl, **kwargs)
        expiry = (kwargs.get("now") or datetime.now(UTC)) + ttl
        ours = sorted(name for name in taken if name.startswith(_PREFIX) and name not in self.rows)
        ids = journal_start(self.engine, [int(name[len(_PREFIX):]) for name in ours], job_id=self.job_id,
                            worker=self.worker, task=self.task)
        self.rows.update(zip(ours, ids))
        self.expires.update((name, expiry) for name in ours)
        return taken

    def renew_many(self, tokens, holder, ttl, **kwargs):
        lost = self.inner.renew_many(tokens, holder, ttl, **kwargs)
        expiry = (kwargs.get("now") or datetime.now(UTC)) + ttl
        self.expires.update((name, expiry) for name in tokens if name in self.rows and name not in lost)
        return lost

    def release_many(self, tokens, holder):
        # Before the release: the row lies inside the hold.
        self.ended += self._end([name for name in list(tokens) if name in self.rows], "released")
        return self.inner.release_many(tokens, holder)

    def _end(self, names: list[str], outcome: str) -> list[int]:
        """End the rows of ``names`` now, or where a lease lapsed first, at its expiry; their ids."""
        now = datetime.now(UTC)
        by_end: dict[datetime, list[int]] = {}
        for name in names:
            by_end.setdefault(min(now, self.expires.pop(name, now)), []).append(self.rows.pop(name))
        for ended, rows in by_end.items():
            journal_end(self.engine, rows, outcome, at=ended)
        return [row for rows in by_end.values() for row in rows]

    def finish(self, outcome: str) -> None:
        """The job's outcome on its rows; rows of leases never given back through here (lost,
        or left to expire) end now, or at their lease's expiry if that came first."""
        self._end(list(self.rows), "not released: " + outcome)
        if self.ended:
            with self.engine.begin() as connection:
                connection.execute(text("UPDATE bridge_job_journal SET outcome = :o WHERE id IN :ids").bindparams(
                    bindparam("ids", expanding=True)), {"o": outcome[:200], "ids": self.ended})


@contextmanager
def journaled(store, *, job_id: int | None, worker: str, task: str) -> Iterator[JournalingLeases]:
    """Journal the escalation leases ``store``'s passes take during the block (the caller
    sets the outcome with ``finish``); the store is one job's alone (lent by the worker's
    pool), so its repository is swapped for the block."""
    journal = JournalingLeases(store.leases, store.engine, job_id=job_id, worker=worker, task=task)
    store.leases = journal
    try:
        yield journal
    except BaseException as exc:
        journal.finish(f"error: {type(exc).__name__}")
        raise
    finally:
        store.leases = journal.inner
