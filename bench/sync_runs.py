"""One measured `bridge sync` run for `bench/sync_requests.py`: a fresh process (as cron
starts one) that builds the engine as the CLI does and runs it once on the shared clock,
and the :class:`Run` it reports (requests per service from the emulators' counters, wall
time, CPU of the run, the emulators and PostgreSQL, memory).

:func:`naive_engine_class` is the baseline issue 5 compares against: the same engine with
change detection replaced by one ``GET /issue/{id}`` (comments included) per escalation.
"""

from __future__ import annotations

import cProfile
import gc
import io
import json
import multiprocessing
import os
import pstats
import time
import traceback
import tracemalloc
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from process_cpu import postgres_cpu_s  # bench/process_cpu.py, beside this script
from process_memory import RunPeak  # bench/process_memory.py
from sync_world import SandboxProcess  # bench/sync_world.py
from thread_cpu import ThreadCpu  # bench/thread_cpu.py

#: Requests in flight for a run that does not say (the naive baseline's reads, one at a time).
CONCURRENCY = 1

#: Routes a fresh process pays once: the `jira` library reads serverInfo to connect and the
#: field list on its first search; the engine asks Zendesk who it is on its first ticket; the
#: outbound gate learns the Sentry organization's project slugs.
ONCE_PER_PROCESS = ("GET /rest/api/<api>/serverInfo", "GET /rest/api/<api>/field", "GET /api/v2/users/me.json",
                    "GET /api/0/organizations/<org>/projects/")

#: Routes that read although they are not GETs (JIRA's search accepts a POST body).
READ_ROUTES = ("/search",)


def store_kind(url: str) -> str:
    """``sqlite`` or ``postgresql``: the store a run used, as the JSON lines name it."""
    return "postgresql" if url.startswith("postgresql") else "sqlite"


# ------------------------------------------------------------------------- the baseline --
def naive_engine_class():
    """:class:`SyncEngine` finding changes the naive way (built lazily: imports are the child's)."""
    from bridge.connectors.jira import ISSUE_FIELDS
    from bridge.connectors.jira_search import search_comments
    from bridge.sync.engine import CURSOR_RELEASED, SyncEngine

    class NaiveSync(SyncEngine):
        """One ``GET /issue/{id}?fields=…,comment`` per escalation per run; an issue whose
        ``updated`` moved since the store last saw it is handed to the engine's own planning
        and writing, so the baseline differs from `bridge sync` only in change detection.

        It reaches into the tracker's library client (``_jira``, ``_call``, ``_to_issue``)
        because the connector has, by design, no call that reads one issue with comments.
        """

        def _changed_issues(self, scope: dict | None, *_args, **_kwargs) -> list:
            # The engine's other arguments (the Bugs to retry, ...) are covered: every Bug is read.
            tracker = self.tracker
            fields = ISSUE_FIELDS + ",comment"
            self._released = json.loads(self.store.cursors.get(CURSOR_RELEASED) or "[]")
            escalations = scope if scope is not None else {
                e.jira_issue_id: e for e in self.store.escalations.list(states=["complete"]) if e.jira_issue_id}
            changed = []  # (issue, comments), as the engine's own search hands them over
            for issue_id, escalation in escalations.items():
                raw = tracker._call(f"reading {issue_id}",
                                    lambda issue_id=issue_id: tracker._jira.issue(issue_id, fields=fields))
                issue = tracker._to_issue(raw)
                seen = escalation.last_jira_updated
                if seen is not None and seen.tzinfo is None:
                    seen = seen.replace(tzinfo=timezone.utc)  # SQLite hands datetimes back naive
                if seen is None or issue.updated is None or issue.updated > seen:
                    changed.append((issue, search_comments(raw)))
            return changed

    return NaiveSync


# -------------------------------------------------------------------------------- one run --
def _run_child(conn, env: dict[str, str], engine_name: str, offset_s: float, trace: bool, profile: str | None) -> None:
    """One sync run in a fresh process; sends back wall time, memory and what the run did
    (or the traceback, so the parent reports a crashed run instead of waiting for it)."""
    try:
        conn.send(_sync_once(env, engine_name, offset_s, trace, profile))
    except BaseException:
        conn.send({"error": traceback.format_exc()})


