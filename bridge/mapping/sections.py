"""The sections of the mappings file (``mappings/default.yaml``) and their built-in values.

Each section is a :class:`~bridge.file_schema.StrictModel`: frozen, unknown keys refused
with a did-you-mean. The whole file is :class:`bridge.mapping.models.Mappings`; the
built-in values below are what an empty file means (``default.yaml`` states them again,
and a test checks that the two agree).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from pydantic import Field, field_validator, model_validator

from bridge.file_schema import StrictModel
from bridge.policy.profiles import SubjectRule

if TYPE_CHECKING:
    from bridge.models import Issue, Ticket

#: The helpdesks the bridge talks to; each may read a mapped field from its own key.
HelpdeskKind = Literal["zendesk", "freshdesk", "django-helpdesk"]
HELPDESK_KINDS: tuple[str, ...] = ("zendesk", "freshdesk", "django-helpdesk")

#: Helpdesk ticket statuses, normalised as in :class:`bridge.models.Ticket`.
HelpdeskStatus = Literal["new", "open", "pending", "hold", "solved", "closed"]

_JIRA_TARGET = re.compile(r"component|label|customfield_\d+")
_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]*")


def _as_list(value: Any) -> Any:
    """Let a single value stand for a one-element list (``status: Done``)."""
    return [value] if isinstance(value, (str, bool)) else value


class SeverityMapping(StrictModel):
    """What one severity of the profile becomes in JIRA."""

    jira_priority: str = Field(min_length=1)
    #: An extra label put on the Bug, e.g. ``sev-emergency``.
    label: str | None = None


class FieldMapping(StrictModel):
    """Where one helpdesk field is read from, per helpdesk kind, and where it goes in JIRA.

    ``source`` names the key in :attr:`Ticket.custom_fields` for each helpdesk (Zendesk
    ticket field id ``"360001"``, Freshdesk ``cf_category``, a django-helpdesk field name);
    ``attribute`` reads a normalised :class:`~bridge.models.Ticket` attribute instead (the
    organization). A field with neither is computed by the bridge (``tier``,
    ``affected_count``). ``to`` is ``component``, ``label`` (``<label_prefix><value>``) or a
    JIRA custom field id.
    """

    to: str
    source: dict[HelpdeskKind, str] = Field(default_factory=dict)
    attribute: Literal["organization", "priority", "requester", "locale"] | None = None
    label_prefix: str = ""

    @field_validator("to")
    @classmethod
    def _target_form(cls, value: str) -> str:
        if not _JIRA_TARGET.fullmatch(value):
            raise ValueError("expected component, label or a custom field id like customfield_10101")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> FieldMapping:
        if self.source and self.attribute:
            raise ValueError("expected either source (per helpdesk) or attribute, not both")
        return self

    def source_key(self, helpdesk: str) -> str | None:
        """The custom-field key this field is read from on ``helpdesk``, if any."""
        return self.source.get(helpdesk)  # type: ignore[call-overload]

    def read(self, ticket: Ticket) -> object | None:
        """The field's value on ``ticket`` (None when the ticket or helpdesk lacks it)."""
        if self.attribute is not None:
            return getattr(ticket, self.attribute, None)
        key = self.source_key(ticket.helpdesk)
        return ticket.custom_fields.get(key) if key is not None else None


class TicketKeyField(StrictModel):
    """Where the JIRA key is written back on the ticket: a tag, a custom field, or both."""

    #: Tag ``<tag_prefix><key>`` in lower case (Zendesk tags are lower case); "" = no tag.
    tag_prefix: str = "jira_"
    #: Custom field per helpdesk that receives the key.
    field: dict[HelpdeskKind, str] = Field(default_factory=lambda: {"zendesk": "360004"})

    @model_validator(mode="after")
    def _somewhere(self) -> TicketKeyField:
        if not self.tag_prefix and not self.field:
            raise ValueError("expected a tag_prefix or a field: the JIRA key must land somewhere")
        return self

    def tag_for(self, jira_key: str) -> str | None:
        """The ticket tag carrying ``jira_key`` (None when tags are not used)."""
        return f"{self.tag_prefix}{jira_key}".lower() if self.tag_prefix else None


