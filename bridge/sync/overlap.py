"""A sync pass applies one batch of escalations while it plans the next.

Applying a batch is mostly waiting: for the helpdesk's bulk jobs, for the tickets read back
after them, for JIRA. Planning the next batch is mostly work: leasing its escalations,
reading their rows and links, rendering what each ticket is to be told. Done one after the
other, a pass at 50 ms per request waits out every round's requests on top of its own work;
done side by side, the waits of one batch overlap the planning of the next.

What keeps this safe:

- one batch is applied at a time, on one thread, in the order the batches were planned;
  batches hold different escalations (each under its lease), so the batch being planned
  never touches a row, a ticket or an outbox entry of the one being applied;
- everything a pass reports, and every store write of its planning step (the audit rows
  of what could not be planned), happens on the caller's thread, in the same order as
  when the batches ran one after the other: a batch's results are taken in by
  :meth:`BatchApplier.wait` before the next batch's planning failures are recorded and it
  is handed over;
- an exception while applying (a lease lost, a store that fails) is raised on the
  caller's thread by the next ``wait``; a pass that stops for any reason waits for the
  batch under way to end before it gives up its leases.

A store whose sessions share one connection (SQLite in memory) cannot run two
transactions at once: there the batches are applied on the caller's thread, with the same
order of results.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

__all__ = ["BatchApplier", "batches"]


def batches(values: Iterable, size: int) -> Iterator[list]:
    """``values`` in lists of at most ``size``, consumed as they are needed."""
    batch: list = []
    for value in values:
        batch.append(value)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class BatchApplier:
    """Applies the batches a pass hands over one at a time, behind the pass's planning.

    ::

        with BatchApplier(behind=True) as applier:
            for batch in ...:
                prepared = plan(batch)
                applier.wait()             # the batch before: applied, its results taken in
                applier.submit(lambda: apply(prepared), took_in)
            applier.wait()

    ``behind=False`` applies each batch as it is submitted, on the caller's thread; the
    results are still taken in at the next ``wait``, so the order of what the caller
    records is the same either way.
    """

    def __init__(self, *, behind: bool) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bridge-apply") if behind else None
        self._pending: tuple[Future, Callable[[Any], None]] | None = None

    def submit(self, apply: Callable[[], Any], take_in: Callable[[Any], None]) -> None:
        """Start applying a batch: ``apply()`` runs (behind the caller, or now), and its
        result goes to ``take_in`` on the caller's thread at the next :meth:`wait`."""
        if self._pending is not None:
            raise RuntimeError("the batch before is still being applied: wait() for it first")
        future: Future = Future()
        if self._pool is not None:
            future = self._pool.submit(apply)
        else:
            try:
                future.set_result(apply())
            except Exception as exc:  # raised at wait(), as the thread's would be
                future.set_exception(exc)
        self._pending = (future, take_in)

    def wait(self) -> None:
        """Wait for the batch being applied, if any, and take its result in; raises what
        applying it raised."""
        if self._pending is None:
            return
        future, take_in = self._pending
        self._pending = None
        take_in(future.result())

    def __enter__(self) -> BatchApplier:
        return self

    def __exit__(self, kind, exc, trace) -> None:
        try:
            if kind is None:
                self.wait()
        finally:
            # Stopping for any reason: the batch under way ends before the pass goes on to
            # give up its leases (its result is not taken in when the pass already failed).
            self._pending = None
            if self._pool is not None:
                self._pool.shutdown(wait=True)
