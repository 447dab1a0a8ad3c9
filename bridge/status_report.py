"""`bridge status`: each escalation with its tickets, JIRA state, related Tasks, failures and
when its customers should next hear from us — read from the store, no service called."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable

from bridge.errors import BridgeError
from bridge.policy.sla import clock
from bridge.sla_report import ack_key, clock_inputs_from


def status_rows(store, profile_for: Callable[[str], object], helpdesk_kind: str, target: str | None) -> list[dict]:
    """Escalations as rows: all, or the one a ticket id or JIRA key names."""
    if target is None:
        escalations = store.escalations.list()
    else:
        found = store.escalations.by_key(target.upper()) or store.escalations.by_ticket(
            helpdesk_kind, target.strip().lstrip("#"))
        escalations = [found] if found else []
    rows = []
    for e in escalations:
        tickets = store.links.of(e.id)
        rows.append({
            "jira_key": e.jira_key, "jira_issue_id": e.jira_issue_id, "jira_url": e.jira_url,
            "state": e.state, "severity": e.severity, "priority": e.priority, "tier": e.tier,
            "profile": e.profile, "organization": e.organization, "escalated_by": e.escalated_by,
            "opened_at": e.opened_at, "affected_count": e.affected_count,
            "jira_status": e.last_status, "jira_resolution": e.last_resolution,
            "tickets": [{"helpdesk": t.helpdesk, "ticket": t.ticket_id, "role": t.role,
                         "last_announced_state": t.last_announced_state,
                         "last_public_update_at": t.last_public_update_at} for t in tickets],
            "last_public_update_at": max((t.last_public_update_at for t in tickets if t.last_public_update_at),
                                         default=None),
            "sentry_tasks": [{"jira_key": task.jira_key, "sentry_short_id": task.sentry_short_id,
                              "sentry_issue_id": task.sentry_issue_id, "state": task.state}
                             for task in store.tasks.of(e.id)],
            "sentry_regressions": store.tasks.regressions_of(e.id),
            "failures": [{"target": f.target, "kind": f.kind, "attempts": f.attempts, "error": f.last_error}
                         for f in store.outbox.list(states=("failed",), escalation_id=e.id)],
            "next_update_due": next_update_due(store, profile_for, e, tickets),
        })
    return rows


def next_update_due(store, profile_for: Callable[[str], object], escalation, tickets) -> str | None:
    """When the customers should next hear about this escalation (ISO 8601), if the
    profile has a status-update cadence for it; None when it has none or is best effort."""
    if escalation.state != "complete" or escalation.last_resolution:
        return None
    try:
        profile = profile_for(escalation.profile)
        # The same inputs `bridge sla` and sync's cadence use, so all three agree.
        ack = store.outbox.get(ack_key(escalation))
        inputs = clock_inputs_from(tickets, ack, store.outbox.payload(ack) if ack else {})
        state = clock(profile, escalation.severity, escalation.tier, escalation.opened_at,
                      first_response_at=inputs.first_response_at, public_updates=inputs.public_updates,
                      waiting_on_customer=inputs.waiting_on_customer, now=datetime.now(timezone.utc),
                      customer_zone=escalation.customer_zone)
    except BridgeError:
        return None
    return state.next_update_due.isoformat() if state.next_update_due else None
