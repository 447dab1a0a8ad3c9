"""The Sentry emulator: its issue API over HTTP, and ingestion from the real sentry-sdk."""

from __future__ import annotations

import base64
import gzip
import json
import re
import uuid
import zlib

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st
from sentry_sdk.envelope import Envelope, Item, PayloadRef

from bridge.sandbox import sentry_ingest
from bridge.sandbox.sentry import DEMO_PUBLIC_KEYS, DEMO_READ_ONLY_TOKEN, parse_cursor
from tests.fixtures.sentry_sandbox import SentrySandbox, sentry, sentry_service  # noqa: F401

LINK = re.compile(r'<(?P<url>[^>]+)>; rel="(?P<rel>\w+)"; results="(?P<results>true|false)"; cursor="(?P<cursor>[^"]+)"')


def links(response: requests.Response) -> dict[str, dict]:
    return {m["rel"]: m.groupdict() for m in LINK.finditer(response.headers["Link"])}


def export_crash() -> None:
    rows = None
    rows.write("a,b\n")  # type: ignore[attr-defined]


def parse_crash() -> None:
    int("not a number")


# -- authentication and errors ---------------------------------------------------------------------
def test_missing_and_invalid_tokens_are_401(sentry: SentrySandbox):
    missing = requests.get(sentry.api("issues/"))
    assert missing.status_code == 401
    assert missing.json() == {"detail": "Authentication credentials were not provided."}
    wrong = requests.get(sentry.api("issues/"), headers={"Authorization": "Bearer sntrys_wrong"})
    assert wrong.status_code == 401
    assert wrong.json() == {"detail": "Invalid token"}


def test_read_only_token_cannot_update_an_issue(sentry: SentrySandbox):
    headers = {"Authorization": f"Bearer {DEMO_READ_ONLY_TOKEN}"}
    assert requests.get(sentry.api("issues/4505/"), headers=headers).status_code == 200
    refused = requests.put(sentry.api("issues/4505/"), headers=headers, json={"status": "resolved"})
    assert refused.status_code == 403
    assert refused.json() == {"detail": "You do not have permission to perform this action."}
    assert sentry.state.issue(4505)["status"] == "unresolved"


def test_unknown_org_and_unknown_issue_are_404(sentry: SentrySandbox):
    session = sentry.session()
    other_org = session.get(f"{sentry.url}/api/0/organizations/globex/issues/")
    assert other_org.status_code == 404
    missing = session.get(sentry.api("issues/999999/"))
    assert missing.status_code == 404
    assert missing.json() == {"detail": "The requested resource does not exist"}


# -- issues ---------------------------------------------------------------------------------------------
def test_issue_json_looks_like_sentrys(sentry: SentrySandbox):
    issue = sentry.session().get(sentry.api("issues/4505/")).json()
    assert issue["id"] == "4505"
    assert issue["shortId"] == "BACKEND-1A2"
    assert issue["count"] == "12"  # a string, as Sentry sends it
    assert issue["userCount"] == 5
    assert issue["title"] == "AttributeError: 'NoneType' object has no attribute 'write'"
    assert issue["culprit"] == "reports.export_csv in write_rows"
    assert issue["permalink"] == f"{sentry.url}/organizations/acme/issues/4505/"
    assert issue["project"] == {"id": "1", "name": "Backend", "slug": "backend", "platform": "python"}
    assert issue["status"] == "unresolved"
    assert issue["firstSeen"] < issue["lastSeen"]
    assert issue["metadata"]["type"] == "AttributeError"


def test_default_list_is_unresolved_and_queries_filter(sentry: SentrySandbox):
    session = sentry.session()

    def ids(**params) -> list[str]:
        response = session.get(sentry.api("issues/"), params=params)
        assert response.status_code == 200, response.text
        return sorted(i["id"] for i in response.json())

    assert ids() == ["4502", "4503", "4505", "4506"]
    assert ids(query="is:resolved") == ["4501"]
    assert ids(query="is:ignored") == ["4504"]
    assert ids(query="") == ["4501", "4502", "4503", "4504", "4505", "4506"]
    assert ids(query="is:unresolved NoneType") == ["4505"]
    assert ids(project="2") == ["4502"]
    assert ids(project=["1", "2"], query="is:unresolved level:warning") == ["4506"]
    assert ids(project="web", query="level:warning") == ["4504"]  # a query replaces the default
    assert ids(statsPeriod="24h") == ["4502", "4503", "4505"]  # 4506 was last seen 30 h ago
    assert ids(query="!is:unresolved") == ["4501", "4504"]


