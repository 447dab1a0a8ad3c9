"""Business calendars: when a support team is at work, and time arithmetic on that basis.

A :class:`BusinessCalendar` is a week of opening hours in one IANA time zone, minus public
holidays (the ``holidays`` package, by country and subdivision) and explicit closed dates; or
a calendar that is always open (24 x 7 x 365). Everything here is pure: no I/O, no clock.

How the arithmetic stays right across DST changes: opening hours are *wall-clock* times of a
local day ("06:00-18:00 Pacific"). For each calendar day we build that day's opening
intervals in local wall time, convert their ends to UTC with :mod:`zoneinfo`, and do all the
adding and subtracting on UTC instants. So the Monday after the US spring-forward weekend
opens at 06:00 PDT (13:00 UTC) while the Friday before opened at 06:00 PST (14:00 UTC), and a
24 x 7 calendar adds real elapsed time (a day across the change is 23 or 25 wall hours).

Conventions (the SLA code and its tests rely on them):

* An opening interval is half-open, ``[open, close)``: at exactly closing time the team is
  closed (:meth:`BusinessCalendar.is_open` is false) but a deadline may still fall there
  (:meth:`BusinessCalendar.within_hours` counts the closing instant as inside).
* :meth:`BusinessCalendar.add_business_time` returns the *earliest* instant by which the
  given amount of business time has passed. Starting outside hours, the count starts at the
  next opening; an amount that runs out exactly at closing time ends at closing time (not at
  the next opening). Hence ``add(s, a + b) == add(add(s, a), b)``.
* :meth:`BusinessCalendar.add_business_days` implements "within *n* business days" as *by
  the close of the n-th business day after the local calendar day on which the clock
  starts*. A ticket opened on Monday (at any hour, even before opening) with a one-business-
  day target is due at Tuesday's closing time; opened on Friday evening or on Saturday, at
  Monday's closing time (Tuesday's if Monday is a holiday). We chose this literal reading of
  "next business day" because the policies use it next to hour targets (003: Standard
  severity 2 "8 hours", severity 3 "next business day"); a rolling "same time tomorrow"
  reading would make those two targets identical on a 9-to-5 calendar. It is monotonic in
  the start and always lands inside support hours (at a closing time).
* Results carry the time zone of the instant passed in (an instant is an instant; callers
  choose how to show it). Naive datetimes are refused with :class:`ValueError`.

Cost: a local day's opening intervals depend on the calendar and the date alone, so each
calendar remembers them per date (with the day's total open time). The arithmetic then
steps over whole days by looking them up; the SLA clocks of a sync pass evaluate the same
few weeks of days hundreds of thousands of times. A calendar is immutable (a frozen
dataclass); its ``holidays`` object is a mutable mapping that nothing changes after the
calendar is built, and the memo relies on that.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

import holidays as holidays_lib

__all__ = [
    "BusinessCalendar",
    "Interval",
    "MINUTES_PER_DAY",
    "WEEKDAYS",
    "parse_intervals",
    "parse_weekly_hours",
]

#: Minutes in a day; an interval may end at 24:00 (= 1440).
MINUTES_PER_DAY = 24 * 60

#: Weekday names as profiles write them, Monday first (``date.weekday()`` order).
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

#: An opening interval of one local day: (start, end) in minutes after local midnight,
#: end exclusive, ``0 <= start < end <= 1440``.
Interval = tuple[int, int]

# Dates a calendar remembers before it forgets them all (a long-running process walks on
# through the years; a few thousand dates cover every clock of a pass).
_MEMO_DATES = 20_000

# A calendar with no opening in this many consecutive days is treated as never open, so a
# misconfigured calendar (every weekday closed, or holidays covering everything) fails
# loudly instead of looping forever.
_MAX_CLOSED_DAYS = 3 * 366

_HHMM = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")


def _minutes(text: str) -> int:
    match = _HHMM.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a time; expected HH:MM, e.g. 09:00 or 24:00")
    hours, minutes = int(match.group(1)), int(match.group(2))
    if minutes >= 60 or hours > 24 or (hours == 24 and minutes):
        raise ValueError(f"{text!r} is not a time of day; expected 00:00 to 24:00")
    return hours * 60 + minutes


def parse_intervals(value: str | Sequence[str]) -> tuple[Interval, ...]:
    """Parse one day's hours: ``"09:00-17:00"``, a list of such ranges, or ``"closed"``.

    Ranges must not overlap; ``24:00`` is allowed as an end. Raises :class:`ValueError`
    with the expected form on anything else.
    """
    texts = [value] if isinstance(value, str) else list(value)
    intervals: list[Interval] = []
    for text in texts:
        if not isinstance(text, str):
            raise ValueError(f"{text!r} is not a time range; expected e.g. '09:00-17:00'")
        if text.strip().lower() == "closed":
            continue
        start_text, sep, end_text = text.partition("-")
        if not sep:
            raise ValueError(f"{text!r} is not a time range; expected e.g. '09:00-17:00'")
        start, end = _minutes(start_text), _minutes(end_text)
        if start >= end:
            raise ValueError(f"{text!r}: the range must end after it starts (same day)")
        intervals.append((start, end))
    intervals.sort()
    for (_, end), (start, _) in zip(intervals, intervals[1:], strict=False):
        if start < end:
            raise ValueError(f"{value!r}: time ranges overlap")
    return tuple(intervals)


def parse_weekly_hours(spec: Mapping[str, str | Sequence[str]]) -> tuple[tuple[Interval, ...], ...]:
    """Parse a week of opening hours keyed by weekday or weekday range.

    Keys are ``mon`` .. ``sun`` or ranges such as ``mon-fri``; values as in
    :func:`parse_intervals`. Days not named are closed; a day named twice is an error.
    Returns seven tuples of intervals, Monday first.
    """
    week: list[tuple[Interval, ...] | None] = [None] * 7
    for key, value in spec.items():
        days = _weekday_keys(str(key))
        intervals = parse_intervals(value)
        for day in days:
            if week[day] is not None:
                raise ValueError(f"{WEEKDAYS[day]} is given twice (check {key!r})")
            week[day] = intervals
    return tuple(day or () for day in week)


def _weekday_keys(key: str) -> list[int]:
    text = key.strip().lower()
    first, sep, last = text.partition("-")
    try:
        if not sep:
            return [WEEKDAYS.index(first)]
        start, end = WEEKDAYS.index(first), WEEKDAYS.index(last)
    except ValueError:
        raise ValueError(
            f"{key!r} is not a weekday; expected one of {', '.join(WEEKDAYS)} or a range like mon-fri"
        ) from None
    if end < start:
        raise ValueError(f"{key!r}: a weekday range runs Monday to Sunday, e.g. mon-fri")
    return list(range(start, end + 1))


def _utc(t: datetime, name: str = "time") -> datetime:
    if t.tzinfo is None or t.tzinfo.utcoffset(t) is None:
        raise ValueError(f"{name} {t.isoformat()} has no time zone; give an offset")
    return t.astimezone(UTC)


def _back(t_utc: datetime, like: tzinfo | None) -> datetime:
    return t_utc.astimezone(like)


@dataclass(frozen=True, eq=False)
class BusinessCalendar:
    """Opening hours in one time zone, with holidays. Build with :meth:`weekly` or :meth:`always`.

    ``weekly_hours`` holds seven tuples of :data:`Interval` (Monday first) in the zone's
    local wall time. ``holidays`` is a ``holidays.HolidayBase`` (or ``None``);
    ``closed_dates`` are extra local dates on which the team is closed.
    """

    zone: ZoneInfo
    weekly_hours: tuple[tuple[Interval, ...], ...]
    holidays: holidays_lib.HolidayBase | None = None
    closed_dates: frozenset[date] = frozenset()
    always_open: bool = False
    #: A human name for messages ("America/Los_Angeles Mon-Fri 06:00-18:00").
    label: str = field(default="")
    # date -> (UTC opening intervals of that local day, their total length); see the
    # module docstring. Not part of the value: two calendars built alike compare by identity.
    _memo: dict[date, tuple[tuple[tuple[datetime, datetime], ...], timedelta]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @classmethod
    def always(cls, zone: ZoneInfo | None = None) -> BusinessCalendar:
        """A 24 x 7 x 365 calendar: business time is elapsed real time."""
        return cls(
            zone=zone or ZoneInfo("UTC"),
            weekly_hours=tuple(((0, MINUTES_PER_DAY),) for _ in range(7)),
            always_open=True,
            label="24x7",
        )

    @classmethod
    def weekly(
        cls,
        zone: ZoneInfo | str,
        hours: Mapping[str, str | Sequence[str]] | Sequence[Sequence[Interval]],
        *,
        country: str | None = None,
        subdivision: str | None = None,
        closed_dates: Sequence[date] = (),
    ) -> BusinessCalendar:
        """Weekly opening hours in ``zone``, closed on ``country``'s public holidays.

        ``hours`` is either a mapping as in :func:`parse_weekly_hours` (``{"mon-fri":
        "09:00-17:00"}``) or seven sequences of intervals, Monday first. ``country`` and
        ``subdivision`` are ISO codes understood by the ``holidays`` package (``"US"``,
        ``"CO"``); observed days (a holiday moved off a weekend) are closed too.
        """
        tz = ZoneInfo(zone) if isinstance(zone, str) else zone
        if isinstance(hours, Mapping):
            week = parse_weekly_hours(hours)
        else:
            week = tuple(tuple((int(s), int(e)) for s, e in day) for day in hours)
            if len(week) != 7:
                raise ValueError("weekly hours need seven days, Monday first")
        if not any(week):
            raise ValueError("a business calendar needs opening hours on at least one weekday")
        calendar_holidays = (
            holidays_lib.country_holidays(country, subdiv=subdivision) if country else None
        )
        return cls(
            zone=tz,
            weekly_hours=week,
            holidays=calendar_holidays,
            closed_dates=frozenset(closed_dates),
            label=f"{tz.key} weekly hours",
        )

    # -- days ------------------------------------------------------------------------------

    def is_business_day(self, day: date) -> bool:
        """True when ``day`` (a local date) has opening hours: a working weekday, not a holiday."""
        if self.always_open:
            return True
        if not self.weekly_hours[day.weekday()]:
            return False
        if day in self.closed_dates:
            return False
        return not (self.holidays is not None and day in self.holidays)

    def _day_intervals(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """The opening intervals of local ``day`` as UTC instants, in order (remembered)."""
        return self._day(day)[0]

    def _day(self, day: date) -> tuple[tuple[tuple[datetime, datetime], ...], timedelta]:
        """``day``'s opening intervals (UTC, in order) and their total length, remembered."""
        found = self._memo.get(day)
        if found is None:
            intervals = self._compute_day_intervals(day)
            found = (intervals, sum((end - start for start, end in intervals), timedelta(0)))
            if len(self._memo) >= _MEMO_DATES:
                self._memo.clear()
            self._memo[day] = found
        return found

    def _compute_day_intervals(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        if not self.is_business_day(day):
            return ()
        result = []
        for start, end in self.weekly_hours[day.weekday()]:
            local_start = datetime.combine(day, time(start // 60, start % 60), tzinfo=self.zone)
            if end == MINUTES_PER_DAY:
                local_end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=self.zone)
            else:
                local_end = datetime.combine(day, time(end // 60, end % 60), tzinfo=self.zone)
            utc_start, utc_end = local_start.astimezone(UTC), local_end.astimezone(UTC)
            # A range lying wholly inside a spring-forward gap has no real time in it.
            if utc_end > utc_start:
                result.append((utc_start, utc_end))
        return tuple(result)

    def _first_day(self, t_utc: datetime) -> date:
        # A day early: near midnight a local day's hours can straddle UTC dates.
        return t_utc.astimezone(self.zone).date() - timedelta(days=1)

    def _closed_too_long(self, day: date, closed_run: int) -> ValueError:
        return ValueError(
            f"business calendar {self.label or self.zone.key} has no opening hours "
            f"in the {_MAX_CLOSED_DAYS} days after {day - timedelta(days=closed_run)}"
        )

    def _open_days(self, t_utc: datetime) -> Iterator[tuple[tuple[tuple[datetime, datetime], ...], timedelta]]:
        """The opening intervals and total of each day that opens, from the day of
        ``t_utc`` on, without end; more than ``_MAX_CLOSED_DAYS`` closed days in a row is a
        :class:`ValueError` (a calendar that never opens)."""
        day = self._first_day(t_utc)
        closed_run = 0
        one_day = timedelta(days=1)
        while True:
            intervals, total = self._day(day)
            if intervals:
                closed_run = 0
                yield intervals, total
            else:
                closed_run += 1
                if closed_run > _MAX_CLOSED_DAYS:
                    raise self._closed_too_long(day, closed_run)
            day += one_day

    def _intervals_from(self, t_utc: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Opening intervals (UTC) that end after ``t_utc``, in order, without end."""
        if self.always_open:
            # One endless interval; callers stop once they have what they need.
            yield (t_utc, datetime.max.replace(tzinfo=UTC))
            return
        for intervals, _ in self._open_days(t_utc):
            for start, end in intervals:
                if end > t_utc:
                    yield start, end

    # -- instants --------------------------------------------------------------------------

    def is_open(self, t: datetime) -> bool:
        """True when the team is at work at instant ``t`` (closing time itself is closed)."""
        t_utc = _utc(t)
        start, _ = next(self._intervals_from(t_utc))
        return start <= t_utc

    def within_hours(self, t: datetime) -> bool:
        """True when ``t`` is inside opening hours, counting each closing instant as inside.

        Deadlines computed by this module always satisfy this (for business-time amounts).
        """
        t_utc = _utc(t)
        if self.is_open(t_utc):
            return True
        day = t_utc.astimezone(self.zone).date()
        return any(
            end == t_utc
            for d in (day - timedelta(days=1), day)
            for _, end in self._day_intervals(d)
        )

    def next_open(self, t: datetime) -> datetime:
        """``t`` itself when open, else the next opening time (in ``t``'s time zone)."""
        t_utc = _utc(t)
        start, _ = next(self._intervals_from(t_utc))
        return _back(max(start, t_utc), t.tzinfo)

    def add_business_time(self, start: datetime, amount: timedelta) -> datetime:
        """The earliest instant by which ``amount`` of business time has passed since ``start``.

        Outside hours the count starts at the next opening. Zero returns ``start``
        unchanged; a negative amount is a :class:`ValueError`.
        """
        if amount < timedelta(0):
            raise ValueError(f"business time to add must not be negative, got {amount}")
        start_utc = _utc(start, "start")
        if not amount:
            return start
        if self.always_open:
            return _back(start_utc + amount, start.tzinfo)
        remaining = amount
        # Whole days at a time: a day that opens after the start and holds less than what
        # remains is counted by its total, without looking at its intervals.
        for intervals, day_total in self._open_days(start_utc):
            if intervals[0][0] >= start_utc and day_total < remaining:
                remaining -= day_total
                continue
            for open_at, close_at in intervals:
                if close_at <= start_utc:
                    continue
                current = max(open_at, start_utc)
                available = close_at - current
                if remaining <= available:
                    return _back(current + remaining, start.tzinfo)
                remaining -= available
        raise AssertionError("unreachable: open days never run out")  # pragma: no cover

    def business_time_between(self, a: datetime, b: datetime) -> timedelta:
        """Business time from ``a`` to ``b``; negative when ``b`` is before ``a``."""
        a_utc, b_utc = _utc(a, "a"), _utc(b, "b")
        if b_utc < a_utc:
            return -self.business_time_between(b_utc, a_utc)
        if self.always_open:
            return b_utc - a_utc
        total = timedelta(0)
        # Whole days at a time: a day lying inside [a, b] adds its total.
        for intervals, day_total in self._open_days(a_utc):
            if intervals[0][0] >= b_utc:
                return total
            if intervals[0][0] >= a_utc and intervals[-1][1] <= b_utc:
                total += day_total
                continue
            for open_at, close_at in intervals:
                if close_at <= a_utc:
                    continue
                if open_at >= b_utc:
                    return total
                total += min(close_at, b_utc) - max(open_at, a_utc)
        raise AssertionError("unreachable: open days never run out")  # pragma: no cover

    def add_business_days(self, start: datetime, days: int) -> datetime:
        """The close of the ``days``-th business day after ``start``'s local calendar day.

        See the module docstring for why. ``days`` must be at least 1. On an always-open
        calendar a business day is a calendar day of the zone and its close is midnight.
        """
        if days < 1:
            raise ValueError(f"business days to add must be at least 1, got {days}")
        start_utc = _utc(start, "start")
        day = start_utc.astimezone(self.zone).date()
        counted = 0
        skipped = 0
        while counted < days:
            day += timedelta(days=1)
            # A business day whose hours all fall in a spring-forward gap has no intervals.
            if self._day(day)[0]:
                counted += 1
                skipped = 0
            else:
                skipped += 1
                if skipped > _MAX_CLOSED_DAYS:
                    raise ValueError(
                        f"business calendar {self.label or self.zone.key} has no business day "
                        f"in the {_MAX_CLOSED_DAYS} days after {day - timedelta(days=skipped)}"
                    )
        _, close_at = self._day_intervals(day)[-1]
        return _back(close_at, start.tzinfo)
