"""What one `bridge sync` run costs — HTTP requests, wall time, memory — against a naive baseline.

Builds N escalations in the sandbox (default N = 1,000 and 10,000), changes a fraction of their
Bugs (default 1 % and 10 %), and measures, in one invocation, for two engines over the same
kind of change:

* ``bridge sync`` — :class:`bridge.sync.engine.SyncEngine` exactly as the CLI builds it;
* ``naive`` — the same engine with change detection replaced by one ``GET /issue/{id}``
  (comments included) per escalation per run, the baseline issue 5 compares against. The
  writes that follow are the engine's own, so the two differ only in how changes are found.

For each run it prints the HTTP requests per service (JIRA, Zendesk; reads and writes, from
the emulators' own counters), the wall time with 0 and 50 ms of latency added to every
request, and the memory the run took (growth of its resident memory, the kernel's peak;
tracemalloc's peak with ``--tracemalloc``). Then it checks issue 5's targets and prints PASS/FAIL per target.
Where a run's CPU goes: ``--profile`` (cProfile, the calling thread) or ``--profile-threads``
(every thread's CPU by function, bench/thread_cpu.py).

How the world is built (nothing goes through ``bridge escalate``; 10,000 escalations over
HTTP would measure escalate, not sync):

* the emulators run in a process of their own (so the bridge does not share their
  interpreter lock) and are seeded there, directly in their state: per escalation a Zendesk
  ticket opened three days ago carrying the bridge's acknowledgement and key tag, and a JIRA
  Bug labelled ``bridge`` and ``bridge-zendesk-<ticket>``;
* the store gets the rows escalate and a first sync leave (see :func:`seed_store`), and one
  unmeasured ``bridge sync`` sets the cursors;
* every measured run changes its own, fresh Bugs (To Do → In Progress, by a developer, in
  the JIRA state), so each announces to that many customers.

Each measured run is a fresh process, as a cron-started ``bridge sync`` is; the requests a
fresh process pays once (JIRA serverInfo and field list, Zendesk users/me) are shown apart.
The emulators, the store and the runs share one virtual clock that moves 15 minutes before
every run, and before every measurement the cursors are moved to "now" as a quiet run would
leave them (:func:`fast_forward`), so a measured run sees its own changes only. After each
``bridge sync`` run without latency the following run, with nothing new in JIRA, is measured
too ("next run"): it shows what a run's own writes and its lookback cost the next one.

Usage::

    python bench/sync_requests.py                      # N=1,000 and 10,000; 1 % and 10 %; 0 and 50 ms
    python bench/sync_requests.py --quick              # N=1,000, 0 ms only (a smoke run, ~1 min)
    python bench/sync_requests.py --sizes 1000 --changed 0.1 --latency 50
    python bench/sync_requests.py --full               # also measure the naive baseline at 10,000 with latency

The naive baseline with latency at N above ``--measure-naive-up-to`` (default 1,000) is not
run but projected — its 0 ms wall time plus requests × latency, exact for a sequential client
— and marked ``~``; the N = 1,000 rows print measured and projected side by side so the model
can be checked. That keeps the default run under about ten minutes on two cores.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sync_runs import ONCE_PER_PROCESS, Run, measure, project  # bench/sync_runs.py, beside this script
from sync_world import ACTOR, SandboxProcess, seed_store  # bench/sync_world.py

#: Minutes the shared clock moves before every run: more than the engine's ten-minute lookback.
CLOCK_STEP_S = 15 * 60
#: Zendesk: the bulk endpoint and the single-ticket write it replaces.
ZENDESK_BULK = "PUT /api/v2/tickets/update_many.json"
ZENDESK_SINGLE = "PUT /api/v2/tickets/<int:ticket_id>.json"
UPDATE_MANY_LIMIT = 100
#: The vendors' published limits, for the informational rate-limit floor.
ZENDESK_REQUESTS_PER_MIN = 700      # Enterprise plan
ZENDESK_UPDATES_PER_MIN = 100       # "Update Ticket" endpoint, per account
JIRA_GETS_PER_S = 100               # API-token burst limit per endpoint


# ----------------------------------------------------------------------------- reporting --
def print_runs(runs: list[Run], trace: bool) -> None:
    memory = "trace MB" if trace else "RSS Δ MB"
    header = (f"{'N':>7} {'chg':>6} {'engine':<11} {'lat':>4} | {'JIRA r':>6} {'w':>4} | {'ZD r':>6} {'w':>5} "
              f"{'(1/bulk)':>9} | {'Sentry':>6} | {'total':>6} | {'wall s':>8} {'req s':>6} {'ms/req':>6} | {memory:>8} "
              f"{'peak MB':>7} | {'ok':>5} {'fail':>4}")
    print(header)
    print("-" * len(header))
    for r in runs:
        jr, jw = r.jira_rw
        zr, zw = r.zendesk_rw
        single, bulk = r.zendesk.get(ZENDESK_SINGLE, 0), r.zendesk.get(ZENDESK_BULK, 0)
        mem = r.traced_peak_mb if trace else r.rss_delta_mb
        per = 1000 * r.wall_s / r.total if r.total else 0.0
        wall = f"{'~' if r.projected else ''}{r.wall_s:.2f}"
        print(f"{r.size:>7,} {r.changed:>6,} {r.engine:<11} {r.latency_ms:>4g} | {jr:>6,} {jw:>4,} | {zr:>6,} {zw:>5,} "
              f"{f'{single}/{bulk}':>9} | {sum(r.sentry.values()):>6,} | {r.total:>6,} | {wall:>8} "
              f"{r.request_time_s:>6.2f} {per:>6.1f} | "
              f"{(mem if mem is not None else float('nan')):>8.1f} {r.peak_rss_mb:>7.0f} | {r.tickets_written:>5,} {len(r.failures):>4}")
    for r in runs:
        if r.engine == "next run" and not r.projected:
            print(f"next run at N={r.size:,}: the search's lookback listed again {r.unchanged:,} Bug(s) exactly as "
                  f"last seen, left alone; {r.worked:,} escalation(s) worked")


def print_routes(runs: list[Run]) -> None:
    """Requests per route of the `bridge sync` runs at 0 ms, per changed Bug where it scales."""
    chosen = [r for r in runs if r.engine in ("bridge sync", "next run") and r.latency_ms == 0]
    if not chosen:
        return
    print("\nWhere `bridge sync`'s requests go (0 ms runs; columns: N / Bugs changed / run)")
    routes = sorted({(svc, route) for r in chosen
                     for svc, counts in (("JIRA", r.jira), ("ZD", r.zendesk), ("Sentry", r.sentry))
                     for route in counts})
    columns = [f"{r.size // 1000}k/{r.changed}/{'next' if r.engine == 'next run' else 'run'}" for r in chosen]
    print(f"{'route':<58}" + "".join(f"{c:>15}" for c in columns))
    for svc, route in routes:
        cells = []
        for r in chosen:
            n = {"JIRA": r.jira, "ZD": r.zendesk, "Sentry": r.sentry}[svc].get(route, 0)
            cells.append(f"{n:>15,}")
        once = "  (once per process)" if route in ONCE_PER_PROCESS else ""
        print(f"{(svc + ' ' + route + once)[:58]:<58}" + "".join(cells))


def check_targets(runs: list[Run]) -> list[str]:
    """PASS/FAIL lines for issue 5's targets, for every `bridge sync` run (and its next run)."""
    lines = []
    for r in runs:
        if r.engine == "naive":
            continue
        what = f"N={r.size:,} changed={r.changed:,} {r.engine} {r.latency_ms:g} ms"
        if r.latency_ms == 0:
            jira_total = sum(r.jira.values())
            bound = math.ceil(r.changed / 100) + 2
            verdict = "PASS" if jira_total <= bound else "FAIL"
            searches = sum(n for route, n in r.jira.items() if "search" in route)
            lines.append(
                f"[{verdict}] {what}: JIRA requests {jira_total} ≤ ⌈{r.changed}/100⌉ + 2 = {bound}  "
                f"(every run: {jira_total - r.jira_once} incl. {searches} search page(s); "
                f"once per fresh process: {r.jira_once})")
            single, bulk = r.zendesk.get(ZENDESK_SINGLE, 0), r.zendesk.get(ZENDESK_BULK, 0)
            tickets = r.tickets_written
            needed = math.ceil(tickets / UPDATE_MANY_LIMIT)
            batched = single + bulk <= needed
            lines.append(
                f"[{'PASS' if batched else 'FAIL'}] {what}: helpdesk writes batched — {tickets} ticket(s) written "
                f"with {single} PUT /tickets/{{id}} + {bulk} update_many; batched needs ≤ {needed} write request(s)")
            zd_floor = max(sum(r.zendesk.values()) / ZENDESK_REQUESTS_PER_MIN, single / ZENDESK_UPDATES_PER_MIN) * 60
            lines.append(
                f"[info] {what}: Zendesk rate-limit floor {zd_floor:.0f} s "
                f"({sum(r.zendesk.values())} requests at {ZENDESK_REQUESTS_PER_MIN}/min, {single} single-ticket "
                f"updates at {ZENDESK_UPDATES_PER_MIN}/min)")
        else:
            limit = 1.5 * r.request_time_s
            verdict = "PASS" if r.wall_s <= limit else "FAIL"
            lines.append(
                f"[{verdict}] {what}: wall {r.wall_s:.1f} s ≤ 1.5 × {r.total} requests × {r.latency_ms:g} ms "
                f"÷ concurrency {r.concurrency} = {limit:.1f} s")
    return lines