def test_invalid_is_value_and_unknown_project(sentry: SentrySandbox):
    session = sentry.session()
    assert session.get(sentry.api("issues/"), params={"query": "is:sleepy"}).status_code == 400
    assert session.get(sentry.api("issues/"), params={"project": "77"}).status_code == 403
    assert session.get(sentry.api("issues/"), params={"cursor": "nonsense"}).status_code == 400


def test_issue_by_short_id_in_path_and_shortids_endpoint(sentry: SentrySandbox):
    session = sentry.session()
    assert session.get(sentry.api("issues/BACKEND-1A2/")).json()["id"] == "4505"
    resolved = session.get(sentry.api("shortids/backend-1a2/"))
    assert resolved.status_code == 200
    body = resolved.json()
    assert (body["organizationSlug"], body["projectSlug"], body["groupId"], body["shortId"]) == \
        ("acme", "backend", "4505", "BACKEND-1A2")
    assert body["group"]["id"] == "4505"
    assert session.get(sentry.api("shortids/BACKEND-ZZZZ/")).status_code == 404


@pytest.mark.parametrize("change, status, substatus, details", [
    ({"status": "resolved"}, "resolved", None, {}),
    ({"status": "resolvedInNextRelease"}, "resolved", None, {"inNextRelease": True}),
    ({"status": "resolved", "statusDetails": {"inRelease": "backend@5.3.0"}}, "resolved", None,
     {"inRelease": "backend@5.3.0"}),
    ({"status": "ignored"}, "ignored", "archived_until_escalating", {}),
    ({"status": "ignored", "substatus": "archived_forever"}, "ignored", "archived_forever", {}),
    ({"status": "ignored", "statusDetails": {"ignoreCount": 100}}, "ignored",
     "archived_until_condition_met", {"ignoreCount": 100}),
])
def test_status_updates(sentry: SentrySandbox, change, status, substatus, details):
    response = sentry.session().put(sentry.api("issues/4505/"), json=change)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["substatus"], body["statusDetails"]) == (status, substatus, details)
    assert sentry.state.issue(4505)["status"] == status


def test_unresolving_a_resolved_issue(sentry: SentrySandbox):
    response = sentry.session().put(sentry.api("issues/4501/"), json={"status": "unresolved"})
    assert (response.json()["status"], response.json()["substatus"]) == ("unresolved", "ongoing")


def test_invalid_status_and_mismatched_substatus_are_400(sentry: SentrySandbox):
    session = sentry.session()
    bad = session.put(sentry.api("issues/4505/"), json={"status": "fixed"})
    assert bad.status_code == 400
    assert bad.json() == {"status": ['"fixed" is not a valid choice.']}
    mismatch = session.put(sentry.api("issues/4505/"), json={"status": "unresolved", "substatus": "archived_forever"})
    assert mismatch.status_code == 400
    garbage = session.put(sentry.api("issues/4505/"), data="{", headers={"Content-Type": "application/json"})
    assert garbage.status_code == 400 and "detail" in garbage.json()
    assert sentry.state.issue(4505)["status"] == "unresolved"


def test_pagination_over_more_than_100_issues_follows_the_link_header(sentry: SentrySandbox):
    for n in range(150):
        sentry.state.ingest_event("2", {"message": f"distinct problem {n}", "level": "error"})
    session = sentry.session()
    response = session.get(sentry.api("issues/"), params={"project": "2"})
    first = links(response)
    assert first["previous"]["results"] == "false" and first["previous"]["cursor"] == "0:0:1"
    assert first["next"]["results"] == "true" and first["next"]["cursor"] == "0:100:0"
    assert "cursor=0:100:0" in first["next"]["url"]
    collected = [i["id"] for i in response.json()]
    pages = 1
    while links(response)["next"]["results"] == "true":
        response = session.get(links(response)["next"]["url"])
        collected += [i["id"] for i in response.json()]
        pages += 1
    assert pages == 2
    assert len(collected) == len(set(collected)) == 151  # 150 new + the seeded web issue
    assert links(response)["previous"]["results"] == "true"


