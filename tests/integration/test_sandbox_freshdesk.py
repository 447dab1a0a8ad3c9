"""The Freshdesk emulator, driven over HTTP with ``requests`` as a connector would drive it.

There is no OpenAPI document for Freshdesk in ``specs/``; the shapes below are written down
from Freshdesk's API v2 reference (developers.freshdesk.com/api): "View a Ticket",
"Reply to a ticket", "Create a Note", "Update a ticket", "Error handling", "Rate limit".
"""

from __future__ import annotations

import re

import requests

from bridge.connectors.freshdesk import FreshdeskHelpdesk
from bridge.connectors.base import TicketWrite
from bridge.sandbox.freshdesk import DEMO_CONTACT_API_KEY, OPEN
from tests.contract.helpdesk_contract import contract_gate
from tests.fixtures.freshdesk_sandbox import FreshdeskSandbox, freshdesk, freshdesk_service  # noqa: F401

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
#: Keys of a ticket in "View a Ticket" (without includes).
TICKET_KEYS = {"id", "subject", "description", "description_text", "status", "priority", "source", "type",
               "requester_id", "responder_id", "group_id", "company_id", "product_id", "email_config_id",
               "cc_emails", "fwd_emails", "reply_cc_emails", "to_emails", "spam", "is_escalated", "fr_escalated",
               "tags", "custom_fields", "created_at", "updated_at", "due_by", "fr_due_by", "attachments",
               "association_type"}
#: Keys of a conversation entry (included in a ticket or listed).
CONVERSATION_KEYS = {"id", "body", "body_text", "incoming", "private", "user_id", "support_email", "source",
                     "ticket_id", "to_emails", "from_email", "cc_emails", "bcc_emails", "attachments",
                     "created_at", "updated_at"}
REPLY_KEYS = {"body", "body_text", "id", "user_id", "from_email", "cc_emails", "bcc_emails", "ticket_id",
              "replied_to", "attachments", "created_at", "updated_at"}
NOTE_KEYS = {"body", "body_text", "id", "incoming", "private", "user_id", "support_email", "ticket_id",
             "notify_emails", "attachments", "created_at", "updated_at"}
RATE_HEADERS = ("X-RateLimit-Total", "X-RateLimit-Remaining", "X-RateLimit-Used-CurrentRequest")


def test_view_a_ticket_with_conversations_requester_and_company(freshdesk: FreshdeskSandbox):
    response = freshdesk.session().get(freshdesk.api("tickets/1"), params={"include": "conversations,requester,company"})
    assert response.status_code == 200
    body = response.json()
    assert TICKET_KEYS <= set(body)
    assert ISO.match(body["created_at"]) and ISO.match(body["updated_at"])
    assert body["status"] == OPEN and body["priority"] in (1, 2, 3, 4)
    assert body["custom_fields"]["cf_category"] == "Bug"
    assert set(body["requester"]) == {"id", "name", "email", "mobile", "phone"}
    assert body["company"]["name"] == "Acme Corp"
    conversations = body["conversations"]
    assert [set(c) >= CONVERSATION_KEYS for c in conversations] == [True] * len(conversations)
    assert [c["private"] for c in conversations] == [False, False, True]
    assert conversations[1]["incoming"] is True
    assert "sentry.io/issues/4505" in conversations[2]["body_text"]
    for name in RATE_HEADERS:
        assert response.headers[name].isdigit()


def test_errors_have_freshdesks_shapes(freshdesk: FreshdeskSandbox):
    session = freshdesk.session()
    assert session.get(freshdesk.api("tickets/999")).status_code == 404
    assert session.get(freshdesk.api("tickets/999")).content == b""
    bad_key = requests.get(freshdesk.api("tickets/1"), auth=("wrong", "X"))
    assert (bad_key.status_code, bad_key.json()["code"]) == (401, "invalid_credentials")
    contact = requests.get(freshdesk.api("tickets/1"), auth=(DEMO_CONTACT_API_KEY, "X"))
    assert (contact.status_code, contact.json()["code"]) == (403, "access_denied")
    invalid = session.put(freshdesk.api("tickets/1"), json={"status": 9, "cf_nope": 1, "custom_fields": {"cf_x": 1}})
    assert invalid.status_code == 400
    body = invalid.json()
    assert body["description"] == "Validation failed"
    assert {(e["field"], e["code"]) for e in body["errors"]} == {
        ("status", "invalid_value"), ("cf_nope", "invalid_field"), ("cf_x", "invalid_field")}
    assert all(set(e) == {"field", "message", "code"} for e in body["errors"])
    blank = session.post(freshdesk.api("tickets/1/notes"), json={"body": ""})
    assert blank.status_code == 400 and blank.json()["errors"][0]["code"] == "missing_field"


def test_reply_note_and_update_bodies(freshdesk: FreshdeskSandbox):
    session = freshdesk.session()
    reply = session.post(freshdesk.api("tickets/1/reply"), json={"body": "<div>On it.</div>"})
    assert reply.status_code == 201 and set(reply.json()) == REPLY_KEYS
    assert reply.json()["replied_to"] == ["alice.adams@acme.example"]
    assert freshdesk.state.outbox[-1]["to"] == "alice.adams@acme.example"
    note = session.post(freshdesk.api("tickets/1/notes"), json={"body": "<div>internal</div>"})
    assert note.status_code == 201 and set(note.json()) == NOTE_KEYS and note.json()["private"] is True
    assert len(freshdesk.state.outbox) == 1  # notes are never e-mailed to the requester
    before = freshdesk.state.ticket(1)["updated_at"]
    updated = session.put(freshdesk.api("tickets/1"), json={"tags": ["only"], "status": 4})
    assert updated.status_code == 200
    assert updated.json()["tags"] == ["only"]  # the list replaces the old one
    assert updated.json()["updated_at"] > before


def test_long_conversations_page_with_link_headers_and_the_connector_reads_them_all(freshdesk: FreshdeskSandbox):
    agent = freshdesk.state.agent_by_email("frank@example.com")
    for n in range(130):
        freshdesk.state.add_conversation(2, f"update {n}", user_id=agent["id"], private=n % 2 == 0)
    first = freshdesk.session().get(freshdesk.api("tickets/2/conversations"), params={"per_page": 100})
    assert len(first.json()) == 100 and first.links["next"]["url"].endswith("page=2&per_page=100")
    included = freshdesk.session().get(freshdesk.api("tickets/2"), params={"include": "conversations"})
    assert len(included.json()["conversations"]) == 10

    freshdesk.knobs.reset_counters()
    ticket = FreshdeskHelpdesk(freshdesk.url, api_key=freshdesk.auth[0], gate=contract_gate()).get_ticket("2")
    assert [c.body for c in ticket.comments[-130:]] == [f"update {n}" for n in range(130)]
    assert len(freshdesk.knobs.received("GET", "/conversations")) == 2


def test_429_with_retry_after_is_waited_out(freshdesk: FreshdeskSandbox):
    freshdesk.knobs.update({"rate_limit": 2, "rate_window_s": 0.3, "retry_after_s": 1})
    helpdesk = FreshdeskHelpdesk(freshdesk.url, api_key=freshdesk.auth[0], gate=contract_gate())
    for _ in range(3):
        helpdesk.get_ticket("1")
    limited = [e for e in freshdesk.knobs.received("GET")]
    assert len(limited) > 3  # some answers were 429 and were retried
    helpdesk.write("1", TicketWrite(comment="Still here.", public=False))
    assert freshdesk.state.conversations_of(1)[-1]["private"] is True
