"""`bridge worker` on a real PostgreSQL store: the exit-2 refusal on SQLite, the doorbell
deferred in the inbox row's transaction, and a JIRA change through `bridge serve` and two
worker processes told to each customer once."""

from __future__ import annotations

import os
import re

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from jira import JIRA

from bridge.cli import main
from bridge.config import load_config
from bridge.jobs.doorbell import INBOX_TASK
from bridge.sandbox.jira import DEMO_LOGINS
from bridge.services import Services
from tests.fixtures.bridge_comments import bridge_comments, escalate_together
from tests.fixtures.jobs import WorkerProcess, jobs_store_url, journal, overlaps  # noqa: F401 - a fixture
from tests.fixtures.serve import SECRETS, inbox_settled, jira_issue_event, post_jira, serving, wait_until

pytestmark = pytest.mark.postgres


def jobs(engine, task: str) -> list[tuple]:
    with engine.connect() as connection:
        return list(connection.execute(sa.text("SELECT args, status FROM procrastinate_jobs WHERE task_name = :t"),
                                       {"t": task}).all())


def test_worker_on_a_sqlite_store_exits_2_saying_why(tmp_path):
    result = CliRunner().invoke(main, ["worker"], env={"BRIDGE_STORE_URL": f"sqlite:///{tmp_path / 'b.db'}"})
    assert result.exit_code == 2
    assert "bridge worker needs a PostgreSQL store" in result.output and "bridge db copy" in result.output


@pytest.mark.parametrize("rate", ["jira", "jira=fast", "=3", "jira=-1", "jira=inf"])
def test_a_malformed_rate_is_refused_with_exit_2(jobs_store_url, rate):
    result = CliRunner().invoke(main, ["worker", "--rate", rate], env={"BRIDGE_STORE_URL": jobs_store_url})
    assert result.exit_code == 2 and "--rate" in result.output


def test_an_unknown_queue_is_refused_with_exit_2(jobs_store_url):
    result = CliRunner().invoke(main, ["worker", "--queues", "inbox,mail"], env={"BRIDGE_STORE_URL": jobs_store_url})
    assert result.exit_code == 2 and "unknown queue mail" in result.output


def test_accepting_defers_the_job_in_the_same_transaction(jobs_store_url):
    from bridge.jobs.doorbell import attach
    from bridge.store.db import open_store

    store = open_store(jobs_store_url)
    try:
        attach(store)
        assert store.inbox.accept("jira", "d-1", "jira:issue_updated", {"jira_issue_id": "1"})
        assert not store.inbox.accept("jira", "d-1", "jira:issue_updated", {"jira_issue_id": "1"})  # redelivery
        [item] = store.inbox.items()
        assert jobs(store.engine, INBOX_TASK) == [({"item_id": item.id}, "todo")]

        # A doorbell that cannot be deferred takes the row down with it: nothing half-written.
        def broken(session, item):
            session.connection().exec_driver_sql("SELECT no_such_function()")

        store.inbox.on_accept = broken
        with pytest.raises(sa.exc.ProgrammingError):
            store.inbox.accept("jira", "d-2", "jira:issue_updated", {"jira_issue_id": "2"})
        assert [i.delivery_id for i in store.inbox.items()] == ["d-1"]
        assert len(jobs(store.engine, INBOX_TASK)) == 1
    finally:
        store.close()


def test_the_sweeper_finds_items_whose_job_was_lost(jobs_store_url):
    from bridge.jobs.doorbell import attach, lost_inbox_items, reissue
    from bridge.store.db import open_store

    store = open_store(jobs_store_url)
    try:
        attach(store)
        store.inbox.accept("jira", "d-1", "jira:issue_updated", {"jira_issue_id": "1"})
        assert lost_inbox_items(store.engine) == []  # its job waits
        with store.engine.begin() as connection:
            connection.exec_driver_sql("DELETE FROM procrastinate_jobs")  # an operator's mistake
        [item] = store.inbox.items()
        assert lost_inbox_items(store.engine) == [item.id]
        reissue(store.engine, [item.id])
        assert lost_inbox_items(store.engine) == []
    finally:
        store.close()


def test_a_second_app_in_one_process_defers_to_the_task_queues(jobs_store_url):
    """Every App (serve's doorbell and its in-process worker, a bench, a test) defers each
    task to its own queue: a worker started with ``--queues sync`` must find the job."""
    from bridge.jobs.app import QUEUES, build_app
    from bridge.jobs.doorbell import SYNC_TASK
    from bridge.jobs.tasks import ring_sync
    from bridge.store.db import make_engine

    first, second = build_app(jobs_store_url), build_app(jobs_store_url)
    for app in (first, second):
        ours = {name: task for name, task in app.tasks.items() if not name.startswith(("builtin:", "procrastinate."))}
        assert {name: task.queue for name, task in ours.items()} == {
            "bridge:process_inbox_item": "inbox", "bridge:sync_escalation": "sync",
            "bridge:escalate_ticket": "sync", "bridge:reconcile": "periodic", "bridge:sla_cadence": "periodic",
            "bridge:refresh_webhooks": "periodic", "bridge:sweep": "periodic"}
        assert {task.queue for task in ours.values()} == set(QUEUES)
    with second.open():
        assert ring_sync(second, 7)
    engine = make_engine(jobs_store_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.text("SELECT task_name, queue_name FROM procrastinate_jobs")).all()
    finally:
        engine.dispose()
    assert [tuple(r) for r in rows] == [(SYNC_TASK, "sync")]


