"""A sync pass's batches applied on a thread of their own while the pass plans the next.

A batch's application is mostly waiting: its bulk writes go to the helpdesk, which takes
its time to apply them, and are confirmed by reading the tickets back; meanwhile the pass
has nothing to do. Reading and planning the next batch (the store's rows, the plans: the
pass's own CPU) does not depend on those writes, so :class:`AppliedInTurn` lets the two
overlap: batch k+1 is leased, read and planned while batch k is claimed, written and
recorded.

Exactly-once is what it was. Each batch is still claimed, written and recorded, in that
order, by one thread, and the batches are applied one after another in the order they were
planned. Batches never share an escalation (or a ticket: a ticket is linked to one
escalation): the caller asks :meth:`AppliedInTurn.working` before it reads the rows of a
batch, and waits when a Bug the search listed twice is still being applied. A process that
dies leaves at most the batch being applied half-done, as it did before, and one more
batch planned, which wrote nothing.

Store sessions are not shared: each thread opens its own transactions. A store whose
sessions share one connection (SQLite in memory) applies every batch on the caller's
thread, as does ``[http] concurrency`` 1 (one request at a time, JIRA's and the
helpdesk's together).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType

__all__ = ["AppliedInTurn"]

log = logging.getLogger(__name__)


class AppliedInTurn:
    """Applies a pass's batches one at a time, in order, on a thread of their own (or on
    the caller's, ``parallel`` False), while the caller prepares the next one.

    Use as a context manager around the batches: ``submit`` each planned batch; leaving
    the block waits for the last one (its error raised), or, when the pass fails, waits
    for the batch in flight and reports the pass's error, so no write outlives the pass."""

    def __init__(self, parallel: bool) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bridge-apply") if parallel else None
        #: The batch being applied: its future, what runs after it, its keys (Bug ids).
        self._running: tuple[Future, Callable[[], None], frozenset] | None = None

    def __enter__(self) -> AppliedInTurn:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc is not None:
            self.abandon()
            return
        try:
            self.wait()
        finally:
            self.close()

    def working(self, keys: Iterable) -> bool:
        """Whether the batch being applied has any of ``keys``."""
        return self._running is not None and not self._running[2].isdisjoint(keys)

    def submit(self, apply: Callable[[], None], keys: Collection, then: Callable[[], None]) -> None:
        """Apply a batch (``apply``) once the one before is done; ``then`` runs on the
        caller's thread after ``apply`` has (what the pass no longer needs of the batch).
        An error of the batch before is raised here, and this one is not applied."""
        self.wait()
        if self._pool is None:
            apply()
            then()
            return
        self._running = (self._pool.submit(apply), then, frozenset(keys))

    def wait(self) -> None:
        """Until the batch being applied is done; its error, if it failed, is raised here."""
        running, self._running = self._running, None
        if running is not None:
            future, then, _ = running
            future.result()
            then()

    def abandon(self) -> None:
        """The pass failed: wait for the batch being applied (its writes land and are
        recorded, or its own error stops it), then let the thread go. The pass's error is
        the one reported; the batch's, if it had one too, goes to the log."""
        running, self._running = self._running, None
        try:
            if running is not None:
                error = running[0].exception()
                if error is not None:
                    log.warning("a sync batch failed while the pass was failing: %s", error)
        finally:
            self.close()

    def close(self) -> None:
        """Let the thread go (after :meth:`wait` or :meth:`abandon`)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
