"""The customer's Escalate button through `bridge serve` (policy 000): by signed link and by
the ticket's tag, pressed twice and redelivered, it pages once, changes the priority once
and acknowledges once; tampered, expired, other tickets' links and confirmations without
their CSRF token change nothing; a new ticket with the [Emergency] subject escalates."""

from __future__ import annotations

import re

import requests
from itsdangerous import URLSafeTimedSerializer
from itsdangerous.timed import TimestampSigner

from bridge.config import load_config
from bridge.escalation import EscalationRequest
from bridge.escalate_links import escalate_link
from bridge.services import Services
from tests.conftest import ACTOR
from tests.fixtures.bridge_comments import bridge_comments
from tests.fixtures.button import confirm, on, pages, services  # noqa: F401 - services is a fixture
from tests.fixtures.serve import SECRETS, inbox_settled, post_zendesk, serving, wait_until


def priority_writes(sandbox) -> list:
    return [e for e in sandbox.jira.knobs.received() if e.method == "PUT" and '"priority"' in e.body]


def press_with_tag(sandbox, running, ticket: int, delivery: str) -> None:
    customer = sandbox.zendesk_state.ticket(ticket)["requester_id"]
    sandbox.zendesk_state.update_ticket(ticket, {"additional_tags": ["escalate"]}, customer)
    event = {"type": "zen:event-type:ticket.tags_changed", "id": delivery, "detail": {"id": str(ticket)}, "event": {}}
    assert post_zendesk(running.url, event).status_code in (200, 202)


def test_the_signed_link_opens_a_confirmation_that_quotes_the_policy_and_changes_nothing(sandbox, services):
    link = escalate_link("zendesk", "103", config=services.config)
    assert link.startswith("https://bridge.example.com/escalate/103?t=")
    with serving(services) as running:
        page = requests.get(on(running, link), timeout=10)
        assert page.status_code == 200
        assert "Please be judicious in your use of the button" in page.text
        assert "Emergency Severity Status" in page.text
        assert "csrf_token" in page.text and "default-src 'none'" in page.headers["Content-Security-Policy"]
        assert services.store.inbox.items() == [] and pages(sandbox) == []


def test_link_pressed_twice_and_replayed_then_the_tag_pages_once_and_acknowledges_once(sandbox, services):
    ticket = 104
    before = len(bridge_comments(sandbox, ticket))
    link = escalate_link("zendesk", str(ticket), config=services.config)
    with serving(services, workers=2) as running:
        browser = requests.Session()
        first = confirm(browser, on(running, link))
        assert first.status_code == 202 and "being moved to Emergency" in first.text
        assert confirm(browser, on(running, link)).status_code == 202  # a second click
        # The same confirmation replayed as it was sent.
        replay = requests.post(first.request.url, data=first.request.body, headers=dict(first.request.headers),
                               timeout=10)
        assert replay.status_code == 202
        # A second message's link (signed later) is another press of the same button.
        confirm(requests.Session(), on(running, escalate_link("zendesk", str(ticket), config=services.config)))
        wait_until(lambda: inbox_settled(services.store) and services.store.escalations.by_ticket("zendesk", str(ticket)))
        press_with_tag(sandbox, running, ticket, "tag-1")
        press_with_tag(sandbox, running, ticket, "tag-1")  # Zendesk delivering twice
        wait_until(lambda: inbox_settled(services.store))
    escalation = services.store.escalations.by_ticket("zendesk", str(ticket))
    assert (escalation.severity, escalation.pages_sent) == ("emergency", 1)
    assert sandbox.jira_state.issue(escalation.jira_key)["fields"]["priority"]["name"] == "Highest"
    assert len(pages(sandbox)) == 1
    assert len(bridge_comments(sandbox, ticket)) == before + 1  # one acknowledgement
    assert len([i for i in services.store.inbox.items() if i.source == "button"]) <= 2  # one per link


def test_the_tag_on_an_escalated_ticket_raises_it_once_and_a_link_press_after_adds_nothing(sandbox, services):
    services.escalator().escalate(EscalationRequest(ticket="101", actor=ACTOR))
    key = services.store.escalations.by_ticket("zendesk", "101").jira_key
    assert sandbox.jira_state.issue(key)["fields"]["priority"]["name"] == "High"
    before = len(bridge_comments(sandbox, 101))
    sandbox.jira.knobs.reset_counters()
    with serving(services, workers=2) as running:
        press_with_tag(sandbox, running, 101, "tag-a")
        press_with_tag(sandbox, running, 101, "tag-b")  # the checkbox saved twice
        wait_until(lambda: inbox_settled(services.store))
        assert confirm(requests.Session(), on(running, escalate_link("zendesk", "101", config=services.config))
                       ).status_code == 202
        wait_until(lambda: inbox_settled(services.store))
    assert sandbox.jira_state.issue(key)["fields"]["priority"]["name"] == "Highest"
    assert len(priority_writes(sandbox)) == 1
    assert len(pages(sandbox)) == 1
    assert len(bridge_comments(sandbox, 101)) == before + 1
    assert all(i.state == "done" for i in services.store.inbox.items())


