"""General rules the four policy documents state, held for every opening instant.

Each property quotes the document it comes from. They pin what was checked against the
documents by hand (see tests/unit/test_sla_profiles.py for the tables row by row):

* a higher severity is never answered later than a lower one (every table lists faster
  targets for higher severities);
* a better tier is never answered later than Standard (000: "Enterprise Support offers a
  faster response time"; 002 and 003: Premium);
* 002's urgency x impact table never gives a lower priority for a higher urgency or impact;
* 003's "Next business day" is the close of the first business day after the day of the
  ticket;
* 001's critical issues are triaged within 15 minutes, around the clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.mapping import load_profile
from bridge.policy.profiles import Profile
from bridge.policy.severity import classify
from bridge.policy.sla import due

PROFILES: dict[str, Profile] = {
    name: load_profile(name) for name in ("emergency-to-low", "after-hours-critical", "p1-p4-matrix", "severity-1-3")
}
ZONES = [UTC, *(p.calendar(tier).zone for p in PROFILES.values() for tier in p.tiers)]
instants = st.datetimes(min_value=datetime(2023, 1, 1), max_value=datetime(2026, 12, 31),
                        timezones=st.sampled_from(ZONES), allow_imaginary=False)

CLOCKED_TIERS = [(name, tier) for name, p in PROFILES.items() for tier in p.tiers if not p.is_best_effort(tier)]


def _utc(t: datetime | None) -> datetime | None:
    """An instant in UTC: two times in one zone compare by wall time, whatever their fold."""
    return None if t is None else t.astimezone(UTC)


def _times(profile: Profile, severity: str, tier: str, opened: datetime) -> tuple[datetime | None, datetime | None]:
    result = due(profile, severity, tier, opened)
    return _utc(result.first_response_due), _utc(result.next_update_due)


@given(st.sampled_from(CLOCKED_TIERS), instants)
@settings(max_examples=200)
def test_a_higher_severity_is_never_due_later(combo: tuple[str, str], opened: datetime) -> None:
    name, tier = combo
    profile = PROFILES[name]
    clocked = [s for s in profile.severities if not due(profile, s, tier, opened).best_effort]
    for higher, lower in pairwise(clocked):
        (first_hi, update_hi), (first_lo, update_lo) = (_times(profile, higher, tier, opened),
                                                         _times(profile, lower, tier, opened))
        assert first_hi is not None and first_lo is not None
        assert first_hi <= first_lo, (name, tier, higher, lower)
        if update_hi is not None and update_lo is not None:
            assert update_hi <= update_lo, (name, tier, higher, lower)


BETTER_TIERS = [("emergency-to-low", "enterprise"), ("p1-p4-matrix", "premium"), ("p1-p4-matrix", "trial"),
                ("severity-1-3", "premium"), ("after-hours-critical", "premium")]


@given(st.sampled_from(BETTER_TIERS), instants)
@settings(max_examples=200)
def test_a_better_tier_is_never_due_later_than_standard(combo: tuple[str, str], opened: datetime) -> None:
    name, tier = combo
    profile = PROFILES[name]
    for severity in profile.severities:
        if due(profile, severity, "standard", opened).best_effort:
            continue
        assert not due(profile, severity, tier, opened).best_effort
        (first_better, update_better), (first_std, update_std) = (_times(profile, severity, tier, opened),
                                                                  _times(profile, severity, "standard", opened))
        assert first_better is not None and first_std is not None
        assert first_better <= first_std, (name, tier, severity)
        if update_better is not None and update_std is not None:
            assert update_better <= update_std, (name, tier, severity)


def test_the_matrix_never_lowers_the_priority_as_urgency_or_impact_rise() -> None:
    # 002: "Priorytet jest przydzielany na podstawie wpływu i pilności zgłoszeń" (priority
    # from impact and urgency), the table's rows Wysoki / Średni / niski.
    profile = PROFILES["p1-p4-matrix"]
    matrix = profile.matrix
    assert matrix is not None
    rank = {u: i for i, u in enumerate(matrix.urgencies)}, {i: n for n, i in enumerate(matrix.impacts)}
    for u1 in matrix.urgencies:
        for i1 in matrix.impacts:
            for u2 in matrix.urgencies:
                for i2 in matrix.impacts:
                    if rank[0][u1] <= rank[0][u2] and rank[1][i1] <= rank[1][i2]:
                        higher = classify(profile, urgency=u1, impact=i1).severity
                        lower = classify(profile, urgency=u2, impact=i2).severity
                        assert profile.rank(higher) <= profile.rank(lower), (u1, i1, u2, i2)


@given(instants)
def test_next_business_day_is_the_close_of_the_first_business_day_after_the_ticket(opened: datetime) -> None:
    # 003 Standard, Severity 3: "Next business day", "9am-5pm MT Weekdays".
    profile = PROFILES["severity-1-3"]
    calendar = profile.calendar("standard")
    first = due(profile, "severity-3", "standard", opened).first_response_due
    assert first is not None
    local = first.astimezone(calendar.zone)
    day = opened.astimezone(calendar.zone).date() + timedelta(days=1)
    while not calendar.is_business_day(day):
        day += timedelta(days=1)
    assert (local.date(), local.hour, local.minute) == (day, 17, 0)


@pytest.mark.parametrize("tier", ["standard", "premium"])
@given(opened=instants)
def test_critical_issues_are_triaged_within_15_minutes_around_the_clock(tier: str, opened: datetime) -> None:
    # 001: "Issues will be triaged within 15 minutes and a status notification will be sent
    # to you within 1 hour for Critical issues."
    result = due(PROFILES["after-hours-critical"], "critical", tier, opened)
    first, update, start = _utc(result.first_response_due), _utc(result.next_update_due), _utc(opened)
    assert first is not None and update is not None and start is not None
    assert first - start == timedelta(minutes=15)
    assert update - start == timedelta(hours=1)
    assert result.after_hours is not PROFILES["after-hours-critical"].calendar(tier).is_open(opened)


@given(st.text(max_size=20), st.text(max_size=20), st.sampled_from(["[Emergency]", "[EMERGENCY]", "[emergency]"]))
def test_an_emergency_subject_opens_an_emergency_ticket(before: str, after: str, tag: str) -> None:
    # 000: "An email ticket with the bracketed text [Emergency] in the subject will also
    # create a ticket with an Emergency Severity."
    result = classify(PROFILES["emergency-to-low"], subject=f"{before}{tag}{after}")
    assert result.severity == "emergency"
