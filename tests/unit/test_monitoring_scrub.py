"""The self-monitoring scrubber (pure): no secret, address or ticket text survives it."""

from __future__ import annotations

import json
import re

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bridge.monitoring import FILTERED, scrub_event

SECRETS = ("sntrys_live_0f9e8d7c6b5a", "jira-api-token-5566778899", "pd_routing_key_ab12cd34")
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+\.[A-Za-z]{2,}")

emails = st.builds(lambda user, domain, tld: f"{user}@{domain}.{tld}",
                   st.from_regex(r"[a-z][a-z0-9._+-]{0,10}", fullmatch=True),
                   st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True),
                   st.sampled_from(["com", "example", "de", "co.uk"]))
planted = st.one_of(st.sampled_from(SECRETS), emails,
                    st.sampled_from(SECRETS).map(lambda s: f"Bearer {s}"),
                    st.sampled_from(SECRETS).map(lambda s: f"https://api.example/x?token={s}&page=2"),
                    st.sampled_from(SECRETS).map(lambda s: f"https://user:{s}@host.example/path"))
prose = st.text(alphabet=st.characters(codec="ascii", categories=("L", "N", "Zs")), max_size=20)
strings = st.tuples(prose, planted, prose).map(lambda t: " ".join(t))
keys = st.sampled_from(["message", "value", "detail", "url", "title", "culprit", "note", "x"])
values = st.recursive(st.one_of(strings, prose, st.integers(), st.none()),
                      lambda children: st.one_of(st.lists(children, max_size=3),
                                                 st.dictionaries(keys, children, max_size=3)),
                      max_leaves=12)


def leaked(event: dict) -> list[str]:
    text = json.dumps(event)
    return [s for s in SECRETS if s in text] + EMAIL.findall(text)


@settings(max_examples=100, deadline=None)
@given(message=strings, extra=st.dictionaries(keys, values, max_size=4), tags=st.dictionaries(keys, strings, max_size=3))
def test_no_secret_or_address_survives_anywhere_in_an_event(message, extra, tags):
    event = {"message": message, "extra": extra, "tags": tags,
             "exception": {"values": [{"type": "RuntimeError", "value": message}]}}
    scrubbed = scrub_event(event, SECRETS)
    assert leaked(scrubbed) == []
    assert scrubbed["exception"]["values"][0]["type"] == "RuntimeError"


@given(text=prose)
def test_text_without_secrets_is_left_alone(text):
    # "token <long word>" reads as a credential and is filtered on purpose.
    assume(not re.search(r"(?i)\b(bearer|basic|token|sentry)\s", text))
    event = {"message": text, "tags": {"bridge.item": "zendesk:101"}}
    assert scrub_event(dict(event), SECRETS) == event


def test_the_places_ticket_text_travels_in_are_dropped():
    ticket_text = "Our Munich office sees it too"
    event = {
        "user": {"email": "alice@acme.example", "ip_address": "10.0.0.1"},
        "request": {"url": "https://bridge.example/hook?token=abc123456789", "method": "POST",
                    "data": {"comment": ticket_text}, "headers": {"Authorization": "Basic eHl6"},
                    "cookies": "session=1"},
        "exception": {"values": [{"type": "KeyError", "value": "'x'", "stacktrace": {"frames": [
            {"function": "escalate", "vars": {"ticket": ticket_text}, "lineno": 3}]}}]},
        "threads": {"values": [{"stacktrace": {"frames": [{"function": "run", "vars": {"body": ticket_text}}]}}]},
        "breadcrumbs": {"values": [{"timestamp": 1, "category": "log", "level": "info",
                                    "message": f"read {ticket_text}", "data": {"body": ticket_text}}]},
    }
    scrubbed = scrub_event(event)
    assert ticket_text not in json.dumps(scrubbed)
    assert "user" not in scrubbed
    assert scrubbed["request"] == {"url": f"https://bridge.example/hook?token={FILTERED}", "method": "POST"}
    assert scrubbed["exception"]["values"][0]["stacktrace"]["frames"] == [{"function": "escalate", "lineno": 3}]
    assert scrubbed["breadcrumbs"]["values"] == [{"timestamp": 1, "category": "log", "level": "info"}]


def test_short_values_are_not_treated_as_secrets():
    # A secret of a few characters would blank out ordinary words everywhere.
    assert scrub_event({"message": "the id is abc"}, ["abc"]) == {"message": "the id is abc"}
