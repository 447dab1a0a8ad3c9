"""End to end with a real Bugsink: an exception becomes a Bugsink issue, an agent pastes its
URL into an internal note, ``bridge escalate`` (the CLI, in a subprocess) files the issue as
a JIRA Task related to the Bug, and nothing about Bugsink reaches the ticket. Then a
developer resolves it, it happens again, and ``bridge sync`` tells engineering.

JIRA and Zendesk are the sandbox's emulators; what the ticket received is read from the
Zendesk emulator's journal (every request the bridge sent), not from the bridge's report.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest
from jira import JIRA

from bridge.sandbox.jira import DEMO_LOGINS
from tests.conftest import ACTOR
from tests.fixtures.bugsink import BugsinkProject, BugsinkServer, bugsink, bugsink_server  # noqa: F401
from tests.fixtures.zendesk_tickets import ticket_with_agent_note

pytestmark = pytest.mark.slow

CLI_TIMEOUT_S = 120


class PaymentDeclined(Exception):
    pass


def checkout() -> None:
    raise PaymentDeclined("card declined for order 7731")


@pytest.fixture
def project(bugsink: BugsinkServer) -> BugsinkProject:
    return bugsink.new_project("checkout")


@pytest.fixture
def env(sandbox, bugsink: BugsinkServer, tmp_path) -> dict[str, str]:
    """The bridge pointed at the sandbox's JIRA and Zendesk and at the real Bugsink. The
    sandbox's BRIDGE_SENTRY_* stay set: BRIDGE_ERRORS_* win over them."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    return {**base, **sandbox.env(),
            "BRIDGE_STORE_URL": f"sqlite:///{tmp_path / 'bridge.db'}", "BRIDGE_BRIDGE_ACTOR": ACTOR,
            "BRIDGE_PAGER_KIND": "none",
            "BRIDGE_ERRORS_KIND": "bugsink", "BRIDGE_ERRORS_URL": bugsink.url,
            "BRIDGE_ERRORS_TOKEN": bugsink.token}


