"""The Sentry and Freshdesk emulators' outgoing webhooks, received on a loopback server: each
vendor's headers and signature, and the shared delivery controls under ``/__sandbox__/webhooks``
(the same dispatcher and knobs as the JIRA and Zendesk emulators)."""

from __future__ import annotations

import hashlib
import hmac

import pytest
import requests

from tests.fixtures.freshdesk_sandbox import FreshdeskSandbox, freshdesk, freshdesk_service  # noqa: F401
from tests.fixtures.sentry_sandbox import SentrySandbox, sentry, sentry_service  # noqa: F401
from tests.fixtures.webhook_deliveries import Receiver, receiving, set_delivery_knobs, settled

SECRET = "outgoing-webhook-secret"


@pytest.fixture
def receiver():
    with receiving("/hooks") as box:
        yield box


def test_sentry_signs_each_issue_webhook_and_duplicates_keep_the_request_id(sentry: SentrySandbox,
                                                                           receiver: Receiver):
    sentry.state.hooks.subscribe(receiver.url, SECRET)
    set_delivery_knobs(sentry.url, duplicate=1)
    sentry.state.update_issue(4505, {"status": "resolved"})
    report = settled(sentry.url)
    assert report["submitted"] == 1 and report["delivered"] == 2
    first, copy = receiver.received
    assert first.headers["Request-ID"] == copy.headers["Request-ID"] and first.body == copy.body
    expected = hmac.new(SECRET.encode(), first.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(first.headers["Sentry-Hook-Signature"], expected)
    assert first.headers["Sentry-Hook-Resource"] == "issue"
    assert first.json()["action"] == "resolved" and first.json()["data"]["issue"]["id"] == "4505"


def test_freshdesk_sends_the_rules_secret_and_a_dropped_delivery_is_counted(freshdesk: FreshdeskSandbox,
                                                                          receiver: Receiver):
    freshdesk.state.hooks.subscribe(receiver.url, SECRET)
    ticket = next(iter(freshdesk.state.tickets.values()))
    set_delivery_knobs(freshdesk.url, drop_fraction=1.0)
    freshdesk.state.update_ticket(ticket["id"], {"priority": 3})
    assert settled(freshdesk.url)["dropped"] == 1 and receiver.received == []
    set_delivery_knobs(freshdesk.url, drop_fraction=0.0)
    freshdesk.state.update_ticket(ticket["id"], {"priority": 4})
    settled(freshdesk.url)
    (delivery,) = receiver.received
    assert delivery.headers["X-Bridge-Secret"] == SECRET
    assert delivery.json()["freshdesk_webhook"]["ticket_id"] == ticket["id"]


def test_a_reset_state_forgets_its_subscriptions_and_the_controls_refuse_bad_knobs(sentry: SentrySandbox,
                                                                                 receiver: Receiver):
    sentry.state.hooks.subscribe(receiver.url, SECRET)
    sentry.state.seed_demo()  # what every test's fixture does: nothing carries over
    sentry.state.update_issue(4505, {"status": "resolved"})
    assert settled(sentry.url)["submitted"] == 0 and receiver.received == []
    refused = requests.patch(f"{sentry.url}/__sandbox__/webhooks", json={"duplicate": -1}, timeout=10)
    assert refused.status_code == 400 and "duplicate" in refused.json()["error"]
