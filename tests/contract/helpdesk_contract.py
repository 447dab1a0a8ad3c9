"""The contract every :class:`~bridge.connectors.base.Helpdesk` implementation passes.

Like vdirsyncer's ``StorageTests``: one base class of tests, one small subclass per
helpdesk (``test_helpdesk_zendesk.py``, ``…_freshdesk.py``, ``…_django_helpdesk.py``) that
provides two fixtures:

``helpdesk``
    the connector under test, built with a real :class:`OutboundGate`, pointed at a real
    server on loopback (an emulator or django-helpdesk itself);
``server``
    a :class:`HelpdeskServer`: makes a fresh ticket and shows what the server holds,
    read *without* the connector (the emulator's state, or the API read raw), so a
    connector cannot pass by agreeing with itself.

The tests speak only the connector's normalised vocabulary; what differs between helpdesks
(how a fresh ticket is made, the names of statuses on the wire) lives in the subclasses.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

import pytest

from bridge.connectors.base import Conflict, Helpdesk, TicketWrite
from bridge.errors import CredentialsRefused, InvalidValue, UnknownTicket
from bridge.policy.visibility import OutboundGate, OutboundRefused

CUSTOMER_TEXT = "Every time I click Export > CSV the app closes. Call me on +1 415 555 0100."
AGENT_REPLY = "Hi, which version of the app are you on?"
INTERNAL_NOTE = "Internal: looks like the CSV writer; checking with engineering."
SENTRY_URL = "https://acme.sentry.io/issues/4505/"


def contract_gate() -> OutboundGate:
    """The gate the contract's connectors use: Sentry project BACKEND and issue 4505 known."""
    return OutboundGate(known_short_id_prefixes=("BACKEND",), known_ids=("4505",))


@dataclass(frozen=True)
class HeldMessage:
    """One conversation entry as the server holds it (after the description)."""

    text: str
    public: bool


class HelpdeskServer(abc.ABC):
    """The server side of the contract, implemented per helpdesk by the test modules."""

    #: A custom field key the connector reads and writes (in ``Ticket.custom_fields``).
    field_key: str = ""
    #: A malformed ticket id for this helpdesk (an ``InvalidValue``).
    malformed_ids: tuple[str, ...] = ("12abc", "../12", "", "1 OR 1=1")
    #: A well-formed id no ticket has.
    unknown_id: str = "987654"

    @abc.abstractmethod
    def new_ticket(self) -> str:
        """A fresh ticket: CUSTOMER_TEXT from the customer, then AGENT_REPLY (public), then
        INTERNAL_NOTE (internal). Returns its id."""

    @abc.abstractmethod
    def messages(self, ticket_id: str) -> list[HeldMessage]:
        """The conversation after the description, oldest first, as the server holds it."""

    @abc.abstractmethod
    def status(self, ticket_id: str) -> str:
        """The ticket's status on the server, in the normalised vocabulary."""

    @abc.abstractmethod
    def field(self, ticket_id: str, key: str) -> object:
        """A custom field's value on the server."""

    @abc.abstractmethod
    def touch(self, ticket_id: str) -> None:
        """Change the ticket behind the connector's back (another agent's edit)."""

    @abc.abstractmethod
    def everything_sent(self) -> str:
        """All text the server was sent or holds from writes (for the gate test)."""

    @abc.abstractmethod
    def with_bad_credentials(self) -> Helpdesk:
        """The connector under test, built with credentials the server refuses."""


