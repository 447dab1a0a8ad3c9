"""A round's requests in flight together (bridge.in_flight): results in the batches' order,
a failing batch handed back in its place, never more than the limit at once, and a
helpdesk's round split into requests of its bulk size."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.connectors.base import Conflict, Helpdesk, TicketWrite
from bridge.errors import ServiceUnreachable, UnknownTicket
from bridge.in_flight import get_tickets, in_flight, read_tickets, write_tickets
from bridge.models import Ticket
from bridge.policy.visibility import OutboundGate


class Gauge:
    """Counts calls running at once (the highest count seen), with no timing involved."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = self.most = 0

    def __enter__(self) -> None:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def __exit__(self, *_exc: object) -> None:
        with self.lock:
            self.now -= 1


@settings(max_examples=40, deadline=None)
@given(values=st.lists(st.integers(min_value=-5, max_value=50), max_size=30), limit=st.integers(1, 6))
def test_results_keep_their_order_and_failures_their_place(values: list[int], limit: int) -> None:
    gauge = Gauge()

    def call(value: int) -> int:
        with gauge:
            if value < 0:
                raise ValueError(f"negative {value}")
            return value * 2

    results = in_flight(call, values, limit)
    assert len(results) == len(values)
    for value, result in zip(values, results):
        if value < 0:
            assert isinstance(result, ValueError) and str(result) == f"negative {value}"
        else:
            assert result == value * 2
    assert gauge.most <= limit


def test_batches_are_in_flight_together_up_to_the_limit() -> None:
    # Four calls that each wait for the others: they can only finish if all four run at once.
    together = threading.Barrier(4)
    assert in_flight(lambda i: together.wait() is not None and i, [0, 1, 2, 3], 4) == [0, 1, 2, 3]


class MemoryDesk(Helpdesk):
    """A helpdesk held in memory with a bulk size, recording the batches it was asked for."""

    kind = "memory"
    service = "Memory"

    def __init__(self, bulk_size: int, tickets: list[str]) -> None:
        super().__init__(OutboundGate())
        self.bulk_size = bulk_size
        self.tickets = {t: Ticket(id=t, helpdesk="memory", subject=f"ticket {t}", description="", status="open",
                                  priority=None, requester=None, requester_email=None,
                                  organization=None, version="1") for t in tickets}
        self.reads: list[list[str]] = []
        self.lock = threading.Lock()

    def get_ticket(self, ticket_id: str) -> Ticket:
        if ticket_id not in self.tickets:
            raise UnknownTicket(ticket_id, "Memory")
        return self.tickets[ticket_id]

    def read_many(self, ticket_ids: list[str], *, people: bool = True) -> dict[str, Ticket]:
        assert len(ticket_ids) <= self.bulk_size
        with self.lock:
            self.reads.append(list(ticket_ids))
        return super().read_many(ticket_ids, people=people)

    def _apply(self, ticket_id: str, change: TicketWrite) -> Ticket | None:
        if ticket_id == "conflict":
            raise Conflict("changed since it was read")
        if ticket_id == "down":
            raise ServiceUnreachable("Memory", "down for maintenance")
        return None

    def validate_ticket_id(self, ticket_id: str) -> str:
        return ticket_id

    def ticket_url(self, ticket_id: str) -> str:  # pragma: no cover - not used here
        return f"memory://{ticket_id}"

    def user_groups(self, user: str) -> list[str]:  # pragma: no cover - not used here
        return []

    def check(self) -> str:  # pragma: no cover - not used here
        return "memory"


@settings(max_examples=30, deadline=None)
@given(count=st.integers(0, 40), bulk=st.integers(1, 7), limit=st.integers(1, 5))
def test_reads_go_in_requests_of_the_bulk_size(count: int, bulk: int, limit: int) -> None:
    ids = [str(n) for n in range(count)]
    desk = MemoryDesk(bulk, ids[: count // 2])  # the other half is absent: left out
    found = read_tickets(desk, ids, limit)
    assert sorted(found) == sorted(ids[: count // 2])
    assert sorted(t for batch in desk.reads for t in batch) == sorted(ids)
    assert len(desk.reads) == -(-count // bulk)


def test_writes_answer_per_ticket_and_a_defect_is_raised() -> None:
    desk = MemoryDesk(2, ["1", "2"])
    results = write_tickets(desk, [(t, TicketWrite(comment="hello")) for t in ("1", "conflict", "down", "2")], 3)
    assert results["1"] is None and results["2"] is None
    assert isinstance(results["conflict"], Conflict) and isinstance(results["down"], ServiceUnreachable)
    with pytest.raises(ValueError, match="one change per ticket"):
        write_tickets(desk, [("1", TicketWrite(comment="a")), ("1", TicketWrite(comment="b"))], 2)


def test_conversations_are_read_each_and_a_missing_one_says_why() -> None:
    desk = MemoryDesk(1, ["1"])
    read = get_tickets(desk, ["1", "9"], 2)
    assert read["1"].subject == "ticket 1" and isinstance(read["9"], UnknownTicket)
