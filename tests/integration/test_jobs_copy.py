"""`bridge db copy SQLITE_URL POSTGRES_URL`: an installation with history moves to
PostgreSQL, and a sync afterwards sends nothing twice (and new rows get fresh ids)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from jira import JIRA

from bridge.cli import main
from bridge.config import load_config
from bridge.escalation import EscalationRequest
from bridge.sandbox.jira import DEMO_LOGINS
from bridge.services import Services
from tests.conftest import ACTOR
from tests.fixtures.postgres import _with_schema, postgres_base_url

pytestmark = pytest.mark.postgres

BRIDGE_EMAIL = "bridge@example.com"


@pytest.fixture
def empty_pg_url(postgres_admin_engine):
    import uuid

    schema = f"copy_{uuid.uuid4().hex[:12]}"
    with postgres_admin_engine.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield _with_schema(postgres_base_url(), schema)
    finally:
        with postgres_admin_engine.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')


def public_replies(sandbox, ticket: int) -> list[str]:
    bridge = sandbox.zendesk_state.user_by_email(BRIDGE_EMAIL)["id"]
    return [c["body"] for c in sandbox.zendesk_state.comments(ticket) if c["public"] and c["author_id"] == bridge]


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
    first = services.escalator().escalate(EscalationRequest(ticket="101", actor=ACTOR))
    services.escalator().escalate(EscalationRequest(ticket="105", actor=ACTOR, into=first.jira_key))
    sandbox.zendesk_state.export_skips_last_minute = False
    dev = JIRA(server=sandbox.jira.url, basic_auth=DEMO_LOGINS["dev"].basic_auth("cloud"), max_retries=0)
    dev.transition_issue(first.jira_key, "In Progress")
    assert CliRunner().invoke(main, ["sync"], env=bridge_env).exit_code == 0
    before = {t: public_replies(sandbox, t) for t in (101, 105)}
    assert all(any("working on a fix" in r for r in replies) for replies in before.values())
    services.store.close()

    result = CliRunner().invoke(main, ["db", "copy", sqlite_url, empty_pg_url], env=bridge_env)
    assert result.exit_code == 0, result.output
    assert "copied" in result.output and "bridge-test-only" not in result.output  # no password shown
    assert counts(empty_pg_url) == counts(sqlite_url)

    on_pg = {**bridge_env, "BRIDGE_STORE_URL": empty_pg_url}
    assert CliRunner().invoke(main, ["sync"], env=on_pg).exit_code == 0
    assert {t: public_replies(sandbox, t) for t in (101, 105)} == before  # nothing sent twice

    dev.transition_issue(first.jira_key, "In QA")  # new rows after the move: ids do not collide
    result = CliRunner().invoke(main, ["sync"], env=on_pg)
    assert result.exit_code == 0, result.output
    for ticket in (101, 105):
        replies = public_replies(sandbox, ticket)
        assert replies[: len(before[ticket])] == before[ticket]
        assert sum("quality assurance" in r for r in replies) == 1

    again = CliRunner().invoke(main, ["db", "copy", sqlite_url, empty_pg_url], env=bridge_env)
    assert again.exit_code == 2 and "already holds escalations" in again.output


def test_copying_a_store_onto_itself_is_refused(bridge_env):
    url = bridge_env["BRIDGE_STORE_URL"]
    result = CliRunner().invoke(main, ["db", "copy", url, url], env=bridge_env)
    assert result.exit_code == 2 and "the same store" in result.output