#: Issue 15's "today" figures at 0 ms: (N, changed) -> (requests, wall s, peak RSS MB).
BEFORE = {(10_000, 0): (6, 3.6, 156), (10_000, 1_000): (45, 16.4, 157),
          (100_000, 0): (6, 34.0, 700), (100_000, 10_000): (405, 114.0, 707)}
#: Requests every run may pay beyond the per-hundred ones (connect, versions, export, ...).
FIXED_FEW = 5


def emit(plan: "Plan", run: Run) -> None:
    """With ``--json``: one JSON object for this run on its own line."""
    if plan.json_lines:
        print(json.dumps({"n": run.size, "changed": run.changed, "latency_ms": run.latency_ms, "store": run.store,
                          "engine": run.engine, "jira_requests": sum(run.jira.values()),
                          "helpdesk_requests": sum(run.zendesk.values()),
                          "sentry_requests": sum(run.sentry.values()), "wall_s": round(run.wall_s, 3),
                          "cpu_s": round(run.cpu_s, 3), "concurrency": run.concurrency,
                          "sandbox_cpu_s": _rounded(run.sandbox_cpu_s), "server_cpu_s": _rounded(run.server_cpu_s),
                          "request_time_s": round(run.request_time_s, 3),
                          "services_floor_s": _rounded(services_floor_s(run)),
                          "worked": run.worked, "unchanged": run.unchanged,
                          "peak_rss_mb": round(run.peak_rss_mb, 1), "failures": len(run.failures)}), flush=True)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def cpu_shares(run: Run) -> str:
    """Where a run's seconds went: the sync process's CPU, the emulators', the server's."""
    parts = [f"the sync process's own CPU {run.cpu_s:.1f} s"]
    if run.sandbox_cpu_s is not None:
        parts.append(f"the emulators' {run.sandbox_cpu_s:.1f} s")
    if run.server_cpu_s is not None:
        parts.append(f"PostgreSQL's {run.server_cpu_s:.1f} s")
    floor = services_floor_s(run)
    if floor is not None:
        parts.append(f"on {os.cpu_count()} CPUs the services' CPU alone takes ≥ {floor:.2f} s")
    return "; ".join(parts)