@pytest.fixture
def env(bridge_env, jobs_store_url) -> dict[str, str]:
    return {**os.environ, **bridge_env, **SECRETS, "BRIDGE_STORE_URL": jobs_store_url,
            "BRIDGE_SERVE_LEASE_SECONDS": "3"}


def told(sandbox, ticket: int, words: str) -> int:
    return sum(words in body for body in bridge_comments(sandbox, ticket))


def test_a_jira_change_through_serve_and_two_workers_is_told_once(sandbox, env, tmp_path):
    services = Services(load_config(None, env=env))
    bug = escalate_together(services, sandbox, (101, 105))
    workers = [WorkerProcess(env, tmp_path / f"worker-{n}.log", "--concurrency", "2") for n in range(2)]
    try:
        with serving(services, workers=0) as serve:
            dev = JIRA(server=sandbox.jira.url, basic_auth=DEMO_LOGINS["dev"].basic_auth("cloud"), max_retries=0)
            dev.transition_issue(bug, "In Progress")
            event = jira_issue_event(dev.issue(bug))
            for attempt in range(3):  # one change, delivered three times under two ids
                post_jira(serve.url, event, delivery=f"change-{attempt % 2}")
            wait_until(lambda: told(sandbox, 101, "working on a fix") and told(sandbox, 105, "working on a fix"),
                       what="both customers told")
            wait_until(lambda: inbox_settled(services.store), what="the inbox to settle")
    finally:
        codes = [w.terminate() for w in workers]
    assert codes == [0, 0]
    assert [told(sandbox, t, "working on a fix") for t in (101, 105)] == [1, 1]
    rows = journal(services.store.engine)
    assert rows and overlaps(rows, {}) == []


def test_a_worker_that_loses_its_database_connections_works_on(env, tmp_path):
    """PostgreSQL restarting (here: every connection of the worker cut) stops procrastinate's
    worker (its listener and heartbeat fail); `bridge worker` starts it again once the
    database answers, and takes the next job."""
    from sqlalchemy.engine import make_url

    from bridge.jobs.app import build_app
    from bridge.jobs.tasks import ring_sync
    from bridge.store.db import make_engine

    name = f"cut-{os.getpid()}"
    url = make_url(env["BRIDGE_STORE_URL"]).update_query_dict({"application_name": name})
    worker = WorkerProcess({**env, "BRIDGE_STORE_URL": url.render_as_string(hide_password=False)},
                           tmp_path / "worker.log", "--queues", "sync")
    engine = make_engine(env["BRIDGE_STORE_URL"])
    try:
        def cut() -> int:
            with engine.connect() as connection:
                return len(connection.execute(sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :n"),
                    {"n": name}).all())

        assert cut() >= 1
        app = build_app(env["BRIDGE_STORE_URL"])
        with app.open():
            assert ring_sync(app, 999)  # no such escalation: a quiet pass, but a journal row
        wait_until(lambda: journal(engine) and journal(engine)[-1][3] is not None, timeout=60,
                   what="the worker to run the job after losing its connections")
        assert worker.proc.poll() is None
        assert [row[0] for row in journal(engine)] == [999]
    finally:
        code = worker.terminate()
        engine.dispose()
    assert code == 0


def test_status_and_doctor_report_waiting_jobs_and_workers_alive(sandbox, env, tmp_path):
    from bridge.jobs.doorbell import attach
    from bridge.store.db import open_store

    store = open_store(env["BRIDGE_STORE_URL"])
    try:
        attach(store)
        store.inbox.accept("jira", "d-1", "jira:issue_updated", {"jira_issue_id": "1"})
    finally:
        store.close()
    status = CliRunner().invoke(main, ["status"], env=env)
    assert status.exit_code == 0, status.output
    assert re.search(r"jobs: 1 waiting, 0 running, 0 failed, oldest waiting \d+s; 0 worker\(s\) alive", status.output)
    doctor = CliRunner().invoke(main, ["doctor"], env=env)
    assert re.search(r"workers.*1 waiting.*no worker is alive", doctor.output), doctor.output

    worker = WorkerProcess(env, tmp_path / "worker.log")
    try:
        wait_until(lambda: "jobs: 0 waiting" in CliRunner().invoke(main, ["status"], env=env).output,
                   what="the worker to take the job")
        # Polled too: the worker's own periodic jobs (the sweep every 2 s, the SLA cadence
        # and the reconciliation at every fifth and tenth minute) wait their turn for a
        # moment, and a doctor run at such a moment counts them.
        wait_until(lambda: re.search(r"workers.*1 alive; jobs 0 waiting",
                                     CliRunner().invoke(main, ["doctor"], env=env).output),
                   timeout=60, what="doctor to report the worker alive and no job waiting")
    finally:
        assert worker.terminate() == 0


def test_serve_with_workers_on_postgres_runs_the_jobs_itself(sandbox, env):
    services = Services(load_config(None, env=env))
    bug = escalate_together(services, sandbox, (101,))
    with serving(services, workers=2) as serve:
        assert serve.jobs is not None and serve.jobs.worker is not None  # procrastinate, not inbox threads
        dev = JIRA(server=sandbox.jira.url, basic_auth=DEMO_LOGINS["dev"].basic_auth("cloud"), max_retries=0)
        dev.transition_issue(bug, "In Progress")
        post_jira(serve.url, jira_issue_event(dev.issue(bug)), delivery="change-1")
        wait_until(lambda: told(sandbox, 101, "working on a fix"), what="the customer told")
        wait_until(lambda: inbox_settled(services.store), what="the inbox to settle")
    assert told(sandbox, 101, "working on a fix") == 1
    assert {row[0] for row in journal(services.store.engine)} == {services.store.escalations.by_key(bug).id}
