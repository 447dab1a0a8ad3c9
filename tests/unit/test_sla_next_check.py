"""``bridge.sync.cadence.next_check``: the instant sync stores as an escalation's
``sla_next_check_at`` is never later than the first instant the cadence asks for something,
so selecting only the rows due (issue 15) never delays a status update or an at-risk alert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.mapping import load_profile
from bridge.policy.sla import clock
from bridge.sync.cadence import next_check
from bridge.sync.plan import TicketView, cadence

PROFILES = {name: load_profile(name) for name in ("emergency-to-low", "p1-p4-matrix", "severity-1-3")}
TICKETS = [TicketView(helpdesk="zendesk", ticket_id="1", locale="en-US", last_announced=None)]
START = datetime(2024, 3, 4, tzinfo=UTC)


def asks_for_something(state_at, at: datetime, options: dict) -> bool:
    return bool(cadence(issue_key="SUP-1", escalation_id=1, tickets=TICKETS, clock=state_at(at), now=at,
                        next_due_after_update=None, **options))


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(sorted(PROFILES)), data=st.data(),
       opened_h=st.integers(0, 24 * 14), responded_h=st.none() | st.integers(0, 72),
       updates=st.lists(st.integers(0, 24 * 7), max_size=3), now_h=st.integers(0, 24 * 10),
       alert=st.booleans(), post=st.booleans())
def test_nothing_is_due_before_the_stored_check(name, data, opened_h, responded_h, updates, now_h, alert, post):
    profile = PROFILES[name]
    severity = data.draw(st.sampled_from(sorted(profile.severities)))
    opened = START + timedelta(hours=opened_h)
    responded = opened + timedelta(hours=responded_h) if responded_h is not None else None
    public = tuple(opened + timedelta(hours=h) for h in updates)
    now = opened + timedelta(hours=now_h)
    options = dict(post_updates=post, alert_at_risk=alert, at_risk_share=0.75)

    def state_at(at: datetime):
        return clock(profile, severity, None, opened, first_response_at=responded, public_updates=public, now=at)

    if asks_for_something(state_at, now, options):
        return  # sync acts now and stores no check
    check = next_check(state_at, now, **options)
    assert check > now
    # Sample the stretch before the check (a day at most): the cadence asks for nothing there.
    span = min(check, now + timedelta(days=2)) - now
    for step in range(1, 25):
        at = now + span * step / 25
        if at < check:
            assert not asks_for_something(state_at, at, options), (at, check)
