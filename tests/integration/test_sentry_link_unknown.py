"""An error-tracker reference the tracker does not know leaves no failure behind.

A mistyped reference given by a person (``bridge link-sentry``, ``bridge escalate --sentry``)
is refused — exit 2, a message naming it — before anything is recorded, so no later
``bridge sync`` retries it and nothing shows as FAILED. One found in a ticket's conversation
that the tracker does not know is recorded once as not linked, never retried; so is a
failed link an earlier version left in the store, the next time sync tries it.

Over real HTTP against the sandbox (JIRA, Zendesk, Sentry emulators) with a real SQLite
store, through the CLI.
"""

from __future__ import annotations

import json

from click.testing import CliRunner

from bridge.cli import main
from tests.fixtures.zendesk_tickets import ticket_with_agent_note

UNKNOWN = "NOPE-999"
#: A short id of a project the organization has (so a conversation's mention is picked up),
#: with a number Sentry never gave out.
UNKNOWN_OF_A_KNOWN_PROJECT = "BACKEND-ZZZ9"


def run(env: dict[str, str], *args: str):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def writes(knobs) -> list:
    return [e for e in knobs.received() if e.method in ("POST", "PUT", "PATCH", "DELETE")]


def store_rows(store) -> dict:
    """What the store holds that a link could have added: outbox entries, Tasks, escalations."""
    return {"outbox": sorted((e.key, e.state, e.attempts) for e in store.outbox.list(states=None)),
            "tasks": [(t.sentry_issue_id, t.state) for t in store.tasks.all()],
            "escalations": sorted((e.id, e.state) for e in store.escalations.list())}


def sentry_asked_about(sandbox, reference: str) -> list:
    return [e for e in sandbox.sentry.knobs.received() if reference.lower() in (e.path + e.query).lower()]


def assert_sync_is_clean(env: dict[str, str]) -> dict:
    synced = run(env, "sync", "--json")
    assert synced.exit_code == 0, synced.output
    report = json.loads(synced.output)
    assert report["failures"] == []
    status = run(env, "status", "--json")
    assert status.exit_code == 0, status.output
    assert [f for row in json.loads(status.output) for f in row["failures"]] == []
    return report


def escalated_key(env: dict[str, str], ticket: str) -> str:
    result = run(env, "escalate", ticket, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)["jira_key"]


def new_ticket(sandbox, note: str) -> str:
    return ticket_with_agent_note(sandbox, note, subject='The export crashes', body='The export crashes on Windows.', priority='normal')


# ------------------------------------------------------------------ link-sentry --
def test_link_sentry_of_an_unknown_issue_exits_2_records_nothing_and_sync_stays_clean(sandbox, bridge_env, services):
    key = escalated_key(bridge_env, "104")
    before = store_rows(services.store)
    sandbox.jira.knobs.reset_counters()
    sandbox.zendesk.knobs.reset_counters()

    for target in (("--issue", key), ("--ticket", "104")):
        refused = run(bridge_env, "link-sentry", UNKNOWN, *target)

        assert refused.exit_code == 2, refused.output
        assert f"Sentry organization 'acme' has no issue {UNKNOWN}" in refused.output
        assert store_rows(services.store) == before
        assert writes(sandbox.jira.knobs) == [] and writes(sandbox.zendesk.knobs) == []

    assert_sync_is_clean(bridge_env)
    # The reference was never recorded: the sync did not ask Sentry about it.
    assert len(sentry_asked_about(sandbox, UNKNOWN)) == 2  # the two refused link-sentry runs


def test_link_sentry_dry_run_of_an_unknown_issue_exits_2_too(sandbox, bridge_env, services):
    key = escalated_key(bridge_env, "104")
    before = store_rows(services.store)

    refused = run(bridge_env, "link-sentry", UNKNOWN, "--issue", key, "--dry-run", "--json")

    assert refused.exit_code == 2, refused.output
    assert f"no issue {UNKNOWN}" in refused.output
    assert store_rows(services.store) == before


def test_link_sentry_of_a_known_issue_still_links_after_a_refused_typo(sandbox, bridge_env):
    key = escalated_key(bridge_env, "104")
    assert run(bridge_env, "link-sentry", UNKNOWN, "--issue", key).exit_code == 2

    linked = run(bridge_env, "link-sentry", "WEB-3F", "--issue", key, "--json")

    assert linked.exit_code == 0, linked.output
    data = json.loads(linked.output)
    assert data["sentry_short_id"] == "WEB-3F" and data["task_created"] and data["error"] is None
    assert_sync_is_clean(bridge_env)


