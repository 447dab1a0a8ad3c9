"""F8: waits are capped by the timeout. A service asking to be left alone for an hour
(``Retry-After: 3600``) makes `bridge escalate` give up at once, exit 3, naming the wait; a
JIRA that never answers costs one timeout, not a retry loop of them.

No clock is asserted on: what pins "promptly" is that the service received exactly one
request — the bridge neither waited for the hour nor retried.
"""

from __future__ import annotations

from click.testing import CliRunner

from bridge.cli import main
from bridge.connectors.http import WaitBudget
from bridge.connectors.jira import JiraTracker
from tests.integration.test_hardening_answers import CannedServer


def run(env: dict[str, str], *args: str):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def _one_error_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def test_jira_asking_for_an_hour_is_not_waited_for(bridge_env, sandbox):
    sandbox.jira.knobs.update({"rate_limit": 0, "retry_after_s": 3600})
    result = run(bridge_env, "escalate", "101")
    assert result.exit_code == 3, result.output
    line = _one_error_line(result)
    assert "JIRA" in line and "3600 s" in line and "rate limited" in line
    assert len(sandbox.jira.knobs.received()) == 1


def test_helpdesk_asking_for_an_hour_is_not_waited_for(bridge_env, sandbox):
    sandbox.zendesk.knobs.update({"rate_limit": 0, "retry_after_s": 3600})
    result = run(bridge_env, "escalate", "101")
    assert result.exit_code == 3, result.output
    line = _one_error_line(result)
    assert "Zendesk" in line and "3600 s" in line
    assert len(sandbox.zendesk.knobs.received()) == 1


def test_a_short_retry_after_is_still_waited_for():
    # One 429 asking for a second fits the budget: both kinds of connector wait and succeed.
    import json

    from bridge.connectors.zendesk import ZendeskHelpdesk
    from bridge.policy.visibility import OutboundGate

    limited = [(429, {"Retry-After": "1"}, b'{"error": "slow down"}')]
    answer = json.dumps({"versionNumbers": [9, 12, 0], "deploymentType": "Server",
                         "user": {"id": 7, "email": "agent@example.com"}}).encode()
    with CannedServer(body=answer, first=list(limited)) as server:
        helpdesk = ZendeskHelpdesk(server.url, email="agent@example.com", token="t0ken", gate=OutboundGate(), timeout=10)
        assert helpdesk.check() == "agent@example.com"
        assert len(server.requests) == 2
    with CannedServer(body=answer, first=list(limited)) as server:
        assert JiraTracker(server.url, user="u", token="t0ken", timeout=10).deployment == "Server"
        assert len(server.requests) == 2


def test_a_jira_that_never_answers_costs_one_timeout(bridge_env):
    with CannedServer(silent=True) as jira:
        result = run({**bridge_env, "BRIDGE_JIRA_URL": jira.url, "BRIDGE_HTTP_TIMEOUT": "1"}, "escalate", "101")
        assert result.exit_code == 3, result.output
        line = _one_error_line(result)
        assert "JIRA" in line and "timed out" in line
        assert len(jira.requests) == 1  # no retry of a time-out


def test_the_jira_library_gets_the_timeout_for_connect_and_read():
    tracker = JiraTracker("http://127.0.0.1:9", user="u", token="t", timeout=7)
    assert tracker._connect_args["timeout"] == (7, 7)
    assert tracker._connect_args["max_retries"] == 0  # the library's own 20 s+ retry loop stays off
    default = JiraTracker("http://127.0.0.1:9", user="u", token="t")
    assert default._connect_args["timeout"] == (30.0, 30.0)


def test_the_wait_budget_grants_at_most_its_limit_in_total():
    budget = WaitBudget(5.0)
    granted = [budget.take(2.0) for _ in range(4)]
    assert granted == [2.0, 2.0, 1.0, 0.0]
    assert budget.remaining() == 0.0
