"""Escalations brought up to date per second by 1, 2 and 4 `bridge worker` processes.

Issue 13's benchmark: the sandbox emulators answer every call after ``--latency-ms`` (50 ms),
a PostgreSQL store (``--store-url``, default /tmp/pgurl; a schema of its own, dropped after)
holds ``--escalations`` escalations. Per row: every Bug is moved in JIRA, one sync job per
escalation is deferred at once, and the clock runs until every customer has been told (read
from the helpdesk emulator's memory). Workers are started before the clock and run one job
at a time (``--concurrency 1``), so the row measures processes.

Two series:

* **unlimited** — no emulator budget, no limiter: the target is >= 3x at 4 workers over 1;
* **rate-limited** — Zendesk answers 429 past ``--zendesk-budget`` requests per second, and
  the workers share a limit just under it (``--rate zendesk=…``): throughput flattens where
  the budget binds, and the 429s the workers saw should stay near 0.

Prints; asserts nothing. ``python bench/workers.py [--escalations 40] [--latency-ms 50]``.
"""

from __future__ import annotations

import argparse
import os
import select
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from bridge.config import load_config  # noqa: E402
from bridge.escalation import EscalationRequest  # noqa: E402
from bridge.sandbox.jira import DEMO_LOGINS  # noqa: E402
from bridge.sandbox.world import start_sandbox  # noqa: E402
from bridge.services import Services  # noqa: E402
from bridge.store.db import make_engine, upgrade  # noqa: E402

ACTOR = "erin@example.com"
BRIDGE_EMAIL = "bridge@example.com"
STATES = {"In Progress": ("21", "working on a fix"), "In QA": ("31", "quality assurance")}
TARGET_SPEEDUP = 3.0
#: How long one row may take before it is reported as not done.
args_timeout = 300


def with_schema(base: str, schema: str) -> str:
    from sqlalchemy.engine import make_url

    url = make_url(base)
    return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)


def escalate_many(world, env, count: int, threads: int = 4) -> list[tuple[int, str, int]]:
    zendesk = world.zendesk_state
    customer = zendesk.ticket(101)["requester_id"]
    tickets = [zendesk.create_ticket({"subject": f"Export {n} fails", "description": "It crashes.",
                                      "requester_id": customer, "priority": "normal"}, customer)[0]["id"]
               for n in range(count)]

    def escalate(share):
        services = Services(load_config(None, env=env))
        made = []
        for ticket in share:
            key = services.escalator().escalate(EscalationRequest(ticket=str(ticket), actor=ACTOR)).jira_key
            made.append((ticket, key, services.store.escalations.by_key(key).id))
        return made

    with ThreadPoolExecutor(threads) as pool:
        made = [e for part in pool.map(escalate, [tickets[n::threads] for n in range(threads)]) for e in part]
    zendesk.export_skips_last_minute = False
    return made


def knobs(world, **values) -> None:
    for service in (world.jira, world.zendesk):
        body = {k: v for k, v in values.items() if service is world.zendesk or k == "latency_ms"}
        requests.patch(f"{service.url}/__sandbox__/knobs", json=body, timeout=10).raise_for_status()


def start_workers(env, count: int, rates: list[str], logs: Path) -> list[subprocess.Popen]:
    procs = []
    for n in range(count):
        args = [sys.executable, "-m", "bridge", "worker", "--concurrency", "1", "--queues", "sync"]
        for rate in rates:
            args += ["--rate", rate]
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=open(logs / f"worker-{count}-{n}.log", "ab"))
        procs.append(proc)
    for proc in procs:
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        if not ready or "bridge worker" not in proc.stdout.readline().decode():
            raise RuntimeError(f"a worker did not start; see {logs}")
    return procs


def told(world, ticket: int, words: str) -> int:
    bridge = world.zendesk_state.user_by_email(BRIDGE_EMAIL)["id"]
    return sum(words in c["body"] for c in world.zendesk_state.comments(ticket)
               if c["public"] and c["author_id"] == bridge)


