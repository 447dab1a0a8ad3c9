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
request, and the memory the run took (growth of its resident memory, sampled; tracemalloc's
peak with ``--tracemalloc``). Then it checks issue 5's targets and prints PASS/FAIL per target.

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
import cProfile
import gc
import io
import json
import math
import multiprocessing
import os
import pstats
import shutil
import sys
import tempfile
import time
import traceback
import tracemalloc
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import requests
from process_cpu import own_cpu_s, postgres_cpu_s  # bench/process_cpu.py, beside this script
from process_memory import RunPeak  # bench/process_memory.py

#: Minutes the shared clock moves before every run: more than the engine's ten-minute lookback.
CLOCK_STEP_S = 15 * 60
#: The developer who moves the Bugs (a user in another time zone than the bridge's).
DEVELOPER = "dev"
#: JIRA's "In Progress" transition in the emulator's workflow (from To Do).
START_PROGRESS = "21"
#: The emulated services whose requests are counted.
SERVICES = ("jira", "zendesk", "sentry")
#: Requests in flight for a run that does not say (the naive baseline's reads, one at a time).
CONCURRENCY = 1
#: Routes a fresh process pays once: the `jira` library reads serverInfo to connect and the
#: field list on its first search; the engine asks Zendesk who it is on its first ticket; the
#: outbound gate learns the Sentry organization's project slugs.
ONCE_PER_PROCESS = ("GET /rest/api/<api>/serverInfo", "GET /rest/api/<api>/field", "GET /api/v2/users/me.json",
                    "GET /api/0/organizations/<org>/projects/")
#: Routes that read although they are not GETs (JIRA's search accepts a POST body).
READ_ROUTES = ("/search",)
#: Zendesk: the bulk endpoint and the single-ticket write it replaces.
ZENDESK_BULK = "PUT /api/v2/tickets/update_many.json"
ZENDESK_SINGLE = "PUT /api/v2/tickets/<int:ticket_id>.json"
UPDATE_MANY_LIMIT = 100
#: Vendor limits (VENDOR-FACTS.md) used for the informational rate-limit floor.
ZENDESK_REQUESTS_PER_MIN = 700      # Enterprise plan
ZENDESK_UPDATES_PER_MIN = 100       # "Update Ticket" endpoint, per account
JIRA_GETS_PER_S = 100               # API-token burst limit per endpoint
ACTOR = "erin@example.com"


# --------------------------------------------------------------------------- the sandbox --
@dataclass
class Seeded:
    """One escalation as the emulators hold it (sent from the sandbox process)."""

    ticket_id: str
    locale: str
    issue_id: str
    key: str
    url: str
    updated: str  # ISO 8601
    #: The ticket's version (``updated_at``) and newest comment as escalate leaves them
    #: recorded: the export then lists the ticket at a version the bridge knows.
    version: str | None = None
    last_comment_id: str | None = None
    #: The ticket at that version as escalate records it (bridge.ticket_views).
    view: str | None = None


def seed_escalations(world, count: int) -> list[Seeded]:
    """Create ``count`` escalated tickets and their Bugs directly in the emulators' state.

    Each ticket looks as escalate left it three days ago: the customer's report, the bridge's
    public acknowledgement and the key tag. Its ``updated_at`` is moved back to then, so the
    first sync's incremental export (which looks one day back) does not read 10,000 tickets
    that nothing changed.
    """
    from bridge.models import Ticket
    from bridge.ticket_views import view_of

    jira, zendesk = world.jira_state, world.zendesk_state
    bridge_jira = jira.user_by(name="bridge")
    bridge_zendesk = zendesk.user_by_email("bridge@example.com")
    customers = [zendesk.add_user(f"Bench Customer {i}", f"customer{i}@bench.example",
                                  locale="de" if i % 4 == 3 else "en-US") for i in range(8)]
    opened = zendesk.now() - timedelta(days=3)
    seeded = []
    for n in range(count):
        customer = customers[n % len(customers)]
        ticket, _ = zendesk.create_ticket({
            "subject": f"Benchmark {n}: export fails on device {n % 97}", "requester_id": customer["id"],
            "comment": {"body": f"Exporting report {n} crashes the app every time.", "public": True},
        }, customer["id"], at=opened, channel="email")
        record = jira.create_issue({"fields": {
            "project": {"key": "SUP"}, "issuetype": {"name": "Bug"}, "priority": {"name": "Medium"},
            "summary": f"Benchmark {n}: export fails on device {n % 97}",
            "labels": [f"bridge-zendesk-{ticket['id']}", "bridge"],
        }}, bridge_jira, adf=False)
        zendesk.update_ticket(ticket["id"], {
            "comment": {"body": f"Thank you — engineering tracks this as {record.key}.", "public": True},
            "additional_tags": [f"jira_{record.key.lower()}"], "status": "open",
        }, bridge_zendesk["id"])
        zendesk.set_updated(ticket["id"], opened + timedelta(hours=1))
        raw = zendesk.ticket(ticket["id"])
        seeded.append(Seeded(str(ticket["id"]), customer["locale"], str(record.id), record.key,
                             f"{world.jira.url}/browse/{record.key}", record.updated.isoformat(),
                             raw["updated_at"], str(zendesk.comments(ticket["id"])[-1]["id"]),
                             view_of(Ticket(id=str(raw["id"]), helpdesk="zendesk", subject=raw["subject"],
                                            description="", status=raw["status"], priority=None, requester=None,
                                            requester_email=None, organization=None, tags=tuple(raw["tags"]),
                                            version=raw["updated_at"]))))
    return seeded