def _sync_once(env: dict[str, str], engine_name: str, offset_s: float, trace: bool, profile: str | None) -> dict:
    """Build the engine as the CLI does, run it once on the shared clock, measure the run
    (``profile``: ``calls`` for cProfile of the calling thread, ``threads`` for thread CPU by
    function, see bench/thread_cpu.py)."""
    from bridge.config import load_config
    from bridge.services import Services

    def clock() -> datetime:
        return datetime.now(timezone.utc) + timedelta(seconds=offset_s)

    services = Services(load_config(None, env=env))
    engine = services.sync_engine(clock=clock)
    if engine_name == "naive":
        # Built exactly as the CLI builds `bridge sync` (whatever collaborators that takes),
        # then given the naive change detection: the two runs differ in nothing else.
        engine.__class__ = naive_engine_class()
    # Everything but the run is built now (connecting to JIRA is a request, so it stays in
    # the run): the numbers are the run's, not the interpreter's start-up.
    services.store.cursors.get("sync:jira:since")
    gc.collect()
    sampler = RunPeak().start()
    if trace:
        tracemalloc.start()
    profiler = cProfile.Profile() if profile == "calls" else None
    threads = ThreadCpu().install() if profile == "threads" else None
    cpu_before = time.process_time()  # this process's CPU, every thread: the pass's own work
    started = time.perf_counter()
    if profiler is not None:
        report = profiler.runcall(engine.run)
    else:
        try:
            report = engine.run()
        finally:
            if threads is not None:
                threads.uninstall()
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_before
    traced = tracemalloc.get_traced_memory()[1] if trace else None
    if trace:
        tracemalloc.stop()
    rss_growth = sampler.stop()
    done: dict[str, int] = {}
    for outcome in report.outcomes:
        name = f"{outcome.action.kind}:{outcome.result}"  # the report keeps summaries of actions
        done[name] = done.get(name, 0) + 1
    # The process's peak resident memory (imports included): what the machine must give a
    # cron-started `bridge sync`, the figure issue 15's memory target is about.
    peak = sampler.process_peak_mb()
    return {
        "wall_s": wall, "cpu_s": cpu, "rss_delta_mb": rss_growth, "peak_rss_mb": peak,
        "traced_peak_mb": traced / 2**20 if traced is not None else None,
        "examined": report.examined, "unchanged": report.unchanged, "outcomes": done, "failures": [list(f) for f in report.failures],
        "exit_code": report.exit_code, "skipped": report.skipped,
        "profile": (_profile_text(profiler) if profiler is not None
                    else threads.table() if threads is not None else None),
        "concurrency": services.config.http.concurrency,
    }


def _profile_text(profiler: cProfile.Profile, limit: int = 22) -> str:
    """The bridge's own functions by cumulative time: where a run spends its wall time
    (``BRIDGE_BENCH_PROFILE_LINES`` lines of it; ``BRIDGE_BENCH_PROFILE_DUMP`` also writes
    the whole profile to that path, suffixed with the run's process id)."""
    limit = int(os.environ.get("BRIDGE_BENCH_PROFILE_LINES") or limit)
    dump = os.environ.get("BRIDGE_BENCH_PROFILE_DUMP")
    if dump:  # the whole profile, for pstats or snakeviz: one file per run, numbered
        profiler.dump_stats(f"{dump}.{os.getpid()}")
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(r"/bridge/(sync|store|connectors|policy)/|sla_report", limit)
    return out.getvalue()


