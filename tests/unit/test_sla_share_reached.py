"""``ClockState.share_reached_at`` solves the clock for the instant its elapsed share reaches a
value, and ``next_check`` uses it instead of bisecting: checked against the clock itself
(the share is reached then, and not a microsecond before) and against the bisection sync
used before (the same instant to within its resolution)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.mapping import load_profile
from bridge.policy.sla import clock
from bridge.sync.cadence import NEVER, RECHECK, next_check

PROFILES = {name: load_profile(name)
            for name in ("emergency-to-low", "p1-p4-matrix", "severity-1-3", "after-hours-critical")}
START = datetime(2024, 3, 4, tzinfo=UTC)
RESOLUTION = timedelta(minutes=1)
US = timedelta(microseconds=1)


def bisected(state_at, now, *, post_updates, alert_at_risk, at_risk_share, resolution=RESOLUTION):
    """``next_check`` as it was before the clock could say when: bisection alone."""
    state = state_at(now)
    if state.best_effort:
        return NEVER
    if state.paused:
        return now + RECHECK
    running = state.next_update_due or (state.first_response_due if state.first_response_at is None else None)
    if running is None or running <= now:
        return NEVER if running is None else now + RECHECK
    due = running if (post_updates and state.next_update_due is not None) else NEVER
    if not alert_at_risk:
        return min(due, running + resolution) if due is NEVER else due

    def at_risk(at):
        later = state_at(at)
        target = later.next_update_due or (later.first_response_due if later.first_response_at is None else None)
        return (target is not None and target > at and later.elapsed_share is not None
                and later.elapsed_share >= at_risk_share)

    low, high = now, running
    if not at_risk(high - resolution):
        return min(due, running + resolution)
    while high - low > resolution:
        middle = low + (high - low) / 2
        if at_risk(middle):
            high = middle
        else:
            low = middle
    return min(due, low)


@st.composite
def clocks(draw, *, settled: bool):
    """A clock's inputs; ``settled``: none of them after ``now`` (as sync always has them)."""
    name = draw(st.sampled_from(sorted(PROFILES)))
    profile = PROFILES[name]
    severity = draw(st.sampled_from(profile.severities))
    tier = draw(st.none() | st.sampled_from(sorted(profile.tiers)))
    opened = START + timedelta(minutes=draw(st.integers(0, 60 * 24 * 21)))
    now = opened + timedelta(minutes=draw(st.integers(0, 60 * 24 * 8)), microseconds=draw(st.integers(0, 999_999)))
    horizon = (now - opened) if settled else timedelta(days=8)
    offsets = st.integers(0, max(0, int(horizon.total_seconds())))
    responded = draw(st.none() | offsets.map(lambda s: opened + timedelta(seconds=s)))
    updates = tuple(opened + timedelta(seconds=s) for s in draw(st.lists(offsets, max_size=3)))
    pauses = []
    for s, length in draw(st.lists(st.tuples(offsets, st.integers(1, 60 * 60 * 30)), max_size=2)):
        begin = opened + timedelta(seconds=s)
        pauses.append((begin, min(begin + timedelta(seconds=length), now) if settled else begin + timedelta(seconds=length)))
    pauses = [(a, b) for a, b in pauses if b > a]

    def state_at(at):
        return clock(profile, severity, tier, opened, first_response_at=responded, public_updates=updates,
                     waiting_on_customer=pauses, now=at)

    return state_at, now


shares = st.sampled_from([0.01, 0.5, 0.75, 0.9, 1.0])


@settings(max_examples=150, deadline=None)
@given(clocks(settled=True), shares)
def test_the_share_is_reached_then_and_not_a_microsecond_before(case, share):
    state_at, now = case
    state = state_at(now)
    reached = state.share_reached_at(share)
    if reached is None:
        assert state.best_effort or state.paused or state.elapsed_share is None
        return
    assert reached >= now
    assert state_at(reached).elapsed_share >= share
    if reached > now:
        assert state_at(reached - US).elapsed_share < share


@settings(max_examples=150, deadline=None)
@given(clocks(settled=True), st.booleans(), st.booleans(), shares)
def test_next_check_is_the_bisection_to_within_its_resolution(case, post, alert, share):
    state_at, now = case
    options = {"post_updates": post, "alert_at_risk": alert, "at_risk_share": share}
    found, reference = next_check(state_at, now, **options), bisected(state_at, now, **options)
    # Never later than the bisection's "a minute after", never more than two minutes earlier
    # (the bisection only looks a resolution before the due time).
    assert reference - 2 * RESOLUTION <= found <= reference + RESOLUTION


@settings(max_examples=100, deadline=None)
@given(clocks(settled=False), st.booleans(), st.booleans())
def test_an_input_after_now_is_looked_at_no_later_than_it_happens(case, post, alert):
    state_at, now = case
    state = state_at(now)
    found = next_check(state_at, now, post_updates=post, alert_at_risk=alert, at_risk_share=0.75)
    if state.inputs_change_at is not None:
        assert now < state.inputs_change_at
        assert found <= state.inputs_change_at
