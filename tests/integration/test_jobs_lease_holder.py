"""Two runs of one procrastinate job in one worker process hold leases under different names.

A worker whose heartbeat lapses past ``--stalled-after`` (the process paused, its heartbeat
query stuck on a dead connection) keeps running the job in hand on its thread; meanwhile the
sweeper (bridge/jobs/tasks.py ``sweep``) hands that job back to the queue under the *same*
job id, and the same worker, once it runs again, may fetch it while the first run goes on.
The escalation's lease must keep the two runs apart exactly as it keeps two workers apart:
the second run is refused while the first holds it, and the first, giving back late, does not
free what the second holds. Real PostgreSQL, real lease store; holders named by the real
:class:`bridge.jobs.runtime.Runtime`, and one run through the real ``sync_escalation`` task.
(The whole path was reproduced with two real `bridge worker` processes, one paused with
SIGSTOP until the other's sweeper retried its job; it is not a test here because whether the
paused worker fetches the retried job before its first run ends is a matter of timing.)
"""

from __future__ import annotations

import os
import socket
import time
from datetime import timedelta

import pytest
from procrastinate.job_context import JobContext
from procrastinate.jobs import Job

from bridge.config import load_config
from bridge.jobs.app import build_app
from bridge.jobs.doorbell import SYNC_TASK, escalation_lock, sync_queueing_lock
from bridge.jobs.journal import JournalingLeases
from bridge.jobs.runtime import Runtime
from bridge.jobs.tasks import sync_escalation
from bridge.services import Services
from bridge.store.db import open_store
from bridge.store.lease_group import EscalationLeases, escalation_lease
from bridge.store.tables import utcnow
from tests.fixtures.jobs import escalate_many, jobs_store_url, journal, overlaps  # noqa: F401 - a fixture

pytestmark = pytest.mark.postgres

#: Long enough that nothing in a test expires by itself (a takeover is shown by a later clock).
TTL = timedelta(seconds=60)
JOB_ID = 7


def _runtime(env: dict[str, str]) -> Runtime:
    """A worker process's runtime, as `bridge worker` builds it (the store's Services)."""
    config = load_config(None, env=env)
    return Runtime(lambda: Services(config), concurrency=2, rates={}, lease_ttl=TTL, stalled_after_s=3,
                   name="worker-test")


def test_two_runs_of_one_job_in_one_process_are_two_holders(jobs_store_url):
    runtime = _runtime({"BRIDGE_STORE_URL": jobs_store_url})
    first, second = runtime.holder(JOB_ID), runtime.holder(JOB_ID)
    assert first != second
    # Still readable for people: host, process, worker and job, in that order.
    for holder in (first, second):
        assert holder.startswith(f"{socket.gethostname()}:{os.getpid()}:worker-test:job{JOB_ID}:")


def test_the_retried_run_cannot_take_the_lease_the_stalled_run_holds(jobs_store_url):
    runtime = _runtime({"BRIDGE_STORE_URL": jobs_store_url})
    with open_store(jobs_store_url) as store:
        stalled = EscalationLeases(store.leases, TTL, holder=runtime.holder(JOB_ID))
        assert stalled.take([42]) == {42}
        held = store.leases.get(escalation_lease(42))
        retried = EscalationLeases(store.leases, TTL, holder=runtime.holder(JOB_ID))
        try:
            assert retried.take([42]) == set(), "the same job's second run took a lease its first run holds"
            now = store.leases.get(escalation_lease(42))
            assert (now.holder, now.token) == (held.holder, held.token)
        finally:
            retried.release()
            stalled.release()


def test_the_stalled_run_giving_back_late_does_not_free_the_retried_runs_lease(jobs_store_url):
    runtime = _runtime({"BRIDGE_STORE_URL": jobs_store_url})
    with open_store(jobs_store_url) as store:
        stalled = EscalationLeases(store.leases, TTL, holder=runtime.holder(JOB_ID))
        assert stalled.take([42]) == {42}
        stalled.stop_renewing()  # paused: no renewal goes out, the lease runs out
        # The retried run comes after the stalled run's lease expired (a clock past it, so
        # the test need not wait): it takes the lease over under a new token.
        retried = EscalationLeases(store.leases, TTL, holder=runtime.holder(JOB_ID),
                                   clock=lambda: utcnow() + 2 * TTL)
        assert retried.take([42]) == {42}
        taken = store.leases.get(escalation_lease(42))
        try:
            stalled.release()  # it wakes up, finishes, and gives back what it thinks it holds
            now = store.leases.get(escalation_lease(42))
            assert now is not None, "the stalled run's late release freed the retried run's lease"
            assert (now.holder, now.token) == (taken.holder, taken.token)
        finally:
            retried.release()


def test_a_second_run_of_the_job_through_the_task_leaves_the_escalation_to_the_first(sandbox, bridge_env,
                                                                                     jobs_store_url):
    """The real ``sync_escalation`` task, run as procrastinate runs job 7 again, while the first
    run of job 7 (named by the same runtime) holds the escalation's lease."""
    env = {**os.environ, **bridge_env, "BRIDGE_STORE_URL": jobs_store_url}
    [(_, key, _)] = escalate_many(sandbox, env, 1, threads=1)
    runtime = _runtime(env)
    app = build_app(jobs_store_url)
    with open_store(jobs_store_url) as store, app.open():
        escalation_id = store.escalations.by_key(key).id
        name = escalation_lease(escalation_id)
        recording = JournalingLeases(store.leases, store.engine, job_id=JOB_ID, worker="first run",
                                     task="sync_escalation")
        first = EscalationLeases(recording, TTL, holder=runtime.holder(JOB_ID))
        assert first.take([escalation_id]) == {escalation_id}
        held = store.leases.get(name)
        job = Job(id=JOB_ID, queue="sync", lock=escalation_lock(escalation_id),
                  queueing_lock=sync_queueing_lock(escalation_id), task_name=SYNC_TASK,
                  task_kwargs={"escalation_id": escalation_id}, status="doing")
        context = JobContext(app=app, worker_name=runtime.name, job=job, start_timestamp=time.time(),
                             additional_context={"bridge": runtime}, abort_reason=lambda: None)
        try:
            outcome = sync_escalation(context, escalation_id)
            assert outcome.startswith("busy"), f"the second run worked escalation {escalation_id}: {outcome}"
            now = store.leases.get(name)
            assert now is not None and (now.holder, now.token) == (held.holder, held.token)
        finally:
            first.release()
            recording.finish("ok")
        assert overlaps(journal(store.engine), {}) == []
