"""Escalations an earlier run left unfinished on the customer's side, finished by a sync
pass: the safety net for an acknowledgement, internal note or remote link whose write
failed (the helpdesk answered 5xx or timed out) or whose run died half-way.

Two kinds, both found in the store alone (no service is read to find them):

- an escalation whose Bug exists but whose ticket side did not all land (state
  ``created``): the customer has no acknowledgement, and no JIRA change reaches the ticket
  until the escalation is complete;
- a ticket joined to a complete escalation (``--into``) whose remote link, note or
  acknowledgement is ``failed``, or ``pending`` from a run that died.

Each is finished by the escalator, as `bridge escalate TICKET` would (the same planner and
executor, the same outbox keys, so what landed is not written again), with ``finishing``
set: whoever escalated was allowed then, so the mappings' allowed actors are not asked
again. The ticket's own rules still hold: a ticket since closed is left as it is, and
`bridge status` and the board go on listing what failed.

A write that *failed* is taken at once (the run that tried it is done with it). A Bug whose
ticket side is unfinished (``created``) and a write still ``pending`` are taken once left
alone for :data:`GRACE`: an escalate still running (it takes seconds) is never raced. An escalation with no Bug yet (``intent``) is left to the
board's Retry or `bridge escalate`: creating a Bug long after the request is a person's
decision, not a safety net's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable

from bridge.errors import BridgeError, LeaseLost, NotAllowed

log = logging.getLogger(__name__)

#: How long an unfinished escalation is left to the run that may still be working it.
GRACE = timedelta(minutes=15)
#: Outbox key prefixes of a ticket's side of its escalation (``<prefix><helpdesk>:<ticket>``).
TICKET_SIDE = ("note:", "ack:", "ack-emergency:", "remote-link:")


@dataclass(frozen=True)
class Unfinished:
    """One ticket whose side of an escalation is to be finished."""

    escalation_id: int
    ticket_id: str
    #: The recorded severity when the ticket is the escalation's origin (state ``created``):
    #: the finishing run keeps it rather than classify the ticket again.
    severity: str | None = None


def find_unfinished(store, helpdesk: str, now: datetime, only: Iterable[int] | None = None) -> list[Unfinished]:
    """The tickets of ``helpdesk`` left unfinished at ``now`` (with ``only``, of those
    escalation ids alone), oldest escalation first: every failed ticket-side write, and
    what has waited :data:`GRACE` (a ``created`` escalation, a ``pending`` write)."""
    cutoff = now - GRACE
    wanted = None if only is None else set(only)
    found: dict[tuple[int, str], Unfinished] = {}
    for e in store.escalations.list(states=("created",)):
        if (e.jira_issue_id and e.origin_helpdesk == helpdesk and e.updated_at <= cutoff
                and (wanted is None or e.id in wanted)):
            found[(e.id, e.origin_ticket_id)] = Unfinished(e.id, e.origin_ticket_id, e.severity)
    joined: dict[tuple[int, str], None] = {}
    for prefix in TICKET_SIDE:
        for entry in store.outbox.list(states=("pending", "failed"), key_prefix=f"{prefix}{helpdesk}:"):
            if entry.escalation_id is None or (wanted is not None and entry.escalation_id not in wanted):
                continue
            if entry.state == "pending" and entry.created_at > cutoff:
                continue  # claimed a moment ago: its run may still be writing it
            ticket_id = entry.key[len(prefix) + len(helpdesk) + 1:].split(":", 1)[0]
            if ticket_id and (entry.escalation_id, ticket_id) not in found:
                joined[(entry.escalation_id, ticket_id)] = None
    complete = store.escalations.by_ids({i for i, _ in joined}, states=["complete"]) if joined else {}
    for escalation_id, ticket_id in joined:
        if escalation_id in complete:
            found[(escalation_id, ticket_id)] = Unfinished(escalation_id, ticket_id)
    return [found[key] for key in sorted(found, key=lambda k: (k[0], k[1]))]


def finish_for_pass(engine, report, *, dry_run: bool, only: set[int] | None) -> None:
    """A sync pass's last step: finish the unfinished escalations of the pass's scope (every
    one, or ``only``'s) whose leases the pass holds or can take now; the others wait for the
    next pass. Off when the engine has no ``finisher``."""
    if engine.finisher is None:
        return
    todo = find_unfinished(engine.store, engine.helpdesk.kind, engine.clock(), only)
    if todo and not dry_run:
        mine = engine.lease.take({item.escalation_id for item in todo})
        todo = [item for item in todo if item.escalation_id in mine]
    if todo:
        finish_unfinished(engine.finisher(None if dry_run else engine.lease), todo, helpdesk=engine.helpdesk.kind,
                          actor=engine.actor, dry_run=dry_run, report=report)


def finish_unfinished(escalator, todo: Iterable[Unfinished], *, helpdesk: str, actor: str, dry_run: bool,
                      report) -> None:
    """Escalate each ticket of ``todo`` again to finish it, adding what became of its
    actions (``planned`` in a dry run) and its failures to the sync ``report``. A ticket
    the policy no longer lets the bridge write to (closed since, say) is logged and left."""
    from bridge.escalation import EscalationRequest

    for item in todo:
        target = f"{helpdesk}:{item.ticket_id}"
        request = EscalationRequest(ticket=item.ticket_id, actor=actor, severity=item.severity, dry_run=dry_run,
                                    finishing=True)
        try:
            result = escalator.escalate(request)
        except LeaseLost:
            raise  # another pass may be working now: this one stops writing (the engine reports it)
        except NotAllowed as exc:
            log.info("sync: the unfinished escalation of %s is left as it is: %s", target, exc)
            continue
        except BridgeError as exc:
            report.failures.append((target, f"finishing its escalation: {exc}"))
            continue
        report.outcomes.extend(result.outcomes)
        report.failures.extend((target, failure) for failure in result.failures)
