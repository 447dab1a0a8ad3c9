"""`bridge escalate` finishing what an earlier run left half done, over real HTTP against the
sandbox with a real SQLite store (faults from the emulators' knobs, nothing patched).

- A ticket joined with ``--into`` links to an escalation that is complete already: a remote
  link, internal note or acknowledgement of that ticket that failed is planned again by the
  next plain ``bridge escalate TICKET`` under its outbox key, so it is sent exactly once.
- An unfinished escalation whose recorded Bug JIRA no longer shows (deleted, or hidden
  from the bridge's user) gets no second Bug: the run stops with exit 2 naming the Bug,
  the ticket and what to do, and writes nothing.
"""

from __future__ import annotations

import json

import pytest
import requests
from click.testing import CliRunner
from jira import JIRA

from bridge.cli import main
from bridge.errors import EXIT_USAGE, UsageError
from bridge.escalation import EscalationRequest
from bridge.sandbox.jira import DEMO_LOGINS
from tests.conftest import ACTOR
from tests.integration.test_escalate import (bugs_with_label, internal_notes_by_bridge, public_comments_by_bridge,
                                             writes)

ZENDESK_WRITES_FAIL = {"fail_next": 100, "fail_status": 503, "fail_methods": ["PUT", "POST"]}
NO_FAULTS = {"fail_next": 0, "fail_methods": [], "fail_after_apply": False}


def run(env: dict[str, str], *args: str):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def escalate(services, ticket: str, **kwargs):
    return services.escalator().escalate(EscalationRequest(ticket=ticket, actor=ACTOR, **kwargs))


def outbox_states(services, *keys: str) -> dict[str, str]:
    found = services.store.outbox.by_keys(keys)
    return {key: found[key].state if key in found else "absent" for key in keys}


# ------------------------------------------------------------ Defect A: --into half done --
def test_a_joined_ticket_whose_note_and_acknowledgement_failed_is_finished_by_escalating_it_again(
        sandbox, bridge_env):
    first = run(bridge_env, "escalate", "101", "--json")
    assert first.exit_code == 0, first.output
    key = json.loads(first.output)["jira_key"]

    sandbox.zendesk.knobs.update(ZENDESK_WRITES_FAIL)
    joined = run(bridge_env, "escalate", "104", "--into", key)
    assert joined.exit_code == 1
    assert "run `bridge escalate 104` again to finish it" in joined.stderr
    assert public_comments_by_bridge(sandbox, "104") == []
    sandbox.zendesk.knobs.update(NO_FAULTS)

    again = run(bridge_env, "escalate", "104", "--json")    # plain: no --into
    assert again.exit_code == 0, again.output + again.stderr
    data = json.loads(again.output)
    assert data["ticket"] == "104" and data["jira_key"] == key and data["failures"] == []
    acks = public_comments_by_bridge(sandbox, "104")
    notes = internal_notes_by_bridge(sandbox, "104")
    assert len(acks) == 1 and len(notes) == 1 and key in notes[0]["body"]
    assert f"jira_{key.lower()}" in sandbox.zendesk_state.ticket(104)["tags"]

    sandbox.zendesk.knobs.reset_counters()
    third = run(bridge_env, "escalate", "104")
    assert third.exit_code == 0 and "already escalated: nothing to do" in third.output
    assert writes(sandbox.zendesk.knobs) == []
    assert len(public_comments_by_bridge(sandbox, "104")) == 1
    assert len(public_comments_by_bridge(sandbox, "101")) == 1  # the origin's customer: told once


def test_an_acknowledgement_that_landed_though_its_answer_failed_is_not_sent_again(sandbox, services):
    first = escalate(services, "101")
    sandbox.zendesk.knobs.update({**ZENDESK_WRITES_FAIL, "fail_after_apply": True})
    joined = escalate(services, "104", into=first.jira_key)
    assert joined.failures  # the writes were made, but the bridge was told they failed
    assert outbox_states(services, "ack:zendesk:104", "note:zendesk:104") == {
        "ack:zendesk:104": "failed", "note:zendesk:104": "failed"}
    sandbox.zendesk.knobs.update(NO_FAULTS)

    again = escalate(services, "104")

    assert again.failures == []
    assert any("acknowledge" in step and "already done" in step for step in again.steps)
    assert len(public_comments_by_bridge(sandbox, "104")) == 1
    assert len(internal_notes_by_bridge(sandbox, "104")) == 1
    assert outbox_states(services, "ack:zendesk:104", "note:zendesk:104") == {
        "ack:zendesk:104": "sent", "note:zendesk:104": "sent"}


