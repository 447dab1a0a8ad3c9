"""procrastinate's schema on a PostgreSQL store, brought up to date by `bridge db upgrade`.

``bridge db upgrade`` migrates the store (alembic; the job engine's own tables of bridge's
are migration 0007) and then calls :func:`apply` in the same transaction, so one command
brings both up to date and a failure leaves neither half-applied (PostgreSQL DDL is
transactional). procrastinate's tables are procrastinate's: a new store gets its
``schema.sql``; an existing one gets each of its ``sql/migrations`` scripts it has not had,
in version order. procrastinate keeps no record of what was applied, so
``bridge_job_engine_migration`` does: a new schema is recorded as having every script of
the installed version (``schema.sql`` is what they add up to).

procrastinate's migrations come in "pre" and "post" halves for upgrades without downtime;
`bridge db upgrade` applies both, so stop the workers of the older bridge first.
"""

from __future__ import annotations

from importlib import resources

from sqlalchemy import Connection, text

__all__ = ["apply", "migration_names", "present"]


def present(connection: Connection) -> bool:
    """Whether procrastinate's schema is in this database (on the connection's search path)."""
    return connection.exec_driver_sql("SELECT to_regclass('procrastinate_jobs') IS NOT NULL").scalar_one()


def migration_names() -> list[str]:
    """The installed procrastinate's migration scripts, oldest first (their names sort by version)."""
    folder = resources.files("procrastinate.sql") / "migrations"
    return sorted(entry.name for entry in folder.iterdir() if entry.name.endswith(".sql"))


def _run_script(connection: Connection, sql: str) -> None:
    # Through the driver without parameters: psycopg then takes a multi-statement script as it is.
    connection.connection.driver_connection.execute(sql)


def _record(connection: Connection, names: list[str]) -> None:
    for name in names:
        connection.execute(text("INSERT INTO bridge_job_engine_migration (name, applied_at) "
                                "VALUES (:name, clock_timestamp())"), {"name": name})


def apply(connection: Connection) -> list[str]:
    """Bring procrastinate's schema up to date in ``connection``'s transaction (the store
    must be migrated: the record is alembic's table). What was applied: ``["schema.sql"]``
    for a new schema, else the migration scripts run now (none when up to date)."""
    names = migration_names()
    applied = set(connection.execute(text("SELECT name FROM bridge_job_engine_migration")).scalars())
    if not present(connection):
        _run_script(connection, (resources.files("procrastinate.sql") / "schema.sql").read_text(encoding="utf-8"))
        _record(connection, [name for name in names if name not in applied])
        return ["schema.sql"]
    if not applied:
        # Made by an earlier `bridge db upgrade` from this procrastinate's schema.sql, before
        # the record existed: it has what every script up to the installed version adds.
        _record(connection, names)
        return []
    due = [name for name in names if name not in applied]
    folder = resources.files("procrastinate.sql") / "migrations"
    for name in due:
        _run_script(connection, (folder / name).read_text(encoding="utf-8"))
    _record(connection, due)
    return due
