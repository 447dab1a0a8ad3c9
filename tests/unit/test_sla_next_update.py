"""``sla.next_update_after``: when the next status update is due if the customers are told
something now. Sync asks it of every announcement it plans, so it skips the rest of the
clock; it must answer exactly what the whole clock answers with a public update at now,
whatever the clock's other inputs (responses, earlier updates, pauses open or closed)."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bridge.errors import UsageError
from bridge.mapping import load_profile
from bridge.policy.sla import clock, next_update_after
from bridge.policy.update_promises import UpdatePromises

# Targets that differ in and after hours (a cadence; best effort or not), so the targets at
# opening and at now differ.
SHIFTING = """\
name: shifting
extends: after-hours-critical
tiers:
  premium:
    targets:
      critical: {first_response: 15m, status_update: 1bd}
      non-critical: {first_response: 4bh, status_update: 2bd}
  standard:
    targets:
      critical: best-effort
      non-critical: best-effort
"""
_made = Path(tempfile.mkdtemp(prefix="bridge-profile-")) / "shifting.yaml"
_made.write_text(SHIFTING)
PROFILES = {name: load_profile(name)
            for name in ("emergency-to-low", "p1-p4-matrix", "severity-1-3", "after-hours-critical")}
PROFILES["shifting"] = load_profile(_made)
START = datetime(2024, 3, 4, tzinfo=UTC)


@st.composite
def escalations(draw):
    profile = PROFILES[draw(st.sampled_from(sorted(PROFILES)))]
    severity = draw(st.sampled_from(profile.severities))
    tier = draw(st.none() | st.sampled_from(sorted(profile.tiers)))
    opened = START + timedelta(minutes=draw(st.integers(0, 60 * 24 * 21)))
    now = opened + timedelta(minutes=draw(st.integers(0, 60 * 24 * 8)), microseconds=draw(st.integers(0, 999_999)))
    offsets = st.integers(0, max(0, int((now - opened).total_seconds())))
    responded = draw(st.none() | offsets.map(lambda s: opened + timedelta(seconds=s)))
    updates = tuple(opened + timedelta(seconds=s) for s in draw(st.lists(offsets, max_size=3)))
    pauses = []
    for s, length, still_waiting in draw(st.lists(st.tuples(offsets, st.integers(1, 60 * 60 * 30), st.booleans()),
                                                  max_size=2)):
        begin = opened + timedelta(seconds=s)
        pauses.append((begin, None if still_waiting else min(begin + timedelta(seconds=length), now)))
    return profile, severity, tier, opened, now, responded, updates, pauses


@settings(max_examples=300, deadline=None)
@given(escalations())
@example((PROFILES["severity-1-3"], "severity-3", "free", START, START + timedelta(hours=5), None, (), []))
# Opened in hours, where the tier's critical issues have no clock; told after hours, where
# the after-hours rule would give one: still no clock (it is the opening that decides).
@example((PROFILES["shifting"], "critical", "standard", datetime(2024, 3, 4, 15, tzinfo=UTC),
          datetime(2024, 3, 4, 23, tzinfo=UTC), None, (), []))
def test_the_next_update_is_what_the_whole_clock_says_after_telling_the_customers_now(case):
    profile, severity, tier, opened, now, responded, updates, pauses = case
    whole = clock(profile, severity, tier, opened, first_response_at=responded or now,
                  public_updates=(*updates, now), waiting_on_customer=pauses, now=now)
    assert next_update_after(profile, severity, tier, opened, now) == whole.next_update_due


@st.composite
def batches(draw):
    """Escalations of every profile, severity and tier, all told something at one instant."""
    now = START + timedelta(minutes=draw(st.integers(0, 60 * 24 * 21)), microseconds=draw(st.integers(0, 999_999)))
    asked = []
    for _ in range(draw(st.integers(1, 12))):
        profile = PROFILES[draw(st.sampled_from(sorted(PROFILES)))]
        severity = draw(st.sampled_from(profile.severities))
        tier = draw(st.none() | st.sampled_from(sorted(profile.tiers)))
        opened = now - timedelta(minutes=draw(st.integers(0, 60 * 24 * 21)))
        asked.append((profile, severity, tier, opened))
    return now, asked


@settings(max_examples=200, deadline=None)
@given(batches())
def test_a_batch_at_one_instant_promises_what_each_escalation_is_promised_alone(batch):
    """A sync batch remembers the calendar walk per profile, severity and tier: every answer
    is still the one ``next_update_after`` gives that escalation on its own, asked once or
    again, in any order."""
    now, asked = batch
    promises = UpdatePromises(now)
    for profile, severity, tier, opened in asked + asked[::-1]:
        assert promises.after(profile, severity, tier, opened) == next_update_after(profile, severity, tier,
                                                                                    opened, now)


def test_a_batch_refuses_what_next_update_after_refuses():
    profile = PROFILES["emergency-to-low"]
    promises = UpdatePromises(START)
    for call in (lambda: promises.after(profile, "nonsense", None, START),
                 lambda: promises.after(profile, "high", "nonsense", START),
                 lambda: promises.after(profile, "high", None, START.replace(tzinfo=None)),
                 lambda: UpdatePromises(START.replace(tzinfo=None))):
        with pytest.raises(UsageError):
            call()
