"""The outbound gate: no Sentry reference, in any shape, reaches a helpdesk (policy 001)."""

from __future__ import annotations

import html
import re
import unicodedata
from urllib.parse import quote, unquote

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bridge.errors import EXIT_ITEMS_FAILED, InvalidValue, ItemFailed
from bridge.policy.visibility import (
    OutboundGate,
    OutboundRefused,
    SentryRef,
    find_sentry_refs,
    parse_sentry_ref,
)

SELF_HOSTED = "https://sentry.internal.example.com"
PREFIXES = ("BACKEND", "MY-APP", "WEB")
KNOWN_IDS = ("4505123456", "987654", "31337001")
GATE = OutboundGate(
    self_hosted_base=SELF_HOSTED, known_short_id_prefixes=PREFIXES, known_ids=KNOWN_IDS
)

PROPERTY = settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


# ----------------------------------------------------------------- parse_sentry_ref


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        (
            "https://sentry.io/organizations/acme/issues/4505/",
            SentryRef("url", "https://sentry.io/organizations/acme/issues/4505/", "acme",
                      "sentry.io", "4505"),
        ),
        (
            "https://acme.sentry.io/issues/4505/?project=1",
            SentryRef("url", "https://acme.sentry.io/issues/4505/", "acme", "acme.sentry.io",
                      "4505"),
        ),
        (
            "https://us.sentry.io/organizations/acme/issues/77/events/abc123/#exception",
            SentryRef("url", "https://us.sentry.io/organizations/acme/issues/77/events/abc123/",
                      "acme", "us.sentry.io", "77"),
        ),
        (
            "de.sentry.io/organizations/acme/issues/78",
            SentryRef("url", "https://de.sentry.io/organizations/acme/issues/78/", "acme",
                      "de.sentry.io", "78"),
        ),
        (
            "<https://sentry.io/acme/backend/issues/12/>",  # legacy project-scoped page
            SentryRef("url", "https://sentry.io/acme/backend/issues/12/", "acme", "sentry.io",
                      "12"),
        ),
        (
            "https://sentry.internal.example.com/organizations/acme/issues/12/",
            SentryRef("url", "https://sentry.internal.example.com/organizations/acme/issues/12/",
                      "acme", "sentry.internal.example.com", "12"),
        ),
        ("BACKEND-1A2", SentryRef("short_id", "BACKEND-1A2", "dflt")),
        ("my-app-3f", SentryRef("short_id", "MY-APP-3F", "dflt")),
        (" 4505 ", SentryRef("id", "4505", "dflt", None, "4505")),
    ],
)
def test_parse_accepts_every_documented_form(ref: str, expected: SentryRef) -> None:
    assert parse_sentry_ref(ref, self_hosted_base=SELF_HOSTED, default_org="dflt") == expected


def test_parse_self_hosted_base_with_a_path_prefix() -> None:
    ref = parse_sentry_ref(
        "https://tools.example.com:8443/sentry/organizations/acme/issues/9/",
        self_hosted_base="https://tools.example.com:8443/sentry/",
    )
    assert (ref.host, ref.org, ref.issue_id) == ("tools.example.com:8443", "acme", "9")
    with pytest.raises(InvalidValue):  # same host, outside the Sentry prefix
        parse_sentry_ref(
            "https://tools.example.com:8443/wiki/organizations/acme/issues/9/",
            self_hosted_base="https://tools.example.com:8443/sentry/",
        )


