"""`bridge escalate` over real HTTP against the sandbox, with a real SQLite store.

Each test asserts on what the emulators hold and what they were sent (their request
journals), not on what the bridge says it did.
"""

from __future__ import annotations

import json

import pytest

from bridge.errors import InvalidValue, NotAllowed, UnknownTicket
from bridge.escalation import ACK_TAG, EscalationRequest
from tests.conftest import ACTOR

TICKET = "101"  # "Export to CSV crashes the app": priority high, PII and a Sentry link inside


def bugs_with_label(sandbox, label: str) -> list[dict]:
    return [i for i in sandbox.jira_state.all_issues() if label in i["fields"].get("labels", [])]


def public_comments_by_bridge(sandbox, ticket: str) -> list[dict]:
    bridge = sandbox.zendesk_state.user_by_email("bridge@example.com")
    return [c for c in sandbox.zendesk_state.comments(int(ticket)) if c["public"] and c["author_id"] == bridge["id"]]


def internal_notes_by_bridge(sandbox, ticket: str) -> list[dict]:
    bridge = sandbox.zendesk_state.user_by_email("bridge@example.com")
    return [c for c in sandbox.zendesk_state.comments(int(ticket)) if not c["public"] and c["author_id"] == bridge["id"]]


def writes(knobs) -> list:
    return [e for e in knobs.received() if e.method in ("POST", "PUT", "DELETE")]


def escalate(services, ticket=TICKET, **kwargs):
    return services.escalator().escalate(EscalationRequest(ticket=ticket, actor=ACTOR, **kwargs))


def test_one_escalation_makes_one_bug_with_everything_and_rerunning_changes_nothing(sandbox, services):
    result = escalate(services)

    assert result.created is True
    bugs = bugs_with_label(sandbox, "bridge-zendesk-101")
    assert len(bugs) == 1
    bug = bugs[0]
    fields = bug["fields"]
    assert bug["key"] == result.jira_key
    assert fields["issuetype"]["name"] == "Bug"
    # Ticket priority "high" → severity high → JIRA "High" (default mappings).
    assert (result.severity, result.priority) == ("high", "High")
    assert fields["priority"]["name"] == "High"
    assert {"bridge-zendesk-101", "bridge"} <= set(fields["labels"])
    assert fields["customfield_10100"] == 1  # affected customers
    assert fields["customfield_10104"] == result.tier
    description = fields["description"]
    assert "zendesk" in description.lower() and "/agent/tickets/101" in description
    ticket_state = sandbox.zendesk_state.ticket(101)
    for comment in sandbox.zendesk_state.comments(101):
        for token in _pii_tokens(comment["body"]):
            assert token not in description

    links = sandbox.jira_state.remote_links(result.jira_key)
    assert [link["object"]["url"] for link in links] == [services.helpdesk.ticket_url("101")]
    assert links[0]["globalId"].startswith("bridge:zendesk:")

    notes = internal_notes_by_bridge(sandbox, TICKET)
    assert len(notes) == 1 and result.jira_key in notes[0]["body"]
    acks = public_comments_by_bridge(sandbox, TICKET)
    assert len(acks) == 1
    assert result.jira_key not in acks[0]["body"]  # customers get no internal reference by default
    ticket_state = sandbox.zendesk_state.ticket(101)
    assert ACK_TAG in ticket_state["tags"]
    assert f"jira_{result.jira_key.lower()}" in ticket_state["tags"]
    assert {"id": 360004, "value": result.jira_key} in ticket_state["custom_fields"]

    row = services.store.escalations.by_ticket("zendesk", "101")
    assert row.state == "complete" and row.jira_key == result.jira_key and row.escalated_by == ACTOR
    assert [t.ticket_id for t in services.store.links.of(row.id)] == ["101"]
    assert any(a.action == "escalate" and a.result == "ok" for a in services.store.audit.entries())

    sandbox.jira.knobs.reset_counters()
    sandbox.zendesk.knobs.reset_counters()
    again = escalate(services)
    assert (again.created, again.jira_key) == (False, result.jira_key)
    assert writes(sandbox.jira.knobs) == [] and writes(sandbox.zendesk.knobs) == []
    assert len(bugs_with_label(sandbox, "bridge-zendesk-101")) == 1
    assert len(public_comments_by_bridge(sandbox, TICKET)) == 1


