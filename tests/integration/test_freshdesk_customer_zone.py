"""Policy 002's Standard hours are the customer's: for a Freshdesk ticket that is the
requester contact's ``time_zone``, which Freshdesk gives as a Rails (ActiveSupport) zone
name ("Chennai"), mapped to its IANA zone ("Asia/Kolkata") and kept with the escalation.
Over real HTTP against the sandbox's Freshdesk emulator with a real SQLite store.

Freshdesk's ``include=requester`` embeds only the requester's email, id, mobile, name and
phone, so the connector reads the contact once, when a ticket is escalated; sync never does.

The ticket is opened on a Wednesday at 12:00 UTC: 17:30 in Chennai (after the customer's
08:00-17:00) but 14:00 in Warsaw (the profile's fallback, open), so a clock counted in the
wrong zone cannot come out the same by chance.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from click.testing import CliRunner

from bridge.cli import main
from bridge.config import load_config
from bridge.escalation import EscalationRequest
from bridge.mapping import load_profile
from bridge.policy.sla import due
from bridge.services import Services
from bridge.sandbox.freshdesk import DEMO_CONTACT_API_KEY, OPEN
from tests.conftest import ACTOR
from tests.fixtures.customer_zone import assert_told_in_customer_hours, standard_tier_mappings
from tests.fixtures.freshdesk_sandbox import FreshdeskSandbox, freshdesk, freshdesk_service  # noqa: F401

ZONE = "Asia/Kolkata"
#: A Wednesday (not a Polish holiday), 12:00 UTC.
OPENED = datetime(2025, 6, 11, 12, 0, tzinfo=timezone.utc)
#: Keys of a contact in Freshdesk's "View a Contact".
CONTACT_KEYS = {"active", "address", "company_id", "view_all_tickets", "description", "email", "id", "job_title",
                "language", "mobile", "name", "phone", "time_zone", "twitter_id", "other_emails", "created_at",
                "updated_at", "custom_fields", "tags", "avatar"}


def standard_tier_env(sandbox, tmp_path) -> dict[str, str]:
    return {**sandbox.env(helpdesk="freshdesk"), "BRIDGE_STORE_URL": f"sqlite:///{tmp_path / 'b.db'}",
            "BRIDGE_BRIDGE_ACTOR": ACTOR, "PATH": os.environ.get("PATH", ""), **standard_tier_mappings(tmp_path)}


def ticket_of_a_requester_in(state, rails_zone: str) -> str:
    """A new ticket, opened at OPENED, whose requester's Freshdesk time zone is ``rails_zone``."""
    contact = state.add_contact("Chitra Iyer", "chitra.iyer@example.com", time_zone=rails_zone)
    ticket = state.create_ticket({"subject": "Reports page is blank", "description": "<div>Since this morning.</div>",
                                  "status": OPEN, "priority": 2, "requester_id": contact["id"]}, at=OPENED)
    return str(ticket["id"])


def test_a_freshdesk_requester_in_chennai_has_the_clocks_of_asia_kolkata(sandbox, tmp_path):
    env = standard_tier_env(sandbox, tmp_path)
    ticket = ticket_of_a_requester_in(sandbox.freshdesk_state, "Chennai")
    services = Services(load_config(None, env=env))
    knobs = sandbox.freshdesk.knobs
    knobs.reset_counters()

    result = services.escalator().escalate(EscalationRequest(ticket=ticket, actor=ACTOR))

    theirs = assert_told_in_customer_hours(services, result, OPENED, ZONE, "freshdesk", ticket)
    # One contact read for the escalation, and it is a read.
    contact_reads = knobs.received(path_contains="/api/v2/contacts/")
    assert [e.method for e in contact_reads] == ["GET"]

    # `bridge sla` counts the escalation's clock in the same zone, and shows it there.
    answer = CliRunner().invoke(main, ["sla", "--json", "--at", OPENED.isoformat()], env=env)
    assert answer.exit_code == 0, answer.output
    [row] = json.loads(answer.output)
    assert row["customer_zone"] == ZONE
    shown = datetime.fromisoformat(row["first_response_due"])
    assert shown == theirs.first_response_due and shown.utcoffset() == theirs.first_response_due.astimezone(ZoneInfo(ZONE)).utcoffset()

    # Sync reads tickets, never contacts: the zone costs no request per ticket there.
    sandbox.freshdesk_state.add_conversation(int(ticket), "Still blank.", user_id=int(
        sandbox.freshdesk_state.ticket(int(ticket))["requester_id"]), private=False, incoming=True)
    knobs.reset_counters()
    assert services.sync_engine().run().exit_code == 0
    assert knobs.received(path_contains="/api/v2/tickets/"), "sync read nothing: the check below proves nothing"
    assert knobs.received(path_contains="/api/v2/contacts") == []


