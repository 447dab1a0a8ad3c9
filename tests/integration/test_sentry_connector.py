"""The Sentry connector over real HTTP against the Sentry emulator.

Asserts on what the emulator holds and on the requests it received (its journal).
"""

from __future__ import annotations

import pytest

from bridge.connectors.sentry import SentryErrorTracker
from bridge.errors import ConfigError, CredentialsRefused, InvalidValue
from bridge.sandbox.sentry import DEMO_CREDENTIALS
from tests.fixtures.sentry_sandbox import SentrySandbox, sentry, sentry_service  # noqa: F401

CANARY = "sntrys_canary_5d4c3b2a1f0e"


def tracker(sandbox: SentrySandbox, *, token: str = DEMO_CREDENTIALS["token"], org: str = "acme",
            **kwargs) -> SentryErrorTracker:
    return SentryErrorTracker(sandbox.url, org=org, token=token, self_hosted_base=sandbox.url,
                              retries=kwargs.pop("retries", 2), **kwargs)


def test_an_issue_is_read_into_the_typed_model(sentry):
    issue = tracker(sentry).issue("4505")
    stored = sentry.state.issue(4505)
    assert (issue.id, issue.short_id, issue.project) == ("4505", "BACKEND-1A2", "backend")
    assert issue.title.startswith("AttributeError")
    assert issue.culprit == stored["culprit"] and issue.level == "error" and issue.status == "unresolved"
    assert issue.count == stored["times_seen"] == 12
    assert issue.user_count == len(stored["users"]) == 5
    assert issue.first_seen == stored["first_seen"] and issue.last_seen == stored["last_seen"]
    assert issue.permalink == f"{sentry.url}/organizations/acme/issues/4505/"
    assert tracker(sentry).issue("999999") is None


@pytest.mark.parametrize("ref", [
    "4505",
    "BACKEND-1A2",
    "backend-1a2",
    "https://sentry.io/organizations/acme/issues/4505/",
    "https://acme.sentry.io/issues/4505/?project=1&query=is%3Aunresolved",
    "https://us.sentry.io/organizations/acme/issues/4505/events/latest/",
    "de.sentry.io/organizations/acme/issues/4505",
    "SELF-HOSTED",
])
def test_every_shape_of_reference_resolves_to_the_same_issue(sentry, ref):
    if ref == "SELF-HOSTED":
        ref = f"{sentry.url}/organizations/acme/issues/4505/"
    assert tracker(sentry).resolve(ref).id == "4505"
    # Org-scoped endpoints only.
    assert all(e.path.startswith("/api/0/organizations/acme/") for e in sentry.knobs.received())


@pytest.mark.parametrize("ref,words", [
    ("https://globex.sentry.io/issues/4505/", "globex"),
    ("https://sentry.io/organizations/globex/issues/4505/", "globex"),
    ("BACKEND-ZZZZ", "BACKEND-ZZZZ"),
    ("987654", "987654"),
    ("not a reference", "not a Sentry issue reference"),
    ("https://example.com/organizations/acme/issues/4505/", "not a Sentry issue reference"),
])
def test_a_foreign_unknown_or_malformed_reference_is_a_usage_error_naming_it(sentry, ref, words):
    with pytest.raises(InvalidValue) as caught:
        tracker(sentry).resolve(ref)
    assert caught.value.exit_code == 2
    assert words in str(caught.value)
    # A foreign organization is refused before any request.
    if "globex" in ref:
        assert sentry.knobs.received() == []


def test_listing_follows_the_link_header_cursor_until_results_false(sentry):
    unresolved = {str(i) for i, issue in sentry.state.issues.items() if issue["status"] == "unresolved"}
    listed = [i.id for i in tracker(sentry).issues(page_size=1)]

    assert sorted(listed) == sorted(unresolved) and len(unresolved) >= 3
    pages = sentry.knobs.received("GET", "/issues/")
    # One request per page; the last page's next link says results="false".
    assert len(pages) == len(unresolved)
    assert ["cursor=" in e.query for e in pages] == [False] + [True] * (len(pages) - 1)


def test_project_slugs_are_the_short_id_prefixes(sentry):
    assert sorted(tracker(sentry).project_slugs()) == ["backend", "web"]


def test_remaining_zero_waits_until_reset_instead_of_spending_a_request_on_a_429(sentry):
    # A window no machine outlasts by accident: with a short real one (0.6 s) a loaded
    # machine could let it roll over between the first two calls (no wait asked for) or
    # before the third (the reset already past: no wait needed), and the test failed
    # without the connector being wrong. The connector's own sleep stands for the wait:
    # it rolls the emulator's window over, as the clock would by the reset it was told.
    window_s = 30
    sentry.knobs.update({"rate_limit": 2, "rate_window_s": window_s, "retry_after_s": 1})
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        sentry.knobs.update({"rate_window_s": window_s})  # the window is over: a fresh budget

    client = tracker(sentry, sleep=sleep)
    for _ in range(3):
        assert client.issue("4505") is not None

    # One wait, until the window's reset (an epoch second, so up to a second more).
    assert len(waits) == 1 and window_s / 2 < waits[0] <= window_s + 1
    # Three calls, three requests: none answered 429 and none retried.
    assert len(sentry.knobs.received()) == 3


def test_a_429_is_retried(sentry):
    sentry.knobs.update({"fail_next": 1, "fail_status": 429})
    assert tracker(sentry).resolve("BACKEND-1A2").id == "4505"
    assert len(sentry.knobs.received()) == 2


def test_check_names_the_organization_and_maps_failures_to_exit_codes(sentry):
    assert "acme" in tracker(sentry).check()

    with pytest.raises(CredentialsRefused) as refused:
        tracker(sentry, token=CANARY).check()
    assert refused.value.exit_code == 3
    assert CANARY not in str(refused.value)

    with pytest.raises(ConfigError) as unknown:
        tracker(sentry, org="globex").check()
    assert unknown.value.exit_code == 2 and "globex" in str(unknown.value)

