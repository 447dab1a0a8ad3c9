"""`bridge db copy` as an operator meets it when a team moves from SQLite to PostgreSQL: a
mistyped source, a target that already holds something, a row PostgreSQL refuses half-way,
and whether every table arrives with its ids, times, text and sequences right.

Real SQLite files and the real PostgreSQL server; the CLI runs in-process (CliRunner).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy.engine import make_url
from sqlmodel import Session

from bridge.cli import main
from bridge.jobs.copy_store import SKIPPED
from bridge.store.db import make_engine, open_store
from bridge.store.tables import (
    AuditEntry,
    BoardSession,
    BoardStanding,
    BoardUser,
    Escalation,
    InboxItem,
    LinkedTicket,
    OutboxEntry,
    RelatedTask,
    RelatedTaskLink,
    SignInFailure,
    SyncCursor,
    metadata,
)
from tests.fixtures.postgres import throwaway_schema

TOKYO = timezone(timedelta(hours=9))
WHEN = datetime(2024, 3, 31, 1, 30, 15, 123456, tzinfo=UTC)  # the night Europe's clocks changed
GREEK = "Καλημέρα, 東京, Ünïcødé 🚀"
LARGE = ("payload " + GREEK + "\n") * 40_000  # about 1.4 MB of text


@pytest.fixture(autouse=True)
def _no_local_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No ./bridge.toml of the checkout's may change what the commands see."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BRIDGE_CONFIG", raising=False)


@pytest.fixture
def pg_url(postgres_admin_engine) -> str:
    """An empty schema of the test server: the store the team moves to."""
    with throwaway_schema(postgres_admin_engine, "review") as url:
        yield url


def copy(from_url: str, to_url: str):
    return CliRunner().invoke(main, ["db", "copy", from_url, to_url], env={"BRIDGE_STORE_URL": from_url})


def rows(url: str, table: str) -> list[dict]:
    """Every row of ``table`` through the models' types (datetimes aware UTC), in key order."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            t = metadata.tables[table]
            return [dict(r) for r in connection.execute(sa.select(t).order_by(*t.primary_key.columns)).mappings()]
    finally:
        engine.dispose()


def fill(url: str) -> None:
    """A store at head holding rows in every table the copy moves, with ids far from 1."""
    with open_store(url) as store, Session(store.engine) as s:
        s.add(Escalation(id=41, label="bridge-zendesk-7", origin_helpdesk="zendesk", origin_ticket_id="7",
                         jira_issue_id="10041", jira_key="SUP-41", state="created", severity="S1", priority="Highest",
                         profile="default", escalated_by="émilie@example.com", opened_at=WHEN.astimezone(TOKYO),
                         organization=GREEK, last_fix_versions='["1.2"]', claim_expires_at=WHEN))
        s.flush()
        s.add(LinkedTicket(id=17, escalation_id=41, helpdesk="zendesk", ticket_id="7", locale="el",
                           linked_at=WHEN, known_view='{"subject": "' + GREEK + '"}'))
        s.add(RelatedTask(id=23, sentry_issue_id="4711", label="bridge-sentry-4711", state="created", created_at=WHEN))
        s.flush()
        s.add(RelatedTaskLink(id=29, related_task_id=23, escalation_id=41, regression_flagged=True))
        s.add(OutboxEntry(id=57, key="ack:zendesk:7", escalation_id=41, target="zendesk:7", kind="public_reply",
                          payload=LARGE, state="sent", attempts=1, created_at=WHEN, sent_at=WHEN + timedelta(seconds=1)))
        s.add(AuditEntry(id=61, at=WHEN, actor="émilie", action="escalate", target="zendesk:7", result="ok",
                         detail=GREEK))
        s.add(SyncCursor(name="sync:jira", value="2024-03-31T01:30", updated_at=WHEN))
        s.add(BoardUser(id=71, name="Zoë", role="admin", password_hash="$argon2id$x", created_at=WHEN))
        s.flush()
        s.add(BoardSession(token_hash="ab" * 32, user_id=71, csrf_token="c", created_at=WHEN,
                           expires_at=WHEN + timedelta(days=1)))
        s.add(SignInFailure(name="mallory", failures=3, last_failure_at=WHEN))
        s.add(BoardStanding(escalation_id=41, standing="breached", rank=0, due_at=WHEN, order_key=2**40,
                            computed_at=WHEN))
        s.add(InboxItem(id=83, source="jira", delivery_id="d-1", event="jira:issue_updated",
                        subject='{"issue": "10041"}', available_at=WHEN, received_at=WHEN))
        s.commit()


