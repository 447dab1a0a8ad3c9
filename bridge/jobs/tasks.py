"""bridge's procrastinate tasks (registered under the ``bridge:`` namespace).

- ``process_inbox_item(item_id)`` (queue ``inbox``): claim the item under a lease, find the
  escalations it touches (:func:`bridge.service.routing.route`), ring each one's sync, defer
  the Escalate button's escalation, mark the item done. Cheap, so it needs no lock.
- ``sync_escalation(escalation_id)`` (queue ``sync``): the same planner and executor as
  `bridge sync`, for one escalation. ``lock=escalation:<id>``: never two at once on one
  escalation; ``queueing_lock``: ten doorbells for one escalation wait as one job.
- ``escalate_ticket(ticket)`` (queue ``sync``): the Escalate button (highest severity, page
  once); locked on the ticket's escalation when it has one.
- periodic (queue ``periodic``): ``reconcile`` runs one full sync pass (the cron line
  `bridge sync` was; it reads only what changed, holding each worked escalation's lease);
  ``sla_cadence`` another between them, whose cadence step sends the status updates the SLA
  clocks ask for; ``refresh_webhooks`` re-registers the vendors' webhooks
  (idempotent) before one expires; ``sweep`` re-rings lost inbox items and retries the jobs
  of workers that stopped sending heartbeats.

The tasks take their collaborators from the worker's :class:`bridge.jobs.runtime.Runtime`
(procrastinate's ``additional_context``): one :class:`bridge.services.Services` per
concurrent job, each with its connectors' HTTP sessions behind the shared rate limiter.
"""

from __future__ import annotations

import asyncio
import logging

import procrastinate
from procrastinate.exceptions import AlreadyEnqueued
from procrastinate.jobs import Status

from bridge.errors import EXIT_USAGE, BridgeError, NotAllowed, UnknownTicket
from bridge.jobs.doorbell import (ESCALATE_TASK, SYNC_TASK, escalation_lock, lost_inbox_items, reissue,
                                  sync_queueing_lock)
from bridge.jobs.journal import journaled, prune_journal

log = logging.getLogger(__name__)

__all__ = ["make_blueprint", "ring_sync"]

#: The Escalate button's job, when a service fails: again after 3, 5, 9, 17 … s.
SYNC_RETRY = procrastinate.RetryStrategy(max_attempts=8, wait=1, exponential_wait=2)
#: Runs of one escalation's sync that fail (a service down, its lease held) before it is left
#: to the reconciliation, which retries whatever failed last time.
SYNC_ATTEMPTS = 8
#: How long a heartbeat may be missing before the worker's jobs are taken as lost.
STALLED_AFTER_S = 15.0


def _runtime(context):
    return context.additional_context["bridge"]


def ring_sync(app, escalation_id: int, *, attempt: int = 0, delay: float = 0) -> bool:
    """Defer a sync of ``escalation_id`` unless one is already waiting; whether one was added."""
    try:
        app.configure_task(SYNC_TASK, allow_unknown=False, lock=escalation_lock(escalation_id),
                           queueing_lock=sync_queueing_lock(escalation_id),
                           schedule_in={"seconds": delay} if delay else None,
                           ).defer(escalation_id=int(escalation_id), attempt=attempt)
        return True
    except AlreadyEnqueued:
        return False


def process_inbox_item(context, item_id: int) -> str:
    """Work one inbox item: route it, ring the escalations' syncs, mark it done."""
    runtime = _runtime(context)
    holder = runtime.holder(context.job.id)
    with runtime.services() as services:
        inbox = services.store.inbox
        items = inbox.claim(holder, runtime.lease_ttl, ids=[item_id], limit=1)
        if not items:
            return "not claimable"  # done already, or held by a live worker, or not due yet
        try:
            from bridge.service.routing import route

            work = route(items, store=services.store, helpdesk=services.helpdesk,
                         escalate_tag=services.config.webhooks.escalate_tag,
                         subject_rules=[*services.mappings.subject_rules, *services.profile.subject_rules],
                         highest=services.profile.highest)
            for ticket in sorted(work.emergencies):
                link = services.store.links.get(services.helpdesk.kind, ticket)
                lock = escalation_lock(link.escalation_id) if link is not None else f"ticket:{ticket}"
                context.app.configure_task(ESCALATE_TASK, allow_unknown=False, lock=lock).defer(ticket=ticket)
            for escalation_id in sorted(work.escalations):
                ring_sync(context.app, escalation_id)
        except BridgeError as exc:
            from bridge.service.worker import MAX_ATTEMPTS, _backoff

            permanent = exc.exit_code == EXIT_USAGE
            inbox.retry_later([item_id], holder, str(exc), delay=_backoff(items[0].attempts),
                              max_attempts=0 if permanent else MAX_ATTEMPTS)
            return "retry later"  # the sweeper rings again when it is due
        inbox.done([item_id], holder)
        return "done"


def _outcome(report) -> str:
    if report.skipped:
        return "busy: " + report.skipped
    if report.failures:
        return "failed: " + "; ".join(f"{target}: {reason}" for target, reason in report.failures)
    return "done"


