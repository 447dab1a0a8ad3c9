"""The helpdesk contract against the Zendesk emulator."""

from __future__ import annotations

import json

import pytest

from bridge.connectors.zendesk import ZendeskHelpdesk
from bridge.sandbox.zendesk import DEMO_CREDENTIALS, FIELD_DEVICE
from tests.contract.helpdesk_contract import (
    AGENT_REPLY,
    CUSTOMER_TEXT,
    INTERNAL_NOTE,
    HeldMessage,
    HelpdeskContract,
    HelpdeskServer,
    contract_gate,
)
from tests.fixtures.zendesk_sandbox import ZendeskSandbox, zendesk, zendesk_service  # noqa: F401


class ZendeskServer(HelpdeskServer):
    field_key = str(FIELD_DEVICE)

    def __init__(self, sandbox: ZendeskSandbox) -> None:
        self.sandbox = sandbox
        self.state = sandbox.state

    def new_ticket(self) -> str:
        customer = self.state.user_by_email("alice.adams@acme.example")
        agent = self.state.user_by_email("frank@example.com")
        ticket, _ = self.state.create_ticket(
            {"subject": "Export to CSV crashes the app", "requester_id": customer["id"],
             "comment": {"body": CUSTOMER_TEXT}}, customer["id"])
        for body, public in ((AGENT_REPLY, True), (INTERNAL_NOTE, False)):
            self.state.update_ticket(ticket["id"], {"comment": {"body": body, "public": public}}, agent["id"])
        return str(ticket["id"])

    def messages(self, ticket_id: str) -> list[HeldMessage]:
        return [HeldMessage(c["body"], c["public"]) for c in self.state.comments(int(ticket_id))[1:]]

    def status(self, ticket_id: str) -> str:
        return self.state.ticket(int(ticket_id))["status"]

    def field(self, ticket_id: str, key: str) -> object:
        return {f["id"]: f["value"] for f in self.state.ticket(int(ticket_id))["custom_fields"]}[int(key)]

    def touch(self, ticket_id: str) -> None:
        agent = self.state.user_by_email("frank@example.com")
        self.state.update_ticket(int(ticket_id), {"priority": "low"}, agent["id"])

    def everything_sent(self) -> str:
        return json.dumps([e.body for e in self.sandbox.knobs.received() if e.method in ("POST", "PUT")])

    def with_bad_credentials(self) -> ZendeskHelpdesk:
        return ZendeskHelpdesk(self.sandbox.url, email=DEMO_CREDENTIALS["email"], token="not-the-token",
                               gate=contract_gate(), retries=0)


class TestZendeskContract(HelpdeskContract):
    @pytest.fixture
    def server(self, zendesk: ZendeskSandbox) -> ZendeskServer:  # noqa: F811
        return ZendeskServer(zendesk)

    @pytest.fixture
    def helpdesk(self, zendesk: ZendeskSandbox) -> ZendeskHelpdesk:  # noqa: F811
        return ZendeskHelpdesk(zendesk.url, email=DEMO_CREDENTIALS["email"], token=DEMO_CREDENTIALS["token"],
                               gate=contract_gate(), retries=1)
