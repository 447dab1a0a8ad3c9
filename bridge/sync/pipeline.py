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
from collections import deque
from collections.abc import Callable, Collection, Iterable
from concurrent.futures import Future, ThreadPoolExecutor

__all__ = ["AppliedInTurn"]

log = logging.getLogger(__name__)


class AppliedInTurn:
    """Applies a pass's batches, up to ``depth`` at once, each on a thread of its own (or
    one at a time on the caller's thread, ``parallel`` False), while the caller prepares
    the next one.

    Use: ``submit`` each planned batch; ``wait`` before the pass's work that follows the
    batches; ``abandon`` when the pass fails, so no write outlives it."""

    def __init__(self, parallel: bool, depth: int = 1) -> None:
        self._pool = (ThreadPoolExecutor(max_workers=depth, thread_name_prefix="bridge-apply")
                      if parallel else None)
        self._depth = depth
        #: The batches being applied, oldest first: (future, then, keys).
        self._running: deque[tuple[Future, Callable[[], None], frozenset]] = deque()

    def working(self, keys: Iterable) -> bool:
        """Whether a batch being applied has any of ``keys``."""
        keys = set(keys)
        return any(not running.isdisjoint(keys) for _, _, running in self._running)

    def submit(self, apply: Callable[[], None], keys: Collection, then: Callable[[], None]) -> None:
        """Apply a batch (``apply``), once fewer than ``depth`` are being applied; ``then``
        runs on the caller's thread after ``apply`` has (what the pass no longer needs of
        the batch). An error of a batch before is raised here, and this one is not applied."""
        if self._pool is None:
            apply()
            then()
            return
        while len(self._running) >= self._depth:
            self._finish_oldest()
        self._running.append((self._pool.submit(apply), then, frozenset(keys)))

    def wait(self) -> None:
        """Until every batch being applied is done; the first error is raised here."""
        while self._running:
            self._finish_oldest()

    def _finish_oldest(self) -> None:
        future, then, _ = self._running[0]
        try:
            future.result()
        finally:
            self._running.popleft()
        then()

    def abandon(self) -> None:
        """The pass failed: wait for the batches being applied (their writes land and are
        recorded, or their own errors stop them), then let the threads go. The pass's error
        is the one reported; a batch's, if it had one too, goes to the log."""
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