def bridge(env: dict[str, str], cwd, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bridge", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=CLI_TIMEOUT_S)


def new_ticket(sandbox, note: str) -> str:
    return ticket_with_agent_note(sandbox, note, subject='Checkout fails with my card', body='I cannot pay, the page shows an error.', priority='high')


def helpdesk_writes(sandbox) -> list:
    return [e for e in sandbox.zendesk.knobs.received() if e.method in ("POST", "PUT", "PATCH", "DELETE")]


def comments_sent(entries) -> list[dict]:
    """The comments in Zendesk writes: one ticket's update, or several in update_many."""
    found = []
    for entry in entries:
        body = json.loads(entry.body) if entry.body else {}
        for change in [body["ticket"]] if "ticket" in body else body.get("tickets", []):
            if change.get("comment"):
                found.append(change["comment"])
    return found


def related_keys(sandbox, key: str) -> list[str]:
    links = sandbox.jira_state.issue(key)["fields"].get("issuelinks", [])
    return sorted((link.get("inwardIssue") or link.get("outwardIssue"))["key"]
                  for link in links if link["type"]["name"] == "Relates")


def test_a_bugsink_issue_in_an_internal_note_becomes_a_related_task_and_never_reaches_the_ticket(
        sandbox, bugsink, project, env, tmp_path):
    fingerprint = [f"checkout-{uuid.uuid4().hex[:8]}"]
    event_id = bugsink.capture(project, checkout, fingerprint=fingerprint)
    issue = bugsink.issue_of_event(project, event_id)
    url = f"{bugsink.url}/issues/issue/{issue['id']}/"
    friendly = issue["friendly_id"]
    ticket = new_ticket(sandbox, f"Engineering: this is {url} (Bugsink {friendly}), id {issue['id']}.")
    sandbox.zendesk.knobs.reset_counters()

    escalated = bridge(env, tmp_path, "escalate", ticket, "--json")

    assert escalated.returncode == 0, escalated.stdout + escalated.stderr
    data = json.loads(escalated.stdout)
    [task] = data["sentry_tasks"]
    assert (task["sentry_issue_id"], task["sentry_short_id"], task["error"]) == (issue["id"], friendly, None)
    assert task["sentry_permalink"] == url and task["task_created"] and task["related"]
    # JIRA: one Task, labelled by the Bugsink UUID, related to the Bug, remote-linked to Bugsink.
    filed = sandbox.jira_state.issue(task["task_key"])["fields"]
    assert filed["issuetype"]["name"] == "Task"
    assert filed["summary"] == "[Bugsink] PaymentDeclined: card declined for order 7731"
    assert f"bridge-bugsink-{issue['id']}" in filed["labels"]
    assert url in filed["description"] and friendly in filed["description"]
    assert related_keys(sandbox, task["task_key"]) == [data["jira_key"]]
    assert [r["object"]["url"] for r in sandbox.jira_state.remote_links(task["task_key"])] == [url]
    # The Bug itself is not linked to Bugsink: only its Task is.
    assert sandbox.jira_state.remote_links(data["jira_key"]) == [] or all(
        bugsink.url not in r["object"]["url"] for r in sandbox.jira_state.remote_links(data["jira_key"]))

    # The ticket: the bridge wrote to it (the internal note naming the Bug, the customer's
    # acknowledgement), and nothing of Bugsink is in any of it.
    sent = helpdesk_writes(sandbox)
    assert sorted(c["public"] for c in comments_sent(sent)) == [False, True], sent
    host = bugsink.url.split("://", 1)[1]
    for entry in sent:
        body = (entry.body or "").lower()
        for leak in (host, issue["id"], friendly.lower(), "bugsink", "/issues/issue/"):
            assert leak not in body, (leak, entry.body)

    # The same escalation again changes nothing: one Task, no second link.
    again = bridge(env, tmp_path, "escalate", ticket, "--json")
    assert again.returncode == 0, again.stdout + again.stderr
    assert [i["key"] for i in sandbox.jira_state.all_issues()
            if f"bridge-bugsink-{issue['id']}" in i["fields"].get("labels", [])] == [task["task_key"]]

    # Fixed and released: the developer resolves the Bug, the issue is resolved in Bugsink.
    dev = JIRA(server=sandbox.jira.url, basic_auth=DEMO_LOGINS["dev"].basic_auth("cloud"), max_retries=0)
    dev.transition_issue(data["jira_key"], "Done", fields={"resolution": {"name": "Fixed"}})
    bugsink.resolve(issue["id"])
    sandbox.zendesk_state.export_skips_last_minute = False
    first = bridge(env, tmp_path, "sync", "--json")
    assert first.returncode == 0, first.stdout + first.stderr
    assert not [c for c in sandbox.jira_state.comments(data["jira_key"]) if "unresolved again" in c["body"]]

    # It happens again: Bugsink reopens the issue, sync tells engineering once and flags it.
    assert bugsink.issue_of_event(project, bugsink.capture(project, checkout, fingerprint=fingerprint))["id"] == issue["id"]
    assert bugsink.api("GET", f"issues/{issue['id']}/")["is_resolved"] is False
    sandbox.zendesk.knobs.reset_counters()
    for _ in range(2):
        synced = bridge(env, tmp_path, "sync", "--json")
        assert synced.returncode == 0, synced.stdout + synced.stderr
    told = [c for c in sandbox.jira_state.comments(data["jira_key"]) if "unresolved again" in c["body"]]
    assert len(told) == 1 and f"Bugsink issue {friendly}" in told[0]["body"]
    status = bridge(env, tmp_path, "status", data["jira_key"], "--json")
    assert status.returncode == 0, status.stdout + status.stderr
    assert json.loads(status.stdout)[0]["sentry_regressions"] == [friendly]
    for entry in helpdesk_writes(sandbox):
        assert friendly.lower() not in (entry.body or "").lower() and "unresolved again" not in (entry.body or "")


def test_link_sentry_takes_a_bugsink_friendly_id_and_refuses_a_sentry_number(sandbox, bugsink, project, env, tmp_path):
    event_id = bugsink.capture(project, checkout, fingerprint=[f"link-{uuid.uuid4().hex[:8]}"])
    issue = bugsink.issue_of_event(project, event_id)
    escalated = bridge(env, tmp_path, "escalate", "104", "--json")
    assert escalated.returncode == 0, escalated.stdout + escalated.stderr
    key = json.loads(escalated.stdout)["jira_key"]

    linked = bridge(env, tmp_path, "link-sentry", issue["friendly_id"], "--issue", key, "--json")
    assert linked.returncode == 0, linked.stdout + linked.stderr
    result = json.loads(linked.stdout)
    assert result["sentry_issue_id"] == issue["id"] and result["related"] is True
    assert related_keys(sandbox, result["task_key"]) == [key]

    refused = bridge(env, tmp_path, "link-sentry", "4505", "--issue", key)
    assert refused.returncode == 2
    assert "Bugsink names issues by UUID" in refused.stderr + refused.stdout
    assert bugsink.token not in refused.stderr + refused.stdout


def test_link_sentry_of_an_issue_bugsink_does_not_know_exits_2_and_leaves_nothing_to_retry(
        sandbox, project, env, tmp_path):
    from bridge.config import load_config
    from bridge.services import Services

    escalated = bridge(env, tmp_path, "escalate", "104", "--json")
    assert escalated.returncode == 0, escalated.stdout + escalated.stderr
    key = json.loads(escalated.stdout)["jira_key"]
    store = Services(load_config(None, env=env)).store
    before = sorted((e.key, e.state) for e in store.outbox.list(states=None))
    sandbox.jira.knobs.reset_counters()

    for unknown in (f"{project.slug.upper()}-999", str(uuid.uuid4())):
        refused = bridge(env, tmp_path, "link-sentry", unknown, "--issue", key)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert f"Bugsink has no issue {unknown}" in refused.stderr + refused.stdout
        assert sorted((e.key, e.state) for e in store.outbox.list(states=None)) == before
        assert store.tasks.all() == []
        assert [e for e in sandbox.jira.knobs.received() if e.method != "GET"] == []

    synced = bridge(env, tmp_path, "sync", "--json")
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert json.loads(synced.stdout)["failures"] == []
    status = bridge(env, tmp_path, "status", key, "--json")
    assert json.loads(status.stdout)[0]["failures"] == []
