"""A customer's text never carries the bridge's marker runs (Freshdesk, django-helpdesk).

These helpdesks keep the bridge's exactly-once markers as invisible runs inside the
bridge's own messages, so the bridge's public replies reach the customer with the runs
in them. A customer's e-mailed reply quotes them, or a customer pastes one: read as the
bridge's, a state marker the bridge removed would come back (and the next announcement
of that state be skipped as already on the ticket), or an acknowledgement never be sent.
Real HTTP on loopback: the Freshdesk emulator, and django-helpdesk 2.6.1 with its own
mail intake.
"""

from __future__ import annotations

from bridge.connectors import markers
from bridge.connectors.base import TicketWrite
from bridge.connectors.django_helpdesk import DjangoHelpdesk
from bridge.connectors.freshdesk import FreshdeskHelpdesk
from bridge.sandbox.freshdesk import DEMO_CREDENTIALS, OPEN
from tests.contract.helpdesk_contract import contract_gate
from tests.fixtures.django_helpdesk import customer_reply, django_helpdesk, django_helpdesk_server  # noqa: F401
from tests.fixtures.freshdesk_sandbox import FreshdeskSandbox, freshdesk, freshdesk_service  # noqa: F401

CUSTOMER = "alice.adams@acme.example"


def _freshdesk_ticket(site: FreshdeskSandbox):
    helpdesk = FreshdeskHelpdesk(site.url, api_key=DEMO_CREDENTIALS["api_key"], gate=contract_gate(),
                                 retries=1)
    ticket = site.state.create_ticket({"subject": "Export crashes", "description": "It crashes",
                                            "email": CUSTOMER, "status": OPEN, "priority": 2})
    return helpdesk, ticket


def test_a_freshdesk_reply_quoting_an_announcement_does_not_bring_its_marker_back(freshdesk):  # noqa: F811
    helpdesk, ticket = _freshdesk_ticket(freshdesk)
    ticket_id = str(ticket["id"])
    helpdesk.write(ticket_id, TicketWrite(comment="We are working on it.", public=True,
                                          add_tags=("bridge_state_in_progress",)))
    first_reply = freshdesk.state.conversations_of(ticket["id"])[-1]["body"]  # as e-mailed to the customer
    helpdesk.write(ticket_id, TicketWrite(comment="The fix is in QA.", public=True, add_tags=("bridge_state_in_qa",),
                                          remove_tags=("bridge_state_in_progress",)))
    freshdesk.state.add_conversation(ticket["id"], f"<div>Thanks, any news?</div><blockquote>{first_reply}</blockquote>",
                                     user_id=ticket["requester_id"], private=False, incoming=True)
    read = helpdesk.get_ticket(ticket_id)
    assert "bridge_state_in_qa" in read.tags and "bridge_state_in_progress" not in read.tags
    assert any("any news?" in c.body and c.by_customer for c in read.comments)  # the words still reach the Bug


def test_a_marker_a_freshdesk_customer_pastes_is_not_the_bridges(freshdesk):  # noqa: F811
    helpdesk, ticket = _freshdesk_ticket(freshdesk)
    freshdesk.state.add_conversation(ticket["id"], "<div>hello" + markers.encode(["+bridge_acknowledged"]) + "</div>",
                                     user_id=ticket["requester_id"], private=False, incoming=True)
    assert "bridge_acknowledged" not in helpdesk.get_ticket(str(ticket["id"])).tags


def test_a_django_helpdesk_e_mail_quoting_an_announcement_does_not_bring_its_marker_back(django_helpdesk):  # noqa: F811
    site = django_helpdesk
    helpdesk = DjangoHelpdesk(site.url, token=site.token, gate=contract_gate(), retries=1)
    ticket_id = str(site.create_ticket(submitter_email=CUSTOMER)["id"])
    helpdesk.write(ticket_id, TicketWrite(comment="We are working on it.", public=True,
                                          add_tags=("bridge_state_in_progress",)))
    sent = [m for m in site.emails(ticket_id=ticket_id, to=CUSTOMER)
            if "working on it" in m.get_body(("plain",)).get_content()][-1]
    quoted = sent.get_body(("plain",)).get_content()
    helpdesk.write(ticket_id, TicketWrite(comment="The fix is in QA.", public=True, add_tags=("bridge_state_in_qa",),
                                          remove_tags=("bridge_state_in_progress",)))
    site.receive_email(customer_reply(
        sent, ticket_id, "Thanks, any news?\n\n" + "\n".join("> " + line for line in quoted.splitlines())))
    read = helpdesk.get_ticket(ticket_id)
    assert "bridge_state_in_qa" in read.tags and "bridge_state_in_progress" not in read.tags
