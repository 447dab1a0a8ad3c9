"""F1: a `[customer]` comment JIRA Service Management stores as internal never reaches a
customer, whichever way JIRA marks it; `bridge sync` runs over real HTTP on the sandbox and
the developer writes with the real `jira` library (3.10.5), as in production."""

from __future__ import annotations

import pytest
from jira import JIRA

from bridge.sandbox.jira import DEMO_LOGINS
from tests.conftest import ACTOR
from tests.fixtures.bridge_comments import bridge_comments, escalate_together

TICKETS = (101, 104)


@pytest.fixture
def dev(sandbox) -> JIRA:
    return JIRA(server=sandbox.jira.url, basic_auth=DEMO_LOGINS["dev"].basic_auth("cloud"), max_retries=0)


@pytest.fixture
def escalated(sandbox, services) -> str:
    return escalate_together(services, sandbox, TICKETS)


def _sync(services) -> None:
    report = services.sync_engine().run()
    assert report.exit_code == 0, report.failures


def test_internal_customer_comment_is_never_posted_publicly(sandbox, services, dev, escalated):
    dev.add_comment(escalated, "[customer] internal-only: the workaround breaks billing", is_internal=True)
    dev.add_comment(escalated, "[customer] The fix ships on Friday.")
    _sync(services)
    _sync(services)
    for ticket in TICKETS:
        public = bridge_comments(sandbox, ticket, public=True)
        assert not any("internal-only" in body for body in public), public
        assert any("The fix ships on Friday." in body for body in public)


def test_tracker_reads_the_internal_mark_the_library_returns(sandbox, services, dev, escalated):
    internal = dev.add_comment(escalated, "[customer] internal", is_internal=True)
    restricted = dev.add_comment(escalated, "[customer] role only", visibility={"type": "role", "value": "Developers"})
    public = dev.add_comment(escalated, "[customer] public")
    tracker = services.tracker
    assert tracker.comment_is_public(escalated, internal.id) is False
    assert tracker.comment_is_public(escalated, restricted.id) is False
    assert tracker.comment_is_public(escalated, public.id) is True
    by_id = {c.id: c.public for c in tracker.comments(escalated)}
    assert by_id[str(internal.id)] is False and by_id[str(restricted.id)] is False
    assert by_id[str(public.id)] is True


@pytest.mark.parametrize("jira_mode", ["cloud", "server"])
def test_bridge_sync_command_never_posts_an_internal_comment(tmp_path, jira_mode):
    """The same through `bridge sync` itself, on JIRA Cloud (which also says ``jsdPublic``)
    and Data Center (where only the comment property tells)."""
    from click.testing import CliRunner

    from bridge.cli import main
    from bridge.sandbox.world import start_sandbox

    with start_sandbox(0, jira_mode=jira_mode) as world:
        env = {**world.env(), "BRIDGE_STORE_URL": f"sqlite:///{tmp_path / 'bridge.db'}", "BRIDGE_BRIDGE_ACTOR": ACTOR}
        runner = CliRunner()
        escalated = runner.invoke(main, ["escalate", "101", "--json"], env=env, catch_exceptions=False)
        assert escalated.exit_code == 0, escalated.output
        key = __import__("json").loads(escalated.stdout)["jira_key"]
        world.zendesk_state.export_skips_last_minute = False
        dev = JIRA(server=world.jira.url, basic_auth=DEMO_LOGINS["dev"].basic_auth(jira_mode), max_retries=0)
        dev.add_comment(key, "[customer] internal-only: do not tell them about the refund bug", is_internal=True)
        dev.add_comment(key, "[customer] We found the cause.")
        for _ in range(2):
            synced = runner.invoke(main, ["sync"], env=env, catch_exceptions=False)
            assert synced.exit_code == 0, synced.output
        public = bridge_comments(world, 101, public=True)
        assert not any("internal-only" in body for body in public)
        assert any("We found the cause." in body for body in public)
