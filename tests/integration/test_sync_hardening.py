"""Sync defects found by review and by the adversarial run (issue 10: 5, 7; issue 11: F4, F7),
each over real HTTP against the sandbox with a real SQLite store."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from bridge.escalation import EscalationRequest
from bridge.sync.engine import LEASE
from tests.conftest import ACTOR
from tests.fixtures.bridge_comments import bridge_comments
from tests.integration.test_sync import TICKETS, dev, escalated, move, sync  # noqa: F401


def bug_comments(sandbox, key: str) -> list[str]:
    return [c["body"] for c in sandbox.jira_state.comments(key)]


def customer_says(sandbox, ticket: int, body: str) -> None:
    customer = sandbox.zendesk_state.ticket(ticket)["requester_id"]
    sandbox.zendesk_state.update_ticket(ticket, {"comment": {"body": body, "public": True}}, customer)


# ------------------------------------------------------------------ defect 7 --
def test_a_state_change_tells_the_customer_when_they_will_hear_next(sandbox, services, dev, escalated):
    move(dev, escalated, "In Progress")
    sync(services)
    latest = bridge_comments(sandbox, 101)[-1]
    assert "update you again by" in latest
    # In the ticket's own locale's one format (ticket 104 is German).
    assert "Das nächste Update erhalten Sie bis" in bridge_comments(sandbox, 104)[-1]


# ------------------------------------------------------------------------ F7 --
def test_a_customer_message_that_mentions_the_bridges_mark_still_reaches_the_bug(sandbox, services, escalated):
    customer_says(sandbox, 101, "I pasted this from your e-mail: [bridge: whatever] — is it fixed?")
    sync(services)
    assert any("is it fixed?" in body for body in bug_comments(sandbox, escalated))


def test_a_developers_customer_reply_that_mentions_the_mark_is_sent_not_dropped(sandbox, services, dev, escalated):
    dev.add_comment(escalated, "[customer] The fix ships Friday. (Internal ref [bridge: none)")
    sync(services)
    assert any("The fix ships Friday" in body for body in bridge_comments(sandbox, 101))


def test_a_reply_the_gate_refuses_becomes_an_internal_note_and_later_syncs_pass(sandbox, services, dev, escalated):
    dev.add_comment(escalated, "[customer] Trace: sentry-trace: 0123456789abcdef0123456789abcdef-0123456789abcdef-1")
    report = services.sync_engine().run()
    assert report.exit_code == 0, report.failures
    assert any(o.result == "refused" for o in report.outcomes)
    assert not any("0123456789abcdef" in body for t in TICKETS for body in bridge_comments(sandbox, t))
    notes = bridge_comments(sandbox, 101, public=False)
    assert any("held back" in note and escalated in note for note in notes)
    assert not any("0123456789abcdef" in note for note in notes)
    assert services.sync_engine().run().exit_code == 0  # not failing forever


# ------------------------------------------------------------------------ F4 --
def test_an_error_link_that_failed_during_escalate_is_shown_and_retried_by_sync(sandbox, services):
    sandbox.sentry.knobs.update({"fail_next": 1000, "fail_status": 503})
    result = services.escalator().escalate(EscalationRequest(ticket="104", actor=ACTOR, sentry=("WEB-3F",)))
    sandbox.sentry.knobs.update({"fail_next": 0})
    assert result.jira_key and any("WEB-3F" in f for f in result.failures)
    [row] = services.status_rows(result.jira_key)
    assert [f["kind"] for f in row["failures"]] == ["LinkErrorIssue"]

    sync(services)

    [row] = services.status_rows(result.jira_key)
    assert row["failures"] == []
    assert [t["sentry_short_id"] for t in row["sentry_tasks"]] == ["WEB-3F"]
    task_key = row["sentry_tasks"][0]["jira_key"]
    links = sandbox.jira_state.issue(task_key)["fields"]["issuelinks"]
    assert [(link.get("inwardIssue") or link.get("outwardIssue"))["key"] for link in links] == [result.jira_key]


# ------------------------------------------------------------------ defect 5 --
def test_a_sync_paused_past_its_lease_never_writes_alongside_the_next_one(sandbox, bridge_env, dev, escalated):
    """The first pass stalls after planning (a paused process: its lease is not renewed)
    until its lease has expired and a second pass has done the work; then it wakes up.
    It must notice before writing anything: each customer is told once."""
    from bridge.config import load_config
    from bridge.services import Services

    move(dev, escalated, "In Progress")
    first_services = Services(load_config(None, env=bridge_env))
    # Five seconds, not one: on a loaded machine a one-second lease could lapse before the
    # pass got to its stall (a lease lost early, the stall never reached).
    first = first_services.sync_engine(lease_ttl=timedelta(seconds=5), holder="first")
    woke = threading.Event()
    resumed = threading.Event()

    def stall(items):
        first.lease.stop_renewing()  # the process is paused: nothing renews its lease
        woke.set()
        resumed.wait(30)
        return items

    outcome = {}
    thread = threading.Thread(target=lambda: outcome.setdefault("report", first.run(progress=stall)))
    thread.start()
    assert woke.wait(30)
    time.sleep(5.5)  # the lease's time to live passes while the first pass is stalled
    second = Services(load_config(None, env=bridge_env)).sync_engine(holder="second")
    second_report = second.run()
    assert second_report.skipped is None and second_report.exit_code == 0
    resumed.set()
    thread.join(60)

    first_report = outcome["report"]
    assert first_report.exit_code == 1  # it stopped: its lease was lost
    assert any("lost" in reason for _, reason in first_report.failures)
    for ticket in TICKETS:
        in_progress = [r for r in bridge_comments(sandbox, ticket) if "actively working" in r or "arbeitet jetzt" in r]
        assert len(in_progress) == 1, bridge_comments(sandbox, ticket)
    assert first_services.store.leases.get(LEASE) is None  # released, not left held


# ------------------------------------------------------- what each customer was told --
def test_the_outbox_keeps_each_message_exactly_as_the_ticket_shows_it(sandbox, services, dev, escalated):
    move(dev, escalated, "In Progress")
    sync(services)
    recorded = {services.store.outbox.payload(e).get("body")
                for e in services.store.outbox.list(states=("sent",)) if e.target == "zendesk:104"}
    for body in bridge_comments(sandbox, 104) + bridge_comments(sandbox, 104, public=False):
        assert body in recorded
