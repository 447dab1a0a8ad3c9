"""`bridge escalate` from the Freshdesk emulator into the JIRA sandbox, built as the CLI builds it."""

from __future__ import annotations

import os

from bridge.config import load_config
from bridge.connectors import markers
from bridge.escalation import ACK_TAG, EscalationRequest
from bridge.services import Services
from tests.conftest import ACTOR


def test_escalate_from_freshdesk_makes_one_bug_one_note_and_one_reply(sandbox, tmp_path):
    env = {**sandbox.env(helpdesk="freshdesk"), "BRIDGE_STORE_URL": f"sqlite:///{tmp_path / 'b.db'}",
           "BRIDGE_BRIDGE_ACTOR": ACTOR, "PATH": os.environ.get("PATH", "")}
    services = Services(load_config(None, env=env))
    state = sandbox.freshdesk_state
    seeded = len(state.conversations_of(1))

    result = services.escalator().escalate(EscalationRequest(ticket="1", actor=ACTOR))

    label = "bridge-freshdesk-1"
    bugs = [i for i in sandbox.jira_state.all_issues() if label in i["fields"].get("labels", [])]
    assert len(bugs) == 1 and bugs[0]["key"] == result.jira_key
    description = bugs[0]["fields"]["description"]
    assert "alice.adams@acme.example" not in description and "415 555 0100" not in description
    new = state.conversations_of(1)[seeded:]
    assert [c["private"] for c in new] == [True, False]
    assert result.jira_key in new[0]["body_text"]
    assert "sentry" not in new[1]["body_text"].lower() and result.jira_key not in new[1]["body_text"]
    assert f"+{ACK_TAG}" in markers.split(new[1]["body_text"])[1]
    assert ACK_TAG in state.ticket(1)["tags"] and "csv" in state.ticket(1)["tags"]  # merged, not replaced
    assert [m["to"] for m in state.outbox] == ["alice.adams@acme.example"]

    sandbox.freshdesk.knobs.reset_counters()
    again = services.escalator().escalate(EscalationRequest(ticket="1", actor=ACTOR))
    assert again.jira_key == result.jira_key
    assert [e for e in sandbox.freshdesk.knobs.received() if e.method != "GET"] == []
    assert len(state.outbox) == 1


def test_after_a_freshdesk_escalation_only_what_the_customer_writes_next_reaches_the_bug(sandbox, tmp_path):
    """The ticket's description is in the Bug's description already: it is not sent to the Bug
    again as something the customer wrote (its id, ``<ticket>-description``, does not sort
    among the conversations' numeric ids: the conversation's order says what came after)."""
    env = {**sandbox.env(helpdesk="freshdesk"), "BRIDGE_STORE_URL": f"sqlite:///{tmp_path / 'b.db'}",
           "BRIDGE_BRIDGE_ACTOR": ACTOR, "PATH": os.environ.get("PATH", "")}
    services = Services(load_config(None, env=env))
    state = sandbox.freshdesk_state
    key = services.escalator().escalate(EscalationRequest(ticket="1", actor=ACTOR)).jira_key
    description = state.ticket(1)["description_text"]
    state.add_conversation(1, "Still broken after the restart.", user_id=state.ticket(1)["requester_id"],
                           private=False, incoming=True)
    for _ in range(2):
        assert services.sync_engine().run().exit_code == 0
    mirrored = [c["body"] for c in sandbox.jira_state.comments(key)]
    assert sum("Still broken after the restart." in body for body in mirrored) == 1
    assert not any(description[:40] in body for body in mirrored), mirrored
