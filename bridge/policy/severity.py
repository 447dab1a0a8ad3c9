"""Which severity a ticket has under a profile, and why. Pure: no I/O.

:func:`classify` takes every signal a caller may have and applies the first that decides,
in this order:

1. ``explicit`` -- a person chose it (``bridge escalate --severity S``): always wins.
2. ``customer_override`` -- the customer's own choice of severity, *only where the profile
   allows it* (``customer_override: true``, policy 002: "you may override the originally
   assigned priority"). It beats everything the bridge would assign (matrix, subject,
   helpdesk priority, default) but not an agent's explicit choice, because the agent's
   ``--severity`` is how support answers an override it disagrees with. Where the profile
   does not allow it, the customer's choice is ignored and the reason says so.
3. ``urgency`` x ``impact`` -- the profile's matrix (both must be given).
4. ``subject`` -- the caller's extra subject rules first (team configuration is more
   specific), then the profile's (``[Emergency]`` -> emergency in policy 000).
5. ``ticket_priority`` -- the helpdesk's priority through ``priority_map`` (helpdesk
   priority -> severity, from the caller's mappings); a priority the map does not name
   falls through.
6. the profile's ``default_severity``.

Names are matched case-insensitively with spaces and underscores read as hyphens
(``"Severity 1"`` is ``severity-1``). An unknown severity, urgency or impact raises
:class:`bridge.errors.UsageError` listing the valid names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from bridge.errors import UsageError
from bridge.policy.profiles import Profile, SubjectRule

__all__ = ["Classification", "Source", "classify", "escalate_to_emergency", "highest"]

Source = Literal["explicit", "customer-override", "matrix", "subject", "priority", "default", "escalate"]


@dataclass(frozen=True)
class Classification:
    """A severity, which signal decided it (``source``) and a sentence saying why."""

    severity: str
    source: Source
    reason: str


def highest(profile: Profile) -> str:
    """The profile's highest severity (the first it lists)."""
    return profile.highest


def _level(name: str, valid: Sequence[str], what: str, profile: Profile) -> str:
    normal = "-".join(str(name).strip().lower().replace("_", " ").split())
    if normal not in valid:
        raise UsageError(
            f"profile {profile.name!r} has no {what} {name!r}",
            hint=f"valid {what} values: " + ", ".join(valid),
        )
    return normal


def classify(
    profile: Profile,
    *,
    explicit: str | None = None,
    urgency: str | None = None,
    impact: str | None = None,
    subject: str | None = None,
    ticket_priority: str | None = None,
    priority_map: Mapping[str, str] | None = None,
    customer_override: str | None = None,
    subject_rules: Sequence[SubjectRule] = (),
) -> Classification:
    """Decide a ticket's severity under ``profile`` (order and semantics: module docstring).

    Every name given is validated even when an earlier signal decides, so a typo in a
    mapping surfaces at once instead of on the day it would have mattered.
    """
    explicit_name = profile.check_severity(explicit) if explicit is not None else None
    override_name = profile.check_severity(customer_override) if customer_override else None
    matrix_cell = _matrix_cell(profile, urgency, impact)
    for rule in subject_rules:
        profile.check_severity(rule.severity)
    mapped = _map_priority(profile, ticket_priority, priority_map)

    ignored = ""
    if override_name is not None and not profile.customer_override:
        ignored = (
            f"; the customer's choice {override_name} is ignored: profile "
            f"{profile.name} does not let customers override the severity"
        )

    if explicit_name is not None:
        return Classification(explicit_name, "explicit", f"chosen explicitly as {explicit_name}{ignored}")
    if override_name is not None and profile.customer_override:
        return Classification(
            override_name,
            "customer-override",
            f"the customer chose {override_name}, and profile {profile.name} lets customers "
            "override the assigned severity",
        )
    if matrix_cell is not None:
        (u, i), severity = matrix_cell
        return Classification(severity, "matrix", f"urgency {u} x impact {i} gives {severity}{ignored}")
    if subject:
        for rule in (*subject_rules, *profile.subject_rules):
            if rule.matches(subject):
                severity = profile.check_severity(rule.severity)
                return Classification(severity, "subject", f"the subject {rule.describe()}{ignored}")
    if mapped is not None:
        return Classification(
            mapped, "priority", f"the ticket's priority {ticket_priority!r} maps to {mapped}{ignored}"
        )
    return Classification(
        profile.default_severity,
        "default",
        f"nothing else decided; {profile.default_severity} is the profile's default{ignored}",
    )


def _matrix_cell(
    profile: Profile, urgency: str | None, impact: str | None
) -> tuple[tuple[str, str], str] | None:
    if urgency is None and impact is None:
        return None
    if profile.matrix is None:
        raise UsageError(
            f"profile {profile.name!r} has no urgency x impact matrix",
            hint="give a severity instead: " + ", ".join(profile.severities),
        )
    if urgency is None or impact is None:
        raise UsageError(
            "the urgency x impact matrix needs both an urgency and an impact",
            hint=f"urgency: {', '.join(profile.matrix.urgencies)}; impact: {', '.join(profile.matrix.impacts)}",
        )
    u = _level(urgency, profile.matrix.urgencies, "urgency", profile)
    i = _level(impact, profile.matrix.impacts, "impact", profile)
    return (u, i), profile.matrix.cells[u][i]


def _map_priority(
    profile: Profile, ticket_priority: str | None, priority_map: Mapping[str, str] | None
) -> str | None:
    if not priority_map:
        return None
    # Validate the whole map: it comes from a mapping file and every entry must make sense.
    by_priority = {
        str(key).strip().casefold(): profile.check_severity(value) for key, value in priority_map.items()
    }
    if ticket_priority is None:
        return None
    return by_priority.get(str(ticket_priority).strip().casefold())


def escalate_to_emergency(profile: Profile, current: str) -> Classification:
    """The Escalate button (policy 000): move ``current`` to the profile's highest severity.

    A ticket already at the highest severity stays there; the reason says so (policy 000
    shows no Escalate button on such a ticket). Paging on-call is the caller's job.
    """
    now = profile.check_severity(current)
    top = profile.highest
    if now == top:
        return Classification(top, "escalate", f"already at the highest severity, {top}")
    return Classification(top, "escalate", f"escalated from {now} to the highest severity, {top}")