def test_create_that_times_out_after_jira_made_the_issue_still_yields_one_bug(sandbox, services):
    # The first POST (the create) is applied, then the connection drops before the answer.
    sandbox.jira.knobs.update({"fail_next": 1, "fail_mode": "drop", "fail_after_apply": True,
                               "fail_methods": ["POST"]})
    result = escalate(services)

    assert len(bugs_with_label(sandbox, "bridge-zendesk-101")) == 1
    assert result.jira_key == bugs_with_label(sandbox, "bridge-zendesk-101")[0]["key"]
    assert result.created is False  # found by its label, not created by this call's answer
    assert len(public_comments_by_bridge(sandbox, TICKET)) == 1
    assert services.store.escalations.by_ticket("zendesk", "101").state == "complete"


def test_create_answered_503_after_apply_with_lagging_search_still_yields_one_bug(sandbox, services):
    sandbox.jira_state.search_lag_s = 0.4
    sandbox.jira.knobs.update({"fail_next": 1, "fail_mode": "error", "fail_status": 503,
                               "fail_after_apply": True, "fail_methods": ["POST"]})
    escalate(services)
    assert len(bugs_with_label(sandbox, "bridge-zendesk-101")) == 1


def test_a_refused_connection_is_retried_and_a_rate_limit_is_waited_out(sandbox, services):
    sandbox.zendesk.knobs.update({"rate_limit": 3, "rate_window_s": 0.5, "retry_after_s": 1})
    result = escalate(services)
    assert result.jira_key
    assert len(public_comments_by_bridge(sandbox, TICKET)) == 1
    assert any(e for e in sandbox.zendesk.knobs.received())


def test_into_attaches_a_second_ticket_to_the_bug(sandbox, services):
    first = escalate(services)
    second = escalate(services, ticket="104", into=first.jira_key)

    assert second.created is False and second.jira_key == first.jira_key
    assert second.affected_count == 2
    assert len([i for i in sandbox.jira_state.all_issues() if i["fields"]["issuetype"]["name"] == "Bug"]) == 1
    bug = sandbox.jira_state.issue(first.jira_key)
    assert bug["fields"]["customfield_10100"] == 2
    urls = sorted(link["object"]["url"] for link in sandbox.jira_state.remote_links(first.jira_key))
    assert urls == sorted([services.helpdesk.ticket_url("101"), services.helpdesk.ticket_url("104")])
    comments = sandbox.jira_state.comments(first.jira_key)
    assert len([c for c in comments if "Another customer is affected" in c["body"]]) == 1
    assert len(public_comments_by_bridge(sandbox, "104")) == 1
    assert len(internal_notes_by_bridge(sandbox, "104")) == 1
    row = services.store.escalations.by_issue(bug["id"])
    assert sorted(t.ticket_id for t in services.store.links.of(row.id)) == ["101", "104"]

    # Again: nothing new anywhere.
    again = escalate(services, ticket="104", into=first.jira_key)
    assert again.affected_count == 2
    assert len([c for c in sandbox.jira_state.comments(first.jira_key) if "Another customer is affected" in c["body"]]) == 1
    assert len(public_comments_by_bridge(sandbox, "104")) == 1


def test_dry_run_writes_nothing_anywhere(sandbox, services):
    result = escalate(services, dry_run=True)
    assert result.dry_run and result.jira_key is None
    assert result.plan["label"] == "bridge-zendesk-101"
    assert writes(sandbox.jira.knobs) == [] and writes(sandbox.zendesk.knobs) == []
    assert services.store.escalations.list() == []


def test_explicit_severity_and_emergency(sandbox, services):
    result = escalate(services, severity="low")
    assert (result.severity, result.priority) == ("low", "Low")
    other = escalate(services, ticket="104", emergency=True)
    assert (other.severity, other.priority) == ("emergency", "Highest")


