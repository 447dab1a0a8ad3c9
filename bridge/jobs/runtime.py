"""Running jobs: `bridge worker` (a process) and `bridge serve --workers N` on PostgreSQL.

A worker is a procrastinate worker on the store's database with bridge's tasks. Its tasks
are synchronous (the core is), so procrastinate runs each in a thread; ``concurrency`` jobs
run at once, each with its own :class:`bridge.services.Services` (connectors and their HTTP
sessions are not shared between threads), lent from a small pool. Every connector's session
goes through the shared :class:`bridge.jobs.limiter.RateLimiter`.

Shutdown: SIGTERM or SIGINT stops fetching jobs and waits up to ``grace`` seconds for the
jobs in hand; procrastinate then aborts what is left, the job goes back to be retried, and
the inbox items and store leases it held expire or are released. Exit 0.

Losing the database (PostgreSQL restarting, a fail-over) stops a procrastinate worker by
itself: its listener or heartbeat fails. :func:`serve_jobs` then starts a new one as soon as
the database answers again; the old one's jobs in hand are retried by the sweeper once its
heartbeat is seen to have stopped.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

from bridge.jobs.app import QUEUES, build_app
from bridge.jobs.limiter import RateLimiter, limit_session

log = logging.getLogger(__name__)

__all__ = ["InProcessWorker", "Runtime", "run_worker", "serve_jobs"]

#: Heartbeats every second; a worker silent for STALLED_AFTER_S is taken as gone.
HEARTBEAT_S = 1.0
SHUTDOWN_GRACE_S = 20.0
#: Seconds between attempts to start a worker again after it lost the database (doubling).
RESTART_FIRST_S, RESTART_MAX_S = 0.5, 8.0
#: A worker that ran this long before it stopped by itself starts again after RESTART_FIRST_S.
RESTART_RESET_AFTER_S = 60.0


class Runtime:
    """What the tasks of one worker process share: the Services pool, the limiter, names."""

    def __init__(self, make_services: Callable[[], object], *, concurrency: int, rates: dict[str, float],
                 lease_ttl: timedelta, stalled_after_s: float, name: str) -> None:
        from bridge.jobs.tasks import STALLED_AFTER_S

        self._make = make_services
        self._pool: queue.LifoQueue = queue.LifoQueue()
        self._created = 0
        self._lock = threading.Lock()
        self.concurrency = concurrency
        first = make_services()
        self.engine = first.store.engine
        self.limiter = RateLimiter(self.engine, rates)
        self._pool.put(first)
        self._created = 1
        self._fresh = {id(first)}
        self.lease_ttl = lease_ttl
        self.stalled_after_s = stalled_after_s or STALLED_AFTER_S
        self.name = name
        self.messages_sent = 0

    def holder(self, job_id: int | None) -> str:
        """The holder name of one *run* of a job's leases and claims, for people and fencing:
        host, process, worker, job, and a token new with every call (one call per run).

        The token matters because one job id can run twice at once in one process: a worker
        whose heartbeat lapsed past ``stalled_after_s`` (paused, its heartbeat query stuck)
        still runs the job on its thread while the sweeper hands the job back to the queue
        under the same id, and this same worker may fetch it again. The store lets a holder
        re-take, renew and release by name (bridge/store/leases.py), so two runs sharing a
        name would both work the escalation, and the first to finish would free the other's
        lease. Random rather than a counter: two containers sharing a host name can have the
        same pid and worker name."""
        return f"{socket.gethostname()}:{os.getpid()}:{self.name}:job{job_id}:{uuid.uuid4().hex[:8]}"

    @contextmanager
    def services(self) -> Iterator[object]:
        """Lend one Services for the length of a job."""
        try:
            services = self._pool.get_nowait()
        except queue.Empty:
            with self._lock:
                self._created += 1
            services = self._make()
            self._fresh.add(id(services))
        if id(services) in self._fresh:  # limited on first lend, inside a job (may reach JIRA)
            self._fresh.discard(id(services))
            try:
                self._limited(services)
            except BaseException:
                self._fresh.add(id(services))
                self._pool.put(services)
                raise
        try:
            yield services
        finally:
            self._pool.put(services)

    def _limited(self, services):
        """Put the connectors' HTTP sessions behind the shared limiter (JIRA's client
        connects here: the jira library builds its session then)."""
        _limit(services.helpdesk, self.limiter)
        _limit(services.tracker, self.limiter)
        return services

    def count_messages(self, report) -> None:
        self.messages_sent += sum(1 for o in report.outcomes if o.result == "done" and o.action.customer_facing)


def _limit(connector, limiter: RateLimiter) -> None:
    """Put the connector's HTTP session behind the limiter (JIRA's once it has connected)."""
    session = getattr(connector, "_session", None)
    kind = getattr(connector, "kind", None)
    if session is not None and kind:
        limit_session(session, limiter, kind)
        return
    if hasattr(connector, "_jira"):
        limit_session(connector._jira._session, limiter, "jira")


def _worker_options(concurrency: int, queues: list[str] | None, runtime: Runtime, name: str) -> dict:
    return {"concurrency": concurrency, "queues": queues or None, "name": name, "wait": True,
            "additional_context": {"bridge": runtime}, "shutdown_graceful_timeout": SHUTDOWN_GRACE_S,
            "update_heartbeat_interval": HEARTBEAT_S, "stalled_worker_timeout": runtime.stalled_after_s,
            "fetch_job_polling_interval": 2.0, "listen_notify": True, "delete_jobs": "successful"}


def _make_runtime(services, concurrency: int, rates: dict[str, float], name: str,
                  stalled_after_s: float = 0) -> Runtime:
    from bridge.services import Services

    config = services.config
    return Runtime(lambda: Services(config), concurrency=concurrency, rates=rates,
                   lease_ttl=timedelta(seconds=config.serve.lease_seconds), stalled_after_s=stalled_after_s,
                   name=name)


async def serve_jobs(app, options: dict, stop: asyncio.Event, on_start: Callable[[object], None]) -> None:
    """Run procrastinate workers on ``app`` until ``stop`` is set: a worker that stops by
    itself (its database connection lost) is followed by a new one once the database answers.

    ``on_start(worker)`` is called with each worker as it starts (the caller stops the
    current one when asked to)."""
    delay = RESTART_FIRST_S
    while not stop.is_set():
        started = time.monotonic()
        try:
            async with app.open_async():
                worker = app._worker(**options, install_signal_handlers=False)
                on_start(worker)
                if stop.is_set():  # asked to stop while the pool was opening
                    return
                await worker.run()
        except Exception as exc:  # the database unreachable, or lost while shutting down
            log.warning("jobs: %s", " ".join(str(exc).split()) or type(exc).__name__)
        if stop.is_set():
            return
        if time.monotonic() - started > RESTART_RESET_AFTER_S:
            delay = RESTART_FIRST_S
        log.warning("jobs: the worker stopped (database connection lost?); starting again in %.1f s", delay)
        try:
            await asyncio.wait_for(stop.wait(), delay)
        except TimeoutError:
            pass
        delay = min(RESTART_MAX_S, delay * 2)


def run_worker(services, *, concurrency: int, queues: list[str] | None, rates: dict[str, float],
               announce: Callable[[str], None], stalled_after_s: float = 0) -> None:
    """`bridge worker`: run jobs until SIGTERM / SIGINT, then finish or give back, return."""
    # Warnings and errors (a job that failed, a connection lost) to stderr, one line each.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    name = f"worker-{socket.gethostname()}-{os.getpid()}"
    runtime = _make_runtime(services, concurrency, rates, name, stalled_after_s)
    app = build_app(services.config.store.url, pool_size=concurrency + 3)
    current: list = []

    def started(worker) -> None:
        if not current:
            announce(f"bridge worker {name} running {concurrency} job(s) at a time "
                     f"from queues {', '.join(queues or QUEUES)}")
        current[:] = [worker]

    async def main() -> None:
        stop = asyncio.Event()

        def on_signal() -> None:
            stop.set()
            for worker in current:
                worker.stop()

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)
        await serve_jobs(app, _worker_options(concurrency, queues, runtime, name), stop, started)

    app.perform_import_paths()
    asyncio.run(main())


class InProcessWorker:
    """A procrastinate worker on a thread of `bridge serve` (PostgreSQL, ``--workers N``)."""

    def __init__(self, services, *, concurrency: int, rates: dict[str, float]) -> None:
        self.name = f"serve-{socket.gethostname()}-{os.getpid()}"
        self.runtime = _make_runtime(services, concurrency, rates, self.name)
        self.app = build_app(services.config.store.url, pool_size=concurrency + 3)
        self.concurrency = concurrency
        self._loop: asyncio.AbstractEventLoop | None = None
        self._worker = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="jobs", daemon=True)

    def start(self) -> "InProcessWorker":
        self._thread.start()
        self._ready.wait(30)
        return self

    def _run(self) -> None:
        async def main() -> None:
            self._stop = asyncio.Event()
            self._loop = asyncio.get_running_loop()

            def started(worker) -> None:
                self._worker = worker
                self._ready.set()

            await serve_jobs(self.app, _worker_options(self.concurrency, None, self.runtime, self.name),
                             self._stop, started)

        try:
            asyncio.run(main())
        finally:
            self._ready.set()

    def stop(self, grace: float) -> None:
        """Stop fetching; wait up to ``grace`` s for the jobs in hand."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._stop_now)
        self._thread.join(grace + 5)

    def _stop_now(self) -> None:
        self._stop.set()
        if self._worker is not None:
            self._worker.stop()
