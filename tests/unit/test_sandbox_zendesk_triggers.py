"""Properties of the Zendesk emulator's trigger logic and webhook signatures (pure code)."""

from __future__ import annotations

import base64
import json

from hypothesis import given
from hypothesis import strategies as st

from bridge.sandbox.zendesk_changes import event_value
from bridge.sandbox.zendesk_triggers import UpdateContext, fires, render
from bridge.sandbox.zendesk_webhooks import sign
from bridge.service.webhooks import WebhookRequest
from bridge.service.webhooks import zendesk as bridge_receiver

PLACEHOLDERS = ["ticket.id", "ticket.title", "ticket.latest_comment.value", "ticket.requester.email"]


@given(st.dictionaries(st.sampled_from(PLACEHOLDERS), st.text(), min_size=len(PLACEHOLDERS)))
def test_a_rendered_json_template_stays_json_and_carries_the_values_verbatim(values):
    template = json.dumps({name: "{{ %s }}" % name for name in PLACEHOLDERS})
    assert json.loads(render(template, values)) == values


@given(st.text().filter(lambda text: "{{" not in text))
def test_unknown_placeholders_render_empty(text):
    # Text written into the template itself is the template: "{{0}}" there is a placeholder
    # (as in Zendesk's own bodies), so the text carried verbatim is text without one.
    assert json.loads(render('{"x": "{{ticket.no_such_thing}}", "y": %s}' % json.dumps(text), {})) == \
        {"x": "", "y": text}


def test_a_placeholder_written_into_the_template_is_rendered_like_any_other():
    assert json.loads(render('{"y": "before {{0}} {{ ticket.id }} after"}', {"ticket.id": "7"})) == \
        {"y": "before  7 after"}


@given(st.one_of(st.none(), st.integers(), st.booleans(), st.text(), st.lists(st.text())))
def test_audit_event_values_are_strings_lists_or_null(value):
    shown = event_value(value)
    assert shown is None or isinstance(shown, (str, list))
    if isinstance(value, int) and not isinstance(value, bool):
        assert shown == str(value)


@given(st.text(min_size=1), st.binary())
def test_the_bridges_receiver_accepts_the_emulators_signature_and_only_for_that_body(secret, body):
    timestamp = "2026-12-01T10:00:00Z"
    signed = WebhookRequest(headers={"X-Zendesk-Webhook-Signature": sign(secret, timestamp, body),
                                     "X-Zendesk-Webhook-Signature-Timestamp": timestamp}, body=body)
    bridge_receiver.verify(signed, secret, now=1_796_119_200.0, window=300)
    assert base64.b64decode(sign(secret, timestamp, body)) != base64.b64decode(sign(secret, timestamp, body + b"x"))


TICKET = {"id": 7, "status": "open", "priority": "normal", "type": None, "tags": ["a"], "subject": "Hello world",
          "custom_fields": [{"id": 360002, "value": "WS-1"}], "assignee_id": None, "group_id": None,
          "organization_id": None, "requester_id": 1004}


@given(st.sampled_from(["status", "priority", "assignee_id", "custom_fields_360002"]),
       st.booleans(), st.booleans())
def test_changed_and_not_changed_are_each_others_negation(field, created, touched):
    key = field.removeprefix("custom_fields_")
    update = UpdateContext(ticket=TICKET, changes={key: None} if touched else {}, created=created,
                           comment=None, actor=None)

    def trigger(operator: str) -> dict:
        return {"conditions": {"all": [{"field": field, "operator": operator, "value": None}], "any": []}}

    assert fires(trigger("changed"), update) != fires(trigger("not_changed"), update)
    assert fires(trigger("changed"), update) == (created or touched)


@given(st.lists(st.booleans(), min_size=1, max_size=4), st.lists(st.booleans(), max_size=4))
def test_all_conditions_must_hold_and_one_of_any(all_flags, any_flags):
    update = UpdateContext(ticket=TICKET, changes={}, created=False, comment=None, actor=None)

    def condition(holds: bool) -> dict:
        return {"field": "status", "operator": "is" if holds else "is_not", "value": "open"}

    trigger = {"conditions": {"all": [condition(f) for f in all_flags], "any": [condition(f) for f in any_flags]}}
    assert fires(trigger, update) == (all(all_flags) and (not any_flags or any(any_flags)))
