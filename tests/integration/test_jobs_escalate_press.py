"""The Escalate press as a PostgreSQL job (``escalate_ticket``): a press the support policy
refuses is final (the job ends ``refused``, audited), not a failure procrastinate retries."""

from __future__ import annotations

import os
import time
from datetime import timedelta

import pytest
from procrastinate.job_context import JobContext
from procrastinate.jobs import Job

from bridge.config import load_config
from bridge.jobs.app import build_app
from bridge.jobs.runtime import Runtime
from bridge.jobs.tasks import escalate_ticket
from bridge.services import Services
from bridge.store.db import open_store
from tests.fixtures.jobs import jobs_store_url  # noqa: F401 - a fixture

pytestmark = pytest.mark.postgres


def test_a_press_the_policy_refuses_ends_its_job_refused_and_audited(sandbox, bridge_env, jobs_store_url):  # noqa: F811
    env = {**os.environ, **bridge_env, "BRIDGE_STORE_URL": jobs_store_url}
    config = load_config(None, env=env)
    runtime = Runtime(lambda: Services(config), concurrency=1, rates={}, lease_ttl=timedelta(seconds=60), stalled_after_s=60,
                      name="worker-test")
    app = build_app(jobs_store_url)
    job = Job(id=11, queue="sync", lock=None, queueing_lock=None, task_name="bridge:escalate_ticket",
              task_kwargs={"ticket": "103"}, status="doing")
    with app.open():
        context = JobContext(app=app, worker_name=runtime.name, job=job, start_timestamp=time.time(),
                             additional_context={"bridge": runtime}, abort_reason=lambda: None)
        # Ticket 103 is solved, and the mappings refuse closed tickets.
        assert escalate_ticket(context, "103") == "refused"
    with open_store(jobs_store_url) as store:
        assert store.escalations.by_ticket("zendesk", "103") is None
        assert [e.result for e in store.audit.entries(target="zendesk:103")] == ["denied"]
