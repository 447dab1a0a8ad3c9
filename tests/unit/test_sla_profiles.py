"""SLA due times per packaged profile, from each policy document's own table, and SLA clocks.

Each row: (severity, tier, opened, first_response_due, next_update_due). Expected times were
worked out by hand from the document's table and the profile's documented choices; they are
written in the support team's local time so a reader can check them against the policy.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bridge.errors import UsageError
from bridge.mapping import load_profile
from bridge.policy.profiles import Profile
from bridge.policy.sla import clock, due, format_duration, format_iso, parse_iso
from bridge.sla_report import due_report

PROFILES = {name: load_profile(name) for name in
            ("emergency-to-low", "after-hours-critical", "p1-p4-matrix", "severity-1-3")}


def t(text: str) -> datetime:
    return datetime.fromisoformat(text)


def check(profile: str, severity: str, tier: str, opened: str, first: str | None, update: str | None,
          *, customer_zone: str | None = None) -> None:
    result = due(PROFILES[profile], severity, tier, t(opened), customer_zone=customer_zone)
    assert result.first_response_due == (t(first) if first else None)
    assert result.next_update_due == (t(update) if update else None)
    assert result.first_response_due is None or result.first_response_due >= t(opened)


# -- 000 emergency-to-low: Mon-Fri 06:00-18:00 Pacific; US + WA holidays ---------------------

AMPERITY = [
    # In hours, Tuesday 10:00 PST: the document's table row by row.
    ("emergency", "standard", "2024-03-05T10:00-08:00", "2024-03-05T11:00-08:00", "2024-03-05T11:00-08:00"),
    ("high", "standard", "2024-03-05T10:00-08:00", "2024-03-05T14:00-08:00", "2024-03-06T18:00-08:00"),
    ("normal", "standard", "2024-03-05T10:00-08:00", "2024-03-06T18:00-08:00", "2024-03-07T18:00-08:00"),
    # Low: 2 business days, updates every 4 -> the Monday after the DST change, 18:00 PDT.
    ("low", "standard", "2024-03-05T10:00-08:00", "2024-03-07T18:00-08:00", "2024-03-11T18:00-07:00"),
    # Just before closing: 30 minutes today, 3.5 business hours tomorrow.
    ("high", "standard", "2024-03-05T17:30-08:00", "2024-03-06T09:30-08:00", "2024-03-06T18:00-08:00"),
    # Friday evening before the US spring-forward: Monday opens 06:00 PDT.
    ("high", "standard", "2024-03-08T19:00-08:00", "2024-03-11T10:00-07:00", "2024-03-11T18:00-07:00"),
    ("normal", "standard", "2024-03-08T19:00-08:00", "2024-03-11T18:00-07:00", "2024-03-12T18:00-07:00"),
    # Emergency is wall-clock time: Friday evening still gets an hour.
    ("emergency", "standard", "2024-03-08T19:00-08:00", "2024-03-08T20:00-08:00", "2024-03-08T20:00-08:00"),
    # Opened on a public holiday (Independence Day, Thursday).
    ("high", "standard", "2024-07-04T10:00-07:00", "2024-07-05T10:00-07:00", "2024-07-05T18:00-07:00"),
    ("normal", "standard", "2024-07-04T10:00-07:00", "2024-07-05T18:00-07:00", "2024-07-08T18:00-07:00"),
    # Friday before the US fall-back: Monday opens 06:00 PST.
    ("high", "standard", "2024-11-01T17:00-07:00", "2024-11-04T09:00-08:00", "2024-11-04T18:00-08:00"),
    # Enterprise: our documented choice, every target halved.
    ("high", "enterprise", "2024-03-05T10:00-08:00", "2024-03-05T12:00-08:00", "2024-03-05T16:00-08:00"),
    ("emergency", "enterprise", "2024-03-05T10:00-08:00", "2024-03-05T10:30-08:00", "2024-03-05T10:30-08:00"),
]


@pytest.mark.parametrize(("severity", "tier", "opened", "first", "update"), AMPERITY)
def test_emergency_to_low(severity: str, tier: str, opened: str, first: str, update: str) -> None:
    check("emergency-to-low", severity, tier, opened, first, update)


# -- 001 after-hours-critical: Mon-Fri 09:00-17:00 Eastern; after hours 15 min / 1 hour -------

OPSCOM = [
    # After hours (Saturday): triage within 15 minutes, status with ETA within 1 hour.
    ("critical", "premium", "2024-03-09T10:00-05:00", "2024-03-09T10:15-05:00", "2024-03-09T11:00-05:00", True),
    # In hours: same targets (our documented choice).
    ("critical", "standard", "2024-03-05T10:00-05:00", "2024-03-05T10:15-05:00", "2024-03-05T11:00-05:00", False),
    # Just before closing: counted on the wall clock, past closing time.
    ("critical", "standard", "2024-03-05T16:55-05:00", "2024-03-05T17:10-05:00", "2024-03-05T17:55-05:00", False),
    # Friday evening.
    ("critical", "premium", "2024-03-08T20:00-05:00", "2024-03-08T20:15-05:00", "2024-03-08T21:00-05:00", True),
    # A public holiday is after hours.
    ("critical", "premium", "2024-07-04T10:00-04:00", "2024-07-04T10:15-04:00", "2024-07-04T11:00-04:00", True),
    # Across the spring-forward gap: one real hour after 01:30 EST is 03:30 EDT.
    ("critical", "premium", "2024-03-10T01:30-05:00", "2024-03-10T01:45-05:00", "2024-03-10T03:30-04:00", True),
]


@pytest.mark.parametrize(("severity", "tier", "opened", "first", "update", "after_hours"), OPSCOM)
def test_after_hours_critical(severity: str, tier: str, opened: str, first: str, update: str,
                              after_hours: bool) -> None:
    check("after-hours-critical", severity, tier, opened, first, update)
    assert due(PROFILES["after-hours-critical"], severity, tier, t(opened)).after_hours is after_hours


def test_after_hours_non_critical_has_no_clock() -> None:
    result = due(PROFILES["after-hours-critical"], "non-critical", "premium", t("2024-03-05T10:00-05:00"))
    assert result.best_effort
    assert result.first_response_due is None and result.next_update_due is None


# -- 002 p1-p4-matrix: Standard Mon-Fri 08:00-17:00 customer's zone (Warsaw); Premium 24x7 ----

AMANDA = [
    # Standard, in business hours: P1 1h, P2 3h, P3 8h, P4 24h.
    ("p1", "standard", "2024-03-05T10:00+01:00", "2024-03-05T11:00+01:00"),
    ("p2", "standard", "2024-03-05T10:00+01:00", "2024-03-05T13:00+01:00"),
    ("p3", "standard", "2024-03-05T10:00+01:00", "2024-03-06T09:00+01:00"),
    ("p4", "standard", "2024-03-05T10:00+01:00", "2024-03-07T16:00+01:00"),
    # Premium, 24x7: P1 15 min, P2 60 min, P3 4h, P4 8h; trial customers get Premium.
    ("p1", "premium", "2024-03-05T10:00+01:00", "2024-03-05T10:15+01:00"),
    ("p2", "premium", "2024-03-05T10:00+01:00", "2024-03-05T11:00+01:00"),
    ("p3", "premium", "2024-03-09T22:00+01:00", "2024-03-10T02:00+01:00"),
    ("p4", "premium", "2024-03-05T10:00+01:00", "2024-03-05T18:00+01:00"),
    ("p1", "trial", "2024-03-09T22:00+01:00", "2024-03-09T22:15+01:00"),
    # Just before closing.
    ("p1", "standard", "2024-03-05T16:45+01:00", "2024-03-06T08:45+01:00"),
    # Friday evening before the EU spring-forward, then Easter Monday (closed in Poland).
    ("p2", "standard", "2024-03-29T16:30+01:00", "2024-04-02T10:30+02:00"),
    # Opened on a public holiday (All Saints' Day, Friday 1 November 2024).
    ("p1", "standard", "2024-11-01T10:00+01:00", "2024-11-04T09:00+01:00"),
    # Premium across the EU fall-back: 8 real hours after 22:00 CEST is 05:00 CET.
    ("p4", "premium", "2024-10-26T22:00+02:00", "2024-10-27T05:00+01:00"),
]


@pytest.mark.parametrize(("severity", "tier", "opened", "first"), AMANDA)
def test_p1_p4_matrix(severity: str, tier: str, opened: str, first: str) -> None:
    # The document states no status-update cadence.
    check("p1-p4-matrix", severity, tier, opened, first, None)


def test_p1_p4_standard_hours_follow_the_customers_zone() -> None:
    # Friday 16:30 in Chicago; Monday after the US spring-forward opens 08:00 CDT.
    check("p1-p4-matrix", "p1", "standard", "2024-03-08T16:30-06:00", "2024-03-11T08:30-05:00", None,
          customer_zone="America/Chicago")


def test_p1_p4_unknown_customer_zone_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="Mars/Olympus"):
        due(PROFILES["p1-p4-matrix"], "p1", "standard", t("2024-03-05T10:00+01:00"), customer_zone="Mars/Olympus")


def test_a_calendar_asked_again_is_the_same_and_a_bad_name_is_refused_every_time() -> None:
    # Calendars are remembered by the names asked; what was refused is never remembered.
    profile = PROFILES["p1-p4-matrix"]
    chicago = profile.calendar("standard", "America/Chicago")
    assert profile.calendar("standard", "America/Chicago") is chicago
    assert profile.calendar("standard", "Europe/Warsaw").zone.key == "Europe/Warsaw"
    assert profile.calendar("standard", "America/Chicago").zone.key == "America/Chicago"
    assert profile.calendar("trial") is profile.calendar("premium")  # same_as: one memo of days
    for _ in range(2):
        with pytest.raises(UsageError, match="Mars/Olympus"):
            profile.calendar("standard", "Mars/Olympus")
        with pytest.raises(UsageError, match="no tier"):
            profile.calendar("platinum")


def test_p1_p4_community_is_best_effort() -> None:
    assert due(PROFILES["p1-p4-matrix"], "p1", "community", t("2024-03-05T10:00+01:00")).best_effort


# -- 003 severity-1-3: Standard 9am-5pm Mountain weekdays; Premium 24x7; Free best effort ----

MSP = [
    ("severity-1", "standard", "2024-03-05T10:00-07:00", "2024-03-05T14:00-07:00"),
    ("severity-2", "standard", "2024-03-05T10:00-07:00", "2024-03-06T10:00-07:00"),
    # "Next business day": by the close of the next business day.
    ("severity-3", "standard", "2024-03-05T10:00-07:00", "2024-03-06T17:00-07:00"),
    ("severity-1", "premium", "2024-03-05T10:00-07:00", "2024-03-05T11:00-07:00"),
    ("severity-2", "premium", "2024-03-05T10:00-07:00", "2024-03-05T12:00-07:00"),
    ("severity-3", "premium", "2024-03-05T10:00-07:00", "2024-03-05T14:00-07:00"),
    # Just before closing.
    ("severity-1", "standard", "2024-03-05T16:30-07:00", "2024-03-06T12:30-07:00"),
    # Friday evening before the US spring-forward.
    ("severity-1", "standard", "2024-03-08T18:00-07:00", "2024-03-11T13:00-06:00"),
    ("severity-3", "standard", "2024-03-08T18:00-07:00", "2024-03-11T17:00-06:00"),
    # Opened on a public holiday (July 4th).
    ("severity-2", "standard", "2024-07-04T10:00-06:00", "2024-07-05T17:00-06:00"),
    # Premium across the spring-forward gap: 4 real hours after 23:30 MST is 04:30 MDT.
    ("severity-3", "premium", "2024-03-09T23:30-07:00", "2024-03-10T04:30-06:00"),
]


@pytest.mark.parametrize(("severity", "tier", "opened", "first"), MSP)
def test_severity_1_3(severity: str, tier: str, opened: str, first: str) -> None:
    check("severity-1-3", severity, tier, opened, first, None)


def test_severity_1_3_free_is_best_effort() -> None:
    result = due(PROFILES["severity-1-3"], "severity-1", "free", t("2024-03-05T10:00-07:00"))
    assert result.best_effort and result.first_response_due is None


def test_default_tier_is_used_when_none_is_given() -> None:
    assert due(PROFILES["severity-1-3"], "severity-1", None, t("2024-03-05T10:00-07:00")).tier == "standard"


# -- the `bridge sla due` report ---------------------------------------------------------


def report_for(profile_name: str, *args: object) -> dict:
    """``bridge sla due``'s report: the profile is loaded by name, as the command does."""
    return due_report(load_profile(profile_name), *args)  # type: ignore[arg-type]


