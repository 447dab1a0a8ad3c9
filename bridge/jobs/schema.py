"""The job engine's tables on a PostgreSQL store: procrastinate's schema and two of ours.

``bridge db upgrade`` calls :func:`apply` inside the transaction that migrates the store, so
one command brings both up to date and a failure leaves neither half-applied (PostgreSQL
DDL is transactional). Alembic does not manage these tables: procrastinate ships its own
schema, and our two tables exist only where procrastinate does (PostgreSQL stores).

- ``bridge_rate_limits`` — one token bucket per service, shared by every worker
  (:mod:`bridge.jobs.limiter`), and the count of 429 answers seen;
- ``bridge_job_journal`` — when each job on an escalation started and ended, and in which
  process: evidence that no escalation was worked by two workers at once.
"""

from __future__ import annotations

from importlib import resources

from sqlalchemy import Connection

__all__ = ["apply", "present"]

_OURS = """
CREATE TABLE IF NOT EXISTS bridge_rate_limits (
    service text PRIMARY KEY,
    tokens double precision NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    blocked_until timestamptz,
    throttled bigint NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS bridge_job_journal (
    id bigserial PRIMARY KEY,
    escalation_id integer NOT NULL,
    job_id bigint,
    worker text NOT NULL,
    pid integer NOT NULL,
    started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    ended_at timestamptz,
    outcome text
);
CREATE INDEX IF NOT EXISTS bridge_job_journal_escalation ON bridge_job_journal (escalation_id, started_at);
"""


def present(connection: Connection) -> bool:
    """Whether procrastinate's schema is in this database (on the connection's search path)."""
    return connection.exec_driver_sql("SELECT to_regclass('procrastinate_jobs') IS NOT NULL").scalar_one()


def apply(connection: Connection) -> bool:
    """Create procrastinate's schema (when absent) and ours; True when procrastinate's was
    created now. Idempotent: a store whose job schema exists is left as it is."""
    created = False
    if not present(connection):
        sql = (resources.files("procrastinate.sql") / "schema.sql").read_text(encoding="utf-8")
        # Through the driver without parameters: psycopg then takes the script as it is.
        connection.connection.driver_connection.execute(sql)
        created = True
    connection.connection.driver_connection.execute(_OURS)
    return created
