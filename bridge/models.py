"""Typed models at the connector edge.

Connectors turn each vendor's JSON into these and nothing else leaves them: the engine, the
planner and the policy code never see a raw payload. All datetimes are timezone-aware.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Comment:
    """One entry of a ticket's conversation, or a comment on a JIRA issue."""

    id: str
    body: str
    public: bool
    author: str
    author_email: str | None = None
    created: datetime | None = None
    #: True when the author is the requester (customer) rather than an agent / developer.
    by_customer: bool = False


@dataclass(frozen=True)
class Ticket:
    """A helpdesk ticket with its conversation, normalised across helpdesks."""

    id: str
    helpdesk: str  # "zendesk", "freshdesk", "django-helpdesk"
    subject: str
    description: str
    status: str  # normalised: new, open, pending, hold, solved, closed
    priority: str | None
    requester: str | None
    requester_email: str | None
    organization: str | None
    tags: tuple[str, ...] = ()
    custom_fields: dict[str, object] = field(default_factory=dict)
    comments: tuple[Comment, ...] = ()
    url: str | None = None
    locale: str | None = None
    created: datetime | None = None
    updated: datetime | None = None
    #: Opaque value the helpdesk uses for optimistic concurrency (Zendesk updated_stamp).
    version: str | None = None
    #: The requester's standing, for policy 003 (only active admins of an account may open
    #: tickets). ``None`` / empty where the helpdesk does not report it.
    requester_active: bool | None = None
    #: The helpdesk's own role of the requester (Zendesk: end-user, agent, admin — staff
    #: roles, not the customer's role in their own account).
    requester_role: str | None = None
    requester_tags: tuple[str, ...] = ()
    requester_fields: dict[str, object] = field(default_factory=dict)
    #: Tags of the ticket's organization (the mappings' ``tiers.organization_tags``).
    organization_tags: tuple[str, ...] = ()
    #: The requester's IANA time zone where the helpdesk reports one (Zendesk's
    #: ``iana_time_zone``; Freshdesk's contact ``time_zone``, mapped from its Rails name, read
    #: by ``get_ticket_for_escalation`` only): a tier whose hours are the customer's counts them there.
    requester_time_zone: str | None = None
    #: Whether the ticket's last change was the bridge's own, where a read back after the
    #: bridge's writes can tell (Zendesk's last audit); None where it is not known.
    last_change_by_bridge: bool | None = None

    @property
    def is_closed(self) -> bool:
        return self.status in ("solved", "closed")


@dataclass(frozen=True)
class Issue:
    """A JIRA issue, identified by its immutable id (keys change when issues move)."""

    id: str
    key: str
    summary: str
    issue_type: str
    status: str
    status_category: str  # "new", "indeterminate", "done"
    priority: str | None
    labels: tuple[str, ...] = ()
    resolution: str | None = None
    fix_versions: tuple["Version", ...] = ()
    updated: datetime | None = None
    url: str | None = None
    properties: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Version:
    """A JIRA project version (a release)."""

    id: str
    name: str
    released: bool = False
    release_date: str | None = None  # yyyy-MM-dd as JIRA gives it


@dataclass(frozen=True)
class ErrorIssue:
    """An error-tracker issue (a group of events): a Sentry issue or a Bugsink issue.

    ``status`` uses Sentry's words whatever the tracker: ``unresolved``, ``resolved``,
    ``ignored`` (Bugsink: muted) or ``resolvedInNextRelease``, so the regression check in
    sync reads every tracker alike. ``id`` is Sentry's numeric id or Bugsink's UUID;
    ``short_id`` Sentry's short id (``BACKEND-1A2``) or Bugsink's friendly id
    (``BACKEND-1``); ``tracker`` names the service (``sentry`` or ``bugsink``).
    """

    id: str
    short_id: str
    title: str
    culprit: str | None
    level: str | None
    status: str
    permalink: str
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    count: int = 0
    user_count: int = 0
    project: str | None = None
    tracker: str = "sentry"


#: The name the Sentry-only bridge used; the same class.
SentryIssue = ErrorIssue