# --------------------------------------------------------------- escalate --sentry --
def test_escalate_with_an_unknown_sentry_option_exits_2_before_anything_is_written(sandbox, bridge_env, services):
    result = run(bridge_env, "escalate", "101", "--sentry", UNKNOWN, "--json")

    assert result.exit_code == 2, result.output
    assert f"has no issue {UNKNOWN}" in result.output
    for service in (sandbox.jira, sandbox.zendesk, sandbox.sentry):
        assert writes(service.knobs) == []
    assert store_rows(services.store) == {"outbox": [], "tasks": [], "escalations": []}

    # Corrected, the same command escalates; nothing of the typo is left to retry.
    fixed = run(bridge_env, "escalate", "101", "--sentry", "WEB-3F", "--json")
    assert fixed.exit_code == 0, fixed.output
    assert_sync_is_clean(bridge_env)


def test_escalate_with_an_unknown_sentry_option_of_an_escalated_ticket_exits_2_too(sandbox, bridge_env, services):
    escalated_key(bridge_env, "104")
    before = store_rows(services.store)
    sandbox.jira.knobs.reset_counters()

    result = run(bridge_env, "escalate", "104", "--sentry", UNKNOWN)

    assert result.exit_code == 2, result.output
    assert store_rows(services.store) == before
    assert writes(sandbox.jira.knobs) == []
    assert_sync_is_clean(bridge_env)


# --------------------------------------------------------- found in the conversation --
def test_an_unknown_issue_named_in_the_conversation_is_recorded_once_as_not_linked(sandbox, bridge_env):
    ticket = new_ticket(sandbox, f"Engineering: this looks like {UNKNOWN_OF_A_KNOWN_PROJECT} and WEB-3F.")

    result = run(bridge_env, "escalate", ticket, "--json")

    # The escalation stands, the known issue is linked, the unknown one is reported, not failed.
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["failures"] == []
    by_ref = {t["reference"]: t for t in data["sentry_tasks"]}
    assert by_ref["WEB-3F"]["error"] is None and by_ref["WEB-3F"]["task_key"]
    unknown = by_ref[UNKNOWN_OF_A_KNOWN_PROJECT]
    assert unknown["task_key"] is None and "has no issue" in unknown["error"]
    assert any(UNKNOWN_OF_A_KNOWN_PROJECT in step and "not linked" in step for step in data["steps"])

    asked = len(sentry_asked_about(sandbox, UNKNOWN_OF_A_KNOWN_PROJECT))
    for _ in range(2):
        assert_sync_is_clean(bridge_env)
    again = run(bridge_env, "escalate", ticket, "--json")
    assert again.exit_code == 0, again.output
    # Recorded once: neither sync nor a second escalate asks Sentry about it again.
    assert len(sentry_asked_about(sandbox, UNKNOWN_OF_A_KNOWN_PROJECT)) == asked


# ------------------------------------------------- a failure left by an earlier version --
def test_a_failed_link_left_in_the_store_is_marked_not_found_by_the_next_sync(sandbox, bridge_env, services):
    key = escalated_key(bridge_env, "104")
    store = services.store
    escalation = store.escalations.by_key(key)
    # What `link-sentry NOPE-999 --issue KEY` recorded before the fix: a failed outbox entry.
    entry_key = f"error-link:{escalation.label}:{UNKNOWN}"
    assert store.outbox.claim(entry_key, target=f"error-tracker:{UNKNOWN}", kind="LinkErrorIssue",
                              payload={"reference": UNKNOWN, "issue_key": key}, escalation_id=escalation.id)
    store.outbox.failed(entry_key, f"Sentry organization 'acme' has no issue {UNKNOWN}")
    status = json.loads(run(bridge_env, "status", key, "--json").output)
    assert [f["kind"] for f in status[0]["failures"]] == ["LinkErrorIssue"]
    sandbox.jira.knobs.reset_counters()

    report = assert_sync_is_clean(bridge_env)

    assert [o["result"] for o in report["actions"] if o["target"] == f"error-tracker:{UNKNOWN}"] == ["refused"]
    assert store.outbox.get(entry_key).state != "failed"
    assert writes(sandbox.jira.knobs) == []
    asked = len(sentry_asked_about(sandbox, UNKNOWN))
    assert_sync_is_clean(bridge_env)
    assert len(sentry_asked_about(sandbox, UNKNOWN)) == asked  # not retried again
