"""Pagers against the emulated PagerDuty Events API v2 and webhook receiver, over real HTTP,
and the receiver's own validation and de-duplication (as PagerDuty documents them)."""

from __future__ import annotations

import json

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.config import load_config
from bridge.errors import ConfigError, ServiceRejected, ServiceUnreachable
from bridge.paging import Page, PagerDutyPager, WebhookPager, build_pager
from bridge.sandbox import pager as pager_emulator
from bridge.sandbox.pager import DEMO_CREDENTIALS, PagerState, validate_event

KEY = DEMO_CREDENTIALS["routing_key"]


@pytest.fixture
def pager_service():
    service, state = pager_emulator.start()
    try:
        yield service, state
    finally:
        service.stop()


def page(dedup_key: str = "bridge-zendesk-101") -> Page:
    return Page(dedup_key=dedup_key, summary="Emergency escalation SUP-1 (Zendesk #101): Payments failing",
                source="bridge:zendesk", details={"jira_key": "SUP-1", "severity": "emergency"},
                links=(("http://jira.example/browse/SUP-1", "JIRA SUP-1"),))


def test_pagerduty_trigger_is_accepted_and_a_resend_folds_into_the_same_alert(pager_service):
    service, state = pager_service
    pager = PagerDutyPager(KEY, base_url=service.url, retries=0)

    first = pager.send(page())
    again = pager.send(page())

    assert first.dedup_key == again.dedup_key == "bridge-zendesk-101"
    assert first.message == "Event processed"
    alerts = state.alerts_for("bridge-zendesk-101")
    assert len(alerts) == 1 and len(alerts[0].log) == 2
    assert alerts[0].severity == "critical" and alerts[0].source == "bridge:zendesk"
    sent = json.loads(service.knobs.received("POST", "/v2/enqueue")[0].body)
    assert sent["event_action"] == "trigger" and sent["routing_key"] == KEY
    assert sent["payload"]["custom_details"] == {"jira_key": "SUP-1", "severity": "emergency"}
    assert sent["links"] == [{"href": "http://jira.example/browse/SUP-1", "text": "JIRA SUP-1"}]


def test_after_a_resolve_the_same_key_opens_a_new_alert(pager_service):
    service, state = pager_service
    PagerDutyPager(KEY, base_url=service.url).send(page())
    requests.post(f"{service.url}/v2/enqueue", json={
        "routing_key": KEY, "event_action": "resolve", "dedup_key": "bridge-zendesk-101"}, timeout=5)
    PagerDutyPager(KEY, base_url=service.url).send(page())
    alerts = state.alerts_for("bridge-zendesk-101")
    assert [a.status for a in alerts] == ["resolved", "triggered"]


def test_an_invalid_event_gets_pagerdutys_400_shape_and_the_pager_raises_with_its_errors(pager_service):
    service, state = pager_service
    answer = requests.post(f"{service.url}/v2/enqueue", json={"routing_key": "short", "event_action": "trigger",
                                                             "payload": {"summary": "x", "source": "y",
                                                                         "severity": "urgent"}}, timeout=5)
    assert answer.status_code == 400
    body = answer.json()
    assert body["status"] == "invalid event" and body["message"] == "Event object is invalid"
    assert any("routing_key" in e for e in body["errors"]) and any("severity" in e for e in body["errors"])

    with pytest.raises(ServiceRejected) as info:
        PagerDutyPager("k" * 31, base_url=service.url).send(page())
    assert info.value.exit_code == 1 and "routing_key" in str(info.value)
    assert "k" * 31 not in str(info.value)  # the key is a secret
    assert state.alerts == []


def test_a_body_that_is_not_json_is_an_invalid_event(pager_service):
    service, _ = pager_service
    answer = requests.post(f"{service.url}/v2/enqueue", data="not json", timeout=5)
    assert answer.status_code == 400 and answer.json()["status"] == "invalid event"


def test_throttled_pages_are_retried_then_reported_as_unreachable(pager_service):
    service, state = pager_service
    service.knobs.update({"rate_limit": 0, "retry_after_s": 0})
    with pytest.raises(ServiceUnreachable) as info:
        PagerDutyPager(KEY, base_url=service.url, retries=1).send(page())
    assert info.value.exit_code == 3
    assert len(service.knobs.received("POST", "/v2/enqueue")) == 2  # the first try and one retry
    assert state.alerts == []


def test_webhook_pager_posts_the_page_with_an_idempotency_key(pager_service):
    service, state = pager_service
    WebhookPager(f"{service.url}/webhook/oncall").send(page())
    [delivery] = state.webhooks
    assert delivery.name == "oncall" and delivery.idempotency_key == "bridge-zendesk-101"
    assert delivery.body["dedup_key"] == "bridge-zendesk-101" and delivery.body["severity"] == "critical"
    assert delivery.body["summary"].startswith("Emergency escalation SUP-1")


def test_build_pager_from_configuration():
    assert build_pager(load_config(None, env={}).pager, load_config(None, env={}).http) is None
    config = load_config(None, env={"BRIDGE_PAGER_KIND": "pagerduty", "BRIDGE_PAGER_ROUTING_KEY": KEY})
    pager = build_pager(config.pager, config.http)
    assert isinstance(pager, PagerDutyPager) and pager.url == "https://events.pagerduty.com/v2/enqueue"
    assert KEY not in pager.describe()
    with pytest.raises(ConfigError) as info:
        config = load_config(None, env={"BRIDGE_PAGER_KIND": "pagerduty"})
        build_pager(config.pager, config.http)
    assert "BRIDGE_PAGER_ROUTING_KEY" in str(info.value) and info.value.exit_code == 2
    with pytest.raises(ConfigError):
        config = load_config(None, env={"BRIDGE_PAGER_KIND": "webhook"})
        build_pager(config.pager, config.http)
    config = load_config(None, env={"BRIDGE_PAGER_KIND": "webhook",
                                    "BRIDGE_PAGER_URL": "https://hooks.example.com/T0KEN/page"})
    pager = build_pager(config.pager, config.http)
    assert isinstance(pager, WebhookPager) and "T0KEN" not in pager.describe()


# -- the receiver's de-duplication, as a property ------------------------------------------

_actions = st.lists(st.tuples(st.sampled_from(["trigger", "acknowledge", "resolve"]),
                              st.sampled_from(["a", "b"])), max_size=25)


@settings(max_examples=200, deadline=None)
@given(_actions)
def test_at_most_one_open_alert_per_dedup_key_and_triggers_open_one_only_when_none_is_open(events):
    state = PagerState()
    for action, key in events:
        event = {"routing_key": KEY, "event_action": action, "dedup_key": key}
        if action == "trigger":
            event["payload"] = {"summary": "s", "source": "src", "severity": "critical"}
        assert validate_event(event) == []
        was_open = state.open_alert(key, KEY) is not None
        before = len(state.alerts)
        state.apply(event)
        opened = len(state.alerts) - before
        assert opened == (1 if action == "trigger" and not was_open else 0)
        for k in ("a", "b"):
            assert sum(1 for a in state.alerts if a.dedup_key == k and a.open) <= 1


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from(["routing_key", "event_action", "dedup_key", "payload"]),
                       st.one_of(st.none(), st.text(max_size=20), st.integers()), max_size=4))
def test_a_malformed_event_is_always_refused_with_reasons(body):
    # No routing key here has PagerDuty's 32 characters, so every body is invalid.
    assert validate_event(body) != []
