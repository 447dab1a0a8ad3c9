"""The inbox of `bridge serve` on a real SQLite file and a real PostgreSQL: a redelivery is
a no-op, one item is held by one worker at a time, a dead worker's item is taken again, and
only the holder can finish or release what it holds."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine

from bridge.store.db import make_engine
from bridge.store.inbox import InboxRepository
from bridge.store.repository import Store
from bridge.store.tables import utcnow
from tests.integration.test_store import race

TTL = timedelta(seconds=30)


def inbox_of(store: Store) -> InboxRepository:
    return store.inbox


def test_a_redelivery_changes_nothing(store: Store) -> None:
    inbox = inbox_of(store)
    assert inbox.accept("jira", "d-1", "jira:issue_updated", {"jira_issue_id": "10001"})
    assert not inbox.accept("jira", "d-1", "jira:issue_updated", {"jira_issue_id": "99999"})
    # The same id from another source is another delivery.
    assert inbox.accept("zendesk", "d-1", "ticket.status_changed", {"ticket": "7"})
    items = inbox.items()
    assert [(i.source, i.delivery_id) for i in items] == [("jira", "d-1"), ("zendesk", "d-1")]
    assert inbox.subject(items[0]) == {"jira_issue_id": "10001"}


def test_each_item_is_claimed_by_one_worker_only(store_url: str, store: Store) -> None:
    inbox = inbox_of(store)
    for n in range(30):
        inbox.accept("jira", f"d-{n}", "jira:issue_updated", {"jira_issue_id": str(n)})
    engines: list[Engine] = [make_engine(store_url) for _ in range(4)]
    try:
        claimed = race(4, lambda i: [item.id for item in InboxRepository(engines[i]).claim(f"w{i}", TTL, limit=30)])
    finally:
        for engine in engines:
            engine.dispose()
    every = [item_id for ids in claimed for item_id in ids]
    assert len(every) == len(set(every)) == 30


def test_an_expired_lease_lets_another_worker_take_the_item(store: Store) -> None:
    inbox = inbox_of(store)
    inbox.accept("sentry", "r-1", "issue.resolved", {"sentry_issue_id": "42"})
    now = utcnow()
    first = inbox.claim("dead-worker", TTL, now=now)
    assert len(first) == 1
    assert inbox.claim("other", TTL, now=now + timedelta(seconds=5)) == []
    again = inbox.claim("other", TTL, now=now + TTL + timedelta(seconds=1))
    assert [i.id for i in again] == [first[0].id] and again[0].attempts == 2
    # The dead worker, come back, can no longer finish or release it.
    assert inbox.done([first[0].id], "dead-worker") == 0
    assert inbox.release("dead-worker") == 0
    assert inbox.done([first[0].id], "other") == 1
    assert inbox.items()[0].state == "done"


def test_release_gives_items_back_at_once_without_counting_the_attempt(store: Store) -> None:
    inbox = inbox_of(store)
    inbox.accept("zendesk", "z-1", "ticket.created", {"ticket": "1"})
    [item] = inbox.claim("w", TTL)
    assert inbox.release("w") == 1
    [again] = inbox.claim("w2", TTL)
    assert again.id == item.id and again.attempts == 1


def test_failures_wait_then_give_up_after_the_last_attempt(store: Store) -> None:
    inbox = inbox_of(store)
    inbox.accept("freshdesk", "f-1", "ticket.updated", {"ticket": "5"})
    now = utcnow()
    [item] = inbox.claim("w", TTL, now=now)
    inbox.retry_later([item.id], "w", "JIRA answered 503", delay=timedelta(seconds=60), max_attempts=2, now=now)
    assert inbox.claim("w", TTL, now=now + timedelta(seconds=30)) == []
    [item] = inbox.claim("w", TTL, now=now + timedelta(seconds=61))
    inbox.retry_later([item.id], "w", "JIRA answered 503 again", delay=timedelta(seconds=60), max_attempts=2)
    [failed] = inbox.items()
    assert failed.state == "failed" and failed.last_error == "JIRA answered 503 again"
    assert inbox.backlog().failed == 1 and inbox.backlog().waiting == 0


def test_backlog_and_last_delivery_per_source(store: Store) -> None:
    inbox = inbox_of(store)
    assert inbox.backlog().waiting == 0 and inbox.backlog().oldest_received_at is None
    t0 = utcnow() - timedelta(minutes=5)
    inbox.accept("jira", "a", "jira:issue_updated", {"jira_issue_id": "1"}, now=t0)
    inbox.accept("jira", "b", "jira:issue_updated", {"jira_issue_id": "1"}, now=t0 + timedelta(minutes=1))
    inbox.accept("zendesk", "c", "ticket.created", {"ticket": "1"}, now=t0 + timedelta(minutes=2))
    backlog = inbox.backlog()
    assert backlog.waiting == 3
    assert abs((backlog.oldest_received_at - t0).total_seconds()) < 1
    last = inbox.last_delivery_by_source()
    assert set(last) == {"jira", "zendesk"}
    assert abs((last["jira"] - (t0 + timedelta(minutes=1))).total_seconds()) < 1