class HelpdeskContract:
    """The tests. Subclasses provide the ``helpdesk`` and ``server`` fixtures."""

    @pytest.fixture
    def ticket(self, server: HelpdeskServer) -> str:
        return server.new_ticket()

    # -- reading ------------------------------------------------------------------------
    def test_reads_the_ticket_and_its_conversation_in_order(self, helpdesk: Helpdesk, ticket: str):
        read = helpdesk.get_ticket(ticket)
        assert read.id == ticket and read.helpdesk == helpdesk.kind
        assert read.status in ("new", "open")
        bodies = [c.body.strip() for c in read.comments]
        assert bodies[0] == CUSTOMER_TEXT and read.comments[0].by_customer and read.comments[0].public
        assert bodies[1:] == [AGENT_REPLY, INTERNAL_NOTE]
        assert [c.public for c in read.comments[1:]] == [True, False]
        assert not read.comments[1].by_customer
        assert read.created is not None and read.created.tzinfo is not None
        assert read.version
        assert read.url == helpdesk.ticket_url(ticket)

    def test_ids_are_canonical(self, helpdesk: Helpdesk, ticket: str):
        assert helpdesk.validate_ticket_id(f" #{ticket} ") == ticket
        assert helpdesk.get_ticket(f"#{ticket}").id == ticket

    # -- comments: public and internal ----------------------------------------------------
    def test_an_internal_note_stays_internal(self, helpdesk: Helpdesk, server: HelpdeskServer, ticket: str):
        helpdesk.write(ticket, TicketWrite(comment="Internal: escalated as SUP-12.", public=False))
        held = server.messages(ticket)[-1]
        assert held == HeldMessage("Internal: escalated as SUP-12.", False)
        last = helpdesk.get_ticket(ticket).comments[-1]
        assert (last.body, last.public) == ("Internal: escalated as SUP-12.", False)

    def test_a_public_reply_is_public(self, helpdesk: Helpdesk, server: HelpdeskServer, ticket: str):
        helpdesk.write(ticket, TicketWrite(comment="We have passed this to engineering.", public=True))
        assert server.messages(ticket)[-1] == HeldMessage("We have passed this to engineering.", True)
        last = helpdesk.get_ticket(ticket).comments[-1]
        assert (last.body, last.public) == ("We have passed this to engineering.", True)

    def test_text_survives_the_round_trip_unchanged(self, helpdesk: Helpdesk, server: HelpdeskServer, ticket: str):
        text = "Line one\nLine <two> & \"three\"\n{{ ticket.submitter_email }} {% now 'Y' %} {# x #} 100%}"
        helpdesk.write(ticket, TicketWrite(comment=text, public=False))
        assert helpdesk.get_ticket(ticket).comments[-1].body == text
        # Nothing the server renders (a template variable) may have been filled in.
        assert "@" not in server.messages(ticket)[-1].text

    # -- status, tags, fields -------------------------------------------------------------
    def test_status_changes_and_reads_back(self, helpdesk: Helpdesk, server: HelpdeskServer, ticket: str):
        helpdesk.write(ticket, TicketWrite(status="solved"))
        assert server.status(ticket) == "solved"
        assert helpdesk.get_ticket(ticket).status == "solved"
        helpdesk.write(ticket, TicketWrite(status="open", comment="Reopened: the fix did not hold.", public=False))
        assert server.status(ticket) == "open"
        assert helpdesk.get_ticket(ticket).status == "open"

    def test_tags_are_merged_not_replaced(self, helpdesk: Helpdesk, ticket: str):
        before = set(helpdesk.get_ticket(ticket).tags)
        helpdesk.write(ticket, TicketWrite(add_tags=("bridge_a",)))
        helpdesk.write(ticket, TicketWrite(comment="Internal: second tag.", add_tags=("bridge_b",)))
        assert set(helpdesk.get_ticket(ticket).tags) == before | {"bridge_a", "bridge_b"}
        helpdesk.write(ticket, TicketWrite(remove_tags=("bridge_a",)))
        assert set(helpdesk.get_ticket(ticket).tags) == before | {"bridge_b"}
        helpdesk.write(ticket, TicketWrite(remove_tags=("bridge_b",)))
        assert set(helpdesk.get_ticket(ticket).tags) == before

    def test_custom_fields_are_written(self, helpdesk: Helpdesk, server: HelpdeskServer, ticket: str):
        helpdesk.write(ticket, TicketWrite(fields={server.field_key: "WS-4471-ACME"}))
        assert server.field(ticket, server.field_key) == "WS-4471-ACME"
        assert helpdesk.get_ticket(ticket).custom_fields[server.field_key] == "WS-4471-ACME"

    # -- exactly once ------------------------------------------------------------------------
    def test_a_message_marked_with_a_tag_is_sent_exactly_once(self, helpdesk: Helpdesk, server: HelpdeskServer,
                                                               ticket: str):
        # The escalation flow's pattern: re-read, skip when the marker is there, else write
        # the message and its marker together, conditional on the version just read.
        for _ in range(3):
            current = helpdesk.get_ticket(ticket)
            if "bridge_acknowledged" in current.tags:
                continue
            helpdesk.write(ticket, TicketWrite(comment="We are on it.", public=True,
                                               add_tags=("bridge_acknowledged",), if_version=current.version))
        assert "bridge_acknowledged" in helpdesk.get_ticket(ticket).tags
        assert [m for m in server.messages(ticket) if m.text == "We are on it."] == [HeldMessage("We are on it.", True)]

    def test_a_stale_version_is_a_conflict_and_writes_nothing(self, helpdesk: Helpdesk, server: HelpdeskServer,
                                                              ticket: str):
        stale = helpdesk.get_ticket(ticket).version
        server.touch(ticket)
        held = server.messages(ticket)
        with pytest.raises(Conflict):
            helpdesk.write(ticket, TicketWrite(comment="Should not land.", public=True, if_version=stale))
        assert server.messages(ticket) == held
        fresh = helpdesk.get_ticket(ticket).version
        assert fresh != stale
        helpdesk.write(ticket, TicketWrite(comment="Lands.", public=True, if_version=fresh))
        assert server.messages(ticket)[-1] == HeldMessage("Lands.", True)

    # -- errors --------------------------------------------------------------------------------
    def test_an_unknown_ticket_is_unknown(self, helpdesk: Helpdesk, server: HelpdeskServer):
        with pytest.raises(UnknownTicket):
            helpdesk.get_ticket(server.unknown_id)
        with pytest.raises(UnknownTicket):
            helpdesk.write(server.unknown_id, TicketWrite(comment="Nobody home.", public=False))

    def test_a_malformed_id_is_refused_before_any_request(self, helpdesk: Helpdesk, server: HelpdeskServer):
        for bad in server.malformed_ids:
            with pytest.raises(InvalidValue):
                helpdesk.get_ticket(bad)
            with pytest.raises(InvalidValue):
                helpdesk.write(bad, TicketWrite(comment="x", public=False))

    def test_bad_credentials_are_refused(self, server: HelpdeskServer, ticket: str):
        with pytest.raises(CredentialsRefused):
            server.with_bad_credentials().get_ticket(ticket)

    # -- the gate --------------------------------------------------------------------------------
    @pytest.mark.parametrize("public", [True, False])
    def test_no_sentry_reference_reaches_the_helpdesk(self, helpdesk: Helpdesk, server: HelpdeskServer,
                                                      ticket: str, public: bool):
        text = f"Engineering tracks this at {SENTRY_URL} (BACKEND-1A2)."
        try:
            helpdesk.write(ticket, TicketWrite(comment=text, public=public))
        except OutboundRefused:
            pass  # refusing is allowed; sending it is not
        sent = server.everything_sent()
        for reference in ("sentry.io", "4505", "BACKEND-1A2"):
            assert reference not in sent
        for message in server.messages(ticket):
            assert "sentry" not in message.text.lower()
