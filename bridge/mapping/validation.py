"""Checks across the keys of the mappings file, and between the mappings and a profile.

pydantic checks the form of each key (:mod:`bridge.mapping.sections`); these check how keys
fit together once the file is validated: every subject rule and helpdesk priority names a
severity the file maps, every template the status map names exists and parses, and — once
the profile is loaded too — the mappings use the profile's severity and tier names. Each
problem is a :class:`~bridge.errors.MappingError` naming the file and the key to fix.
"""

from __future__ import annotations

import json
from collections.abc import Collection

from bridge.errors import MappingError
from bridge.mapping.models import Mappings

#: Templates the bridge renders outside the status map (escalate, SLA cadence); they must exist.
REQUIRED_TEMPLATES: tuple[str, ...] = ("acknowledgement", "status_update")

#: Mapped fields whose value the bridge computes instead of reading it from the ticket.
COMPUTED_FIELDS: frozenset[str] = frozenset({"tier", "affected_count"})


def check_references(mappings: Mappings) -> None:
    """Raise a :class:`MappingError` for the first cross-reference of ``mappings`` that fails.

    Templates are parsed here, so a broken one stops the run at start, not mid-sync.
    """
    file = mappings.file
    for name, field in mappings.fields.items():
        if not field.source and field.attribute is None and name not in COMPUTED_FIELDS:
            raise MappingError(
                file, f"fields.{name}",
                "expected a source per helpdesk (e.g. source: {zendesk: \"360001\"}) or an "
                f"attribute; only {', '.join(sorted(COMPUTED_FIELDS))} are computed",
            )
    severities = ", ".join(mappings.severities)
    for i, rule in enumerate(mappings.subject_rules):
        if rule.severity not in mappings.severities:
            raise MappingError(file, f"subject_rules[{i}].severity", f"expected one of the severities: {severities}")
    for priority, severity in mappings.helpdesk_priority.items():
        if severity not in mappings.severities:
            raise MappingError(file, f"helpdesk_priority.{priority}", f"expected one of the severities: {severities}")
    templates = mappings.templates
    for i, row in enumerate(mappings.status_map):
        if row.template is not None and not templates.exists(row.template):
            raise MappingError(
                file, f"status_map[{i}].template",
                f"no template {row.template!r} ({row.template}.txt.j2) for locale "
                f"{mappings.messages.default_locale!r}",
            )
    for name in REQUIRED_TEMPLATES:
        if not templates.exists(name):
            raise MappingError(file, "templates", f"the required template {name}.txt.j2 is missing")
    templates.check()


def profile_problems(mappings: Mappings, severities: Collection[str], tiers: Collection[str] = ()) -> list[MappingError]:
    """Mismatches between ``mappings`` and the selected profile's severity and tier names.

    ``severities`` / ``tiers`` come from :func:`bridge.mapping.load_profile`; escalate and
    ``bridge doctor`` run this once both are loaded.
    """
    file, profile = mappings.file, mappings.profile
    problems = [
        MappingError(file, f"severities.{name}", f"severity {name!r} of profile {profile!r} has no JIRA priority")
        for name in severities if name not in mappings.severities
    ]
    problems += [
        MappingError(file, f"severities.{name}",
                     f"not a severity of profile {profile!r} (expected one of {', '.join(severities)})")
        for name in mappings.severities if name not in severities
    ]
    if tiers:
        used = {"tiers.default": mappings.tiers.default}
        used |= {f"tiers.organizations[{json.dumps(o)}]": t for o, t in mappings.tiers.organizations.items()}
        used |= {f"tiers.organization_tags.{tag}": t for tag, t in mappings.tiers.organization_tags.items()}
        problems += [
            MappingError(file, where,
                         f"tier {tier!r} is not in profile {profile!r} (expected one of {', '.join(tiers)})")
            for where, tier in used.items() if tier not in tiers
        ]
    return problems


__all__ = ["COMPUTED_FIELDS", "REQUIRED_TEMPLATES", "check_references", "profile_problems"]
