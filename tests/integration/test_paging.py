"""`bridge escalate --emergency` and the highest severity page on-call once, over real HTTP
against the sandbox (JIRA, Zendesk and the emulated PagerDuty Events API v2)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from bridge.cli import main
from bridge.escalation import EscalationRequest
from tests.conftest import ACTOR

TICKET = "101"  # priority high: severity high, JIRA High under the default profile
EMERGENCY_TICKET = "102"  # "[Emergency] Payments failing for all users"


def escalate(services, ticket=TICKET, **kwargs):
    return services.escalator().escalate(EscalationRequest(ticket=ticket, actor=ACTOR, **kwargs))


def enqueued(sandbox) -> list[dict]:
    return [json.loads(e.body) for e in sandbox.pager.knobs.received("POST", "/v2/enqueue")]


def cli(env, *args):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_emergency_sets_the_highest_priority_and_pages_once(sandbox, services):
    result = escalate(services, emergency=True)

    bug = sandbox.jira_state.issue(result.jira_key)
    assert bug["fields"]["priority"]["name"] == "Highest"
    assert (result.severity, result.paged, result.failures) == ("emergency", True, [])
    [alert] = sandbox.pager_state.alerts_for("bridge-zendesk-101")
    assert alert.status == "triggered" and alert.severity == "critical"
    assert alert.custom_details["jira_key"] == result.jira_key
    assert services.store.escalations.by_ticket("zendesk", TICKET).pages_sent == 1

    again = escalate(services, emergency=True)
    assert again.jira_key == result.jira_key
    assert len(enqueued(sandbox)) == 1  # no second page, not even a deduplicated one
    assert services.store.escalations.by_ticket("zendesk", TICKET).pages_sent == 1


def test_rerunning_without_the_flag_writes_nothing_and_reads_only_the_bug(sandbox, services):
    result = escalate(services, emergency=True)
    for service in sandbox.services():
        service.knobs.reset_counters()
    escalate(services)
    # The one read: whether the Bug still stands (a Bug gone from JIRA stops the re-run, exit 2).
    assert [f"{e.method} {e.path}" for e in sandbox.jira.knobs.received()] == [
        f"GET /rest/api/2/issue/{sandbox.jira_state.issue(result.jira_key)['id']}"]
    assert all(service.knobs.received() == [] for service in sandbox.services() if service is not sandbox.jira)


def test_an_emergency_subject_pages_too(sandbox, services):
    # Policy 000 promises the highest severity a 1-hour answer around the clock: only a page
    # keeps that outside support hours, whatever made the ticket an emergency.
    result = escalate(services, ticket=EMERGENCY_TICKET)
    assert (result.severity, result.paged) == ("emergency", True)
    assert len(sandbox.pager_state.alerts_for(f"bridge-zendesk-{EMERGENCY_TICKET}")) == 1


def test_a_lower_severity_pages_nobody(sandbox, services):
    result = escalate(services)
    assert (result.severity, result.paged) == ("high", None)
    assert enqueued(sandbox) == []


def test_emergency_on_an_escalated_ticket_raises_the_bug_and_pages_once(sandbox, services):
    first = escalate(services)
    assert sandbox.jira_state.issue(first.jira_key)["fields"]["priority"]["name"] == "High"
    assert enqueued(sandbox) == []

    raised = escalate(services, emergency=True)

    assert raised.jira_key == first.jira_key and raised.created is False
    assert sandbox.jira_state.issue(first.jira_key)["fields"]["priority"]["name"] == "Highest"
    row = services.store.escalations.by_ticket("zendesk", TICKET)
    assert (row.severity, row.priority, row.pages_sent) == ("emergency", "Highest", 1)
    assert len(enqueued(sandbox)) == 1
    assert any(a.action == "escalate-emergency" and a.result == "ok" for a in services.store.audit.entries())
    bugs = [i for i in sandbox.jira_state.all_issues() if "bridge-zendesk-101" in i["fields"]["labels"]]
    assert len(bugs) == 1

    sandbox.jira.knobs.reset_counters()
    escalate(services, emergency=True)
    assert [e for e in sandbox.jira.knobs.received() if e.method in ("POST", "PUT")] == []
    assert len(enqueued(sandbox)) == 1


def test_a_failed_page_keeps_the_escalation_exits_1_and_the_next_run_pages(sandbox, bridge_env):
    sandbox.pager.knobs.update({"fail_next": 1, "fail_status": 503, "fail_methods": ["POST"]})
    failed = cli(bridge_env, "escalate", TICKET, "--emergency", "--json")

    assert failed.exit_code == 1
    data = json.loads(failed.stdout)
    assert data["jira_key"] and data["paged"] is False and "paging on-call failed" in data["failures"][0]
    assert "error: " in failed.stderr and "run the same command again" in failed.stderr
    assert sandbox.pager_state.alerts == []
    assert len(sandbox.jira_state.all_issues()) >= 1

    retried = cli(bridge_env, "escalate", TICKET, "--json")
    assert retried.exit_code == 0, retried.output
    assert json.loads(retried.stdout)["paged"] is True
    assert len(sandbox.pager_state.alerts_for("bridge-zendesk-101")) == 1

    done = cli(bridge_env, "escalate", TICKET, "--json")
    assert done.exit_code == 0 and json.loads(done.stdout)["paged"] is None
    assert len(enqueued(sandbox)) == 2  # the failed try and the retry, nothing after


def test_a_page_applied_but_unanswered_is_resent_and_folds_into_one_alert(sandbox, services):
    # PagerDuty took the event, then the connection dropped: the bridge cannot know.
    sandbox.pager.knobs.update({"fail_next": 1, "fail_mode": "drop", "fail_after_apply": True,
                                "fail_methods": ["POST"]})
    first = escalate(services, emergency=True)
    assert first.paged is False and first.failures

    second = escalate(services)
    assert second.paged is True
    [alert] = sandbox.pager_state.alerts_for("bridge-zendesk-101")
    assert len(alert.log) == 2  # the re-sent trigger joined the open alert: one page
    assert services.store.escalations.by_ticket("zendesk", TICKET).pages_sent == 1


def test_the_page_carries_no_customer_pii_and_no_sentry_data(sandbox, services):
    state = sandbox.zendesk_state
    alice = state.user_by_email("alice.adams@acme.example")
    ticket, _ = state.create_ticket({
        "subject": "[Emergency] down, call +1 415 555 0100 or alice.adams@acme.example, "
                   "see https://acme.sentry.io/issues/4505/",
        "requester_id": alice["id"],
        "comment": {"body": "Everything is down. My card 4111 1111 1111 1111 was charged twice."},
    }, alice["id"])

    result = escalate(services, ticket=str(ticket["id"]))

    assert result.paged is True
    [body] = enqueued(sandbox)
    text = json.dumps(body)
    for secret in ("415 555 0100", "alice.adams@acme.example", "sentry", "4505", "4111", "Alice"):
        assert secret.lower() not in text.lower()
    assert body["payload"]["summary"].startswith(f"Emergency escalation {result.jira_key}")
    assert body["dedup_key"] == f"bridge-zendesk-{ticket['id']}"


def test_dry_run_plans_the_page_and_sends_nothing(sandbox, services):
    result = escalate(services, emergency=True, dry_run=True)
    assert "page on-call once" in result.plan["writes"]
    assert enqueued(sandbox) == []


def test_paging_off_by_configuration_pages_nobody(sandbox, bridge_env):
    env = {**bridge_env, "BRIDGE_PAGER_KIND": "none"}
    result = cli(env, "escalate", TICKET, "--emergency", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["paged"] is None
    assert enqueued(sandbox) == []


def test_doctor_names_the_pager_without_its_routing_key(sandbox, bridge_env):
    result = cli(bridge_env, "doctor")
    line = next(line for line in result.output.splitlines() if " pager:" in line)
    assert line.startswith("ok") and "PagerDuty Events API v2" in line
    assert bridge_env["BRIDGE_PAGER_ROUTING_KEY"] not in result.output
    assert enqueued(sandbox) == []  # doctor builds the pager, it does not page anybody
