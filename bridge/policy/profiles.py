"""Support-policy profiles: a support policy as validated data.

A profile is a YAML file in ``mappings/profiles/`` (the packaged ones ship as
``bridge.mappings``; a team's own directory is searched first). It states what a
support policy document states, and nothing the code has to guess:

``severities``
    Names, highest first (``[emergency, high, normal, low]``). Lower case, hyphenated.
``default_severity`` / ``default_tier``
    Used when nothing else decides.
``matrix`` (optional)
    ``urgencies`` and ``impacts`` (highest first) and ``cells[urgency][impact] -> severity``.
    Every cell must be filled and every severity must appear in some cell.
``subject_rules``
    ``- {contains: "[Emergency]", severity: emergency}`` (case-insensitive text) or
    ``- {regex: "(?i)^urgent:", severity: high}`` (a Python regular expression); the same
    :class:`SubjectRule` as in the mappings file.
``customer_override``
    Whether the customer's own choice of severity overrides the assigned one (see
    :mod:`bridge.policy.severity`).
``tiers``
    ``free``, ``community``, ``trial``, ``standard``, ``premium``, ``enterprise`` (a profile
    defines those its document has; other lower-case names are allowed for teams' own
    tiers). Each tier is one of:

    * ``{best_effort: true}`` -- no SLA clock at all;
    * ``{same_as: premium}`` -- exactly another tier's hours and targets;
    * ``{hours: ..., targets: ...}``.

    ``hours`` is ``24x7`` or ``{timezone, weekly, holidays}``: ``timezone`` an IANA name or
    ``customer`` (the caller supplies the customer's zone; without one, ``fallback_timezone``
    is used, which is then required); ``weekly`` maps ``mon``..``sun`` or ranges like
    ``mon-fri`` to ``"09:00-17:00"``, a list of ranges, or ``closed``; ``holidays`` is
    ``{country: US, subdivision: CO, dates: [2025-12-24]}`` (ISO codes of the ``holidays``
    package, plus explicit dates).

    ``targets`` maps *every* severity to ``{first_response: DURATION, status_update:
    DURATION}`` (``status_update`` may be omitted or ``null`` where the document states no
    cadence) or to ``best-effort`` (no clock for that severity).
``after_hours`` (optional)
    ``{severities: [critical], first_response: 15m, status_update: 1h, tiers: [...]}``:
    for a ticket opened outside its tier's support hours with one of these severities, these
    wall-clock targets replace the tier's (policy 001's on-call rule).
``pause_while_waiting_on_customer``
    Whether the clocks stop while the ticket waits on the customer (default false).
``at_risk_share``
    Share of a target's time after which it counts as at risk (0 < x <= 1, default 0.75).
``extends``
    Another profile (a name, searched like any profile, or a path relative to this file)
    whose keys this one overrides by deep merge: mappings merge key by key, anything else
    (lists, strings, numbers) replaces; ``null`` drops an inherited optional value (e.g.
    ``status_update: null``). A team copies a line, not the file. A file in a team's
    directory may extend the packaged profile of its own name.

Durations (one syntax everywhere): a number and a unit, ``15m``, ``1h``, ``4bh``, ``1bd``
(:mod:`bridge.policy.durations`). On a 24x7 tier business time *is* wall time.

This module is the schema, nothing else: it reads no file. The checks across keys are in
:mod:`bridge.policy.profile_checks`.
:func:`bridge.mapping.load_profile` finds, reads and merges the files (``extends``) and
raises :class:`bridge.errors.MappingError` naming the file that holds the bad key (for an
``extends`` chain, the file that set it), the key path (``tiers.standard.hours.timezone``)
and the expected form.
"""

from __future__ import annotations

import re
from datetime import date
from functools import cached_property, lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_lib
from pydantic import ConfigDict, Field, PrivateAttr, field_validator, model_validator

from bridge.errors import UsageError
from bridge.file_schema import StrictModel
from bridge.policy.calendar import BusinessCalendar, parse_weekly_hours
from bridge.policy.durations import Duration, DurationField, parse_duration

__all__ = [
    "AfterHours",
    "Duration",
    "Holidays",
    "Hours",
    "Matrix",
    "Profile",
    "SubjectRule",
    "Target",
    "Tier",
    "NAME_FORM",
    "TIER_NAMES",
    "normal_name",
    "parse_duration",
]

#: The tier names scripts rely on; a profile defines the ones its document has.
TIER_NAMES = ("free", "community", "trial", "standard", "premium", "enterprise")

