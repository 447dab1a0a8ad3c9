"""A sync round's store work in bulk, on SQLite and PostgreSQL: the outbox claims of a round
in one transaction (each key to exactly one caller, across engines), the round's results in
one, what each ticket was told and where sync stands, and the audit rows — each behaving as
the one-row calls it replaces."""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
import sqlalchemy.exc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.store.db import open_store
from bridge.store.repository import Store
from bridge.store.tables import OutboxEntry
from bridge.store.transactions import is_deadlock
from tests.integration.test_store import count_rows, intent, race, separate_stores

AT = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def wanted(*keys: str, escalation_id: int | None = None) -> list[dict]:
    return [{"key": k, "target": f"zendesk:{k}", "kind": "Announce", "escalation_id": escalation_id,
             "payload": {"n": i}} for i, k in enumerate(keys)]


def test_claim_many_grants_like_claim(store: Store) -> None:
    escalation, _ = intent(store)
    assert store.outbox.claim("pending-elsewhere", target="zendesk:1", kind="Announce")
    assert store.outbox.claim("sent-before", target="zendesk:1", kind="Announce")
    store.outbox.done("sent-before")
    assert store.outbox.claim("failed-before", target="zendesk:1", kind="Announce")
    store.outbox.failed("failed-before", "503")

    answers = store.outbox.claim_many(wanted("new", "pending-elsewhere", "sent-before", "failed-before", "new",
                                             escalation_id=escalation.id))

    assert [claimed for claimed, _ in answers] == [True, False, False, True, False]  # "new" twice: once
    states = [(entry.key, entry.state, entry.attempts) for _, entry in answers]
    assert states == [("new", "pending", 1), ("pending-elsewhere", "pending", 1), ("sent-before", "sent", 1),
                      ("failed-before", "pending", 2), ("new", "pending", 1)]
    new = store.outbox.get("new")
    assert new is not None and new.escalation_id == escalation.id and store.outbox.payload(new) == {"n": 0}
    assert count_rows(store, "outbox") == 4


def test_claim_many_is_race_safe_across_engines(store_url: str, store: Store) -> None:
    keys = [f"announce:zendesk:{n}" for n in range(60)]
    racers = separate_stores(store_url, 4)

    def claim(i: int) -> set[str]:
        mine = random.Random(i).sample(keys, len(keys))  # each racer in its own order
        return {w["key"] for w, (claimed, _) in zip(wanted(*mine), racers[i].outbox.claim_many(wanted(*mine)))
                if claimed}

    try:
        granted = race(len(racers), claim)
    finally:
        for racer in racers:
            racer.close()
    assert sorted(k for won in granted for k in won) == sorted(keys)  # every key to exactly one racer
    assert count_rows(store, "outbox") == len(keys)


def test_a_claim_the_server_ends_to_break_a_deadlock_is_run_again(store_url: str, store: Store) -> None:
    """Another writer holds new key b and then wants a, which this claim of [a, b] inserted
    while waiting for b: PostgreSQL ends one of the two. The claim, in a transaction of its
    own, is run again and answers as it would have after the other's commit."""
    if not store_url.startswith("postgresql"):
        pytest.skip("SQLite runs one writer at a time: no deadlock to break")
    [claimer] = separate_stores(store_url, 1)
    table = OutboxEntry.__table__
    row = {"target": "zendesk:1", "kind": "Announce", "payload": "{}", "state": "pending", "attempts": 1,
           "created_at": AT}
    with claimer.engine.connect() as connection:  # the pooled connection the claim will use
        claimer_pid = connection.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
    other = store.engine.connect()
    outcome: dict = {}
    try:
        other_tx = other.begin()
        other.execute(table.insert(), [{"key": "b", **row}])
        thread = threading.Thread(target=lambda: outcome.setdefault(
            "answers", _capture(lambda: claimer.outbox.claim_many(wanted("a", "b")))))
        thread.start()
        _wait_for_a_lock_wait(store, claimer_pid)  # the claim inserted a and waits for b
        try:
            other.execute(table.insert(), [{"key": "a", **row}])  # waits for the claim's a: a cycle
            other_tx.commit()
        except sqlalchemy.exc.DBAPIError as exc:  # the server may end this side instead
            assert is_deadlock(exc)
            other_tx.rollback()
        thread.join(30)
        assert not thread.is_alive(), "the claim did not finish"
    finally:
        other.close()
        claimer.engine.dispose()
    answers = outcome["answers"]
    assert not isinstance(answers, BaseException), answers
    # Each key claimed exactly once in all: by the other writer (committed) or by the claim.
    assert _count_keys(store) == {"a": 1, "b": 1}


def _capture(call):
    try:
        return call()
    except BaseException as exc:
        return exc


def _count_keys(store: Store) -> dict[str, int]:
    with store.engine.connect() as connection:
        return dict(connection.execute(sa.text("SELECT key, count(*) FROM outbox GROUP BY key")).all())


