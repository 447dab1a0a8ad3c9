"""The state store on SQLite and on a real PostgreSQL server (``store_url`` runs each test on
both): migrations, opening rules, race-safety of the invariants' guards, timestamps, and
URLs that never show their password."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
import sqlalchemy.exc
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from hypothesis import assume, given
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url

from bridge.errors import EXIT_USAGE, ConfigError
from bridge.store.db import MIGRATIONS_DIR, current_revision, head_revision, make_engine, open_store, upgrade
from bridge.store.repository import Store
from bridge.store.tables import UTCDateTime, metadata
from bridge.store.urls import mask_url, normalise_url


# The core tables; the other engineers' table groups (board, inbox, ...) join through their
# migrations, which the metadata comparison below holds to the models.
CORE_TABLES = {
    "escalation",
    "linked_ticket",
    "related_task",
    "related_task_link",
    "outbox",
    "audit",
    "sync_cursor",
    "lease",
}
OPENED = datetime(2024, 3, 1, 9, 30, tzinfo=ZoneInfo("Europe/Berlin"))
T = TypeVar("T")


def intent(store: Store, ticket: str = "123", **overrides: object):  # type: ignore[no-untyped-def]
    values: dict[str, object] = dict(
        label=f"bridge-zendesk-{ticket}",
        origin_helpdesk="zendesk",
        origin_ticket_id=ticket,
        severity="S2",
        priority="High",
        profile="default",
        escalated_by="em@example.com",
        opened_at=OPENED,
        tier="gold",
        organization="ACME",
        locale="de",
    )
    values.update(overrides)
    return store.escalations.record_intent(**values)  # type: ignore[arg-type]


def race(count: int, action: Callable[[int], T]) -> list[T]:
    """Run ``action(i)`` in ``count`` threads released together; re-raise the first error."""
    barrier = threading.Barrier(count)
    results: list[T | None] = [None] * count
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = action(i)
        except BaseException as exc:  # collected and re-raised in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results  # type: ignore[return-value]


def separate_stores(url: str, count: int) -> list[Store]:
    """One store (engine, connection pool) per racer, as separate processes would have."""
    return [Store(make_engine(url)) for _ in range(count)]


def count_rows(store: Store, table: str) -> int:
    with store.engine.connect() as connection:
        return connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()


# -- migrations and opening ---------------------------------------------------------------


def test_migrations_from_empty_create_every_table_matching_the_models(store_url: str) -> None:
    engine = make_engine(store_url)
    try:
        assert current_revision(engine) is None
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        assert set(sa.inspect(engine).get_table_names()) == set(metadata.tables) | {"alembic_version"}
        assert CORE_TABLES <= set(metadata.tables)
        # The hand-written migration and the models describe the same schema.
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
        upgrade(engine)  # already at head: nothing to do, no error
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_the_written_out_head_is_the_migrations_own_and_alembic_reads_the_same_revision(store_url: str) -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert head_revision() == ScriptDirectory.from_config(config).get_current_head()
    engine = make_engine(store_url)
    try:
        upgrade(engine)
        with engine.connect() as connection:
            assert current_revision(engine) == MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def test_a_store_with_two_schema_revisions_is_refused_naming_the_fix(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bridge.db'}"
    open_store(url).close()
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("INSERT INTO alembic_version (version_num) VALUES ('0003')")
    finally:
        engine.dispose()
    with pytest.raises(ConfigError, match="several schema revisions") as refused:
        open_store(url)
    assert "backup" in (refused.value.hint or "")


def test_open_store_upgrades_a_fresh_sqlite_file_itself(tmp_path: Path) -> None:
    path = tmp_path / "state" / "nested" / "bridge.db"  # directories created on first use
    with open_store(f"sqlite:///{path}") as opened:
        assert current_revision(opened.engine) == head_revision()
        intent(opened)
    with open_store(f"sqlite:///{path}") as reopened:  # second open: already at head
        assert reopened.escalations.by_label("bridge-zendesk-123") is not None


def test_concurrent_first_use_of_a_sqlite_file_migrates_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bridge.db'}"
    stores = race(4, lambda _i: open_store(url))
    try:
        assert all(current_revision(s.engine) == head_revision() for s in stores)
    finally:
        for s in stores:
            s.close()


def test_in_memory_sqlite_store_keeps_its_data_across_sessions() -> None:
    with open_store("sqlite://") as opened:
        escalation, _ = intent(opened)
        assert opened.escalations.by_label(escalation.label) is not None


def test_unmigrated_store_is_refused_unless_it_may_upgrade_itself(store_url: str) -> None:
    with pytest.raises(ConfigError) as refused:
        open_store(store_url, auto_upgrade=False)
    assert "is not migrated: run `bridge db upgrade`" in str(refused.value)
    assert refused.value.exit_code == EXIT_USAGE
    if make_url(store_url).get_backend_name() == "postgresql":
        # A shared server is never migrated behind the operator's back.
        with pytest.raises(ConfigError, match="not migrated"):
            open_store(store_url)
        password = make_url(store_url).password
        assert password and password not in str(refused.value)
        upgrade(store_url)
        open_store(store_url).close()


def test_store_migrated_by_a_newer_bridge_is_refused(store_url: str) -> None:
    upgrade(store_url)
    engine = make_engine(store_url)
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = 'fffffffff'"))
    engine.dispose()
    with pytest.raises(ConfigError, match="does not know") as refused:
        open_store(store_url, auto_upgrade=True)
    assert "upgrade bridge" in str(refused.value)


# -- escalations and linked tickets ---------------------------------------------------------


def test_record_intent_is_idempotent(store: Store) -> None:
    first, created = intent(store)
    again, claimed_again = intent(store, severity="S1", holder="another run")  # maybe other flags
    assert (created, claimed_again) == (True, False)
    assert again.id == first.id and again.severity == "S2"
    assert first.state == "intent" and first.jira_issue_id is None
    assert count_rows(store, "escalation") == 1
    [origin] = store.links.of(first.id)
    assert (origin.helpdesk, origin.ticket_id, origin.role, origin.locale) == (
        "zendesk",
        "123",
        "origin",
        "de",
    )
    assert store.escalations.by_ticket("zendesk", "123") == first


def test_record_intent_is_race_safe_across_engines(store_url: str, store: Store) -> None:
    racers = separate_stores(store_url, 6)
    try:
        results = race(len(racers), lambda i: intent(racers[i]))
    finally:
        for racer in racers:
            racer.close()
    assert sorted(created for _, created in results) == [False] * 5 + [True]
    assert len({escalation.id for escalation, _ in results}) == 1
    assert count_rows(store, "escalation") == 1
    assert count_rows(store, "linked_ticket") == 1


def test_a_ticket_linked_elsewhere_gets_no_second_escalation(store: Store) -> None:
    first, _ = intent(store)
    other, created = intent(store, label="bridge-zendesk-123-v2")
    assert not created and other.id == first.id
    assert count_rows(store, "escalation") == 1


def test_escalation_lifecycle_and_lookups(store: Store) -> None:
    escalation, _ = intent(store)
    assert escalation.id is not None
    created = store.escalations.mark_created(
        escalation.id, jira_issue_id="10001", jira_key="OPS-1", jira_url="https://j/OPS-1"
    )
    assert (created.state, created.jira_key) == ("created", "OPS-1")
    assert store.escalations.mark_created(escalation.id, jira_issue_id="10001", jira_key="OPS-1").state == "created"
    with pytest.raises(ValueError, match="already issue 10001"):
        store.escalations.mark_created(escalation.id, jira_issue_id="10002", jira_key="OPS-2")
    assert store.escalations.mark_complete(escalation.id).state == "complete"

    # The Bug moved project: same id, new key; sync records what it saw.
    seen_at = datetime(2024, 3, 2, 12, 0, tzinfo=timezone(timedelta(hours=-5)))
    store.escalations.record_issue_seen(
        escalation.id,
        jira_key="CORE-7",
        status="In QA",
        resolution=None,
        fix_versions=["2.4.1"],
        jira_updated=seen_at,
    )
    moved = store.escalations.by_issue("10001")
    assert moved is not None and moved.jira_key == "CORE-7" and moved.last_status == "In QA"
    assert moved.last_fix_versions == '["2.4.1"]'
    assert moved.last_jira_updated == seen_at and moved.last_jira_updated.tzinfo == UTC
    assert store.escalations.by_key("CORE-7") == moved
    assert store.escalations.by_key("OPS-1") is None
    assert [e.id for e in store.escalations.list(states=["complete"])] == [escalation.id]
    assert store.escalations.list(states=["intent"]) == []
    assert store.escalations.add_pages_sent(escalation.id) == 1
    assert store.escalations.add_pages_sent(escalation.id) == 2


def test_linking_tickets_keeps_the_affected_count(store: Store) -> None:
    escalation, _ = intent(store)
    assert escalation.id is not None
    joined, created = store.links.add(escalation.id, "zendesk", "456", locale="fr", requester_tier="silver")
    assert created and joined.role == "joined"
    again, created_again = store.links.add(escalation.id, "zendesk", "456")
    assert not created_again and again.id == joined.id
    assert [t.ticket_id for t in store.links.of(escalation.id)] == ["123", "456"]
    refreshed = store.escalations.get(escalation.id)
    assert refreshed is not None and refreshed.affected_count == 2

    other, _ = intent(store, ticket="789")
    assert other.id is not None
    elsewhere, created_elsewhere = store.links.add(other.id, "zendesk", "456")
    assert not created_elsewhere and elsewhere.escalation_id == escalation.id

    with pytest.raises(sqlalchemy.exc.IntegrityError):  # no such escalation: foreign key
        store.links.add(99999, "zendesk", "999")


def test_announcements_and_waiting_times_are_recorded_aware(store: Store) -> None:
    intent(store)
    told_at = datetime(2024, 3, 3, 8, 0, tzinfo=ZoneInfo("America/New_York"))
    store.links.record_announcement("zendesk", "123", "in_progress", at=told_at)
    store.links.set_waiting_on_customer("zendesk", "123", told_at + timedelta(hours=1))
    link = store.links.get("zendesk", "123")
    assert link is not None and link.last_announced_state == "in_progress"
    assert link.last_public_update_at == told_at and link.last_public_update_at.tzinfo == UTC
    assert link.waiting_on_customer_since == told_at + timedelta(hours=1)
    store.links.set_waiting_on_customer("zendesk", "123", None)
    link = store.links.get("zendesk", "123")
    assert link is not None and link.waiting_on_customer_since is None
    with pytest.raises(LookupError, match="not linked"):
        store.links.record_announcement("zendesk", "nope", "done")


def test_related_tasks(store: Store) -> None:
    escalation, _ = intent(store)
    assert escalation.id is not None
    task, created = store.tasks.record_intent(
        sentry_issue_id="4711", label="bridge-sentry-4711", sentry_short_id="WEB-1"
    )
    same, created_again = store.tasks.record_intent(sentry_issue_id="4711", label="bridge-sentry-4711")
    assert (created, created_again) == (True, False) and same.id == task.id
    assert task.id is not None
    assert store.tasks.mark_created(task.id, jira_issue_id="20001", jira_key="OPS-9").state == "created"
    assert store.tasks.relate(task.id, escalation.id) is True
    assert store.tasks.relate(task.id, escalation.id) is False
    assert [t.jira_key for t in store.tasks.of(escalation.id)] == ["OPS-9"]
    assert [e.id for e in store.tasks.escalations_of(task.id)] == [escalation.id]
    assert [t.sentry_issue_id for t in store.tasks.all()] == ["4711"]


# -- outbox, audit, cursors (leases: test_store_leases.py) --------------------------------------


def test_outbox_claim_is_granted_once(store: Store) -> None:
    escalation, _ = intent(store)
    key = "ack:zendesk:123"
    claim = dict(
        target="zendesk:123",
        kind="public_reply",
        payload={"body": "We are on it"},
        escalation_id=escalation.id,
    )
    assert store.outbox.claim(key, **claim) is True
    assert store.outbox.claim(key, **claim) is False  # pending: under way elsewhere
    store.outbox.done(key)
    assert store.outbox.claim(key, **claim) is False  # sent: never again
    entry = store.outbox.get(key)
    assert entry is not None and entry.state == "sent" and entry.sent_at is not None
    assert entry.sent_at.tzinfo == UTC
    assert store.outbox.payload(entry) == {"body": "We are on it"}
    assert store.outbox.list() == []


def test_a_failed_outbox_write_may_be_claimed_again(store: Store) -> None:
    key = "announce:zendesk:123:10001:in_progress"
    assert store.outbox.claim(key, target="zendesk:123", kind="public_reply")
    store.outbox.failed(key, "zendesk answered 503:\n  Service   Unavailable")
    [failed] = store.outbox.list()
    assert (failed.state, failed.last_error, failed.attempts) == (
        "failed",
        "zendesk answered 503: Service Unavailable",
        1,
    )
    assert store.outbox.claim(key, target="zendesk:123", kind="public_reply") is True
    assert store.outbox.claim(key, target="zendesk:123", kind="public_reply") is False
    entry = store.outbox.get(key)
    assert entry is not None and (entry.state, entry.attempts) == ("pending", 2)
    with pytest.raises(LookupError, match="claim it first"):
        store.outbox.done("never-claimed")


def test_outbox_claim_is_race_safe_across_engines(store_url: str, store: Store) -> None:
    racers = separate_stores(store_url, 6)
    try:
        granted = race(
            len(racers), lambda i: racers[i].outbox.claim("page:ops:1", target="pager:ops", kind="page")
        )
    finally:
        for racer in racers:
            racer.close()
    assert sorted(granted) == [False] * 5 + [True]
    assert count_rows(store, "outbox") == 1


def test_audit_rows_are_written(store: Store) -> None:
    store.audit.record("em@example.com", "create_issue", "jira:10001", "ok", "OPS-1")
    store.audit.record("em@example.com", "public_reply", "zendesk:123", "failed", "503 " + "x" * 2000)
    store.audit.record("intern@example.com", "escalate", "zendesk:124", "denied", "not allowed to escalate")
    rows = store.audit.entries()
    assert [(r.actor, r.action, r.target, r.result) for r in rows] == [
        ("intern@example.com", "escalate", "zendesk:124", "denied"),
        ("em@example.com", "public_reply", "zendesk:123", "failed"),
        ("em@example.com", "create_issue", "jira:10001", "ok"),
    ]
    assert all(r.at.tzinfo == UTC for r in rows)
    assert len(rows[1].detail) == 500  # long details are cut, not stored whole
    assert [r.action for r in store.audit.entries(target="jira:10001")] == ["create_issue"]
    with pytest.raises(ValueError, match="not one of"):
        store.audit.record("em", "x", "y", "maybe")  # type: ignore[arg-type]
    assert count_rows(store, "audit") == 3


def test_cursors(store: Store) -> None:
    assert store.cursors.get("jira") is None
    store.cursors.set("jira", "2024-03-01T10:00:00+00:00")
    store.cursors.set("jira", "2024-03-01T11:00:00+00:00")
    assert store.cursors.get("jira") == "2024-03-01T11:00:00+00:00"
    assert count_rows(store, "sync_cursor") == 1


# -- timestamps ----------------------------------------------------------------------------


def test_datetimes_come_back_aware_utc_whatever_the_session_time_zone(store_url: str) -> None:
    url = make_url(store_url)
    if url.get_backend_name() == "postgresql":
        # A server session in another zone must not shift or de-zone what we read.
        options = f"{url.query.get('options', '')} -cTimeZone=Asia/Kolkata".strip()
        url = url.update_query_dict({"options": options})
    with open_store(url.render_as_string(hide_password=False), auto_upgrade=True) as opened:
        escalation, _ = intent(opened)
        read = opened.escalations.by_label(escalation.label)
        assert read is not None
        for value in (read.opened_at, read.created_at, read.updated_at):
            assert value.tzinfo == UTC
        assert read.opened_at == OPENED
        with pytest.raises(sqlalchemy.exc.StatementError, match="naive datetime"):
            intent(opened, ticket="124", opened_at=datetime(2024, 3, 1, 9, 30))


@given(st.datetimes(timezones=st.timezones()), st.sampled_from([sqlite.dialect(), postgresql.dialect()]))
def test_utc_datetime_round_trips_any_aware_datetime(value: datetime, dialect: sa.Dialect) -> None:
    column_type = UTCDateTime()
    stored = column_type.process_bind_param(value, dialect)
    back = column_type.process_result_value(stored, dialect)
    assert back is not None and back.tzinfo == UTC
    assert back == value.astimezone(UTC)


@given(st.datetimes(timezones=st.timezones()), st.datetimes(timezones=st.timezones()))
def test_utc_datetime_writes_sqlites_text_as_sqlalchemy_does(value: datetime, other: datetime) -> None:
    """The store's SQLite text is SQLAlchemy's own DATETIME format (rows written before it
    are read and compared alike), and its order is the instants' order."""
    dialect = sqlite.dialect()
    ours = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    theirs = sa.DateTime().dialect_impl(dialect).bind_processor(dialect)
    assert ours is not None and theirs is not None
    assert ours(value) == theirs(value.astimezone(UTC).replace(tzinfo=None))
    assert (ours(value) < ours(other)) == (value < other)
    assert (ours(value) == ours(other)) == (value == other)