def test_events_list_and_latest_event(sentry: SentrySandbox):
    session = sentry.session()
    events = session.get(sentry.api("issues/4505/events/"))
    assert events.status_code == 200
    assert len(events.json()) == 12
    assert all(e["groupID"] == "4505" for e in events.json())
    latest = session.get(sentry.api("issues/4505/events/latest/")).json()
    oldest = session.get(sentry.api("issues/4505/events/oldest/")).json()
    assert latest["eventID"] == events.json()[0]["eventID"]
    assert oldest["eventID"] == events.json()[-1]["eventID"]
    assert latest["nextEventID"] is None and latest["previousEventID"] is not None
    assert latest["entries"][0]["type"] == "exception"
    by_id = session.get(sentry.api(f"issues/4505/events/{oldest['eventID']}/")).json()
    assert by_id["eventID"] == oldest["eventID"]
    assert session.get(sentry.api(f"issues/4505/events/{uuid.uuid4().hex}/")).status_code == 404


def test_projects_list(sentry: SentrySandbox):
    projects = sentry.session().get(sentry.api("projects/")).json()
    assert [(p["id"], p["slug"]) for p in projects] == [("1", "backend"), ("2", "web")]


# -- ingestion from the real SDK ----------------------------------------------------------------------
def test_sdk_exception_becomes_an_issue_visible_by_list_and_short_id(sentry: SentrySandbox):
    event_id = sentry.capture("backend", parse_crash)
    session = sentry.session()
    found = session.get(sentry.api("issues/"), params={"query": "invalid literal"}).json()
    assert len(found) == 1
    issue = found[0]
    assert issue["title"].startswith("ValueError: invalid literal for int()")
    assert issue["count"] == "1"
    assert issue["shortId"] == "BACKEND-1A4"  # the next short id after the seeded BACKEND-1A3
    assert issue["culprit"].endswith("in parse_crash")
    assert issue["substatus"] == "new"
    by_short = session.get(sentry.api(f"shortids/{issue['shortId']}/")).json()
    assert by_short["groupId"] == issue["id"]
    latest = session.get(sentry.api(f"issues/{issue['id']}/events/latest/")).json()
    assert latest["eventID"] == event_id
    assert latest["sdk"]["name"] == "sentry.python"


def test_same_exception_twice_is_one_issue_with_count_two(sentry: SentrySandbox):
    sentry.capture("backend", parse_crash, user={"id": "42"})
    sentry.capture("backend", parse_crash, user={"id": "43"})
    sentry.capture("backend", export_crash)
    found = sentry.session().get(sentry.api("issues/"), params={"query": "invalid literal"}).json()
    assert [(i["count"], i["userCount"]) for i in found] == [("2", 2)]
    issue = sentry.state.issue(int(found[0]["id"]))
    assert len(sentry.state.events_of(issue["id"])) == 2


def test_custom_fingerprint_groups_different_exceptions_together(sentry: SentrySandbox):
    sentry.capture("web", parse_crash, fingerprint=["csv-pipeline"])
    sentry.capture("web", export_crash, fingerprint=["csv-pipeline"])
    issues = [i for i in sentry.state.issues.values() if i["project_id"] == "2" and i["id"] > 4506]
    assert len(issues) == 1 and issues[0]["times_seen"] == 2


def test_an_event_for_a_resolved_issue_is_a_regression(sentry: SentrySandbox):
    sentry.capture("backend", parse_crash)
    issue_id = max(sentry.state.issues)
    session = sentry.session()
    session.put(sentry.api(f"issues/{issue_id}/"), json={"status": "resolved"})
    sentry.capture("backend", parse_crash)
    issue = session.get(sentry.api(f"issues/{issue_id}/")).json()
    assert (issue["status"], issue["substatus"], issue["count"]) == ("unresolved", "regressed", "2")
    assert issue_id in [int(i["id"]) for i in session.get(sentry.api("issues/"), params={"query": "is:regressed"}).json()]


def test_ingestion_refuses_unknown_keys_and_projects(sentry: SentrySandbox):
    envelope = b'{}\n{"type":"event"}\n{"message":"hi"}\n'
    url = f"{sentry.url}/api/1/envelope/"
    missing = requests.post(url, data=envelope)
    assert missing.status_code == 401
    wrong_key = requests.post(url, data=envelope, params={"sentry_key": DEMO_PUBLIC_KEYS["web"]})
    assert wrong_key.status_code == 403
    unknown_project = requests.post(f"{sentry.url}/api/99/envelope/", data=envelope,
                                    params={"sentry_key": DEMO_PUBLIC_KEYS["backend"]})
    assert unknown_project.status_code == 403
    ok = requests.post(url, data=envelope, params={"sentry_key": DEMO_PUBLIC_KEYS["backend"]})
    assert ok.status_code == 200


