"""A storm on the PostgreSQL job engine (issue 13's acceptance, scaled to fit CI).

200 JIRA changes over 50 escalations (``BRIDGE_TEST_STORM_SCALE=full``: the acceptance's 500
over 200), each change's webhook delivered 1-5 times, shuffled,
to two `bridge serve` processes; four `bridge worker` processes work the jobs while a random
one is SIGKILLed and restarted every few seconds; then a final reconciliation. Afterwards:
no customer told anything twice in a row, none left without the Bug's final state, every
ticket's status the mapping of that state, and no escalation worked by two workers at once
(read from the store's job journal; a killed worker's rows end when it was killed).

``BRIDGE_TEST_PG_RESTART=1`` also restarts PostgreSQL itself once during the storm
(``pg_ctlcluster 15 main restart``; any other value is the command that restarts the server
of BRIDGE_TEST_PG_URL, e.g. a private one's ``pg_ctl -D … restart``): off by default,
because other tests share the server.
"""

from __future__ import annotations

import os
import random
import shlex
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
import requests
import sqlalchemy as sa
from click.testing import CliRunner

from bridge.cli import main
from bridge.config import load_config
from bridge.sandbox.jira import DEMO_LOGINS
from bridge.services import Services
from tests.fixtures.bridge_comments import bridge_comments
from tests.fixtures.jobs import WorkerProcess, escalate_many, jobs_store_url, journal, overlaps  # noqa: F401 - a fixture
from tests.fixtures.serve import SECRETS, ServeProcess, inbox_settled, post_jira, wait_until

pytestmark = pytest.mark.postgres

FULL = os.environ.get("BRIDGE_TEST_STORM_SCALE") == "full"
ESCALATIONS = 200 if FULL else 50
CHANGES = 500 if FULL else 200
#: Transition id and the words of the customer's message, by target state.
STATES = {"In Progress": ("21", "working on a fix"), "In QA": ("31", "quality assurance")}
_RESTART = os.environ.get("BRIDGE_TEST_PG_RESTART", "")
RESTART_PG = ["pg_ctlcluster", "15", "main", "restart"] if _RESTART == "1" else shlex.split(_RESTART)


@pytest.fixture
def env(bridge_env, jobs_store_url) -> dict[str, str]:
    return {**os.environ, **bridge_env, **SECRETS, "BRIDGE_STORE_URL": jobs_store_url,
            "BRIDGE_SERVE_LEASE_SECONDS": "3"}


def started(make, count: int) -> list:
    """``count`` processes started side by side (each waits for its own ready line)."""
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(make, range(count)))


def stopped(processes) -> list[int]:
    """SIGTERM to all at once, then their exit codes."""
    for process in processes:
        process.proc.send_signal(signal.SIGTERM)
    codes = [process.proc.wait(120) for process in processes]
    for process in processes:
        process.log.close()
    return codes


def event(key: str, issue_id: str, state: str, n: int) -> dict:
    return {"webhookEvent": "jira:issue_updated", "timestamp": int(time.time() * 1000) + n,
            "issue": {"id": issue_id, "key": key, "fields": {"status": {"name": state}}}}


def announcements(sandbox, ticket: int) -> list[str]:
    """The states the bridge told this ticket's customer, in order."""
    return [state for body in bridge_comments(sandbox, ticket) for state, (_, words) in STATES.items()
            if words in body]


class Killer:
    """SIGKILLs a random worker every ``every`` seconds and starts a new one in its place.

    The storm calls :meth:`at_least` between its batches too: on a fast machine the whole
    storm can finish inside two intervals, and a storm with one kill proves little.
    """

    def __init__(self, workers: list[WorkerProcess], start, every: float) -> None:
        self.workers, self.start, self.every = workers, start, every
        self.killed_at: dict[int, datetime] = {}
        self.kills = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self._rng = random.Random(13)
        self._lock = threading.Lock()

    def run(self) -> None:
        while not self.stop.wait(self.every):
            self.kill_one()

    def kill_one(self) -> None:
        with self._lock:
            n = self._rng.randrange(len(self.workers))
            victim = self.workers[n]
            victim.kill()
            self.killed_at[victim.pid] = datetime.now(UTC)
            self.kills += 1
            self.workers[n] = self.restart(f"{self.kills}")

    def at_least(self, kills: int) -> None:
        """Kill now unless ``kills`` workers have been killed already."""
        if self.kills < kills:
            self.kill_one()

    def restart(self, tag: str) -> WorkerProcess:
        """A new worker, started again (as systemd or Kubernetes would) while PostgreSQL is
        down for its restart and the worker exits saying the store is unreachable."""
        deadline = time.monotonic() + 60
        while True:
            try:
                return self.start(tag)
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                self.stop.wait(0.5)


