"""Zendesk's background jobs (``update_many``, ``create_many``), run the way Zendesk runs them.

Zendesk answers a bulk request at once with a job status that is ``queued``; a worker
later takes the job (``working``, ``progress`` counting the tickets done out of ``total``)
and finishes it (``completed``, with one result per ticket). Clients poll
``GET /api/v2/job_statuses/{id}.json`` until then. :class:`JobRunner` reproduces this with
one background thread that takes jobs in the order they were submitted.

Tests that want to see a job in each state hold the runner: :meth:`JobRunner.pause` keeps
new work from starting, :meth:`JobRunner.step` lets exactly N more tickets through, and
:meth:`JobRunner.resume` lets everything run. :meth:`JobRunner.wait_idle` waits until no
job is queued or running.
"""

from __future__ import annotations

import copy
import queue
import threading
import time
import uuid
from typing import TYPE_CHECKING, Callable

from bridge.sandbox.zendesk_format import format_time

if TYPE_CHECKING:
    from bridge.sandbox.zendesk_state import ZendeskState

#: One unit of a job: runs under the state's lock, returns that ticket's result entry.
JobItem = Callable[[int], dict]


class JobRunner:
    """Runs a :class:`ZendeskState`'s bulk jobs, one at a time, on a daemon thread."""

    def __init__(self, state: "ZendeskState") -> None:
        self._state = state
        self._queue: queue.Queue[tuple[str, list[JobItem]]] = queue.Queue()
        self._turns = threading.Condition()
        self._paused = False
        self._permits = 0
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    # -- submitting ------------------------------------------------------------------------
    def submit(self, job_type: str, items: list[JobItem]) -> dict:
        """Record a ``queued`` job of ``items`` and hand it to the worker; returns its status."""
        state = self._state
        with state.lock:
            job_id = uuid.uuid4().hex
            state.jobs[job_id] = {
                "id": job_id, "job_type": job_type, "total": len(items), "progress": None,
                "status": "queued", "message": None, "results": None,
            }
            status = copy.deepcopy(state.jobs[job_id])
        self._ensure_worker()
        self._queue.put((job_id, items))
        return status

    # -- controls for tests ------------------------------------------------------------------
    def pause(self) -> None:
        """Hold every job at its next ticket (a queued job stays ``queued``)."""
        with self._turns:
            self._paused, self._permits = True, 0

    def step(self, tickets: int = 1) -> None:
        """While paused, let ``tickets`` more tickets be processed."""
        with self._turns:
            self._permits += tickets
            self._turns.notify_all()

    def resume(self) -> None:
        """Run jobs freely again."""
        with self._turns:
            self._paused, self._permits = False, 0
            self._turns.notify_all()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until no job is queued or running; False when ``timeout`` passed first."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    # -- the worker --------------------------------------------------------------------------
    def _ensure_worker(self) -> None:
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name="zendesk-jobs", daemon=True)
                self._thread.start()

    def _wait_turn(self) -> None:
        with self._turns:
            while self._paused and self._permits == 0:
                self._turns.wait()
            if self._paused:
                self._permits -= 1

    def _work(self) -> None:
        while True:
            job_id, items = self._queue.get()
            try:
                self._run(job_id, items)
            finally:
                self._queue.task_done()

    def _run(self, job_id: str, items: list[JobItem]) -> None:
        state = self._state
        results: list[dict] = []
        for index, item in enumerate(items):
            self._wait_turn()
            with state.lock:
                job = state.jobs.get(job_id)
                if job is None:  # the state was reset under the job: it no longer exists
                    return
                results.append(item(index))
                job.update(status="working", progress=index + 1,
                           message=f"Completed {index + 1} of {len(items)}")
        with state.lock:
            job = state.jobs.get(job_id)
            if job is not None:
                job.update(status="completed", progress=len(items), results=results,
                           message=f"Completed at {format_time(state.now())}")