#: How severity and tier names are written: lower case words joined by hyphens.
NAME_FORM = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_CUSTOMER_ZONE = "customer"

# --------------------------------------------------------------------------------------
# The schema
# --------------------------------------------------------------------------------------


class _Strict(StrictModel):
    # Durations are plain dataclasses, validated by parse_duration.
    model_config = ConfigDict(arbitrary_types_allowed=True)


def known_zone(name: object) -> str | None:
    """``name`` when it is an IANA time zone this machine knows, else None: for a zone that
    comes with customer data (a requester's), where an unknown one means the fallback."""
    if not isinstance(name, str) or len(name) > 64:
        return None
    try:
        return _check_zone(name)
    except ValueError:
        return None


def _check_zone(name: str) -> str:
    if not isinstance(name, str) or not name:
        raise ValueError("expected an IANA time zone name such as America/Denver")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder of zones ("America")
        raise ValueError(
            f"unknown time zone {name!r}; expected an IANA name such as "
            "America/Los_Angeles or Europe/Warsaw"
        ) from None
    return name


class Holidays(_Strict):
    """Public holidays (``holidays`` package codes) and explicit closed dates."""

    country: str | None = None
    subdivision: str | None = None
    dates: tuple[date, ...] = ()

    @model_validator(mode="after")
    def _known_codes(self) -> Holidays:
        supported = holidays_lib.list_supported_countries()
        if self.country is None:
            if self.subdivision is not None:
                raise ValueError("a subdivision needs a country (ISO 3166 code, e.g. US)")
            return self
        if self.country not in supported:
            raise ValueError(
                f"unknown holiday country {self.country!r}; expected an ISO 3166 alpha-2 "
                "code the holidays package knows, e.g. US, CA, PL"
            )
        if self.subdivision is not None and self.subdivision not in supported[self.country]:
            raise ValueError(
                f"unknown subdivision {self.subdivision!r} of {self.country}; expected one of "
                + ", ".join(supported[self.country])
            )
        return self


