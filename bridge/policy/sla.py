"""SLA due times and clocks of an escalation, from a profile. Pure: no I/O, no clock.

Two promises run per ticket, each on its own clock:

* **first response** -- starts when the ticket is opened, met by the first public reply;
* **status update** -- the cadence: starts when the ticket is opened and *restarts at each
  public update* (the first response counts as one), so the next update is due one cadence
  after the latest public update. A cadence the document does not state is ``None``.

Which clock a target runs on follows its unit (see :mod:`bridge.policy.profiles`):
wall-clock targets (``1h``) count real time, business targets (``4bh``, ``1bd``) count the
tier's support hours, and on a 24x7 tier the two are the same.

Pause: when the profile sets ``pause_while_waiting_on_customer``, time inside the
``waiting_on_customer`` intervals does not count. Each pause that starts before the
(already moved) due time moves the due time on by the paused time, measured on the
target's own clock (business time for business targets, real time for wall-clock ones); a
pause that starts after the due time changes nothing (a breach stays a breach).

At risk: a running target whose elapsed share (counted time / target time) has reached the
profile's ``at_risk_share`` (default 0.75) and is not yet breached. Breached: the first
response came after its due time, or has not come and the due time is past; or the next
status update is overdue now. A deadline met exactly on time is met.

After hours (policy 001): when the profile has an ``after_hours`` rule and a clock starts
outside its tier's support hours for one of the rule's severities, the rule's wall-clock
targets replace the tier's for that clock.

Best effort: a best-effort tier (community, free) or a severity marked best-effort has no
clock; :func:`due` and :func:`clock` return a value whose ``best_effort`` is true and whose
due times are ``None``.

All times in and out are timezone-aware; results carry the zone of the time they were
computed from (the opening time, or the latest public update). :func:`format_iso` and
:func:`parse_iso` convert to and from ISO 8601 with an offset.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bridge.errors import UsageError
from bridge.policy.calendar import BusinessCalendar
from bridge.policy.profiles import Duration, Profile, Target

__all__ = [
    "ClockState",
    "Due",
    "clock",
    "deadline",
    "due",
    "format_duration",
    "format_iso",
    "next_update_after",
    "parse_iso",
    "require_aware",
]

_WALL = BusinessCalendar.always()


@dataclass(frozen=True)
class Due:
    """When a ticket's first response and first status update are due."""

    profile: str
    severity: str
    tier: str
    opened_at: datetime
    best_effort: bool
    first_response_due: datetime | None
    status_update_every: Duration | None
    next_update_due: datetime | None
    #: True when the profile's after-hours rule set these targets.
    after_hours: bool = False


