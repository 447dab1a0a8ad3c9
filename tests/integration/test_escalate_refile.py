"""`bridge escalate TICKET --refile`: the way out when the Bug recorded for an escalation is
gone from JIRA, over real HTTP against the sandbox with a real store (SQLite, and
PostgreSQL where the test is parametrised over ``store_url``); faults come from the
emulators' knobs and SIGKILL, nothing of the bridge is patched.

- A recorded Bug JIRA answers 404 for stops a plain `escalate` (exit 2, hint naming
  ``--refile``); ``--refile`` files one new Bug through the first escalation's path (intent
  recorded first, its own deterministic label searched before any create), moves every
  linked ticket onto it (remote link, internal note naming the new key and the one it
  replaces), relates the escalation's Tasks to it, keeps the SLA clocks and what the
  customers were told, tells no customer anything, and audits who replaced which Bug.
- ``--refile`` never makes a second Bug while the recorded one is visible: it exits 2 naming
  it and writes nothing; a ticket never escalated and ``--into`` are refused the same way.
- A refile whose create timed out, or whose process was killed right after JIRA made the
  Bug, ends with exactly one new Bug once the command runs again.
- Sync then follows the new Bug: a state the customer was told already is not told again,
  a new one exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import requests
from click.testing import CliRunner
from jira import JIRA

from bridge.cli import main
from bridge.config import load_config
from bridge.errors import EXIT_USAGE, ItemFailed
from bridge.escalation import EscalationRequest
from bridge.sandbox.jira import DEMO_LOGINS
from bridge.services import Services
from tests.cli.test_dry_run import reset_journals, service_writes, store_fingerprint
from tests.conftest import ACTOR
from tests.integration.test_escalate import bugs_with_label, internal_notes_by_bridge, public_comments_by_bridge

LABEL = "bridge-zendesk-101"
ZENDESK_WRITES_FAIL = {"fail_next": 100, "fail_status": 503, "fail_methods": ["PUT", "POST"]}
NO_FAULTS = {"fail_next": 0, "fail_methods": [], "fail_after_apply": False}


def run(env: dict[str, str], *args: str):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def ok(env: dict[str, str], *args: str) -> dict:
    result = run(env, *args, "--json")
    assert result.exit_code == 0, result.output + result.stderr
    return json.loads(result.output)


@pytest.fixture
def env(bridge_env, store_url) -> dict[str, str]:
    """The sandbox's environment on a migrated store of each backend."""
    env = {**bridge_env, "BRIDGE_STORE_URL": store_url}
    assert run(env, "db", "upgrade").exit_code == 0
    return env


@pytest.fixture
def dev(sandbox) -> JIRA:
    return JIRA(server=sandbox.jira.url, basic_auth=DEMO_LOGINS["dev"].basic_auth("cloud"), max_retries=0)


def services_of(env: dict[str, str]) -> Services:
    return Services(load_config(None, env=env))


def delete_issue(env: dict[str, str], key: str) -> None:
    """What a JIRA admin does: ``DELETE /rest/api/2/issue/{key}``."""
    answer = requests.delete(f"{env['BRIDGE_JIRA_URL']}/rest/api/2/issue/{key}",
                             auth=(env["BRIDGE_JIRA_USER"], env["BRIDGE_JIRA_TOKEN"]), timeout=10)
    assert answer.status_code == 204, answer.text


def delete_bug(env: dict[str, str], sandbox, key: str) -> str:
    """Delete the Bug ``key``; the new Bug's own label (the escalation's, naming the
    immutable id of the Bug it replaces, read before the sandbox forgets it)."""
    issue_id = sandbox.jira_state.issue(key)["id"]
    delete_issue(env, key)
    return f"{LABEL}-replaces-{issue_id}"


def related_keys(sandbox, key: str) -> list[str]:
    links = sandbox.jira_state.issue(key)["fields"].get("issuelinks", [])
    return sorted((link.get("inwardIssue") or link.get("outwardIssue"))["key"]
                  for link in links if link["type"]["name"] == "Relates")


def writes(knobs) -> list[str]:
    return [f"{e.method} {e.path}" for e in knobs.received() if e.method in ("POST", "PUT", "PATCH", "DELETE")]


