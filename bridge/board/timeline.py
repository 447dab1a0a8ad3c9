"""The escalation page's timeline: everything that happened, customer-visible apart.

Built from the store only (the outbox's writes, the audit log, related Tasks, cursors and
the SLA clock), so the page never calls a service. A customer message shows its text
exactly as sent when the outbox payload recorded it (``payload["body"]``); otherwise the
entry says which state was announced and that the text was not recorded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bridge.board.listing import CUSTOMER_KINDS
from bridge.board.times import when

_INTERNAL_NAMES = {
    "internal_note": "Internal note on the ticket", "InternalNote": "Internal note on the ticket",
    "EscalatedNote": "Internal note on the ticket (escalated)", "PageOnCall": "On-call paged",
    "RemoteLink": "Link to the ticket on the Bug", "LinkErrorIssue": "Sentry issue related to the Bug",
    "SetBugFields": "Bug fields changed", "CreateBug": "Bug created", "AdoptBug": "Existing Bug adopted",
    "LinkTicket": "Ticket linked", "ReopenTask": "Sentry Task reopened",
    "RelateTask": "Sentry Task related to the Bug",
    "RefileBug": "Bug gone from JIRA refiled as a new Bug",
    "StateNote": "Internal note on the ticket (state not told to the customer)",
    "CommentOnBug": "Comment on the Bug", "page": "On-call paged", "remote_link": "Link on the Bug",
    "set_status": "Status change",
}
_CUSTOMER_NAMES = {"public_reply": "Acknowledgement", "Acknowledge": "Acknowledgement", "Announce": "Status announced", "PublicReply":
                   "Reply from engineering", "StatusUpdate": "Periodic status update"}


@dataclass(frozen=True)
class Entry:
    """One line of the timeline."""

    at: datetime | None
    customer: bool
    title: str
    target: str = ""
    text: str | None = None
    locale: str | None = None
    state: str = ""
    detail: str = ""
    #: A customer message that has not reached the customer (its write failed or is still
    #: under way): shown apart, never in the "Customer saw" lane.
    undelivered: bool = False


def build(escalation, tickets, outbox: list, payload_of, audit: list, tasks: list,
          regressions: list[Any], sla: dict[str, Any] | None) -> list[Entry]:
    """The escalation's timeline, oldest first."""
    locales = {f"{t.helpdesk}:{t.ticket_id}": t.locale for t in tickets}
    entries = [Entry(escalation.created_at, False, "Escalated",
                     detail=f"by {escalation.escalated_by}; severity {escalation.severity}, "
                            f"priority {escalation.priority}, tier {escalation.tier or '-'}"),
               Entry(escalation.opened_at, False, "SLA clock started", detail="the customer opened the ticket")]
    for t in tickets:
        entries.append(Entry(t.linked_at, False, "Ticket linked", target=f"{t.helpdesk}:{t.ticket_id}",
                             detail=f"{t.role}; locale {t.locale or 'default'}"))
    for o in outbox:
        payload = payload_of(o)
        if o.kind in CUSTOMER_KINDS:
            text = payload.get("body") if isinstance(payload.get("body"), str) else None
            # Only a write the helpdesk took (``sent``) reached the customer; a failed or
            # pending one is what the manager must chase, not what the customer was told.
            told = o.state == "sent"
            detail = _announced(o.key, told) if text is None else ""
            if not told and o.last_error:
                detail = f"{detail}; {o.last_error}" if detail else o.last_error
            entries.append(Entry(o.sent_at or o.created_at, told, _CUSTOMER_NAMES.get(o.kind, o.kind), target=o.target,
                                 text=text, locale=payload.get("locale") or locales.get(o.target), state=o.state,
                                 detail=detail, undelivered=not told))
        else:
            entries.append(Entry(o.sent_at or o.created_at, False, _INTERNAL_NAMES.get(o.kind, o.kind),
                                 target=o.target, state=o.state,
                                 text=payload.get("body") if isinstance(payload.get("body"), str) else None,
                                 detail=o.last_error or ""))
    for a in audit:
        # The executor audits each write by its action's class name: shown by the write's name.
        entries.append(Entry(a.at, False, f"{name_of(a.action)} ({a.result})", target=a.target,
                             detail=f"{a.actor}: {a.detail}"))
    for task in tasks:
        entries.append(Entry(task.created_at, False, "Sentry issue filed as a related Task",
                             target=task.jira_key or "", detail=task.sentry_short_id or task.sentry_issue_id))
    for r in regressions:
        entries.append(Entry(None, False, "Sentry issue regressed after the fix", detail=str(r)))
    if escalation.last_status:
        entries.append(Entry(escalation.updated_at, False, f"JIRA: {escalation.last_status}",
                             target=escalation.jira_key or "", detail=escalation.last_resolution or ""))
    if escalation.last_fix_versions:
        try:
            versions = ", ".join(json.loads(escalation.last_fix_versions))
        except ValueError:
            versions = escalation.last_fix_versions
        if versions:
            entries.append(Entry(escalation.updated_at, False, "Fix versions", detail=versions))
    if sla:
        clock = sla.get("sla") or {}
        due = clock.get("first_response_due")
        if clock.get("first_response_at"):
            met = "met" if not clock.get("first_response_breached") else "missed"
            entries.append(Entry(_parse(clock["first_response_at"]), False, f"First response target {met}",
                                 detail=f"due {when(due)}"))
        elif due and clock.get("first_response_breached"):
            entries.append(Entry(_parse(due), False, "First response target missed", detail="no response yet"))
        if clock.get("update_breached") and clock.get("next_update_due"):
            entries.append(Entry(_parse(clock["next_update_due"]), False, "Status update target missed",
                                 detail=f"an update was due every {clock.get('status_update_every') or '-'}"))
    entries.sort(key=lambda e: (e.at is None, e.at.timestamp() if e.at else 0))
    return entries


def name_of(kind: str) -> str:
    """What the timeline calls a write of ``kind`` (an action's class name; itself if unnamed)."""
    return _INTERNAL_NAMES.get(kind) or _CUSTOMER_NAMES.get(kind) or kind


def _announced(key: str, told: bool = True) -> str:
    parts = key.split(":")
    if parts[0] == "announce" and len(parts) > 4:
        # announce:<helpdesk>:<ticket>:<issue id>:<state>:after:...
        verb = "told" if told else "meant to tell"  # an undelivered write told nobody
        return f"{verb} the state '{parts[4]}' (message text not recorded)"
    return "message text not recorded"


def _parse(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