def _serve(conn) -> None:
    """The sandbox process: start, report the settings, then obey commands from the pipe.

    Commands: ("seed", n) → list of Seeded as dicts; ("change", [issue ids]) → how many
    Bugs moved; ("advance", seconds) → the shared clock's offset; ("cpu", None) → the
    process's CPU seconds so far; ("stop", None).
    """
    from bridge.sandbox.world import start_sandbox

    offset = [0.0]

    def clock() -> datetime:
        return datetime.now(timezone.utc) + timedelta(seconds=offset[0])

    world = start_sandbox(0)
    world.jira_state.clock = clock
    world.zendesk_state.clock = clock
    conn.send(world.env())
    developer = world.jira_state.user_by(name=DEVELOPER)
    while True:
        command, argument = conn.recv()
        if command == "seed":
            conn.send([asdict(s) for s in seed_escalations(world, argument)])
            # The seeded records live as long as the process: keep the garbage collector
            # from walking them again on every full collection (emulator time, not the
            # bridge's, would count in the sync's wall time).
            gc.collect()
            gc.freeze()
        elif command == "change":
            state = world.jira_state
            with state.lock:
                for issue_id in argument:
                    record = state.issue_record(issue_id)
                    assert record is not None and developer is not None
                    state.transition(record, {"transition": {"id": START_PROGRESS}}, developer, adf=False)
            conn.send(len(argument))
        elif command == "advance":
            offset[0] += argument
            conn.send(offset[0])
        elif command == "cpu":
            conn.send(own_cpu_s())
        else:
            world.stop()
            conn.send("stopped")
            return