def test_a_zone_freshdesk_gives_as_an_iana_name_is_kept_as_it_is(sandbox, tmp_path):
    env = standard_tier_env(sandbox, tmp_path)
    ticket = ticket_of_a_requester_in(sandbox.freshdesk_state, ZONE)
    services = Services(load_config(None, env=env))
    services.escalator().escalate(EscalationRequest(ticket=ticket, actor=ACTOR))
    assert services.store.escalations.by_ticket("freshdesk", ticket).customer_zone == ZONE


def test_a_zone_name_the_table_does_not_know_falls_back_to_the_profiles(sandbox, tmp_path):
    env = standard_tier_env(sandbox, tmp_path)
    ticket = ticket_of_a_requester_in(sandbox.freshdesk_state, "Olympus Mons (Mars)")
    services = Services(load_config(None, env=env))
    result = services.escalator().escalate(EscalationRequest(ticket=ticket, actor=ACTOR))
    expected = due(load_profile("p1-p4-matrix"), result.severity, "standard", OPENED)
    assert result.first_response_due == expected.first_response_due.isoformat(timespec="minutes")
    assert services.store.escalations.by_ticket("freshdesk", ticket).customer_zone is None


def test_a_requester_contact_freshdesk_no_longer_has_does_not_stop_the_escalation(sandbox, tmp_path):
    env = standard_tier_env(sandbox, tmp_path)
    state = sandbox.freshdesk_state
    ticket = ticket_of_a_requester_in(state, "Chennai")
    with state.lock:
        del state.contacts[state.tickets[int(ticket)]["requester_id"]]  # "View a Contact" now answers 404
    services = Services(load_config(None, env=env))
    result = services.escalator().escalate(EscalationRequest(ticket=ticket, actor=ACTOR))
    assert result.jira_key
    assert services.store.escalations.by_ticket("freshdesk", ticket).customer_zone is None


# -- the emulator answers "View a Contact" as Freshdesk does -------------------------------------
def test_view_a_contact_carries_its_rails_time_zone(freshdesk: FreshdeskSandbox):  # noqa: F811
    contact = freshdesk.state.add_contact("Chitra Iyer", "chitra.iyer@example.com", time_zone="Chennai")
    response = freshdesk.session().get(freshdesk.api(f"contacts/{contact['id']}"))
    assert response.status_code == 200
    body = response.json()
    assert CONTACT_KEYS <= set(body)
    assert body["id"] == contact["id"] and body["time_zone"] == "Chennai"
    # Without a zone of its own a contact has the help desk's (Freshdesk: "the time zone of
    # the domain"), also a Rails name.
    requester = freshdesk.state.ticket(1)["requester_id"]
    seeded = freshdesk.session().get(freshdesk.api(f"contacts/{requester}")).json()
    assert seeded["time_zone"] and "/" not in seeded["time_zone"]
    # The ticket's requester embed stays as Freshdesk documents it: no time zone there.
    embedded = freshdesk.session().get(freshdesk.api("tickets/1"), params={"include": "requester"}).json()
    assert set(embedded["requester"]) == {"id", "name", "email", "mobile", "phone"}


def test_view_a_contact_refuses_as_freshdesk_does(freshdesk: FreshdeskSandbox):  # noqa: F811
    assert freshdesk.session().get(freshdesk.api("contacts/999999")).status_code == 404
    assert freshdesk.session().get(freshdesk.api("contacts/999999")).content == b""
    customer = freshdesk.session()
    customer.auth = (DEMO_CONTACT_API_KEY, "X")
    requester = freshdesk.state.ticket(1)["requester_id"]
    denied = customer.get(freshdesk.api(f"contacts/{requester}"))
    assert denied.status_code == 403 and denied.json()["code"] == "access_denied"