@pytest.mark.parametrize(
    "ref",
    [
        "",
        "hello world",
        "https://example.com/organizations/acme/issues/1/",  # not a Sentry host
        "https://sentry.internal.example.com/organizations/acme/issues/12/",  # not configured
        "https://acme.sentry.io/discover/results/",  # no issue named
        "https://us.sentry.io/issues/5/",  # a region host names no org
        "https://o1.ingest.sentry.io/api/1/store/",
        "BACKEND_1A2",
        "-12",
    ],
)
def test_parse_refuses_anything_else_and_names_the_accepted_forms(ref: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        parse_sentry_ref(ref)
    assert "short id" in str(caught.value) and "numeric issue id" in str(caught.value)
    assert caught.value.exit_code == 2


def test_a_bad_self_hosted_base_is_refused() -> None:
    with pytest.raises(InvalidValue, match="self-hosted"):
        OutboundGate(self_hosted_base="ftp://sentry.example.com")


def test_a_prefix_that_is_no_project_slug_is_refused() -> None:
    with pytest.raises(InvalidValue, match="slug"):
        OutboundGate(known_short_id_prefixes=["BACK END"])


# ----------------------------------------------------------------- find_sentry_refs


def test_find_returns_each_issue_once_in_order() -> None:
    text = (
        "Agent note: see https://acme.sentry.io/issues/4505/?project=1 and "
        "[same](https://acme.sentry.io/issues/4505/), also BACKEND-1A2 and #987654."
    )
    refs = find_sentry_refs(text, known_short_id_prefixes=["backend"], known_ids=[987654])
    assert refs == [
        SentryRef("url", "https://acme.sentry.io/issues/4505/", "acme", "acme.sentry.io", "4505"),
        SentryRef("short_id", "BACKEND-1A2"),
        SentryRef("id", "987654", issue_id="987654"),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "COVID-19 slowed us down, UTF-8 broke, see SUP-12 and ISO-8601",
        "order 987654321 and 4505",  # numbers not known to the store
        "backend-team will look at it",
    ],
)
def test_find_ignores_look_alikes(text: str) -> None:
    assert find_sentry_refs(text, known_short_id_prefixes=["BACKEND"], known_ids=["987654"]) == []


@pytest.mark.parametrize(
    "text",
    [
        "v987654",
        "987654-2",
        "1.987654",
        "https://jira.example.com/browse/987654/",
        "x987654",
    ],
)
def test_known_numeric_ids_must_stand_alone(text: str) -> None:
    assert find_sentry_refs(text, known_ids=["987654"]) == []


def test_find_decodes_urls_hidden_in_other_urls_and_html() -> None:
    wrapped = "https://slack.example/redirect?u=" + quote(
        quote("https://sentry.io/organizations/acme/issues/42/", safe=""), safe=""
    )
    escaped = "&lt;https:&#x2F;&#x2F;acme.sentry.io/issues/43/&gt;"
    refs = find_sentry_refs(f"{wrapped} and {escaped}")
    assert [r.issue_id for r in refs] == ["42", "43"]


def test_short_known_ids_are_not_references() -> None:
    gate = OutboundGate(known_ids=["1", "42", "4501"])
    assert gate.check("Within 1 business day, 42 users; issue 4501.") == (
        "Within 1 business day, 42 users; issue."
    )


def test_find_skips_sentry_urls_that_name_no_issue() -> None:
    assert find_sentry_refs("DSN https://abc@o1.ingest.sentry.io/5 and https://sentry.io/") == []


# ----------------------------------------------------------------------- the gate


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("See https://sentry.io/organizations/acme/issues/4505/ for details.", "See for details."),
        ("Logged at https://acme.sentry.io/issues/4505/.", "Logged at."),
        ("https://acme.sentry.io/issues/4505/ is the one", "is the one"),
        ("see:https://acme.sentry.io/issues/1/?project=1#frag now", "see: now"),
        ("Link [the issue](https://us.sentry.io/organizations/acme/issues/12/) here",
         "Link the issue here"),
        ('Link <a href="https://de.sentry.io/organizations/acme/issues/12/">the issue</a> here',
         "Link the issue here"),
        ("<p><a href='https://acme.sentry.io/issues/4/' target=_blank>crash</a></p>",
         "<p>crash</p>"),
        ("Autolink <https://acme.sentry.io/issues/1/> and (acme.sentry.io/issues/2/).",
         "Autolink and."),
        ("Encoded https%3A%2F%2Facme.sentry.io%2Fissues%2F4505%2F ok", "Encoded ok"),
        ("self https://sentry.internal.example.com/organizations/acme/issues/12/ ok", "self ok"),
        ("DSN https://abc123@o123.ingest.sentry.io/456 set", "DSN set"),
        ("See BACKEND-1A2, MY-APP-3 and backend-1a2.", "See, and."),
        ("Sentry issue #4505123456 is linked", "Sentry issue is linked"),
        ("JSON {\"url\": \"https:\\/\\/acme.sentry.io\\/issues\\/9\\/\"}", "JSON {\"url\": }"),
        ("Check ｓｅｎｔｒｙ．ｉｏ", "Check"),  # full-width look-alikes
        ("Check sen\u200btry.io now", "Check now"),  # an invisible zero-width space
    ],
)
def test_clean_removes_references_and_keeps_the_words(text: str, expected: str) -> None:
    assert GATE.clean(text) == expected
    assert GATE.check(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "We use Sentry to catch errors; BACKEND developers and backend-team are on it.",
        "COVID-19, UTF-8, SUP-12, order 4505, version 987654.1",
        "foo() and [brackets] and <b>bold</b> and  two  spaces ",
        "",
    ],
)
def test_text_without_references_passes_unchanged(text: str) -> None:
    assert GATE.check(text) == text


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Check sentry[.]io for it", "host"),
        ("Check sentry dot io for it", "host"),
        ("sentry-trace: 771a43a4192642f0b136d5159a501700-b6ad2c4f2d9f5b7a-1", "trace"),
        ("trace 771a43a4192642f0b136d5159a501700-b6ad2c4f2d9f5b7a", "trace"),
        ("X-Sentry-Auth: Sentry sentry_key=abc, sentry_version=7", "trace"),
        ("ticket BACKEND&#45;1A2 here", "short id"),
        ("id ４５０５１２３４５６ here", "issue id"),
    ],
)
def test_check_refuses_what_cleaning_cannot_remove(text: str, reason: str) -> None:
    with pytest.raises(OutboundRefused) as caught:
        GATE.check(text)
    error = caught.value
    assert isinstance(error, ItemFailed) and error.exit_code == EXIT_ITEMS_FAILED
    assert any(reason in r for r in error.reasons)
    assert text not in str(error)  # the refusal never quotes customer text


