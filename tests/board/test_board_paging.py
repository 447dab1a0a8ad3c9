"""Paging the board in SQL: every open escalation appears exactly once, in the board's
order (breached, at risk, on track... by due time; then those not ranked yet), whatever
mix of ranked and not-yet-ranked escalations the store holds."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.board import listing
from bridge.store.db import open_store
from bridge.store.tables import BoardStanding, Escalation, utcnow

_escalations = st.lists(st.tuples(st.one_of(st.none(), st.integers(0, 4)),   # rank, None = not ranked yet
                                  st.one_of(st.none(), st.integers(0, 50)),  # hours until due
                                  st.booleans(),                             # resolved
                                  st.sampled_from(["high", "low"])),
                        max_size=130)


@settings(max_examples=40)
@given(_escalations, st.sampled_from(["", "high"]))
def test_pages_list_every_open_escalation_once_in_board_order(specs, severity):
    now = utcnow()
    with open_store("sqlite://") as store:
        with store.engine.begin() as c:
            for i, (rank, hours, resolved, sev) in enumerate(specs, start=1):
                c.execute(sa.insert(Escalation.__table__), [{
                    "id": i, "label": f"l-{i}", "origin_helpdesk": "zendesk", "origin_ticket_id": str(i),
                    "state": "complete", "severity": sev, "priority": "P", "profile": "default",
                    "escalated_by": "x", "opened_at": now, "created_at": now, "updated_at": now,
                    "affected_count": 1, "pages_sent": 0, "last_resolution": "Fixed" if resolved else None}])
                if rank is not None:
                    due = now + timedelta(hours=hours) if hours is not None else None
                    c.execute(sa.insert(BoardStanding.__table__), [{
                        "escalation_id": i, "standing": "x", "rank": rank, "due_at": due,
                        "order_key": int(due.timestamp()) if due else listing.NO_DUE, "computed_at": now}])
        shown, page_number, total = [], 1, None
        while True:
            found = listing.page(store.engine, listing.Filters(severity=severity, page=page_number))
            total = found.total
            shown += [r.escalation.id for r in found.rows]
            if page_number >= found.pages:
                break
            page_number += 1

    def wanted(i: int) -> bool:
        return not specs[i - 1][2] and (not severity or specs[i - 1][3] == severity)

    def order(i: int) -> tuple:
        rank, hours, _, _ = specs[i - 1]
        if rank is None:
            return (1, 0, 0, i)
        return (0, rank, hours if hours is not None else 10**9, i)

    expected = sorted((i for i in range(1, len(specs) + 1) if wanted(i)), key=order)
    assert shown == expected and total == len(expected)
