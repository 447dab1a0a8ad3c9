"""`bridge sync` finishing escalations an earlier run left half done on the customer's side,
over real HTTP against the sandbox with a real SQLite store (faults from the emulators'
knobs, nothing patched).

- An escalation whose Bug was filed but whose internal note and acknowledgement failed is
  finished by the next pass once it has been left alone for the grace period: the customer
  is acknowledged exactly once, the escalation becomes complete, and JIRA changes reach the
  ticket from then on. Within the grace period (an escalate may still be running) it is
  left alone.
- A ticket joined with ``--into`` whose acknowledgement failed is finished by the next pass,
  with no grace: a failed write is not one a running escalate is still making.
- A dry run plans the finishing and writes nothing; a ticket closed meanwhile is left as it
  is without failing the pass.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from click.testing import CliRunner
from jira import JIRA

from bridge.cli import main
from bridge.sandbox.jira import DEMO_LOGINS
from bridge.sync.unfinished import GRACE, find_unfinished
from tests.integration.test_escalate import internal_notes_by_bridge, public_comments_by_bridge, writes

ZENDESK_WRITES_FAIL = {"fail_next": 100, "fail_status": 503, "fail_methods": ["PUT", "POST"]}
NO_FAULTS = {"fail_next": 0, "fail_methods": [], "fail_after_apply": False}


def run(env: dict[str, str], *args: str):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def left_alone(store, minutes: float = GRACE.total_seconds() / 60 + 1) -> None:
    """Age the store's escalations and outbox entries by ``minutes``, as if that long had
    passed since the escalate (the services' clocks, and so JIRA's search, stay as they are)."""
    with store.engine.begin() as connection:
        for table, column in (("escalation", "updated_at"), ("outbox", "created_at")):
            rows = connection.execute(sa.text(f"SELECT id, {column} FROM {table}")).all()
            for row_id, when in rows:
                when = when if isinstance(when, datetime) else datetime.fromisoformat(str(when))
                connection.execute(sa.text(f"UPDATE {table} SET {column} = :when WHERE id = :id"),
                                   {"when": when - timedelta(minutes=minutes), "id": row_id})


def escalated_with_the_ticket_side_failing(sandbox, env, ticket: str, *args: str) -> str:
    sandbox.zendesk.knobs.update(ZENDESK_WRITES_FAIL)
    try:
        result = run(env, "escalate", ticket, *args)
    finally:
        sandbox.zendesk.knobs.update(NO_FAULTS)
    assert result.exit_code == 1, result.output + result.stderr
    assert public_comments_by_bridge(sandbox, ticket) == []
    return result.output + result.stderr


def test_an_escalation_whose_acknowledgement_failed_is_finished_by_sync_once_after_the_grace(
        sandbox, bridge_env, services):
    escalated_with_the_ticket_side_failing(sandbox, bridge_env, "101")
    row = services.store.escalations.by_ticket("zendesk", "101")
    assert row.state == "created" and row.jira_key

    # Within the grace period an escalate may still be writing: the pass leaves it alone.
    assert find_unfinished(services.store, "zendesk", datetime.now(timezone.utc)) == []
    soon = services.sync_engine().run()
    assert soon.exit_code == 0 and public_comments_by_bridge(sandbox, "101") == []

    left_alone(services.store)
    report = services.sync_engine().run()
    assert report.exit_code == 0, report.failures
    assert {o.action.kind for o in report.outcomes if o.result == "done"} >= {"Acknowledge", "EscalatedNote"}
    acks, notes = public_comments_by_bridge(sandbox, "101"), internal_notes_by_bridge(sandbox, "101")
    assert len(acks) == 1 and len(notes) == 1 and row.jira_key in notes[0]["body"]
    assert services.store.escalations.by_ticket("zendesk", "101").state == "complete"
    assert len(JIRA(sandbox.jira.url, basic_auth=DEMO_LOGINS["dev"].basic_auth("cloud")).search_issues(
        "labels = bridge-zendesk-101")) == 1  # the Bug kept, not filed again

    # Finished: the next pass has nothing of it to do, and a JIRA change now reaches the ticket.
    sandbox.zendesk.knobs.reset_counters()
    again = services.sync_engine().run()
    assert again.exit_code == 0 and writes(sandbox.zendesk.knobs) == []
    dev = JIRA(sandbox.jira.url, basic_auth=DEMO_LOGINS["dev"].basic_auth("cloud"))
    dev.transition_issue(row.jira_key, "In Progress")
    moved = services.sync_engine().run()
    assert moved.exit_code == 0, moved.failures
    assert len(public_comments_by_bridge(sandbox, "101")) == 2


def test_a_joined_ticket_whose_acknowledgement_failed_is_finished_by_sync(sandbox, bridge_env, services):
    first = run(bridge_env, "escalate", "101", "--json")
    assert first.exit_code == 0, first.output
    key = json.loads(first.output)["jira_key"]
    said = escalated_with_the_ticket_side_failing(sandbox, bridge_env, "104", "--into", key)
    assert "run `bridge escalate 104` again to finish it" in said

    # A failed write is finished at once: the run that tried it is done with it.
    report = services.sync_engine().run()
    assert report.exit_code == 0, report.failures
    assert len(public_comments_by_bridge(sandbox, "104")) == 1
    assert len(internal_notes_by_bridge(sandbox, "104")) == 1
    assert len(public_comments_by_bridge(sandbox, "101")) == 1  # the origin's customer: told once
    assert find_unfinished(services.store, "zendesk", datetime.now(timezone.utc) + GRACE * 2) == []


def test_a_dry_run_plans_the_finishing_and_a_closed_ticket_is_left_alone(sandbox, bridge_env, services):
    escalated_with_the_ticket_side_failing(sandbox, bridge_env, "101")
    sandbox.zendesk.knobs.reset_counters()
    left_alone(services.store)
    planned = services.sync_engine().run(dry_run=True)
    assert planned.exit_code == 0
    assert {o.action.kind for o in planned.outcomes if o.result == "planned"} >= {"Acknowledge", "EscalatedNote"}
    assert writes(sandbox.zendesk.knobs) == [] and public_comments_by_bridge(sandbox, "101") == []
    assert services.store.escalations.by_ticket("zendesk", "101").state == "created"

    agent = sandbox.zendesk_state.user_by_email("frank@example.com")
    sandbox.zendesk_state.update_ticket(101, {"status": "closed"}, agent["id"])
    report = services.sync_engine().run()
    assert report.exit_code == 0, report.failures
    assert public_comments_by_bridge(sandbox, "101") == []
    assert services.store.escalations.by_ticket("zendesk", "101").state == "created"  # still listed