def services_floor_s(run: Run) -> float | None:
    """The least wall time the services' own CPU (emulators, PostgreSQL) needs on this
    machine's cores, before the sync does anything: a wall-time target below it cannot be
    met here, whatever the bridge does (real services run on their own machines)."""
    if run.sandbox_cpu_s is None:
        return None
    return (run.sandbox_cpu_s + (run.server_cpu_s or 0.0)) / (os.cpu_count() or 1)


def scale_targets(runs: list[Run]) -> list[str]:
    """PASS/FAIL per issue 15 target, with the figure before beside each."""
    lines = []
    peak_at = {r.size: max(x.peak_rss_mb for x in runs if x.size == r.size and x.engine != "naive") for r in runs}
    for r in runs:
        what = f"N={r.size:,} changed={r.changed:,} {r.engine} {r.latency_ms:g} ms [{r.store}]"
        before = BEFORE.get((r.size, r.changed))
        was = (f" (before: {before[0]} requests, {before[1]} s, {before[2]} MB)" if before and not r.latency_ms else "")
        if r.engine == "quiet":
            ok = r.total <= 3 and r.wall_s <= 1.0
            lines.append(f"[{'PASS' if ok else 'FAIL'}] {what}: {r.total} requests ≤ 3 and {r.wall_s:.2f} s ≤ 1 s{was}")
        elif r.engine == "bridge sync" and r.latency_ms == 0:
            rounds = math.ceil(r.changed / 100)
            bound = 1.05 * 3 * rounds + FIXED_FEW
            lines.append(f"[{'PASS' if r.total <= bound else 'FAIL'}] {what}: {r.total} requests ≤ 1.05 × 3 × "
                         f"{rounds} + {FIXED_FEW} = {bound:.0f}{was}")
            if before:
                lines.append(f"[{'PASS' if r.wall_s * 5 <= before[1] else 'FAIL'}] {what}: {r.wall_s:.1f} s ≤ "
                             f"{before[1]} s ÷ 5 = {before[1] / 5:.1f} s")
        elif r.engine == "bridge sync":
            limit = 1.5 * r.request_time_s
            lines.append(f"[{'PASS' if r.wall_s <= limit else 'FAIL'}] {what}: wall {r.wall_s:.2f} s ≤ 1.5 × "
                         f"{r.total} requests × {r.latency_ms:g} ms ÷ concurrency {r.concurrency} = {limit:.2f} s "
                         f"(in this run: {cpu_shares(r)})")
        if r.engine in ("quiet", "bridge sync"):
            # Flat in the number of escalations: within 20% of the largest figure at 10,000.
            flat = peak_at[10_000] * 1.2 if 10_000 in peak_at and r.size > 10_000 else None
            ok = r.peak_rss_mb <= 150 and (flat is None or r.peak_rss_mb <= flat)
            line = f"[{'PASS' if ok else 'FAIL'}] {what}: peak RSS {r.peak_rss_mb:.1f} MB ≤ 150 MB"
            if flat is not None:
                line += f" and ≤ 1.2 × {peak_at[10_000]:.1f} = {flat:.1f} MB (10,000's)"
            lines.append(line + (f" (before: {before[2]} MB)" if before else ""))
    return lines


