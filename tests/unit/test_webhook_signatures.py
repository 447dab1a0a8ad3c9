"""Each vendor's webhook verification and parsing (pure): what the vendor signs passes, any
change to the body, the secret or the timestamp fails, and no input makes a parser raise
anything but a refusal with a 4xx status."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.service.routing import emergency_subject, escalate_pressed
from bridge.service.webhooks import SOURCES, Refused, WebhookRequest, body_digest, module_for
from bridge.service.webhooks import django_helpdesk, freshdesk, jira, sentry, zendesk

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC).timestamp()
WINDOW = 300
STAMP = "2026-12-01T12:00:00Z"

secrets_ = st.text(min_size=1, max_size=40).filter(lambda s: s.strip() == s and s)
bodies = st.binary(max_size=2000)


def signed(source: str, secret: str, body: bytes, *, stamp: str = STAMP) -> WebhookRequest:
    """The request as the vendor sends it."""
    headers = {
        "jira": lambda: {"X-Hub-Signature": jira.sign(secret, body)},
        "zendesk": lambda: {"X-Zendesk-Webhook-Signature": zendesk.sign(secret, stamp, body),
                            "X-Zendesk-Webhook-Signature-Timestamp": stamp},
        "sentry": lambda: {"Sentry-Hook-Signature": sentry.sign(secret, body), "Sentry-Hook-Resource": "issue"},
        "freshdesk": lambda: {"X-Bridge-Secret": secret},
    }[source]()
    return WebhookRequest(headers=headers, body=body)


SIGNED = ("jira", "zendesk", "sentry", "freshdesk")


@pytest.mark.parametrize("source", SIGNED)
@given(secret=secrets_, body=bodies)
def test_what_the_vendor_signs_passes(source, secret, body):
    module_for(source).verify(signed(source, secret, body), secret, now=NOW, window=WINDOW)


@pytest.mark.parametrize("source", ("jira", "zendesk", "sentry"))
@given(secret=secrets_, body=bodies.filter(bool), data=st.data())
def test_a_tampered_body_fails(source, secret, body, data):
    request = signed(source, secret, body)
    i = data.draw(st.integers(0, len(body) - 1))
    tampered = body[:i] + bytes([body[i] ^ data.draw(st.integers(1, 255))]) + body[i + 1:]
    with pytest.raises(Refused) as refused:
        module_for(source).verify(WebhookRequest(request.headers, tampered), secret, now=NOW, window=WINDOW)
    assert refused.value.status == 401 and refused.value.outcome == "bad_signature"


@pytest.mark.parametrize("source", SIGNED)
@given(secret=secrets_, other=secrets_, body=bodies)
def test_another_secret_fails(source, secret, other, body):
    if other == secret:
        return
    with pytest.raises(Refused) as refused:
        module_for(source).verify(signed(source, other, body), secret, now=NOW, window=WINDOW)
    assert refused.value.status == 401


@pytest.mark.parametrize("source", SIGNED)
def test_an_unsigned_delivery_fails(source):
    with pytest.raises(Refused) as refused:
        module_for(source).verify(WebhookRequest({}, b"{}"), "secret", now=NOW, window=WINDOW)
    assert (refused.value.status, refused.value.outcome) == (401, "unsigned")


@given(offset=st.integers(-10 * WINDOW, 10 * WINDOW))
def test_zendesk_timestamps_outside_the_replay_window_fail(offset):
    stamp = datetime.fromtimestamp(NOW + offset, UTC).isoformat()
    request = signed("zendesk", "secret", b'{"ticket_id": "1"}', stamp=stamp)
    if abs(offset) <= WINDOW:
        zendesk.verify(request, "secret", now=NOW, window=WINDOW)
    else:
        with pytest.raises(Refused) as refused:
            zendesk.verify(request, "secret", now=NOW, window=WINDOW)
        assert (refused.value.status, refused.value.outcome) == (403, "stale")


def test_zendesk_timestamp_is_part_of_what_is_signed():
    request = signed("zendesk", "secret", b"{}")
    moved = dict(request.headers, **{"X-Zendesk-Webhook-Signature-Timestamp": "2026-12-01T12:00:01Z"})
    with pytest.raises(Refused):
        zendesk.verify(WebhookRequest(moved, request.body), "secret", now=NOW, window=WINDOW)


def test_django_helpdesk_secret_is_the_path_and_a_wrong_one_looks_like_no_path():
    django_helpdesk.verify_path("right", "right")
    with pytest.raises(Refused) as refused:
        django_helpdesk.verify_path("wrong", "right")
    assert refused.value.status == 404


@pytest.mark.parametrize("source", SOURCES)
@given(body=bodies, headers=st.dictionaries(st.sampled_from(["Sentry-Hook-Resource", "Request-ID",
                                                              "X-Atlassian-Webhook-Identifier"]),
                                             st.text(max_size=20)))
def test_parsers_refuse_garbage_with_a_4xx_and_nothing_else(source, body, headers):
    try:
        delivery = module_for(source).parse(WebhookRequest(headers, body))
    except Refused as refused:
        assert 400 <= refused.status < 500
    else:
        assert delivery is None or (delivery.source == source and delivery.delivery_id)


@given(payload=st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                            max_leaves=10))
def test_parsers_refuse_any_json_shape_with_a_4xx(payload):
    body = json.dumps({"webhookEvent": "jira:issue_updated", "type": "zen:event-type:ticket.created",
                       "action": "resolved", "issue": payload, "detail": payload, "data": payload,
                       "ticket": payload, "ticket_id": payload}).encode()
    for source in SOURCES:
        try:
            module_for(source).parse(WebhookRequest({"Sentry-Hook-Resource": "issue"}, body))
        except Refused as refused:
            assert refused.status == 400


def test_jira_events_point_at_issues_and_are_keyed_by_the_signed_body_not_the_identifier():
    body = json.dumps({"webhookEvent": "comment_created", "issue": {"id": "10001", "key": "SUP-1"},
                       "comment": {"body": "internal text that must not be kept"}}).encode()
    delivery = jira.parse(WebhookRequest({"X-Atlassian-Webhook-Identifier": "w-1"}, body))
    # The identifier is not signed: it labels the log line, the body's digest keys the inbox.
    assert delivery.label == "w-1" and delivery.delivery_id == body_digest(body)
    assert jira.parse(WebhookRequest({"X-Atlassian-Webhook-Identifier": "w-2"}, body)).delivery_id == delivery.delivery_id
    assert delivery.subject == {"jira_issue_id": "10001", "jira_key": "SUP-1"}
    released = jira.parse(WebhookRequest({}, b'{"webhookEvent":"jira:version_released","version":{"name":"2.4"}}'))
    assert released.subject == {"version": "2.4"} and released.delivery_id.startswith("sha256:")
    assert jira.parse(WebhookRequest({}, b'{"webhookEvent":"user_created"}')) is None


def test_zendesk_both_shapes():
    event = json.dumps({"type": "zen:event-type:ticket.created", "id": "01J-abc", "detail": {"id": "35436"},
                        "event": {}}).encode()
    d = zendesk.parse(WebhookRequest({}, event))
    assert (d.delivery_id, d.event, d.subject) == ("01J-abc", "ticket.created", {"ticket": "35436", "created": True})
    trigger = b'{"ticket_id": "35436", "event": "updated"}'
    t = zendesk.parse(WebhookRequest({"X-Zendesk-Webhook-Signature-Timestamp": STAMP}, trigger))
    assert t.subject == {"ticket": "35436", "created": False}
    again = zendesk.parse(WebhookRequest({"X-Zendesk-Webhook-Signature-Timestamp": STAMP}, trigger))
    later = zendesk.parse(WebhookRequest({"X-Zendesk-Webhook-Signature-Timestamp": "2026-12-01T12:00:05Z"}, trigger))
    assert again.delivery_id == t.delivery_id != later.delivery_id
    assert zendesk.parse(WebhookRequest({}, b'{"type":"zen:event-type:user.created","id":"1","detail":{}}')) is None


def test_sentry_and_freshdesk_and_django_helpdesk_shapes():
    body = b'{"action":"resolved","data":{"issue":{"id":"4711","title":"KeyError"}}}'
    s = sentry.parse(WebhookRequest({"Sentry-Hook-Resource": "issue", "Request-ID": "r-1"}, body))
    # Request-ID is not signed: it labels the delivery, the signed body keys it.
    assert (s.delivery_id, s.event, s.subject) == (body_digest(body), "issue.resolved", {"sentry_issue_id": "4711"})
    assert s.label == "r-1"
    assert sentry.parse(WebhookRequest({"Sentry-Hook-Resource": "installation"}, body)) is None
    f = freshdesk.parse(WebhookRequest({}, b'{"freshdesk_webhook":{"ticket_id":12,"event":"created"}}'))
    assert f.subject == {"ticket": "12", "created": True}
    dh = django_helpdesk.parse(WebhookRequest({}, b'{"ticket":{"id":7,"title":"x"},"queue_slug":"q","followup_id":3}'))
    assert dh.subject == {"ticket": "7", "created": False} and dh.event == "followup.created"


@given(tags=st.lists(st.text(max_size=12), max_size=5), tag=st.from_regex(r"[a-z_]{1,12}", fullmatch=True))
def test_escalate_pressed_exactly_when_the_tag_is_there(tags, tag):
    assert escalate_pressed(tags, {}, tag) == any(t.casefold() == tag.casefold() for t in tags)


def test_escalate_pressed_by_a_checkbox_field_and_emergency_subject_needs_the_highest_severity():
    assert escalate_pressed([], {"cf_escalate": True}, "escalate")
    assert not escalate_pressed([], {"cf_escalate": False}, "escalate")

    class Rule:
        def __init__(self, text, severity):
            self.text, self.severity = text, severity

        def matches(self, subject):
            return self.text.casefold() in subject.casefold()

    rules = [Rule("[Emergency]", "emergency"), Rule("[urgent]", "high")]
    assert emergency_subject("[Emergency] site down", rules, "emergency")
    assert not emergency_subject("[urgent] slow", rules, "emergency")
    assert not emergency_subject("hello", rules, "emergency")


def test_a_tag_change_is_read_for_the_escalate_tag_only_when_it_may_hold_it():
    from bridge.service.routing import may_press
    from bridge.store.tables import InboxItem

    def delivery(tags_added):
        body = {"type": "zen:event-type:ticket.tags_changed", "id": "e-1", "detail": {"id": "7"},
                "event": {"tags_added": tags_added, "tags_removed": []}}
        d = zendesk.parse(WebhookRequest({}, json.dumps(body).encode()))
        return InboxItem(source=d.source, delivery_id=d.delivery_id, event=d.event), d.subject

    item, subject = delivery(["bridge_state_in_progress"])
    assert not may_press(item, subject, "escalate")  # the bridge's own marker tag
    item, subject = delivery(["Escalate"])
    assert may_press(item, subject, "escalate")
    assert may_press(InboxItem(source="zendesk", delivery_id="x", event="ticket.custom_field_changed"), {}, "escalate")
    assert not may_press(InboxItem(source="zendesk", delivery_id="x", event="ticket.comment_added"), {}, "escalate")
    assert may_press(InboxItem(source="freshdesk", delivery_id="x", event="ticket.updated"), {}, "escalate")


@pytest.mark.parametrize("source", SOURCES)
def test_json_nested_deeper_than_the_recursion_limit_is_refused_400(source):
    deep = b"[" * 200_000 + b"]" * 200_000
    with pytest.raises(Refused) as refused:
        module_for(source).parse(WebhookRequest({"Sentry-Hook-Resource": "issue"}, deep))
    assert refused.value.status == 400


@given(event=st.text(max_size=50))
def test_an_accepted_event_name_is_short_ascii_the_store_can_hold(event):
    bodies = [(freshdesk, {"ticket_id": 1, "event": event}), (zendesk, {"ticket_id": "1", "event": event}),
              (zendesk, {"type": "zen:event-type:ticket." + event, "id": "d-1", "detail": {"id": "1"}})]
    for module, payload in bodies:
        try:
            delivery = module.parse(WebhookRequest({}, json.dumps(payload).encode()))
        except Refused as refused:
            assert refused.status == 400
        else:
            assert delivery.event.isascii() and delivery.event.isprintable() and len(delivery.event) <= 60