@dataclass
class Run:
    """One measured run and what the emulators counted."""

    size: int
    changed: int  # Bugs changed since the previous run
    engine: str   # "bridge sync", "naive", "next run"
    latency_ms: float
    jira: dict[str, int] = field(default_factory=dict)
    zendesk: dict[str, int] = field(default_factory=dict)
    sentry: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0
    #: CPU seconds of the sync process during the run (all its threads; not the emulators').
    cpu_s: float = 0.0
    rss_delta_mb: float = 0.0
    peak_rss_mb: float = 0.0
    store: str = "sqlite"
    traced_peak_mb: float | None = None
    outcomes: dict[str, int] = field(default_factory=dict)
    failures: list = field(default_factory=list)
    projected: bool = False
    profile: str | None = None
    #: Requests of one round the run had in flight together per service ([http] concurrency).
    concurrency: int = CONCURRENCY
    #: CPU seconds of the emulators' process during the run (serving its requests).
    sandbox_cpu_s: float | None = None
    #: CPU seconds of the PostgreSQL server during the run (None on SQLite, in process).
    server_cpu_s: float | None = None
    #: Escalations the run worked, and Bugs its search listed again exactly as last seen
    #: (the lookback), which it left alone (SyncReport.examined and .unchanged).
    worked: int = 0
    unchanged: int = 0

    @property
    def request_time_s(self) -> float:
        """What the requests alone need at this latency and concurrency: requests x latency
        / concurrency (the floor wall time approaches)."""
        return self.total * self.latency_ms / 1000 / max(1, self.concurrency)

    @staticmethod
    def _split(routes: dict[str, int]) -> tuple[int, int]:
        reads = sum(n for r, n in routes.items() if r.startswith("GET ") or any(p in r for p in READ_ROUTES))
        return reads, sum(routes.values()) - reads

    @property
    def jira_rw(self) -> tuple[int, int]:
        return self._split(self.jira)

    @property
    def zendesk_rw(self) -> tuple[int, int]:
        return self._split(self.zendesk)

    @property
    def total(self) -> int:
        return sum(self.jira.values()) + sum(self.zendesk.values()) + sum(self.sentry.values())

    @property
    def jira_once(self) -> int:
        return sum(n for r, n in self.jira.items() if r in ONCE_PER_PROCESS)

    @property
    def tickets_written(self) -> int:
        return sum(n for k, n in self.outcomes.items() if k.endswith(":done") and not k.startswith("CommentOnBug"))


def measure(sandbox: SandboxProcess, env: dict[str, str], *, size: int, changed: int, engine: str,
            latency_ms: float, trace: bool = False, profile: str | None = None) -> Run:
    """Reset the counters, run one sync in a fresh process, read the counters."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    sandbox.set_latency(latency_ms)
    sandbox.reset_counters()
    postgres = store_kind(env["BRIDGE_STORE_URL"]) == "postgresql"
    cpu_before = (sandbox.cpu_s(), postgres_cpu_s() if postgres else None)
    child = context.Process(target=_run_child, args=(theirs, env, "naive" if engine == "naive" else "bridge",
                                                     sandbox.offset_s, trace, profile))
    child.start()
    try:
        while not ours.poll(1.0):
            if not child.is_alive():
                raise RuntimeError(f"the {engine} run died (exit code {child.exitcode}) without a report")
        result = ours.recv()
        server = postgres_cpu_s() if cpu_before[1] is not None else None
        # Read after the run's report: the emulators may still be finishing what it started
        # (a webhook delivery), which is time the run did not wait for, a few ms at most.
        result["sandbox_cpu_s"] = sandbox.cpu_s() - cpu_before[0]
        result["server_cpu_s"] = server - cpu_before[1] if server is not None else None
    finally:
        child.join(timeout=60)
        sandbox.set_latency(0)
    if "error" in result:
        raise RuntimeError(f"the {engine} run failed:\n{result['error']}")
    if result["skipped"]:
        raise RuntimeError(f"the run was skipped: {result['skipped']}")
    return Run(size=size, changed=changed, engine=engine, latency_ms=latency_ms,
               jira=sandbox.counts("jira"), zendesk=sandbox.counts("zendesk"), sentry=sandbox.counts("sentry"),
               wall_s=result["wall_s"], cpu_s=result["cpu_s"],
               rss_delta_mb=result["rss_delta_mb"], peak_rss_mb=result["peak_rss_mb"],
               store=store_kind(env["BRIDGE_STORE_URL"]), traced_peak_mb=result["traced_peak_mb"],
               outcomes=result["outcomes"], failures=result["failures"], profile=result["profile"],
               concurrency=result["concurrency"], sandbox_cpu_s=result["sandbox_cpu_s"],
               server_cpu_s=result["server_cpu_s"], worked=result["examined"], unchanged=result["unchanged"])


def project(run: Run, latency_ms: float) -> Run:
    """A sequential client's run with ``latency_ms`` more per request: wall + requests × latency."""
    return Run(size=run.size, changed=run.changed, engine=run.engine, latency_ms=latency_ms, jira=run.jira,
               zendesk=run.zendesk, sentry=run.sentry, wall_s=run.wall_s + run.total * latency_ms / 1000,
               cpu_s=run.cpu_s, rss_delta_mb=run.rss_delta_mb, peak_rss_mb=run.peak_rss_mb, store=run.store,
               traced_peak_mb=run.traced_peak_mb, outcomes=run.outcomes,
               failures=run.failures, projected=True)