@given(st.datetimes(timezones=st.none()))
def test_utc_datetime_refuses_naive_datetimes(value: datetime) -> None:
    with pytest.raises(ValueError, match="naive"):
        UTCDateTime().process_bind_param(value, sqlite.dialect())


# -- URLs and connection errors ----------------------------------------------------------------

URL_TEMPLATE = "postgresql+psycopg://bridge:{password}@db.example.com:5432/bridge?sslmode=require"


@given(st.text(st.characters(blacklist_categories=["Cs"]), min_size=4))
def test_mask_url_never_shows_an_encoded_password(password: str) -> None:
    encoded = quote(password, safe="")
    rest = URL_TEMPLATE.format(password="")
    assume(password not in rest and encoded not in rest)
    masked = mask_url(URL_TEMPLATE.format(password=encoded))
    assert password not in masked and encoded not in masked
    assert masked == URL_TEMPLATE.format(password="***")


@given(st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="/?#"), min_size=4))
def test_mask_url_never_shows_a_raw_password(password: str) -> None:
    # People paste passwords unencoded, "@" and ":" included; the mask must still hold.
    rest = URL_TEMPLATE.format(password="")
    assume(password not in rest)
    assert password not in mask_url(URL_TEMPLATE.format(password=password))


@given(st.text(st.characters(whitelist_categories=["L", "N"]), min_size=6))
def test_mask_url_hides_credentials_in_query_parameters(secret: str) -> None:
    url = f"postgresql+psycopg://bridge@db.example.com/bridge?password={secret}&sslpassword={secret}&sslmode=require"
    assume(secret not in url.replace(secret, ""))
    masked = mask_url(url)
    assert secret not in masked and "sslmode=require" in masked


