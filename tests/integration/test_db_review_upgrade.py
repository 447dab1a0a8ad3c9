"""`bridge db upgrade` as an operator meets it: a store a newer bridge migrated, a read-only
server (a standby, a read-only role), concurrent runs from separate processes, a store of an
old revision holding data, and what a reading command says about a store it cannot read.

Real SQLite files and the real PostgreSQL server; the CLI runs in-process (CliRunner) or as
separate processes where concurrency is the point.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from click.testing import CliRunner
from sqlalchemy.engine import make_url

from bridge.cli import main
from bridge.store.db import (
    _alembic_config,
    current_revision,
    head_revision,
    make_engine,
    open_store,
)
from tests.fixtures.postgres import throwaway_schema

NEWER = "0099"


@pytest.fixture(autouse=True)
def _no_local_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No ./bridge.toml of the checkout's may change what the commands see."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BRIDGE_CONFIG", raising=False)


def bridge(*args: str, url: str):
    """Run the CLI in-process on the store at ``url``."""
    return CliRunner().invoke(main, list(args), env={"BRIDGE_STORE_URL": url})


def set_revision(url: str, revision: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    finally:
        engine.dispose()


@pytest.fixture
def pg_url(postgres_admin_engine) -> str:
    """An empty schema of the test server (for PostgreSQL-only cases)."""
    with throwaway_schema(postgres_admin_engine, "review") as url:
        yield url


def with_option(url: str, option: str) -> str:
    """``url`` with one more server option (``-c name=value``) on its ``options`` parameter."""
    parsed = make_url(url)
    options = f"{parsed.query.get('options', '')} {option}".strip()
    return parsed.update_query_dict({"options": options}).render_as_string(hide_password=False)


def test_upgrade_of_a_store_a_newer_bridge_migrated_exits_2_saying_upgrade_bridge(store_url: str) -> None:
    open_store(store_url, auto_upgrade=True).close()
    set_revision(store_url, NEWER)
    result = bridge("db", "upgrade", url=store_url)
    assert result.exit_code == 2, result.output
    assert "internal error" not in result.output
    assert NEWER in result.output and "upgrade bridge" in result.output
    engine = make_engine(store_url)
    try:
        assert current_revision(engine) == NEWER  # left as the newer bridge made it
    finally:
        engine.dispose()


def test_status_on_a_store_a_newer_bridge_migrated_names_the_file_and_says_upgrade_bridge(tmp_path: Path) -> None:
    path = tmp_path / "state" / "bridge.db"
    url = f"sqlite:///{path}"
    open_store(url).close()
    set_revision(url, NEWER)
    result = bridge("status", url=url)
    assert result.exit_code == 2, result.output
    assert str(path) in result.output  # not the "sqlite://" of the read-only connection
    assert "upgrade bridge" in result.output
    assert "run `bridge db upgrade`" not in result.output  # this bridge cannot do that


@pytest.mark.postgres
def test_upgrade_against_a_read_only_server_exits_2_naming_it_without_the_password(pg_url: str) -> None:
    store_url = pg_url  # read-only as a hot standby, or a role whose transactions default to read-only
    read_only = with_option(store_url, "-cdefault_transaction_read_only=on")
    result = bridge("db", "upgrade", url=read_only)
    assert result.exit_code == 2, result.output
    assert "internal error" not in result.output and "Traceback" not in result.output
    assert "read-only" in result.output
    password = make_url(store_url).password
    assert password and password not in result.output
    engine = make_engine(store_url)
    try:
        assert current_revision(engine) is None  # nothing half-done
    finally:
        engine.dispose()
    # Through a writable URL the same store then migrates as usual.
    assert bridge("db", "upgrade", url=store_url).exit_code == 0


@pytest.mark.postgres
def test_upgrade_of_a_current_store_through_a_read_only_server_changes_nothing_and_succeeds(pg_url: str) -> None:
    store_url = pg_url
    assert bridge("db", "upgrade", url=store_url).exit_code == 0
    again = bridge("db", "upgrade", url=with_option(store_url, "-cdefault_transaction_read_only=on"))
    assert again.exit_code == 0, again.output


def test_concurrent_upgrades_from_separate_processes_all_succeed_and_migrate_once(store_url: str) -> None:
    env = {**os.environ, "BRIDGE_STORE_URL": store_url}
    runs = [subprocess.Popen([sys.executable, "-m", "bridge", "db", "upgrade"], env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(3)]
    outcomes = [(run.wait(timeout=120), run.stderr.read()) for run in runs]
    for run in runs:
        run.stdout.close()
        run.stderr.close()
    assert [code for code, _ in outcomes] == [0, 0, 0], outcomes
    engine = make_engine(store_url)
    try:
        assert current_revision(engine) == head_revision()
        if engine.dialect.name == "postgresql":
            with engine.connect() as connection:  # procrastinate's scripts recorded once each
                names = connection.execute(sa.text("SELECT name FROM bridge_job_engine_migration")).scalars().all()
            assert len(names) == len(set(names)) > 0
    finally:
        engine.dispose()


def test_a_store_at_the_first_revision_with_history_upgrades_keeping_every_row(store_url: str) -> None:
    engine = make_engine(store_url)
    now = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    try:
        with engine.begin() as connection:
            command.upgrade(_alembic_config(connection), "0001")
            connection.execute(sa.text(
                "INSERT INTO escalation (id, label, origin_helpdesk, origin_ticket_id, jira_issue_id, state, severity,"
                " priority, profile, escalated_by, opened_at, created_at, updated_at, affected_count, pages_sent)"
                " VALUES (5, 'bridge-zendesk-1', 'zendesk', '1', '10001', 'created', 'S1', 'P1', 'default', 'me',"
                " :n, :n, :n, 1, 0)"), {"n": now})
            connection.execute(sa.text("INSERT INTO linked_ticket (id, escalation_id, helpdesk, ticket_id, role, linked_at)"
                                       " VALUES (3, 5, 'zendesk', '1', 'origin', :n)"), {"n": now})
            connection.execute(sa.text("INSERT INTO outbox (id, key, escalation_id, target, kind, payload, state, attempts,"
                                       " created_at) VALUES (9, 'ack:zendesk:1', 5, 'zendesk:1', 'public_reply', '{}',"
                                       " 'sent', 1, :n)"), {"n": now})
            connection.execute(sa.text("INSERT INTO sync_cursor (name, value, updated_at) VALUES (:k, :v, :n)"),
                               {"k": "sync:ticket:zendesk:1", "v": json.dumps({"comment": "77", "status": "open"}),
                                "n": now})
    finally:
        engine.dispose()
    result = bridge("db", "upgrade", url=store_url)
    assert result.exit_code == 0, result.output
    with open_store(store_url) as store:
        escalation = store.escalations.by_label("bridge-zendesk-1")
        assert escalation is not None and escalation.id == 5
        links = store.links.of(5)
        assert [(link.id, link.ticket_id, link.last_comment_id, link.last_status) for link in links] == \
            [(3, "1", "77", "open")]
        with store.engine.connect() as connection:
            assert connection.execute(sa.text("SELECT escalation_id FROM outbox WHERE id = 9")).scalar_one() == 5
