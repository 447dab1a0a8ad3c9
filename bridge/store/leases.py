"""``store.leases``: mutual exclusion between processes sharing a store, with fencing.

A lease row names its holder, the holder's host and process, and a *fencing token* that
grows by one with every acquisition. Whoever wants the lease gets it when it is free, when
it has expired, or at once when its holder is provably dead (same host, no such process:
see :mod:`bridge.store.holders`); otherwise it waits for the expiry.

Holding a lease for a long job: :class:`LeaseKeeper` renews it in a background thread and
offers :meth:`LeaseKeeper.check`, which the executor calls before every write. A renewal
that fails, a renewal that comes too late, or another holder's token in the store makes
``check()`` raise :class:`bridge.errors.LeaseLost`, so of two processes that both believe
they hold the lease (one paused past its expiry, say) at most one passes ``check()``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from types import TracebackType

import sqlalchemy.exc
from sqlalchemy import update
from sqlmodel import Session, col, select

from bridge.errors import LeaseLost
from bridge.store.holders import Holder, is_provably_dead, this_process
from bridge.store.tables import Lease, utcnow
from bridge.store.transactions import NO_SYNC, Repository, chunks, insert_rows, one_of

__all__ = ["LeaseKeeper", "LeaseRepository"]


class LeaseRepository(Repository):
    """Named leases: at most one holder until the lease expires or its holder provably dies."""

    def acquire(
        self,
        name: str,
        holder: str,
        ttl: timedelta,
        *,
        now: datetime | None = None,
        process: Holder | None = None,
    ) -> Lease | None:
        """Take the lease ``name`` for ``ttl``; the lease row (with its new fencing token),
        or None when someone else holds it.

        Taken when the lease is free, expired, already ``holder``'s (re-acquiring renews it
        under a new token), or held by a provably dead process on this host. Every step is
        a conditional UPDATE or a unique-keyed INSERT, so of racing callers one wins.
        ``process`` is the holder's process (default: this one).
        """
        now = now or utcnow()
        me = process or this_process(holder)
        claim = {
            "holder": holder,
            "host": me.host,
            "pid": me.pid,
            "process_scope": me.process_scope,
            "expires_at": now + ttl,
            "acquired_at": now,
            "token": Lease.token + 1,
        }
        try:
            with self.session() as s:
                free = (col(Lease.holder).is_(None)) | (col(Lease.expires_at) <= now) | (col(Lease.holder) == holder)
                if _update(s, name, free, claim):
                    return _read(s, name)
                current = _read(s, name)
                if current is None:
                    s.add(Lease(**{**claim, "token": 1}, name=name))
                    s.flush()
                    return _read(s, name)
                if is_provably_dead(current.host, current.pid, current.process_scope):
                    # Compare-and-swap on the token: if the row moved on since we read it,
                    # someone else took it over first.
                    if _update(s, name, col(Lease.token) == current.token, claim):
                        return _read(s, name)
                return None
        except sqlalchemy.exc.IntegrityError:  # another process inserted the row first
            return None

    def renew(
        self, name: str, holder: str, ttl: timedelta, *, now: datetime | None = None, token: int | None = None
    ) -> bool:
        """Extend a lease we hold; False when another holder has taken it over meanwhile
        (with ``token``: when any acquisition happened since ours)."""
        now = now or utcnow()
        held = col(Lease.holder) == holder
        if token is not None:
            held = held & (col(Lease.token) == token)
        with self.session() as s:
            return _update(s, name, held, {"expires_at": now + ttl})

    def release(self, name: str, holder: str, *, token: int | None = None) -> bool:
        """Give the lease up; False if ``holder`` (under ``token``) did not hold it. The row
        stays, so the next acquisition's token is still greater."""
        held = col(Lease.holder) == holder
        if token is not None:
            held = held & (col(Lease.token) == token)
        now = utcnow()
        with self.session() as s:
            return _update(s, name, held, {"holder": None, "host": None, "pid": None,
                                           "process_scope": None, "expires_at": now})

    def acquire_many(
        self, names: list[str], holder: str, ttl: timedelta, *, now: datetime | None = None,
        process: Holder | None = None,
    ) -> dict[str, int]:
        """Take every lease of ``names`` that is free (as :meth:`acquire` would), in a few
        statements per 500 names instead of a transaction per lease: the leases a sync pass
        takes for the escalations it works. Returns the names taken, each with its new
        fencing token; a name someone else holds is simply absent."""
        now = now or utcnow()
        me = process or this_process(holder)
        claim = {"holder": holder, "host": me.host, "pid": me.pid, "process_scope": me.process_scope,
                 "expires_at": now + ttl, "acquired_at": now}
        free = (col(Lease.holder).is_(None)) | (col(Lease.expires_at) <= now) | (col(Lease.holder) == holder)
        taken: dict[str, int] = {}
        for chunk in chunks(sorted(set(names))):
            with self.session() as s:
                s.exec(update(Lease).where(one_of(s, col(Lease.name), chunk), free)
                       .values(**claim, token=Lease.token + 1).execution_options(**NO_SYNC))
                # Columns, not entities: a pass may take ten thousand of these at once.
                rows = {r.name: r for r in s.exec(select(Lease.name, Lease.holder, Lease.host, Lease.pid,
                                                         Lease.process_scope, Lease.token)
                                                  .where(one_of(s, col(Lease.name), chunk)))}
                missing = [n for n in chunk if n not in rows]
                if missing:
                    insert_rows(s, Lease.__table__, [{**claim, "name": n, "token": 1} for n in missing],
                                skip_existing=("name",))
                for row in rows.values():
                    if row.holder != holder and is_provably_dead(row.host, row.pid, row.process_scope):
                        _update(s, row.name, col(Lease.token) == row.token, {**claim, "token": row.token + 1})
                mine = s.exec(select(Lease.name, Lease.token).where(one_of(s, col(Lease.name), chunk),
                                                                    col(Lease.holder) == holder)).all()
                taken.update({name: token for name, token in mine})
        return taken

    def renew_many(self, tokens: dict[str, int], holder: str, ttl: timedelta, *,
                   now: datetime | None = None) -> set[str]:
        """Extend the leases ``tokens`` names (name -> our fencing token); the names that are
        no longer ours (taken over after expiring), empty when every one was renewed."""
        now = now or utcnow()
        lost: set[str] = set()
        for chunk in chunks(sorted(tokens)):
            with self.session() as s:
                s.exec(update(Lease).where(one_of(s, col(Lease.name), chunk), col(Lease.holder) == holder)
                       .values(expires_at=now + ttl).execution_options(**NO_SYNC))
                mine = dict(s.exec(select(Lease.name, Lease.token).where(one_of(s, col(Lease.name), chunk),
                                                                         col(Lease.holder) == holder)).all())
            lost.update(n for n in chunk if mine.get(n) != tokens[n])
        return lost

    def release_many(self, tokens: dict[str, int], holder: str) -> None:
        """Give up the leases ``tokens`` names (those still ``holder``'s)."""
        now = utcnow()
        gone = {"holder": None, "host": None, "pid": None, "process_scope": None, "expires_at": now}
        # By holder alone: a holder name is one process's (host, pid, random suffix), and a
        # lease taken over from it after expiring carries another holder's name.
        for chunk in chunks(sorted(tokens)):
            with self.session() as s:
                s.exec(update(Lease).where(one_of(s, col(Lease.name), chunk), col(Lease.holder) == holder)
                       .values(**gone).execution_options(**NO_SYNC))

    def get(self, name: str) -> Lease | None:
        """Who holds the lease ``name``, until when, under which token (possibly expired);
        None while nobody holds it."""
        with self.reading() as s:
            lease = _read(s, name)
            return lease if lease is not None and lease.holder is not None else None

    def keeper(
        self, name: str, ttl: timedelta, *, holder: str | None = None,
        clock: Callable[[], datetime] = utcnow, renew_every: timedelta | None = None,
    ) -> LeaseKeeper:
        """A :class:`LeaseKeeper` for the lease ``name`` (not yet acquired)."""
        return LeaseKeeper(self, name, ttl, holder=holder, clock=clock, renew_every=renew_every)


