"""Escalations brought up to date per second by 1, 2 and 4 `bridge worker` processes.

Issue 13's benchmark: the sandbox emulators answer every call after ``--latency-ms`` (50 ms),
a PostgreSQL store (``--store-url``, default /tmp/pgurl; a schema of its own, dropped after)
holds ``--escalations`` escalations. Per row: every Bug is moved in JIRA, one sync job per
escalation is deferred at once, and the clock runs until every customer has been told (read
from the helpdesk emulator's memory). Workers are started before the clock.

Three series:

* **processes** — 1, 2, 4 worker processes, one job at a time each (``--concurrency 1``):
  the target is >= 3x at 4 processes over 1, and no 429 (there is no budget);
* **threads** — one worker process running 1, 2, 4 jobs at a time (``--concurrency N``):
  the same work without more interpreters, to tell latency from CPU;
* **rate-limited** — Zendesk answers 429 past ``--zendesk-budget`` requests per second,
  counted over windows of ``--zendesk-window-s`` (10 s; Zendesk's own are a minute), and the
  workers share a limit just under it (``--rate zendesk=budget-2``; the limiter's bucket
  holds a second's worth, so a window sees at most limit x (window + 1) requests): throughput
  flattens where the budget binds (the ceiling printed is limit / Zendesk calls per escalation), and
  the target is no 429 at all: the limiter lets none through;
* **unlimited under the budget** — the same budget, workers without a limit (``--rate
  zendesk=0``): the 429s the limiter saves, and what their Retry-After waits cost.

Beside each row: the CPU the workers spent per escalation, the emulators' share of a core
(they run in this process), how many of the machine's cores were busy during the row (all
of its processes, PostgreSQL and everyone else's included) and the load average. A
latency-bound job scales with workers while cores are free; once the machine's cores are
busy, more workers only queue for them.

Prints; asserts nothing. ``python bench/workers.py [--escalations 80] [--latency-ms 50]
[--workers 1,2,4] [--series processes,threads,limited]``.
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
from dataclasses import dataclass
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
ROW_TIMEOUT_S = 300
TICK = os.sysconf("SC_CLK_TCK")


def with_schema(base: str, schema: str) -> str:
    """The store URL in ``schema``, its connections named after it (so their PostgreSQL
    backends can be found, and their CPU counted)."""
    from sqlalchemy.engine import make_url

    url = make_url(base)
    return url.update_query_dict({"options": f"-csearch_path={schema}", "application_name": schema}
                                 ).render_as_string(hide_password=False)


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


def count_refusals(world) -> None:
    """Count the 429s the Zendesk emulator answers (what the service refused, beside what
    the workers say they saw): its budget check, wrapped in this process."""
    knobs = world.zendesk.knobs
    take = knobs.take_budget

    def counted():
        allowed, remaining, reset = take()
        if not allowed:
            knobs.refused = getattr(knobs, "refused", 0) + 1
        return allowed, remaining, reset

    knobs.take_budget = counted


def knobs(world, **values) -> None:
    for service in (world.jira, world.zendesk):
        body = {k: v for k, v in values.items() if service is world.zendesk or k == "latency_ms"}
        requests.patch(f"{service.url}/__sandbox__/knobs", json=body, timeout=10).raise_for_status()


# ----------------------------------------------------------------------------- CPU --

def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a live process has used, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def backend_cpu_s(engine, name: str) -> dict[int, float]:
    """CPU seconds of each live PostgreSQL backend whose connection is named ``name``."""
    with engine.connect() as connection:
        pids = connection.execute(text("SELECT pid FROM pg_stat_activity WHERE application_name = :n"),
                                  {"n": name}).scalars().all()
    found = {}
    for pid in pids:
        try:
            found[pid] = process_cpu_s(pid)
        except (FileNotFoundError, ProcessLookupError, PermissionError):  # gone, or not ours to read
            pass
    return found


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all cores since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


# ----------------------------------------------------------------------------- rows --

@dataclass
class Row:
    done: int
    elapsed_s: float
    throttled: int
    refused: int
    zendesk_requests: int
    worker_cpu_s: float
    postgres_cpu_s: float
    bench_cpu_s: float
    busy_cores: float
    load: float

    @property
    def rate(self) -> float:
        return self.done / self.elapsed_s


def start_workers(env, processes: int, concurrency: int, rates: list[str], logs: Path) -> list[subprocess.Popen]:
    procs = []
    for n in range(processes):
        args = [sys.executable, "-m", "bridge", "worker", "--concurrency", str(concurrency), "--queues", "sync"]
        for rate in rates:
            args += ["--rate", rate]
        with open(logs / f"worker-{processes}x{concurrency}-{n}.log", "ab") as log:
            procs.append(subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=log))
    for proc in procs:
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        if not ready or "bridge worker" not in proc.stdout.readline().decode():
            raise RuntimeError(f"a worker did not start; see {logs}")
    return procs


def schema_of(engine) -> str:
    return engine.url.query["application_name"]


def told(world, bridge_id: int, ticket: int, words: str) -> int:
    return sum(words in c["body"] for c in world.zendesk_state.comments(ticket)
               if c["public"] and c["author_id"] == bridge_id)


def warm_up(app, engine, escalations, jobs: int) -> None:
    """Quiet syncs (nothing changed yet) until every worker has run some: the first job of a
    process imports and loads what later ones reuse, which is not what a row measures."""
    from bridge.jobs.tasks import ring_sync

    with engine.connect() as connection:
        before = connection.execute(text("SELECT COALESCE(max(id), 0) FROM bridge_job_journal")).scalar_one()
    for _, _, escalation_id in escalations[:jobs]:
        ring_sync(app, escalation_id)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            ended = connection.execute(text("SELECT count(*) FROM bridge_job_journal WHERE id > :b "
                                            "AND ended_at IS NOT NULL"), {"b": before}).scalar_one()
        if ended >= min(jobs, len(escalations)):
            return
        time.sleep(0.1)
    raise RuntimeError("the workers did not finish their warm-up jobs within 120 s")


def one_row(world, env, engine, escalations, where, processes: int, concurrency: int, rates: list[str],
            logs: Path) -> Row:
    """Move every Bug, ring every escalation's sync, time until every customer is told."""
    from bridge.jobs.app import build_app
    from bridge.jobs.tasks import ring_sync

    bridge_id = world.zendesk_state.user_by_email(BRIDGE_EMAIL)["id"]
    procs = start_workers(env, processes, concurrency, rates, logs)
    app = build_app(env["BRIDGE_STORE_URL"])
    try:
        with app.open():
            warm_up(app, engine, escalations, 2 * processes * concurrency)
            jira = requests.Session()
            jira.auth = DEMO_LOGINS["dev"].basic_auth("cloud")
            goal = {}
            for ticket, key, _ in escalations:  # the changes, before the clock
                target = "In QA" if where[key] == "In Progress" else "In Progress"
                jira.post(f"{world.jira.url}/rest/api/2/issue/{key}/transitions",
                          json={"transition": {"id": STATES[target][0]}}, timeout=60).raise_for_status()
                where[key] = target
                goal[ticket] = (STATES[target][1], told(world, bridge_id, ticket, STATES[target][1]) + 1)
            with engine.begin() as connection:
                connection.execute(text("UPDATE bridge_rate_limits SET throttled = 0, blocked_until = NULL"))
            time.sleep(2)  # JIRA's search catches up with the transitions (the emulator lags like Cloud)
            cpu0 = [process_cpu_s(p.pid) for p in procs]
            backends0 = backend_cpu_s(engine, schema_of(engine))
            bench0, busy0, load0 = sum(os.times()[:2]), machine_jiffies(), os.getloadavg()[0]
            journal0 = len(world.zendesk.knobs.journal)
            refused0 = getattr(world.zendesk.knobs, "refused", 0)
            start = time.monotonic()
            for _, _, escalation_id in escalations:
                ring_sync(app, escalation_id)
            pending = dict(goal)
            deadline = start + ROW_TIMEOUT_S
            while pending and time.monotonic() < deadline:
                for ticket, (words, count) in list(pending.items()):
                    if told(world, bridge_id, ticket, words) >= count:
                        del pending[ticket]
                time.sleep(0.05)
            elapsed = time.monotonic() - start
            busy1, bench1 = machine_jiffies(), sum(os.times()[:2])
            worker_cpu = sum(process_cpu_s(p.pid) for p in procs) - sum(cpu0)
            backends1 = backend_cpu_s(engine, schema_of(engine))
            postgres_cpu = sum(cpu - backends0.get(pid, 0.0) for pid, cpu in backends1.items())
            load = max(load0, os.getloadavg()[0])
            zendesk_requests = len(world.zendesk.knobs.journal) - journal0
            refused = getattr(world.zendesk.knobs, "refused", 0) - refused0
        if pending:
            with engine.connect() as connection:
                states = connection.execute(text("SELECT queue_name, task_name, status, count(*) "
                                                 "FROM procrastinate_jobs GROUP BY 1, 2, 3")).all()
                outcomes = connection.execute(text("SELECT outcome, count(*) FROM bridge_job_journal "
                                                   "GROUP BY 1")).all()
            print(f"  workers alive: {[p.poll() is None for p in procs]}", flush=True)
            print(f"  {len(pending)} escalation(s) not brought up to date within {ROW_TIMEOUT_S} s; "
                  f"jobs {states}; journal {outcomes}", flush=True)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(60)
    with engine.connect() as connection:
        seen = connection.execute(text("SELECT COALESCE(sum(throttled), 0) FROM bridge_rate_limits")).scalar_one()
    wall_jiffies = elapsed * TICK
    return Row(done=len(escalations) - len(pending), elapsed_s=elapsed, throttled=int(seen), refused=refused,
               zendesk_requests=zendesk_requests, worker_cpu_s=worker_cpu, postgres_cpu_s=postgres_cpu,
               bench_cpu_s=bench1 - bench0, busy_cores=(busy1[0] - busy0[0]) / wall_jiffies, load=load)


