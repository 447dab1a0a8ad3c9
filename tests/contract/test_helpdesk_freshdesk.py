"""The helpdesk contract against the Freshdesk emulator."""

from __future__ import annotations

import json

import pytest

from bridge.connectors.freshdesk import FreshdeskHelpdesk
from bridge.sandbox.freshdesk import DEMO_CREDENTIALS, OPEN, SOURCE_REPLY
from tests.contract.helpdesk_contract import (
    AGENT_REPLY,
    CUSTOMER_TEXT,
    INTERNAL_NOTE,
    HeldMessage,
    HelpdeskContract,
    HelpdeskServer,
    contract_gate,
)
from tests.fixtures.freshdesk_sandbox import FreshdeskSandbox, freshdesk, freshdesk_service  # noqa: F401

#: Freshdesk's status codes in the normalised vocabulary (2 Open, 3 Pending, 4 Resolved, 5 Closed).
STATUS = {2: "open", 3: "pending", 4: "solved", 5: "closed"}


class FreshdeskServer(HelpdeskServer):
    field_key = "cf_impacted_device_id"

    def __init__(self, sandbox: FreshdeskSandbox) -> None:
        self.sandbox = sandbox
        self.state = sandbox.state

    def new_ticket(self) -> str:
        agent = self.state.agent_by_email("frank@example.com")
        ticket = self.state.create_ticket({"subject": "Export to CSV crashes the app", "description": CUSTOMER_TEXT,
                                           "email": "alice.adams@acme.example", "status": OPEN, "priority": 2})
        self.state.add_conversation(ticket["id"], AGENT_REPLY, user_id=agent["id"], private=False, source=SOURCE_REPLY)
        self.state.add_conversation(ticket["id"], INTERNAL_NOTE, user_id=agent["id"], private=True)
        return str(ticket["id"])

    def messages(self, ticket_id: str) -> list[HeldMessage]:
        from bridge.connectors.markers import split

        # body_text as Freshdesk holds it, without the invisible marker run.
        return [HeldMessage(split(c["body_text"])[0].strip(), not c["private"])
                for c in self.state.conversations_of(int(ticket_id))]

    def status(self, ticket_id: str) -> str:
        return STATUS[self.state.ticket(int(ticket_id))["status"]]

    def field(self, ticket_id: str, key: str) -> object:
        return self.state.ticket(int(ticket_id))["custom_fields"][key]

    def touch(self, ticket_id: str) -> None:
        self.state.update_ticket(int(ticket_id), {"priority": 1})

    def everything_sent(self) -> str:
        return json.dumps([e.body for e in self.sandbox.knobs.received() if e.method in ("POST", "PUT")])

    def with_bad_credentials(self) -> FreshdeskHelpdesk:
        return FreshdeskHelpdesk(self.sandbox.url, api_key="not-the-key", gate=contract_gate(), retries=0)


class TestFreshdeskContract(HelpdeskContract):
    @pytest.fixture
    def server(self, freshdesk: FreshdeskSandbox) -> FreshdeskServer:  # noqa: F811
        return FreshdeskServer(freshdesk)

    @pytest.fixture
    def helpdesk(self, freshdesk: FreshdeskSandbox) -> FreshdeskHelpdesk:  # noqa: F811
        return FreshdeskHelpdesk(freshdesk.url, api_key=DEMO_CREDENTIALS["api_key"], gate=contract_gate(), retries=1)
