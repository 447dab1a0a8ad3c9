"""What one escalation costs in requests, counted by the sandbox's journals (issue 15).

`bridge escalate` of a fresh ticket: read the ticket with its conversation (2 Zendesk
requests), search the label, create, search the label again (the safety check for a
duplicate Bug made from another store), the remote link (4 JIRA requests), and the internal
note and the acknowledgement (2 Zendesk writes: Zendesk takes one comment per update).
serverInfo, the field list and the error tracker's projects come from the store's cache.
The next sync reads nothing of the escalated ticket: escalate recorded the version its own
last write left.
"""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from bridge.config import load_config
from bridge.escalation import EscalationRequest
from bridge.services import Services
from tests.conftest import ACTOR


def new_ticket(sandbox, subject: str = "The report page shows a blank chart") -> str:
    """A customer's ticket of normal priority with no error-tracker reference."""
    state = sandbox.zendesk_state
    alice = state.user_by_email("alice.adams@acme.example")
    ticket, _ = state.create_ticket(
        {"subject": subject, "requester_id": alice["id"], "priority": "normal",
         "comment": {"body": "Since this morning the weekly report shows an empty chart.", "public": True}},
        alice["id"])
    return str(ticket["id"])


def reset(sandbox) -> None:
    for service in (sandbox.jira, sandbox.zendesk, sandbox.sentry):
        service.knobs.reset_counters()


def journal(sandbox) -> dict[str, list[str]]:
    return {name: [f"{e.method} {e.path}" for e in getattr(sandbox, name).knobs.received()]
            for name in ("jira", "zendesk", "sentry")}


def fresh_services(bridge_env) -> Services:
    """What a new `bridge` process builds (no connector state carried over)."""
    return Services(load_config(None, env=bridge_env))


def escalate(services, ticket: str):
    return services.escalator().escalate(EscalationRequest(ticket=ticket, actor=ACTOR))


@pytest.fixture
def warm(sandbox, bridge_env):
    """A store whose metadata cache an earlier process filled (its first escalation)."""
    escalate(fresh_services(bridge_env), new_ticket(sandbox, "An earlier ticket"))
    return bridge_env


def test_a_fresh_escalation_costs_eight_requests_in_all(sandbox, warm):
    ticket = new_ticket(sandbox)
    reset(sandbox)

    result = escalate(fresh_services(warm), ticket)

    sent = journal(sandbox)
    assert result.created and not result.failures
    assert sent["jira"] == ["GET /rest/api/2/search/jql", "POST /rest/api/2/issue", "GET /rest/api/2/search/jql",
                            f"POST /rest/api/2/issue/{result.jira_key}/remotelink"]
    assert sent["zendesk"] == [f"GET /api/v2/tickets/{ticket}.json", f"GET /api/v2/tickets/{ticket}/comments.json",
                               f"PUT /api/v2/tickets/{ticket}.json", f"PUT /api/v2/tickets/{ticket}.json"]
    assert sent["sentry"] == []
    assert sum(len(v) for v in sent.values()) == 8
    # And it did everything: one Bug, one internal note and one acknowledgement, each once.
    bugs = [i for i in sandbox.jira_state.all_issues() if f"bridge-zendesk-{ticket}" in i["fields"]["labels"]]
    assert [b["key"] for b in bugs] == [result.jira_key]
    bridge = sandbox.zendesk_state.user_by_email("bridge@example.com")
    mine = [c for c in sandbox.zendesk_state.comments(int(ticket)) if c["author_id"] == bridge["id"]]
    assert sorted(c["public"] for c in mine) == [False, True]


def test_a_fresh_process_with_a_cold_cache_asks_once_and_the_next_process_not_again(sandbox, bridge_env):
    reset(sandbox)
    escalate(fresh_services(bridge_env), new_ticket(sandbox, "First"))
    first = journal(sandbox)
    assert first["jira"].count("GET /rest/api/2/serverInfo") == 1
    assert first["jira"].count("GET /rest/api/2/field") == 1
    assert first["sentry"].count("GET /api/0/organizations/acme/projects/") == 1

    reset(sandbox)
    fresh_services(bridge_env).sync_engine().run()
    escalate(fresh_services(bridge_env), new_ticket(sandbox, "Second"))
    later = journal(sandbox)
    asked = [line for line in later["jira"] + later["sentry"]
             if line.endswith(("/serverInfo", "/field", "/projects/", "/listApplicationlinks"))]
    assert asked == []


def test_the_sync_after_an_escalation_reads_nothing_of_its_ticket(sandbox, warm):
    sandbox.zendesk_state.export_skips_last_minute = False  # the export lists the escalation's writes now
    ticket = new_ticket(sandbox)
    escalate(fresh_services(warm), ticket)
    reset(sandbox)

    report = fresh_services(warm).sync_engine().run()

    assert report.exit_code == 0
    entries = sandbox.zendesk.knobs.received()
    assert any("incremental/tickets" in e.path for e in entries)  # the change was listed ...
    reads = [f"{e.method} {e.path}?{unquote(e.query)}" for e in entries
             if f"/tickets/{ticket}" in e.path or ticket in unquote(e.query).split("ids=")[-1].split(",")]
    assert reads == []  # ... and known to be the bridge's own


def test_a_customer_message_after_the_escalation_is_still_read_and_mirrored(sandbox, warm):
    sandbox.zendesk_state.export_skips_last_minute = False
    ticket = new_ticket(sandbox)
    result = escalate(fresh_services(warm), ticket)
    alice = sandbox.zendesk_state.user_by_email("alice.adams@acme.example")
    sandbox.zendesk_state.update_ticket(int(ticket), {"comment": {"body": "It is blank on mobile too.",
                                                                 "public": True}}, alice["id"])

    fresh_services(warm).sync_engine().run()

    bodies = [c["body"] for c in sandbox.jira_state.comments(result.jira_key)]
    assert sum("blank on mobile too" in b for b in bodies) == 1