class JiraMapping(StrictModel):
    """Names in the JIRA project the bridge files into (``bridge doctor`` checks each)."""

    project: str = Field(default="SUP", pattern=r"^[A-Z][A-Z0-9_]{0,19}$")
    bug_type: str = "Bug"
    task_type: str = "Task"
    relates_link: str = "Relates"
    #: Prefix of the bridge's own labels, e.g. the deterministic ``bridge-zendesk-123``.
    label_prefix: str = Field(default="bridge", pattern=r"^[A-Za-z0-9_-]+$")
    #: Number field on the Bug holding how many customer tickets are linked to it.
    affected_customers_field: str = Field(default="customfield_10100", pattern=r"^customfield_\d+$")


class TierMapping(StrictModel):
    """The support tier of each organization (policies 002/003 differ per tier)."""

    default: str = "standard"
    organizations: dict[str, str] = Field(default_factory=dict)
    #: An organization tag on the helpdesk (Zendesk org tag ``premium``) -> tier.
    organization_tags: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _tier_names(self) -> TierMapping:
        for tier in [self.default, *self.organizations.values(), *self.organization_tags.values()]:
            if not _SLUG.fullmatch(tier):
                raise ValueError(f"expected tier names in lower case like 'premium', got {tier!r}")
        return self

    def tier_for(self, organization: str | None, tags: Iterable[str] = ()) -> str:
        """Tier of an organization: by name (case-insensitive), else by tag, else the default."""
        if organization:
            by_name = {name.casefold(): tier for name, tier in self.organizations.items()}
            if (tier := by_name.get(organization.strip().casefold())) is not None:
                return tier
        by_tag = {tag.casefold(): tier for tag, tier in self.organization_tags.items()}
        for tag in tags:
            if (tier := by_tag.get(tag.casefold())) is not None:
                return tier
        return self.default


class EscalationRules(StrictModel):
    """Who may escalate, and which tickets may be escalated."""

    #: E-mail addresses or user names; empty (with allowed_groups empty) = anyone.
    allowed_actors: list[str] = Field(default_factory=list)
    #: Helpdesk group names whose agents may escalate.
    allowed_groups: list[str] = Field(default_factory=list)
    #: Policy 003: only tickets opened by an active admin of the account may be escalated.
    require_active_admin_requester: bool = False
    #: What marks a requester as an admin of their (customer) account: a user field of this
    #: key holding a true value (a Zendesk checkbox user field) or a user tag of this name.
    #: Helpdesk staff roles (Zendesk ``admin`` / ``agent``) are not used: they describe the
    #: vendor's own support staff, not a customer's standing in their account.
    account_admin_marker: str = Field(default="account_admin", pattern=r"^[A-Za-z0-9_.:-]+$")
    #: Solved / closed tickets are refused unless --force.
    refuse_closed: bool = True

    def actor_allowed(self, actor: str, groups: Iterable[str] = ()) -> bool:
        """Whether ``actor`` (member of ``groups``) may escalate. Case-insensitive."""
        if not self.allowed_actors and not self.allowed_groups:
            return True
        if actor.casefold() in {a.casefold() for a in self.allowed_actors}:
            return True
        allowed = {g.casefold() for g in self.allowed_groups}
        return any(g.casefold() in allowed for g in groups)

    def requester_refusal(self, ticket: Ticket) -> str | None:
        """Why policy 003 refuses ``ticket``'s requester, or None when the rule allows it.

        With ``require_active_admin_requester``, the requester must belong to an account
        (the ticket has an organization), be active (not suspended, not deactivated) and
        carry ``account_admin_marker`` as a true user field or a user tag. A helpdesk that
        does not report the requester's standing is refused: the rule fails closed.
        """
        if not self.require_active_admin_requester:
            return None
        who = ticket.requester or "the requester"
        if ticket.requester_active is None:
            return f"{ticket.helpdesk} does not report whether {who} is an active account admin"
        if not ticket.organization:
            return f"{who} belongs to no customer account"
        if not ticket.requester_active:
            return f"{who} is not an active user"
        marker = self.account_admin_marker.casefold()
        flagged = any(str(k).casefold() == marker and _truthy(v) for k, v in ticket.requester_fields.items())
        tagged = any(t.casefold() == marker for t in ticket.requester_tags)
        if not (flagged or tagged):
            return f"{who} is not an admin of {ticket.organization}'s account"
        return None