def test_due_report_is_json_ready_in_the_support_zone() -> None:
    report = report_for("emergency-to-low", "High", None, "2024-03-09T03:00:00Z")
    assert report == {
        "profile": "emergency-to-low",
        "severity": "high",
        "tier": "standard",
        "opened": "2024-03-09T03:00:00+00:00",
        "first_response_due": "2024-03-11T10:00:00-07:00",
        "status_update_every": "1 business day",
        "next_update_due": "2024-03-11T18:00:00-07:00",
        "best_effort": False,
        "after_hours": False,
    }


def test_due_report_wall_clock_cadence_is_iso_8601() -> None:
    report = report_for("after-hours-critical", "critical", "premium", "2024-03-09T10:00:00-05:00")
    assert report["status_update_every"] == "PT1H"
    assert report["first_response_due"] == "2024-03-09T10:15:00-05:00"
    assert report["after_hours"] is True


def test_due_report_best_effort() -> None:
    report = report_for("severity-1-3", "severity-1", "free", "2024-03-05T10:00:00-07:00")
    assert report["best_effort"] is True
    assert report["first_response_due"] is None and report["status_update_every"] is None


@pytest.mark.parametrize(
    ("args", "message", "hint"),
    [
        (("no-such-profile", "p1", None, "2024-03-05T10:00:00Z"), "no-such-profile", "p1-p4-matrix"),
        (("p1-p4-matrix", "p9", None, "2024-03-05T10:00:00Z"), "p9", "p1, p2, p3, p4"),
        (("p1-p4-matrix", "p1", "platinum", "2024-03-05T10:00:00Z"), "platinum", "standard, premium, trial"),
        (("p1-p4-matrix", "p1", None, "2024-03-05T10:00:00"), "no UTC offset", "2024"),
        (("p1-p4-matrix", "p1", None, "next tuesday"), "not an ISO 8601 time", "2025"),
    ],
)
def test_due_report_bad_input_says_what_to_fix(args: tuple, message: str, hint: str) -> None:
    with pytest.raises(UsageError) as caught:
        report_for(*args)
    assert message in caught.value.message
    assert hint in str(caught.value)
    assert caught.value.exit_code == 2


