"""Self-monitoring against the sandbox's Sentry: a failing item becomes an event there, and
the event carries no secret, no e-mail address and no ticket text.

The events are read back through the emulator's own API (``events/?full=true``), which
returns what the SDK sent: message, exception values with their frames (and frame
variables, had any been sent), tags, contexts, user and release.
"""

from __future__ import annotations

import json
import re

import pytest
import sentry_sdk
from click.testing import CliRunner

import bridge
from bridge.cli import main
from bridge.config import load_config
from bridge.monitoring import (
    flush,
    init_monitoring,
    monitoring_active,
    report_item_failure,
    stop_monitoring,
)
from bridge.sandbox.sentry import DEMO_CREDENTIALS
from tests.fixtures.sentry_sandbox import SentrySandbox

CANARY = "canary-7e6d5c4b3a29-token"
CUSTOMER_EMAIL = "quentin.quokka@customers.example"
TICKET_TEXT = "our zebra launch plan for the Lisbon office is on hold"
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+\.[A-Za-z0-9.-]+")


@pytest.fixture(autouse=True)
def monitoring_off_afterwards():
    yield
    stop_monitoring()


def api(sandbox) -> SentrySandbox:
    return SentrySandbox(url=sandbox.sentry.url, state=sandbox.sentry_state, knobs=sandbox.sentry.knobs)


def bridge_events(sandbox) -> list[dict]:
    """Every event the bridge reported, as Sentry's API returns it in full."""
    sentry = api(sandbox)
    session = sentry.session()
    issues = session.get(sentry.api("issues/"), params={"project": "1", "query": "bridge.failure:item"}).json()
    events: list[dict] = []
    for issue in issues:
        events += session.get(sentry.api(f"issues/{issue['id']}/events/"), params={"full": "true"}).json()
    return events


def plant_customer_data(sandbox) -> None:
    """Ticket 101 gets a customer message with an address and words found nowhere else."""
    state = sandbox.zendesk_state
    alice = state.user_by_email("alice.adams@acme.example")
    state.update_ticket(101, {"comment": {"body": f"{TICKET_TEXT}; write to {CUSTOMER_EMAIL}",
                                          "public": True}}, alice["id"])


def test_a_failing_item_reaches_sentry_without_secrets_addresses_or_ticket_text(sandbox, bridge_env):
    plant_customer_data(sandbox)
    env = {**bridge_env,
           "BRIDGE_MONITOR_DSN": sandbox.sentry_state.dsn("backend"),
           "BRIDGE_MONITOR_ENVIRONMENT": "ci",
           # The canary is the Sentry API token: Sentry refuses it, so linking the ticket's
           # Sentry issues fails — the failing item — while the DSN still delivers events.
           "BRIDGE_SENTRY_TOKEN": CANARY}

    result = CliRunner().invoke(main, ["escalate", "101", "--sentry", "BACKEND-1A2", "--json"], env=env,
                                catch_exceptions=False)
    assert result.exit_code == 1, result.output  # escalated, but the Sentry items failed
    assert monitoring_active()
    flush()

    events = bridge_events(sandbox)
    assert events, "the failing items produced no event"
    for event in events:
        text = json.dumps(event)
        assert CANARY not in text
        assert EMAIL.findall(text) == []
        assert "zebra" not in text and "Lisbon" not in text
        assert "Export to CSV" not in text  # the ticket's subject
        tags = dict((t["key"], t["value"]) for t in event["tags"])
        assert tags["bridge.failure"] == "item" and tags["bridge.error"] == "CredentialsRefused"
        assert tags["environment"] == "ci" and tags["release"] == bridge.__version__
        assert event["user"] is None
        (exception,) = [e for e in event["entries"] if e["type"] == "exception"]
        frames = exception["data"]["values"][-1]["stacktrace"]["frames"]
        assert frames and all("vars" not in frame for frame in frames)
    # Both items: the conversation's references and the --sentry one.
    assert sorted(dict((t["key"], t["value"]) for t in e["tags"])["bridge.item"] for e in events) == [
        "error-tracker:BACKEND-1A2", "zendesk:101 error-references"]


def test_whatever_an_error_carries_is_scrubbed_before_it_is_sent(sandbox, bridge_env):
    config = load_config(None, env={**bridge_env, "BRIDGE_MONITOR_DSN": sandbox.sentry_state.dsn("backend"),
                                    "BRIDGE_PAGER_ROUTING_KEY": CANARY})
    assert init_monitoring(config)
    jira_token = bridge_env["BRIDGE_JIRA_TOKEN"]

    def fail(ticket_text: str) -> None:
        customer = CUSTOMER_EMAIL  # noqa: F841 - a local variable an SDK could send
        sentry_sdk.add_breadcrumb(message=f"read ticket: {ticket_text}", data={"body": ticket_text})
        raise RuntimeError(f"token {CANARY} for {CUSTOMER_EMAIL} at "
                           f"https://bridge:{jira_token}@jira.example/rest?access_token={CANARY}&x=1 "
                           f"Authorization: Bearer {DEMO_CREDENTIALS['token']}")

    try:
        fail(TICKET_TEXT)
    except RuntimeError as exc:
        event_id = report_item_failure(exc, item=f"zendesk:101 for {CUSTOMER_EMAIL}")
    assert event_id
    flush()

    stored = sandbox.sentry_state.events[event_id]
    text = json.dumps(stored, default=str)
    for secret in (CANARY, jira_token, DEMO_CREDENTIALS["token"], CUSTOMER_EMAIL, "zebra"):
        assert secret not in text
    value = stored["exception"][-1]["value"]
    assert value.startswith("token [Filtered] for [Filtered] at https://[Filtered]@jira.example/rest?access_token=[Filtered]&x=1")
    assert "Bearer [Filtered]" in value
    assert ("bridge.item", "zendesk:101 for [Filtered]") in stored["tags"]


def test_off_when_no_dsn_is_configured(sandbox, bridge_env):
    assert init_monitoring(load_config(None, env=bridge_env)) is False
    assert not monitoring_active()
    assert report_item_failure(RuntimeError("x"), item="zendesk:1") is None
    assert sandbox.sentry.knobs.received("POST", "/envelope/") == []


def test_an_unset_dsn_turns_off_monitoring_an_earlier_run_turned_on(sandbox, bridge_env):
    assert init_monitoring(load_config(None, env={**bridge_env, "BRIDGE_MONITOR_DSN": sandbox.sentry_state.dsn("web")}))
    result = CliRunner().invoke(main, ["status", "--json"], env=bridge_env)
    assert result.exit_code == 0
    assert not monitoring_active()