def _wait_for_a_lock_wait(store: Store, pid: int) -> None:
    deadline = time.monotonic() + 30
    with store.engine.connect() as connection:
        while connection.execute(sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = :pid AND wait_event_type = 'Lock'"),
                {"pid": pid}).scalar_one() == 0:
            assert time.monotonic() < deadline, "the claim never waited for the other writer's key"
            time.sleep(0.05)


def test_finish_many_records_sent_and_failed_in_one_go(store: Store) -> None:
    store.outbox.claim_many(wanted("a", "b", "c"))
    store.outbox.finish_many(done=[("a", {"body": "Fixed in 2.4", "locale": "de"}), ("b", None)],
                             failed=[("c", "zendesk answered 503:\n   busy")], at=AT)
    a, b, c = (store.outbox.get(k) for k in "abc")
    assert a is not None and (a.state, a.sent_at) == ("sent", AT)
    assert store.outbox.payload(a) == {"n": 0, "body": "Fixed in 2.4", "locale": "de"}
    assert b is not None and (b.state, store.outbox.payload(b)) == ("sent", {"n": 1})
    assert c is not None and (c.state, c.last_error) == ("failed", "zendesk answered 503: busy")
    [(claimed, entry)] = store.outbox.claim_many(wanted("c"))
    assert claimed and entry is not None and entry.attempts == 2


def test_record_many_writes_ticket_columns_and_resets_the_sla_check(store: Store) -> None:
    first, _ = intent(store, "1")
    second, _ = intent(store, "2")
    store.links.add(first.id, "zendesk", "1")
    store.links.add(second.id, "zendesk", "2")
    later = AT + timedelta(days=1)
    store.escalations.set_sla_next_checks({first.id: later, second.id: later})

    store.links.record_many([
        ("zendesk", "1", {"last_announced_state": "in_progress", "last_public_update_at": AT}),
        ("zendesk", "1", {"last_announced_state": "resolved"}),  # the later change of a column wins
        ("zendesk", "2", {"known_version": "v7", "last_comment_id": "42"}),  # not a clock input
        ("zendesk", "99", {"known_version": "v1"}),  # no longer linked: passed over
    ])

    one, two = store.links.get("zendesk", "1"), store.links.get("zendesk", "2")
    assert one is not None and (one.last_announced_state, one.last_public_update_at) == ("resolved", AT)
    assert two is not None and (two.known_version, two.last_comment_id, two.last_announced_state) == ("v7", "42", None)
    checks = {e.id: e.sla_next_check_at for e in store.escalations.by_ids([first.id, second.id]).values()}
    assert checks == {first.id: None, second.id: later}
    assert set(store.links.by_tickets("zendesk", ["1", "2", "99"])) == {"1", "2"}


def test_one_ticket_s_clock_input_and_forgetting_by_id_reset_only_their_own_sla_checks(store: Store) -> None:
    rows = [intent(store, str(n))[0] for n in range(4)]
    for n, escalation in enumerate(rows):
        store.links.add(escalation.id, "zendesk", str(n))
    later = AT + timedelta(days=1)
    store.escalations.set_sla_next_checks({e.id: later for e in rows})

    store.links.record_public_update("zendesk", "0", at=AT)  # a clock input of ticket 0
    store.links.set_waiting_on_customer("zendesk", "1", AT)  # and of ticket 1
    store.escalations.forget_sla_checks([rows[2].id])
    store.escalations.forget_sla_checks([rows[2].id])  # cleared already: stays cleared

    checks = {e.id: e.sla_next_check_at for e in store.escalations.by_ids([e.id for e in rows]).values()}
    assert checks == {rows[0].id: None, rows[1].id: None, rows[2].id: None, rows[3].id: later}


def test_sla_due_leaves_out_the_skipped_and_pages_past_a_page_of_them(store: Store) -> None:
    rows = []
    for n in range(7):
        escalation, _ = intent(store, str(n))
        store.escalations.mark_created(escalation.id, jira_issue_id=f"1000{n}", jira_key=f"BUG-{n}",
                                       jira_url=f"https://jira.example/BUG-{n}")
        store.escalations.mark_complete(escalation.id)
        rows.append(escalation.id)
    later = AT + timedelta(days=1)
    store.escalations.set_sla_next_checks({rows[5]: later})  # not due before AT
    skip = {rows[0], rows[1], rows[2], rows[6]}  # the whole first page of two, and one more

    pages = list(store.escalations.sla_due(AT, page=2, skip=skip))

    assert [[e.id for e in page] for page in pages] == [[rows[3]], [rows[4]]]
    assert all(e.jira_key for page in pages for e in page)  # whole rows, not ids
    assert [e.id for page in store.escalations.sla_due(AT, page=2) for e in page] == rows[:5] + rows[6:]