def test_gzip_envelope_with_auth_header_and_legacy_store(sentry: SentrySandbox):
    event_id = uuid.uuid4().hex
    envelope = (json.dumps({"event_id": event_id}) + "\n" + json.dumps({"type": "event"}) + "\n"
                + json.dumps({"message": "disk full on worker-3", "level": "fatal"}) + "\n").encode()
    auth = {"X-Sentry-Auth": f"Sentry sentry_key={DEMO_PUBLIC_KEYS['backend']}, sentry_version=7"}
    response = requests.post(f"{sentry.url}/api/1/envelope/", data=gzip.compress(envelope),
                             headers={**auth, "Content-Encoding": "gzip"})
    assert response.json() == {"id": event_id}
    assert sentry.state.events[event_id]["level"] == "fatal"
    legacy = base64.b64encode(zlib.compress(json.dumps({"message": "legacy client"}).encode()))
    stored = requests.post(f"{sentry.url}/api/1/store/", data=legacy, headers=auth)
    assert stored.status_code == 200
    assert any(i["title"] == "legacy client" for i in sentry.state.issues.values())


def test_a_broken_envelope_is_400(sentry: SentrySandbox):
    response = requests.post(f"{sentry.url}/api/1/envelope/", data=b'{}\n{"type":"event","length":999}\n{}',
                             params={"sentry_key": DEMO_PUBLIC_KEYS["backend"]})
    assert response.status_code == 400
    assert "detail" in response.json()


# -- pure logic: property tests -----------------------------------------------------------------------------
@given(st.integers(min_value=0, max_value=2**40))
def test_short_id_numbers_round_trip(number):
    code = sentry_ingest.base32_encode(number)
    assert sentry_ingest.base32_decode(code) == number
    assert sentry_ingest.base32_decode(code.lower()) == number
    assert sentry_ingest.parse_short_id(sentry_ingest.format_short_id("backend", number)) == ("backend", number)


def test_short_id_examples():
    assert sentry_ingest.format_short_id("backend", 1346) == "BACKEND-1A2"
    assert sentry_ingest.parse_short_id("web-3f") == ("web", 111)


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                     max_leaves=8)


@settings(max_examples=40)  # each example serialises a whole envelope
@given(st.lists(st.tuples(st.sampled_from(["event", "session", "client_report"]),
                          st.dictionaries(st.text(max_size=6), _json, max_size=4)), max_size=4),
       st.binary(max_size=40))
def test_envelopes_serialised_by_the_sdk_parse_back(items, attachment):
    envelope = Envelope(headers={"event_id": "abc"})
    for kind, payload in items:
        envelope.add_item(Item(payload=PayloadRef(json=payload), type=kind))
    envelope.add_item(Item(payload=PayloadRef(bytes=attachment), type="attachment"))
    header, parsed = sentry_ingest.parse_envelope(envelope.serialize())
    assert header == {"event_id": "abc"}
    assert [p.type for p in parsed] == [k for k, _ in items] + ["attachment"]
    assert [p.json() for p in parsed[:-1]] == [payload for _, payload in items]
    assert parsed[-1].payload == attachment


@given(st.text(min_size=1, max_size=20), st.text(max_size=20), st.text(min_size=1, max_size=20))
def test_default_fingerprint_equals_no_fingerprint(exc_type, module, function):
    event = {"exception": {"values": [{"type": exc_type, "stacktrace": {"frames": [
        {"module": module or None, "filename": "f.py", "function": function, "in_app": True}]}}]}}
    assert sentry_ingest.group_hash(event) == sentry_ingest.group_hash(dict(event, fingerprint=["{{ default }}"]))
    assert sentry_ingest.group_hash(event) != sentry_ingest.group_hash(dict(event, fingerprint=["custom"]))


def test_grouping_uses_the_top_in_app_frame():
    def event(top_function: str) -> dict:
        return {"exception": {"values": [{"type": "KeyError", "stacktrace": {"frames": [
            {"module": "app.views", "function": top_function, "in_app": True},
            {"module": "django.core", "function": "get_response", "in_app": False},
        ]}}]}}
    assert sentry_ingest.group_hash(event("export")) != sentry_ingest.group_hash(event("import_"))
    assert sentry_ingest.grouping_components(event("export")) == ["KeyError", "app.views", "export"]


@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=0, max_value=10**6), st.booleans())
def test_cursor_parsing(value, offset, is_prev):
    assert parse_cursor(f"{value}:{offset}:{int(is_prev)}") == (value, offset, is_prev)
