"""The Zendesk emulator sends real webhooks: registered through Zendesk's webhooks and
triggers APIs, signed as Zendesk signs them, in both payload shapes, POSTed from a
background thread to a tiny HTTP server on loopback; and the delivery knobs (duplicate,
delay, reorder, drop, retry) do what they say."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import datetime
from typing import Iterator

import pytest

from bridge.sandbox.zendesk import FIELD_DEVICE
from bridge.service.webhooks import WebhookRequest
from bridge.service.webhooks import zendesk as bridge_receiver
from tests.fixtures.webhook_deliveries import Receiver, receiving, set_delivery_knobs, settled
from tests.fixtures.zendesk_sandbox import ZendeskSandbox, zendesk, zendesk_service  # noqa: F401

EVENTS = ["zen:event-type:ticket." + name for name in (
    "created", "comment_added", "status_changed", "tags_changed", "custom_field_changed", "priority_changed")]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving("/hooks/zendesk") as box:
        yield box


def register(zendesk: ZendeskSandbox, receiver: Receiver, subscriptions: list[str], name: str = "bridge") -> dict:
    response = zendesk.session().post(zendesk.api("webhooks"), json={"webhook": {
        "name": name, "endpoint": receiver.url, "http_method": "POST", "request_format": "json",
        "status": "active", "subscriptions": subscriptions}})
    assert response.status_code == 201, response.text
    return response.json()["webhook"]


def secret_of(zendesk: ZendeskSandbox, webhook: dict) -> str:
    answer = zendesk.session().get(zendesk.api(f"webhooks/{webhook['id']}/signing_secret")).json()
    assert answer["signing_secret"]["algorithm"] == "SHA256"
    return answer["signing_secret"]["secret"]


def update(zendesk: ZendeskSandbox, ticket: int, **changes) -> None:
    response = zendesk.session().put(zendesk.api(f"tickets/{ticket}.json"), json={"ticket": changes})
    assert response.status_code == 200, response.text


def expected_signature(secret: str, timestamp: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()).decode()


# -- the webhooks API ------------------------------------------------------------------------
def test_webhooks_are_registered_listed_and_deleted_and_the_secret_is_shown_only_on_request(
        zendesk: ZendeskSandbox, receiver: Receiver):
    webhook = register(zendesk, receiver, [EVENTS[0]])
    assert webhook["id"].startswith("01") and len(webhook["id"]) == 26
    assert "secret" not in json.dumps(webhook).lower()
    session = zendesk.session()
    assert [w["id"] for w in session.get(zendesk.api("webhooks")).json()["webhooks"]] == [webhook["id"]]
    assert session.get(zendesk.api(f"webhooks/{webhook['id']}")).json()["webhook"]["endpoint"] == receiver.url
    assert len(secret_of(zendesk, webhook)) >= 32
    assert session.delete(zendesk.api(f"webhooks/{webhook['id']}")).status_code == 204
    gone = session.get(zendesk.api(f"webhooks/{webhook['id']}"))
    assert gone.status_code == 404 and gone.json()["errors"][0]["code"] == "RecordNotFound"


@pytest.mark.parametrize("change, pointer", [
    ({"endpoint": "ftp://example.test/x"}, "/webhook/endpoint"),
    ({"subscriptions": ["zen:event-type:ticket.exploded"]}, "/webhook/subscriptions"),
    ({"subscriptions": []}, "/webhook/subscriptions"),
    ({"name": ""}, "/webhook/name"),
])
def test_an_invalid_webhook_is_a_400_naming_the_field_and_nothing_is_registered(
        zendesk: ZendeskSandbox, change: dict, pointer: str):
    spec = {"name": "x", "endpoint": "http://127.0.0.1:9/hook", "subscriptions": [EVENTS[0]], **change}
    response = zendesk.session().post(zendesk.api("webhooks"), json={"webhook": spec})
    assert response.status_code == 400
    assert response.json()["errors"][0]["source"]["pointer"] == pointer
    assert zendesk.state.webhooks.webhooks == {}


# -- event-subscribed deliveries ---------------------------------------------------------------
def test_a_new_ticket_is_delivered_signed_in_zendesks_event_shape(zendesk: ZendeskSandbox, receiver: Receiver):
    webhook = register(zendesk, receiver, EVENTS)
    secret = secret_of(zendesk, webhook)
    created = zendesk.session().post(zendesk.api("tickets.json"), json={"ticket": {
        "subject": "Printer on fire", "comment": {"body": "Smoke."}, "priority": "high"}}).json()["ticket"]
    settled(zendesk.url)
    (delivery,) = receiver.received
    body = delivery.json()
    assert body["type"] == "zen:event-type:ticket.created"
    assert body["detail"]["id"] == str(created["id"]) and body["subject"] == f"zen:ticket:{created['id']}"
    assert (body["detail"]["status"], body["detail"]["priority"]) == ("NEW", "HIGH")
    assert body["detail"]["requester_id"] == str(created["requester_id"])
    assert isinstance(body["account_id"], int) and body["zendesk_event_version"]
    assert len(body["id"]) == 36 and datetime.fromisoformat(body["time"].replace("Z", "+00:00"))
    headers = delivery.headers
    assert headers["X-Zendesk-Webhook-Id"] == webhook["id"]
    assert headers["X-Zendesk-Webhook-Invocation-Id"]
    timestamp = headers["X-Zendesk-Webhook-Signature-Timestamp"]
    assert headers["X-Zendesk-Webhook-Signature"] == expected_signature(secret, timestamp, delivery.body)
    assert headers["X-Zendesk-Webhook-Signature"] != expected_signature("another-secret", timestamp, delivery.body)


def test_comments_status_tags_and_fields_each_arrive_as_their_own_event(zendesk: ZendeskSandbox, receiver: Receiver):
    register(zendesk, receiver, EVENTS)
    update(zendesk, 101, comment={"body": "Fixed in 5.3.", "public": True}, status="solved",
           additional_tags=["release_5_3"], custom_fields=[{"id": FIELD_DEVICE, "value": "WS-1"}])
    update(zendesk, 101, comment={"body": "Engineering note.", "public": False})
    customer = zendesk.state.ticket(101)["requester_id"]
    zendesk.state.update_ticket(101, {"comment": {"body": "Still broken!", "public": True}, "status": "open"}, customer)
    settled(zendesk.url)
    seen = [(b["type"].removeprefix("zen:event-type:ticket."), b["event"]) for b in receiver.bodies()]
    assert [kind for kind, _ in seen] == ["comment_added", "status_changed", "tags_changed", "custom_field_changed",
                                          "comment_added", "comment_added", "status_changed"]
    assert seen[0][1]["comment"]["is_public"] is True and seen[0][1]["comment"]["body"] == "Fixed in 5.3."
    assert (seen[1][1]["previous"], seen[1][1]["current"]) == ("OPEN", "SOLVED")  # solved
    assert seen[2][1]["tags_added"] == ["release_5_3"] and seen[2][1]["tags_removed"] == []
    assert seen[3][1]["custom_field"]["id"] == str(FIELD_DEVICE) and seen[3][1]["current"] == "WS-1"
    assert seen[4][1]["comment"]["is_public"] is False  # an internal note
    assert seen[5][1]["comment"]["author"] == {"id": str(customer), "name": "Alice Adams", "is_staff": False}
    assert (seen[6][1]["previous"], seen[6][1]["current"]) == ("SOLVED", "OPEN")  # reopened
    sequences = {b["event"]["meta"]["sequence"]["id"] for b in receiver.bodies()[:4]}
    assert len(sequences) == 1  # one update, one sequence
    assert all(b["detail"]["id"] == "101" for b in receiver.bodies())


def test_only_subscribed_event_types_and_active_webhooks_are_called(zendesk: ZendeskSandbox, receiver: Receiver):
    register(zendesk, receiver, ["zen:event-type:ticket.status_changed"])
    paused = register(zendesk, receiver, EVENTS, name="paused")
    zendesk.session().patch(zendesk.api(f"webhooks/{paused['id']}"), json={"webhook": {"status": "inactive"}})
    update(zendesk, 104, comment={"body": "A note", "public": False}, additional_tags=["x"])
    update(zendesk, 104, status="pending")
    settled(zendesk.url)
    assert [b["type"] for b in receiver.bodies()] == ["zen:event-type:ticket.status_changed"]


def test_the_bridges_own_receiver_accepts_what_the_emulator_sends(zendesk: ZendeskSandbox, receiver: Receiver):
    webhook = register(zendesk, receiver, EVENTS)
    secret = secret_of(zendesk, webhook)
    update(zendesk, 104, comment={"body": "Any news?", "public": True})
    settled(zendesk.url)
    (delivery,) = receiver.received
    request = WebhookRequest(headers=delivery.headers, body=delivery.body)
    bridge_receiver.verify(request, secret, now=time.time(), window=300)
    parsed = bridge_receiver.parse(request)
    assert parsed.subject["ticket"] == "104" and parsed.event == "ticket.comment_added"


# -- trigger-connected deliveries -----------------------------------------------------------------
TRIGGER_BODY = ('{"ticket_id": "{{ticket.id}}", "event": "public_comment", "status": "{{ticket.status}}", '
                '"subject": "{{ticket.title}}", "said": "{{ticket.latest_public_comment.value}}"}')


def add_trigger(zendesk: ZendeskSandbox, webhook: dict, conditions: dict, body: str = TRIGGER_BODY) -> dict:
    response = zendesk.session().post(zendesk.api("triggers.json"), json={"trigger": {
        "title": "Tell the bridge", "conditions": conditions,
        "actions": [{"field": "notification_webhook", "value": [webhook["id"], body]}]}})
    assert response.status_code == 201, response.text
    return response.json()["trigger"]


def test_a_trigger_sends_its_rendered_body_when_its_conditions_hold(zendesk: ZendeskSandbox, receiver: Receiver):
    webhook = register(zendesk, receiver, ["conditional_ticket_events"])
    secret = secret_of(zendesk, webhook)
    add_trigger(zendesk, webhook, {"all": [{"field": "update_type", "operator": "is", "value": "Change"},
                                           {"field": "comment_is_public", "operator": "is", "value": "true"}]})
    update(zendesk, 104, subject='Sync "0x80070005" fails')
    update(zendesk, 104, comment={"body": "Internal only", "public": False})
    update(zendesk, 104, comment={"body": 'He said "hi"\nand left', "public": True})
    settled(zendesk.url)
    (delivery,) = receiver.received
    assert delivery.json() == {"ticket_id": "104", "event": "public_comment", "status": "Open",
                               "subject": 'Sync "0x80070005" fails', "said": 'He said "hi"\nand left'}
    timestamp = delivery.headers["X-Zendesk-Webhook-Signature-Timestamp"]
    assert delivery.headers["X-Zendesk-Webhook-Signature"] == expected_signature(secret, timestamp, delivery.body)
    parsed = bridge_receiver.parse(WebhookRequest(headers=delivery.headers, body=delivery.body))
    assert parsed.subject["ticket"] == "104"


def test_trigger_conditions_on_status_tags_and_creation(zendesk: ZendeskSandbox, receiver: Receiver):
    webhook = register(zendesk, receiver, ["conditional_ticket_events"])
    add_trigger(zendesk, webhook, {"all": [{"field": "status", "operator": "value", "value": "solved"}]},
                body='{"ticket_id": "{{ticket.id}}", "event": "solved"}')
    add_trigger(zendesk, webhook, {"all": [{"field": "current_tags", "operator": "includes", "value": "escalate"},
                                           {"field": "update_type", "operator": "is", "value": "Change"}]},
                body='{"ticket_id": "{{ticket.id}}", "event": "escalate"}')
    add_trigger(zendesk, webhook, {"all": [{"field": "update_type", "operator": "is", "value": "Create"}]},
                body='{"ticket_id": "{{ticket.id}}", "event": "created"}')
    update(zendesk, 101, status="pending")
    update(zendesk, 102, status="solved")
    update(zendesk, 104, additional_tags=["escalate"])
    created = zendesk.session().post(zendesk.api("tickets.json"), json={"ticket": {
        "subject": "New", "comment": {"body": "Hello"}}}).json()["ticket"]
    settled(zendesk.url)
    assert receiver.bodies() == [{"ticket_id": "102", "event": "solved"}, {"ticket_id": "104", "event": "escalate"},
                                 {"ticket_id": str(created["id"]), "event": "created"}]


@pytest.mark.parametrize("trigger, message", [
    ({"conditions": {"all": [{"field": "satisfaction_score", "operator": "is", "value": "good"}]}},
     "does not evaluate"),
    ({"actions": [{"field": "status", "value": "solved"}]}, "only notification_webhook"),
    ({"actions": [{"field": "notification_webhook", "value": ["01NOSUCHWEBHOOK", "{}"]}]}, "does not exist"),
])
def test_a_trigger_the_sandbox_cannot_honour_is_refused(zendesk: ZendeskSandbox, trigger: dict, message: str):
    spec = {"title": "t", "conditions": {"all": [{"field": "update_type", "operator": "is", "value": "Change"}]},
            "actions": [{"field": "notification_webhook", "value": ["01NOSUCHWEBHOOK", "{}"]}], **trigger}
    response = zendesk.session().post(zendesk.api("triggers.json"), json={"trigger": spec})
    assert response.status_code == 422
    assert message in response.json()["details"]["base"][0]["description"]
    assert zendesk.state.webhooks.triggers == {}


# -- delivery knobs -----------------------------------------------------------------------------------
def test_duplicate_sends_each_invocation_n_more_times_under_one_invocation_id(
        zendesk: ZendeskSandbox, receiver: Receiver):
    register(zendesk, receiver, EVENTS)
    set_delivery_knobs(zendesk.url, duplicate=2)
    update(zendesk, 104, status="pending")
    settled(zendesk.url)
    assert len(receiver.received) == 3
    assert len({r.headers["X-Zendesk-Webhook-Invocation-Id"] for r in receiver.received}) == 1
    assert len({r.body for r in receiver.received}) == 1


def test_delay_holds_deliveries_back_and_the_queue_can_be_waited_for(zendesk: ZendeskSandbox, receiver: Receiver):
    register(zendesk, receiver, EVENTS)
    set_delivery_knobs(zendesk.url, delay_s=0.5)
    before = time.monotonic()
    update(zendesk, 104, status="pending")
    assert zendesk.state.webhooks.dispatcher.wait_idle(10)
    (delivery,) = receiver.received
    # A lower bound only: a slow machine makes the gap longer, never shorter.
    assert delivery.at - before >= 0.5


def test_reorder_releases_a_window_of_deliveries_shuffled(zendesk: ZendeskSandbox, receiver: Receiver):
    register(zendesk, receiver, ["zen:event-type:ticket.priority_changed"])
    set_delivery_knobs(zendesk.url, reorder_window=4, reorder_hold_s=30, seed=3)
    for priority in ("low", "normal", "high", "urgent"):
        update(zendesk, 105, priority=priority)
    settled(zendesk.url)
    order = [b["event"]["current"] for b in receiver.bodies()]
    assert sorted(order) == sorted(["LOW", "NORMAL", "HIGH", "URGENT"])
    assert order != ["LOW", "NORMAL", "HIGH", "URGENT"]


def test_drop_loses_the_share_it_is_told_to(zendesk: ZendeskSandbox, receiver: Receiver):
    register(zendesk, receiver, ["zen:event-type:ticket.priority_changed"])
    set_delivery_knobs(zendesk.url, drop_fraction=1.0)
    update(zendesk, 105, priority="high")
    set_delivery_knobs(zendesk.url, drop_fraction=0.5, seed=7)
    for n in range(20):
        update(zendesk, 105, priority=("low", "urgent")[n % 2])
    report = settled(zendesk.url)
    assert report["dropped"] + report["delivered"] == 21 and len(receiver.received) == report["delivered"]
    assert 1 <= report["dropped"] - 1 <= 19  # the first always, then some but not all of the rest


def test_a_failed_delivery_is_retried_and_signed_anew(zendesk: ZendeskSandbox, receiver: Receiver):
    webhook = register(zendesk, receiver, EVENTS)
    secret = secret_of(zendesk, webhook)
    set_delivery_knobs(zendesk.url, retry_backoff_s=0.01)
    receiver.script = [503, 409]
    update(zendesk, 104, status="pending")
    report = settled(zendesk.url)
    assert len(receiver.received) == 3 and report["delivered"] == 1
    assert len({r.headers["X-Zendesk-Webhook-Invocation-Id"] for r in receiver.received}) == 1
    for attempt in receiver.received:
        timestamp = attempt.headers["X-Zendesk-Webhook-Signature-Timestamp"]
        assert attempt.headers["X-Zendesk-Webhook-Signature"] == expected_signature(secret, timestamp, attempt.body)


def test_a_change_without_any_webhook_queues_nothing(zendesk: ZendeskSandbox):
    update(zendesk, 104, status="pending")
    assert zendesk.state.webhooks.dispatcher.report()["submitted"] == 0
