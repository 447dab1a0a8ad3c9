"""Passes exclude each other per escalation, not per store: a pass driven by a webhook is
not held up by a long reconciliation elsewhere, a reconciliation leaves to its next run what
another pass is working, and two passes never work one escalation at once. Real HTTP against
the sandbox, a real SQLite store."""

from __future__ import annotations

import json
from datetime import timedelta

from bridge.store.lease_group import EscalationLeases, escalation_lease
from bridge.sync.engine import LEASE
from bridge.sync.items import CURSOR_RETRY
from tests.fixtures.bridge_comments import bridge_comments
from tests.integration.test_sync import TICKETS, dev, escalated, move  # noqa: F401

WORKING = ("actively working", "arbeitet jetzt")


def told_working(sandbox) -> dict[int, int]:
    return {t: sum(any(w in r for w in WORKING) for r in bridge_comments(sandbox, t)) for t in TICKETS}


def escalation_of(services, key: str):
    [row] = [e for e in services.store.escalations.list(states=["complete"]) if e.jira_key == key]
    return row


def test_a_full_pass_leaves_an_escalation_another_pass_is_working_to_its_next_run(sandbox, services, dev, escalated):
    move(dev, escalated, "In Progress")
    row = escalation_of(services, escalated)
    worker = EscalationLeases(services.store.leases, timedelta(minutes=5), holder="inbox-worker")
    assert worker.take([row.id]) == {row.id}

    report = services.sync_engine().run()

    assert report.skipped is None and report.exit_code == 0, report.failures
    assert report.busy == [row.id]
    assert told_working(sandbox) == {t: 0 for t in TICKETS}  # nothing written for it
    assert row.jira_issue_id in json.loads(services.store.cursors.get(CURSOR_RETRY))
    worker.release()

    report = services.sync_engine().run()

    assert report.busy == [] and report.exit_code == 0, report.failures
    assert told_working(sandbox) == {t: 1 for t in TICKETS}
    assert row.jira_issue_id not in json.loads(services.store.cursors.get(CURSOR_RETRY))
    assert services.store.leases.get(escalation_lease(row.id)) is None  # released after the pass


def test_a_webhooks_pass_goes_on_while_a_reconciliation_holds_the_pass_wide_lease(sandbox, services, dev, escalated):
    move(dev, escalated, "In Progress")
    row = escalation_of(services, escalated)
    # A `bridge sync` of another process, in the middle of its run over other escalations.
    assert services.store.leases.acquire(LEASE, "reconciliation-elsewhere", timedelta(minutes=10))

    report = services.sync_engine(holder="inbox-worker").run(only={row.id})

    assert report.skipped is None and report.busy == [] and report.exit_code == 0, report.failures
    assert told_working(sandbox) == {t: 1 for t in TICKETS}
    # The reconciliation itself still runs one at a time.
    assert services.sync_engine().run().skipped.startswith("another sync holds the lease")
    assert services.store.leases.get(LEASE).holder == "reconciliation-elsewhere"


def test_a_webhooks_pass_over_an_escalation_another_pass_is_working_does_nothing(sandbox, services, dev, escalated):
    move(dev, escalated, "In Progress")
    row = escalation_of(services, escalated)
    other = EscalationLeases(services.store.leases, timedelta(minutes=5), holder="other-worker")
    assert other.take([row.id]) == {row.id}

    report = services.sync_engine(holder="inbox-worker").run(only={row.id})

    assert report.busy == [row.id] and str(row.id) in (report.skipped or "")
    assert report.outcomes == [] and told_working(sandbox) == {t: 0 for t in TICKETS}
    assert services.store.leases.get(escalation_lease(row.id)).holder == other.holder
    other.release()
    report = services.sync_engine(holder="inbox-worker").run(only={row.id})
    assert report.skipped is None and told_working(sandbox) == {t: 1 for t in TICKETS}
