"""The shared emulator knobs (bridge.sandbox.server), seen by a client of the Zendesk and
Sentry emulators: rate limits, faults, dropped connections, latency, counters, journal."""

from __future__ import annotations

import time

import pytest
import requests

from bridge.sandbox.zendesk import RATE_LIMITED_TEXT
from tests.fixtures.sentry_sandbox import SentrySandbox, sentry, sentry_service  # noqa: F401
from tests.fixtures.zendesk_sandbox import ZendeskSandbox, zendesk, zendesk_service  # noqa: F401

ZENDESK_RATE_HEADERS = ("X-Rate-Limit", "X-Rate-Limit-Remaining", "ratelimit-limit",
                        "ratelimit-remaining", "ratelimit-reset")
SENTRY_RATE_HEADERS = ("X-Sentry-Rate-Limit-Limit", "X-Sentry-Rate-Limit-Remaining",
                       "X-Sentry-Rate-Limit-Reset", "X-Sentry-Rate-Limit-ConcurrentLimit",
                       "X-Sentry-Rate-Limit-ConcurrentRemaining")


# -- rate limits ----------------------------------------------------------------------------------
def test_zendesk_budget_spent_answers_429_with_retry_after_and_zendesk_headers(zendesk: ZendeskSandbox):
    zendesk.knobs.update({"rate_limit": 2, "retry_after_s": 7})
    session = zendesk.session()
    first = session.get(zendesk.api("tickets/101.json"))
    second = session.get(zendesk.api("tickets/102.json"))
    third = session.get(zendesk.api("tickets/103.json"))
    assert (first.status_code, second.status_code, third.status_code) == (200, 200, 429)
    assert first.headers["X-Rate-Limit"] == "2"
    assert (first.headers["X-Rate-Limit-Remaining"], second.headers["X-Rate-Limit-Remaining"]) == ("1", "0")
    assert third.headers["Retry-After"] == "7"
    for name in ZENDESK_RATE_HEADERS:
        assert name in third.headers
    assert third.headers["ratelimit-remaining"] == "0"
    assert third.text == RATE_LIMITED_TEXT
    assert third.headers["Content-Type"].startswith("text/plain")


def test_zendesk_budget_refills_after_its_window(zendesk: ZendeskSandbox):
    # A window far longer than two loopback requests take even on a loaded machine.
    zendesk.knobs.update({"rate_limit": 1, "rate_window_s": 1.5})
    session = zendesk.session()
    assert session.get(zendesk.api("users/me.json")).status_code == 200
    assert session.get(zendesk.api("users/me.json")).status_code == 429
    time.sleep(1.6)
    assert session.get(zendesk.api("users/me.json")).status_code == 200


def test_sentry_budget_spent_answers_429_with_sentry_headers(sentry: SentrySandbox):
    sentry.knobs.update({"rate_limit": 1, "retry_after_s": 3})
    session = sentry.session()
    ok = session.get(sentry.api("issues/"))
    limited = session.get(sentry.api("issues/"))
    assert (ok.status_code, limited.status_code) == (200, 429)
    for name in SENTRY_RATE_HEADERS:
        assert name in ok.headers and name in limited.headers
    assert limited.headers["X-Sentry-Rate-Limit-Remaining"] == "0"
    assert limited.headers["Retry-After"] == "3"
    assert "detail" in limited.json()


def test_without_a_knob_budget_zendesk_still_announces_its_account_budget(zendesk: ZendeskSandbox):
    # Zendesk sends these on every answer; clients with proactive rate limiting rely on them.
    response = zendesk.session().get(zendesk.api("tickets/101.json"))
    assert response.headers["X-Rate-Limit"] == "700"
    assert 0 <= int(response.headers["X-Rate-Limit-Remaining"]) < 700


# -- faults ---------------------------------------------------------------------------------------
def test_fail_next_answers_the_vendor_error_shape_then_recovers(zendesk: ZendeskSandbox, sentry: SentrySandbox):
    zendesk.knobs.update({"fail_next": 1, "fail_status": 503})
    session = zendesk.session()
    failed = session.get(zendesk.api("tickets/101.json"))
    assert failed.status_code == 503
    assert set(failed.json()) == {"error", "description"}
    assert session.get(zendesk.api("tickets/101.json")).status_code == 200

    sentry.knobs.update({"fail_next": 1, "fail_status": 500})
    failed = sentry.session().get(sentry.api("issues/"))
    assert failed.status_code == 500 and set(failed.json()) == {"detail"}


def test_fail_methods_limits_faults_to_writes(zendesk: ZendeskSandbox):
    zendesk.knobs.update({"fail_next": 1, "fail_methods": ["PUT"]})
    session = zendesk.session()
    assert session.get(zendesk.api("tickets/101.json")).status_code == 200
    refused = session.put(zendesk.api("tickets/101.json"), json={"ticket": {"comment": {"body": "x"}}})
    assert refused.status_code == 503
    assert zendesk.state.comments(101)[-1]["body"] != "x"  # failed before it was applied


def test_drop_mode_surfaces_as_a_connection_error(zendesk: ZendeskSandbox, sentry: SentrySandbox):
    zendesk.knobs.update({"fail_next": 1, "fail_mode": "drop"})
    with pytest.raises(requests.ConnectionError):
        zendesk.session().get(zendesk.api("tickets/101.json"))
    sentry.knobs.update({"fail_next": 1, "fail_mode": "drop"})
    with pytest.raises(requests.ConnectionError):
        sentry.session().get(sentry.api("issues/"))


