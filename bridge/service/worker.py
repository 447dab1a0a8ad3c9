"""Inbox workers: threads inside `bridge serve` that turn doorbells into the core's work.

Each worker loops: claim a batch of inbox items under a lease (renewed while it works),
:func:`~bridge.service.routing.route` them, escalate the tickets whose customer pressed
the Escalate button, run the same planner and executor as `bridge sync` for just the
escalations touched, then mark the items done. Because every external write of the core
goes through the outbox and the helpdesk's own markers, an item worked twice (a worker
SIGKILLed after writing, before marking done) sends nothing twice.

Failures: a service error puts the items back with a growing delay; a refusal that will not
change by waiting (a usage or mapping error, exit code 2) fails the item at once. An
escalation another pass is working (its lease held: a `bridge sync`, another process's
worker) hands the items back, to be taken again a second later.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import timedelta

from bridge.errors import EXIT_USAGE, BridgeError, NotAllowed, UnknownTicket
from bridge.service.routing import route
from bridge.store.inbox import InboxRepository
from bridge.store.tables import InboxItem, utcnow

log = logging.getLogger(__name__)

__all__ = ["ESCALATE_ACTOR", "InboxWorker", "WorkerPool"]

#: Who escalates when a customer presses the button (audit trail, who-may-escalate rules).
ESCALATE_ACTOR = "customer:escalate-button"
#: Items worked on per claim: one core run covers them all, which keeps up under bursts.
BATCH = 50
MAX_ATTEMPTS = 10


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(2 ** attempts, 300))


class InboxWorker:
    """One worker: claims, routes and runs. ``core_lock`` serialises the core within a process:
    its threads share the process's service clients, and a batch of items already folds a
    burst into one pass. Processes exclude each other per escalation (the passes' leases),
    so a long `bridge sync` elsewhere holds up only the escalations it is working."""

    def __init__(self, services, inbox: InboxRepository, *, metrics=None, ttl: timedelta,
                 core_lock: threading.Lock, stop: threading.Event, wake: threading.Event,
                 poll_seconds: float = 1.0, name: str = "worker") -> None:
        self.services = services
        self.inbox = inbox
        self.metrics = metrics
        self.ttl = ttl
        self.core_lock = core_lock
        self.stop = stop
        self.wake = wake
        self.poll_seconds = poll_seconds
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{name}:{uuid.uuid4().hex[:6]}"
        #: The items in hand, released by a graceful shutdown that cannot wait for them.
        self.in_hand: list[int] = []

    def run_forever(self) -> None:
        while not self.stop.is_set():
            try:
                worked = self.run_once()
            except Exception:  # a bug or the store gone: keep the thread, try again shortly
                log.exception("inbox worker %s: unexpected error", self.holder)
                worked = False
            if not worked:
                self.wake.wait(self.poll_seconds)
                self.wake.clear()

    def run_once(self) -> bool:
        """Claim and work one batch; False when there was nothing to claim."""
        items = self.inbox.claim(self.holder, self.ttl, limit=BATCH)
        if not items:
            return False
        self.in_hand = [i.id for i in items]
        renewer = _Renewer(self.inbox, self.in_hand, self.holder, self.ttl)
        renewer.start()
        try:
            self._work(items)
        finally:
            renewer.stop()
            self.in_hand = []
        return True

    def _work(self, items: list[InboxItem]) -> None:
        ids = [i.id for i in items]
        services = self.services
        try:
            with self.core_lock:
                work = route(items, store=services.store, helpdesk=services.helpdesk,
                             escalate_tag=services.config.webhooks.escalate_tag,
                             subject_rules=[*services.mappings.subject_rules, *services.profile.subject_rules],
                             highest=services.profile.highest)
                failures = self._escalate(work.emergencies)
                if work.escalations:
                    report = self._sync(work.escalations)
                    failures += [f"{target}: {reason}" for target, reason in report.failures]
                    self._count_messages(report)
                    if report.busy and not failures:
                        # Another pass (a `bridge sync`, another process's worker) is working
                        # some of these escalations right now: ours comes right after.
                        self.inbox.release(self.holder, ids)
                        self._count(items, "released")
                        self.stop.wait(1.0)
                        return
        except BridgeError as exc:
            permanent = exc.exit_code == EXIT_USAGE
            self._retry(items, str(exc), permanent=permanent)
            return
        if failures:
            self._retry(items, "; ".join(failures), permanent=False)
            return
        self.inbox.done(ids, self.holder)
        self._count(items, "done", latency=True)

    def _escalate(self, tickets: set[str]) -> list[str]:
        from bridge.escalation import EscalationRequest

        failures: list[str] = []
        for ticket in sorted(tickets):
            try:
                result = self.services.escalator().escalate(
                    EscalationRequest(ticket=ticket, actor=ESCALATE_ACTOR, emergency=True))
            except (NotAllowed, UnknownTicket) as exc:
                # Final for this press alone (the escalator audited a refusal): the other
                # presses and changes of the batch go on, and it is not tried again.
                log.warning("Escalate press for ticket %s not carried out: %s", ticket, exc)
                continue
            failures += result.failures
        return failures

    def _sync(self, escalation_ids: set[int]):
        # The escalations' leases under our name and our lease time: a worker SIGKILLed
        # mid-run blocks the next pass over them for lease_seconds, not for sync's 10 minutes.
        engine = self.services.sync_engine(holder=self.holder, lease_ttl=self.ttl)
        return engine.run(only=escalation_ids)

    def _retry(self, items: list[InboxItem], error: str, *, permanent: bool) -> None:
        attempts = max(i.attempts for i in items)
        log.warning("inbox items %s: %s", [i.id for i in items], error)
        self.inbox.retry_later([i.id for i in items], self.holder, error, delay=_backoff(attempts),
                               max_attempts=0 if permanent else MAX_ATTEMPTS)
        self._count(items, "failed" if permanent or attempts >= MAX_ATTEMPTS else "retry")

    def _count(self, items: list[InboxItem], outcome: str, *, latency: bool = False) -> None:
        if self.metrics is None:
            return
        now = utcnow()
        for item in items:
            self.metrics.processed.labels(item.source, outcome).inc()
            if latency:
                self.metrics.latency.labels(item.source).observe((now - item.received_at).total_seconds())

    def _count_messages(self, report) -> None:
        if self.metrics is None:
            return
        sent = sum(1 for o in report.outcomes if o.result == "done" and o.action.customer_facing)
        self.metrics.messages.inc(sent)


class _Renewer:
    """Renews the lease on the items in hand while the core works on them."""

    def __init__(self, inbox: InboxRepository, ids: list[int], holder: str, ttl: timedelta) -> None:
        self.inbox, self.ids, self.holder, self.ttl = inbox, ids, holder, ttl
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="inbox-lease", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.ttl.total_seconds() / 3):
            try:
                self.inbox.renew(self.ids, self.holder, self.ttl)
            except Exception:  # the store away for a moment: the next renewal may succeed
                log.warning("could not renew the lease on inbox items %s", self.ids, exc_info=True)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


class WorkerPool:
    """``count`` worker threads sharing one stop and one wake event."""

    def __init__(self, services, inbox: InboxRepository, *, count: int, ttl: timedelta, metrics=None,
                 poll_seconds: float = 1.0) -> None:
        self.stop_event = threading.Event()
        self.wake = threading.Event()
        lock = threading.Lock()
        self.workers = [InboxWorker(services, inbox, metrics=metrics, ttl=ttl, core_lock=lock,
                                    stop=self.stop_event, wake=self.wake, poll_seconds=poll_seconds,
                                    name=f"w{n}") for n in range(count)]
        self.inbox = inbox
        self.threads = [threading.Thread(target=w.run_forever, name=f"inbox-{w.holder}", daemon=True)
                        for w in self.workers]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def ring(self) -> None:
        """Wake a waiting worker now (a delivery was just accepted)."""
        self.wake.set()

    def stop(self, *, grace: float, on_release: Callable[[int], None] | None = None) -> None:
        """Stop taking items; wait up to ``grace`` s for the items in hand, then release them."""
        self.stop_event.set()
        self.wake.set()
        for thread in self.threads:
            thread.join(grace)
        for worker in self.workers:
            released = self.inbox.release(worker.holder)
            if released and on_release:
                on_release(released)
