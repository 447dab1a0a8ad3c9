"""`bridge db upgrade` on PostgreSQL: the store's migrations and procrastinate's own, in one
command; a procrastinate migration the store has not had is applied, once."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from bridge.cli import main
from bridge.jobs.schema import migration_names
from bridge.store.db import current_revision, head_revision, make_engine
from tests.fixtures.jobs import jobs_store_url  # noqa: F401 - a fixture

pytestmark = pytest.mark.postgres

#: procrastinate's newest "post" script: it drops and re-creates one trigger, so the test can
#: take the store back to before it.
LATEST_TRIGGER_SCRIPT = "03.04.00_50_post_add_retry_failed_job_procedure.sql"
TRIGGER = "procrastinate_trigger_status_events_update_v1"


@pytest.fixture
def engine(jobs_store_url):
    engine = make_engine(jobs_store_url)
    yield engine
    engine.dispose()


def recorded(engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.execute(sa.text("SELECT name FROM bridge_job_engine_migration ORDER BY name")).scalars())


def trigger_exists(engine) -> bool:
    with engine.connect() as connection:
        found = connection.execute(sa.text("SELECT count(*) FROM pg_trigger WHERE tgname = :t "
                                           "AND tgrelid = 'procrastinate_jobs'::regclass"), {"t": TRIGGER})
        return found.scalar_one() == 1


def upgrade(url: str) -> None:
    result = CliRunner().invoke(main, ["db", "upgrade"], env={"BRIDGE_STORE_URL": url})
    assert result.exit_code == 0, result.output


def test_one_upgrade_makes_the_store_and_procrastinates_schema_and_records_its_scripts(jobs_store_url, engine):
    assert current_revision(engine) == head_revision()
    tables = set(sa.inspect(engine).get_table_names())
    assert {"procrastinate_jobs", "procrastinate_workers", "bridge_rate_limits", "bridge_job_journal"} <= tables
    assert recorded(engine) == migration_names() and LATEST_TRIGGER_SCRIPT in migration_names()
    upgrade(jobs_store_url)  # up to date: nothing applied twice
    assert recorded(engine) == migration_names()


def test_a_procrastinate_script_the_store_has_not_had_is_applied(jobs_store_url, engine):
    with engine.begin() as connection:  # the store as an older procrastinate left it
        connection.exec_driver_sql(f"DROP TRIGGER {TRIGGER} ON procrastinate_jobs")
        connection.execute(sa.text("DELETE FROM bridge_job_engine_migration WHERE name = :n"),
                           {"n": LATEST_TRIGGER_SCRIPT})
    assert not trigger_exists(engine)
    upgrade(jobs_store_url)
    assert trigger_exists(engine)
    assert recorded(engine) == migration_names()


def test_a_job_schema_made_before_the_record_existed_is_taken_as_current(jobs_store_url, engine):
    with engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM bridge_job_engine_migration")
    upgrade(jobs_store_url)  # re-running every script would fail on objects that exist
    assert recorded(engine) == migration_names()