# ----------------------------------------------------------------------------------- main --
@dataclass
class Plan:
    sizes: list[int]
    fractions: list[float]
    latencies: list[float]
    naive_latency_up_to: int
    trace: bool
    #: None, ``calls`` (--profile) or ``threads`` (--profile-threads).
    profile: str | None
    store_url: str | None = None
    json_lines: bool = False
    engines: tuple[str, ...] = ("bridge sync", "naive")


def bugs_needed(size: int, plan: Plan) -> int:
    """How many Bugs the measured runs at ``size`` move (projected runs move none)."""
    total = 0
    for latency in plan.latencies:
        for fraction in plan.fractions:
            changed = max(1, round(size * fraction))
            naive_runs = "naive" in plan.engines and not (
                latency and size > plan.naive_latency_up_to and 0 in plan.latencies)
            total += changed * (("bridge sync" in plan.engines) + naive_runs)
    return total


def fast_forward(sandbox: SandboxProcess, env: dict[str, str]) -> None:
    """Move the clock on and the cursors to "now", as a quiet run would leave them.

    Between measurements the bench does not pay for a whole sync (a minute of store work at
    10,000 escalations): the Zendesk export position is read through the bridge's own
    connector and stored, and the JIRA high-water mark is set to the shared clock's now. So
    the next measured run sees its own changes only — not the previous run's writes coming
    back through the export, nor its Bugs through the ten-minute lookback. The cost of those
    is what the "next run" rows show.
    """
    from bridge.config import load_config
    from bridge.services import Services
    from bridge.sync.engine import CURSOR_HELPDESK, CURSOR_SINCE

    sandbox.advance(CLOCK_STEP_S)  # past the export's quiet minute and the lookback
    services = Services(load_config(None, env=env))
    store = services.store
    _, position = services.helpdesk.changed_ticket_ids(store.cursors.get(CURSOR_HELPDESK) or "0")
    if position is not None:
        store.cursors.set(CURSOR_HELPDESK, position)
    virtual_now = datetime.now(timezone.utc) + timedelta(seconds=sandbox.offset_s)
    store.cursors.set(CURSOR_SINCE, str(int(virtual_now.timestamp() * 1000)))
    store.close()


