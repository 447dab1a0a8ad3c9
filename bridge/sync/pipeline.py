"""A sync pass's batches applied on threads of their own while the pass plans the next.

A batch's application is mostly waiting: its bulk writes go to the helpdesk, which takes
its time to apply them, and are confirmed by reading the tickets back; meanwhile the pass
has nothing to do. Reading and planning the next batch (the store's rows, the plans: the
pass's own CPU) does not depend on those writes, so :class:`AppliedInTurn` lets the two
overlap: batch k+1 is leased, read and planned while batch k is claimed, written and
recorded. And since a batch waits for two or three round trips of its own (write, read
back), up to :data:`APPLYING` batches are applied at once: one's requests are in flight
while the other builds its messages or records what it did.

Exactly-once is what it was. Each batch is still claimed, written and recorded, in that
order, by one thread. Batches never share an escalation (or a ticket: a ticket is linked
to one escalation): the caller asks :meth:`AppliedInTurn.working` before it reads the rows
of a batch, and waits when a Bug the search listed twice is still being applied. A
process that dies leaves at most the batches being applied half-done, each outbox entry
claimed before it is sent (so the next run checks it before sending again), and one more
batch planned, which wrote nothing. What runs after a batch (``then``) runs on the
caller's thread, in the order the batches were submitted.

Store sessions are not shared: each thread opens its own transactions. A store whose
sessions share one connection (SQLite in memory) applies every batch on the caller's
thread, as does ``[http] concurrency`` 1 (one request at a time, JIRA's and the
helpdesk's together).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Collection, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType

__all__ = ["APPLYING", "AppliedInTurn"]

log = logging.getLogger(__name__)

#: Batches applied at once. Two hide one batch's round trips behind the other's CPU; more
#: would hold more batches in memory for little: the pass's CPU is then what bounds it.
APPLYING = 2


class AppliedInTurn:
    """Applies a pass's batches, up to ``depth`` at a time, on threads of their own (or one
    at a time on the caller's, ``parallel`` False), while the caller prepares the next one.

    Use as a context manager around the batches: ``submit`` each planned batch; leaving
    the block waits for the last ones (the first error raised), or, when the pass fails,
    waits for the batches in flight and reports the pass's error, so no write outlives
    the pass."""

    def __init__(self, parallel: bool, depth: int = APPLYING) -> None:
        self._depth = max(1, depth)
        self._pool = (ThreadPoolExecutor(max_workers=self._depth, thread_name_prefix="bridge-apply")
                      if parallel else None)
        #: The batches being applied, oldest first: future, what runs after it, its keys (Bug ids).
        self._running: deque[tuple[Future, Callable[[], None], frozenset]] = deque()

    def __enter__(self) -> AppliedInTurn:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc is not None:
            self.abandon()
            return
        try:
            self.wait()
        except BaseException:
            self.abandon()
            raise
        finally:
            self.close()

    def working(self, keys: Iterable) -> bool:
        """Whether a batch being applied has any of ``keys``."""
        keys = frozenset(keys)
        return any(not running[2].isdisjoint(keys) for running in self._running)

    def submit(self, apply: Callable[[], None], keys: Collection, then: Callable[[], None]) -> None:
        """Apply a batch (``apply``) once fewer than ``depth`` are being applied; ``then``
        runs on the caller's thread after ``apply`` has (what the pass no longer needs of
        the batch), in the order of submission. An error of a batch before is raised here,
        and this one is not applied."""
        if self._pool is None:
            apply()
            then()
            return
        while len(self._running) >= self._depth:
            self._finish_oldest()
        self._running.append((self._pool.submit(apply), then, frozenset(keys)))

    def wait(self) -> None:
        """Until every batch being applied is done, oldest first; the first error is raised
        here (the batches after it are left running: :meth:`abandon` waits for them)."""
        while self._running:
            self._finish_oldest()

    def _finish_oldest(self) -> None:
        future, then, _ = self._running.popleft()
        future.result()
        then()

    def abandon(self) -> None:
        """The pass failed: wait for the batches being applied (their writes land and are
        recorded, or their own errors stop them), then let the threads go. The pass's error
        is the one reported; the batches', if they had any too, go to the log."""
        running, self._running = self._running, deque()
        try:
            for future, _, _ in running:
                error = future.exception()
                if error is not None:
                    log.warning("a sync batch failed while the pass was failing: %s", error)
        finally:
            self.close()

    def close(self) -> None:
        """Let the threads go (after :meth:`wait` or :meth:`abandon`)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