def test_record_seen_many_keeps_what_it_is_not_given(store: Store) -> None:
    escalation, _ = intent(store)
    store.escalations.mark_created(escalation.id, jira_issue_id="10001", jira_key="SUP-1",
                                   jira_url="https://jira.example/browse/SUP-1")
    store.escalations.record_jira_comment_seen(escalation.id, "500")
    row = {"id": escalation.id, "jira_key": "SUP-1", "status": "In Progress", "resolution": None,
           "fix_versions": ["2.4"], "jira_updated": AT}
    with store.session() as s:  # in the caller's transaction
        store.escalations.record_seen_many([row], s=s)
    seen = store.escalations.get(escalation.id)
    assert seen is not None
    assert (seen.last_status, seen.last_fix_versions, seen.last_jira_updated) == ("In Progress", '["2.4"]', AT)
    assert (seen.jira_url, seen.last_jira_comment_id) == ("https://jira.example/browse/SUP-1", "500")
    store.escalations.record_seen_many([{**row, "jira_key": "OPS-7", "comment_id": "501"}])
    moved = store.escalations.get(escalation.id)
    assert moved is not None and (moved.jira_key, moved.last_jira_comment_id) == ("OPS-7", "501")


def test_a_failing_round_records_nothing(store: Store) -> None:
    store.outbox.claim_many(wanted("a"))
    with pytest.raises(ValueError, match="not one of"):
        with store.session() as s:
            store.outbox.finish_many(done=[("a", None)], s=s)
            store.audit.record_many([("bridge", "Announce", "zendesk:1", "maybe", "")], s=s)  # type: ignore[list-item]
    entry = store.outbox.get("a")
    assert entry is not None and entry.state == "pending"  # the round's transaction rolled back whole
    store.audit.record_many([("bridge", "Announce", "zendesk:1", "ok", "x" * 900)])
    [row] = store.audit.entries()
    assert (row.result, len(row.detail)) == ("ok", 500)


# Per key, what a sequence of one-row claims and results leaves: the bulk calls must agree.
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.lists(st.sampled_from("abcde"), max_size=6),
                          st.dictionaries(st.sampled_from("abcde"), st.sampled_from(["done", "failed"]))),
                min_size=1, max_size=5))
def test_bulk_claims_agree_with_one_row_claims(rounds) -> None:
    bulk, single = open_store("sqlite://", auto_upgrade=True), open_store("sqlite://", auto_upgrade=True)
    try:
        for keys, results in rounds:
            answers = [claimed for claimed, _ in bulk.outbox.claim_many(wanted(*keys))]
            assert answers == [single.outbox.claim(k, target=f"zendesk:{k}", kind="Announce") for k in keys]
            finished = {k: r for k, r in results.items() if k in keys}  # only what was claimed may finish
            bulk.outbox.finish_many(done=[(k, None) for k, r in finished.items() if r == "done"],
                                    failed=[(k, "503") for k, r in finished.items() if r == "failed"])
            for k, r in finished.items():
                single.outbox.done(k) if r == "done" else single.outbox.failed(k, "503")
            state = {e.key: (e.state, e.attempts) for e in bulk.outbox.list(states=None)}
            assert state == {e.key: (e.state, e.attempts) for e in single.outbox.list(states=None)}
    finally:
        bulk.close()
        single.close()


_COLUMN_VALUES = {
    "last_status": st.sampled_from([None, "open", "solved"]),
    "last_comment_id": st.sampled_from([None, "7", "12"]),
    "known_version": st.sampled_from([None, "v1", "v2"]),
    "last_public_update_at": st.sampled_from([None, AT, AT + timedelta(hours=3)]),
}
_examples = iter(range(10**6))


# One statement for many rows on PostgreSQL (arrays joined on the key), one per row on
# SQLite: either way a round's record_many must leave each ticket as its changes, applied
# in order, would (a ticket named twice: the later value of a column wins; an unlinked
# ticket: nothing; None written as None).
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from("12345"), st.fixed_dictionaries({}, optional=_COLUMN_VALUES)),
                max_size=8))
def test_record_many_leaves_each_ticket_as_its_changes_in_order_would(store: Store, changes) -> None:
    run = next(_examples)
    escalation, _ = intent(store, f"r{run}")
    tickets = [f"{run}-{n}" for n in "1234"]  # ticket 5 is not linked
    for ticket in tickets:
        store.links.add(escalation.id, "zendesk", ticket)
    before = {link.ticket_id: link for link in store.links.of(escalation.id)}
    expected = {t: {c: getattr(before[t], c) for c in _COLUMN_VALUES} for t in tickets}
    for n, values in changes:
        if f"{run}-{n}" in expected:
            expected[f"{run}-{n}"].update(values)

    store.links.record_many([("zendesk", f"{run}-{n}", values) for n, values in changes])

    after = {link.ticket_id: {c: getattr(link, c) for c in _COLUMN_VALUES}
             for link in store.links.of(escalation.id) if link.ticket_id in expected}
    assert after == expected