def fresh_store_url(base: str | None, workdir: str, size: int) -> tuple[str, Any]:
    """A new, empty store for one size: a SQLite file in ``workdir``, or a schema of its own
    on the PostgreSQL server ``base`` names (first on the search_path; dropped by the
    returned callable)."""
    if not base or base.startswith("sqlite"):
        return base or f"sqlite:///{workdir}/bridge-{size}.db", lambda: None
    from sqlalchemy.engine import make_url

    from bridge.store.db import make_engine

    schema = f"bench_{os.getpid()}_{size}"
    admin = make_engine(base)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = make_url(base)
    url = url.update_query_dict({"options": f"{url.query.get('options', '')} -csearch_path={schema}".strip()})

    def drop() -> None:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()

    rendered = url.render_as_string(hide_password=False)
    from bridge.store.db import upgrade

    upgrade(rendered)  # a shared server's store is migrated by its operator, not on opening
    return rendered, drop


def run_size(sandbox: SandboxProcess, size: int, plan: Plan, workdir: str) -> list[Run]:
    """Seed ``size`` escalations, take the first sync, then every measured run at this size."""
    url, drop = fresh_store_url(plan.store_url, workdir, size)
    try:
        return _run_size(sandbox, size, plan, url)
    finally:
        drop()


def _run_size(sandbox: SandboxProcess, size: int, plan: Plan, store_url: str) -> list[Run]:
    from bridge.config import load_config
    from bridge.services import Services
    from bridge.sync.engine import CURSOR_SINCE

    env = {**sandbox.env, "BRIDGE_STORE_URL": store_url,
           "BRIDGE_BRIDGE_ACTOR": ACTOR, "PATH": os.environ.get("PATH", "")}
    began = time.perf_counter()
    seeded = sandbox.seed(size)
    seeded_world = time.perf_counter()
    services = Services(load_config(None, env=env))
    store = services.store
    virtual_now = datetime.now(timezone.utc) + timedelta(seconds=sandbox.offset_s)
    seed_store(store, seeded, virtual_now, engine=services.sync_engine(clock=lambda: virtual_now))
    # As if a full sync had run just after the Bugs were filed: the first sync below then sets
    # the other cursors (released versions, Zendesk's export position) without walking N
    # unchanged Bugs through every per-escalation step.
    store.cursors.set(CURSOR_SINCE, str(int(virtual_now.timestamp() * 1000) + 1000))
    store.close()
    seeded_store = time.perf_counter()
    sandbox.advance(CLOCK_STEP_S)
    first = measure(sandbox, env, size=size, changed=0, engine="first sync", latency_ms=0)
    print(f"N={size:,}: emulators seeded in {seeded_world - began:.1f} s, store in "
          f"{seeded_store - seeded_world:.1f} s, first sync {first.wall_s:.1f} s "
          f"({first.total:,} requests, {len(first.failures)} failures)", flush=True)

    fresh = iter(seeded)  # every measured run moves Bugs no earlier run moved
    runs: list[Run] = []
    # The quiet run: nothing changed anywhere since the last pass (what cron pays most often).
    fast_forward(sandbox, env)
    quiet = measure(sandbox, env, size=size, changed=0, engine="quiet", latency_ms=0)
    runs.append(quiet)
    emit(plan, quiet)
    print(f"  N={size:,} quiet run: {quiet.total:,} requests, {quiet.wall_s:.2f} s, peak RSS {quiet.peak_rss_mb:.0f} MB",
          flush=True)
    naive_at_0: dict[int, Run] = {}
    for latency in plan.latencies:
        for fraction in plan.fractions:
            changed = max(1, round(size * fraction))
            for engine in plan.engines:
                if engine == "naive" and latency and size > plan.naive_latency_up_to and changed in naive_at_0:
                    runs.append(project(naive_at_0[changed], latency))
                    continue
                fast_forward(sandbox, env)
                sandbox.change([next(fresh).issue_id for _ in range(changed)])
                run = measure(sandbox, env, size=size, changed=changed, engine=engine, latency_ms=latency,
                              trace=plan.trace, profile=plan.profile if engine == "bridge sync" else None)
                runs.append(run)
                emit(plan, run)
                print(f"  N={size:,} changed={changed:,} {engine} {latency:g} ms: {run.total:,} requests, "
                      f"{run.wall_s:.2f} s", flush=True)
                if engine == "naive" and not latency:
                    naive_at_0[changed] = run
                elif engine == "naive" and changed in naive_at_0:
                    runs.append(project(naive_at_0[changed], latency))  # to check the projection
                if engine == "bridge sync" and not latency:
                    # The run after, with nothing new in JIRA: the tickets just written come
                    # back through Zendesk's export.
                    sandbox.advance(CLOCK_STEP_S)
                    runs.append(measure(sandbox, env, size=size, changed=0, engine="next run", latency_ms=0,
                                        profile=plan.profile))
                    emit(plan, runs[-1])
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000", help="escalation counts (default 1000,10000)")
    parser.add_argument("--changed", default="0.01,0.1", help="fractions of the Bugs changed per run")
    parser.add_argument("--latency", default="0,50", help="added latency per request, ms")
    parser.add_argument("--quick", action="store_true", help="N=1000 and 0 ms only (smoke run)")
    parser.add_argument("--full", action="store_true", help="measure the naive baseline with latency at every N")
    parser.add_argument("--measure-naive-up-to", type=int, default=1000,
                        help="largest N at which the naive baseline runs with latency (above: projected)")
    parser.add_argument("--tracemalloc", action="store_true",
                        help="report tracemalloc's peak instead of RSS growth (slows the runs down)")
    parser.add_argument("--engines", default="bridge,naive",
                        help="which runs to measure: bridge (`bridge sync`), naive, or both (default)")
    parser.add_argument("--store-url", default=None,
                        help="the store: sqlite (a file per size, the default) or a PostgreSQL URL "
                             "(a schema per size is created and dropped), e.g. $(cat /tmp/pgurl)")
    parser.add_argument("--json", action="store_true",
                        help="also print one JSON object per measured run on its own line")
    parser.add_argument("--profile", action="store_true",
                        help="profile the `bridge sync` runs and print where their time goes (slows them down; "
                             "BRIDGE_BENCH_PROFILE_LINES sets how many functions are listed, default 22)")
    parser.add_argument("--profile-threads", action="store_true",
                        help="print the `bridge sync` runs' CPU by function, every thread (bench/thread_cpu.py): "
                             "where the pass's CPU goes, which --profile (the calling thread only) cannot show")
    args = parser.parse_args(argv)
    engine_names = {"bridge": "bridge sync", "naive": "naive"}
    unknown = {e.strip() for e in args.engines.split(",")} - set(engine_names)
    if unknown:
        parser.error(f"--engines: unknown {', '.join(sorted(unknown))} (bridge, naive)")
    sizes = [int(s) for s in args.sizes.split(",")]
    latencies = [float(s) for s in args.latency.split(",")]
    if args.quick:
        sizes, latencies = [1000], [0.0]
    plan = Plan(sizes=sizes, fractions=[float(f) for f in args.changed.split(",")], latencies=latencies,
                naive_latency_up_to=max(sizes) if args.full else args.measure_naive_up_to, trace=args.tracemalloc,
                profile="calls" if args.profile else "threads" if args.profile_threads else None,
                store_url=args.store_url, json_lines=args.json,
                engines=tuple(engine_names[e.strip()] for e in args.engines.split(",")))
    for size in sizes:
        if bugs_needed(size, plan) > size:
            # Each measured run moves fresh Bugs; more than N of them cannot be found.
            parser.error(f"at N={size} the runs would change {bugs_needed(size, plan)} Bugs: "
                         "use fewer fractions or latencies")

    started = time.perf_counter()
    workdir = tempfile.mkdtemp(prefix="bridge-bench-")
    sandbox = SandboxProcess()
    runs: list[Run] = []
    try:
        for size in sizes:
            runs.extend(run_size(sandbox, size, plan, workdir))
            # A fresh world per size: reseeding on top would mix the two sizes' Bugs.
            sandbox.stop()
            if size != sizes[-1]:
                sandbox = SandboxProcess()
    except BaseException:
        sandbox.stop()
        raise
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"\n`bridge sync` vs the naive baseline (one GET per escalation), {os.cpu_count()} CPUs, "
          f"{time.perf_counter() - started:.0f} s in all")
    print("r/w = reads/writes; ZD (1/bulk) = PUT /tickets/{id} / update_many; ms/req = wall ÷ requests; "
          "~ = projected, not run; ok = tickets written\n")
    print_runs(runs, plan.trace)
    for run in runs:
        for target, reason in run.failures[:3]:
            print(f"  failed in N={run.size:,} changed={run.changed:,} {run.engine}: {target}: {reason}")
    print_routes(runs)
    print("\nTargets (issue 5). Concurrency: each run's [http] concurrency (requests of one round in flight "
          "per service); req s = requests × latency ÷ concurrency, the floor wall time approaches.")
    print(f"(What the rate limits would allow at 50 ms: JIRA ~{JIRA_GETS_PER_S} GET/s per endpoint, "
          f"{JIRA_GETS_PER_S * 0.05:g} in flight; Zendesk {ZENDESK_REQUESTS_PER_MIN}/min, "
          f"{ZENDESK_REQUESTS_PER_MIN / 60 * 0.05:.2f} in flight — one at a time already exceeds it.)")
    for line in check_targets(runs):
        print(line)
    print("\nTargets (issue 15), each beside the figure before (issue 15's table, SQLite):")
    for line in scale_targets(runs):
        print(line)
    for run in runs:
        if run.profile:
            print(f"\nProfile: N={run.size:,} changed={run.changed:,} {run.engine} {run.latency_ms:g} ms")
            print(run.profile.strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