@pytest.mark.postgres
def test_every_table_arrives_with_ids_times_and_text_intact_and_new_rows_get_fresh_ids(tmp_path: Path, pg_url: str) -> None:
    source = f"sqlite:///{tmp_path / 'bridge.db'}"
    fill(source)
    result = copy(source, pg_url)
    assert result.exit_code == 0, result.output
    copied = [t for t in metadata.tables if t not in SKIPPED]
    for table in copied:
        assert rows(pg_url, table) == rows(source, table), table
        assert rows(source, table), f"the test leaves {table} empty"
    # The next row PostgreSQL numbers itself does not collide with a copied id.
    with open_store(pg_url) as store, Session(store.engine) as s:
        s.add(AuditEntry(actor="a", action="b", target="c", result="ok"))
        s.add(BoardUser(name="new", role="viewer"))
        s.add(InboxItem(source="jira", delivery_id="d-2", event="e"))
        s.commit()
    assert max(r["id"] for r in rows(pg_url, "audit")) == 62
    assert max(r["id"] for r in rows(pg_url, "board_user")) == 72
    assert max(r["id"] for r in rows(pg_url, "inbox")) == 84


def test_copy_from_a_mistyped_sqlite_path_is_refused_and_creates_no_file(tmp_path: Path) -> None:
    missing = tmp_path / "typo" / "bridg.db"
    target = tmp_path / "target.db"
    result = copy(f"sqlite:///{missing}", f"sqlite:///{target}")
    assert result.exit_code == 2, result.output
    assert "does not exist" in result.output and str(missing) in result.output
    assert "bridge db upgrade" not in result.output  # upgrading would make an empty store there
    assert not missing.exists() and not missing.parent.exists()
    assert not target.exists()


def test_copy_from_a_file_that_is_no_store_is_refused_not_copied_as_empty(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    target = tmp_path / "target.db"
    result = copy(f"sqlite:///{empty}", f"sqlite:///{target}")
    assert result.exit_code == 2, result.output
    assert "copied" not in result.output
    assert empty.stat().st_size == 0  # the source is only read


@pytest.mark.postgres
def test_copy_into_a_store_holding_only_board_accounts_is_refused_exit_2_naming_them(tmp_path: Path, pg_url: str) -> None:
    source = f"sqlite:///{tmp_path / 'bridge.db'}"
    fill(source)
    # The operator migrated the new server and made an admin account there before moving the data.
    upgraded = CliRunner().invoke(main, ["db", "upgrade"], env={"BRIDGE_STORE_URL": pg_url})
    assert upgraded.exit_code == 0, upgraded.output
    added = CliRunner().invoke(main, ["users", "add", "root", "--role", "admin", "--password-stdin"],
                               input="correct horse battery\n", env={"BRIDGE_STORE_URL": pg_url})
    assert added.exit_code == 0, added.output
    result = copy(source, pg_url)
    assert result.exit_code == 2, result.output
    assert "internal error" not in result.output
    assert "already holds" in result.output and "board_user" in result.output
    assert [r["name"] for r in rows(pg_url, "board_user")] == ["root"]
    assert rows(pg_url, "escalation") == []


@pytest.mark.postgres
def test_a_row_postgres_refuses_is_named_leaves_the_target_empty_and_a_rerun_copies_once(tmp_path: Path, pg_url: str) -> None:
    source = f"sqlite:///{tmp_path / 'bridge.db'}"
    fill(source)
    with open_store(source) as store, Session(store.engine) as s:
        # SQLite keeps a NUL character in text; PostgreSQL's text cannot hold one.
        s.add(OutboxEntry(id=58, key="note:zendesk:7", escalation_id=41, target="zendesk:7", kind="internal_note",
                          state="failed", last_error="vendor said \x00 here"))
        s.commit()
    result = copy(source, pg_url)
    assert result.exit_code == 2, result.output
    assert "internal error" not in result.output
    assert "outbox" in result.output and "id=58" in result.output
    password = make_url(pg_url).password
    assert password and password not in result.output
    for table in ("escalation", "linked_ticket", "outbox", "audit", "board_user"):
        assert rows(pg_url, table) == [], f"{table} was left half-copied"

    with open_store(source) as store, store.engine.begin() as connection:
        connection.execute(sa.text("UPDATE outbox SET last_error = 'vendor said here' WHERE id = 58"))
    again = copy(source, pg_url)
    assert again.exit_code == 0, again.output
    assert [r["id"] for r in rows(pg_url, "outbox")] == [57, 58]
    assert rows(pg_url, "escalation") == rows(source, "escalation")
