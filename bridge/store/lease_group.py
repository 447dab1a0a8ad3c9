"""The leases of one sync pass on the escalations it works, taken in bulk and fenced together.

Every pass that writes for an escalation — a full `bridge sync`, the partial pass an inbox
worker runs for what a webhook touched, a `sync_escalation` job — first takes that
escalation's lease (:func:`escalation_lease`). Two passes therefore never work one escalation
at once, while passes over *different* escalations run side by side: a webhook is answered
in seconds even while a long reconciliation pass is under way, and the reconciliation simply
leaves to the next run what a worker holds.

:class:`EscalationLeases` takes them a few statements per 500 escalations
(:meth:`~bridge.store.leases.LeaseRepository.acquire_many`), renews them together in the
background, gives back what a pass has finished with (:meth:`EscalationLeases.give_back`:
a full pass, batch by batch) and offers the same ``check()`` as
:class:`~bridge.store.leases.LeaseKeeper`, which the executor calls before every write.
``check()`` costs no query of its own for the escalation leases: they are fenced by time,
as a lease is — a renewal that failed, was refused, or is older than the lease's time to
live (this process paused, say) makes every later ``check()`` raise
:class:`~bridge.errors.LeaseLost`, and nobody can take a lease before it has expired. A
pass-wide lease it is given (a full pass's ``sync``) is checked as its own keeper does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from bridge.errors import LeaseLost
from bridge.store.holders import this_process
from bridge.store.leases import LeaseKeeper, LeaseRepository
from bridge.store.tables import utcnow

__all__ = ["EscalationLeases", "escalation_lease"]


def escalation_lease(escalation_id: int) -> str:
    """The name of the lease a pass holds while it works escalation ``escalation_id``."""
    return f"sync:escalation:{int(escalation_id)}"


class EscalationLeases:
    """The escalation leases one pass holds; ``base`` is a pass-wide lease it holds too.

    ::

        leases = EscalationLeases(store.leases, ttl, holder=holder)
        mine = leases.take(ids)        # the ids nobody else is working
        try:
            ...                        # executor calls leases.check() before each write
        finally:
            leases.release()
    """

    def __init__(self, leases: LeaseRepository, ttl: timedelta, *, holder: str,
                 clock: Callable[[], datetime] = utcnow, base: LeaseKeeper | None = None) -> None:
        if ttl <= timedelta(0):
            raise ValueError(f"lease ttl must be positive, not {ttl}")
        self.leases = leases
        self.ttl = ttl
        self.process = this_process(holder)
        self.holder = self.process.name
        self.clock = clock
        self.base = base
        self._tokens: dict[str, int] = {}
        self._lock = threading.Lock()
        self._lost: str | None = None
        self._deadline = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def held(self) -> set[int]:
        """The escalation ids whose leases this pass holds."""
        with self._lock:
            return {int(name.rsplit(":", 1)[1]) for name in self._tokens}

    def take(self, escalation_ids: Iterable[int]) -> set[int]:
        """Take the leases of ``escalation_ids`` that nobody else holds; returns the ids of
        ``escalation_ids`` this pass now holds (taken now or before)."""
        wanted = {int(i) for i in escalation_ids}
        new = [escalation_lease(i) for i in wanted if escalation_lease(i) not in self._tokens]
        if new:
            started = time.monotonic()
            taken = self.leases.acquire_many(new, self.holder, self.ttl, now=self.clock(), process=self.process)
            with self._lock:
                first = not self._tokens
                self._tokens.update(taken)
                if first and taken:
                    self._deadline = started + self.ttl.total_seconds()
            if taken and self._thread is None:
                self._thread = threading.Thread(target=self._renew_until_stopped, name="lease-escalations",
                                                daemon=True)
                self._thread.start()
        with self._lock:  # (not ``wanted & self.held``: that reads every lease the pass holds)
            return {i for i in wanted if escalation_lease(i) in self._tokens}

    def check(self) -> None:
        """Raise :class:`LeaseLost` unless this pass provably still holds all its leases."""
        if self.base is not None:
            self.base.check()
        if self._lost is None and self._tokens and time.monotonic() >= self._deadline:
            self._lose("not renewed within its time to live (was this process paused?)")
        if self._lost is not None:
            raise LeaseLost(f"the escalation leases of {self.holder} are lost: {self._lost}",
                            hint="stop writing; the current holder or the next run goes on")

    def stop_renewing(self) -> None:
        """Stop the background renewals (the pass-wide lease's too): the leases lapse at their
        expiry (``check()`` fails from then on) unless they are released first."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        if self.base is not None:
            self.base.stop_renewing()

    def give_back(self, escalation_ids: Iterable[int]) -> None:
        """Give up the leases of ``escalation_ids`` (what a full pass has finished with)
        while keeping the rest: another pass may work them from now on, and the renewals
        and this pass's memory follow the batches in hand, not every escalation it worked.
        A lease already lost is not given back: its holder may be someone else now."""
        with self._lock:
            tokens = {name: self._tokens.pop(name) for name in map(escalation_lease, escalation_ids)
                      if name in self._tokens}
        if tokens and self._lost is None:
            self.leases.release_many(tokens, self.holder)

    def release(self) -> None:
        """Stop renewing and give every lease up (the pass-wide one too)."""
        self.stop_renewing()
        with self._lock:
            tokens, self._tokens = dict(self._tokens), {}
        if tokens and self._lost is None:
            self.leases.release_many(tokens, self.holder)
        if self.base is not None:
            self.base.release()
        self._lose("released")

    def _renew_until_stopped(self) -> None:
        while not self._stop.wait(self.ttl.total_seconds() / 3):
            started = time.monotonic()
            with self._lock:
                tokens = dict(self._tokens)
            try:
                lost = self.leases.renew_many(tokens, self.holder, self.ttl, now=self.clock())
            except Exception as exc:  # the store is unreachable: we cannot know we still hold them
                self._lose(f"renewal failed: {type(exc).__name__}")
                return
            with self._lock:
                lost = {name for name in lost if name in self._tokens}  # not those given back meanwhile
            if lost:
                self._lose(f"renewal refused for {len(lost)} lease(s), e.g. {min(lost)}")
                return
            self._deadline = started + self.ttl.total_seconds()

    def _lose(self, why: str) -> None:
        if self._lost is None:
            self._lost = why
