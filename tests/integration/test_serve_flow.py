"""Webhooks drive the core without `bridge sync`: a JIRA transition reaches the customers, a
customer's reply reaches the Bug, a Sentry regression reaches engineering; duplicated,
reordered and late deliveries never make the bridge say something twice or untrue."""

from __future__ import annotations

import json

import pytest
from jira import JIRA

from bridge.config import load_config
from bridge.sandbox.jira import DEMO_LOGINS
from bridge.service.webhooks import body_digest
from bridge.services import Services
from tests.fixtures.bridge_comments import bridge_comments, escalate_together
from tests.fixtures.serve import (SECRETS, inbox_settled, jira_issue_event, metric, post_jira, post_sentry,
                                  post_zendesk, serving, wait_until)

TICKETS = (101, 105)  # both English, so the wording tells the state


@pytest.fixture
def services(sandbox, bridge_env) -> Services:
    return Services(load_config(None, env={**bridge_env, **SECRETS}))


@pytest.fixture
def dev(sandbox) -> JIRA:
    return JIRA(server=sandbox.jira.url, basic_auth=DEMO_LOGINS["dev"].basic_auth("cloud"), max_retries=0)


@pytest.fixture
def escalated(sandbox, services) -> str:
    return escalate_together(services, sandbox, TICKETS)


def told(sandbox, ticket: int, state: str) -> int:
    """How many of the bridge's public replies on ``ticket`` announce ``state``."""
    words = {"in_progress": "working on a fix", "in_qa": "quality assurance"}[state]
    return sum(words in r for r in bridge_comments(sandbox, ticket))


def test_a_jira_transition_reaches_every_customer_without_sync(sandbox, services, dev, escalated):
    before = {t: len(bridge_comments(sandbox, t)) for t in TICKETS}
    with serving(services, workers=2) as running:
        dev.transition_issue(escalated, "In Progress")
        assert post_jira(running.url, jira_issue_event(dev.issue(escalated)), delivery="d-1").status_code == 202
        for ticket in TICKETS:
            wait_until(lambda: told(sandbox, ticket, "in_progress"), what=f"ticket {ticket} told")
        wait_until(lambda: inbox_settled(services.store), what="the inbox to settle")
        assert metric(running.url, "bridge_customer_messages_sent_total") >= 1
    assert {t: len(bridge_comments(sandbox, t)) for t in TICKETS} == {t: before[t] + 1 for t in TICKETS}


def test_duplicated_reordered_and_late_deliveries_tell_each_state_once_ending_on_the_latest(
        sandbox, services, dev, escalated):
    with serving(services, workers=2) as running:
        dev.transition_issue(escalated, "In Progress")
        in_progress = jira_issue_event(dev.issue(escalated))
        for _ in range(2):
            post_jira(running.url, in_progress, delivery="change-1")
        wait_until(lambda: inbox_settled(services.store) and all(told(sandbox, t, "in_progress") for t in TICKETS))

        dev.transition_issue(escalated, "In QA")
        in_qa = jira_issue_event(dev.issue(escalated))
        # The later change arrives first; the earlier one is retried three more times after it.
        post_jira(running.url, in_qa, delivery="change-2")
        for retry in range(1, 4):
            post_jira(running.url, in_progress, delivery="change-1", retry=retry)
        wait_until(lambda: inbox_settled(services.store) and all(told(sandbox, t, "in_qa") for t in TICKETS))
        # Half an hour later JIRA delivers the first change once more, and someone replays its
        # body under a new identifier: both are known deliveries, with nothing more to say.
        assert post_jira(running.url, in_progress, delivery="change-1", retry=5).status_code == 200
        assert post_jira(running.url, in_progress, delivery="change-1-late-copy").status_code == 200
        wait_until(lambda: inbox_settled(services.store))
    for ticket in TICKETS:
        assert told(sandbox, ticket, "in_progress") == 1
        assert told(sandbox, ticket, "in_qa") == 1
        assert "quality assurance" in bridge_comments(sandbox, ticket)[-1]
        assert "bridge_state_in_qa" in sandbox.zendesk_state.ticket(ticket)["tags"]
    items = services.store.inbox.items()
    # One delivery per event, keyed by its signed body, not by the identifier sent with it.
    assert sorted((i.delivery_id, i.state) for i in items) == sorted(
        [(body_digest(json.dumps(in_progress).encode()), "done"), (body_digest(json.dumps(in_qa).encode()), "done")])


