"""`bridge serve` on a PostgreSQL store: accept and defer; optionally run jobs in-process.

On PostgreSQL every accepted inbox item defers its job in the item's own transaction
(:func:`bridge.jobs.doorbell.attach`), so any `bridge worker` may take it. ``--workers N``
(or ``[serve] workers``) above 0 also runs a procrastinate worker with N jobs at a time
inside the serve process, for installations without separate workers. /metrics shows the
429s every worker saw. On SQLite nothing here runs.
"""

from __future__ import annotations

import logging

from bridge.jobs.app import is_postgres

log = logging.getLogger(__name__)

__all__ = ["JobsInServe", "jobs_for_serve"]


class JobsInServe:
    """The job side of one `bridge serve` process on PostgreSQL."""

    def __init__(self, services, metrics, workers: int) -> None:
        from bridge.jobs.doorbell import attach
        from bridge.jobs.limiter import DEFAULT_RATES, RateLimiter

        attach(services.store)
        limiter = RateLimiter(services.store.engine, DEFAULT_RATES)
        metrics.throttled_counts = limiter.throttled_counts
        self.worker = None
        if workers > 0:
            from bridge.jobs.runtime import InProcessWorker

            self.worker = InProcessWorker(services, concurrency=workers, rates=dict(DEFAULT_RATES))

    def start(self) -> None:
        if self.worker is not None:
            self.worker.start()

    def stop(self, grace: float) -> None:
        if self.worker is not None:
            self.worker.stop(grace)


def jobs_for_serve(services, metrics, workers: int) -> JobsInServe | None:
    """The job side for a PostgreSQL store; None on SQLite (serve's inbox threads work)."""
    if not is_postgres(services.config.store.url):
        return None
    from bridge.jobs.schema import present

    with services.store.engine.connect() as connection:
        if not present(connection):
            # Migrated without the job engine (not by `bridge db upgrade`): serve works its
            # inbox itself, as on SQLite, rather than defer jobs nobody could run.
            log.warning("the store has no job engine schema: run `bridge db upgrade` to use bridge worker")
            return None
    return JobsInServe(services, metrics, workers)