@dataclass(frozen=True)
class ClockState:
    """The state of one escalation's SLA clocks at instant ``now``."""

    profile: str
    severity: str
    tier: str
    opened_at: datetime
    now: datetime
    best_effort: bool
    first_response_due: datetime | None = None
    first_response_at: datetime | None = None
    first_response_breached: bool = False
    status_update_every: Duration | None = None
    last_public_update: datetime | None = None
    next_update_due: datetime | None = None
    update_breached: bool = False
    paused: bool = False
    at_risk: bool = False
    breached: bool = False
    #: Largest elapsed share among the running targets (0.0 = just started, 1.0 = due now);
    #: ``None`` when no target is running.
    elapsed_share: float | None = None
    after_hours: bool = False
    #: How the running targets' shares grow after ``now`` while the inputs stay as they are
    #: (``None`` while paused: then only an input change moves them). For :meth:`share_reached_at`.
    growth: tuple[_Growth, ...] | None = field(default=(), repr=False, compare=False)
    #: The earliest input given for after ``now`` (a reply, an update, a pause edge): the
    #: clock is replayed without it until then. ``None`` when every input is at or before ``now``.
    inputs_change_at: datetime | None = field(default=None, repr=False, compare=False)

    def share_reached_at(self, share: float) -> datetime | None:
        """The earliest instant from ``now`` on at which :attr:`elapsed_share` reaches ``share``
        if the inputs stay as they are at ``now``; ``None`` when no target is running, the
        clock is paused, or the share is never reached.

        The same arithmetic as the clock's own (elapsed business or wall time on the target's
        clock, minus the paused time, over the target's length), solved for the instant
        instead of evaluated at one: the sync pass needs it for every escalation it touches.
        """
        if not self.growth:
            return None
        found = [t for t in (g.reached_at(share, self.now) for g in self.growth) if t is not None]
        return min(found, default=None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: ISO 8601 times with offsets, durations as :func:`format_duration`."""
        return {
            "profile": self.profile,
            "severity": self.severity,
            "tier": self.tier,
            "opened": format_iso(self.opened_at),
            "now": format_iso(self.now),
            "best_effort": self.best_effort,
            "first_response_due": _iso_or_none(self.first_response_due),
            "first_response_at": _iso_or_none(self.first_response_at),
            "first_response_breached": self.first_response_breached,
            "status_update_every": format_duration(self.status_update_every),
            "last_public_update": _iso_or_none(self.last_public_update),
            "next_update_due": _iso_or_none(self.next_update_due),
            "update_breached": self.update_breached,
            "paused": self.paused,
            "at_risk": self.at_risk,
            "breached": self.breached,
            "elapsed_share": None if self.elapsed_share is None else round(self.elapsed_share, 4),
            "after_hours": self.after_hours,
        }


# --------------------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------------------


def format_iso(t: datetime) -> str:
    """ISO 8601 with its UTC offset (``2024-03-11T09:00:00-07:00``); naive times are refused."""
    require_aware(t, "time")
    return t.isoformat(timespec="seconds" if not t.microsecond else "microseconds")


def _iso_or_none(t: datetime | None) -> str | None:
    return None if t is None else format_iso(t)


def parse_iso(text: str, what: str = "time") -> datetime:
    """Parse ISO 8601 that carries an offset (``...-07:00`` or ``...Z``).

    Raises :class:`UsageError` naming ``what`` for anything else, including a time without
    an offset: a support deadline depends on where the clock is.
    """
    try:
        value = datetime.fromisoformat(text.strip())
    except (ValueError, AttributeError):
        raise UsageError(
            f"{what} {text!r} is not an ISO 8601 time",
            hint="write it like 2025-03-07T17:30:00-07:00 or 2025-03-08T00:30:00Z",
        ) from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise UsageError(
            f"{what} {text!r} has no UTC offset",
            hint="add one, e.g. 2025-03-07T17:30:00-07:00 or 2025-03-08T00:30:00Z",
        )
    return value


def format_duration(duration: Duration | None) -> str | None:
    """ISO 8601 (``PT1H``) for wall-clock durations; a phrase (``4 business hours``,
    ``1 business day``) for business time, which ISO 8601 cannot express."""
    if duration is None:
        return None
    return duration.iso8601() or duration.describe()


# --------------------------------------------------------------------------------------
# Due times
# --------------------------------------------------------------------------------------


def require_aware(t: datetime, name: str) -> None:
    """Refuse (:class:`UsageError`) an instant ``name`` that is not an aware datetime: a
    naive one has no place on a calendar."""
    if not isinstance(t, datetime):
        raise UsageError(f"{name} must be a datetime, got {t!r}")
    if t.tzinfo is None or t.utcoffset() is None:
        raise UsageError(f"{name} {t.isoformat()} has no time zone", hint="give an aware datetime")


def deadline(calendar: BusinessCalendar, start: datetime, duration: Duration) -> datetime:
    """``start`` plus ``duration``, counted on the clock the duration's unit names."""
    if duration.kind == "wall":
        return _WALL.add_business_time(start, duration.length)
    if duration.kind == "business":
        return calendar.add_business_time(start, duration.length)
    return calendar.add_business_days(start, duration.days)


def _measure(calendar: BusinessCalendar, duration: Duration) -> BusinessCalendar:
    """The calendar on which elapsed and paused time of ``duration`` is counted."""
    return _WALL if duration.kind == "wall" else calendar


def _targets_at(
    profile: Profile, severity: str, tier: str, start: datetime, calendar: BusinessCalendar
) -> tuple[Target, bool]:
    """The targets of a clock starting at ``start``: the tier's, or the after-hours rule's."""
    rule = profile.after_hours
    if (
        rule is not None
        and severity in rule.severities
        and (rule.tiers is None or tier in rule.tiers)
        and not profile.is_best_effort(tier)
        and not calendar.always_open
        and not calendar.is_open(start)
    ):
        return rule.as_target(), True
    return profile.targets(severity, tier), False


def due(
    profile: Profile,
    severity: str,
    tier: str | None,
    opened_at: datetime,
    *,
    customer_zone: str | None = None,
) -> Due:
    """When the first response and the first status update are due for a ticket opened at
    ``opened_at``. ``tier`` ``None`` means the profile's default tier; ``customer_zone`` is
    the customer's IANA zone for tiers whose hours are in the customer's local time."""
    require_aware(opened_at, "opened_at")
    severity = profile.check_severity(severity)
    tier = profile.check_tier(tier)
    calendar = profile.calendar(tier, customer_zone)
    target, after_hours = _targets_at(profile, severity, tier, opened_at, calendar)
    if target.best_effort:
        return Due(profile.name, severity, tier, opened_at, True, None, None, None)
    assert target.first_response is not None  # a non-best-effort Target always has one
    cadence = target.status_update
    return Due(
        profile=profile.name,
        severity=severity,
        tier=tier,
        opened_at=opened_at,
        best_effort=False,
        first_response_due=deadline(calendar, opened_at, target.first_response),
        status_update_every=cadence,
        next_update_due=None if cadence is None else deadline(calendar, opened_at, cadence),
        after_hours=after_hours,
    )


# --------------------------------------------------------------------------------------
# Clocks
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Growth:
    """A running target's elapsed share as a function of time, inputs fixed: at ``t`` it is
    ``max(measure.business_time_between(start, t) - paused, 0) / total`` (1.0 when ``total``
    is zero), exactly as :func:`_run` computes it."""

    measure: BusinessCalendar
    start: datetime
    paused: timedelta
    total: timedelta

    def reached_at(self, share: float, now: datetime) -> datetime | None:
        """The earliest instant from ``now`` on at which the share is at least ``share``."""
        if self.total <= timedelta(0):
            return now if 1.0 >= share else None
        if share <= 0:
            return now
        whole = self.total // timedelta(microseconds=1)
        # The fewest elapsed microseconds whose share (a float division, as _run makes it)
        # reaches ``share``; the float product is off by a step at most.
        needed = max(1, math.ceil(share * whole))
        while needed > 1 and (needed - 1) / whole >= share:
            needed -= 1
        while needed / whole < share:
            needed += 1
        reached = self.measure.add_business_time(self.start, timedelta(microseconds=needed) + self.paused)
        return max(reached, now)


@dataclass(frozen=True)
class _Run:
    due: datetime
    breached: bool
    share: float | None  # None once met
    growth: _Growth | None = None  # None once met


def _merge(
    intervals: Iterable[tuple[datetime, datetime | None]], now: datetime
) -> list[tuple[datetime, datetime]]:
    """Sorted, non-overlapping pauses; an open-ended one (end ``None``) lasts until ``now``."""
    spans = []
    for start, end in intervals:
        require_aware(start, "waiting_on_customer start")
        if end is not None:
            require_aware(end, "waiting_on_customer end")
        stop = now if end is None else min(end, now)
        if stop > start:
            spans.append((start, stop))
    spans.sort()
    merged: list[tuple[datetime, datetime]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _run(
    calendar: BusinessCalendar,
    start: datetime,
    duration: Duration,
    pauses: Sequence[tuple[datetime, datetime]],
    now: datetime,
    met_at: datetime | None,
) -> _Run:
    measure = _measure(calendar, duration)
    nominal = deadline(calendar, start, duration)
    total = measure.business_time_between(start, nominal)
    end = met_at if met_at is not None else now
    due_at = nominal
    paused = timedelta(0)
    for pause_start, pause_end in pauses:
        begin, stop = max(pause_start, start), min(pause_end, end)
        if begin >= due_at:
            break  # pauses are sorted; this and later ones start after the deadline
        if stop <= begin:
            continue
        shift = measure.business_time_between(begin, stop)
        due_at = measure.add_business_time(due_at, shift)
        paused += shift
    if met_at is not None:
        return _Run(due_at, met_at > due_at, None)
    elapsed = max(measure.business_time_between(start, now) - paused, timedelta(0))
    share = elapsed / total if total > timedelta(0) else 1.0
    return _Run(due_at, now > due_at, share, _Growth(measure, start, paused, total))


def clock(
    profile: Profile,
    severity: str,
    tier: str | None,
    opened_at: datetime,
    *,
    first_response_at: datetime | None = None,
    public_updates: Iterable[datetime] = (),
    waiting_on_customer: Iterable[tuple[datetime, datetime | None]] = (),
    now: datetime,
    customer_zone: str | None = None,
) -> ClockState:
    """The SLA clocks of one escalation at ``now`` (semantics: module docstring).

    ``first_response_at`` is the first public agent reply, ``public_updates`` every later
    public agent message (the first response may be repeated there), and
    ``waiting_on_customer`` the intervals during which the ticket waited on the customer,
    the last one open-ended (``(start, None)``) while it still waits. Events after ``now``
    are ignored, so a clock can be replayed at any past instant.
    """
    for name, value in (("opened_at", opened_at), ("now", now)):
        require_aware(value, name)
    severity = profile.check_severity(severity)
    tier = profile.check_tier(tier)
    calendar = profile.calendar(tier, customer_zone)
    target, after_hours = _targets_at(profile, severity, tier, opened_at, calendar)
    base = {"profile": profile.name, "severity": severity, "tier": tier, "opened_at": opened_at, "now": now}
    if target.best_effort:
        return ClockState(**base, best_effort=True)
    assert target.first_response is not None

    responded = first_response_at if first_response_at is not None and first_response_at <= now else None
    if responded is not None:
        require_aware(responded, "first_response_at")
    public = tuple(public_updates)
    updates = sorted(t for t in (responded, *public) if t is not None and _aware_le(t, now))
    pauses_in = list(waiting_on_customer)
    paused_now = profile.pause_while_waiting_on_customer and any(
        s <= now and (e is None or now < e) for s, e in pauses_in
    )
    pauses = _merge(pauses_in, now) if profile.pause_while_waiting_on_customer else []
    later = [t for t in (first_response_at, *public) if t is not None and t > now]
    if profile.pause_while_waiting_on_customer:
        later.extend(t for span in pauses_in for t in span if t is not None and t > now)

    first = _run(calendar, opened_at, target.first_response, pauses, now, responded)
    shares = [first.share] if first.share is not None else []

    anchor = updates[-1] if updates else opened_at
    update_target, _ = (
        (target, after_hours) if anchor == opened_at
        else _targets_at(profile, severity, tier, anchor, calendar)
    )
    cadence = update_target.status_update if not update_target.best_effort else None
    update: _Run | None = None
    if cadence is not None:
        update = _run(calendar, anchor, cadence, pauses, now, None)
        if update.share is not None:
            shares.append(update.share)

    breached = first.breached or (update is not None and update.breached)
    share = max(shares) if shares else None
    growth = None if paused_now else tuple(
        run.growth for run in (first, update) if run is not None and run.growth is not None)
    return ClockState(
        **base,
        best_effort=False,
        first_response_due=first.due,
        first_response_at=responded,
        first_response_breached=first.breached,
        status_update_every=cadence,
        last_public_update=updates[-1] if updates else None,
        next_update_due=update.due if update else None,
        update_breached=update.breached if update else False,
        paused=paused_now,
        at_risk=not breached and share is not None and share >= profile.at_risk_share,
        breached=breached,
        elapsed_share=share,
        after_hours=after_hours,
        growth=growth,
        inputs_change_at=min(later, default=None),
    )


def _aware_le(t: datetime, now: datetime) -> bool:
    require_aware(t, "public update")
    return t <= now


def next_update_after(profile: Profile, severity: str, tier: str | None, opened_at: datetime,
                      now: datetime, *, remembered: dict | None = None,
                      customer_zone: str | None = None) -> datetime | None:
    """When the next status update is due if the customers are told something at ``now``:
    :func:`clock`'s ``next_update_due`` with a public update at ``now``, without the rest of
    the clock (sync asks this of every announcement it plans). The cadence restarts at
    ``now``, so no earlier input counts, and a pause cannot shift a run that starts at
    ``now``: only the targets at opening (best effort: none) and at ``now`` matter.

    ``remembered``: a dict kept by the caller for one ``now``
    (:class:`bridge.policy.update_promises.UpdatePromises`), in which the part that depends
    on ``now`` alone, a walk of the business calendar, is kept per profile, severity and
    tier (and the customer's zone, where the tier's hours are the customer's)."""
    require_aware(opened_at, "opened_at")
    require_aware(now, "now")
    severity = profile.check_severity(severity)
    tier = profile.check_tier(tier)
    if _targets_at(profile, severity, tier, opened_at, profile.calendar(tier, customer_zone))[0].best_effort:
        return None  # no clock for this ticket
    if remembered is None:
        return _next_update_from(profile, severity, tier, now, customer_zone)
    key = (profile.name, severity, tier, customer_zone)
    found = remembered.get(key)
    if found is None or found[0] is not profile:  # another profile of that name: its own answer
        found = remembered[key] = (profile, _next_update_from(profile, severity, tier, now, customer_zone))
    return found[1]


def _next_update_from(profile: Profile, severity: str, tier: str, now: datetime,
                      customer_zone: str | None = None) -> datetime | None:
    """When a status update is due if one is given at ``now``, for a ticket that has a clock."""
    calendar = profile.calendar(tier, customer_zone)
    target, _ = _targets_at(profile, severity, tier, now, calendar)
    if target.best_effort or target.status_update is None:
        return None
    return deadline(calendar, now, target.status_update)
