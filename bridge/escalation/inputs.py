"""What the escalation planner (:mod:`bridge.escalation.plan`) reads: typed facts the fetch
step (:mod:`bridge.escalation.flow`) gathers from the helpdesk, JIRA and the store, and the
policy collaborators it calls. No connection, no store: the planner stays pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from bridge.escalation.request import EscalationRequest
from bridge.models import Issue, Ticket


@dataclass(frozen=True)
class HelpdeskFacts:
    """What the planner needs to know about the helpdesk (no connection)."""

    kind: str
    service: str
    base_url: str
    ticket_url: str


@dataclass(frozen=True)
class EscalationFacts:
    """The store's row for an escalation, as the planner reads it."""

    id: int
    label: str
    state: str
    severity: str
    priority: str
    tier: str | None
    jira_issue_id: str | None
    jira_key: str | None
    jira_url: str | None
    pages_sent: int
    affected_count: int
    origin_helpdesk: str
    origin_ticket_id: str
    #: What a refile's intent names (the row exists: they are the row's own).
    profile: str = ""
    escalated_by: str = ""
    opened_at: datetime | None = None
    organization: str | None = None

    @classmethod
    def of(cls, row) -> "EscalationFacts | None":
        if row is None:
            return None
        return cls(id=row.id, label=row.label, state=row.state, severity=row.severity, priority=row.priority,
                   tier=row.tier, jira_issue_id=row.jira_issue_id, jira_key=row.jira_key, jira_url=row.jira_url,
                   pages_sent=row.pages_sent, affected_count=row.affected_count,
                   origin_helpdesk=row.origin_helpdesk, origin_ticket_id=row.origin_ticket_id,
                   profile=row.profile, escalated_by=row.escalated_by, opened_at=row.opened_at,
                   organization=row.organization)


@dataclass(frozen=True)
class RefileFacts:
    """The Bug a refile replaces: the one recorded for the escalation when JIRA answered 404
    for it (``--refile``), or the one a refile under way replaces (its outbox record)."""

    issue_id: str
    issue_key: str | None
    issue_url: str | None
    #: Who asked for the refile.
    by: str


@dataclass(frozen=True)
class LinkedTicketFacts:
    """One of the escalation's tickets on this helpdesk (a refile moves each to the new Bug)."""

    ticket_id: str
    url: str
    role: str


@dataclass(frozen=True)
class EscalationInputs:
    """Everything :func:`bridge.escalation.plan.plan` reads; gathered by the fetch step."""

    request: EscalationRequest
    helpdesk: HelpdeskFacts
    now: datetime
    ticket: Ticket | None
    existing: EscalationFacts | None = None
    #: The Bug as JIRA shows it: ``--into``'s target, or a complete escalation's Bug when
    #: ``--emergency`` needs its priority.
    bug: Issue | None = None
    #: The escalation ``--into``'s Bug already belongs to (None: the bridge did not create it).
    bug_escalation: EscalationFacts | None = None
    actor_groups: tuple[str, ...] = ()
    #: Error-tracker references to link (``--sentry`` and those found in the conversation).
    error_refs: tuple[str, ...] = ()
    #: References whose earlier link failed (retried now).
    retry_error_refs: tuple[str, ...] = ()
    pager: bool = False
    #: The ticket is linked to the escalation already (``--into`` re-run).
    already_linked: bool = False
    #: Outbox keys of this ticket's side of a complete escalation (remote link, internal
    #: note, acknowledgement) still pending or failed: planned again under these keys.
    retry_ticket_keys: tuple[str, ...] = ()
    #: The ticket asked about (validated), when it is not the escalation's origin.
    ticket_id: str | None = None
    #: A refile asked for, or one under way: the gone Bug the new one replaces. ``ticket``
    #: is then the escalation's origin ticket (its conversation describes the new Bug).
    refile: RefileFacts | None = None
    #: The escalation's tickets on this helpdesk (a refile only).
    linked: tuple[LinkedTicketFacts, ...] = ()
    #: Keys of the JIRA Tasks related to the escalation (a refile relates them to the new Bug).
    task_keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class Policy:
    """The policy and mapping collaborators the planner calls (all pure)."""

    profile: Any
    mappings: Any
    redact: Callable[[str], str]