class _Yesterday(TimestampSigner):
    def get_timestamp(self) -> int:
        return super().get_timestamp() - 2 * 86400


def _token(services, payload: dict, *, signer=None, key: str | None = None) -> str:
    serializer = URLSafeTimedSerializer(key or SECRETS["BRIDGE_SERVE_SECRET_KEY"], signer=signer or TimestampSigner)
    return serializer.dumps(payload, salt="bridge.escalate-link")


def test_tampered_expired_foreign_and_unconfirmed_presses_change_nothing(sandbox, bridge_env):
    services = Services(load_config(None, env={**bridge_env, **SECRETS, "BRIDGE_SERVE_ESCALATE_LINK_DAYS": "1"}))
    good = escalate_link("zendesk", "103", config=services.config)
    token = good.split("t=")[1]
    with serving(services) as running:
        base = f"{running.url}/escalate"
        cases = {
            "tampered": (f"{base}/103?t={token[:-3]}{'AAA' if not token.endswith('AAA') else 'BBB'}", 403),
            "another key": (f"{base}/103?t={_token(services, {'k': 'zendesk', 't': '103'}, key='x' * 40)}", 403),
            "expired": (f"{base}/103?t={_token(services, {'k': 'zendesk', 't': '103'}, signer=_Yesterday)}", 410),
            "other ticket": (f"{base}/101?t={token}", 403),
            "other helpdesk": (f"{base}/103?t={_token(services, {'k': 'freshdesk', 't': '103'})}", 403),
        }
        for name, (url, status) in cases.items():
            assert requests.get(url, timeout=10).status_code == status, name
            assert requests.post(url.split("?")[0], data={"t": url.split("t=")[1], "csrf_token": "x"},
                                 timeout=10).status_code == status, name
        browser = requests.Session()
        page = browser.get(on(running, good), timeout=10)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        no_csrf = browser.post(f"{base}/103", data={"t": token}, timeout=10)
        no_cookie = requests.post(f"{base}/103", data={"t": token, "csrf_token": csrf}, timeout=10)
        other_link = escalate_link("zendesk", "105", config=services.config)
        foreign_csrf = browser.post(f"{base}/105", data={"t": other_link.split("t=")[1], "csrf_token": csrf},
                                    timeout=10)
        assert [no_csrf.status_code, no_cookie.status_code, foreign_csrf.status_code] == [400, 400, 400]
        assert "<script" not in requests.get(f"{base}/%3Cscript%3E?t=x", timeout=10).text
    assert services.store.inbox.items() == []
    assert pages(sandbox) == [] and services.store.escalations.by_ticket("zendesk", "103") is None


def test_no_link_without_a_secret_key_or_a_public_url(bridge_env):
    assert escalate_link("zendesk", "1", config=load_config(None, env=bridge_env)) is None
    only_key = {**bridge_env, "BRIDGE_SERVE_SECRET_KEY": SECRETS["BRIDGE_SERVE_SECRET_KEY"]}
    assert escalate_link("zendesk", "1", config=load_config(None, env=only_key)) is None


def test_a_new_ticket_with_the_emergency_subject_escalates_and_pages_once(sandbox, services):
    with serving(services) as running:
        event = {"type": "zen:event-type:ticket.created", "id": "new-102", "detail": {"id": "102"}, "event": {}}
        assert post_zendesk(running.url, event).status_code == 202
        assert post_zendesk(running.url, event).status_code == 200
        wait_until(lambda: inbox_settled(services.store) and services.store.escalations.by_ticket("zendesk", "102"))
        # An update of a ticket that is not new does not escalate by its subject.
        post_zendesk(running.url, {"type": "zen:event-type:ticket.status_changed", "id": "upd-103",
                                   "detail": {"id": "103"}, "event": {}})
        wait_until(lambda: inbox_settled(services.store))
    escalation = services.store.escalations.by_ticket("zendesk", "102")
    assert (escalation.severity, escalation.pages_sent) == ("emergency", 1)
    assert len(pages(sandbox)) == 1
    assert services.store.escalations.by_ticket("zendesk", "103") is None
