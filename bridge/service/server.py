"""Running `bridge serve`: cheroot in front of the app, inbox workers beside it, SIGTERM.

cheroot is a production WSGI server that embeds in our own process (a thread pool, no
fork): the inbox workers live in the same process, the store's connection pool is shared,
and shutdown is ours to order. On SIGTERM or SIGINT: stop accepting connections and let
requests in flight finish (cheroot's shutdown), stop the workers from claiming, give them
``grace`` seconds to finish the items in hand, release what is still held (another worker
takes it at once), exit 0 without waiting for the requests of a pass that outlived the
grace period.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from cheroot import wsgi

from bridge.service.app import create_app
from bridge.service.metrics import Metrics
from bridge.service.worker import WorkerPool
from bridge.stop_signal import StopSignal

log = logging.getLogger(__name__)

__all__ = ["Serving", "serve"]

#: Request threads of the HTTP server; a webhook is answered after one insert.
HTTP_THREADS = 16
#: Connections the kernel queues while every request thread is busy.
LISTEN_BACKLOG = 512
#: How long a SIGTERM waits for the items in hand before releasing them.
SHUTDOWN_GRACE_S = 20.0


class Serving:
    """A started `bridge serve`: the HTTP server thread and the worker pool."""

    def __init__(self, services, *, host: str, port: int, workers: int | None = None) -> None:
        config = services.config.serve
        self.services = services
        inbox = services.store.inbox
        self.metrics = Metrics(backlog=inbox.backlog)
        count = workers if workers is not None else config.workers
        # A PostgreSQL store: accepting defers a procrastinate job (bridge/jobs) and the
        # `count` workers are procrastinate's; the inbox threads below are SQLite's.
        from bridge.jobs.serving import jobs_for_serve

        self.jobs = jobs_for_serve(services, self.metrics, count)
        count = 0 if self.jobs is not None else count
        self.pool = WorkerPool(services, inbox, count=count, ttl=timedelta(seconds=config.lease_seconds),
                               metrics=self.metrics, poll_seconds=min(1.0, config.lease_seconds / 2))
        # The link helper used while rendering messages signs with this process's settings.
        from bridge.escalate_links import configure

        configure(services.config)
        self.app = create_app(services, inbox=inbox, metrics=self.metrics, ring=self.pool.ring)
        # A deep listen backlog: vendors burst (a bulk edit in JIRA is hundreds of deliveries),
        # and a connection refused there is a delivery the vendor may give up on.
        self.server = wsgi.Server((host, port), self.app, numthreads=HTTP_THREADS, server_name="bridge",
                                  shutdown_timeout=10, request_queue_size=LISTEN_BACKLOG)
        self.server.prepare()  # binds now, so a taken port fails before anything starts
        self._thread = threading.Thread(target=self.server.serve, name="http", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.bind_addr[:2]
        return f"http://{host}:{port}"

    def start(self) -> "Serving":
        self._thread.start()
        self.pool.start()
        if self.jobs is not None:
            self.jobs.start()
        return self

    def stop(self, *, grace: float = SHUTDOWN_GRACE_S) -> None:
        """Stop accepting, finish requests in flight, then finish or release the items in hand."""
        self.server.stop()
        self._thread.join(15)
        self.pool.stop(grace=grace, on_release=lambda n: log.info("released %d inbox item(s) for another worker", n))
        if self.jobs is not None:
            self.jobs.stop(grace)
        # The board's background SLA pass: a daemon thread still in a query when the
        # interpreter finalises aborts the process instead of exiting 0.
        standings = self.app.extensions.get("bridge.board.standings")
        if standings is not None:
            standings.stop()


def serve(services, *, host: str, port: int, workers: int | None, announce: Callable[[str], None]) -> None:
    """Serve until SIGTERM / SIGINT; ``announce`` gets one line once requests are answered."""
    stop = StopSignal().install()
    serving = Serving(services, host=host, port=port, workers=workers).start()
    announce(f"bridge serve listening on {serving.url} (webhooks under /hooks/, /healthz, /readyz, /metrics)")
    stop.wait()
    began = time.monotonic()
    serving.stop()
    took = time.monotonic() - began
    if took > SHUTDOWN_GRACE_S / 2:
        log.warning("bridge serve: stopping took %.1f s", took)
    _exit_without_waiting()


def _exit_without_waiting() -> None:
    """Exit 0 now that :meth:`Serving.stop` has finished or handed back every item in hand.

    A worker still in a pass after the grace period is a daemon thread, but the requests it
    had in flight run on a round's thread pool, and the interpreter would wait for those at
    exit — as long as a slow service takes to answer, and then for the pass's next round.
    Abandoning them is what a SIGKILL would do, which the outbox and the helpdesk's markers
    make safe (the released items are worked again, nothing is sent twice). What is
    buffered (output, logs, self-monitoring's queue) is flushed first."""
    if "sentry_sdk" in sys.modules:  # imported only when self-monitoring is on
        sys.modules["sentry_sdk"].flush(timeout=2)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    logging.shutdown()
    os._exit(0)
