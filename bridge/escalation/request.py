"""What an escalation manager (or the Escalate button, or the board) asks for, and what
they are told back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bridge.errors import UsageError


@dataclass
class EscalationRequest:
    """What the escalation manager asked for."""

    ticket: str
    actor: str
    severity: str | None = None
    urgency: str | None = None
    impact: str | None = None
    emergency: bool = False
    into: str | None = None
    force: bool = False
    dry_run: bool = False
    #: Error-tracker references (URL, short id, id) to file as Tasks related to the Bug.
    sentry: tuple[str, ...] = ()
    #: Finishing what an earlier run of an allowed escalation left undone (`bridge sync`
    #: does, as ``actor`` = the bridge): whoever escalated was checked then, so the
    #: mappings' allowed actors and groups are not asked again.
    finishing: bool = False
    #: File a new Bug for an escalation whose recorded Bug JIRA no longer has (404), and
    #: move its tickets onto it (a person's decision: JIRA hides a Bug the same way).
    refile: bool = False


def check_refile_options(request: EscalationRequest) -> None:
    """Refuse what ``--refile`` does not combine with (exit 2), before anything is read.

    A refile keeps the escalation's recorded severity (its SLA clock and what its customers
    were told stay as they are): raise it afterwards with ``--emergency``. It always files a
    new Bug: moving an escalation's tickets and history onto another existing issue
    (``--into``) would merge two escalations, which the bridge does not do."""
    if not request.refile:
        return
    if request.into:
        raise UsageError("--refile files a new Bug for the escalation and cannot be combined with --into",
                         hint="run it without --into: the escalation gets a Bug of its own, which engineers "
                              "can link to the other issue in JIRA")
    if request.severity or request.urgency or request.impact or request.emergency:
        raise UsageError("--refile keeps the escalation's recorded severity and cannot be combined with "
                         "--severity, --urgency/--impact or --emergency",
                         hint="refile first, then raise it with `bridge escalate TICKET --emergency`")


@dataclass
class EscalationResult:
    """What happened (or, with ``dry_run``, what would happen)."""

    ticket: str
    helpdesk: str
    jira_key: str | None
    jira_url: str | None
    created: bool
    severity: str
    priority: str
    tier: str
    dry_run: bool = False
    steps: list[str] = field(default_factory=list)
    plan: dict[str, Any] = field(default_factory=dict)
    first_response_due: str | None = None
    next_update_due: str | None = None
    affected_count: int | None = None
    #: Whether on-call was paged by this run (None: no page was due).
    paged: bool | None = None
    #: Steps that failed without undoing the escalation (e.g. the page); the CLI exits 1.
    failures: list[str] = field(default_factory=list)
    #: One entry per error-tracker issue linked (or not: ``error``) by this run.
    sentry_tasks: list[dict[str, Any]] = field(default_factory=list)
    #: A refile (planned, or carried out by this run): ``replaced_key``, ``replaced_issue_id``,
    #: the new Bug's ``label`` and, once filed, its ``jira_key``; None for any other escalate.
    refile: dict[str, Any] | None = None
    #: What became of each action (``planned`` in a dry run): for callers that report
    #: actions one by one, as `bridge sync` does. Not part of :meth:`as_json`.
    outcomes: list[Any] = field(default_factory=list, repr=False)

    def as_json(self) -> dict[str, Any]:
        data = {
            "ticket": self.ticket, "helpdesk": self.helpdesk, "jira_key": self.jira_key,
            "jira_url": self.jira_url, "created": self.created, "severity": self.severity,
            "priority": self.priority, "tier": self.tier, "dry_run": self.dry_run,
            "steps": self.steps, "first_response_due": self.first_response_due,
            "next_update_due": self.next_update_due, "affected_count": self.affected_count,
            "paged": self.paged, "failures": self.failures, "sentry_tasks": self.sentry_tasks,
            "refile": self.refile,
        }
        if self.dry_run:
            data["plan"] = self.plan
        return data
