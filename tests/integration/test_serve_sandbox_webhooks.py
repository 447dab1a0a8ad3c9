"""The emulators' own webhooks into `bridge serve`, registered the way `bridge sandbox
--webhooks-to` and `bridge webhooks register` do it: a developer's transition in the JIRA
emulator reaches the customer with nobody posting by hand; Zendesk, Sentry and Freshdesk
deliveries arrive signed and are accepted; registering twice leaves one registration."""

from __future__ import annotations

import socket

import pytest
import requests
from click.testing import CliRunner
from jira import JIRA

from bridge.cli import main
from bridge.config import load_config
from bridge.escalation import EscalationRequest
from bridge.sandbox.jira import DEMO_LOGINS
from bridge.service.registration import register_sandbox
from bridge.service.server import Serving
from bridge.services import Services
from tests.conftest import ACTOR
from tests.fixtures.bridge_comments import BRIDGE_EMAIL, bridge_comments
from tests.fixtures.serve import SECRETS, inbox_settled, wait_until


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def wired(sandbox, bridge_env):
    """`bridge serve` on a known port, every emulator registered to send it webhooks."""
    port = free_port()
    secrets = register_sandbox(sandbox, f"http://127.0.0.1:{port}")
    services = Services(load_config(None, env={**bridge_env, **secrets}))
    sandbox.zendesk_state.export_skips_last_minute = False
    running = Serving(services, host="127.0.0.1", port=port, workers=2).start()
    try:
        yield running, services
    finally:
        running.stop(grace=10)


def test_a_transition_in_the_jira_emulator_reaches_the_customer_by_its_own_webhook(sandbox, wired):
    running, services = wired
    result = services.escalator().escalate(EscalationRequest(ticket="101", actor=ACTOR))
    wait_until(lambda: inbox_settled(services.store))
    dev = JIRA(server=sandbox.jira.url, basic_auth=DEMO_LOGINS["dev"].basic_auth("cloud"), max_retries=0)
    dev.transition_issue(result.jira_key, "In Progress")
    wait_until(lambda: any("working on a fix" in r for r in bridge_comments(sandbox, 101)), what="the customer told")
    # Zendesk's deliveries of the bridge's own writes go out on the emulator's thread: under
    # load they can still be on their way when the inbox has nothing left to work on.
    assert sandbox.zendesk_state.webhooks.dispatcher.wait_idle(30), "the Zendesk emulator's deliveries did not go out"
    wait_until(lambda: inbox_settled(services.store))
    assert sum("working on a fix" in r for r in bridge_comments(sandbox, 101)) == 1
    assert {i.source for i in services.store.inbox.items()} >= {"jira", "zendesk"}
    assert all(i.state == "done" for i in services.store.inbox.items())


def test_sentry_and_freshdesk_emulators_send_signed_webhooks(sandbox, wired):
    running, services = wired
    sandbox.sentry_state.update_issue(4505, {"status": "resolved"})
    customer = next(iter(sandbox.freshdesk_state.tickets.values()))
    sandbox.freshdesk_state.update_ticket(customer["id"], {"priority": 3})
    wait_until(lambda: {i.source for i in services.store.inbox.items()} >= {"sentry", "freshdesk"},
               what="both deliveries")
    sentry_item = next(i for i in services.store.inbox.items() if i.source == "sentry")
    assert services.store.inbox.subject(sentry_item) == {"sentry_issue_id": "4505"}
    refused = requests.get(f"{running.url}/metrics", timeout=10).text
    assert 'outcome="bad_signature"' not in refused and 'outcome="unsigned"' not in refused


def test_webhooks_register_is_idempotent_and_doctor_sees_it(sandbox, bridge_env):
    env = {**bridge_env, **SECRETS, "BRIDGE_SERVE_PUBLIC_URL": "https://bridge.example.com"}
    runner = CliRunner()
    first = runner.invoke(main, ["webhooks", "register"], env=env)
    assert first.exit_code == 0, first.output
    assert "jira: admin webhook to https://bridge.example.com/hooks/jira created" in first.output
    again = runner.invoke(main, ["webhooks", "register"], env=env)
    assert again.exit_code == 0 and "created" not in again.output
    admin = (BRIDGE_EMAIL, bridge_env["BRIDGE_JIRA_TOKEN"])
    hooks = requests.get(f"{sandbox.jira.url}/rest/webhooks/1.0/webhook", auth=admin, timeout=10).json()
    assert [h["url"] for h in hooks] == ["https://bridge.example.com/hooks/jira"]
    assert "secret" not in hooks[0]
    doctor = runner.invoke(main, ["doctor"], env=env)
    line = next(line for line in doctor.output.splitlines() if " webhooks:" in line)
    assert line.startswith("ok") and "registered at jira, zendesk" in line
    assert all(value not in doctor.output for value in SECRETS.values())


def test_webhooks_register_without_a_public_url_exits_2(bridge_env):
    result = CliRunner().invoke(main, ["webhooks", "register"], env={**bridge_env, **SECRETS,
                                                                     "BRIDGE_SERVE_PUBLIC_URL": ""})
    assert result.exit_code == 2 and "BRIDGE_SERVE_PUBLIC_URL" in result.output
