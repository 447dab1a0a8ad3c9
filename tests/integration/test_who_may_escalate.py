"""Who may escalate (policy 003 and the mappings' `escalation` rules), through the CLI against
the sandbox: refusals exit 2 with a clear message, write nothing and are audited as denied."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from bridge.cli import main
from bridge.config import load_config
from bridge.services import Services

TICKET = "101"  # requested by Alice Adams of Acme Corp


def run(env, *args):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def with_rules(bridge_env, tmp_path, rules: str, actor: str | None = None) -> dict[str, str]:
    mappings = tmp_path / "mappings"
    mappings.mkdir(exist_ok=True)
    (mappings / "default.yaml").write_text("escalation:\n" + rules)
    env = {**bridge_env, "BRIDGE_MAPPINGS_DIR": str(mappings)}
    if actor:
        env["BRIDGE_BRIDGE_ACTOR"] = actor
    return env


def writes(sandbox) -> list:
    return [e for s in (sandbox.jira, sandbox.zendesk) for e in s.knobs.received() if e.method in ("POST", "PUT")]


def audit(env) -> list[tuple[str, str, str]]:
    store = Services(load_config(None, env=env)).store
    return [(a.actor, a.action, a.result) for a in store.audit.entries()]


def mark_admin(sandbox, email: str, **changes) -> None:
    user = sandbox.zendesk_state.user_by_email(email)
    sandbox.zendesk_state.users[user["id"]].update(changes)


def test_an_allowed_actor_may_escalate(sandbox, bridge_env, tmp_path):
    env = with_rules(bridge_env, tmp_path, "  allowed_actors: [Frank@Example.com]\n", actor="frank@example.com")
    result = run(env, "escalate", TICKET, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["created"] is True


def test_an_agent_of_an_allowed_group_may_escalate(sandbox, bridge_env, tmp_path):
    env = with_rules(bridge_env, tmp_path, "  allowed_groups: [Escalations]\n", actor="erin@example.com")
    result = run(env, "escalate", TICKET)
    assert result.exit_code == 0, result.output


def test_an_actor_neither_listed_nor_in_a_group_is_refused(sandbox, bridge_env, tmp_path):
    env = with_rules(bridge_env, tmp_path, "  allowed_actors: [erin@example.com]\n  allowed_groups: [Escalations]\n",
                     actor="frank@example.com")
    result = run(env, "escalate", TICKET)
    assert result.exit_code == 2
    assert "frank@example.com may not escalate" in result.stderr
    assert writes(sandbox) == []
    assert audit(env) == [("frank@example.com", "escalate", "denied")]


def test_a_requester_who_is_no_account_admin_is_refused(sandbox, bridge_env, tmp_path):
    env = with_rules(bridge_env, tmp_path, "  require_active_admin_requester: true\n")
    result = run(env, "escalate", TICKET)
    assert result.exit_code == 2
    assert "may not be escalated" in result.stderr and "Acme Corp" in result.stderr
    assert "account_admin" in result.stderr  # says what marks an admin
    assert writes(sandbox) == []
    assert audit(env) == [("erin@example.com", "escalate", "denied")]
    # The audit trail names no customer.
    store = Services(load_config(None, env=env)).store
    assert "Alice" not in store.audit.entries()[0].detail


@pytest.mark.parametrize("marker", [{"user_fields": {"account_admin": True}}, {"tags": ["account_admin"]}])
def test_an_active_account_admin_requester_may_escalate(sandbox, bridge_env, tmp_path, marker):
    mark_admin(sandbox, "alice.adams@acme.example", **marker)
    env = with_rules(bridge_env, tmp_path, "  require_active_admin_requester: true\n")
    result = run(env, "escalate", TICKET)
    assert result.exit_code == 0, result.output


def test_a_suspended_account_admin_is_refused(sandbox, bridge_env, tmp_path):
    mark_admin(sandbox, "alice.adams@acme.example", user_fields={"account_admin": True}, suspended=True)
    env = with_rules(bridge_env, tmp_path, "  require_active_admin_requester: true\n")
    result = run(env, "escalate", TICKET)
    assert result.exit_code == 2 and "not an active user" in result.stderr
    assert writes(sandbox) == []


def test_a_custom_marker_from_the_mappings(sandbox, bridge_env, tmp_path):
    mark_admin(sandbox, "alice.adams@acme.example", user_fields={"account_admin": True})
    env = with_rules(bridge_env, tmp_path,
                     "  require_active_admin_requester: true\n  account_admin_marker: org_owner\n")
    assert run(env, "escalate", TICKET).exit_code == 2
    mark_admin(sandbox, "alice.adams@acme.example", user_fields={"org_owner": "yes"})
    assert run(env, "escalate", TICKET).exit_code == 0