def test_format_helpers() -> None:
    assert format_iso(t("2024-03-05T10:00:00.5+01:00")) == "2024-03-05T10:00:00.500000+01:00"
    assert parse_iso("2024-03-05T10:00:00Z") == datetime(2024, 3, 5, 10, tzinfo=UTC)
    target = PROFILES["p1-p4-matrix"].targets("p2", "premium").first_response
    assert format_duration(target) == "PT1H"
    target = PROFILES["emergency-to-low"].targets("low", "standard").status_update
    assert format_duration(target) == "4 business days"
    with pytest.raises(UsageError):
        format_iso(datetime(2024, 3, 5, 10))


# -- clocks ------------------------------------------------------------------------------

AMP = PROFILES["emergency-to-low"]
OPENED = t("2024-03-05T10:00-08:00")  # Tuesday


def test_clock_first_response_pending_then_at_risk_then_breached() -> None:
    # High: 4 business hours -> due 14:00.
    early = clock(AMP, "high", "standard", OPENED, now=t("2024-03-05T12:00-08:00"))
    assert early.first_response_due == t("2024-03-05T14:00-08:00")
    assert early.elapsed_share == pytest.approx(0.5)
    assert not early.at_risk and not early.breached
    risky = clock(AMP, "high", "standard", OPENED, now=t("2024-03-05T13:00-08:00"))
    assert risky.at_risk and not risky.breached
    late = clock(AMP, "high", "standard", OPENED, now=t("2024-03-05T14:01-08:00"))
    assert late.breached and late.first_response_breached and not late.at_risk


