"""The helpdesk contract against a real django-helpdesk 2.6.1 server on loopback."""

from __future__ import annotations

import json

import pytest

from bridge.connectors import markers
from bridge.connectors.base import TicketWrite
from bridge.connectors.django_helpdesk import DjangoHelpdesk
from tests.contract.helpdesk_contract import (
    AGENT_REPLY,
    CUSTOMER_TEXT,
    INTERNAL_NOTE,
    HeldMessage,
    HelpdeskContract,
    HelpdeskServer,
    contract_gate,
)
from tests.fixtures.django_helpdesk import (  # noqa: F401
    DjangoHelpdeskServer,
    django_helpdesk,
    django_helpdesk_server,
    email_text,
)

#: django-helpdesk's statuses in the normalised vocabulary (1 Open, 2 Reopened, 3 Resolved,
#: 4 Closed, 5 Duplicate).
STATUS = {1: "open", 2: "open", 3: "solved", 4: "closed", 5: "closed"}


class DjangoServer(HelpdeskServer):
    field_key = "device_id"
    malformed_ids = ("12abc", "../12", "", "1 OR 1=1", "BR-", "0")

    def __init__(self, server: DjangoHelpdeskServer) -> None:
        self.server = server
        self._created: list[str] = []

    def new_ticket(self) -> str:
        ticket = self.server.create_ticket(description=CUSTOMER_TEXT)
        self.server.add_followup(ticket["id"], AGENT_REPLY, public=True)
        self.server.add_followup(ticket["id"], INTERNAL_NOTE, public=False)
        self._created.append(str(ticket["id"]))
        return str(ticket["id"])

    def messages(self, ticket_id: str) -> list[HeldMessage]:
        followups = sorted(self.server.ticket(ticket_id)["followup_set"], key=lambda f: f["id"])[1:]
        # The comment as stored, without the invisible marker run; status-only and tags-only
        # follow-ups are not messages.
        held = [HeldMessage(markers.split(f["comment"] or "")[0], f["public"]) for f in followups]
        return [m for m in held if m.text.strip() and not m.text.startswith("Tags changed by the bridge")]

    def status(self, ticket_id: str) -> str:
        return STATUS[self.server.ticket(ticket_id)["status"]]

    def field(self, ticket_id: str, key: str) -> object:
        return self.server.ticket(ticket_id)[f"custom_{key}"]

    def touch(self, ticket_id: str) -> None:
        self.server.add_followup(ticket_id, "Another agent looked at this.", public=False)

    def everything_sent(self) -> str:
        # No request journal on a real server: what it holds for our tickets is what reached it.
        return json.dumps([self.server.ticket(t) for t in self._created])

    def with_bad_credentials(self) -> DjangoHelpdesk:
        return DjangoHelpdesk(self.server.url, token="0" * 40, gate=contract_gate(), retries=0)


class TestDjangoHelpdeskContract(HelpdeskContract):
    @pytest.fixture
    def server(self, django_helpdesk: DjangoHelpdeskServer) -> DjangoServer:  # noqa: F811
        return DjangoServer(django_helpdesk)

    @pytest.fixture
    def helpdesk(self, django_helpdesk: DjangoHelpdeskServer) -> DjangoHelpdesk:  # noqa: F811
        return DjangoHelpdesk(django_helpdesk.url, token=django_helpdesk.token, gate=contract_gate(), retries=1)

    def test_the_queue_prefixed_id_is_accepted(self, helpdesk: DjangoHelpdesk, ticket: str):
        assert helpdesk.validate_ticket_id(f"BR-{ticket}") == ticket

    def test_a_public_reply_emails_the_submitter_and_a_note_does_not(self, helpdesk: DjangoHelpdesk,
                                                                      django_helpdesk: DjangoHelpdeskServer,  # noqa: F811
                                                                      ticket: str):
        before = len(django_helpdesk.emails(ticket_id=ticket))
        helpdesk.write(ticket, TicketWrite(comment="Internal only: SUP-12.", public=False))
        helpdesk.write(ticket, TicketWrite(comment="We are working on a fix.", public=True,
                                           add_tags=("bridge_acknowledged",)))
        new = django_helpdesk.emails(ticket_id=ticket)[before:]
        assert [str(m["To"]) for m in new] == ["alice.adams@acme.example"]
        text = email_text(new[0])
        assert "We are working on a fix." in text and "SUP-12" not in text

    def test_resolving_sends_the_resolution_email_and_records_the_change(self, helpdesk: DjangoHelpdesk,
                                                                         django_helpdesk: DjangoHelpdeskServer,  # noqa: F811
                                                                         ticket: str):
        helpdesk.write(ticket, TicketWrite(comment="Fixed in release 5.3.", public=True, status="solved"))
        subjects = [str(m["Subject"]) for m in django_helpdesk.emails(ticket_id=ticket)]
        assert any("(Resolved)" in s for s in subjects)
        raw = django_helpdesk.ticket(ticket)
        assert raw["status"] == 3 and "Fixed in release 5.3." in raw["resolution"]
        assert raw["title"] == "Export to CSV crashes the app"  # a follow-up never renames the ticket