def test_mask_url_keeps_what_helps_debugging() -> None:
    assert mask_url("sqlite:////var/lib/bridge/bridge.db") == "sqlite:////var/lib/bridge/bridge.db"
    assert mask_url("postgresql://ops:hunter22@db:5433/bridge") == "postgresql://ops:***@db:5433/bridge"
    assert mask_url("not a url with pass:word@") == "not a url with pass:word@"  # nothing URL-like to mask


def test_postgresql_urls_use_psycopg() -> None:
    assert normalise_url("postgresql://u:p@h/d").drivername == "postgresql+psycopg"
    assert normalise_url("postgres://u:p@h/d").drivername == "postgresql+psycopg"
    assert normalise_url("postgresql+psycopg://u:p@h/d").drivername == "postgresql+psycopg"
    assert normalise_url("sqlite:///x.db").drivername == "sqlite"


def test_unreachable_server_is_a_config_error_without_the_password() -> None:
    # Port 9 (discard) is closed on loopback: the connection is refused at once.
    url = "postgresql://bridge:canary-Zq81xv@127.0.0.1:9/bridge"
    with pytest.raises(ConfigError) as refused:
        open_store(url)
    error = refused.value
    assert error.exit_code == EXIT_USAGE
    assert "cannot connect to the store at postgresql+psycopg://bridge:***@127.0.0.1:9/bridge" in str(error)
    assert "reachable at 127.0.0.1:9" in str(error)
    assert "canary-Zq81xv" not in str(error) + repr(error)
    assert error.__cause__ is None and error.__suppress_context__  # no driver traceback chained


