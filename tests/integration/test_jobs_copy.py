"""`bridge db copy SQLITE_URL POSTGRES_URL`: an installation with history moves to
PostgreSQL, and a sync afterwards sends nothing twice (and new rows get fresh ids)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from jira import JIRA

from bridge.cli import main
from bridge.config import load_config
from bridge.sandbox.jira import DEMO_LOGINS
from bridge.services import Services
from tests.fixtures.bridge_comments import bridge_comments, escalate_together
from tests.fixtures.postgres import throwaway_schema

pytestmark = pytest.mark.postgres


@pytest.fixture
def empty_pg_url(postgres_admin_engine):
    with throwaway_schema(postgres_admin_engine, "copy") as url:
        yield url


def counts(url: str) -> dict[str, int]:
    from bridge.store.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return {t: connection.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
                    for t in ("escalation", "linked_ticket", "outbox", "audit")}
    finally:
        engine.dispose()


def test_a_sqlite_store_with_history_moves_to_postgres_and_sends_nothing_twice(sandbox, bridge_env, empty_pg_url):
    sqlite_url = bridge_env["BRIDGE_STORE_URL"]
    services = Services(load_config(None, env=bridge_env))
    bug = escalate_together(services, sandbox, (101, 105))
    dev = JIRA(server=sandbox.jira.url, basic_auth=DEMO_LOGINS["dev"].basic_auth("cloud"), max_retries=0)
    dev.transition_issue(bug, "In Progress")
    assert CliRunner().invoke(main, ["sync"], env=bridge_env).exit_code == 0
    before = {t: bridge_comments(sandbox, t) for t in (101, 105)}
    assert all(any("working on a fix" in r for r in replies) for replies in before.values())
    services.store.close()

    result = CliRunner().invoke(main, ["db", "copy", sqlite_url, empty_pg_url], env=bridge_env)
    assert result.exit_code == 0, result.output
    assert "copied" in result.output and "bridge-test-only" not in result.output  # no password shown
    assert counts(empty_pg_url) == counts(sqlite_url)

    on_pg = {**bridge_env, "BRIDGE_STORE_URL": empty_pg_url}
    assert CliRunner().invoke(main, ["sync"], env=on_pg).exit_code == 0
    assert {t: bridge_comments(sandbox, t) for t in (101, 105)} == before  # nothing sent twice

    dev.transition_issue(bug, "In QA")  # new rows after the move: ids do not collide
    result = CliRunner().invoke(main, ["sync"], env=on_pg)
    assert result.exit_code == 0, result.output
    for ticket in (101, 105):
        replies = bridge_comments(sandbox, ticket)
        assert replies[: len(before[ticket])] == before[ticket]
        assert sum("quality assurance" in r for r in replies) == 1

    again = CliRunner().invoke(main, ["db", "copy", sqlite_url, empty_pg_url], env=bridge_env)
    assert again.exit_code == 2 and "already holds escalations" in again.output


def test_copying_a_store_onto_itself_is_refused(bridge_env):
    url = bridge_env["BRIDGE_STORE_URL"]
    result = CliRunner().invoke(main, ["db", "copy", url, url], env=bridge_env)
    assert result.exit_code == 2 and "the same store" in result.output
