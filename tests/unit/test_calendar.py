"""Business calendars: examples across weekends, holidays and both DST changes, and properties."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bridge.policy.calendar import BusinessCalendar, parse_intervals, parse_weekly_hours

LA = ZoneInfo("America/Los_Angeles")
WARSAW = ZoneInfo("Europe/Warsaw")

PACIFIC = BusinessCalendar.weekly(LA, {"mon-fri": "06:00-18:00"}, country="US", subdivision="WA")
POLAND = BusinessCalendar.weekly(WARSAW, {"mon-fri": "08:00-17:00"}, country="PL")


def la(*args: int) -> datetime:
    return datetime(*args, tzinfo=LA)


def pl(*args: int) -> datetime:
    return datetime(*args, tzinfo=WARSAW)


H = timedelta(hours=1)


# -- opening hours -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instant", "is_open"),
    [
        (la(2024, 3, 5, 6, 0), True),  # opening instant is open
        (la(2024, 3, 5, 17, 59, 59), True),
        (la(2024, 3, 5, 18, 0), False),  # closing instant is closed
        (la(2024, 3, 5, 5, 59), False),
        (la(2024, 3, 9, 12, 0), False),  # Saturday
        (la(2024, 7, 4, 12, 0), False),  # Independence Day
        (la(2024, 11, 29, 12, 0), False),  # WA: Native American Heritage Day
        (la(2024, 3, 11, 6, 30), True),  # Monday after spring-forward, 06:30 PDT
        (datetime(2024, 3, 11, 13, 30, tzinfo=UTC), True),  # = 06:30 PDT
        (datetime(2024, 3, 8, 13, 30, tzinfo=UTC), False),  # = 05:30 PST on the Friday before
    ],
)
def test_is_open(instant: datetime, is_open: bool) -> None:
    assert PACIFIC.is_open(instant) is is_open


def test_closing_instant_is_within_hours_but_not_open() -> None:
    assert PACIFIC.within_hours(la(2024, 3, 5, 18, 0))
    assert not PACIFIC.is_open(la(2024, 3, 5, 18, 0))
    assert not PACIFIC.within_hours(la(2024, 3, 5, 18, 1))


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        (la(2024, 3, 5, 10, 0), la(2024, 3, 5, 10, 0)),
        (la(2024, 3, 5, 18, 0), la(2024, 3, 6, 6, 0)),
        (la(2024, 3, 9, 12, 0), la(2024, 3, 11, 6, 0)),  # Saturday -> Monday, across DST
        (la(2024, 7, 3, 19, 0), la(2024, 7, 5, 6, 0)),  # skips July 4
    ],
)
def test_next_open(instant: datetime, expected: datetime) -> None:
    result = PACIFIC.next_open(instant)
    assert result == expected
    assert result.utcoffset() == expected.utcoffset()


def test_next_open_keeps_the_callers_zone() -> None:
    result = PACIFIC.next_open(datetime(2024, 3, 9, 20, 0, tzinfo=UTC))
    assert result.tzinfo is UTC
    assert result == datetime(2024, 3, 11, 13, 0, tzinfo=UTC)


# -- business time -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "amount", "expected"),
    [
        (la(2024, 3, 5, 10, 0), 4 * H, la(2024, 3, 5, 14, 0)),
        (la(2024, 3, 5, 17, 30), 4 * H, la(2024, 3, 6, 9, 30)),  # just before closing
        (la(2024, 3, 5, 16, 0), 2 * H, la(2024, 3, 5, 18, 0)),  # runs out exactly at closing
        (la(2024, 3, 5, 20, 0), 1 * H, la(2024, 3, 6, 7, 0)),  # after hours: count from opening
        # Friday evening before the US spring-forward weekend: Monday opens at 06:00 PDT.
        (la(2024, 3, 8, 17, 0), 4 * H, la(2024, 3, 11, 9, 0)),
        (la(2024, 3, 8, 19, 0), 4 * H, la(2024, 3, 11, 10, 0)),
        # Friday before fall-back: Monday opens at 06:00 PST.
        (la(2024, 11, 1, 17, 0), 4 * H, la(2024, 11, 4, 9, 0)),
        # Opened on a public holiday (Thursday July 4th).
        (la(2024, 7, 4, 10, 0), 4 * H, la(2024, 7, 5, 10, 0)),
        (la(2024, 3, 5, 10, 0), 12 * H, la(2024, 3, 6, 10, 0)),
        (la(2024, 3, 5, 10, 0), timedelta(0), la(2024, 3, 5, 10, 0)),
    ],
)
def test_add_business_time_pacific(start: datetime, amount: timedelta, expected: datetime) -> None:
    assert PACIFIC.add_business_time(start, amount) == expected


@pytest.mark.parametrize(
    ("start", "amount", "expected"),
    [
        # EU spring-forward (Sunday 31 March 2024) followed by Easter Monday (closed in PL).
        (pl(2024, 3, 29, 16, 0), 3 * H, pl(2024, 4, 2, 10, 0)),
        # EU fall-back (Sunday 27 October 2024).
        (pl(2024, 10, 25, 16, 30), 1 * H, pl(2024, 10, 28, 8, 30)),
        # All Saints' Day, Friday 1 November 2024.
        (pl(2024, 10, 31, 16, 0), 2 * H, pl(2024, 11, 4, 9, 0)),
    ],
)
def test_add_business_time_poland(start: datetime, amount: timedelta, expected: datetime) -> None:
    result = POLAND.add_business_time(start, amount)
    assert result == expected
    assert result.utcoffset() == expected.utcoffset()


def test_business_time_between_spans_weekend_and_dst() -> None:
    assert PACIFIC.business_time_between(la(2024, 3, 8, 17, 0), la(2024, 3, 11, 9, 0)) == 4 * H
    assert PACIFIC.business_time_between(la(2024, 3, 11, 9, 0), la(2024, 3, 8, 17, 0)) == -4 * H
    assert PACIFIC.business_time_between(la(2024, 3, 9, 0, 0), la(2024, 3, 10, 23, 0)) == timedelta(0)


def test_always_open_adds_real_time_across_dst() -> None:
    always = BusinessCalendar.always(LA)
    start = la(2024, 3, 9, 12, 0)
    result = always.add_business_time(start, 24 * H)
    # 24 real hours across spring-forward end at 13:00 PDT, not at 12:00.
    assert result == la(2024, 3, 10, 13, 0)
    assert always.business_time_between(start, la(2024, 3, 10, 12, 0)) == 23 * H
    assert always.is_open(la(2024, 12, 25, 3, 0))


def test_split_shift_and_explicit_closed_dates() -> None:
    calendar = BusinessCalendar.weekly(
        "Europe/Warsaw", {"mon-fri": ["09:00-12:00", "13:00-17:00"]}, closed_dates=[date(2024, 3, 6)]
    )
    assert calendar.add_business_time(pl(2024, 3, 5, 11, 30), H) == pl(2024, 3, 5, 13, 30)
    assert not calendar.is_open(pl(2024, 3, 5, 12, 30))
    # Wednesday the 6th is closed explicitly.
    assert calendar.add_business_time(pl(2024, 3, 5, 16, 0), 2 * H) == pl(2024, 3, 7, 10, 0)


# -- business days -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        (la(2024, 3, 5, 10, 0), 1, la(2024, 3, 6, 18, 0)),  # Tuesday -> Wednesday's close
        (la(2024, 3, 5, 5, 0), 1, la(2024, 3, 6, 18, 0)),  # before opening counts as that day
        (la(2024, 3, 5, 10, 0), 2, la(2024, 3, 7, 18, 0)),
        (la(2024, 3, 8, 19, 0), 1, la(2024, 3, 11, 18, 0)),  # Friday evening, DST weekend
        (la(2024, 3, 9, 11, 0), 1, la(2024, 3, 11, 18, 0)),  # Saturday
        (la(2024, 7, 3, 10, 0), 1, la(2024, 7, 5, 18, 0)),  # July 4th skipped
        (la(2024, 11, 1, 10, 0), 1, la(2024, 11, 4, 18, 0)),  # fall-back weekend
        (la(2024, 3, 5, 10, 0), 4, la(2024, 3, 11, 18, 0)),
    ],
)
def test_add_business_days(start: datetime, days: int, expected: datetime) -> None:
    result = PACIFIC.add_business_days(start, days)
    assert result == expected
    assert PACIFIC.within_hours(result)


def test_add_business_days_on_an_always_open_calendar_ends_at_local_midnight() -> None:
    always = BusinessCalendar.always(WARSAW)
    assert always.add_business_days(pl(2024, 3, 30, 10, 0), 1) == pl(2024, 4, 1, 0, 0)


# -- refusals ----------------------------------------------------------------------------


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        PACIFIC.is_open(datetime(2024, 3, 5, 10, 0))
    with pytest.raises(ValueError, match="no time zone"):
        PACIFIC.add_business_time(datetime(2024, 3, 5, 10, 0), H)


def test_negative_amounts_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        PACIFIC.add_business_time(la(2024, 3, 5, 10), -H)
    with pytest.raises(ValueError, match="at least 1"):
        PACIFIC.add_business_days(la(2024, 3, 5, 10), 0)


def test_a_calendar_without_hours_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one weekday"):
        BusinessCalendar.weekly(LA, {"mon-sun": "closed"})


def test_a_calendar_closed_for_years_fails_instead_of_looping() -> None:
    closed = [date(2024, 1, 1) + timedelta(days=i) for i in range(4 * 366)]
    calendar = BusinessCalendar.weekly(LA, {"mon": "09:00-10:00"}, closed_dates=closed)
    with pytest.raises(ValueError, match="no opening hours"):
        calendar.next_open(la(2024, 1, 2, 0, 0))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"monday": "09:00-17:00"}, "not a weekday"),
        ({"fri-mon": "09:00-17:00"}, "Monday to Sunday"),
        ({"mon-fri": "09:00-17:00", "fri": "10:00-12:00"}, "given twice"),
        ({"mon": "18:00-06:00"}, "end after it starts"),
        ({"mon": ["09:00-13:00", "12:00-17:00"]}, "overlap"),
        ({"mon": "9-17"}, "not a time"),
        ({"mon": "09:00-24:30"}, "00:00 to 24:00"),
    ],
)
def test_weekly_hours_errors(spec: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_weekly_hours(spec)  # type: ignore[arg-type]


def test_parse_intervals_accepts_24_00_and_closed() -> None:
    assert parse_intervals("00:00-24:00") == ((0, 1440),)
    assert parse_intervals("closed") == ()
    assert parse_weekly_hours({"sat": "10:00-14:00"})[5] == ((600, 840),)


# -- properties --------------------------------------------------------------------------

ZONES = ["America/Los_Angeles", "Europe/Warsaw", "America/Denver", "Australia/Lord_Howe", "UTC"]


@st.composite
def calendars(draw: st.DrawFn) -> BusinessCalendar:
    """Random weekly calendars: split shifts, early and late hours, DST zones, holidays."""
    week: list[list[tuple[int, int]]] = []
    for _ in range(7):
        cuts = sorted(draw(st.sets(st.integers(0, 96), max_size=4)))
        intervals = [(a * 15, b * 15) for a, b in zip(cuts[::2], cuts[1::2], strict=False) if a < b]
        week.append(intervals)
    if not any(week):
        week[0] = [(9 * 60, 17 * 60)]
    zone = draw(st.sampled_from(ZONES))
    country = draw(st.sampled_from([None, "US", "PL"]))
    return BusinessCalendar.weekly(ZoneInfo(zone), week, country=country)


instants = st.datetimes(
    min_value=datetime(2023, 1, 1),
    max_value=datetime(2026, 12, 31),
    timezones=st.sampled_from([ZoneInfo(z) for z in ZONES]),
    allow_imaginary=False,
)
amounts = st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=80))
fixed_calendars = st.sampled_from([PACIFIC, POLAND])


@given(fixed_calendars | calendars(), instants, amounts)
def test_added_business_time_is_exactly_the_amount(
    calendar: BusinessCalendar, start: datetime, amount: timedelta
) -> None:
    end = calendar.add_business_time(start, amount)
    assert end >= start
    assert calendar.business_time_between(start, end) == amount
    if amount:
        assert calendar.within_hours(end)


@given(fixed_calendars | calendars(), instants, amounts, amounts)
@example(BusinessCalendar.always(ZoneInfo("America/Denver")), datetime(2024, 11, 3, 0, 30, tzinfo=ZoneInfo("America/Denver")),
         timedelta(hours=1), timedelta(hours=1))
def test_adding_business_time_is_additive(
    calendar: BusinessCalendar, start: datetime, a: timedelta, b: timedelta
) -> None:
    # Instants, not wall times: with one zone on both sides `==` would ignore `fold`.
    assert calendar.add_business_time(start, a + b).astimezone(UTC) == calendar.add_business_time(
        calendar.add_business_time(start, a), b
    ).astimezone(UTC)


@given(fixed_calendars | calendars(), instants, instants, amounts)
def test_adding_business_time_is_monotonic(
    calendar: BusinessCalendar, s1: datetime, s2: datetime, amount: timedelta
) -> None:
    early, late = sorted((s1, s2))
    assert calendar.add_business_time(early, amount) <= calendar.add_business_time(late, amount)


@given(fixed_calendars | calendars(), instants, instants, st.integers(1, 5))
def test_business_days_are_monotonic_and_land_in_hours(
    calendar: BusinessCalendar, s1: datetime, s2: datetime, days: int
) -> None:
    early, late = sorted((s1, s2))
    d1, d2 = calendar.add_business_days(early, days), calendar.add_business_days(late, days)
    assert early < d1 <= d2
    assert calendar.within_hours(d1)


@given(fixed_calendars | calendars(), instants, instants, instants)
def test_business_time_between_is_a_signed_measure(
    calendar: BusinessCalendar, a: datetime, b: datetime, c: datetime
) -> None:
    ab = calendar.business_time_between(a, b)
    assert ab == -calendar.business_time_between(b, a)
    assert ab + calendar.business_time_between(b, c) == calendar.business_time_between(a, c)
    assert abs(ab) <= abs(b - a)


@given(st.sampled_from(ZONES), instants, amounts)
# Lands in the hour Denver repeats when clocks go back: equal instants, unequal under `==`
# across zones (PEP 495), so the assertion compares instants.
@example("America/Denver", datetime(2024, 11, 3, 0, 30, tzinfo=ZoneInfo("America/Denver")), timedelta(hours=1))
def test_always_open_is_wall_clock_addition(zone: str, start: datetime, amount: timedelta) -> None:
    calendar = BusinessCalendar.always(ZoneInfo(zone))
    assert calendar.add_business_time(start, amount).astimezone(UTC) == start.astimezone(UTC) + amount


@given(fixed_calendars | calendars(), instants)
@settings(max_examples=50)
def test_next_open_is_open_and_nothing_opens_before_it(calendar: BusinessCalendar, t: datetime) -> None:
    opening = calendar.next_open(t)
    assert opening >= t
    assert calendar.is_open(opening)
    assert calendar.business_time_between(t, opening) == timedelta(0)
