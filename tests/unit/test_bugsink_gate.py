"""The outbound gate and the reference parser know Bugsink as they know Sentry.

Bugsink's base URL is the gate's self-hosted base (``Services.gate`` does that when
``BRIDGE_ERRORS_KIND=bugsink``): every URL on its host goes, its issue pages are references
(``/issues/issue/<uuid>/``), friendly ids of its projects are short ids, and the UUIDs of
issues the store knows are removed like known numeric ids.
"""

from __future__ import annotations

import uuid
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.errors import InvalidValue
from bridge.policy.visibility import OutboundGate, OutboundRefused, SentryRef, find_sentry_refs, parse_sentry_ref

BASE = "http://127.0.0.1:8123"
HOST = "127.0.0.1:8123"
ISSUE = "6f1b7c32-1d4e-4c1a-9a57-0f1f5c2a9b10"
OTHER = "0d9e3a61-5b7f-4e2c-8a1d-3c4b5a697887"
FRIENDLY = "BACKEND-7"


def gate(**kwargs) -> OutboundGate:
    return OutboundGate(self_hosted_base=BASE, known_short_id_prefixes=["BACKEND"], known_ids=[ISSUE], **kwargs)


@pytest.mark.parametrize("ref,expected", [
    (f"{BASE}/issues/issue/{ISSUE}/", SentryRef("url", f"{BASE}/issues/issue/{ISSUE}/", None, HOST, ISSUE)),
    (f"{BASE}/issues/issue/{ISSUE.upper()}/event/last/?q=1",
     SentryRef("url", f"{BASE}/issues/issue/{ISSUE.upper()}/event/last/", None, HOST, ISSUE)),
    (ISSUE, SentryRef("id", ISSUE, None, None, ISSUE)),
    (ISSUE.upper(), SentryRef("id", ISSUE, None, None, ISSUE)),
    ("backend-7", SentryRef("short_id", FRIENDLY)),
])
def test_every_bugsink_reference_shape_parses(ref, expected):
    assert parse_sentry_ref(ref, self_hosted_base=BASE) == expected


@pytest.mark.parametrize("ref", [
    f"{BASE}/issues/issue/not-a-uuid/",
    f"{BASE}/issues/{ISSUE}/",  # not the issue page's path
    f"https://sentry.io/issues/issue/{ISSUE}/",  # Bugsink's path on a Sentry host
    f"http://elsewhere.example/issues/issue/{ISSUE}/",  # another host
])
def test_what_is_not_a_bugsink_issue_page_is_refused(ref):
    with pytest.raises(InvalidValue):
        parse_sentry_ref(ref, self_hosted_base=BASE)


def test_references_in_a_conversation_are_found_in_order_once_each():
    text = (f"Crashes again: {BASE}/issues/issue/{ISSUE}/ — also [{FRIENDLY}]({BASE}/issues/issue/{ISSUE}/) "
            f"and {ISSUE}; order {OTHER} is unrelated, as is UTF-8.")
    refs = find_sentry_refs(text, self_hosted_base=BASE, known_short_id_prefixes=["BACKEND"], known_ids=[ISSUE])
    assert refs == [SentryRef("url", f"{BASE}/issues/issue/{ISSUE}/", None, HOST, ISSUE),
                    SentryRef("short_id", FRIENDLY), SentryRef("id", ISSUE, issue_id=ISSUE)]


def test_text_without_a_reference_passes_unchanged():
    text = f"Order {OTHER} shipped; see UTF-8 and COVID-19, backend-team, issue 7, the Bugsink docs."
    assert gate().check(text) == text


def test_a_dsn_on_the_bugsink_host_goes_key_and_all():
    cleaned = gate().clean(f"SDK set up with http://0123456789abcdef0123456789abcdef@{HOST}/3 today")
    assert HOST not in cleaned and "0123456789abcdef" not in cleaned
    assert cleaned == "SDK set up with today"


def test_a_look_alike_host_goes_too():
    disguised = HOST.replace(".", "\u3002")  # ideographic full stops
    cleaned = gate().check(f"see {disguised}/issues/issue/{ISSUE}/ now")
    assert cleaned == "see now"


def _dressed(url: str, how: str) -> str:
    return {"plain": url, "md": f"[details]({url})", "html": f'<a href="{url}">details</a>',
            "parens": f"({url})", "encoded": quote(url, safe=""), "dot": f"{url}.",
            "bare": url.split("://", 1)[1]}[how]


WORDS = st.lists(st.sampled_from(["Hello", "the", "export", "crashes", "again", "see", "thanks", "Bugsink",
                                  "issue", "order", OTHER, "UTF-8", "ok,"]), max_size=4).map(" ".join)
ISSUES = st.sampled_from([ISSUE, "a3c0e7a4-9b2d-4f6e-8c1a-5d7e9f0b1c2d"])
REFERENCES = st.one_of(
    st.tuples(ISSUES, st.sampled_from(["", "event/last/", "event/3/?q=x"]),
              st.sampled_from(["plain", "md", "html", "parens", "encoded", "dot", "bare"])).map(
        lambda t: _dressed(f"{BASE}/issues/issue/{t[0]}/{t[1]}", t[2])),
    st.integers(1, 9999).map(lambda n: f"BACKEND-{n}"),
    st.just(ISSUE), st.just(ISSUE.upper()),
)


@given(parts=st.lists(st.tuples(WORDS, REFERENCES, WORDS), min_size=1, max_size=4))
def test_no_bugsink_url_friendly_id_or_known_uuid_survives_the_gate(parts):
    text = "\n".join(" ".join(p for p in part if p) for part in parts)
    try:
        cleaned = gate().check(text)
    except OutboundRefused:
        return  # refused: nothing is sent
    low = cleaned.lower()
    assert HOST not in low and quote(HOST, safe="") not in low
    assert ISSUE not in low
    assert "backend-" not in low
    # What was no reference stays.
    if OTHER in text:
        assert OTHER in cleaned


@given(text=WORDS)
def test_prose_without_references_is_never_changed(text):
    assert gate().check(text) == text


def test_random_uuids_are_left_alone_unless_known():
    stranger = str(uuid.uuid4())
    assert gate().check(f"ref {stranger}") == f"ref {stranger}"
    assert OutboundGate(known_ids=[stranger]).check(f"ref {stranger}.") == "ref."
