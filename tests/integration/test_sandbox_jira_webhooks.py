"""The JIRA emulator's outgoing webhooks, received on a tiny loopback HTTP server.

Registrations go through Jira's admin API (``/rest/webhooks/1.0/webhook``); changes are made
with the unmodified ``jira`` library; what arrives is checked as a receiver would: the payload
shape per event, ``X-Hub-Signature`` recomputed from the raw body, the identifier that stays
the same across retries and duplicates, and each delivery knob. Tests wait for the queue to
drain through ``GET /__sandbox__/webhooks?wait=S`` (a deadline, never a fixed sleep).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from bridge.sandbox.jira_webhooks import JiraDelivery, signature
from bridge.sandbox.webhook_delivery import DeliveryKnobs

from tests.fixtures.webhook_deliveries import Received, Receiver, receiving, set_delivery_knobs, settled
from tests.fixtures.jira_sandbox import *  # noqa: F401,F403 - fixtures jira_cloud, jira_server, jira_any

SECRET = "webhook-secret-for-tests"


@pytest.fixture
def receiver():
    with receiving() as box:
        yield box


def _events(receiver: Receiver) -> list[str]:
    return [body["webhookEvent"] for body in receiver.bodies()]


def _admin(sandbox) -> requests.Session:
    session = requests.Session()
    session.auth = DEMO_LOGINS["bridge"].basic_auth(sandbox.mode)
    return session


def _register(sandbox, url: str, events: list[str], **extra) -> dict:
    body = {"name": "bridge", "url": url, "events": events, "secret": SECRET, **extra}
    response = _admin(sandbox).post(f"{sandbox.url}/rest/webhooks/1.0/webhook", json=body, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()


def _verify(item: Received) -> None:
    expected = "sha256=" + hmac.new(SECRET.encode(), item.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(item.headers["X-Hub-Signature"], expected)


def _bug(client, summary="Checkout fails"):
    return client.create_issue(project="SUP", summary=summary, issuetype={"name": "Bug"})


# -- registrations -------------------------------------------------------------------------------

def test_registrations_are_admin_only_and_never_answer_the_secret(jira_any, receiver):
    created = _register(jira_any, receiver.url, ["jira:issue_updated"],
                        filters={"issue-related-events-section": "project = SUP"})
    assert created["self"].endswith(f"/rest/webhooks/1.0/webhook/{created['self'].rsplit('/', 1)[1]}")
    assert created["events"] == ["jira:issue_updated"] and created["enabled"] is True
    assert created["filters"] == {"issue-related-events-section": "project = SUP"}
    assert "secret" not in created and SECRET not in json.dumps(created)
    listed = _admin(jira_any).get(f"{jira_any.url}/rest/webhooks/1.0/webhook").json()
    assert [w["self"] for w in listed] == [created["self"]]
    viewer = requests.Session()
    viewer.auth = DEMO_LOGINS["viewer"].basic_auth(jira_any.mode)
    refused = viewer.post(f"{jira_any.url}/rest/webhooks/1.0/webhook",
                          json={"name": "x", "url": receiver.url, "events": []})
    assert refused.status_code == 403 and refused.json()["errorMessages"]
    assert _admin(jira_any).delete(created["self"]).status_code == 204
    assert _admin(jira_any).get(created["self"]).status_code == 404


@pytest.mark.parametrize("body, field_name", [
    ({"name": "x", "url": "not a url", "events": []}, "url"),
    ({"name": "", "url": "http://127.0.0.1:9", "events": []}, "name"),
    ({"name": "x", "url": "http://127.0.0.1:9", "events": ["jira:nonsense"]}, "events"),
    ({"name": "x", "url": "http://127.0.0.1:9", "events": [], "filters": {"issue-related-events-section": "project ="}},
     "filters"),
])
def test_invalid_registrations_answer_400_naming_the_field(jira_any, body, field_name):
    response = _admin(jira_any).post(f"{jira_any.url}/rest/webhooks/1.0/webhook", json=body)
    assert response.status_code == 400 and field_name in response.json()["errors"]
    assert _admin(jira_any).get(f"{jira_any.url}/rest/webhooks/1.0/webhook").json() == []


# -- payloads and signatures ------------------------------------------------------------------------

def test_transition_sends_signed_issue_updated_with_changelog(jira_any, receiver):
    client = jira_any.client()
    issue = _bug(client)
    _register(jira_any, receiver.url, ["jira:issue_updated"])
    before = int(time.time() * 1000)
    client.transition_issue(issue, "In Progress")
    settled(jira_any.url)
    (item,) = receiver.received
    _verify(item)
    payload = item.json()
    assert payload["webhookEvent"] == "jira:issue_updated" and isinstance(payload["timestamp"], int)
    assert payload["timestamp"] >= before - 1000
    assert payload["issue"]["key"] == issue.key
    assert payload["issue"]["fields"]["status"]["name"] == "In Progress"
    status_items = [i for i in payload["changelog"]["items"] if i["field"] == "status"]
    assert status_items and status_items[0]["toString"] == "In Progress"
    assert item.headers["X-Atlassian-Webhook-Identifier"] and "X-Atlassian-Webhook-Retry" not in item.headers
    assert item.headers["Content-Type"].startswith("application/json")


def test_comment_events_carry_the_comment_and_the_issue(jira_any, receiver):
    client = jira_any.client()
    issue = _bug(client)
    _register(jira_any, receiver.url, ["comment_created", "comment_updated", "comment_deleted"])
    comment = client.add_comment(issue, "first words")
    comment.update(body="second words")
    comment.delete()
    settled(jira_any.url)
    assert _events(receiver) == ["comment_created", "comment_updated", "comment_deleted"]
    for item in receiver.received:
        _verify(item)
        assert item.json()["issue"]["key"] == issue.key and item.json()["comment"]["id"] == comment.id
    assert "second words" in json.dumps(receiver.received[1].json()["comment"]["body"])


def test_version_release_and_issue_links_fire_their_events(jira_any, receiver):
    client = jira_any.client()
    first, second = _bug(client, "one"), _bug(client, "two")
    _register(jira_any, receiver.url, ["jira:version_released", "issuelink_created", "issuelink_deleted"])
    version = client.create_version("9.9", project="SUP")
    version.update(released=True)
    client.create_issue_link("Blocks", first.key, second.key)
    link_id = client.issue(first.key).fields.issuelinks[0].id
    client.delete_issue_link(link_id)
    settled(jira_any.url)
    assert _events(receiver) == ["jira:version_released", "issuelink_created", "issuelink_deleted"]
    released, created, deleted = (r.json() for r in receiver.received)
    assert released["version"]["name"] == "9.9" and released["version"]["released"] is True
    assert created["issueLink"]["id"] == int(link_id) == deleted["issueLink"]["id"]
    assert {created["issueLink"]["sourceIssueId"], created["issueLink"]["destinationIssueId"]} == {
        int(first.id), int(second.id)}
    assert created["issueLink"]["issueLinkType"]["name"] == "Blocks"


def test_jql_filter_exclude_body_and_url_variables(jira_server, receiver):
    client = jira_server.client()
    issue = _bug(client)
    _register(jira_server, receiver.url + "/ops", ["jira:issue_updated"],
              filters={"issue-related-events-section": "project = OPS"})
    _register(jira_server, receiver.url + "/bare/${issue.key}", ["jira:issue_updated"], excludeBody=True)
    issue.update(summary="renamed")
    settled(jira_server.url)
    (item,) = receiver.received  # the OPS-only registration stayed silent
    assert item.path == f"/bare/{issue.key}" and item.body == b""
    _verify(item)


# -- retries and knobs ------------------------------------------------------------------------------

def test_retries_keep_the_identifier_and_count_in_the_retry_header(jira_server, receiver):
    client = jira_server.client()
    issue = _bug(client)
    _register(jira_server, receiver.url, ["jira:issue_updated"])
    set_delivery_knobs(jira_server.url, retry_backoff_s=0.01)
    receiver.script = [503, 429, 408, 200]
    issue.update(summary="retried")
    report = settled(jira_server.url)
    identifiers = {r.headers["X-Atlassian-Webhook-Identifier"] for r in receiver.received}
    assert len(receiver.received) == 4 and len(identifiers) == 1
    assert [r.headers.get("X-Atlassian-Webhook-Retry") for r in receiver.received] == [None, "1", "2", "3"]
    assert all(r.body == receiver.received[0].body for r in receiver.received)
    assert report["delivered"] == 1 and [a["outcome"] for a in report["attempts"]] == ["retry"] * 3 + ["delivered"]


def test_client_errors_are_final_and_retries_stop_at_the_limit(jira_server, receiver):
    client = jira_server.client()
    issue = _bug(client)
    _register(jira_server, receiver.url, ["jira:issue_updated"])
    set_delivery_knobs(jira_server.url, retry_backoff_s=0.01, max_retries=2)
    receiver.script = [400]
    issue.update(summary="refused")
    settled(jira_server.url)
    assert len(receiver.received) == 1
    receiver.script = [500, 500, 500, 500]
    issue.update(summary="failing")
    report = settled(jira_server.url)
    assert len(receiver.received) == 1 + 3 and report["failed"] == 1


def test_a_time_out_is_retried_with_the_same_identifier(jira_server, receiver):
    client = jira_server.client()
    issue = _bug(client)
    _register(jira_server, receiver.url, ["jira:issue_updated"])
    set_delivery_knobs(jira_server.url, retry_backoff_s=0.01, timeout_s=0.2)
    receiver.script, receiver.slow_s = ["slow"], 1.0
    issue.update(summary="slow receiver")
    report = settled(jira_server.url)
    assert len(receiver.received) == 2
    first, second = receiver.received
    assert first.headers["X-Atlassian-Webhook-Identifier"] == second.headers["X-Atlassian-Webhook-Identifier"]
    assert second.headers["X-Atlassian-Webhook-Retry"] == "1"
    assert report["attempts"][0]["error"] == "timeout"


def test_duplicate_knob_repeats_each_delivery_with_one_identifier(jira_server, receiver):
    client = jira_server.client()
    issue = _bug(client)
    _register(jira_server, receiver.url, ["jira:issue_updated"])
    set_delivery_knobs(jira_server.url, duplicate=4)
    issue.update(summary="five times")
    settled(jira_server.url)
    assert len(receiver.received) == 5
    assert len({r.headers["X-Atlassian-Webhook-Identifier"] for r in receiver.received}) == 1
    for item in receiver.received:
        _verify(item)


def test_drop_knob_loses_deliveries_and_counts_them(jira_server, receiver):
    client = jira_server.client()
    issue = _bug(client)
    _register(jira_server, receiver.url, ["jira:issue_updated"])
    set_delivery_knobs(jira_server.url, drop_fraction=1.0)
    issue.update(summary="lost")
    report = settled(jira_server.url)
    assert receiver.received == [] and report["dropped"] == 1
    set_delivery_knobs(jira_server.url, drop_fraction=0.0)
    issue.update(summary="found")
    settled(jira_server.url)
    assert len(receiver.received) == 1


def test_reorder_knob_releases_a_window_shuffled(jira_server, receiver):
    client = jira_server.client()
    issue = _bug(client)
    _register(jira_server, receiver.url, ["jira:issue_updated"])
    set_delivery_knobs(jira_server.url, reorder_window=6, reorder_hold_s=30, seed=7)
    for n in range(6):
        issue.update(summary=f"change {n}")
    settled(jira_server.url)
    summaries = [r.json()["issue"]["fields"]["summary"] for r in receiver.received]
    assert sorted(summaries) == [f"change {n}" for n in range(6)]
    assert summaries != [f"change {n}" for n in range(6)]  # seed 7 shuffles this window


def test_delay_knob_never_blocks_the_api_call(jira_server, receiver):
    client = jira_server.client()
    issue = _bug(client)
    _register(jira_server, receiver.url, ["jira:issue_updated"])
    set_delivery_knobs(jira_server.url, delay_s=5)
    issue.update(summary="later")  # returns while the delivery waits its 5 s
    report = requests.get(f"{jira_server.url}/__sandbox__/webhooks", timeout=10).json()
    assert report["pending"] == 1 and receiver.received == []
    settled(jira_server.url)
    assert len(receiver.received) == 1


@pytest.mark.parametrize("knobs", [{"duplicate": -1}, {"drop_fraction": 2}, {"nonsense": 1}, {"seed": "x"}])
def test_bad_knobs_answer_400(jira_server, knobs):
    response = requests.patch(f"{jira_server.url}/__sandbox__/webhooks", json=knobs, timeout=10)
    assert response.status_code == 400 and "bad webhook knob" in response.json()["error"]


@given(st.text(min_size=1), st.binary())
def test_signature_is_hmac_sha256_of_the_raw_body(secret, body):
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert signature(secret, body) == expected
    delivery = JiraDelivery("id-1", 1, "jira:issue_updated", "http://127.0.0.1:9", body, secret=secret, attempt=2)
    headers = delivery.headers()
    assert headers["X-Hub-Signature"] == expected and headers["X-Atlassian-Webhook-Retry"] == "2"
    assert "X-Hub-Signature" not in JiraDelivery("id-1", 1, "e", "http://x", body).headers()


@given(st.dictionaries(st.sampled_from(["duplicate", "delay_s", "reorder_window", "drop_fraction", "max_retries"]),
                       st.one_of(st.integers(-3, 5), st.floats(-1, 3, allow_nan=False), st.booleans(), st.text(max_size=2))))
def test_knob_updates_are_all_or_nothing(values):
    knobs = DeliveryKnobs()
    try:
        updated = knobs.updated(values)
    except ValueError:
        assert knobs == DeliveryKnobs()  # a refused update leaves the knobs as they were
        return
    for name, value in values.items():
        assert getattr(updated, name) == value and not isinstance(value, bool) and value >= 0