class Hours(_Strict):
    """Support hours: always open, or a week of hours in a zone (or the customer's zone)."""

    always_open: bool = False
    timezone: str | None = None
    fallback_timezone: str | None = None
    weekly: dict[str, str | list[str]] = Field(default_factory=dict)
    holidays: Holidays = Field(default_factory=Holidays)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower().replace(" ", "") in (
            "24x7",
            "24x7x365",
        ):
            return {"always_open": True}
        if isinstance(value, str):
            raise ValueError(
                f"{value!r}: expected 24x7 or a mapping with timezone, weekly and holidays"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is None or value == _CUSTOMER_ZONE:
            return value
        return _check_zone(value)

    @field_validator("fallback_timezone")
    @classmethod
    def _fallback_zone(cls, value: str | None) -> str | None:
        return None if value is None else _check_zone(value)

    @field_validator("weekly")
    @classmethod
    def _week(cls, value: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
        parse_weekly_hours(value)
        return value

    @model_validator(mode="after")
    def _complete(self) -> Hours:
        if self.always_open:
            return self
        if self.timezone is None:
            raise ValueError("missing timezone: an IANA name such as America/Denver, or customer")
        if self.timezone == _CUSTOMER_ZONE and self.fallback_timezone is None:
            raise ValueError(
                "timezone: customer needs fallback_timezone (an IANA name) for customers "
                "whose zone is not known"
            )
        if not any(parse_weekly_hours(self.weekly)):
            raise ValueError("weekly has no opening hours; expected e.g. {mon-fri: '09:00-17:00'}")
        return self

    def calendar(self, customer_zone: str | None = None) -> BusinessCalendar:
        """The business calendar of these hours, for a customer in ``customer_zone``."""
        if self.always_open:
            return BusinessCalendar.always()
        zone = self.timezone
        if zone == _CUSTOMER_ZONE:
            zone = customer_zone or self.fallback_timezone
        assert zone is not None  # checked in _complete
        return BusinessCalendar.weekly(
            ZoneInfo(zone),
            self.weekly,
            country=self.holidays.country,
            subdivision=self.holidays.subdivision,
            closed_dates=self.holidays.dates,
        )


class Target(_Strict):
    """The targets of one severity in one tier; ``best_effort`` means no clock."""

    best_effort: bool = False
    first_response: DurationField | None = None
    status_update: DurationField | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() in ("best-effort", "best effort"):
            return {"best_effort": True}
        if isinstance(value, str):
            raise ValueError(
                f"{value!r}: expected best-effort or {{first_response: DURATION, "
                "status_update: DURATION}"
            )
        return value

    @model_validator(mode="after")
    def _complete(self) -> Target:
        if not self.best_effort and self.first_response is None:
            raise ValueError("missing first_response; expected e.g. 4bh, or best-effort")
        return self


class Tier(_Strict):
    """One support tier: best effort, an alias of another tier, or hours plus targets."""

    best_effort: bool = False
    same_as: str | None = None
    hours: Hours | None = None
    targets: dict[str, Target] = Field(default_factory=dict)


class Matrix(_Strict):
    """Urgency x impact -> severity (policy 002)."""

    urgencies: tuple[str, ...]
    impacts: tuple[str, ...]
    cells: dict[str, dict[str, str]]


class SubjectRule(StrictModel):
    """A ticket whose subject holds some text, or matches a regular expression, has a severity.

    The one rule type of profiles and the mappings file. Written as
    ``{contains: "[Emergency]", severity: emergency}`` (text, ignoring case) or
    ``{regex: "^URGENT\\b", severity: high}`` (a Python regular expression, case as written).
    The mappings' older long form ``{pattern: ..., match: contains|regex}`` is read as one
    of those; ``pattern`` without ``match`` is refused, because it meant text in mappings
    files and a regular expression in profiles.
    """

    severity: str
    contains: str | None = Field(default=None, min_length=1)
    regex: str | None = Field(default=None, min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _long_form(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "pattern" not in data:
            return data
        data = dict(data)
        pattern, match = data.pop("pattern"), data.pop("match", None)
        if match not in ("contains", "regex"):
            raise ValueError(
                "write contains: TEXT (text, any case) or regex: PATTERN (a regular expression)"
                if match is None else "expected match: contains or match: regex (or write contains: / regex:)")
        data[match] = pattern
        return data

    @model_validator(mode="after")
    def _one_test(self) -> SubjectRule:
        if (self.contains is None) == (self.regex is None):
            raise ValueError("expected exactly one of contains (text) or regex (a regular expression)")
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as exc:
                raise ValueError(f"expected a valid regular expression in regex: {exc}") from None
        return self

    def matches(self, subject: str) -> bool:
        """True when ``subject`` satisfies this rule (``contains`` ignores case)."""
        if self.contains is not None:
            return self.contains.casefold() in subject.casefold()
        assert self.regex is not None
        return re.search(self.regex, subject) is not None

    def describe(self) -> str:
        """The test in words, for explanations: ``contains '[Emergency]'`` or ``matches /^x/``."""
        return f"contains {self.contains!r}" if self.contains is not None else f"matches /{self.regex}/"


class AfterHours(_Strict):
    """Wall-clock targets for the listed severities when a ticket opens outside support hours."""

    severities: tuple[str, ...]
    first_response: DurationField
    status_update: DurationField | None = None
    #: Tiers the rule applies to; default: every tier with business hours.
    tiers: tuple[str, ...] | None = None

    @field_validator("first_response", "status_update")
    @classmethod
    def _wall(cls, value: Duration | None) -> Duration | None:
        if value is not None and value.kind != "wall":
            raise ValueError(
                f"{value.text!r}: after-hours targets run outside business hours, so they must "
                "be wall-clock durations such as 15m or 1h"
            )
        return value

    def as_target(self) -> Target:
        """These targets as a :class:`Target`."""
        return Target(first_response=self.first_response, status_update=self.status_update)


class Profile(_Strict):
    """A validated support-policy profile. Load with :func:`load_profile`."""

    name: str
    title: str = ""
    source: str = ""
    severities: tuple[str, ...]
    default_severity: str
    default_tier: str
    matrix: Matrix | None = None
    subject_rules: tuple[SubjectRule, ...] = ()
    customer_override: bool = False
    tiers: dict[str, Tier]
    after_hours: AfterHours | None = None
    pause_while_waiting_on_customer: bool = False
    at_risk_share: float = Field(default=0.75, gt=0, le=1)
    #: `bridge sync` posts the periodic status update to the customer when its cadence has
    #: come round (only where the profile has a status-update target at all).
    post_status_updates: bool = True
    #: `bridge sync` alerts agents (internal note) and engineering (JIRA comment) once per
    #: target when the at-risk share of it has elapsed.
    alert_at_risk: bool = True

    _file: str = PrivateAttr(default="")

    # The memos below live in the instance's __dict__ (a cached_property), not in pydantic
    # private attributes: reading one of those costs microseconds (a failed lookup, then
    # pydantic's __getattr__), and SLA clocks read the memos thousands of times a pass.
    @cached_property
    def _calendars(self) -> dict[tuple[str, str | None], BusinessCalendar]:
        # One calendar per (tier that defines the hours, zone used): tiers sharing hours
        # share its memo of days.
        return {}

    @cached_property
    def _calendar_asked(self) -> dict[tuple[str, str | None], BusinessCalendar]:
        # The same calendars by (tier, customer zone) as asked: a clock reads one dict and
        # checks no name again.
        return {}

    @cached_property
    def _targets(self) -> dict[tuple[str, str], Target]:
        # (severity, tier) as given -> Target: the SLA clocks ask for the same few pairs
        # again and again (a loaded profile is not changed afterwards).
        return {}

    @property
    def file(self) -> str:
        """The file this profile was loaded from (the last of an ``extends`` chain)."""
        return self._file

    @property
    def highest(self) -> str:
        """The highest severity (the first one listed)."""
        return self.severities[0]

    def rank(self, severity: str) -> int:
        """0 for the highest severity, 1 for the next, ..."""
        return self.severities.index(severity)

    def check_severity(self, name: str) -> str:
        """Normalise ``name`` (case, spaces) to one of the severities, or raise UsageError."""
        normal = normal_name(name)
        if normal not in self.severities:
            raise UsageError(
                f"profile {self.name!r} has no severity {name!r}",
                hint="valid severities: " + ", ".join(self.severities),
            )
        return normal

    def check_tier(self, name: str | None) -> str:
        """Normalise ``name`` to a tier of this profile (``None`` -> default), or raise UsageError."""
        if name is None:
            return self.default_tier
        normal = normal_name(name)
        if normal not in self.tiers:
            raise UsageError(
                f"profile {self.name!r} has no tier {name!r}",
                hint="valid tiers: " + ", ".join(self.tiers),
            )
        return normal

    def tier(self, name: str) -> Tier:
        """The tier called ``name`` with ``same_as`` followed."""
        tier = self.tiers[self.check_tier(name)]
        return self.tiers[tier.same_as] if tier.same_as else tier

    def is_best_effort(self, tier: str) -> bool:
        """True when the tier has no SLA clock at all."""
        return self.tier(tier).best_effort

    def calendar(self, tier: str, customer_zone: str | None = None) -> BusinessCalendar:
        """The business calendar of ``tier`` (24x7 tiers and best-effort ones: always open).

        ``customer_zone`` is used when the tier's hours are in the customer's zone; an
        unknown zone name raises :class:`UsageError`.
        """
        found = self._calendar_asked.get((tier, customer_zone))
        if found is not None:
            return found
        tier_name = self.check_tier(tier)
        defining = self.tiers[tier_name].same_as or tier_name
        hours = self.tiers[defining].hours
        zone: str | None = None
        if hours is not None and hours.timezone == _CUSTOMER_ZONE and customer_zone is not None:
            try:
                zone = _check_zone(customer_zone)
            except ValueError as exc:
                raise UsageError(f"customer time zone: {exc}") from None
        calendars = self._calendars
        key = (defining, zone)
        if key not in calendars:
            calendars[key] = BusinessCalendar.always() if hours is None else hours.calendar(zone)
        self._calendar_asked[(tier, customer_zone)] = calendars[key]
        return calendars[key]

    def targets(self, severity: str, tier: str) -> Target:
        """The in-hours targets of ``severity`` in ``tier`` (best effort for best-effort tiers)."""
        key = (severity, tier)
        found = self._targets.get(key)
        if found is None:
            resolved = self.tier(tier)
            if resolved.best_effort:
                found = Target(best_effort=True)
            else:
                found = resolved.targets[self.check_severity(severity)]
            self._targets[key] = found
        return found


def normal_name(name: str) -> str:
    """A severity, tier or profile name as written in files: lower case, hyphens."""
    return _normal_text(str(name))


_SEPARATORS = re.compile(r"[\s_]+")


# Every SLA clock normalises its severity and tier; the names are few.
@lru_cache(maxsize=1024)
def _normal_text(text: str) -> str:
    return _SEPARATORS.sub("-", text.strip().lower())
