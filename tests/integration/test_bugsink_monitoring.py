"""Self-monitoring with a Bugsink DSN: the bridge's own failures land in a real Bugsink,
without the token that failed.

The failing item is itself about Bugsink: the bridge is given a wrong Bugsink API token, so
looking for references in the conversation fails (``CredentialsRefused``); the DSN, a
different secret, still delivers the report to the project.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from bridge.cli import main
from bridge.monitoring import flush, monitoring_active, stop_monitoring
from tests.fixtures.bugsink import BugsinkServer, bugsink, bugsink_server  # noqa: F401

pytestmark = pytest.mark.slow

CANARY = "feedc0de" * 5  # 40 hex characters: a well-formed Bugsink token Bugsink does not know


@pytest.fixture(autouse=True)
def monitoring_off_afterwards():
    yield
    stop_monitoring()


def test_a_failing_item_is_reported_to_bugsink_without_the_token(sandbox, bridge_env, bugsink: BugsinkServer):
    project = bugsink.new_project("bridge")
    env = {**bridge_env, "BRIDGE_ERRORS_KIND": "bugsink", "BRIDGE_ERRORS_URL": bugsink.url,
           "BRIDGE_ERRORS_TOKEN": CANARY, "BRIDGE_MONITOR_DSN": project.dsn,
           "BRIDGE_MONITOR_ENVIRONMENT": "ci"}

    result = CliRunner().invoke(main, ["escalate", "101", "--json"], env=env, catch_exceptions=False)

    assert result.exit_code == 1, result.output  # escalated; looking for Bugsink references failed
    assert monitoring_active()
    flush()
    issue = bugsink.wait_for_issue(project)
    assert issue["calculated_type"] == "CredentialsRefused"
    events = bugsink.api("GET", "events/", params={"issue": issue["id"]})["results"]
    assert events
    for summary in events:
        event = bugsink.api("GET", f"events/{summary['id']}/")
        text = json.dumps(event)
        assert CANARY not in text
        assert "Bugsink" in text  # the failure names the service that refused
        tags = event["data"].get("tags") or {}
        tags = dict(tags) if isinstance(tags, list) else tags
        # The item: ticket 101's conversation, looked through for references.
        assert tags.get("bridge.item", "").startswith("zendesk:101 ")
        assert tags["bridge.item"].endswith("-references")
        assert event["data"].get("environment") == "ci"
