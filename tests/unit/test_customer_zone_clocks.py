"""A tier whose hours are the customer's (policy 002's Standard: 08:00-17:00 "w lokalnej
strefie czasowej") counts them in the customer's zone, whichever zone that is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from bridge.mapping import load_profile
from bridge.policy.sla import clock, due, next_update_after
from bridge.policy.update_promises import UpdatePromises

PROFILE = load_profile("p1-p4-matrix")
ZONES = ["Europe/Warsaw", "Pacific/Auckland", "America/Los_Angeles", "Asia/Kolkata", "UTC", "America/St_Johns"]
instants = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31)).map(
    lambda d: d.replace(tzinfo=UTC))


@given(opened=instants, zone=st.sampled_from(ZONES), severity=st.sampled_from(["p1", "p2", "p3", "p4"]))
def test_a_standard_ticket_is_due_within_its_customers_business_hours(opened, zone, severity):
    due_at = due(PROFILE, severity, "standard", opened, customer_zone=zone).first_response_due
    local = due_at.astimezone(ZoneInfo(zone))
    assert local.weekday() < 5 and 8 * 60 <= local.hour * 60 + local.minute <= 17 * 60
    assert due_at > opened


@given(opened=instants, zone=st.sampled_from(ZONES), hours=st.integers(0, 200))
def test_the_promise_of_the_next_update_agrees_with_the_clock_in_the_customers_zone(opened, zone, hours):
    now = opened + timedelta(hours=hours)
    whole = clock(PROFILE, "p2", "standard", opened, first_response_at=now, public_updates=(now,), now=now,
                  customer_zone=zone).next_update_due
    assert next_update_after(PROFILE, "p2", "standard", opened, now, customer_zone=zone) == whole
    promises = UpdatePromises(now)
    assert promises.after(PROFILE, "p2", "standard", opened, zone) == whole
    # Remembered per zone: another zone at the same instant gets its own answer.
    other = "Pacific/Auckland" if zone != "Pacific/Auckland" else "Europe/Warsaw"
    assert promises.after(PROFILE, "p2", "standard", opened, other) == next_update_after(
        PROFILE, "p2", "standard", opened, now, customer_zone=other)