# ----------------------------------------------------------------- the whole story --
def test_a_deleted_bug_is_refiled_once_the_ticket_follows_it_and_no_customer_hears_anything_twice(
        sandbox, env, dev):
    first = ok(env, "escalate", "101")
    old = first["jira_key"]
    tasks = related_keys(sandbox, old)
    assert tasks, "ticket 101 names a Sentry issue: its Task relates to the Bug"
    sandbox.zendesk_state.export_skips_last_minute = False
    dev.transition_issue(old, "In Progress")
    assert run(env, "sync").exit_code == 0
    told = public_comments_by_bridge(sandbox, "101")
    assert len(told) == 2  # the acknowledgement, then "in progress"
    store = services_of(env).store
    row = store.escalations.by_ticket("zendesk", "101")
    link = store.links.of(row.id)[0]
    own = delete_bug(env, sandbox, old)

    # A plain escalate says what is wrong and names the way out; nothing is written.
    reset_journals(sandbox)
    stopped = run(env, "escalate", "101")
    assert stopped.exit_code == EXIT_USAGE
    assert old in stopped.stderr and "--refile" in stopped.stderr and "Traceback" not in stopped.stderr
    assert service_writes(sandbox) == []

    refiled = ok(env, "escalate", "101", "--refile")

    new = refiled["jira_key"]
    assert new != old and refiled["created"] is True
    assert refiled["refile"]["replaced_key"] == old and refiled["refile"]["jira_key"] == new
    bugs = bugs_with_label(sandbox, own)
    assert [b["key"] for b in bugs] == [new]
    assert {LABEL, own, "bridge"} <= set(bugs[0]["fields"]["labels"])
    assert bugs[0]["fields"]["priority"]["name"] == first["priority"]  # the recorded severity
    assert old in bugs[0]["fields"]["description"]
    assert [r["object"]["url"] for r in sandbox.jira_state.remote_links(new)] == [
        services_of(env).helpdesk.ticket_url("101")]
    assert related_keys(sandbox, new) == tasks
    notes = internal_notes_by_bridge(sandbox, "101")
    assert new in notes[-1]["body"] and old in notes[-1]["body"]
    ticket = sandbox.zendesk_state.ticket(101)
    assert f"jira_{new.lower()}" in ticket["tags"] and f"jira_{old.lower()}" not in ticket["tags"]
    assert {"id": 360004, "value": new} in ticket["custom_fields"]
    assert public_comments_by_bridge(sandbox, "101") == told  # no new acknowledgement

    store = services_of(env).store
    after = store.escalations.by_ticket("zendesk", "101")
    assert (after.id, after.label, after.state, after.jira_key) == (row.id, LABEL, "complete", new)
    assert (after.opened_at, after.severity) == (row.opened_at, row.severity)  # the SLA clock goes on
    link_after = store.links.of(row.id)[0]
    assert (link_after.last_announced_state, link_after.last_public_update_at) == (
        link.last_announced_state, link.last_public_update_at)
    audit = [a for a in store.audit.entries() if a.action == "escalate-refile"]
    assert len(audit) == 1 and audit[0].actor == ACTOR and old in audit[0].detail and new in audit[0].detail

    # Again: the new Bug exists, so --refile refuses, and nothing more is written anywhere.
    reset_journals(sandbox)
    again = run(env, "escalate", "101", "--refile")
    assert again.exit_code == EXIT_USAGE
    assert new in again.stderr and "nothing was written" in again.stderr
    plain = ok(env, "escalate", "101")
    assert plain["jira_key"] == new and plain["refile"] is None
    assert service_writes(sandbox) == []
    assert len(bugs_with_label(sandbox, LABEL)) == 1

    # Sync follows the new Bug: "in progress" was told already, "in QA" is told once.
    assert run(env, "sync").exit_code == 0
    dev.transition_issue(new, "In Progress")
    assert run(env, "sync").exit_code == 0
    assert public_comments_by_bridge(sandbox, "101") == told
    dev.transition_issue(new, "In QA")
    assert run(env, "sync").exit_code == 0
    assert run(env, "sync").exit_code == 0
    now_told = public_comments_by_bridge(sandbox, "101")
    assert len(now_told) == len(told) + 1 and "verifying" in now_told[-1]["body"]


# ------------------------------------------------------------------------ refusals --
def test_refile_while_the_recorded_bug_exists_exits_2_naming_it_and_writes_nothing(sandbox, bridge_env):
    key = ok(bridge_env, "escalate", "101")["jira_key"]
    before = store_fingerprint(bridge_env)
    reset_journals(sandbox)

    result = run(bridge_env, "escalate", "101", "--refile")

    assert result.exit_code == EXIT_USAGE
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and key in lines[0] and "nothing was written" in lines[0]
    assert "cannot see" not in lines[0]  # JIRA showed it: no doubt to voice
    assert service_writes(sandbox) == [] and store_fingerprint(bridge_env) == before
    assert len(bugs_with_label(sandbox, LABEL)) == 1