def test_clock_response_exactly_on_time_is_met_and_a_late_one_stays_breached() -> None:
    on_time = clock(AMP, "high", "standard", OPENED, first_response_at=t("2024-03-05T14:00-08:00"),
                    now=t("2024-03-05T15:00-08:00"))
    assert not on_time.first_response_breached
    late = clock(AMP, "high", "standard", OPENED, first_response_at=t("2024-03-05T14:30-08:00"),
                 now=t("2024-03-06T08:00-08:00"))
    assert late.first_response_breached and late.breached


def test_clock_cadence_restarts_at_each_public_update() -> None:
    # Emergency: updates every hour, wall clock.
    state = clock(AMP, "emergency", "standard", OPENED, first_response_at=t("2024-03-05T10:30-08:00"),
                  public_updates=[t("2024-03-05T11:15-08:00")], now=t("2024-03-05T11:45-08:00"))
    assert state.last_public_update == t("2024-03-05T11:15-08:00")
    assert state.next_update_due == t("2024-03-05T12:15-08:00")
    assert state.elapsed_share == pytest.approx(0.5)
    assert not state.breached
    overdue = clock(AMP, "emergency", "standard", OPENED, first_response_at=t("2024-03-05T10:30-08:00"),
                    now=t("2024-03-05T11:31-08:00"))
    assert overdue.update_breached and overdue.breached and not overdue.first_response_breached