def sync_escalation(context, escalation_id: int, attempt: int = 0) -> str:
    """Bring one escalation up to date (the core of `bridge sync`, ``only={escalation_id}``).

    The pass holds the escalation's lease (``sync:escalation:<id>``) while it works, as a
    full pass does for each escalation it works: if a full pass holds it now, nothing is
    done and the sync rings again. A failure rings again later too (3, 5, 9 … s; up to
    SYNC_ATTEMPTS) rather than through procrastinate's retry, which would collide with a
    newer doorbell's queueing lock; after that the escalation waits for the reconciliation."""
    runtime = _runtime(context)
    holder = runtime.holder(context.job.id)
    with runtime.services() as services, journaled(services.store, job_id=context.job.id, worker=holder,
                                                   task="sync_escalation") as journal:
        report = services.sync_engine(holder=holder, lease_ttl=runtime.lease_ttl).run(only={int(escalation_id)})
        runtime.count_messages(report)
        outcome = _outcome(report)
        journal.finish(outcome)
    if outcome != "done" and attempt + 1 < SYNC_ATTEMPTS:
        delay = min(60, 1 + 2 ** (attempt + 1))
        log.warning("sync of escalation %s: %s; again in %d s", escalation_id, outcome, delay)
        ring_sync(context.app, escalation_id, attempt=attempt + 1, delay=delay)
    return outcome


def escalate_ticket(context, ticket: str) -> str:
    """The customer's Escalate button for ``ticket`` (idempotent: one page, one priority change)."""
    from bridge.escalation import EscalationRequest
    from bridge.service.worker import ESCALATE_ACTOR

    runtime = _runtime(context)
    with runtime.services() as services:
        try:
            result = services.escalator().escalate(EscalationRequest(ticket=ticket, actor=ESCALATE_ACTOR,
                                                                     emergency=True))
        except (NotAllowed, UnknownTicket) as exc:
            # The policy refuses it (audited), or the ticket is gone: retrying changes nothing.
            log.warning("Escalate press for ticket %s not carried out: %s", ticket, exc)
            return "refused"
        if result.failures:
            raise BridgeError("; ".join(result.failures))
        return "done"


def _full_pass(context, task: str) -> str:
    """One full sync pass (what `bridge sync` does): it reads only what changed, and holds the
    lease of each escalation it works, so it never works one a sync job is working (that
    escalation goes on its retry list). Another full pass running: skipped."""
    runtime = _runtime(context)
    holder = runtime.holder(context.job.id)
    with runtime.services() as services, journaled(services.store, job_id=context.job.id, worker=holder,
                                                   task=task) as journal:
        report = services.sync_engine(holder=holder, lease_ttl=runtime.lease_ttl).run()
        runtime.count_messages(report)
        outcome = _outcome(report)
        journal.finish(outcome)
        if task == "reconcile":
            prune_journal(services.store.engine)
    if outcome.startswith("failed"):
        log.warning("%s: %s", task, outcome)
    return outcome


def reconcile(context, timestamp: int) -> str:
    """The reconciliation poll (deliveries that never came, failures to retry): one full pass."""
    return _full_pass(context, "reconcile")


def sla_cadence(context, timestamp: int) -> str:
    """The SLA cadence check between reconciliations: a full pass, whose cadence step sends
    the status updates the open escalations' clocks ask for (skipped while another runs)."""
    return _full_pass(context, "sla_cadence")


def refresh_webhooks(context, timestamp: int) -> int:
    """Re-register the vendors' webhooks (JIRA Cloud's expire after 30 days; idempotent)."""
    from bridge.service.registration import register_all

    runtime = _runtime(context)
    with runtime.services() as services:
        return len(register_all(services.config, services.http_session))


async def sweep(context, timestamp: int) -> int:
    """Retry the jobs of workers gone silent; ring again for inbox items no job will take."""
    runtime = _runtime(context)
    manager = context.app.job_manager
    retried = 0
    for job in await manager.get_stalled_jobs(seconds_since_heartbeat=runtime.stalled_after_s):
        try:
            await manager.retry_job(job)
        except Exception:  # its queueing lock taken by a newer doorbell: that one will do
            # Finished, so its lock no longer holds the escalation; ring again to be sure.
            await manager.finish_job_by_id_async(job.id, status=Status.FAILED, delete_job=False)
            if job.task_name == SYNC_TASK:
                escalation_id = int(job.task_kwargs["escalation_id"])
                try:
                    await context.app.configure_task(
                        SYNC_TASK, allow_unknown=False, lock=escalation_lock(escalation_id),
                        queueing_lock=sync_queueing_lock(escalation_id)).defer_async(escalation_id=escalation_id)
                except AlreadyEnqueued:
                    pass
        retried += 1
    lost = await asyncio.to_thread(lost_inbox_items, runtime.engine)
    if lost:
        await asyncio.to_thread(reissue, runtime.engine, lost)
    return retried + len(lost)


#: The periodic tasks: (task, cron). The reconciliation poll every 10 minutes; the SLA
#: cadence every 5; webhook registrations daily; the sweeper every 2 seconds.
_PERIODIC = ((reconcile, "*/10 * * * *"), (sla_cadence, "*/5 * * * *"),
             (refresh_webhooks, "17 3 * * *"), (sweep, "* * * * * */2"))


def make_blueprint() -> procrastinate.Blueprint:
    """A new Blueprint holding bridge's tasks, for one App to adopt (``namespace="bridge"``).

    New each time: an App adopting a blueprint renames the blueprint's Task objects in place
    (``sync_escalation`` becomes ``bridge:sync_escalation``), so a second App adopting the same
    one would register ``bridge:bridge:…`` and defer ``bridge:sync_escalation`` as an
    unknown task to the ``default`` queue, where no worker on ``--queues sync`` looks."""
    blueprint = procrastinate.Blueprint()
    blueprint.task(name="process_inbox_item", queue="inbox", pass_context=True)(process_inbox_item)
    blueprint.task(name="sync_escalation", queue="sync", pass_context=True)(sync_escalation)
    blueprint.task(name="escalate_ticket", queue="sync", pass_context=True, retry=SYNC_RETRY)(escalate_ticket)
    for function, cron in _PERIODIC:
        task = blueprint.task(name=function.__name__, queue="periodic", pass_context=True)(function)
        blueprint.periodic(cron=cron, periodic_id=function.__name__)(task)
    return blueprint
