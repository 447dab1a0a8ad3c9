"""The Zendesk emulator, driven over HTTP with ``requests`` as a connector would drive it."""

from __future__ import annotations

import base64
import re
from datetime import timedelta

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from bridge.sandbox import zendesk_search
from bridge.sandbox.zendesk import (
    CONFLICT_BODY,
    DEMO_END_USER_OAUTH_TOKEN,
    FIELD_CATEGORY,
    FIELD_DEVICE,
    FORBIDDEN_BODY,
    body_to_html,
    decode_cursor,
    encode_cursor,
    html_to_text,
    normalise_tags,
)
from tests.fixtures.zendesk_sandbox import ZendeskSandbox, zendesk, zendesk_service  # noqa: F401

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


# -- authentication and error shapes -----------------------------------------------------------
def test_api_token_and_oauth_token_both_authenticate(zendesk: ZendeskSandbox):
    me = zendesk.session().get(zendesk.api("users/me.json"))
    assert me.status_code == 200
    assert me.json()["user"]["email"] == "bridge@example.com"
    assert me.json()["user"]["role"] == "admin"

    from bridge.sandbox.zendesk import DEMO_CREDENTIALS

    bearer = requests.get(zendesk.api("tickets/101.json"),
                          headers={"Authorization": f"Bearer {DEMO_CREDENTIALS['oauth_token']}"})
    assert bearer.status_code == 200
    assert bearer.json()["ticket"]["id"] == 101


@pytest.mark.parametrize("auth", [
    ("bridge@example.com/token", "wrong-token"),
    ("nobody@example.com/token", "sandbox-zendesk-api-token-7f3a"),
    ("bridge@example.com", "sandbox-zendesk-api-token-7f3a"),  # a password login, not a token
    None,
])
def test_bad_credentials_answer_401_in_zendesk_shape(zendesk: ZendeskSandbox, auth):
    response = requests.get(zendesk.api("tickets/101.json"), auth=auth)
    assert response.status_code == 401
    assert response.json() == {"error": "Couldn't authenticate you"}


def test_a_token_login_follows_its_user_from_request_to_request(zendesk: ZendeskSandbox):
    """The emulator remembers which user a login named; a user deactivated, or whose address
    changed, no longer authenticates under it (and another active user of that address does)."""
    assert zendesk.session().get(zendesk.api("users/me.json")).status_code == 200
    with zendesk.state.lock:
        me = next(u for u in zendesk.state.users.values() if u["email"] == "bridge@example.com")
        me["active"] = False
    assert zendesk.session().get(zendesk.api("users/me.json")).status_code == 401
    with zendesk.state.lock:
        me["active"], me["email"] = True, "moved@example.com"
    assert zendesk.session().get(zendesk.api("users/me.json")).status_code == 401
    other = zendesk.state.add_user("Bridge Two", "bridge@example.com", role="admin")
    answer = zendesk.session().get(zendesk.api("users/me.json"))
    assert answer.status_code == 200 and answer.json()["user"]["id"] == other["id"]


