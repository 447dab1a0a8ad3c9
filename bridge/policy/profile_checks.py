"""Checks across the keys of a validated policy profile.

pydantic checks the form of each key (:mod:`bridge.policy.profiles`); these check how the
keys fit together: default severity and tier exist, the matrix is complete and yields every
severity, subject rules and targets name known severities, ``same_as`` points at a tier that
defines its own hours, after-hours rules name known severities and tiers. Pure: the caller
(:func:`bridge.mapping.load_profile`) says which file set each key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bridge.errors import MappingError
from bridge.policy.profiles import NAME_FORM, TIER_NAMES, Matrix, Profile

__all__ = ["check_profile"]


def check_profile(profile: Profile, file_of: Callable[[str], str]) -> None:
    """Check how the keys of a validated ``profile`` fit together (pydantic checked each form).

    ``file_of(key_path)`` names the file that set a key (a profile may extend another), so
    the :class:`MappingError` raised for the first problem names the file to fix.
    """

    def fail(path: str, problem: str) -> None:
        raise MappingError(file_of(path), path, problem)

    severities = list(profile.severities)
    valid = "expected one of " + ", ".join(severities)
    if not severities:
        fail("severities", "empty; expected the severity names, highest first")
    for i, name in enumerate(severities):
        if not NAME_FORM.match(name):
            fail(f"severities[{i}]", f"{name!r}: expected lower case words joined by hyphens")
    if len(set(severities)) != len(severities):
        fail("severities", "a severity is listed twice")
    if profile.default_severity not in severities:
        fail("default_severity", f"{profile.default_severity!r} is not a severity; {valid}")
    if profile.default_tier not in profile.tiers:
        fail("default_tier", f"unknown tier {profile.default_tier!r}; expected one of "
             + ", ".join(profile.tiers))

    if profile.matrix is not None:
        _check_matrix(profile.matrix, severities, fail)

    for i, rule in enumerate(profile.subject_rules):
        if rule.severity not in severities:
            fail(f"subject_rules[{i}].severity", f"unknown severity {rule.severity!r}; {valid}")

    for tier_name, tier in profile.tiers.items():
        base = f"tiers.{tier_name}"
        if not NAME_FORM.match(tier_name):
            fail(base, "tier names are lower case words joined by hyphens, e.g. " + ", ".join(TIER_NAMES))
        if tier.same_as is not None:
            if tier.same_as not in profile.tiers:
                fail(f"{base}.same_as", f"unknown tier {tier.same_as!r}; expected one of "
                     + ", ".join(t for t in profile.tiers if t != tier_name))
            if profile.tiers[tier.same_as].same_as is not None or tier.same_as == tier_name:
                fail(f"{base}.same_as", "must name a tier that defines its own hours and targets")
            if tier.hours is not None or tier.targets or tier.best_effort:
                fail(base, "same_as takes another tier whole; remove hours, targets and best_effort")
            continue
        if tier.best_effort:
            if tier.targets:
                fail(f"{base}.targets", "a best-effort tier has no targets; remove them")
            continue
        if tier.hours is None:
            fail(f"{base}.hours", "missing; expected 24x7 or {timezone, weekly, holidays}")
        for severity in severities:
            if severity not in tier.targets:
                fail(f"{base}.targets.{severity}",
                     "missing; every severity needs {first_response, status_update} or best-effort")
        for severity in tier.targets:
            if severity not in severities:
                fail(f"{base}.targets.{severity}", f"unknown severity {severity!r}; {valid}")

    if profile.after_hours is not None:
        rule = profile.after_hours
        for i, severity in enumerate(rule.severities):
            if severity not in severities:
                fail(f"after_hours.severities[{i}]", f"unknown severity {severity!r}; {valid}")
        for i, tier_name in enumerate(rule.tiers or ()):
            if tier_name not in profile.tiers:
                fail(f"after_hours.tiers[{i}]", f"unknown tier {tier_name!r}; expected one of "
                     + ", ".join(profile.tiers))


def _check_matrix(matrix: Matrix, severities: list[str], fail: Any) -> None:
    valid = "expected one of " + ", ".join(severities)
    if not matrix.urgencies or not matrix.impacts:
        fail("matrix", "urgencies and impacts must each list at least one level")
    for urgency in matrix.urgencies:
        row = matrix.cells.get(urgency)
        if row is None:
            fail(f"matrix.cells.{urgency}", "missing row; expected {"
                 + ", ".join(f"{i}: SEVERITY" for i in matrix.impacts) + "}")
            return
        for impact in matrix.impacts:
            if impact not in row:
                fail(f"matrix.cells.{urgency}.{impact}", f"missing cell; {valid}")
            if row[impact] not in severities:
                fail(f"matrix.cells.{urgency}.{impact}", f"unknown severity {row[impact]!r}; {valid}")
        for impact in row:
            if impact not in matrix.impacts:
                fail(f"matrix.cells.{urgency}.{impact}",
                     "unknown impact; expected one of " + ", ".join(matrix.impacts))
    for urgency in matrix.cells:
        if urgency not in matrix.urgencies:
            fail(f"matrix.cells.{urgency}",
                 "unknown urgency; expected one of " + ", ".join(matrix.urgencies))
    used = {s for row in matrix.cells.values() for s in row.values()}
    for severity in severities:
        if severity not in used:
            fail("matrix.cells", f"severity {severity!r} is missing from the matrix; every "
                 "severity must be the result of at least one urgency x impact cell")
