"""The webhook intake of `bridge serve` over real HTTP on loopback, against bodies and requests
that once got a 500, leaked a secret to the log, were read without limit or were replayed:

- a signed body that is valid-looking JSON the bridge cannot use (nested too deeply, a lone
  surrogate in an event name) is a 400 the vendor does not retry, never a 500;
- a 500 on ``/hooks/django-helpdesk/<secret>`` logs no line holding the secret;
- the public Escalate page reads no body over the app-wide cap, while a hook still takes a
  body up to its own ``max_body_bytes``;
- a captured JIRA, Sentry or Zendesk delivery sent again with a fresh (unsigned) id header
  is a redelivery, not a new delivery.
"""

from __future__ import annotations

import json
import logging
import socket
from datetime import UTC, datetime

import pytest
import requests

from bridge.config import load_config
from bridge.service.app import FORM_MAX_BYTES
from bridge.service.webhooks import jira, zendesk
from bridge.services import Services
from tests.fixtures.serve import (SECRETS, metric, post_django_helpdesk, post_freshdesk, post_jira, post_sentry,
                                  post_zendesk, serving)

SENDERS = {"jira": post_jira, "zendesk": post_zendesk, "sentry": post_sentry, "freshdesk": post_freshdesk,
           "django-helpdesk": post_django_helpdesk}
#: 200 kB, well under max_body_bytes, and deeper than the interpreter's recursion limit.
DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.fixture
def hooked(sandbox, bridge_env):
    """`bridge serve` with every source's secret and the Escalate key set, no worker."""
    services = Services(load_config(None, env={**bridge_env, **SECRETS}))
    with serving(services, workers=0) as running:
        yield running, services


@pytest.mark.parametrize("source", list(SENDERS))
def test_signed_json_nested_too_deeply_is_a_400_and_stores_nothing(hooked, source):
    running, services = hooked
    answer = SENDERS[source](running.url, DEEP)
    assert answer.status_code == 400, answer.text
    assert "nested too deeply" in answer.json()["error"]
    assert metric(running.url, "bridge_webhook_deliveries_total", source=source, outcome="malformed") == 1
    assert services.store.inbox.items() == []


@pytest.mark.parametrize("source,payload", [
    ("freshdesk", {"freshdesk_webhook": {"ticket_id": 990004, "event": "\ud800"}}),
    ("freshdesk", {"ticket_id": 990004, "event": "updated\nFAKE log line"}),
    ("zendesk", {"ticket_id": "990002", "event": "\ud800"}),
    ("zendesk", {"type": "zen:event-type:ticket.\ud800", "id": "d-1", "detail": {"id": "990002"}}),
])
def test_an_event_name_the_store_cannot_hold_is_a_400_and_stores_nothing(hooked, source, payload):
    running, services = hooked
    answer = SENDERS[source](running.url, json.dumps(payload).encode())  # "\\ud800" on the wire
    assert answer.status_code == 400, answer.text
    assert services.store.inbox.items() == []
    # The same body with a plain event name is accepted: only the name was refused.
    fine = json.loads(json.dumps(payload).replace("\\ud800", "updated").replace("updated\\nFAKE log line", "updated"))
    assert SENDERS[source](running.url, fine).status_code == 202


def test_a_500_on_the_django_helpdesk_hook_logs_no_line_holding_its_secret(hooked, caplog):
    running, services = hooked
    secret = SECRETS["BRIDGE_WEBHOOKS_DJANGO_HELPDESK_SECRET"]
    # A real failure after the secret was checked: the store lost its inbox table.
    with services.store.inbox.engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE inbox")
    with caplog.at_level(logging.DEBUG):
        answer = post_django_helpdesk(running.url, {"ticket": {"id": 990005}, "queue_slug": "q"})
    assert answer.status_code == 500
    assert secret not in answer.text
    # Every logger of the server side (urllib3's is this test's own client, which logs its URL).
    logged = [(record.getMessage(), record.exc_text or "") for record in caplog.records
              if not record.name.startswith("urllib3")]
    assert any(message.startswith("Exception on /hooks/django-helpdesk/<secret> [POST]") for message, _ in logged)
    assert not [line for pair in logged for line in pair if secret in line]