def test_extra_blocked_hosts_count_as_sentry() -> None:
    gate = OutboundGate(extra_blocked_hosts=["errors.acme.internal"])
    assert gate.check("see https://errors.acme.internal/organizations/a/issues/1/ ok") == "see ok"
    assert gate.check("see errors&period;acme&period;internal") == "see"
    assert gate.check("errors.acme.internal.example.org is fine") == (
        "errors.acme.internal.example.org is fine"
    )


def test_removal_that_joins_a_new_reference_is_cleaned_too() -> None:
    # Removing the id in the middle glues "https://acme.sentry" and ".io/..." back together.
    text = "https://acme.sentry(4505123456).io/issues/1/"
    out = GATE.clean(text)
    assert "sentry" not in out
    GATE.check(text)


# ---------------------------------------------------------------- property tests


def strict_detector(text: str, short_ids: list[str], ids: list[str]) -> list[str]:
    """An independent, deliberately paranoid check for Sentry references in sent text."""
    folded = text
    for _ in range(5):
        folded = unquote(html.unescape(folded)).replace("\\/", "/")
    folded = unicodedata.normalize("NFKC", folded).casefold()
    folded = "".join(c for c in folded if unicodedata.category(c) != "Cf")
    found = []
    if "sentry.io" in folded or "sentry%2eio" in folded:
        found.append("sentry.io")
    if "sentry.internal.example.com" in folded:
        found.append("self-hosted host")
    found += [s for s in short_ids if s.casefold() in folded]
    found += [i for i in ids if re.search(rf"(?<![0-9]){i}(?![0-9])", folded)]
    return found


# "us" and "de" are region hosts, never org subdomains.
_slug = st.from_regex(r"[a-z][a-z0-9]{0,10}(-[a-z0-9]{1,6})?", fullmatch=True).filter(
    lambda s: s not in ("us", "de")
)
_issue_id = st.integers(1, 10**12).map(str)
_query = st.sampled_from(["", "?project=1", "?project=1&query=is%3Aunresolved",
                          "?environment=prod&referrer=alert", "#exception"])
_scheme = st.sampled_from(["https://", "http://", "", "//"])


@st.composite
def issue_urls(draw: st.DrawFn) -> str:
    org, issue = draw(_slug), draw(_issue_id)
    shape = draw(st.sampled_from(["saas", "subdomain", "region", "self-hosted", "legacy"]))
    path = {
        "saas": f"sentry.io/organizations/{org}/issues/{issue}/",
        "subdomain": f"{org}.sentry.io/issues/{issue}/",
        "region": f"{draw(st.sampled_from(['us', 'de']))}.sentry.io"
        f"/organizations/{org}/issues/{issue}/",
        "self-hosted": f"sentry.internal.example.com/organizations/{org}/issues/{issue}/",
        "legacy": f"sentry.io/{org}/{draw(_slug)}/issues/{issue}/",
    }[shape]
    if draw(st.booleans()):
        path += draw(st.sampled_from(["events/latest/", "events/9f1c2e/", "activity/"]))
    return draw(_scheme) + path + draw(_query)