def test_clock_ignores_events_after_now() -> None:
    state = clock(AMP, "emergency", "standard", OPENED, first_response_at=t("2024-03-05T10:50-08:00"),
                  now=t("2024-03-05T10:40-08:00"))
    assert state.first_response_at is None
    assert state.first_response_due == t("2024-03-05T11:00-08:00")


def test_clock_pauses_while_waiting_on_the_customer() -> None:
    waiting = [(t("2024-03-05T11:00-08:00"), t("2024-03-05T12:00-08:00"))]
    state = clock(AMP, "high", "standard", OPENED, waiting_on_customer=waiting, now=t("2024-03-05T13:30-08:00"))
    assert state.first_response_due == t("2024-03-05T15:00-08:00")
    assert state.elapsed_share == pytest.approx(2.5 / 4)
    assert not state.paused


def test_clock_is_paused_during_an_open_wait_and_the_due_time_moves() -> None:
    waiting = [(t("2024-03-05T11:00-08:00"), None)]
    state = clock(AMP, "high", "standard", OPENED, waiting_on_customer=waiting, now=t("2024-03-05T17:00-08:00"))
    assert state.paused
    # One business hour elapsed before the wait; three are left when the customer answers.
    # If the customer answered now, 17:00: one hour today, two from Wednesday's 06:00 opening.
    assert state.first_response_due == t("2024-03-06T08:00-08:00")
    assert not state.breached and state.elapsed_share == pytest.approx(0.25)


def test_pause_moves_the_due_time_by_business_time_only() -> None:
    # Waiting from Tuesday 17:00 to Wednesday 07:00 pauses two business hours (17-18, 06-07).
    waiting = [(t("2024-03-05T17:00-08:00"), t("2024-03-06T07:00-08:00"))]
    state = clock(AMP, "high", "standard", t("2024-03-05T16:00-08:00"), waiting_on_customer=waiting,
                  now=t("2024-03-06T07:00-08:00"))
    # Nominal due: 2h Tuesday + 2h Wednesday = Wed 08:00; plus the 2 paused business hours.
    assert state.first_response_due == t("2024-03-06T10:00-08:00")


def test_a_pause_after_the_deadline_does_not_undo_a_breach() -> None:
    waiting = [(t("2024-03-05T15:00-08:00"), None)]
    state = clock(AMP, "high", "standard", OPENED, waiting_on_customer=waiting, now=t("2024-03-05T16:00-08:00"))
    assert state.first_response_due == t("2024-03-05T14:00-08:00")
    assert state.breached and state.paused


def test_no_pause_when_the_profile_does_not_say_so(tmp_path: Path) -> None:
    (tmp_path / "no-pause.yaml").write_text("extends: emergency-to-low\npause_while_waiting_on_customer: false\n")
    profile = load_profile("no-pause", search_dirs=[tmp_path])
    waiting = [(t("2024-03-05T11:00-08:00"), None)]
    state = clock(profile, "high", "standard", OPENED, waiting_on_customer=waiting, now=t("2024-03-05T13:00-08:00"))
    assert state.first_response_due == t("2024-03-05T14:00-08:00")
    assert not state.paused and state.at_risk


def test_at_risk_share_comes_from_the_profile(tmp_path: Path) -> None:
    (tmp_path / "nervous.yaml").write_text("extends: emergency-to-low\nat_risk_share: 0.25\n")
    profile = load_profile("nervous", search_dirs=[tmp_path])
    assert clock(profile, "high", "standard", OPENED, now=t("2024-03-05T11:00-08:00")).at_risk
    assert not clock(AMP, "high", "standard", OPENED, now=t("2024-03-05T11:00-08:00")).at_risk


def test_best_effort_has_no_clock() -> None:
    state = clock(PROFILES["severity-1-3"], "severity-1", "free", t("2024-03-05T10:00-07:00"),
                  now=t("2024-03-09T10:00-07:00"))
    assert state.best_effort and not state.breached and not state.at_risk
    assert state.first_response_due is None and state.next_update_due is None
    assert state.to_dict()["best_effort"] is True