def waiting_jobs(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(sa.text(
            "SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing') "
            "AND queue_name <> 'periodic'")).scalar_one()


def job_states(engine) -> list[tuple]:
    with engine.connect() as connection:
        return list(connection.execute(sa.text(
            "SELECT task_name, status, count(*) FROM procrastinate_jobs GROUP BY 1, 2 ORDER BY 1, 2")).all())


def test_storm_no_duplicate_no_missing_no_escalation_worked_twice_at_once(sandbox, env, tmp_path):
    services = Services(load_config(None, env=env))
    escalations = escalate_many(sandbox, env, ESCALATIONS)
    rng = random.Random(12)
    serves = started(lambda n: ServeProcess(env, tmp_path / f"serve-{n}.log", workers=0), 2)

    def start_worker(tag: str) -> WorkerProcess:
        return WorkerProcess(env, tmp_path / f"worker-{tag}.log", "--concurrency", "2", "--stalled-after", "3",
                             # the emulators have no budget to protect: the shared limiter still runs
                             "--rate", "jira=200", "--rate", "zendesk=200")

    workers = started(lambda n: start_worker(f"w{n}"), 4)
    killer = Killer(workers, start_worker, every=3.0)
    jira = requests.Session()
    jira.auth = DEMO_LOGINS["dev"].basic_auth("cloud")
    where = {key: "To Do" for _, key, _ in escalations}
    changes_of = {key: 0 for _, key, _ in escalations}
    restarted = False
    try:
        killer.thread.start()
        deliveries, batches = [], 0
        for n in range(CHANGES):
            _, key, issue_id = rng.choice(escalations)
            target = "In QA" if where[key] == "In Progress" else "In Progress"
            answer = jira.post(f"{sandbox.jira.url}/rest/api/2/issue/{key}/transitions",
                               json={"transition": {"id": STATES[target][0]}}, timeout=30)
            assert answer.status_code == 204, answer.text
            where[key] = target
            changes_of[key] += 1
            deliveries += [(f"change-{n}", event(key, issue_id, target, n))] * rng.randint(1, 5)
            if len(deliveries) >= 60 or n == CHANGES - 1:
                rng.shuffle(deliveries)  # out of order, duplicated, to either serve process
                with ThreadPoolExecutor(8) as pool:
                    answers = list(pool.map(lambda d: post_jira(rng.choice(serves).url, d[1], delivery=d[0]),
                                            deliveries))
                assert {a.status_code for a in answers} <= {200, 202}
                deliveries, batches = [], batches + 1
                killer.at_least(min(batches // 2, 2))  # kills while the jobs of batches 2 and 4 are in flight
                if RESTART_PG and not restarted and n >= CHANGES // 2:
                    subprocess.run(RESTART_PG, check=True, timeout=60)
                    restarted = True
        try:
            wait_until(lambda: inbox_settled(services.store) and waiting_jobs(services.store.engine) == 0,
                       timeout=240 if FULL else 90, what="the inbox and the job queues to drain")
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {job_states(services.store.engine)}, {services.store.inbox.backlog()}") from None
    finally:
        killer.stop.set()
        killer.thread.join(30)
        codes = stopped([*killer.workers, *serves])
    assert codes == [0] * 6, (codes, {p.name: p.read_text()[-2000:] for p in tmp_path.glob("*.log")})
    assert killer.kills >= 2

    # The final reconciliation (bridge sync, the poll for deliveries that never came).
    result = CliRunner().invoke(main, ["sync"], env=env)
    assert result.exit_code == 0, result.output

    for ticket, key, _ in escalations:
        said = announcements(sandbox, ticket)
        if changes_of[key] == 0:
            assert said == [], (ticket, said)
            continue
        assert said and said[-1] == where[key], (key, where[key], said)  # none missing
        assert all(a != b for a, b in zip(said, said[1:])), (key, said)  # none twice
        assert len(said) <= changes_of[key]
        assert sandbox.zendesk_state.ticket(ticket)["status"] == "open"  # in_progress / in_qa map to open
    rows = journal(services.store.engine)
    assert len(rows) >= len([k for k in changes_of if changes_of[k]])
    assert overlaps(rows, killer.killed_at) == []
