"""The business calendar's remembered days and whole-day stepping give exactly what the plain
reading gives: a straightforward reference that builds every day's intervals afresh from the
weekly hours, the holidays and :mod:`zoneinfo`, and walks them one interval at a time."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import example, given, settings
from hypothesis import strategies as st

from bridge.policy.calendar import MINUTES_PER_DAY, BusinessCalendar
from tests.unit.test_calendar import PACIFIC, POLAND, ZONES, calendars, instants

amounts = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=20))
any_calendar = st.sampled_from([PACIFIC, POLAND]) | calendars() | st.builds(
    lambda zone, closed: BusinessCalendar.weekly(ZoneInfo(zone), {"mon-fri": "09:00-17:00", "sat": "23:00-24:00"},
                                                 country="US", closed_dates=closed),
    st.sampled_from(ZONES), st.lists(st.dates(date(2023, 1, 1), date(2027, 1, 1)), max_size=30))


def instant(t: datetime) -> datetime:
    """``t`` in UTC. Answers come in the zone they were asked in; PEP 495 makes ``==``
    between zones False whenever one side is in a repeated hour, whatever the instants."""
    return t.astimezone(UTC)


def reference_day(calendar: BusinessCalendar, day: date) -> list[tuple[datetime, datetime]]:
    """One local day's opening intervals in UTC, from scratch."""
    if day.weekday() >= 7 or day in calendar.closed_dates:
        return []
    if calendar.holidays is not None and day in calendar.holidays:
        return []
    result = []
    for start, end in calendar.weekly_hours[day.weekday()]:
        opens = datetime.combine(day, time(start // 60, start % 60), tzinfo=calendar.zone).astimezone(UTC)
        closes = (datetime.combine(day + timedelta(days=1), time(0), tzinfo=calendar.zone) if end == MINUTES_PER_DAY
                  else datetime.combine(day, time(end // 60, end % 60), tzinfo=calendar.zone)).astimezone(UTC)
        if closes > opens:
            result.append((opens, closes))
    return result


def reference_intervals(calendar: BusinessCalendar, t: datetime):
    day = t.astimezone(calendar.zone).date() - timedelta(days=1)
    while True:
        for opens, closes in reference_day(calendar, day):
            if closes > t:
                yield opens, closes
        day += timedelta(days=1)


def reference_between(calendar: BusinessCalendar, a: datetime, b: datetime) -> timedelta:
    if b < a:
        return -reference_between(calendar, b, a)
    total = timedelta(0)
    for opens, closes in reference_intervals(calendar, a):
        if opens >= b:
            return total
        total += min(closes, b) - max(opens, a)
    raise AssertionError("unreachable")


def reference_add(calendar: BusinessCalendar, start: datetime, amount: timedelta) -> datetime:
    if not amount:
        return start
    remaining = amount
    for opens, closes in reference_intervals(calendar, start):
        current = max(opens, start)
        if remaining <= closes - current:
            return current + remaining
        remaining -= closes - current
    raise AssertionError("unreachable")


def reference_add_days(calendar: BusinessCalendar, start: datetime, days: int) -> datetime:
    day = start.astimezone(calendar.zone).date()
    while days:
        day += timedelta(days=1)
        if reference_day(calendar, day):
            days -= 1
    return reference_day(calendar, day)[-1][1]


@settings(max_examples=150, deadline=None)
@given(any_calendar, instants, instants)
def test_business_time_between_equals_the_interval_walk(calendar, a, b) -> None:
    # Twice: the second answer comes from the remembered days.
    for _ in range(2):
        assert calendar.business_time_between(a, b) == reference_between(calendar, a, b)


@settings(max_examples=150, deadline=None)
@given(any_calendar, instants, amounts)
# Whole days that use up the amount exactly: the end is a closing time, not the next opening.
@example(PACIFIC, datetime(2024, 3, 4, 6, tzinfo=ZoneInfo("America/Los_Angeles")), timedelta(hours=12))
@example(PACIFIC, datetime(2024, 3, 3, 12, tzinfo=ZoneInfo("America/Los_Angeles")), timedelta(hours=24))
# Ends at 01:30 in the hour Los Angeles repeats (the second one): equal instants, and the
# answer is in the start's zone (fold=1), which `==` never finds equal to another zone's.
@example(BusinessCalendar.weekly(ZoneInfo("America/Los_Angeles"),
                                 [[(0, 15), (30, 810)], [], [], [(0, 15), (30, 375)], [(0, 15), (30, 795)],
                                  [(0, 15), (30, 240)], [(0, 120)]], country="US"),
         datetime(2024, 9, 17, 0, 0, tzinfo=ZoneInfo("America/Los_Angeles")), timedelta(days=10))
def test_add_business_time_equals_the_interval_walk(calendar, start, amount) -> None:
    for _ in range(2):
        added = calendar.add_business_time(start, amount)
        assert instant(added) == instant(reference_add(calendar, start, amount))
        assert added.tzinfo is start.tzinfo


@settings(max_examples=100, deadline=None)
@given(any_calendar, instants, st.integers(1, 12))
def test_add_business_days_equals_the_day_walk(calendar, start, days) -> None:
    for _ in range(2):
        assert instant(calendar.add_business_days(start, days)) == instant(reference_add_days(calendar, start, days))


@settings(max_examples=100, deadline=None)
@given(any_calendar, instants)
def test_days_and_instants_equal_the_plain_reading(calendar, t) -> None:
    day = t.astimezone(calendar.zone).date()
    assert list(calendar._day_intervals(day)) == reference_day(calendar, day)
    assert calendar.is_business_day(day) == bool(calendar.weekly_hours[day.weekday()]
                                                 and day not in calendar.closed_dates
                                                 and not (calendar.holidays is not None and day in calendar.holidays))
    opens, _ = next(reference_intervals(calendar, t.astimezone(UTC)))
    assert calendar.is_open(t) == (opens <= t)
    assert instant(calendar.next_open(t)) == instant(max(opens, t))