def test_a_joined_tickets_failed_remote_link_is_made_by_escalating_it_again(sandbox, services):
    first = escalate(services, "101")
    link_key = f"remote-link:zendesk:104:{first.jira_key}"
    sandbox.jira.knobs.update({"fail_next": 100, "fail_status": 503, "fail_methods": ["POST"]})
    joined = escalate(services, "104", into=first.jira_key)
    sandbox.jira.knobs.update(NO_FAULTS)
    assert any("remote link" in f and "bridge escalate 104" in f for f in joined.failures)
    assert outbox_states(services, link_key)[link_key] == "failed"

    again = escalate(services, "104")

    urls = [link["object"]["url"] for link in sandbox.jira_state.remote_links(first.jira_key)]
    assert services.helpdesk.ticket_url("104") in urls
    assert outbox_states(services, link_key)[link_key] == "sent"
    assert not any("remote link" in f for f in again.failures)
    assert len(public_comments_by_bridge(sandbox, "104")) == 1  # sent by the first run, not again


def test_the_origin_ticket_of_an_adopted_bug_whose_acknowledgement_failed_is_finished_by_escalating_it_again(
        sandbox, services):
    dev = JIRA(server=sandbox.jira.url, basic_auth=DEMO_LOGINS["dev"].basic_auth("cloud"), max_retries=0)
    foreign = dev.create_issue(project="SUP", summary="Found by engineering", issuetype={"name": "Bug"})
    sandbox.zendesk.knobs.update(ZENDESK_WRITES_FAIL)
    adopted = escalate(services, "101", into=foreign.key)
    sandbox.zendesk.knobs.update(NO_FAULTS)
    assert adopted.failures
    assert services.store.escalations.by_ticket("zendesk", "101").state == "complete"  # adopted at once

    again = escalate(services, "101")

    assert again.failures == [] and again.jira_key == foreign.key
    assert len(public_comments_by_bridge(sandbox, "101")) == 1
    assert len(internal_notes_by_bridge(sandbox, "101")) == 1
    assert bugs_with_label(sandbox, "bridge-zendesk-101") == []  # no Bug of its own was made


# ------------------------------------------------ Defect B: the recorded Bug is gone --
def delete_issue(bridge_env, key: str) -> None:
    answer = requests.delete(f"{bridge_env['BRIDGE_JIRA_URL']}/rest/api/2/issue/{key}",
                             auth=(bridge_env["BRIDGE_JIRA_USER"], bridge_env["BRIDGE_JIRA_TOKEN"]), timeout=10)
    assert answer.status_code == 204, answer.text


def test_an_unfinished_escalation_whose_bug_was_deleted_makes_no_second_bug_and_exits_2(sandbox, services,
                                                                                         bridge_env):
    sandbox.zendesk.knobs.update(ZENDESK_WRITES_FAIL)
    first = escalate(services, "101")
    sandbox.zendesk.knobs.update(NO_FAULTS)
    assert first.failures and first.jira_key
    row = services.store.escalations.by_ticket("zendesk", "101")
    assert row.state != "complete"
    delete_issue(bridge_env, first.jira_key)
    outbox_before = outbox_states(services, "ack:zendesk:101", "note:zendesk:101")
    sandbox.jira.knobs.reset_counters()
    sandbox.zendesk.knobs.reset_counters()

    for _ in range(2):  # every re-run says the same, and makes nothing
        with pytest.raises(UsageError) as raised:
            escalate(services, "101")
        assert raised.value.exit_code == EXIT_USAGE
        message = str(raised.value)
        assert first.jira_key in message and "ticket 101" in message
        assert "restore" in message and "permission" in message

    assert bugs_with_label(sandbox, "bridge-zendesk-101") == []
    assert writes(sandbox.jira.knobs) == [] and writes(sandbox.zendesk.knobs) == []
    after = services.store.escalations.by_ticket("zendesk", "101")
    assert (after.state, after.jira_issue_id, after.jira_key) == (row.state, row.jira_issue_id, row.jira_key)
    assert after.claim_holder is None  # the claim was given back
    assert outbox_states(services, "ack:zendesk:101", "note:zendesk:101") == outbox_before

    cli = run(bridge_env, "escalate", "101")
    assert cli.exit_code == EXIT_USAGE
    lines = cli.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and first.jira_key in lines[0]
    assert "Traceback" not in cli.output + cli.stderr
    assert bugs_with_label(sandbox, "bridge-zendesk-101") == []
