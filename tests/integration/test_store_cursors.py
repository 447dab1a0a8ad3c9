"""Where sync stands, in typed columns of the rows it describes (on SQLite and PostgreSQL):
the repository methods, and the migration that moves the old JSON cursors over and back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from bridge.store.db import MIGRATIONS_DIR, make_engine
from bridge.store.repository import Store
from tests.integration.test_store import count_rows, intent, race, separate_stores

AT = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)


def test_a_tickets_position_is_recorded_column_by_column(store: Store) -> None:
    intent(store)
    assert store.links.record_baseline("zendesk", "123", comment_id="7", status="open")
    assert not store.links.record_baseline("zendesk", "123", comment_id="9", status="pending")  # kept
    store.links.record_seen("zendesk", "123", version="v3")
    link = store.links.get("zendesk", "123")
    assert link is not None and (link.last_comment_id, link.last_status, link.known_version) == ("7", "open", "v3")
    store.links.record_seen("zendesk", "123", comment_id="12", status="solved")
    store.links.record_seen("zendesk", "123", version=None)
    link = store.links.get("zendesk", "123")
    assert link is not None and (link.last_comment_id, link.last_status, link.known_version) == ("12", "solved", None)
    with pytest.raises(LookupError):
        store.links.record_seen("zendesk", "nope", comment_id="1")
    with pytest.raises(LookupError):
        store.links.record_baseline("zendesk", "nope", comment_id="1", status=None)


def test_the_bugs_comments_and_the_error_issues_state_are_recorded(store: Store) -> None:
    escalation, _ = intent(store)
    store.escalations.record_jira_comment_seen(escalation.id, "10042")
    assert store.escalations.get(escalation.id).last_jira_comment_id == "10042"  # type: ignore[union-attr]
    with pytest.raises(LookupError):
        store.escalations.record_jira_comment_seen(99999, "1")
    task, _ = store.tasks.record_intent(sentry_issue_id="4711", label="bridge-sentry-4711", sentry_short_id="WEB-1")
    plain, _ = store.tasks.record_intent(sentry_issue_id="4712", label="bridge-sentry-4712")
    for t in (task, plain):
        store.tasks.relate(t.id, escalation.id)
    store.tasks.record_error_status(task.id, "resolved")
    assert store.tasks.by_error_issue("4711").last_error_status == "resolved"  # type: ignore[union-attr]
    assert store.tasks.regressions_of(escalation.id) == []
    store.tasks.flag_regression(task.id, escalation.id)
    store.tasks.flag_regression(plain.id, escalation.id)
    assert store.tasks.regressions_of(escalation.id) == ["4712", "WEB-1"]
    store.tasks.flag_regression(plain.id, escalation.id, False)
    assert store.tasks.regressions_of(escalation.id) == ["WEB-1"]
    with pytest.raises(LookupError):
        store.tasks.flag_regression(task.id, 99999)
    with pytest.raises(LookupError):
        store.tasks.record_error_status(99999, "resolved")


# -- the data migration ---------------------------------------------------------------------


@pytest.fixture
def engine(store_url: str) -> Iterator[sa.Engine]:
    made = make_engine(store_url)
    yield made
    made.dispose()


def migrate(engine: sa.Engine, to: str, *, down: bool = False) -> None:
    with engine.begin() as connection:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, to)


OLD_CURSORS = {
    "sync:ticket:zendesk:123": json.dumps({"comment": "7", "status": "open", "version": "v3"}),
    "sync:ticket:zendesk:456": json.dumps({"comment": None, "status": "solved"}),
    "sync:ticket:zendesk:999": json.dumps({"comment": "1", "status": "new"}),  # not linked: stays
    "sync:jira:comments:10001": "10042",
    "sync:jira:comments:77777": "5",  # no such Bug: stays
    "sync:sentry:status:4711": "resolved",
    "sync:sentry:regressed:1": json.dumps(["WEB-1"]),
    "sync:jira:since": "1709280000000",  # pass-wide: stays
}


def seed_revision_0004(engine: sa.Engine) -> None:
    """Rows as a bridge at revision 0004 wrote them (plain SQL: the models are newer)."""
    with engine.begin() as c:
        c.execute(sa.text(
            "INSERT INTO escalation (id, label, origin_helpdesk, origin_ticket_id, jira_issue_id, jira_key, state,"
            " severity, priority, profile, escalated_by, opened_at, created_at, updated_at, affected_count,"
            " pages_sent) VALUES (1, 'bridge-zendesk-123', 'zendesk', '123', '10001', 'OPS-1', 'complete', 'S2',"
            " 'High', 'default', 'em', :at, :at, :at, 2, 0)"), {"at": AT})
        for i, ticket in ((1, "123"), (2, "456")):
            c.execute(sa.text("INSERT INTO linked_ticket (id, escalation_id, helpdesk, ticket_id, role, linked_at)"
                              " VALUES (:i, 1, 'zendesk', :t, 'origin', :at)"), {"i": i, "t": ticket, "at": AT})
        for i, (error_id, short) in enumerate((("4711", "WEB-1"), ("4712", None)), start=1):
            c.execute(sa.text("INSERT INTO related_task (id, sentry_issue_id, sentry_short_id, label, state,"
                              " created_at) VALUES (:i, :e, :s, :l, 'created', :at)"),
                      {"i": i, "e": error_id, "s": short, "l": f"bridge-sentry-{error_id}", "at": AT})
            c.execute(sa.text("INSERT INTO related_task_link (id, related_task_id, escalation_id)"
                              " VALUES (:i, :i, 1)"), {"i": i})
        for name, value in OLD_CURSORS.items():
            c.execute(sa.text("INSERT INTO sync_cursor (name, value, updated_at) VALUES (:n, :v, :at)"),
                      {"n": name, "v": value, "at": AT})


def test_the_old_json_cursors_move_into_the_columns_and_back(engine: sa.Engine) -> None:
    migrate(engine, "0004")
    seed_revision_0004(engine)
    migrate(engine, "head")
    store = Store(engine)
    link = store.links.get("zendesk", "123")
    assert link is not None and (link.last_comment_id, link.last_status, link.known_version) == ("7", "open", "v3")
    link = store.links.get("zendesk", "456")
    assert link is not None and (link.last_comment_id, link.last_status, link.known_version) == (None, "solved", None)
    assert store.escalations.get(1).last_jira_comment_id == "10042"  # type: ignore[union-attr]
    assert store.tasks.by_error_issue("4711").last_error_status == "resolved"  # type: ignore[union-attr]
    assert store.tasks.by_error_issue("4712").last_error_status is None  # type: ignore[union-attr]
    assert store.tasks.regressions_of(1) == ["WEB-1"]
    left = {name for name in OLD_CURSORS if store.cursors.get(name) is not None}
    assert left == {"sync:ticket:zendesk:999", "sync:jira:comments:77777", "sync:jira:since"}

    migrate(engine, "0004", down=True)
    with engine.connect() as c:
        back = {name: value for name, value in c.execute(sa.text("SELECT name, value FROM sync_cursor"))}
    assert {name: json.loads(value) for name, value in back.items() if name.startswith("sync:ticket:")} == {
        "sync:ticket:zendesk:123": {"comment": "7", "status": "open", "version": "v3"},
        "sync:ticket:zendesk:456": {"comment": None, "status": "solved"},
        "sync:ticket:zendesk:999": {"comment": "1", "status": "new"},
    }
    assert {name: value for name, value in back.items() if not name.startswith("sync:ticket:")} == {
        "sync:jira:comments:10001": "10042",
        "sync:jira:comments:77777": "5",
        "sync:sentry:status:4711": "resolved",
        "sync:sentry:regressed:1": json.dumps(["WEB-1"]),
        "sync:jira:since": "1709280000000",
    }
    assert count_rows(store, "escalation") == 1


def test_setting_a_new_named_cursor_from_racing_processes_never_collides(store_url: str, store: Store) -> None:
    racers = separate_stores(store_url, 6)
    try:
        race(len(racers), lambda i: racers[i].cursors.set("sync:jira:since", str(i)))
    finally:
        for racer in racers:
            racer.close()
    assert store.cursors.get("sync:jira:since") in {str(i) for i in range(6)}
    assert count_rows(store, "sync_cursor") == 1