def test_refile_of_a_ticket_never_escalated_exits_2(sandbox, bridge_env):
    result = run(bridge_env, "escalate", "101", "--refile")

    assert result.exit_code == EXIT_USAGE
    assert "101" in result.stderr and "never escalated" in result.stderr
    assert service_writes(sandbox) == [] and bugs_with_label(sandbox, LABEL) == []


@pytest.mark.parametrize("extra", [["--into", "SUP-1"], ["--severity", "low"], ["--emergency"]])
def test_refile_with_into_or_another_severity_is_refused_before_anything_is_read(sandbox, bridge_env, extra):
    ok(bridge_env, "escalate", "101")
    reset_journals(sandbox)

    result = run(bridge_env, "escalate", "101", "--refile", *extra)

    assert result.exit_code == EXIT_USAGE and "--refile" in result.stderr
    assert sandbox.jira.knobs.received() == [] and service_writes(sandbox) == []


def test_the_message_for_a_missing_bug_says_jira_may_only_hide_it(sandbox, bridge_env):
    key = ok(bridge_env, "escalate", "101")["jira_key"]
    delete_issue(bridge_env, key)

    result = run(bridge_env, "escalate", "101")

    assert result.exit_code == EXIT_USAGE
    message = result.stderr
    assert "cannot see it" in message and "permission" in message and "--refile" in message


# ------------------------------------------------------------------------- dry run --
def test_a_refile_dry_run_prints_the_plan_and_writes_nothing_anywhere(sandbox, bridge_env):
    key = ok(bridge_env, "escalate", "101")["jira_key"]
    own = delete_bug(bridge_env, sandbox, key)
    before = store_fingerprint(bridge_env)
    reset_journals(sandbox)

    result = run(bridge_env, "escalate", "101", "--refile", "--dry-run", "--json")

    assert result.exit_code == 0, result.output + result.stderr
    data = json.loads(result.output)
    assert data["dry_run"] is True and data["refile"]["replaced_key"] == key
    assert data["plan"]["label"] == own
    kinds = [a["kind"] for a in data["plan"]["actions"]]
    assert kinds[0] == "CreateBug" and "RemoteLink" in kinds and "EscalatedNote" in kinds
    assert "Acknowledge" not in kinds  # the customer is not acknowledged again
    human = run(bridge_env, "escalate", "101", "--refile", "--dry-run")
    assert human.exit_code == 0 and key in human.output and "refile" in human.output
    assert service_writes(sandbox) == [] and store_fingerprint(bridge_env) == before
    assert bugs_with_label(sandbox, LABEL) == []


# -------------------------------------------------------------- crashes, time-outs --
def test_a_refile_whose_create_answer_was_lost_while_search_lags_makes_one_bug_when_run_again(
        sandbox, services, bridge_env):
    key = ok(bridge_env, "escalate", "101")["jira_key"]
    own = delete_bug(bridge_env, sandbox, key)
    sandbox.jira_state.search_lag_s = 60  # longer than every pause the bridge waits
    sandbox.jira.knobs.update({"fail_next": 1, "fail_mode": "drop", "fail_after_apply": True,
                               "fail_methods": ["POST"]})
    escalator = services.escalator()
    escalator.sleep = lambda seconds: None
    with pytest.raises(ItemFailed) as info:
        escalator.escalate(EscalationRequest(ticket="101", actor=ACTOR, refile=True))
    assert "run the same command again" in str(info.value)
    assert len(bugs_with_label(sandbox, own)) == 1
    sandbox.jira.knobs.update(NO_FAULTS)
    sandbox.jira_state.search_lag_s = 0
    # What the refile does not do (a severity, the Escalate button's press) waits for it.
    reset_journals(sandbox)
    waits = run(bridge_env, "escalate", "101", "--emergency")
    assert waits.exit_code == 1 and "being refiled" in waits.stderr and "bridge escalate 101" in waits.stderr
    assert service_writes(sandbox) == []

    again = run(bridge_env, "escalate", "101", "--refile", "--json")   # the same command

    assert again.exit_code == 0, again.output + again.stderr
    data = json.loads(again.output)
    bugs = bugs_with_label(sandbox, own)
    assert [b["key"] for b in bugs] == [data["jira_key"]] and data["created"] is False
    assert len(internal_notes_by_bridge(sandbox, "101")) == 2  # the first note, the refile's
    assert len(public_comments_by_bridge(sandbox, "101")) == 1
    assert ok(bridge_env, "escalate", "101")["jira_key"] == data["jira_key"]
    assert len(bugs_with_label(sandbox, LABEL)) == 1


