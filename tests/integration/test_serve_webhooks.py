"""Each vendor's webhook over real HTTP against `bridge serve`: the right secret is accepted
into the inbox (once, however often it is redelivered); a wrong secret, a tampered body, a
stale timestamp, a 2 MB body and invalid JSON are refused with their status, counted in
/metrics, and leave the store and every service untouched. Health, readiness, metrics."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import requests
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from bridge.config import load_config
from bridge.services import Services
from tests.fixtures.serve import (SECRETS, metric, post_django_helpdesk, post_freshdesk, post_jira, post_sentry,
                                  post_zendesk, serving)

TWO_MB = b'{"pad": "' + b"x" * (2 * 1024 * 1024) + b'"}'

VALID = {
    "jira": {"webhookEvent": "jira:issue_updated", "issue": {"id": "990001", "key": "ZZZ-1"}},
    "zendesk": {"type": "zen:event-type:ticket.status_changed", "id": "01HZ-delivery-1",
                "detail": {"id": "990002"}, "event": {}},
    "sentry": {"action": "resolved", "data": {"issue": {"id": "990003"}}},
    "freshdesk": {"ticket_id": 990004, "updated_at": "2026-12-01T10:00:00Z", "event": "updated"},
    "django-helpdesk": {"ticket": {"id": 990005}, "queue_slug": "q", "followup_id": 1},
}


def send(url: str, source: str, payload, **kw) -> requests.Response:
    sender = {"jira": post_jira, "zendesk": post_zendesk, "sentry": post_sentry, "freshdesk": post_freshdesk,
              "django-helpdesk": post_django_helpdesk}[source]
    if source == "jira":
        kw.setdefault("delivery", "jira-delivery-1")
    if source == "sentry":
        kw.setdefault("request_id", "sentry-request-1")
    return sender(url, payload, **kw)


@pytest.fixture
def hooked(sandbox, bridge_env, tmp_path):
    """`bridge serve` with every source's secret set and no worker (the inbox only fills)."""
    services = Services(load_config(None, env={**bridge_env, **SECRETS}))
    with serving(services, workers=0) as running:
        yield running, services


def service_requests(sandbox) -> int:
    """Requests the emulated services have received so far."""
    return sum(len(requests.get(f"{s.url}/__sandbox__/requests", timeout=10).json()) for s in sandbox.services())


@pytest.mark.parametrize("source", list(VALID))
def test_the_right_secret_is_accepted_once_however_often_redelivered(hooked, source):
    running, services = hooked
    first = send(running.url, source, VALID[source])
    assert first.status_code == 202, first.text
    for _ in range(3):
        again = send(running.url, source, VALID[source])
        assert again.status_code == 200 and again.json() == {"accepted": False}
    [item] = services.store.inbox.items()
    assert item.source == source and item.state == "pending"
    # Identifiers only: nothing of the body's text is kept.
    assert set(services.store.inbox.subject(item)) <= {"jira_issue_id", "jira_key", "ticket", "created",
                                                       "sentry_issue_id"}
    assert metric(running.url, "bridge_webhook_deliveries_total", source=source, outcome="accepted") == 1
    assert metric(running.url, "bridge_webhook_deliveries_total", source=source, outcome="duplicate") == 3


