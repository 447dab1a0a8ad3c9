"""The world `bench/sync_requests.py` measures in: the emulators in a process of their own,
seeded directly in their state, and the store rows escalate and a first sync leave.

* :class:`SandboxProcess` — JIRA (Cloud), Zendesk and Sentry emulators in a spawned process
  (so the bridge does not share their interpreter lock), driven over a pipe (seed, change
  Bugs, move the shared clock, report the process's CPU) and their admin API (latency,
  counters);
* :func:`seed_escalations` — per escalation a Zendesk ticket opened three days ago carrying
  the bridge's acknowledgement and key tag, and a JIRA Bug labelled ``bridge`` and
  ``bridge-zendesk-<ticket>``;
* :func:`seed_store` — the store rows of those escalations.
"""

from __future__ import annotations

import gc
import multiprocessing
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import requests
from process_cpu import own_cpu_s  # bench/process_cpu.py, beside this script

#: The developer who moves the Bugs (a user in another time zone than the bridge's).
DEVELOPER = "dev"

#: JIRA's "In Progress" transition in the emulator's workflow (from To Do).
START_PROGRESS = "21"

#: The emulated services whose requests are counted.
SERVICES = ("jira", "zendesk", "sentry")

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
    if store.engine.dialect.name == "postgresql":
        # A store that grew to this size over months has been analysed by autovacuum many
        # times; one filled in a single transaction has no statistics until autovacuum next
        # looks (within a minute or so), and until then the planner guesses. Without this,
        # the first measured run's reads took 35-45 ms a round instead of 2-4 ms: that
        # measured the seeding, not the sync.
        with store.session() as s:
            s.connection().exec_driver_sql("ANALYZE escalation, linked_ticket, outbox")
    complete = len(store.escalations.list(states=["complete"]))
    if complete != len(escalations):
        raise RuntimeError(f"the store holds {complete} complete escalations, not {len(escalations)}")