def test_subject_rule_emergency(sandbox, services):
    emergency = next(t for t in sandbox.zendesk_state.tickets.values() if "[Emergency]" in t["subject"])
    result = escalate(services, ticket=str(emergency["id"]))
    assert result.severity == "emergency" and result.priority == "Highest"


def test_unknown_ticket_is_a_usage_error(services):
    with pytest.raises(UnknownTicket) as info:
        escalate(services, ticket="999999")
    assert info.value.exit_code == 2 and "999999" in str(info.value)


@pytest.mark.parametrize("ticket", ['1" OR project = X', "101 OR 1=1", "../101", "1e3", ""])
def test_a_ticket_id_carrying_query_syntax_is_refused(sandbox, services, ticket):
    with pytest.raises(InvalidValue) as info:
        escalate(services, ticket=ticket)
    assert info.value.exit_code == 2
    assert sandbox.jira.knobs.received() == []


def test_a_solved_ticket_needs_force(sandbox, services):
    solved = next(t for t in sandbox.zendesk_state.tickets.values() if t["status"] == "solved")
    with pytest.raises(NotAllowed):
        escalate(services, ticket=str(solved["id"]))
    assert writes(sandbox.jira.knobs) == []
    result = escalate(services, ticket=str(solved["id"]), force=True)
    assert result.created


def test_an_actor_outside_the_allowed_groups_is_refused_and_audited(sandbox, bridge_env, tmp_path):
    from bridge.config import load_config
    from bridge.services import Services

    mappings = tmp_path / "mappings"
    mappings.mkdir()
    (mappings / "default.yaml").write_text("escalation:\n  allowed_groups: [Escalations]\n")
    env = {**bridge_env, "BRIDGE_MAPPINGS_DIR": str(mappings)}
    services = Services(load_config(None, env=env))
    with pytest.raises(NotAllowed) as info:
        services.escalator().escalate(EscalationRequest(ticket=TICKET, actor="frank@example.com"))
    assert "frank@example.com" in str(info.value)
    assert writes(sandbox.jira.knobs) == [] and writes(sandbox.zendesk.knobs) == []
    assert [a.result for a in services.store.audit.entries()] == ["denied"]
    # Erin is in the Escalations group.
    assert services.escalator().escalate(EscalationRequest(ticket=TICKET, actor=ACTOR)).created


def test_json_output_fields(services):
    data = escalate(services).as_json()
    assert {"ticket", "jira_key", "jira_url", "created", "severity", "priority"} <= set(data)
    json.dumps(data)


def _pii_tokens(text: str) -> list[str]:
    """E-mail addresses and phone-looking runs in a seeded conversation."""
    import re

    return re.findall(r"[\w.+-]+@[\w-]+\.[\w.]+", text) + re.findall(r"\+?\d[\d ()/-]{7,}\d", text)


def test_a_create_whose_bug_search_cannot_show_yet_fails_and_the_rerun_finds_it(sandbox, services):
    from bridge.errors import ItemFailed

    sandbox.jira_state.search_lag_s = 60  # longer than every pause the bridge waits
    sandbox.jira.knobs.update({"fail_next": 1, "fail_mode": "drop", "fail_after_apply": True,
                               "fail_methods": ["POST"]})
    escalator = services.escalator()
    escalator.sleep = lambda seconds: None
    with pytest.raises(ItemFailed) as info:
        escalator.escalate(EscalationRequest(ticket=TICKET, actor=ACTOR))
    assert info.value.exit_code == 1 and "run the same command again" in str(info.value)
    assert len(bugs_with_label(sandbox, "bridge-zendesk-101")) == 1
    assert public_comments_by_bridge(sandbox, TICKET) == []  # the customer heard nothing yet

    sandbox.jira_state.search_lag_s = 0
    result = escalate(services)
    assert result.created is False
    assert len(bugs_with_label(sandbox, "bridge-zendesk-101")) == 1
    assert len(public_comments_by_bridge(sandbox, TICKET)) == 1