def test_after_hours_clock_and_json() -> None:
    profile = PROFILES["after-hours-critical"]
    state = clock(profile, "critical", "premium", t("2024-03-09T10:00-05:00"),
                  first_response_at=t("2024-03-09T10:10-05:00"), now=t("2024-03-09T10:50-05:00"))
    assert state.after_hours and not state.breached
    assert state.next_update_due == t("2024-03-09T11:10-05:00")
    data = state.to_dict()
    assert data["status_update_every"] == "PT1H"
    assert data["next_update_due"] == "2024-03-09T11:10:00-05:00"


def test_clock_requires_aware_times() -> None:
    with pytest.raises(UsageError, match="no time zone"):
        clock(AMP, "high", "standard", datetime(2024, 3, 5, 10), now=t("2024-03-05T11:00-08:00"))


# -- properties over every packaged profile ----------------------------------------------

COMBOS = [
    (name, severity, tier)
    for name, profile in PROFILES.items()
    for tier in profile.tiers
    for severity in profile.severities
    if not due(profile, severity, tier, t("2024-03-05T10:00:00+00:00")).best_effort
]
opened_times = st.datetimes(
    min_value=datetime(2023, 1, 1), max_value=datetime(2026, 12, 31),
    timezones=st.sampled_from([UTC, *(p.calendar(tier).zone for p in PROFILES.values() for tier in p.tiers)]),
    allow_imaginary=False,
)


@given(st.sampled_from(COMBOS), opened_times, opened_times)
@settings(max_examples=150)
def test_due_is_after_opening_and_monotonic(combo: tuple[str, str, str], a: datetime, b: datetime) -> None:
    name, severity, tier = combo
    profile = PROFILES[name]
    early, late = sorted((a, b))
    d1, d2 = due(profile, severity, tier, early), due(profile, severity, tier, late)
    assert d1.first_response_due is not None and d2.first_response_due is not None
    assert early <= d1.first_response_due <= d2.first_response_due
    if d1.next_update_due is not None and d2.next_update_due is not None:
        assert early <= d1.next_update_due <= d2.next_update_due


@given(st.sampled_from([c for c in COMBOS if PROFILES[c[0]].calendar(c[2]).always_open]), opened_times)
# Due in the hour Denver repeats when clocks go back: equal instants, unequal under `==`
# across zones (PEP 495), so the assertion compares instants.
@example(("severity-1-3", "severity-1", "premium"), datetime(2024, 11, 3, 0, 30, tzinfo=ZoneInfo("America/Denver")))
def test_due_on_a_24x7_tier_is_wall_clock_addition(combo: tuple[str, str, str], opened: datetime) -> None:
    name, severity, tier = combo
    profile: Profile = PROFILES[name]
    target = profile.targets(severity, tier).first_response
    assert target is not None and target.kind == "wall"
    first_response_due = due(profile, severity, tier, opened).first_response_due
    assert first_response_due is not None
    assert first_response_due.astimezone(UTC) == opened.astimezone(UTC) + target.length


BUSINESS_TARGETS = [
    (name, severity, tier, kind)
    for name, severity, tier in COMBOS
    for kind in ("first_response", "status_update")
    if not PROFILES[name].calendar(tier).always_open
    and (target := getattr(PROFILES[name].targets(severity, tier), kind)) is not None
    and target.kind != "wall"
]


@given(st.sampled_from(BUSINESS_TARGETS), opened_times)
def test_business_due_times_fall_inside_support_hours(combo: tuple[str, str, str, str], opened: datetime) -> None:
    name, severity, tier, kind = combo
    profile = PROFILES[name]
    result = due(profile, severity, tier, opened)
    when = result.first_response_due if kind == "first_response" else result.next_update_due
    assert when is not None
    assert profile.calendar(tier).within_hours(when)


@given(st.sampled_from(COMBOS), opened_times, st.integers(0, 48 * 60), st.integers(1, 24 * 60))
@settings(max_examples=60)
def test_waiting_on_the_customer_never_brings_a_due_time_forward(
    combo: tuple[str, str, str], opened: datetime, wait_from: int, wait_for: int
) -> None:
    name, severity, tier = combo
    profile = PROFILES[name]
    start = opened + timedelta(minutes=wait_from)
    now = start + timedelta(minutes=wait_for)
    plain = clock(profile, severity, tier, opened, now=now)
    paused = clock(profile, severity, tier, opened, now=now, waiting_on_customer=[(start, None)])
    assert plain.first_response_due is not None and paused.first_response_due is not None
    assert paused.first_response_due >= plain.first_response_due
    assert paused.paused
