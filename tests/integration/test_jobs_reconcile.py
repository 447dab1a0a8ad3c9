"""The periodic reconciliation on the job engine: one full sync pass, not a job per
escalation, and never on an escalation a sync job is working (nor the other way round)."""

from __future__ import annotations

import os

import pytest
import requests
import sqlalchemy as sa

from bridge.config import load_config
from bridge.jobs.app import build_app
from bridge.jobs.tasks import ring_sync
from bridge.sandbox.jira import DEMO_LOGINS
from bridge.services import Services
from tests.fixtures.bridge_comments import bridge_comments
from tests.fixtures.jobs import WorkerProcess, escalate_many, journal, overlaps
from tests.fixtures.jobs import jobs_store_url  # noqa: F401 - a fixture
from tests.fixtures.serve import SECRETS, wait_until

pytestmark = pytest.mark.postgres

ESCALATIONS = 16
WORDS = "working on a fix"
FULL_PASSES = {"reconcile", "sla_cadence"}


@pytest.fixture
def env(bridge_env, jobs_store_url) -> dict[str, str]:
    return {**os.environ, **bridge_env, **SECRETS, "BRIDGE_STORE_URL": jobs_store_url,
            "BRIDGE_SERVE_LEASE_SECONDS": "5"}


def open_jobs(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(sa.text("SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing') "
                                          "AND task_name <> 'bridge:sweep'")).scalar_one()


def tasks_by_escalation(engine) -> dict[int, set[str]]:
    found: dict[int, set[str]] = {}
    with engine.connect() as connection:
        for escalation_id, task in connection.execute(sa.text("SELECT escalation_id, task FROM bridge_job_journal")):
            found.setdefault(escalation_id, set()).add(task)
    return found


def test_a_full_pass_and_sync_jobs_never_work_one_escalation_at_once(sandbox, env, tmp_path):
    services = Services(load_config(None, env=env))
    escalations = escalate_many(sandbox, env, ESCALATIONS)
    ids = [services.store.escalations.by_key(key).id for _, key, _ in escalations]
    jira = requests.Session()
    jira.auth = DEMO_LOGINS["dev"].basic_auth("cloud")
    for _, key, _ in escalations:
        jira.post(f"{sandbox.jira.url}/rest/api/2/issue/{key}/transitions",
                  json={"transition": {"id": "21"}}, timeout=30).raise_for_status()  # In Progress
    for service in (sandbox.jira, sandbox.zendesk):  # passes that take a while, so they meet
        requests.patch(f"{service.url}/__sandbox__/knobs", json={"latency_ms": 30}, timeout=10).raise_for_status()
    rates = ["--rate", "jira=0", "--rate", "zendesk=0"]
    workers = [WorkerProcess(env, tmp_path / f"worker-{n}.log", "--concurrency", "3", *rates) for n in range(2)]
    engine = services.store.engine
    try:
        app = build_app(env["BRIDGE_STORE_URL"])
        with app.open():
            # The reconciliation and a doorbell for every escalation at once, twice over.
            for round_ in range(2):
                app.configure_task("bridge:reconcile", allow_unknown=False).defer(timestamp=round_)
                for escalation_id in ids:
                    ring_sync(app, escalation_id)
        wait_until(lambda: all(any(WORDS in body for body in bridge_comments(sandbox, ticket))
                               for ticket, _, _ in escalations) and open_jobs(engine) == 0,
                   timeout=120, what="every customer told and the queues drained")
    finally:
        codes = [w.terminate() for w in workers]
    assert codes == [0, 0]
    for ticket, _, _ in escalations:
        assert sum(WORDS in body for body in bridge_comments(sandbox, ticket)) == 1, ticket
    worked = tasks_by_escalation(engine)
    # Every sync job got its escalation in the end (at once, or rung again after a pass); the
    # first full pass, with at most 5 jobs beside it among 16 escalations, got most of them
    # itself. (The workers may also have deferred the SLA cadence's latest full pass.)
    assert set(worked) == set(ids) and all("sync_escalation" in tasks for tasks in worked.values()), worked
    assert sum(bool(tasks & FULL_PASSES) for tasks in worked.values()) >= ESCALATIONS - 5, worked
    rows = journal(engine)
    assert rows and overlaps(rows, {}) == []