@pytest.mark.postgres
def test_wrong_password_is_a_config_error_without_the_password(postgres_url: str) -> None:
    url = make_url(postgres_url).set(password="canary-Wq93kd").render_as_string(hide_password=False)
    with pytest.raises(ConfigError) as refused:
        upgrade(url)
    message = str(refused.value)
    assert "cannot connect to the store at" in message and "***" in message
    assert "password" in message  # the server's reason: authentication failed
    assert "canary-Wq93kd" not in message + repr(refused.value)


def test_unwritable_sqlite_location_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    with pytest.raises(ConfigError, match="cannot create the store at .*not-a-directory"):
        open_store(f"sqlite:///{blocker / 'bridge.db'}")


def test_malformed_url_is_a_config_error_without_the_password() -> None:
    with pytest.raises(ConfigError, match="not a database URL") as refused:
        open_store("postgresql://bridge:canary-Lp20ws@db:notaport/bridge")
    assert "canary-Lp20ws" not in str(refused.value)


def test_losing_the_server_after_opening_is_a_config_error_without_the_password() -> None:
    # A store whose server is gone (here: never there) fails on first use, not at a traceback.
    unreachable = Store(make_engine("postgresql://bridge:canary-Hh27pe@127.0.0.1:9/bridge"))
    with pytest.raises(ConfigError, match="cannot connect to the store") as refused:
        unreachable.escalations.list()
    assert "canary-Hh27pe" not in str(refused.value)
    unreachable.close()
