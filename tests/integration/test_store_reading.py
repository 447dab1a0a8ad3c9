"""Transactions that only read (``Repository.reading``): on a SQLite file they take no write
lock, so a sync pass planning one batch never queues behind the thread writing the batch
before (bridge/sync/pipeline.py), nor holds it up; on PostgreSQL they are plain transactions.
Each case would wait out SQLite's busy timeout and fail if reads took the write lock."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import event, update
from sqlmodel import col

from bridge.store.db import open_store
from bridge.store.tables import Lease



def test_a_read_goes_on_while_another_transaction_holds_sqlites_write_lock(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'bridge.db'}", auto_upgrade=True)
    try:
        assert store.leases.acquire("sync", "first", timedelta(minutes=5)) is not None
        with store.session() as writing:  # BEGIN IMMEDIATE: the write lock, until the block ends
            writing.exec(update(Lease).where(col(Lease.name) == "sync").values(holder="second"))
            lease = store.leases.get("sync")  # another connection, while the lock is held
            assert lease is not None and lease.holder == "first"  # what was committed
        assert store.leases.get("sync").holder == "second"
    finally:
        store.close()


def test_a_write_goes_on_while_a_read_is_open(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'bridge.db'}", auto_upgrade=True)
    try:
        with store.leases.reading() as reading:
            assert reading.exec(Lease.__table__.select()).all() == []  # the snapshot begins
            assert store.leases.acquire("sync", "writer", timedelta(minutes=5)) is not None
            assert reading.exec(Lease.__table__.select()).all() == []  # still its snapshot
        assert store.leases.get("sync").holder == "writer"
    finally:
        store.close()


def test_reads_see_what_was_committed_on_each_backend(store):
    assert store.leases.get("sync") is None
    assert store.leases.acquire("sync", "writer", timedelta(minutes=5)) is not None
    assert store.leases.get("sync").holder == "writer"
    assert store.escalations.by_ids([1, 2]) == {}
    assert store.links.of_many([1, 2]) == {}


def _escalation(store, n: int, *, complete: bool):
    row, _ = store.escalations.record_intent(
        label=f"bridge-zendesk-{n}", origin_helpdesk="zendesk", origin_ticket_id=str(n), severity="high",
        priority="High", profile="default", escalated_by="erin@example.com", opened_at=datetime.now(timezone.utc))
    row = store.escalations.mark_created(row.id, jira_issue_id=str(10_000 + n), jira_key=f"SUP-{n}",
                                         jira_url=f"https://jira.example/browse/SUP-{n}")
    return store.escalations.mark_complete(row.id) if complete else row


def test_a_batchs_escalations_are_looked_up_by_their_issue_ids_and_only_complete_ones_answer(store):
    """A pass reads its batch's rows by Bug id. On SQLite, with the state in the query, the
    planner (no statistics) read every complete escalation through the state index: 40 ms
    a batch at 100,000 escalations. The statements look the issue ids up instead."""
    complete = {str(10_000 + n): _escalation(store, n, complete=True).id for n in range(1, 5)}
    _escalation(store, 5, complete=False)  # Bug created, escalation not complete yet
    asked = [*complete, "10005", "99999"]
    statements: list[tuple[str, object]] = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and "jira_issue_id" in statement:
            statements.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        assert {issue: row.id for issue, row in store.escalations.complete_seen_by_issue(asked).items()} == complete
        rows = store.escalations.complete_by_issue(asked)
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)
    assert {issue: row.id for issue, row in rows.items()} == complete
    assert len(statements) == 2
    if store.engine.dialect.name == "sqlite":
        with store.engine.connect() as connection:
            for statement, parameters in statements:
                plan = " ".join(str(step[-1]) for step in
                                connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters))
                assert "(jira_issue_id=?)" in plan, plan


def test_a_batchs_rows_say_when_their_bug_was_last_seen(store):
    """What a full pass needs to leave a Bug it went through already alone: the Bug's
    ``updated`` as last seen (None: never)."""
    seen_row, unseen = (_escalation(store, n, complete=True) for n in range(1, 3))
    updated = datetime(2026, 12, 3, 8, 0, 0, 123000, tzinfo=timezone.utc)
    store.escalations.record_seen_many([{"id": seen_row.id, "jira_key": seen_row.jira_key, "status": "In Progress",
                                         "resolution": None, "fix_versions": [], "jira_updated": updated}])
    seen = store.escalations.complete_seen_by_issue([seen_row.jira_issue_id, unseen.jira_issue_id])
    assert seen == {seen_row.jira_issue_id: (seen_row.id, updated), unseen.jira_issue_id: (unseen.id, None)}


def test_the_escalations_with_a_ticket_never_told_a_state_are_named(store):
    told, untold, origin_only = (_escalation(store, n, complete=True) for n in range(1, 4))
    for n, row in ((1, told), (2, untold)):
        store.links.add(row.id, "zendesk", str(100 + n))
        store.links.record_announcement("zendesk", str(n), "in_progress")  # the origin ticket
    store.links.record_announcement("zendesk", "101", "in_progress")
    assert store.links.untold([told.id, untold.id, origin_only.id]) == {untold.id, origin_only.id}
    store.links.record_announcement("zendesk", "3", "acknowledged")
    assert store.links.untold([told.id, untold.id, origin_only.id]) == {untold.id}
    assert store.links.untold([]) == set()