def test_a_comment_applied_before_the_drop_is_visible_afterwards(zendesk: ZendeskSandbox):
    zendesk.knobs.update({"fail_next": 1, "fail_mode": "drop", "fail_after_apply": True,
                          "fail_methods": ["PUT"]})
    session = zendesk.session()
    with pytest.raises(requests.ConnectionError):
        session.put(zendesk.api("tickets/101.json"),
                    json={"ticket": {"comment": {"body": "Escalated as ENG-9", "public": False}}})
    comments = session.get(zendesk.api("tickets/101/comments.json")).json()["comments"]
    assert comments[-1]["body"] == "Escalated as ENG-9"
    assert comments[-1]["public"] is False


def test_retry_with_the_same_idempotency_key_after_a_drop_creates_one_ticket(zendesk: ZendeskSandbox):
    zendesk.knobs.update({"fail_next": 1, "fail_mode": "drop", "fail_after_apply": True,
                          "fail_methods": ["POST"]})
    session = zendesk.session()
    payload = {"ticket": {"subject": "Retried create", "comment": {"body": "hello"}}}
    headers = {"Idempotency-Key": "escalation-7"}
    with pytest.raises(requests.ConnectionError):
        session.post(zendesk.api("tickets.json"), json=payload, headers=headers)
    retry = session.post(zendesk.api("tickets.json"), json=payload, headers=headers)
    assert retry.status_code == 201
    assert retry.headers["x-idempotency-lookup"] == "hit"
    assert sum(t["subject"] == "Retried create" for t in zendesk.state.tickets.values()) == 1


def test_fail_after_apply_with_an_error_status_still_applies(sentry: SentrySandbox):
    sentry.knobs.update({"fail_next": 1, "fail_after_apply": True, "fail_methods": ["PUT"]})
    response = sentry.session().put(sentry.api("issues/4505/"), json={"status": "resolved"})
    assert response.status_code == 503
    assert sentry.state.issue(4505)["status"] == "resolved"


def test_fail_fraction_with_a_seed_is_reproducible(zendesk: ZendeskSandbox):
    def run() -> list[int]:
        zendesk.knobs.update({"fail_fraction": 0.5, "seed": 1234})
        session = zendesk.session()
        return [session.get(zendesk.api("users/me.json")).status_code for _ in range(12)]

    first, second = run(), run()
    assert first == second
    assert 503 in first and 200 in first


# -- latency -------------------------------------------------------------------------------------------
def test_latency_knob_delays_each_answer(zendesk: ZendeskSandbox):
    # A lower bound only: the server sleeps at least this long, so this cannot flake.
    zendesk.knobs.update({"latency_ms": 150})
    started = time.monotonic()
    response = zendesk.session().get(zendesk.api("tickets/101.json"))
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.15


# -- counters and journal ------------------------------------------------------------------------------------
def test_counters_count_by_method_and_route(zendesk: ZendeskSandbox):
    session = zendesk.session()
    session.get(zendesk.api("tickets/101.json"))
    session.get(zendesk.api("tickets/102.json"))
    session.put(zendesk.api("tickets/101.json"), json={"ticket": {"status": "pending"}})
    counts = requests.get(f"{zendesk.url}/__sandbox__/counters").json()
    assert counts["by_route"] == {"GET /api/v2/tickets/<int:ticket_id>.json": 2,
                                  "PUT /api/v2/tickets/<int:ticket_id>.json": 1}
    assert counts["total"] == 3
    assert requests.delete(f"{zendesk.url}/__sandbox__/counters").status_code == 204
    assert zendesk.knobs.counts() == {"total": 0, "by_route": {}}


def test_sentry_ingestion_is_counted_by_route(sentry: SentrySandbox):
    def crash() -> None:
        raise RuntimeError("counted")

    sentry.capture("backend", crash)
    assert sentry.knobs.counts()["by_route"].get("POST /api/<project_id>/envelope/") == 1


def test_journal_records_bodies_but_not_credentials(zendesk: ZendeskSandbox):
    session = zendesk.session()
    session.put(zendesk.api("tickets/101.json"), json={"ticket": {"comment": {"body": "journal me", "public": False}}})
    entries = zendesk.knobs.received("PUT", "/tickets/101")
    assert len(entries) == 1
    assert '"journal me"' in entries[0].body
    over_http = requests.get(f"{zendesk.url}/__sandbox__/requests").json()
    assert any("journal me" in e["body"] for e in over_http)
    assert "sandbox-zendesk-api-token" not in str(over_http)


def test_knobs_can_be_turned_over_http(sentry: SentrySandbox):
    patched = requests.patch(f"{sentry.url}/__sandbox__/knobs", json={"fail_next": 1, "fail_status": 502})
    assert patched.status_code == 200 and patched.json()["fail_next"] == 1
    assert sentry.session().get(sentry.api("projects/")).status_code == 502
    assert requests.patch(f"{sentry.url}/__sandbox__/knobs", json={"nonsense": 1}).status_code == 400
    # admin requests are neither counted nor subject to the knobs
    assert requests.get(f"{sentry.url}/__sandbox__/counters").json()["total"] == 1