def _truthy(value: object) -> bool:
    """A user-field value that means yes (checkbox true, or text like "yes" / "true" / "1")."""
    if isinstance(value, str):
        return value.strip().casefold() in ("true", "yes", "1", "y")
    return value is True or (isinstance(value, int) and not isinstance(value, bool) and value == 1)


class RedactionPattern(StrictModel):
    """A team-specific PII pattern, redacted as ``[redacted <name>]``."""

    name: str = Field(pattern=r"^[A-Za-z0-9_ -]+$")
    regex: str

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"expected a valid regular expression: {exc}") from None
        return value


class RedactionRules(StrictModel):
    extra_patterns: list[RedactionPattern] = Field(default_factory=list)
    #: E-mail domains that are not PII (the vendor's own support address), kept as is.
    keep_domains: list[str] = Field(default_factory=list)


class StatusCondition(StrictModel):
    """What a JIRA issue must look like for a status-map row to apply; every key must hold.

    Names compare case-insensitively. ``fix_version``: ``released`` (some fix version is
    released), ``unreleased`` (has fix versions, none released), ``none`` (no fix version).
    ``reopened`` is true when the Bug left a done state since the last sync (the planner
    knows; :meth:`Mappings.status_rule_for` takes it as an argument).
    """

    status: list[str] | None = None
    status_category: list[Literal["new", "indeterminate", "done"]] | None = None
    resolution: list[str] | None = None
    fix_version: Literal["released", "unreleased", "none"] | None = None
    reopened: bool | None = None

    @field_validator("status", "status_category", "resolution", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return _as_list(value)

    def holds(self, issue: Issue, *, reopened: bool = False) -> bool:
        """Whether ``issue`` looks like this condition asks (see the class docstring)."""
        return self.holds_for(status_facts(issue, reopened=reopened))

    def holds_for(self, facts: StatusFacts) -> bool:
        """:meth:`holds`, on what it reads of an issue (:func:`status_facts`)."""
        if self.reopened is not None and self.reopened != facts.reopened:
            return False
        if self.fix_version is not None and self.fix_version != facts.fix_version:
            return False
        return (_within(facts.status, self._folded[0]) and _within(facts.status_category, self._folded[1])
                and _within(facts.resolution, self._folded[2]))

    @cached_property
    def _folded(self) -> tuple[frozenset[str] | None, ...]:
        # The names case-folded once, not at each of the thousands of checks of a sync pass.
        return tuple(None if names is None else frozenset(n.casefold() for n in names)
                     for names in (self.status, self.status_category, self.resolution))


class StatusFacts(NamedTuple):
    """All a :class:`StatusCondition` reads of an issue: equal facts, equal answers (so
    the answers can be remembered by them)."""

    status: str | None
    status_category: str | None
    resolution: str | None
    fix_version: Literal["released", "unreleased", "none"]
    reopened: bool


def status_facts(issue: Issue, *, reopened: bool = False) -> StatusFacts:
    """What :meth:`StatusCondition.holds_for` reads of ``issue``; ``reopened`` as there."""
    versions = issue.fix_versions
    return StatusFacts(
        status=issue.status.casefold() if issue.status is not None else None,
        status_category=issue.status_category.casefold() if issue.status_category is not None else None,
        resolution=issue.resolution.casefold() if issue.resolution is not None else None,
        fix_version=("none" if not versions else "released" if any(v.released for v in versions)
                     else "unreleased"),
        reopened=reopened,
    )


def _within(folded_value: str | None, folded_names: frozenset[str] | None) -> bool:
    return folded_names is None or (folded_value is not None and folded_value in folded_names)


class StatusRule(StrictModel):
    """One row of the sync status map: a JIRA state -> what the customer's ticket shows.

    ``name`` identifies the announced state (the sync engine records it as the ticket's last
    announced state, so one state change yields one message). ``template`` is rendered as a
    public reply when ``public`` is true, as an internal note otherwise; no template and not
    public means an internal note written by the engine for the agent only.
    """

    name: str = Field(pattern=r"^[a-z0-9_-]+$")
    when: StatusCondition
    helpdesk_status: HelpdeskStatus | None = None
    template: str | None = None
    public: bool = True

    @model_validator(mode="after")
    def _public_needs_text(self) -> StatusRule:
        if self.public and self.template is None:
            raise ValueError("expected a template for a public row (or public: false)")
        return self


def default_status_map() -> list[StatusRule]:
    rows: list[dict[str, Any]] = [
        # A reopened Bug comes first: its status may look like any in-progress status.
        {"name": "reopened", "when": {"reopened": True},
         "helpdesk_status": "open", "template": "reopened"},
        # Released beats "fix ready": a release is the last thing that happens to a fix.
        {"name": "released", "when": {"status_category": ["done"], "resolution": ["Fixed", "Done"],
                                      "fix_version": "released"},
         "helpdesk_status": "solved", "template": "released"},
        {"name": "fix_ready", "when": {"status_category": ["done"], "resolution": ["Fixed", "Done"],
                                       "fix_version": "unreleased"},
         "helpdesk_status": "open", "template": "fix_ready"},
        # Closed without a fix: the agent decides what to tell the customer.
        {"name": "closed_unfixed", "when": {"status_category": ["done"],
                                            "resolution": ["Won't Fix", "Duplicate",
                                                           "Cannot Reproduce"]},
         "public": False},
        {"name": "in_qa", "when": {"status": ["In QA"]},
         "helpdesk_status": "open", "template": "in_qa"},
        {"name": "in_progress", "when": {"status": ["In Progress"]},
         "helpdesk_status": "open", "template": "in_progress"},
    ]
    return [StatusRule.model_validate(row) for row in rows]


class CommentBridging(StrictModel):
    #: JIRA comments become internal notes on every linked ticket.
    jira_to_internal_notes: bool = True
    #: A JIRA comment starting with this marker goes to customers as a public reply.
    customer_marker: str = Field(default="[customer]", min_length=1)
    #: New public customer messages on a linked ticket become (redacted) comments on the Bug.
    customer_to_jira: bool = True


class SentryMapping(StrictModel):
    #: JIRA project for Tasks filed from Sentry issues; None = the jira.project.
    project: str | None = Field(default=None, pattern=r"^[A-Z][A-Z0-9_]{0,19}$")
    #: Base URL of a self-hosted Sentry, to recognise its issue URLs.
    self_hosted_base: str | None = Field(default=None, pattern=r"^https?://[^\s/]+")
    #: Short-id prefixes of the organization's projects (``BACKEND`` in ``BACKEND-3K``).
    known_projects: list[str] = Field(default_factory=list)
    #: A Sentry issue regressing while its Bug is done: comment on the Bug, reopen the Task,
    #: or only flag it in ``bridge status``.
    regression_action: Literal["comment", "reopen", "alert"] = "comment"


class MonitoringMapping(StrictModel):
    #: Environment reported with the bridge's own errors (config monitor.environment wins).
    environment: str = "production"


class MessageSettings(StrictModel):
    #: Locale used when a ticket has none and as the last fallback.
    default_locale: str = Field(default="en", pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")
    #: Customers normally get a neutral reference, not an internal JIRA key.
    show_jira_key_to_customer: bool = False


class ProfileOverrides(StrictModel):
    """Replacements that apply when one profile is selected (its own severity names)."""

    severities: dict[str, SeverityMapping] | None = None
    helpdesk_priority: dict[str, str] | None = None
    subject_rules: list[SubjectRule] | None = None


def default_severities() -> dict[str, SeverityMapping]:
    return {
        "emergency": SeverityMapping(jira_priority="Highest"),
        "high": SeverityMapping(jira_priority="High"),
        "normal": SeverityMapping(jira_priority="Medium"),
        "low": SeverityMapping(jira_priority="Low"),
    }


def default_fields() -> dict[str, FieldMapping]:
    def src(zendesk: str, freshdesk: str, django: str) -> dict[str, str]:
        return {"zendesk": zendesk, "freshdesk": freshdesk, "django-helpdesk": django}

    return {
        # A label, not a component: JIRA refuses components that do not exist yet, and a
        # new customer organization would make every escalation of theirs fail.
        "organization": FieldMapping(to="label", attribute="organization", label_prefix="org-"),
        "category": FieldMapping(
            to="customfield_10101", source=src("360001", "cf_category", "category")),
        "impacted_device_id": FieldMapping(
            to="customfield_10102", source=src("360002", "cf_impacted_device_id", "device_id")),
        "operating_system": FieldMapping(
            to="customfield_10103", source=src("360003", "cf_operating_system", "operating_system")),
        "tier": FieldMapping(to="customfield_10104"),
        "affected_count": FieldMapping(to="customfield_10100"),
    }


def default_per_profile() -> dict[str, ProfileOverrides]:
    return {
        "after-hours-critical": ProfileOverrides(
            severities={
                "critical": SeverityMapping(jira_priority="Highest"),
                "non-critical": SeverityMapping(jira_priority="Medium"),
            },
            helpdesk_priority={
                "urgent": "critical", "high": "non-critical",
                "normal": "non-critical", "low": "non-critical",
            },
            subject_rules=[SubjectRule(contains="[Emergency]", severity="critical")],
        ),
        "p1-p4-matrix": ProfileOverrides(
            severities={
                "p1": SeverityMapping(jira_priority="Highest"),
                "p2": SeverityMapping(jira_priority="High"),
                "p3": SeverityMapping(jira_priority="Medium"),
                "p4": SeverityMapping(jira_priority="Low"),
            },
            helpdesk_priority={"urgent": "p1", "high": "p2", "normal": "p3", "low": "p4"},
            subject_rules=[SubjectRule(contains="[Emergency]", severity="p1")],
        ),
        "severity-1-3": ProfileOverrides(
            severities={
                "severity-1": SeverityMapping(jira_priority="Highest"),
                "severity-2": SeverityMapping(jira_priority="High"),
                "severity-3": SeverityMapping(jira_priority="Medium"),
            },
            helpdesk_priority={
                "urgent": "severity-1", "high": "severity-2",
                "normal": "severity-3", "low": "severity-3",
            },
            subject_rules=[SubjectRule(contains="[Emergency]", severity="severity-1")],
        ),
    }


__all__ = [
    "HELPDESK_KINDS", "CommentBridging", "EscalationRules", "FieldMapping", "HelpdeskKind",
    "HelpdeskStatus", "JiraMapping", "MessageSettings", "MonitoringMapping", "ProfileOverrides",
    "RedactionPattern", "RedactionRules", "SentryMapping", "SeverityMapping", "StatusCondition",
    "StatusRule", "SubjectRule", "TicketKeyField", "TierMapping", "default_fields",
    "default_per_profile", "default_severities", "default_status_map",
]