def one_row(world, env, engine, escalations, where, workers: int, rates: list[str], logs: Path) -> tuple[float, int]:
    """(escalations per second, 429s the workers saw) for one worker count."""
    from bridge.jobs.app import build_app
    from bridge.jobs.tasks import ring_sync

    jira = requests.Session()
    jira.auth = DEMO_LOGINS["dev"].basic_auth("cloud")
    goal = {}
    for ticket, key, _ in escalations:  # the changes, before the clock
        target = "In QA" if where[key] == "In Progress" else "In Progress"
        jira.post(f"{world.jira.url}/rest/api/2/issue/{key}/transitions",
                  json={"transition": {"id": STATES[target][0]}}, timeout=60).raise_for_status()
        where[key] = target
        goal[ticket] = told(world, ticket, STATES[target][1]) + 1
    with engine.begin() as connection:
        connection.execute(text("UPDATE bridge_rate_limits SET throttled = 0, blocked_until = NULL"))
    procs = start_workers(env, workers, rates, logs)
    time.sleep(2)  # JIRA's search catches up with the transitions (the emulator lags like Cloud)
    try:
        app = build_app(env["BRIDGE_STORE_URL"])
        with app.open():
            start = time.monotonic()
            for _, _, escalation_id in escalations:
                ring_sync(app, escalation_id)
            pending = dict(goal)
            deadline = start + args_timeout
            while pending and time.monotonic() < deadline:
                for ticket in list(pending):
                    key = next(k for t, k, _ in escalations if t == ticket)
                    if told(world, ticket, STATES[where[key]][1]) >= pending[ticket]:
                        del pending[ticket]
                time.sleep(0.05)
            elapsed = time.monotonic() - start
        if pending:
            with engine.connect() as connection:
                states = connection.execute(text("SELECT task_name, status, lock, queueing_lock, scheduled_at, "
                                                 "args FROM procrastinate_jobs")).all()
                outcomes = connection.execute(text("SELECT outcome, count(*) FROM bridge_job_journal "
                                                   "GROUP BY 1")).all()
            print(f"  workers alive: {[p.poll() is None for p in procs]}", flush=True)
            print(f"  {len(pending)} escalation(s) not brought up to date within {args_timeout} s; "
                  f"jobs {states}; journal {outcomes}", flush=True)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(60)
    with engine.connect() as connection:
        seen = connection.execute(text("SELECT COALESCE(sum(throttled), 0) FROM bridge_rate_limits")).scalar_one()
    return (len(escalations) - len(pending)) / elapsed, int(seen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--escalations", type=int, default=40)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--zendesk-budget", type=int, default=12, help="Zendesk requests per second before 429")
    parser.add_argument("--store-url", default=None, help="PostgreSQL URL (default: the one in /tmp/pgurl)")
    args = parser.parse_args()
    base = args.store_url or Path("/tmp/pgurl").read_text().strip()
    counts = [int(n) for n in args.workers.split(",")]
    schema = f"bench_workers_{uuid.uuid4().hex[:8]}"
    admin = make_engine(base)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    logs = Path(f"/tmp/{schema}")
    logs.mkdir()
    try:
        url = with_schema(base, schema)
        upgrade(url, jobs=True)
        engine = make_engine(url)
        with start_sandbox(0) as world:
            env = {**os.environ, **world.env(), "BRIDGE_STORE_URL": url, "BRIDGE_BRIDGE_ACTOR": ACTOR,
                   "BRIDGE_SERVE_LEASE_SECONDS": "10"}
            escalations = escalate_many(world, env, args.escalations)
            where = {key: "To Do" for _, key, _ in escalations}
            print(f"{args.escalations} escalations, {args.latency_ms:g} ms per service call, PostgreSQL; "
                  f"workers run one job at a time; logs in {logs}", flush=True)
            for label, budget, rates in (
                    ("unlimited", None, ["jira=0", "zendesk=0"]),
                    (f"zendesk {args.zendesk_budget}/s", args.zendesk_budget,
                     ["jira=0", f"zendesk={max(1, args.zendesk_budget - 2)}"])):
                knobs(world, latency_ms=args.latency_ms, rate_limit=budget, rate_window_s=1 if budget else None)
                print(f"\n{label}:", flush=True)
                base_rate = None
                for workers in counts:
                    rate, seen = one_row(world, env, engine, escalations, where, workers, rates, logs)
                    base_rate = base_rate or rate
                    speedup = rate / base_rate
                    target = f"target >= {TARGET_SPEEDUP:g}x" if workers == 4 and budget is None else ""
                    print(f"  {workers} worker(s): {rate:6.2f} escalations/s  {speedup:4.2f}x over 1  "
                          f"429s seen {seen:4d}  {target}", flush=True)
        engine.dispose()
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


if __name__ == "__main__":
    main()