def test_unknown_bearer_token_is_401(zendesk: ZendeskSandbox):
    response = requests.get(zendesk.api("tickets/101.json"), headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert response.json() == {"error": "Couldn't authenticate you"}


def test_end_user_is_forbidden_on_agent_endpoints_but_may_read_themselves(zendesk: ZendeskSandbox):
    headers = {"Authorization": f"Bearer {DEMO_END_USER_OAUTH_TOKEN}"}
    forbidden = requests.get(zendesk.api("tickets/101.json"), headers=headers)
    assert forbidden.status_code == 403
    assert forbidden.json() == FORBIDDEN_BODY
    me = requests.get(zendesk.api("users/me.json"), headers=headers)
    assert me.status_code == 200
    assert me.json()["user"]["role"] == "end-user"


def test_a_missing_record_and_an_unknown_route_are_told_apart(zendesk: ZendeskSandbox):
    session = zendesk.session()
    missing = session.get(zendesk.api("tickets/99999.json"))
    assert missing.status_code == 404
    assert missing.json() == {"error": "RecordNotFound", "description": "Not found"}
    for url in (zendesk.api("no_such_thing.json"), zendesk.api("tickets/101/metrics.json")):
        unknown = session.get(url)
        assert unknown.status_code == 404
        assert unknown.json() == {"error": "InvalidEndpoint", "description": "Not found"}


def test_invalid_json_is_a_400_in_zendesk_shape_not_a_traceback(zendesk: ZendeskSandbox):
    response = zendesk.session().put(zendesk.api("tickets/101.json"), data=b'{"ticket": {',
                                     headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "InvalidJSON"
    assert "Traceback" not in response.text
    assert zendesk.state.comments(101)[-1]["public"] is False  # the seeded note, nothing added
    assert len(zendesk.state.comments(101)) == 4


def test_a_body_without_the_ticket_key_is_a_400(zendesk: ZendeskSandbox):
    response = zendesk.session().put(zendesk.api("tickets/101.json"), json={"status": "open"})
    assert response.status_code == 400
    assert response.json()["error"] == "ParameterMissing"


def test_invalid_status_is_a_422_record_invalid(zendesk: ZendeskSandbox):
    response = zendesk.session().put(zendesk.api("tickets/101.json"), json={"ticket": {"status": "fixed"}})
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "RecordInvalid"
    assert body["description"] == "Record validation errors"
    assert "status" in body["details"]
    assert body["details"]["status"][0]["description"]
    assert zendesk.state.ticket(101)["status"] == "open"


# -- reading tickets -----------------------------------------------------------------------------
def test_show_ticket_has_zendesk_fields_and_sideloads(zendesk: ZendeskSandbox):
    response = zendesk.session().get(zendesk.api("tickets/101.json"),
                                      params={"include": "users,organizations,groups"})
    assert response.status_code == 200
    body = response.json()
    ticket = body["ticket"]
    assert ticket["url"] == zendesk.api("tickets/101.json")
    assert ticket["subject"] == ticket["raw_subject"] == "Export to CSV crashes the app"
    assert ticket["priority"] == "high"
    assert ticket["status"] == "open"
    assert ISO.match(ticket["created_at"]) and ISO.match(ticket["updated_at"])
    assert ticket["description"] == zendesk.state.comments(101)[0]["body"]
    assert {"id": FIELD_DEVICE, "value": "WS-4471-ACME"} in ticket["custom_fields"]
    assert ticket["via"]["channel"] == "email"
    requester = zendesk.state.user(ticket["requester_id"])
    assert requester["email"] in {u["email"] for u in body["users"]}
    assert [o["name"] for o in body["organizations"]] == ["Acme Corp"]
    assert [g["name"] for g in body["groups"]] == ["Support"]


def test_show_many_skips_unknown_ids(zendesk: ZendeskSandbox):
    response = zendesk.session().get(zendesk.api("tickets/show_many.json"), params={"ids": "102,101,999"})
    assert response.status_code == 200
    assert [t["id"] for t in response.json()["tickets"]] == [102, 101]


def test_ticket_list_walks_with_cursor_pagination(zendesk: ZendeskSandbox):
    session = zendesk.session()
    seen: list[int] = []
    url, params = zendesk.api("tickets.json"), {"page[size]": 2}
    pages = 0
    while True:
        body = session.get(url, params=params).json()
        pages += 1
        seen += [t["id"] for t in body["tickets"]]
        if not body["meta"]["has_more"]:
            break
        url, params = body["links"]["next"], None
    assert seen == sorted(zendesk.state.tickets)
    assert pages == 3


def test_cursor_page_size_over_100_is_rejected(zendesk: ZendeskSandbox):
    response = zendesk.session().get(zendesk.api("tickets.json"), params={"page[size]": 101})
    assert response.status_code == 400
    assert response.json()["error"] == "InvalidPaginationParameter"


def test_ticket_list_offset_pagination_has_next_page_and_count(zendesk: ZendeskSandbox):
    session = zendesk.session()
    body = session.get(zendesk.api("tickets.json"), params={"per_page": 3}).json()
    assert body["count"] == 5
    assert [t["id"] for t in body["tickets"]] == [101, 102, 103]
    second = session.get(body["next_page"]).json()
    assert [t["id"] for t in second["tickets"]] == [104, 105]
    assert second["next_page"] is None


def test_comments_carry_visibility_and_sideload_authors(zendesk: ZendeskSandbox):
    body = zendesk.session().get(zendesk.api("tickets/101/comments.json"), params={"include": "users"}).json()
    comments = body["comments"]
    assert [c["public"] for c in comments] == [True, True, True, False]
    note = comments[-1]
    assert "https://acme.sentry.io/issues/4505/" in note["body"]
    assert "BACKEND-1A2" in note["body"]
    assert note["type"] == "Comment" and note["attachments"] == []
    assert note["plain_body"] == note["body"]
    assert note["html_body"].startswith('<div class="zd-comment"')
    authors = {u["id"]: u for u in body["users"]}
    assert authors[note["author_id"]]["email"] == "erin@example.com"
    assert "+1 415 555 0100" in comments[0]["body"]


def test_comments_cursor_pagination(zendesk: ZendeskSandbox):
    session = zendesk.session()
    first = session.get(zendesk.api("tickets/101/comments.json"), params={"page[size]": 3}).json()
    assert first["meta"]["has_more"] is True
    rest = session.get(first["links"]["next"]).json()
    assert rest["meta"]["has_more"] is False
    ids = [c["id"] for c in first["comments"] + rest["comments"]]
    assert ids == [c["id"] for c in zendesk.state.comments(101)]


# -- creating tickets ------------------------------------------------------------------------------
def test_create_ticket_with_first_comment(zendesk: ZendeskSandbox):
    response = zendesk.session().post(zendesk.api("tickets.json"), json={"ticket": {
        "subject": "Printer on fire", "priority": "urgent", "tags": ["Hardware", "fire"],
        "requester": {"name": "Pat Doe", "email": "pat@newco.example"},
        "comment": {"body": "The smoke is very colourful.", "public": True},
    }})
    assert response.status_code == 201
    ticket = response.json()["ticket"]
    assert response.headers["Location"] == ticket["url"]
    assert ticket["description"] == "The smoke is very colourful."
    assert ticket["tags"] == ["hardware", "fire"]
    assert ticket["status"] == "new"
    stored = zendesk.state.ticket(ticket["id"])
    assert zendesk.state.user(stored["requester_id"])["email"] == "pat@newco.example"
    assert [c["body"] for c in zendesk.state.comments(ticket["id"])] == ["The smoke is very colourful."]


def test_create_ticket_without_comment_is_422(zendesk: ZendeskSandbox):
    before = set(zendesk.state.tickets)
    response = zendesk.session().post(zendesk.api("tickets.json"), json={"ticket": {"subject": "x"}})
    assert response.status_code == 422
    assert response.json()["details"]["description"][0]["description"] == "Description: cannot be blank"
    assert set(zendesk.state.tickets) == before


def test_idempotency_key_miss_then_hit_creates_one_ticket(zendesk: ZendeskSandbox):
    session = zendesk.session()
    payload = {"ticket": {"subject": "Once only", "comment": {"body": "hello"}}}
    headers = {"Idempotency-Key": "escalation-42"}
    first = session.post(zendesk.api("tickets.json"), json=payload, headers=headers)
    second = session.post(zendesk.api("tickets.json"), json=payload, headers=headers)
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.headers["x-idempotency-lookup"] == "miss"
    assert second.headers["x-idempotency-lookup"] == "hit"
    assert first.json()["ticket"]["id"] == second.json()["ticket"]["id"]
    assert sum(t["subject"] == "Once only" for t in zendesk.state.tickets.values()) == 1


def test_idempotency_key_with_another_body_is_400(zendesk: ZendeskSandbox):
    session = zendesk.session()
    headers = {"Idempotency-Key": "k-1"}
    session.post(zendesk.api("tickets.json"), json={"ticket": {"subject": "A", "comment": {"body": "a"}}},
                 headers=headers)
    clash = session.post(zendesk.api("tickets.json"), json={"ticket": {"subject": "B", "comment": {"body": "b"}}},
                         headers=headers)
    assert clash.status_code == 400
    assert clash.json()["error"] == "IdempotentRequestError"
    assert not any(t["subject"] == "B" for t in zendesk.state.tickets.values())


def test_idempotency_key_expires_after_two_hours(zendesk: ZendeskSandbox):
    session = zendesk.session()
    payload = {"ticket": {"subject": "Later", "comment": {"body": "x"}}}
    headers = {"Idempotency-Key": "k-2"}
    first = session.post(zendesk.api("tickets.json"), json=payload, headers=headers).json()["ticket"]["id"]
    now = zendesk.state.now()
    zendesk.state.clock = lambda: now + timedelta(hours=2, seconds=1)
    again = session.post(zendesk.api("tickets.json"), json=payload, headers=headers)
    assert again.headers["x-idempotency-lookup"] == "miss"
    assert again.json()["ticket"]["id"] != first


# -- updating tickets ---------------------------------------------------------------------------------
def test_internal_note_status_and_tags_in_one_call(zendesk: ZendeskSandbox):
    session = zendesk.session()
    before = zendesk.state.ticket(101)
    response = session.put(zendesk.api("tickets/101.json"), json={"ticket": {
        "comment": {"body": "Escalated as ENG-7", "public": False},
        "status": "pending", "additional_tags": ["jira_escalated", "csv"],
        "custom_fields": [{"id": 360004, "value": "ENG-7"}],
    }})
    assert response.status_code == 200
    ticket = response.json()["ticket"]
    assert ticket["status"] == "pending"
    assert ticket["tags"] == ["csv", "crash", "desktop_app", "jira_escalated"]
    assert {"id": 360004, "value": "ENG-7"} in ticket["custom_fields"]
    assert ticket["updated_at"] > before["updated_at"]
    note = zendesk.state.comments(101)[-1]
    assert (note["body"], note["public"]) == ("Escalated as ENG-7", False)
    assert note["author_id"] == zendesk.state.user_by_email("bridge@example.com")["id"]
    listed = session.get(zendesk.api("tickets/101/comments.json")).json()["comments"][-1]
    assert listed["public"] is False
    events = response.json()["audit"]["events"]
    assert events[0]["type"] == "Comment" and events[0]["public"] is False


def test_public_reply_with_html_body(zendesk: ZendeskSandbox):
    response = zendesk.session().put(zendesk.api("tickets/104.json"), json={"ticket": {
        "comment": {"html_body": "<p>Wir arbeiten daran.</p><p>Gruß<br>Frank</p>", "public": True}}})
    assert response.status_code == 200
    comment = zendesk.state.comments(104)[-1]
    assert comment["public"] is True
    assert comment["body"] == "Wir arbeiten daran.\n\nGruß\nFrank"


def test_remove_tags_and_replacing_tags(zendesk: ZendeskSandbox):
    session = zendesk.session()
    session.put(zendesk.api("tickets/101.json"), json={"ticket": {"remove_tags": ["crash", "not_there"]}})
    assert zendesk.state.ticket(101)["tags"] == ["csv", "desktop_app"]
    session.put(zendesk.api("tickets/101.json"), json={"ticket": {"tags": ["only"]}})
    assert zendesk.state.ticket(101)["tags"] == ["only"]


def test_updated_at_moves_on_every_write_even_within_a_second(zendesk: ZendeskSandbox):
    session = zendesk.session()
    stamps = [zendesk.state.ticket(105)["updated_at"]]
    for n in range(3):
        stamps.append(session.put(zendesk.api("tickets/105.json"),
                                  json={"ticket": {"additional_tags": [f"t{n}"]}}).json()["ticket"]["updated_at"])
    assert stamps == sorted(set(stamps))


def test_invalid_dropdown_value_is_422_and_nothing_changes(zendesk: ZendeskSandbox):
    before = zendesk.state.ticket(101)
    response = zendesk.session().put(zendesk.api("tickets/101.json"), json={"ticket": {
        "status": "pending", "custom_fields": [{"id": FIELD_CATEGORY, "value": "not_an_option"}]}})
    assert response.status_code == 422
    assert response.json()["error"] == "RecordInvalid"
    assert zendesk.state.ticket(101) == before


def test_safe_update_with_a_stale_stamp_is_409_and_applies_nothing(zendesk: ZendeskSandbox):
    session = zendesk.session()
    stamp = session.get(zendesk.api("tickets/101.json")).json()["ticket"]["updated_at"]
    session.put(zendesk.api("tickets/101.json"), json={"ticket": {"priority": "urgent"}})  # someone else
    stale = session.put(zendesk.api("tickets/101.json"), json={"ticket": {
        "status": "solved", "comment": {"body": "late", "public": True},
        "safe_update": True, "updated_stamp": stamp}})
    assert stale.status_code == 409
    assert stale.json() == CONFLICT_BODY
    assert zendesk.state.ticket(101)["status"] == "open"
    assert zendesk.state.comments(101)[-1]["body"] != "late"

    fresh = session.get(zendesk.api("tickets/101.json")).json()["ticket"]["updated_at"]
    ok = session.put(zendesk.api("tickets/101.json"), json={"ticket": {
        "status": "solved", "safe_update": True, "updated_stamp": fresh}})
    assert ok.status_code == 200
    assert ok.json()["ticket"]["status"] == "solved"


def test_closed_ticket_cannot_be_updated(zendesk: ZendeskSandbox):
    session = zendesk.session()
    assert session.put(zendesk.api("tickets/103.json"), json={"ticket": {"status": "closed"}}).status_code == 200
    refused = session.put(zendesk.api("tickets/103.json"), json={"ticket": {"comment": {"body": "hi"}}})
    assert refused.status_code == 422
    assert refused.json()["details"]["status"][0]["description"] == "Status: closed prevents ticket update"


# -- update_many jobs -----------------------------------------------------------------------------------
def test_update_many_with_ids_applies_the_same_change(zendesk: ZendeskSandbox):
    session = zendesk.session()
    response = session.put(zendesk.api("tickets/update_many.json"), params={"ids": "101,102,999"},
                           json={"ticket": {"additional_tags": ["release_5_3"]}})
    assert response.status_code == 200
    job = response.json()["job_status"]
    assert job["status"] == "queued"
    done = zendesk.finished_job(job)
    assert done["status"] == "completed"
    assert done["results"][:2] == [
        {"index": 0, "id": 101, "action": "update", "success": True, "status": "Updated"},
        {"index": 1, "id": 102, "action": "update", "success": True, "status": "Updated"},
    ]
    assert done["results"][2]["success"] is False and done["results"][2]["error"] == "RecordNotFound"
    assert "release_5_3" in zendesk.state.ticket(101)["tags"]
    assert "release_5_3" in zendesk.state.ticket(102)["tags"]


def test_update_many_with_different_changes_is_a_safe_update(zendesk: ZendeskSandbox):
    session = zendesk.session()
    stale = zendesk.state.ticket(101)["updated_at"]
    session.put(zendesk.api("tickets/101.json"), json={"ticket": {"priority": "urgent"}})
    response = session.put(zendesk.api("tickets/update_many.json"), json={"tickets": [
        {"id": 101, "status": "solved", "updated_stamp": stale},
        {"id": 104, "comment": {"body": "Behoben in 5.3", "public": True}, "status": "solved"},
    ]})
    done = zendesk.finished_job(response.json()["job_status"])
    assert [r["success"] for r in done["results"]] == [False, True]
    assert done["results"][0]["error"] == "UpdateConflict"
    assert zendesk.state.ticket(101)["status"] == "open"
    assert zendesk.state.ticket(104)["status"] == "solved"
    assert zendesk.state.comments(104)[-1]["body"] == "Behoben in 5.3"


def test_update_many_takes_at_most_100_tickets(zendesk: ZendeskSandbox):
    ids = ",".join(str(n) for n in range(1, 102))
    response = zendesk.session().put(zendesk.api("tickets/update_many.json"), params={"ids": ids},
                                     json={"ticket": {"status": "open"}})
    assert response.status_code == 400
    assert zendesk.state.jobs == {}


def test_unknown_job_status_is_404(zendesk: ZendeskSandbox):
    assert zendesk.session().get(zendesk.api("job_statuses/0123abcd.json")).status_code == 404


# -- incremental export -----------------------------------------------------------------------------------
def test_incremental_export_resumes_from_its_cursor(zendesk: ZendeskSandbox):
    zendesk.state.export_skips_last_minute = False
    session = zendesk.session()
    url = zendesk.api("incremental/tickets/cursor.json")
    first = session.get(url, params={"start_time": 0}).json()
    assert sorted(t["id"] for t in first["tickets"]) == [101, 102, 103, 104, 105]
    assert first["end_of_stream"] is True
    nothing = session.get(first["after_url"]).json()
    assert nothing["tickets"] == [] and nothing["end_of_stream"] is True
    session.put(zendesk.api("tickets/103.json"), json={"ticket": {"additional_tags": ["reopened"]}})
    after = session.get(url, params={"cursor": nothing["after_cursor"]}).json()
    assert [t["id"] for t in after["tickets"]] == [103]


def test_incremental_export_pages_by_per_page(zendesk: ZendeskSandbox):
    zendesk.state.export_skips_last_minute = False
    session = zendesk.session()
    body = session.get(zendesk.api("incremental/tickets/cursor.json"),
                       params={"start_time": 0, "per_page": 2}).json()
    seen = [t["id"] for t in body["tickets"]]
    while not body["end_of_stream"]:
        body = session.get(body["after_url"]).json()
        seen += [t["id"] for t in body["tickets"]]
    assert sorted(seen) == [101, 102, 103, 104, 105] and len(seen) == 5


def test_incremental_export_skips_the_last_minute(zendesk: ZendeskSandbox):
    session = zendesk.session()
    session.put(zendesk.api("tickets/101.json"), json={"ticket": {"additional_tags": ["fresh"]}})
    body = session.get(zendesk.api("incremental/tickets/cursor.json"), params={"start_time": 0}).json()
    assert 101 not in [t["id"] for t in body["tickets"]]
    later = zendesk.state.now() + timedelta(minutes=2)
    zendesk.state.clock = lambda: later
    resumed = session.get(body["after_url"]).json()
    assert [t["id"] for t in resumed["tickets"]] == [101]


def test_incremental_export_refuses_a_too_recent_start_time(zendesk: ZendeskSandbox):
    recent = int(zendesk.state.now().timestamp()) - 10
    response = zendesk.session().get(zendesk.api("incremental/tickets/cursor.json"),
                                     params={"start_time": recent})
    assert response.status_code == 400


def test_incremental_export_rejects_a_garbage_cursor(zendesk: ZendeskSandbox):
    response = zendesk.session().get(zendesk.api("incremental/tickets/cursor.json"),
                                     params={"cursor": "%%%not-a-cursor"})
    assert response.status_code == 400


# -- search -----------------------------------------------------------------------------------------------
def search_ids(zendesk: ZendeskSandbox, query: str, **params) -> list[int]:
    response = zendesk.session().get(zendesk.api("search.json"), params={"query": query, **params})
    assert response.status_code == 200, response.text
    return sorted(r["id"] for r in response.json()["results"])


def test_search_tickets_by_properties(zendesk: ZendeskSandbox):
    assert search_ids(zendesk, "type:ticket tags:csv status<solved") == [101]
    assert search_ids(zendesk, "type:ticket status<solved") == [101, 102, 104, 105]
    assert search_ids(zendesk, "type:ticket status:solved") == [103]
    assert search_ids(zendesk, "type:ticket organization:globex") == [104]
    assert search_ids(zendesk, "type:ticket priority>normal") == [101, 102]
    assert search_ids(zendesk, "type:ticket tags:csv tags:payments") == [101, 102]  # same property: OR
    assert search_ids(zendesk, "type:ticket status<solved -tags:performance") == [101, 102, 104]
    assert search_ids(zendesk, 'type:ticket "Payments failing"') == [102]
    assert search_ids(zendesk, "type:ticket export csv") == [101]


def test_search_by_external_id_after_setting_it(zendesk: ZendeskSandbox):
    zendesk.session().put(zendesk.api("tickets/102.json"), json={"ticket": {"external_id": "ENG-12"}})
    assert search_ids(zendesk, "type:ticket external_id:ENG-12") == [102]


def test_search_results_carry_result_type_and_pages(zendesk: ZendeskSandbox):
    session = zendesk.session()
    body = session.get(zendesk.api("search.json"), params={"query": "type:ticket", "per_page": 2}).json()
    assert body["count"] == 5
    assert {r["result_type"] for r in body["results"]} == {"ticket"}
    assert body["next_page"] is not None
    second = session.get(body["next_page"]).json()
    assert len(second["results"]) == 2
    users = session.get(zendesk.api("search.json"), params={"query": "type:user erin"}).json()
    assert [(r["result_type"], r["email"]) for r in users["results"]] == [("user", "erin@example.com")]


def test_user_search_by_email(zendesk: ZendeskSandbox):
    body = zendesk.session().get(zendesk.api("users/search.json"), params={"query": "email:frank@example.com"}).json()
    assert [u["name"] for u in body["users"]] == ["Frank Frontline"]


# -- users, organizations, groups, fields ------------------------------------------------------------------
def test_users_organizations_groups_and_memberships(zendesk: ZendeskSandbox):
    session = zendesk.session()
    erin = zendesk.state.user_by_email("erin@example.com")
    user = session.get(zendesk.api(f"users/{erin['id']}.json")).json()["user"]
    assert (user["name"], user["role"], user["locale"]) == ("Erin Escalation", "agent", "en-US")
    memberships = session.get(zendesk.api(f"users/{erin['id']}/group_memberships.json")).json()
    groups = {g["id"]: g["name"] for g in session.get(zendesk.api("groups.json")).json()["groups"]}
    assert [groups[m["group_id"]] for m in memberships["group_memberships"]] == ["Escalations"]
    jana = zendesk.state.user_by_email("jana.schmidt@globex.example")
    assert jana["locale"] == "de"
    many = session.get(zendesk.api("users/show_many.json"), params={"ids": f"{erin['id']},{jana['id']}"}).json()
    assert [u["email"] for u in many["users"]] == ["erin@example.com", "jana.schmidt@globex.example"]
    org = session.get(zendesk.api(f"organizations/{jana['organization_id']}.json")).json()["organization"]
    assert org["name"] == "Globex"
    acme = zendesk.state.organization_by_name("Acme Corp")
    assert session.get(zendesk.api(f"organizations/{acme['id']}.json")).json()["organization"]["tags"] == ["premium"]
    assert session.get(zendesk.api("users/424242.json")).status_code == 404


def test_ticket_fields_name_the_custom_fields(zendesk: ZendeskSandbox):
    fields = zendesk.session().get(zendesk.api("ticket_fields.json")).json()["ticket_fields"]
    custom = {f["id"]: f["title"] for f in fields if f["removable"]}
    assert custom == {360001: "Category", 360002: "Impacted device ID", 360003: "Operating system",
                      360004: "JIRA key"}
    category = next(f for f in fields if f["id"] == 360001)
    assert "category_bug" in [o["value"] for o in category["custom_field_options"]]


# -- pure helpers (property tests) ---------------------------------------------------------------------------
@given(st.dictionaries(st.text(max_size=5), st.one_of(st.integers(), st.text(max_size=8),
                                                      st.lists(st.integers(), max_size=3)), max_size=4))
def test_cursor_round_trips(payload):
    assert decode_cursor(encode_cursor(payload)) == payload


@given(st.lists(st.text(max_size=12), max_size=8))
def test_normalised_tags_are_lowercase_single_words_without_duplicates(values):
    tags = normalise_tags(values)
    assert len(tags) == len(set(tags))
    assert all(t == t.lower() and t.split() == [t] for t in tags)
    assert normalise_tags(tags) == tags


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"), max_size=60))
def test_plain_body_survives_html_rendering(text):
    assert html_to_text(body_to_html(text)) == text.strip()


_word = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=8)


@given(st.lists(st.tuples(st.booleans(), st.sampled_from(["tags", "status", "priority"]),
                          st.sampled_from(zendesk_search.OPERATORS), _word), max_size=5))
def test_search_query_parses_back_what_was_written(terms):
    query = " ".join(f"{'-' if neg else ''}{field}{op}{value}" for neg, field, op, value in terms)
    parsed = zendesk_search.parse_query(query)
    assert [(t.negated, t.field, t.op, t.value) for t in parsed] == list(terms)


@given(st.sets(_word, max_size=4), st.lists(_word, min_size=1, max_size=3))
def test_same_property_terms_are_ored(tags, wanted):
    terms = zendesk_search.parse_query(" ".join(f"tags:{w}" for w in wanted))
    outcome = zendesk_search.matches(terms, lambda term: term.value in tags)
    assert outcome == bool(set(wanted) & tags)


def test_basic_auth_header_is_email_slash_token(zendesk: ZendeskSandbox):
    raw = base64.b64encode(b"bridge@example.com/token:sandbox-zendesk-api-token-7f3a").decode()
    response = requests.get(zendesk.api("users/me.json"), headers={"Authorization": f"Basic {raw}"})
    assert response.status_code == 200
