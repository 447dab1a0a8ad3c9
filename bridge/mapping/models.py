"""The mappings file as one validated object, with the pure look-ups escalate and sync use.

``mappings/default.yaml`` holds every decision that differs between support teams and is not
a secret or an address: severity names and their JIRA priorities, the subject rules, which
helpdesk field lands in which JIRA field, the JIRA project and issue types, the tier of each
organization, who may escalate, extra redaction patterns, the sync status map, the comment
bridging switches, Sentry and monitoring settings (the sections: :mod:`bridge.mapping.sections`).
The support *profile* (severity order, tiers, SLA targets) is a file of its own in
``mappings/profiles/``; this file only names it.

Everything has a default, so an empty file (or none: the packaged defaults) works. Build a
:class:`Mappings` with :func:`bridge.mapping.load_mappings`, which validates the file, applies
the selected profile's ``per_profile`` names and runs the cross-checks of
:mod:`bridge.mapping.validation`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, PrivateAttr, field_validator

from bridge.errors import MappingError
from bridge.file_schema import StrictModel
from bridge.mapping.sections import (
    CommentBridging,
    EscalationRules,
    FieldMapping,
    JiraMapping,
    MessageSettings,
    MonitoringMapping,
    ProfileOverrides,
    RedactionRules,
    SentryMapping,
    SeverityMapping,
    StatusFacts,
    StatusRule,
    SubjectRule,
    TicketKeyField,
    TierMapping,
    default_fields,
    default_per_profile,
    default_severities,
    default_status_map,
    status_facts,
)

if TYPE_CHECKING:
    from bridge.messages import Messages
    from bridge.models import Issue

#: The file a mappings directory holds.
MAPPINGS_FILE = "default.yaml"


class Mappings(StrictModel):
    """The validated mappings file, with the selected profile's overrides applied.

    Build it with :func:`bridge.mapping.load_mappings` (or ``load_mappings_for``); constructing it
    directly skips the profile overrides and the template checks.
    """

    profile: str = Field(default="emergency-to-low", pattern=r"^[a-z0-9][a-z0-9_-]*$")
    severities: dict[str, SeverityMapping] = Field(default_factory=default_severities)
    helpdesk_priority: dict[Literal["urgent", "high", "normal", "low"], str] = Field(
        default_factory=lambda: {"urgent": "emergency", "high": "high",
                                 "normal": "normal", "low": "low"})
    subject_rules: list[SubjectRule] = Field(
        default_factory=lambda: [SubjectRule(contains="[Emergency]", severity="emergency")])
    fields: dict[str, FieldMapping] = Field(default_factory=default_fields)
    ticket_key_field: TicketKeyField = Field(default_factory=TicketKeyField)
    jira: JiraMapping = Field(default_factory=JiraMapping)
    tiers: TierMapping = Field(default_factory=TierMapping)
    escalation: EscalationRules = Field(default_factory=EscalationRules)
    redaction: RedactionRules = Field(default_factory=RedactionRules)
    #: Ordered rows; the first whose condition holds applies.
    status_map: list[StatusRule] = Field(default_factory=default_status_map)
    comments: CommentBridging = Field(default_factory=CommentBridging)
    sentry: SentryMapping = Field(default_factory=SentryMapping)
    monitoring: MonitoringMapping = Field(default_factory=MonitoringMapping)
    messages: MessageSettings = Field(default_factory=MessageSettings)
    per_profile: dict[str, ProfileOverrides] = Field(default_factory=default_per_profile)

    _directory: Path | None = PrivateAttr(default=None)
    _file: str = PrivateAttr(default=MAPPINGS_FILE)

    @field_validator("status_map")
    @classmethod
    def _unique_row_names(cls, rows: list[StatusRule]) -> list[StatusRule]:
        seen: set[str] = set()
        for row in rows:
            if row.name in seen:
                raise ValueError(f"expected unique row names, {row.name!r} appears twice")
            seen.add(row.name)
        return rows

    # -- where it came from ---------------------------------------------------------
    @property
    def directory(self) -> Path | None:
        """The user mappings directory, or None for the packaged defaults."""
        return self._directory

    @property
    def file(self) -> str:
        """The mappings file as named in error messages."""
        return self._file

    @property
    def show_jira_key_to_customer(self) -> bool:
        return self.messages.show_jira_key_to_customer

    @property
    def sentry_project(self) -> str:
        """JIRA project for Sentry Tasks (defaults to the Bug project)."""
        return self.sentry.project or self.jira.project

    @cached_property
    def templates(self) -> Messages:
        """The customer message templates: the user's first, then the packaged ones."""
        from bridge.mapping.load import packaged_mappings_dir
        from bridge.messages import Messages

        roots = []
        if self._directory is not None:
            roots.append(self._directory / "templates")
        roots.append(packaged_mappings_dir() / "templates")
        return Messages(
            roots,
            default_locale=self.messages.default_locale,
            show_jira_key=self.messages.show_jira_key_to_customer,
        )

    # -- pure look-ups the escalate and sync code use -------------------------------
    def severity_for_subject(self, subject: str) -> str | None:
        """Severity named by the first subject rule that matches ``subject``."""
        for rule in self.subject_rules:
            if rule.matches(subject):
                return rule.severity
        return None

    def severity_for_priority(self, priority: str | None) -> str | None:
        """Severity of a helpdesk priority (urgent/high/normal/low), case-insensitive."""
        if not priority:
            return None
        return self.helpdesk_priority.get(priority.strip().casefold())  # type: ignore[call-overload]

    def jira_priority(self, severity: str) -> str:
        """JIRA priority name for ``severity``; KeyError-free: unknown raises MappingError."""
        try:
            return self.severities[severity].jira_priority
        except KeyError:
            raise MappingError(
                self._file, f"severities.{severity}",
                f"no JIRA priority mapped for severity {severity!r} "
                f"(known: {', '.join(self.severities)})",
            ) from None

    def tier_for(self, organization: str | None, tags: Iterable[str] = ()) -> str:
        """Tier of an organization (see :meth:`TierMapping.tier_for`)."""
        return self.tiers.tier_for(organization, tags)

    def status_rule_for(self, issue: Issue, *, reopened: bool = False) -> StatusRule | None:
        """The first status-map row that holds for ``issue``; None = nothing to announce.

        ``reopened``: the Bug left a done state since the last sync (the planner knows).
        """
        facts = status_facts(issue, reopened=reopened)
        # Remembered by what the conditions read: a sync pass asks this of every Bug it
        # plans, and Bugs come in a handful of states. Per status map: a copy of these
        # mappings with a map of its own starts afresh.
        rows, memo = self._status_memo
        if rows is not self.status_map:
            del self.__dict__["_status_memo"]
            rows, memo = self._status_memo
        if facts not in memo:
            memo[facts] = next((row for row in self.status_map if row.when.holds_for(facts)), None)
        return memo[facts]

    @cached_property
    def _status_memo(self) -> tuple[list[StatusRule], dict[StatusFacts, StatusRule | None]]:
        # Kept in the instance's __dict__ (pydantic's private attributes cost microseconds
        # a read); a copy carries it along with the map it was made for.
        return self.status_map, {}

    def profile_problems(
        self, severities: Collection[str], tiers: Collection[str] = ()
    ) -> list[MappingError]:
        """Mismatches between these mappings and the selected profile's names.

        ``severities`` / ``tiers`` come from :func:`bridge.mapping.load_profile`; see
        :func:`bridge.mapping.validation.profile_problems`.
        """
        from bridge.mapping.validation import profile_problems

        return profile_problems(self, severities, tiers)


__all__ = ["MAPPINGS_FILE", "Mappings"]