def test_a_customer_reply_reaches_the_bug_redacted_through_a_zendesk_event(sandbox, services, escalated):
    customer = sandbox.zendesk_state.ticket(101)["requester_id"]
    with serving(services, workers=1) as running:
        sandbox.zendesk_state.update_ticket(101, {"comment": {
            "body": "Still broken. Call me on +1 415 555 0199", "public": True}}, customer)
        event = {"type": "zen:event-type:ticket.comment_added", "id": "zd-1", "detail": {"id": "101"}, "event": {}}
        assert post_zendesk(running.url, event).status_code == 202
        mirrored = wait_until(lambda: [c["body"] for c in sandbox.jira_state.comments(escalated)
                                       if "Still broken" in c["body"]], what="the reply on the Bug")
        wait_until(lambda: inbox_settled(services.store))
    assert len(mirrored) == 1 and "415 555 0199" not in mirrored[0]


def test_a_sentry_regression_reaches_engineering_through_a_sentry_webhook(sandbox, services, dev, escalated):
    with serving(services, workers=1) as running:
        dev.transition_issue(escalated, "Done", fields={"resolution": {"name": "Fixed"}})
        post_jira(running.url, jira_issue_event(dev.issue(escalated)), delivery="done-1")
        sandbox.sentry_state.update_issue(4505, {"status": "resolved"})
        post_sentry(running.url, {"action": "resolved", "data": {"issue": {"id": "4505"}}}, request_id="s-0")
        wait_until(lambda: inbox_settled(services.store))
        assert not [c for c in sandbox.jira_state.comments(escalated) if "unresolved again" in c["body"]]
        sandbox.sentry_state.update_issue(4505, {"status": "unresolved", "substatus": "regressed"})
        body = {"action": "unresolved", "data": {"issue": {"id": "4505"}}}
        assert post_sentry(running.url, body, request_id="s-1").status_code == 202
        assert post_sentry(running.url, body, request_id="s-1").status_code == 200
        wait_until(lambda: [c for c in sandbox.jira_state.comments(escalated) if "unresolved again" in c["body"]],
                   what="the regression on the Bug")
        wait_until(lambda: inbox_settled(services.store))
    assert len([c for c in sandbox.jira_state.comments(escalated) if "unresolved again" in c["body"]]) == 1


def test_a_delivery_for_an_escalation_another_pass_is_working_waits_for_it_then_tells_once(
        sandbox, services, dev, escalated):
    """A `bridge sync` elsewhere holds the escalation: the worker hands the item back and
    writes nothing; once the other pass lets go, the item completes and each customer is
    told once."""
    from datetime import timedelta

    from bridge.store.lease_group import EscalationLeases

    [row] = [e for e in services.store.escalations.list(states=["complete"]) if e.jira_key == escalated]
    other = EscalationLeases(services.store.leases, timedelta(minutes=5), holder="sync-elsewhere")
    assert other.take([row.id]) == {row.id}
    try:
        with serving(services, workers=1) as running:
            dev.transition_issue(escalated, "In Progress")
            assert post_jira(running.url, jira_issue_event(dev.issue(escalated)), delivery="held-1").status_code == 202
            wait_until(lambda: metric(running.url, "bridge_inbox_items_processed_total", source="jira",
                                      outcome="released") >= 1, what="the worker to hand the item back")
            assert [told(sandbox, t, "in_progress") for t in TICKETS] == [0, 0]
            other.release()
            wait_until(lambda: inbox_settled(services.store), what="the item to complete")
            [item] = [i for i in services.store.inbox.items() if i.state == "done"]
    finally:
        other.release()
    assert [told(sandbox, t, "in_progress") for t in TICKETS] == [1, 1]