@st.composite
def dsns(draw: st.DrawFn) -> str:
    key = draw(st.from_regex(r"[0-9a-f]{32}", fullmatch=True))
    region = draw(st.sampled_from(["", "us.", "de."]))
    org_number, project = draw(st.integers(1, 10**7)), draw(st.integers(1, 10**7))
    return f"https://{key}@o{org_number}.ingest.{region}sentry.io/{project}"


def dressed(url: str, how: str) -> str:
    """A URL in one of the shapes people and tools paste it in."""
    return {
        "bare": url,
        "markdown": f"[the crash]({url})",
        "markdown-url-text": f"[{url}]({url})",
        "html": f'<a href="{html.escape(url)}">the crash</a>',
        "html-single": f"<a class='x' href='{html.escape(url)}'>the crash</a>",
        "autolink": f"<{url}>",
        "parens": f"({url})",
        "encoded": quote(url, safe=""),
        "double-encoded": quote(quote(url, safe=""), safe=""),
        "redirect": "https://slack.example/redirect?u=" + quote(url, safe=""),
        "html-escaped": html.escape(url).replace("/", "&#x2F;"),
        "json": url.replace("/", "\\/"),
        "quoted": f'"{url}"',
        "trailing-dot": f"{url}.",
    }[how]


_DRESSES = ["bare", "markdown", "markdown-url-text", "html", "html-single", "autolink", "parens",
            "encoded", "double-encoded", "redirect", "html-escaped", "json", "quoted",
            "trailing-dot"]
_short_ids = st.builds(
    lambda prefix, suffix: f"{prefix}-{suffix}",
    st.sampled_from(PREFIXES),
    st.from_regex(r"[0-9A-Z]{1,6}", fullmatch=True),
)
_references = st.one_of(
    st.builds(dressed, issue_urls(), st.sampled_from(_DRESSES)),
    st.builds(dressed, dsns(), st.sampled_from(["bare", "quoted", "json", "encoded"])),
    _short_ids,
    st.sampled_from(KNOWN_IDS).flatmap(lambda i: st.sampled_from([i, f"#{i}", f"({i})", f"{i}."])),
)
# Prose around the references: any letters, spaces and punctuation, no digits (so the
# detector's "known id standing alone" check cannot be tripped by the words themselves).
_prose = st.text(
    st.characters(categories=["L", "P", "Zs"], exclude_characters="\u00a0"), max_size=30
)


@PROPERTY
@given(st.lists(st.tuples(_prose, _references), min_size=1, max_size=4), _prose)
def test_generated_references_never_pass_the_gate(
    pieces: list[tuple[str, str]], tail: str
) -> None:
    text = "".join(f"{words} {ref} " for words, ref in pieces) + tail
    short_ids = [ref for _, ref in pieces if re.fullmatch(r"[A-Z-]+-[0-9A-Z]+", ref)]
    assume(not strict_detector("".join(w for w, _ in pieces) + tail, short_ids, list(KNOWN_IDS)))
    # Every generated shape is one the gate knows how to remove, so it cleans, not refuses.
    out = GATE.check(text)
    assert strict_detector(out, short_ids, list(KNOWN_IDS)) == []
    for _, ref in pieces:
        assert ref not in out


@PROPERTY
@given(issue_urls(), st.sampled_from(_DRESSES), _prose, _prose)
def test_find_sees_the_issue_in_every_shape(url: str, how: str, before: str, after: str) -> None:
    issue = re.search(r"/issues/(\d+)/", url).group(1)
    refs = find_sentry_refs(f"{before} {dressed(url, how)} {after}", self_hosted_base=SELF_HOSTED)
    assert [r.issue_id for r in refs] == [issue]
    assert refs[0].kind == "url"


@PROPERTY
@given(st.text(max_size=200))
def test_text_without_references_is_never_changed(text: str) -> None:
    assume(not strict_detector(text, list(PREFIXES), list(KNOWN_IDS)))
    assume("sentry" not in unicodedata.normalize("NFKC", text).casefold())
    assert GATE.check(text) == text


@PROPERTY
@given(st.lists(st.one_of(_prose, _references), max_size=6).map(" ".join))
def test_cleaning_twice_changes_nothing_more(text: str) -> None:
    once = GATE.clean(text)
    assert GATE.clean(once) == once