def _status_line_after_headers(url: str, path: str, declared: int) -> str:
    """Announce a body of ``declared`` bytes, send 1 kB of it, and read the status line."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall((f"POST {path} HTTP/1.1\r\nHost: bridge\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                      f"Content-Length: {declared}\r\nConnection: close\r\n\r\n").encode() + b"t=" + b"x" * 1022)
        return conn.makefile("rb").readline().decode().strip()


def test_the_public_escalate_page_refuses_a_body_over_the_form_cap_before_reading_it(hooked):
    running, services = hooked
    status = _status_line_after_headers(running.url, "/escalate/101", 10 * 1024 * 1024)
    assert status.split()[1] == "413", status
    # Just under the cap is read (and refused for what it says: no valid link).
    small = requests.post(f"{running.url}/escalate/101", data={"t": "x" * (FORM_MAX_BYTES - 100)}, timeout=10)
    assert small.status_code != 413
    over = requests.post(f"{running.url}/escalate/101", data={"t": "x" * FORM_MAX_BYTES}, timeout=10)
    assert over.status_code == 413 and str(FORM_MAX_BYTES) in over.text
    assert services.store.inbox.items() == []


def test_a_hook_still_takes_a_body_over_the_form_cap_up_to_its_own_limit(hooked):
    running, services = hooked
    body = json.dumps({"webhookEvent": "jira:issue_updated", "issue": {"id": "990001"},
                       "pad": "x" * (3 * FORM_MAX_BYTES)}).encode()
    assert post_jira(running.url, body, delivery="big-1").status_code == 202
    # Chunked (no Content-Length), as some proxies forward it: the same limits apply.
    body = body.replace(b'"x', b'"y', 1)
    headers = {"X-Hub-Signature": jira.sign(SECRETS["BRIDGE_WEBHOOKS_JIRA_SECRET"], body),
               "X-Atlassian-Webhook-Identifier": "big-2"}
    chunks = [body[i:i + 8192] for i in range(0, len(body), 8192)]
    assert requests.post(f"{running.url}/hooks/jira", data=iter(chunks), headers=headers, timeout=10).status_code == 202
    limit = services.config.serve.max_body_bytes
    over = b'{"pad": "' + b"x" * limit + b'"}'
    headers = {**headers, "X-Hub-Signature": jira.sign(SECRETS["BRIDGE_WEBHOOKS_JIRA_SECRET"], over)}
    too_big = requests.post(f"{running.url}/hooks/jira", data=iter([over]), headers=headers, timeout=30)
    assert too_big.status_code == 413 and str(limit) in too_big.text
    assert len(services.store.inbox.items()) == 2


def test_a_sentry_delivery_sent_again_with_a_fresh_request_id_is_a_redelivery(hooked):
    running, services = hooked
    body = json.dumps({"action": "resolved", "data": {"issue": {"id": "990003"}}}).encode()
    answers = [post_sentry(running.url, body, request_id=rid).status_code for rid in ("orig-1", "replay-2", "replay-3")]
    assert answers == [202, 200, 200]
    other = json.dumps({"action": "unresolved", "data": {"issue": {"id": "990003"}}}).encode()
    assert post_sentry(running.url, other, request_id="orig-1").status_code == 202  # a new body is new
    assert len(services.store.inbox.items()) == 2


def test_a_jira_delivery_sent_again_with_a_fresh_identifier_is_a_redelivery(hooked):
    running, services = hooked
    body = json.dumps({"webhookEvent": "jira:issue_updated", "timestamp": 1764720000000,
                       "issue": {"id": "990005", "key": "SUP-990"}}).encode()
    answers = [post_jira(running.url, body, delivery=d).status_code for d in ("w-1", "replay-2", "replay-3")]
    answers.append(post_jira(running.url, body, delivery="w-1", retry=1).status_code)  # JIRA's own retry
    assert answers == [202, 200, 200, 200]
    later = json.dumps({"webhookEvent": "jira:issue_updated", "timestamp": 1764720000001,
                        "issue": {"id": "990005", "key": "SUP-990"}}).encode()
    assert post_jira(running.url, later, delivery="w-1").status_code == 202  # a new event is new
    assert len(services.store.inbox.items()) == 2


def test_a_zendesk_trigger_delivery_sent_again_with_a_fresh_invocation_id_is_a_redelivery(hooked):
    running, services = hooked
    body = b'{"ticket_id": "101", "event": "escalate"}'
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    signature = zendesk.sign(SECRETS["BRIDGE_WEBHOOKS_ZENDESK_SECRET"], stamp, body)

    def send(invocation: str) -> int:
        return requests.post(f"{running.url}/hooks/zendesk", data=body, timeout=10, headers={
            "X-Zendesk-Webhook-Signature": signature, "X-Zendesk-Webhook-Signature-Timestamp": stamp,
            "X-Zendesk-Webhook-Invocation-Id": invocation}).status_code

    assert [send("i-1"), send("i-2"), send("i-3")] == [202, 200, 200]
    assert len(services.store.inbox.items()) == 1
