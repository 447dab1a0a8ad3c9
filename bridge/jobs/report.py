"""What `bridge doctor` and `bridge status` say about the job engine (PostgreSQL stores).

Read straight from procrastinate's tables: any process can ask, no worker needs to answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, text

from bridge.jobs.app import is_postgres
from bridge.policy.durations import short_age

__all__ = ["JobsState", "doctor_lines", "jobs_state", "status_line"]

#: A worker whose heartbeat is older than this is not counted as alive.
ALIVE_WITHIN_S = 30


@dataclass(frozen=True)
class JobsState:
    workers_alive: int
    waiting: int
    running: int
    failed: int
    oldest_waiting_at: datetime | None


def jobs_state(engine: Engine) -> JobsState | None:
    """The engine's numbers; None when the store has no job engine schema."""
    from bridge.jobs.schema import present

    with engine.connect() as connection:
        if not present(connection):
            return None
        alive = connection.execute(text(
            "SELECT count(*) FROM procrastinate_workers "
            "WHERE last_heartbeat > now() - make_interval(secs => :s)"), {"s": ALIVE_WITHIN_S}).scalar_one()
        # Periodic jobs wait for their minute by design; "waiting" means due and not taken.
        row = connection.execute(text("""
            SELECT count(*) FILTER (WHERE status = 'todo' AND (scheduled_at IS NULL OR scheduled_at <= now())),
                   count(*) FILTER (WHERE status = 'doing'),
                   count(*) FILTER (WHERE status = 'failed'),
                   min(COALESCE(scheduled_at, e.at)) FILTER (WHERE status = 'todo'
                                                              AND (scheduled_at IS NULL OR scheduled_at <= now()))
            FROM procrastinate_jobs j
            LEFT JOIN LATERAL (SELECT min(at) AS at FROM procrastinate_events
                               WHERE job_id = j.id AND type = 'deferred') e ON true
        """)).one()
    return JobsState(workers_alive=alive, waiting=row[0], running=row[1], failed=row[2], oldest_waiting_at=row[3])


def status_line(store_url: str, engine: Engine, now: datetime) -> list[str]:
    """`bridge status`: one line on a PostgreSQL store with a job engine, else nothing."""
    if not is_postgres(store_url):
        return []
    state = jobs_state(engine)
    if state is None:
        return []
    oldest = f", oldest waiting {short_age((now - state.oldest_waiting_at).total_seconds())}" \
        if state.oldest_waiting_at else ""
    return [f"jobs: {state.waiting} waiting, {state.running} running, {state.failed} failed{oldest}; "
            f"{state.workers_alive} worker(s) alive"]


def doctor_lines(store_url: str, engine: Engine) -> str | list[str]:
    """`bridge doctor`'s "workers" check: a string when fine, problems otherwise."""
    if not is_postgres(store_url):
        return "not used (SQLite store: bridge serve works its inbox itself)"
    state = jobs_state(engine)
    if state is None:
        return ["the store has no job engine: run `bridge db upgrade` before starting bridge worker"]
    summary = (f"{state.workers_alive} alive; jobs {state.waiting} waiting, {state.running} running, "
               f"{state.failed} failed")
    if state.waiting and not state.workers_alive:
        return [f"{summary}: no worker is alive to take them (start `bridge worker`)"]
    return summary