def _update(s: Session, name: str, condition: object, values: dict[str, object]) -> bool:
    result = s.exec(
        update(Lease).where(col(Lease.name) == name, condition).values(**values).execution_options(**NO_SYNC)
    )
    return bool(result.rowcount == 1)


def _read(s: Session, name: str) -> Lease | None:
    return s.exec(select(Lease).where(Lease.name == name).execution_options(populate_existing=True)).first()


class LeaseKeeper:
    """Holds a lease while work goes on: renews it in the background, fences every write.

    ::

        keeper = store.leases.keeper("sync", timedelta(minutes=10))
        if not keeper.acquire():
            print(f"held by {keeper.current.holder}")   # someone else works
            return
        with keeper:                  # renews every ttl/3; releases at the end
            for write in writes:
                keeper.check()        # raises LeaseLost once the lease is not ours
                write()

    ``check()`` passes only while (1) no renewal failed, (2) the last successful renewal
    began less than ``ttl`` ago by this process's monotonic clock — a process paused past
    its lease notices on waking, before anything else — and (3) the store still shows this
    holder, this token, unexpired. Once lost, a keeper stays lost.
    """

    def __init__(
        self,
        leases: LeaseRepository,
        name: str,
        ttl: timedelta,
        *,
        holder: str | None = None,
        clock: Callable[[], datetime] = utcnow,
        renew_every: timedelta | None = None,
    ) -> None:
        if ttl <= timedelta(0):
            raise ValueError(f"lease ttl must be positive, not {ttl}")
        self.leases = leases
        self.name = name
        self.ttl = ttl
        self.process = this_process(holder)
        self.holder = self.process.name
        self.clock = clock
        self.renew_every = renew_every or ttl / 3
        #: The fencing token of our acquisition; None before it.
        self.token: int | None = None
        #: The lease as last read: ours after :meth:`acquire`, the other holder's after a refusal.
        self.current: Lease | None = None
        self._lost: str | None = None
        self._deadline = 0.0  # time.monotonic() after which we no longer trust our lease
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- holding ----------------------------------------------------------------------------

    def acquire(self) -> bool:
        """Try to take the lease; True if taken (renewal starts), False if someone else
        holds it (see :attr:`current`)."""
        started = time.monotonic()
        lease = self.leases.acquire(self.name, self.holder, self.ttl, now=self.clock(), process=self.process)
        if lease is None:
            self.current = self.leases.get(self.name)
            return False
        self.current, self.token, self._lost = lease, lease.token, None
        self._deadline = started + self.ttl.total_seconds()
        self._stop.clear()
        self._thread = threading.Thread(target=self._renew_until_stopped, name=f"lease-{self.name}", daemon=True)
        self._thread.start()
        return True

    def check(self) -> None:
        """Raise :class:`LeaseLost` unless this keeper provably still holds the lease."""
        if self.token is None:
            raise LeaseLost(f"lease {self.name!r} was never acquired by {self.holder}")
        if self._lost is None and time.monotonic() >= self._deadline:
            self._lose("not renewed within its time to live (was this process paused?)")
        if self._lost is None:
            lease = self.leases.get(self.name)
            if lease is None or lease.holder != self.holder or lease.token != self.token:
                self._lose(f"taken over by {lease.holder if lease else 'nobody'}")
            elif lease.expires_at <= self.clock():
                self._lose("expired")
        if self._lost is not None:
            raise LeaseLost(f"lease {self.name!r} (token {self.token}) is lost: {self._lost}",
                            hint="stop writing; the current holder or the next run goes on")

    @property
    def lost(self) -> bool:
        """True once the lease is known not to be ours any more."""
        return self._lost is not None

    def stop_renewing(self) -> None:
        """Stop the background renewal; the lease lapses at its expiry (``check()`` fails
        from then on) unless it is released first."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def release(self) -> None:
        """Stop renewing and give the lease up (a no-op for a lease already lost)."""
        self.stop_renewing()
        if self.token is not None and self._lost is None:
            self.leases.release(self.name, self.holder, token=self.token)
        self._lose("released")

    def __enter__(self) -> LeaseKeeper:
        if self.token is None and not self.acquire():
            held_by = self.current.holder if self.current else "?"
            raise LeaseLost(f"lease {self.name!r} is held by {held_by}", hint="try again when it is released")
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    # -- background ---------------------------------------------------------------------------

    def _renew_until_stopped(self) -> None:
        assert self.token is not None
        while not self._stop.wait(self.renew_every.total_seconds()):
            started = time.monotonic()
            try:
                renewed = self.leases.renew(self.name, self.holder, self.ttl, now=self.clock(), token=self.token)
            except Exception as exc:  # the store is unreachable: we cannot know we still hold it
                self._lose(f"renewal failed: {type(exc).__name__}")
                return
            if not renewed:
                self._lose("renewal refused: another holder took the lease over")
                return
            # Counted from *before* the renewal was sent: the store's expiry is later still.
            self._deadline = started + self.ttl.total_seconds()

    def _lose(self, why: str) -> None:
        if self._lost is None:
            self._lost = why