def report(label: str, row: Row, base: Row, *, speedup_target: bool, limit: float | None, budget: int | None,
           count: int) -> None:
    """Two lines per row: throughput and 429s beside their targets; where the time and CPU went."""
    speedup = row.rate / base.rate
    target = f"(target >= {TARGET_SPEEDUP:g}x)" if speedup_target else ""
    if budget is None:
        allowed = "target 0: no budget"
    elif limit:
        allowed = "target 0: the limiter lets none through"
    else:
        allowed = "no limiter: what it would save"
    zendesk = ""
    if budget is not None:
        per_escalation = row.zendesk_requests / max(1, row.done)
        zendesk = (f"\n  {'':{len(label)}}  Zendesk {row.zendesk_requests / row.elapsed_s:5.1f} req/s "
                   f"(budget {budget}/s" + (f", limit {limit:g}/s: ceiling {limit / per_escalation:4.2f} "
                                            f"escalations/s" if limit else "") +
                   f"; {per_escalation:.1f} calls per escalation)")
    print(f"  {label}: {row.rate:6.2f} escalations/s  {speedup:4.2f}x over 1 {target:<17}"
          f"429s {row.refused:3d} answered, {row.throttled:3d} seen ({allowed})" + zendesk, flush=True)
    print(f"  {'':{len(label)}}  {row.done}/{count} in {row.elapsed_s:5.2f} s; CPU: workers "
          f"{1000 * row.worker_cpu_s / max(1, row.done):3.0f} ms/escalation "
          f"({row.worker_cpu_s / row.elapsed_s:4.2f} cores), their PostgreSQL backends "
          f"{1000 * row.postgres_cpu_s / max(1, row.done):3.0f} ms/escalation, emulators+bench "
          f"{row.bench_cpu_s / row.elapsed_s:4.2f} cores; machine busy {row.busy_cores:4.2f} of "
          f"{os.cpu_count()} cores, load {row.load:4.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--escalations", type=int, default=80)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--workers", default="1,2,4", help="worker counts (processes, or jobs at a time)")
    parser.add_argument("--series", default="processes,threads,limited,unlimited",
                        help="which series: processes, threads (one process, --concurrency N), limited, "
                             "unlimited (under the budget)")
    parser.add_argument("--zendesk-budget", type=int, default=16, help="Zendesk requests per second before 429")
    parser.add_argument("--zendesk-window-s", type=int, default=10, help="the window Zendesk counts its budget over")
    parser.add_argument("--store-url", default=None, help="PostgreSQL URL (default: the one in /tmp/pgurl)")
    args = parser.parse_args()
    base_url = args.store_url or Path("/tmp/pgurl").read_text().strip()
    counts = [int(n) for n in args.workers.split(",")]
    chosen = [s.strip() for s in args.series.split(",") if s.strip()]
    limit = max(1, args.zendesk_budget - 2)
    series = {
        "processes": ("processes, one job at a time each, no budget", None, ["jira=0", "zendesk=0"], True),
        "threads": ("one process, N jobs at a time (--concurrency N), no budget", None, ["jira=0", "zendesk=0"],
                    False),
        "limited": (f"processes, one job at a time each, Zendesk budget {args.zendesk_budget}/s "
                    f"({args.zendesk_budget * args.zendesk_window_s} per {args.zendesk_window_s} s window), "
                    f"shared limit {limit}/s", args.zendesk_budget, ["jira=0", f"zendesk={limit}"], True),
        "unlimited": (f"processes, one job at a time each, Zendesk budget {args.zendesk_budget}/s, no limit",
                      args.zendesk_budget, ["jira=0", "zendesk=0"], True),
    }
    schema = f"bench_workers_{uuid.uuid4().hex[:8]}"
    admin = make_engine(base_url)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    logs = Path(f"/tmp/{schema}")
    logs.mkdir()
    try:
        url = with_schema(base_url, schema)
        upgrade(url, jobs=True)
        engine = make_engine(url)
        with start_sandbox(0) as world:
            env = {**os.environ, **world.env(), "BRIDGE_STORE_URL": url, "BRIDGE_BRIDGE_ACTOR": ACTOR,
                   "BRIDGE_SERVE_LEASE_SECONDS": "10"}
            escalations = escalate_many(world, env, args.escalations)
            count_refusals(world)
            where = {key: "To Do" for _, key, _ in escalations}
            print(f"{args.escalations} escalations, {args.latency_ms:g} ms per service call, PostgreSQL, "
                  f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f} at start; logs in {logs}", flush=True)
            for name in chosen:
                title, budget, rates, by_process = series[name]
                knobs(world, latency_ms=args.latency_ms, rate_limit=budget * args.zendesk_window_s if budget else None,
                      rate_window_s=args.zendesk_window_s if budget else None)
                print(f"\n{name}: {title}", flush=True)
                base = None
                for n in counts:
                    processes, concurrency = (n, 1) if by_process else (1, n)
                    row = one_row(world, env, engine, escalations, where, processes, concurrency, rates, logs)
                    base = base or row
                    label = f"{n} {'process' if by_process else 'job'}{'es' if by_process and n > 1 else ''}" \
                        f"{'s' if not by_process and n > 1 else ''}"
                    report(f"{label:<11}", row, base, speedup_target=n == 4 and name == "processes",
                           limit=limit if name == "limited" else None, budget=budget, count=len(escalations))
        engine.dispose()
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


if __name__ == "__main__":
    main()