def _refusals(source: str):
    body = json.dumps(VALID[source]).encode()
    wrong = "not-the-secret-0123456789"
    cases = {"wrong secret": (lambda url: send(url, source, body, secret=wrong), 401 if source != "django-helpdesk" else 404),
             "2 MB body": (lambda url: send(url, source, TWO_MB), 413),
             "invalid JSON": (lambda url: send(url, source, b'{"webhookEvent": "jira:issue_updated", '), 400)}
    if source in ("jira", "zendesk", "sentry"):
        cases["tampered body"] = (lambda url: _tampered(url, source, body), 401)
    if source == "zendesk":
        old = (datetime.now(UTC) - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
        cases["stale timestamp"] = (lambda url: send(url, source, body, stamp=old), 403)
    return cases


def _tampered(url: str, source: str, body: bytes) -> requests.Response:
    """Signed for ``body``, sent with one issue or ticket id changed."""
    from bridge.service.webhooks import jira, sentry, zendesk

    forged = body.replace(b"99000", b"99100")
    secret = SECRETS[f"BRIDGE_WEBHOOKS_{source.upper()}_SECRET"]
    if source == "jira":
        headers = {"X-Hub-Signature": jira.sign(secret, body), "X-Atlassian-Webhook-Identifier": "t-1"}
    elif source == "sentry":
        headers = {"Sentry-Hook-Signature": sentry.sign(secret, body), "Sentry-Hook-Resource": "issue"}
    else:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        headers = {"X-Zendesk-Webhook-Signature": zendesk.sign(secret, stamp, body),
                   "X-Zendesk-Webhook-Signature-Timestamp": stamp}
    return requests.post(f"{url}/hooks/{source}", data=forged, headers=headers, timeout=10)


CASES = [(source, case) for source in VALID for case in _refusals(source)]


@pytest.mark.parametrize(("source", "case"), CASES, ids=[f"{s}-{c}" for s, c in CASES])
def test_bad_deliveries_are_refused_counted_and_change_nothing(sandbox, hooked, source, case):
    running, services = hooked
    before = service_requests(sandbox)
    action, status = _refusals(source)[case]
    response = action(running.url)
    assert response.status_code == status, response.text
    assert services.store.inbox.items() == []
    assert service_requests(sandbox) == before
    refused = sum(metric(running.url, "bridge_webhook_deliveries_total", source=source, outcome=o)
                  for o in ("unsigned", "bad_signature", "stale", "malformed", "too_large"))
    assert refused == 1
    # Nothing the body said about a secret comes back in the answer.
    assert SECRETS[f"BRIDGE_WEBHOOKS_{source.upper().replace('-', '_')}_SECRET"] not in response.text


def test_a_source_without_a_secret_is_not_there(sandbox, bridge_env):
    services = Services(load_config(None, env=bridge_env))
    with serving(services, workers=0) as running:
        for source in VALID:
            assert send(running.url, source, VALID[source]).status_code == 404
        assert services.store.inbox.items() == []
        assert metric(running.url, "bridge_webhook_deliveries_total", source="jira", outcome="not_configured") == 1
        # No secret key: no Escalate links either.
        assert requests.get(f"{running.url}/escalate/101?t=x", timeout=10).status_code == 404


def test_events_the_bridge_does_not_follow_are_answered_and_not_kept(hooked):
    running, services = hooked
    response = post_jira(running.url, {"webhookEvent": "user_created", "user": {"name": "x"}}, delivery="u-1")
    assert response.status_code == 200 and response.json() == {"ignored": True}
    assert services.store.inbox.items() == []


def test_health_readiness_and_metrics(sandbox, hooked):
    running, services = hooked
    assert requests.get(f"{running.url}/healthz", timeout=10).json() == {"ok": True}
    ready = requests.get(f"{running.url}/readyz", timeout=10)
    assert ready.status_code == 200 and ready.json()["ready"] is True
    text = requests.get(f"{running.url}/metrics", timeout=10).text
    for name in ("bridge_webhook_deliveries", "bridge_inbox_depth", "bridge_inbox_processing_seconds",
                 "bridge_customer_messages_sent"):
        assert f"# TYPE {name}" in text
    assert metric(running.url, "bridge_inbox_depth", state="waiting") == 0


def test_metrics_answer_prometheus_content_type_once_and_parse(sandbox, hooked):
    running, _ = hooked
    assert send(running.url, "jira", VALID["jira"]).status_code == 202
    answer = requests.get(f"{running.url}/metrics", timeout=10)
    assert answer.status_code == 200
    # The header exactly as prometheus_client states it: one charset, not two.
    assert answer.headers["Content-Type"] == CONTENT_TYPE_LATEST
    assert answer.headers["Content-Type"].lower().count("charset") == 1
    families = {f.name: f for f in text_string_to_metric_families(answer.text)}
    assert {"bridge_webhook_deliveries", "bridge_inbox_depth", "bridge_inbox_processing_seconds",
            "bridge_customer_messages_sent"} <= set(families)
    accepted = [s.value for s in families["bridge_webhook_deliveries"].samples
                if s.name == "bridge_webhook_deliveries_total" and s.labels == {"source": "jira", "outcome": "accepted"}]
    assert accepted == [1.0]


def test_readiness_fails_when_a_service_is_down(sandbox, bridge_env):
    services = Services(load_config(None, env={**bridge_env, **SECRETS}))
    with serving(services, workers=0) as running:
        sandbox.jira.stop()
        ready = requests.get(f"{running.url}/readyz", timeout=60)
        assert ready.status_code == 503
        assert any(problem.startswith("jira:") for problem in ready.json()["problems"])
        assert SECRETS["BRIDGE_WEBHOOKS_JIRA_SECRET"] not in ready.text
