"""Independent requests of one round in flight together, a bounded number per service.

A sync round's bulk reads and writes (a hundred tickets each on Zendesk, one on helpdesks
without a bulk endpoint) and its JIRA writes to different Bugs do not depend on one
another: sent one at a time, a round at 50 ms per call waits ``requests x 50 ms``; sent
``limit`` at a time, about ``requests x 50 ms / limit``.

What runs on the pool's threads is HTTP only. The connectors' sessions may be shared by
threads (requests' connection pool, :class:`bridge.connectors.http.WaitBudget` and the
shared rate limiter of :mod:`bridge.jobs.limiter` are thread-safe, and every request still
takes its token there, so a round stays within the service's rate limit); store sessions
are never shared: the callers record results on their own thread, in the round's
transaction.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from bridge.connectors.base import Helpdesk, TicketWrite
from bridge.models import Ticket

__all__ = ["DEFAULT_CONCURRENCY", "ahead", "get_tickets", "in_flight", "read_tickets", "write_tickets"]

#: Requests of one round in flight together per service unless configured (``[http]
#: concurrency``): well inside Zendesk's and JIRA's rate limits for bulk requests.
DEFAULT_CONCURRENCY = 8

_In = TypeVar("_In")
_Out = TypeVar("_Out")


def in_flight(call: Callable[[_In], _Out], batches: Sequence[_In], limit: int) -> list[_Out | BaseException]:
    """``call`` on every batch, at most ``limit`` at a time; the results in the batches'
    order, an exception standing in for the result of a batch that raised one (the caller
    decides: one batch's failure never loses the others' results)."""

    def guarded(batch: _In) -> _Out | BaseException:
        try:
            return call(batch)
        except Exception as exc:  # handed back, not lost: the caller re-raises or records it
            return exc

    if limit <= 1 or len(batches) <= 1:
        return [guarded(batch) for batch in batches]
    with ThreadPoolExecutor(max_workers=min(limit, len(batches)), thread_name_prefix="bridge-round") as pool:
        return list(pool.map(guarded, batches))


_END = object()


def ahead(items: Iterator[_Out], depth: int = 1) -> Iterator[_Out]:
    """``items`` with up to ``depth`` next ones fetched on a thread while the caller works
    on this one.

    For a paged read whose pages come one after another (a search's next page needs the
    last one's token): the caller's work and the waits for the next pages overlap. The
    fetches run one after another on one thread, so ``items`` is never advanced by two at
    once; a deeper read-ahead keeps the reading going while the caller is busy elsewhere
    (a sync round writing to the helpdesk), at the cost of holding ``depth`` items more. A
    fetch's exception is raised where its item would have come; a caller that stops early
    waits for the fetch under way to end, and the ones not yet started never start."""
    depth = max(1, depth)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bridge-ahead")
    pending: deque[Future] = deque()
    try:
        pending.extend(pool.submit(next, items, _END) for _ in range(depth))
        while True:
            item = pending.popleft().result()
            if item is _END:
                return
            pending.append(pool.submit(next, items, _END))
            yield item
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _bulk_size(helpdesk: Helpdesk) -> int:
    return max(1, int(getattr(helpdesk, "bulk_size", 1)))


def _split(values: Sequence, size: int) -> list:
    return [values[start:start + size] for start in range(0, len(values), size)]


def read_tickets(helpdesk: Helpdesk, ticket_ids: Sequence[str], limit: int, *,
                 people: bool = True) -> dict[str, Ticket]:
    """:meth:`Helpdesk.read_many` in bulk requests in flight together (absent ids left out;
    ``people`` as there); the first failure is raised once every request has answered."""
    found: dict[str, Ticket] = {}
    for result in in_flight(lambda ids: helpdesk.read_many(list(ids), people=people),
                            _split(list(ticket_ids), _bulk_size(helpdesk)), limit):
        if isinstance(result, BaseException):
            raise result
        found.update(result)
    return found


def get_tickets(helpdesk: Helpdesk, ticket_ids: Sequence[str], limit: int) -> dict[str, Ticket | BaseException]:
    """Each ticket with its conversation (:meth:`Helpdesk.get_ticket`), several in flight;
    a ticket that could not be read maps to the exception that said why."""
    ids = list(ticket_ids)
    return dict(zip(ids, in_flight(helpdesk.get_ticket, ids, limit)))


def write_tickets(helpdesk: Helpdesk, changes: Sequence[tuple[str, TicketWrite]],
                  limit: int) -> dict[str, BaseException | Ticket | None]:
    """:meth:`Helpdesk.write_many` (one change per ticket), ``limit`` requests in flight
    together (bulk requests where the helpdesk has them); per ticket None (or the ticket
    read back right after the write) or the error that stopped its change."""
    return dict(helpdesk.write_many(list(changes), limit=limit)) if changes else {}