class SandboxProcess:
    """The emulators in their own process, driven through a pipe and their admin API."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, theirs = context.Pipe()
        self._process = context.Process(target=_serve, args=(theirs,), daemon=True)
        self._process.start()
        self.env: dict[str, str] = self._answer()
        self.offset_s = 0.0

    def _ask(self, command: str, argument: Any = None) -> Any:
        self._conn.send((command, argument))
        return self._answer()

    def _answer(self) -> Any:
        """The emulators' next answer; an emulator process that died (its traceback is on
        stderr) ends the benchmark instead of leaving it waiting for ever."""
        while not self._conn.poll(1.0):
            if not self._process.is_alive():
                raise SystemExit(f"the emulators' process exited (code {self._process.exitcode}); "
                                 "its error is printed above")
        return self._conn.recv()

    def seed(self, count: int) -> list[Seeded]:
        return [Seeded(**s) for s in self._ask("seed", count)]

    def change(self, issue_ids: list[str]) -> int:
        return self._ask("change", issue_ids)

    def advance(self, seconds: float) -> None:
        self.offset_s = self._ask("advance", seconds)

    def cpu_s(self) -> float:
        """The emulators' process's CPU seconds so far (every thread)."""
        return self._ask("cpu")

    def _admin(self, service: str) -> str:
        variable = {"jira": "BRIDGE_JIRA_URL", "zendesk": "BRIDGE_HELPDESK_URL", "sentry": "BRIDGE_SENTRY_URL"}
        return self.env[variable[service]] + "/__sandbox__"

    def set_latency(self, ms: float) -> None:
        for service in SERVICES:
            requests.patch(f"{self._admin(service)}/knobs", json={"latency_ms": ms}, timeout=10).raise_for_status()

    def reset_counters(self) -> None:
        for service in SERVICES:
            requests.delete(f"{self._admin(service)}/counters", timeout=10).raise_for_status()

    def counts(self, service: str) -> dict[str, int]:
        response = requests.get(f"{self._admin(service)}/counters", timeout=10)
        response.raise_for_status()
        return response.json()["by_route"]

    def stop(self) -> None:
        try:
            self._ask("stop")
        finally:
            self._process.join(timeout=10)


# ------------------------------------------------------------------------------ the store --
def seed_store(store, escalations: list[Seeded], now: datetime, engine=None) -> None:
    """The rows escalate and the runs since leave: intent → created → complete, the customer's
    acknowledgement sent an hour after the ticket was opened (the SLA clock's first response),
    a public update at ``now`` (so no status update falls due while the bench runs: the
    cadence's own cost is still paid, its writes are not the subject), the Bug seen in To Do.

    The first escalation goes through the store's own methods; its rows are then the template
    for the others, inserted in one transaction. Six ORM transactions for each of 10,000
    escalations take minutes and would measure the seeding, not the sync.

    Each link records the ticket's version and newest comment, as escalate leaves them.
    With ``engine``, the first escalation's SLA clock is computed once and its next check
    copied to every row (their clock inputs are the same): a first sync computing N clocks
    would take minutes at 100,000, measuring the seeding again.
    """
    from sqlalchemy import insert
    from sqlmodel import select

    from bridge.store.tables import Escalation, LinkedTicket, OutboxEntry

    opened = now - timedelta(days=3)
    first, rest = escalations[0], escalations[1:]
    row, _ = store.escalations.record_intent(
        label=f"bridge-zendesk-{first.ticket_id}", origin_helpdesk="zendesk", origin_ticket_id=first.ticket_id,
        severity="normal", priority="Medium", profile="emergency-to-low", escalated_by=ACTOR,
        opened_at=opened, locale=first.locale)
    store.escalations.mark_created(row.id, jira_issue_id=first.issue_id, jira_key=first.key, jira_url=first.url)
    ack = f"ack:zendesk:{first.ticket_id}"
    store.outbox.claim(ack, target=f"zendesk:{first.ticket_id}", kind="public_reply", escalation_id=row.id)
    store.outbox.done(ack, at=opened + timedelta(hours=1))
    store.escalations.mark_complete(row.id)
    store.links.record_public_update("zendesk", first.ticket_id, at=now)
    store.links.record_seen("zendesk", first.ticket_id, comment_id=first.last_comment_id, status="open",
                            version=first.version, view=first.view)
    store.escalations.record_issue_seen(row.id, jira_key=first.key, status="To Do", resolution=None, fix_versions=[],
                            jira_updated=datetime.fromisoformat(first.updated), jira_url=first.url)
    if engine is not None:
        from bridge.sla_report import ack_key
        from bridge.sync.items import SyncReport

        complete = store.escalations.get(row.id)
        _, check = engine._clock_of(complete, store.links.of(row.id), store.outbox.get(ack_key(complete)), now,
                                    SyncReport())
        store.escalations.set_sla_next_checks({row.id: check})
    with store.session() as s:
        template = s.exec(select(Escalation).where(Escalation.id == row.id)).one().model_dump(exclude={"id"})
        link = s.exec(select(LinkedTicket).where(LinkedTicket.escalation_id == row.id)).one().model_dump(exclude={"id"})
        sent = s.exec(select(OutboxEntry).where(OutboxEntry.key == ack)).one().model_dump(exclude={"id"})
        rows, links, outbox = [], [], []
        for offset, e in enumerate(rest, start=1):
            escalation_id = row.id + offset
            rows.append({**template, "id": escalation_id, "label": f"bridge-zendesk-{e.ticket_id}",
                         "origin_ticket_id": e.ticket_id, "jira_issue_id": e.issue_id, "jira_key": e.key,
                         "jira_url": e.url, "last_jira_updated": datetime.fromisoformat(e.updated)})
            links.append({**link, "escalation_id": escalation_id, "ticket_id": e.ticket_id, "locale": e.locale,
                          "known_version": e.version, "known_view": e.view, "last_comment_id": e.last_comment_id})
            outbox.append({**sent, "escalation_id": escalation_id, "key": f"ack:zendesk:{e.ticket_id}",
                           "target": f"zendesk:{e.ticket_id}"})
        if rows:
            s.execute(insert(Escalation), rows)
            s.execute(insert(LinkedTicket), links)
            s.execute(insert(OutboxEntry), outbox)
    complete = len(store.escalations.list(states=["complete"]))
    if complete != len(escalations):
        raise RuntimeError(f"the store holds {complete} complete escalations, not {len(escalations)}")


# ------------------------------------------------------------------------- the baseline --
def naive_engine_class():
    """:class:`SyncEngine` finding changes the naive way (built lazily: imports are the child's)."""
    from bridge.connectors.jira import ISSUE_FIELDS, _raw_comments
    from bridge.sync.engine import CURSOR_RELEASED, SyncEngine

    class NaiveSync(SyncEngine):
        """One ``GET /issue/{id}?fields=…,comment`` per escalation per run; an issue whose
        ``updated`` moved since the store last saw it is handed to the engine's own planning
        and writing, so the baseline differs from `bridge sync` only in change detection.

        It reaches into the tracker's library client (``_jira``, ``_call``, ``_to_issue``)
        because the connector has, by design, no call that reads one issue with comments.
        """

        def _changed_issues(self, escalations: dict, *_args, **_kwargs) -> dict:
            # The engine's other arguments (the Bugs to retry, ...) are covered: every Bug is read.
            tracker = self.tracker
            fields = ISSUE_FIELDS + ",comment"
            self._released = json.loads(self.store.cursors.get(CURSOR_RELEASED) or "[]")
            changed = {}
            for issue_id, escalation in escalations.items():
                raw = tracker._call(f"reading {issue_id}",
                                    lambda issue_id=issue_id: tracker._jira.issue(issue_id, fields=fields))
                issue = tracker._to_issue(raw)
                seen = escalation.last_jira_updated
                if seen is not None and seen.tzinfo is None:
                    seen = seen.replace(tzinfo=timezone.utc)  # SQLite hands datetimes back naive
                if seen is None or issue.updated is None or issue.updated > seen:
                    changed[issue_id] = (issue, _raw_comments(raw))
            return changed

    return NaiveSync


# -------------------------------------------------------------------------------- one run --
def _run_child(conn, env: dict[str, str], engine_name: str, offset_s: float, trace: bool, profile: bool) -> None:
    """One sync run in a fresh process; sends back wall time, memory and what the run did
    (or the traceback, so the parent reports a crashed run instead of waiting for it)."""
    try:
        conn.send(_sync_once(env, engine_name, offset_s, trace, profile))
    except BaseException:
        conn.send({"error": traceback.format_exc()})


def _sync_once(env: dict[str, str], engine_name: str, offset_s: float, trace: bool, profile: bool) -> dict:
    """Build the engine as the CLI does, run it once on the shared clock, measure the run."""
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
    profiler = cProfile.Profile() if profile else None
    cpu_before = time.process_time()  # this process's CPU, every thread: the pass's own work
    started = time.perf_counter()
    if profiler is not None:
        report = profiler.runcall(engine.run)
    else:
        report = engine.run()
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
        "examined": report.examined, "outcomes": done, "failures": [list(f) for f in report.failures],
        "exit_code": report.exit_code, "skipped": report.skipped,
        "profile": _profile_text(profiler) if profiler is not None else None,
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
            latency_ms: float, trace: bool = False, profile: bool = False) -> Run:
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
               server_cpu_s=result["server_cpu_s"])


def project(run: Run, latency_ms: float) -> Run:
    """A sequential client's run with ``latency_ms`` more per request: wall + requests × latency."""
    return Run(size=run.size, changed=run.changed, engine=run.engine, latency_ms=latency_ms, jira=run.jira,
               zendesk=run.zendesk, sentry=run.sentry, wall_s=run.wall_s + run.total * latency_ms / 1000,
               cpu_s=run.cpu_s, rss_delta_mb=run.rss_delta_mb, peak_rss_mb=run.peak_rss_mb, store=run.store,
               traced_peak_mb=run.traced_peak_mb, outcomes=run.outcomes,
               failures=run.failures, projected=True)


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
    return "; ".join(parts)


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
            ok = r.peak_rss_mb <= 150
            line = f"[{'PASS' if ok else 'FAIL'}] {what}: peak RSS {r.peak_rss_mb:.0f} MB ≤ 150 MB"
            if 10_000 in peak_at and r.size > 10_000:
                line += f" and ≤ 1.2 × {peak_at[10_000]:.0f} MB at 10,000"
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
    profile: bool
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


def store_kind(url: str) -> str:
    """``sqlite`` or ``postgresql``: the store a run used, as the JSON lines name it."""
    return "postgresql" if url.startswith("postgresql") else "sqlite"


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
                              trace=plan.trace, profile=plan.profile and engine == "bridge sync")
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
                profile=args.profile, store_url=args.store_url, json_lines=args.json,
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