def _bridge(env: dict[str, str], *args: str, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "bridge", *args], env={**os.environ, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


@pytest.mark.parametrize("rerun", [["--refile"], []], ids=["refile-again", "plain-escalate"])
def test_a_refile_killed_right_after_jira_made_the_bug_is_finished_by_the_next_run_with_one_bug(
        sandbox, env, rerun):
    key = ok(env, "escalate", "101")["jira_key"]
    own = delete_bug(env, sandbox, key)
    # After its create the bridge searches JIRA for an older Bug with the label (another
    # creator's): slow, so the kill lands between JIRA's create and the store's record of it.
    sandbox.jira.knobs.update({"latency_ms": 400})
    proc = _bridge(env, "escalate", "101", "--refile")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if bugs_with_label(sandbox, own):
                proc.kill()
                break
            if proc.poll() is not None:
                pytest.fail(f"the refile finished before it could be killed: {proc.communicate()}")
            time.sleep(0.01)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    row = services_of(env).store.escalations.by_ticket("zendesk", "101")
    assert (row.state, row.jira_issue_id) == ("intent", None)  # the intent was recorded first
    sandbox.jira.knobs.update({"latency_ms": 0})

    done = _bridge(env, "escalate", "101", *rerun, "--json")
    out, err = done.communicate(timeout=120)

    assert done.returncode == 0, err
    assert "Traceback" not in err
    bugs = bugs_with_label(sandbox, own)
    assert [b["key"] for b in bugs] == [json.loads(out)["jira_key"]]
    assert len(bugs_with_label(sandbox, LABEL)) == 1
    notes = internal_notes_by_bridge(sandbox, "101")
    assert len(notes) == 2 and bugs[0]["key"] in notes[-1]["body"]
    assert len(public_comments_by_bridge(sandbox, "101")) == 1
    row = services_of(env).store.escalations.by_ticket("zendesk", "101")
    assert (row.state, row.jira_key) == ("complete", bugs[0]["key"])


# --------------------------------------------------------------- other escalations --
def test_a_joined_escalation_is_refiled_with_every_ticket_moved_to_the_new_bug(sandbox, bridge_env):
    key = ok(bridge_env, "escalate", "101")["jira_key"]
    ok(bridge_env, "escalate", "104", "--into", key)
    acks = {t: public_comments_by_bridge(sandbox, t) for t in ("101", "104")}
    own = delete_bug(bridge_env, sandbox, key)

    refiled = ok(bridge_env, "escalate", "104", "--refile")   # any of its tickets will do

    new = refiled["jira_key"]
    assert [b["key"] for b in bugs_with_label(sandbox, own)] == [new]
    services = services_of(bridge_env)
    urls = sorted(r["object"]["url"] for r in sandbox.jira_state.remote_links(new))
    assert urls == sorted(services.helpdesk.ticket_url(t) for t in ("101", "104"))
    assert sandbox.jira_state.issue(new)["fields"]["customfield_10100"] == 2  # affected customers
    for ticket in ("101", "104"):
        assert new in internal_notes_by_bridge(sandbox, ticket)[-1]["body"]
        assert public_comments_by_bridge(sandbox, ticket) == acks[ticket]
        assert services.store.escalations.by_ticket("zendesk", ticket).jira_key == new


def test_an_unfinished_escalation_whose_bug_was_deleted_is_refiled_and_its_customer_acknowledged_once(
        sandbox, services, bridge_env):
    sandbox.zendesk.knobs.update(ZENDESK_WRITES_FAIL)
    first = services.escalator().escalate(EscalationRequest(ticket="101", actor=ACTOR))
    sandbox.zendesk.knobs.update(NO_FAULTS)
    assert first.failures and public_comments_by_bridge(sandbox, "101") == []
    delete_bug(bridge_env, sandbox, first.jira_key)
    assert run(bridge_env, "escalate", "101").exit_code == EXIT_USAGE

    refiled = ok(bridge_env, "escalate", "101", "--refile")

    assert refiled["failures"] == []
    assert len(public_comments_by_bridge(sandbox, "101")) == 1  # the acknowledgement it never had
    notes = internal_notes_by_bridge(sandbox, "101")
    assert len(notes) == 1 and refiled["jira_key"] in notes[0]["body"]
    assert services_of(bridge_env).store.escalations.by_ticket("zendesk", "101").state == "complete"
    reset_journals(sandbox)
    ok(bridge_env, "escalate", "101")
    assert len(public_comments_by_bridge(sandbox, "101")) == 1 and writes(sandbox.jira.knobs) == []
