"""The demo help desk the Zendesk emulator is seeded with, and its credentials.

Ids are stable (tickets from 101, users from 1001, organisations from 201) so the demo
story, the documentation and the tests can name them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from bridge.sandbox.zendesk_format import DEFAULT_CUSTOM_STATUSES

if TYPE_CHECKING:  # the state module imports this one to seed itself
    from bridge.sandbox.zendesk_state import ZendeskState

#: Credentials of the demo integration user (an admin). ``token`` is the account's API
#: token (basic auth ``bridge@example.com/token:<token>``); ``oauth_token`` a bearer token.
DEMO_CREDENTIALS = {
    "email": "bridge@example.com",
    "token": "sandbox-zendesk-api-token-7f3a",
    "oauth_token": "sandbox-zendesk-oauth-2b91",
}
#: An OAuth token that authenticates as a demo *end-user* (a customer), who may not use
#: agent endpoints: tests use it to see Zendesk's 403.
DEMO_END_USER_OAUTH_TOKEN = "sandbox-zendesk-enduser-oauth-5c0d"
#: Ticket field ids of the demo account (custom fields).
FIELD_CATEGORY, FIELD_DEVICE, FIELD_OS, FIELD_JIRA_KEY = 360001, 360002, 360003, 360004


def seed(state: "ZendeskState") -> None:
    """Build the demo account: agents, customers, organizations, fields and tickets.

    Ids are stable (tickets from 101, users from 1001) so the demo story and tests can
    name them. Ticket 101's conversation carries customer PII and an agent's internal
    note with a Sentry link, which the bridge must never echo to the customer.
    """
    with state.lock:
        state.reset()
        now = state.now()
        state.api_tokens.add(DEMO_CREDENTIALS["token"])
        acme = state.add_organization("Acme Corp", tags=["premium"], domains=["acme.example"],
                                      fields={"support_tier": "premium", "region": "us"})
        globex = state.add_organization("Globex", tags=["standard"], domains=["globex.example"],
                                        fields={"support_tier": "standard", "region": "eu"})
        initech = state.add_organization("Initech", domains=["initech.example"],
                                         fields={"support_tier": "basic", "region": "us"})
        support = state.add_group("Support", description="Front-line support")
        escalations = state.add_group("Escalations", description="Escalation managers")
        bridge = state.add_user("Bridge Integration", "bridge@example.com", role="admin",
                                groups=[support["id"], escalations["id"]])
        erin = state.add_user("Erin Escalation", "erin@example.com", role="agent",
                              groups=[escalations["id"]], time_zone="America/New_York")
        frank = state.add_user("Frank Frontline", "frank@example.com", role="agent",
                               groups=[support["id"]], time_zone="America/Los_Angeles")
        alice = state.add_user("Alice Adams", "alice.adams@acme.example", locale="en-US",
                               organization_id=acme["id"], phone="+1 415 555 0100")
        bob = state.add_user("Bob Brown", "bob.brown@acme.example", locale="en-US",
                             organization_id=acme["id"])
        jana = state.add_user("Jana Schmidt", "jana.schmidt@globex.example", locale="de",
                              organization_id=globex["id"], time_zone="Europe/Berlin")
        ian = state.add_user("Ian Ito", "ian.ito@initech.example", locale="en-US",
                             organization_id=initech["id"])
        state.oauth_tokens[DEMO_CREDENTIALS["oauth_token"]] = bridge["id"]
        state.oauth_tokens[DEMO_END_USER_OAUTH_TOKEN] = alice["id"]

        for field_id, title, kind in (
            (360000101, "Subject", "subject"), (360000102, "Description", "description"),
            (360000103, "Status", "status"), (360000104, "Type", "tickettype"),
            (360000105, "Priority", "priority"), (360000106, "Group", "group"),
            (360000107, "Assignee", "assignee"),
        ):
            state.add_ticket_field(field_id, title, kind, removable=False)
        state.add_ticket_field(FIELD_CATEGORY, "Category", "tagger", options=[
             ("Bug", "category_bug"), ("Question", "category_question"),
             ("Incident", "category_incident"), ("Feature request", "category_feature_request"),
         ])
        state.add_ticket_field(FIELD_DEVICE, "Impacted device ID")
        state.add_ticket_field(FIELD_OS, "Operating system")
        state.add_ticket_field(FIELD_JIRA_KEY, "JIRA key")

        def ticket(subject: str, requester: dict, conversation: list[tuple[dict, str, bool]],
                   opened_days_ago: float, **fields: Any) -> dict:
            start = now - timedelta(days=opened_days_ago)
            author, body, public = conversation[0]
            created, _ = state.create_ticket(
                {"subject": subject, "requester_id": requester["id"],
                 "comment": {"body": body, "public": public, "author_id": author["id"]}, **fields},
                requester["id"], at=start, channel="email")
            for step, (author, body, public) in enumerate(conversation[1:], start=1):
                moment = start + timedelta(hours=2 * step)
                state.add_comment(created["id"], {"body": body, "public": public}, author["id"],
                                  at=moment, channel="web")
            return created

        ticket(
            "Export to CSV crashes the app", alice,
            [
                (alice, "Hi, every time I click Export > CSV in the reports view the desktop app "
                        "closes without any message. Please call me back on +1 415 555 0100 or "
                        "write to alice.adams@acme.example.", True),
                (frank, "Hi Alice, thanks for reporting this. Which version of the app are you "
                        "on, and does it happen with every report?", True),
                (alice, "Version 5.2.1 on Windows 11, every report. Our Munich office "
                        "(Tel. +49 89 1234567-0, buero.muenchen@acme.example) sees it too; "
                        "my colleague bob.brown@acme.example can reproduce it.", True),
                (erin, "Internal: this matches Sentry https://acme.sentry.io/issues/4505/ "
                 "(BACKEND-1A2), NoneType in the CSV writer. Escalating to engineering.",
                 False),
            ],
            opened_days_ago=3, priority="high", type="problem", assignee_id=frank["id"],
            group_id=support["id"], tags=["csv", "crash", "desktop_app"],
            custom_fields=[{"id": FIELD_CATEGORY, "value": "category_bug"},
                           {"id": FIELD_DEVICE, "value": "WS-4471-ACME"},
                           {"id": FIELD_OS, "value": "Windows 11"}],
        )
        ticket(
            "[Emergency] Payments failing for all users", bob,
            [
                (bob, "Since 09:40 UTC no customer can pay: every checkout ends with "
                 "'payment declined'. This is costing us revenue, please treat as an "
                 "emergency.", True),
                (erin, "Hi Bob, we are on it and will update you within the hour.", True),
            ],
            opened_days_ago=0.1, priority="urgent", type="incident", assignee_id=erin["id"],
            group_id=escalations["id"], tags=["payments", "emergency"],
            custom_fields=[{"id": FIELD_CATEGORY, "value": "category_incident"}],
        )
        solved = ticket(
            "How do I reset my password?", ian,
            [
                (ian, "I forgot my password and the reset e-mail never arrives.", True),
                (frank, "Hi Ian, I have re-sent the reset link; please check your spam "
                        "folder too.", True),
                (ian, "Got it, thanks!", True),
            ],
            opened_days_ago=10, priority="low", type="question", assignee_id=frank["id"],
            group_id=support["id"], tags=["password"],
            custom_fields=[{"id": FIELD_CATEGORY, "value": "category_question"}],
        )
        solved.update(status="solved", custom_status_id=DEFAULT_CUSTOM_STATUSES["solved"])
        state._bump(solved, now - timedelta(days=9))
        ticket(
            "Synchronisation schlägt nach dem Update fehl", jana,
            [
                (jana, "Hallo, seit dem Update auf 5.2 bricht die Synchronisation mit "
                 "\"Fehler 0x80070005\" ab. Sie erreichen mich unter +49 30 1234567 "
                 "oder jana.schmidt@globex.example.", True),
                (frank, "Hallo Frau Schmidt, danke für die Meldung. Tritt der Fehler auf "
                        "allen Geräten auf?", True),
            ],
            opened_days_ago=1, priority="normal", type="problem", assignee_id=frank["id"],
            group_id=support["id"], tags=["sync", "windows"],
            custom_fields=[{"id": FIELD_CATEGORY, "value": "category_bug"},
                           {"id": FIELD_OS, "value": "Windows 10"}],
        )
        ticket(
            "Dashboard loads slowly in Safari", alice,
            [(alice, "The dashboard takes about 20 seconds to load in Safari 17.", True)],
            opened_days_ago=0.5, priority="normal", tags=["performance"],
        )
