"""The support policy's status-update cadence, kept by `bridge sync` (issue 6).

An Emergency under the emergency-to-low profile (policy 000) promises a status update every
hour. The sync engine's clock is frozen and moved forward by hand; the emulators are real.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from bridge.escalation import EscalationRequest
from tests.conftest import ACTOR
from tests.fixtures.bridge_comments import bridge_comments


def test_one_status_update_per_period_an_at_risk_alert_and_none_while_waiting_on_the_customer(sandbox, services):
    emergency = next(t for t in sandbox.zendesk_state.tickets.values() if "[Emergency]" in t["subject"])
    ticket = emergency["id"]
    t0 = datetime.now(timezone.utc)
    result = services.escalator().escalate(EscalationRequest(ticket=str(ticket), actor=ACTOR))
    assert result.severity == "emergency"
    sandbox.zendesk_state.export_skips_last_minute = False
    now = [t0]
    engine = services.sync_engine(clock=lambda: now[0])

    def sync_at(minutes: float) -> None:
        now[0] = t0 + timedelta(minutes=minutes)
        report = engine.run()
        assert report.exit_code == 0, report.failures

    def updates() -> list[str]:
        return [body for body in bridge_comments(sandbox, ticket) if "regular update" in body]

    sync_at(30)
    assert updates() == []
    at_risk_notes = len([n for n in bridge_comments(sandbox, ticket, public=False) if "SLA at risk" in n])
    assert at_risk_notes == 0

    sync_at(50)  # 75 % of the hour has passed: agents and engineering are alerted, once
    sync_at(52)
    assert len([n for n in bridge_comments(sandbox, ticket, public=False) if "SLA at risk" in n]) == 1
    assert len([c for c in sandbox.jira_state.comments(result.jira_key) if "SLA at risk" in c["body"]]) == 1
    assert updates() == []

    sync_at(61)  # the hour has come round: one update
    sync_at(62)
    sync_at(70)
    assert len(updates()) == 1
    assert "next update" in updates()[0].lower()

    sync_at(122)  # the next period, counted from the update at +61
    sync_at(123)
    assert len(updates()) == 2

    # The agent asks the customer something: the ticket waits on the customer.
    agent = sandbox.zendesk_state.user_by_email("erin@example.com")
    sandbox.zendesk_state.update_ticket(ticket, {"status": "pending",
                                                 "comment": {"body": "Could you send us the log file?", "public": True}},
                                        agent["id"])
    sync_at(125)
    sync_at(300)
    sync_at(500)
    assert len(updates()) == 2
    assert services.store.links.get("zendesk", str(ticket)).waiting_on_customer_since is not None


def test_the_clocks_are_read_a_pass_batch_at_a_time(sandbox, services):
    """The cadence reads the escalations whose clocks are due in pages of the pass's batch
    (after a burst of announcements every told escalation is due at once: a page is what
    the pass holds in memory), not all of them, nor pages of its own size."""
    import re

    from sqlalchemy import event

    customer = sandbox.zendesk_state.ticket(101)["requester_id"]
    escalator = services.escalator()
    for n in range(3):
        ticket = sandbox.zendesk_state.create_ticket({"subject": f"Export {n} fails", "comment": {"body": "500"}},
                                                     customer)[0]["id"]
        escalator.escalate(EscalationRequest(ticket=str(ticket), actor=ACTOR))
    due = {e.id for page in services.store.escalations.sla_due(datetime.now(timezone.utc)) for e in page}
    assert len(due) >= 3  # just escalated: no clock computed yet
    pages: list[str] = []
    due_page = re.compile(r"^SELECT escalation\.id\s+FROM escalation\s+WHERE .*sla_next_check_at", re.S)

    def seen(conn, cursor, statement, parameters, context, executemany):
        if due_page.match(statement):
            pages.append(statement)

    engine = services.sync_engine()
    engine.pass_batch = 2
    event.listen(services.store.engine, "before_cursor_execute", seen)
    try:
        report = engine.run()
    finally:
        event.remove(services.store.engine, "before_cursor_execute", seen)
    assert report.exit_code == 0, report.failures
    # ⌈due / 2⌉ pages with rows, and the empty one that ends the walk.
    assert len(pages) == -(-len(due) // 2) + 1
    assert all(e.sla_next_check_at is not None for e in services.store.escalations.by_ids(due).values())


def test_each_announcement_of_a_batch_promises_the_next_update_its_own_clock_gives(sandbox, services):
    """A batch works out its promises at one instant, once per severity and tier: each
    ticket still hears the next update its own escalation's policy gives at that instant."""
    from jira import JIRA

    from bridge.policy.sla import next_update_after
    from bridge.sandbox.jira import DEMO_LOGINS

    customer = sandbox.zendesk_state.ticket(101)["requester_id"]
    escalator = services.escalator()
    tickets = {}
    for subject in ("[Emergency] Checkout is down", "Export fails", "[Emergency] Logins fail", "Report is slow"):
        ticket = sandbox.zendesk_state.create_ticket({"subject": subject, "comment": {"body": "It broke."}},
                                                     customer)[0]["id"]
        tickets[ticket] = escalator.escalate(EscalationRequest(ticket=str(ticket), actor=ACTOR)).jira_key
    dev = JIRA(server=sandbox.jira.url, basic_auth=DEMO_LOGINS["dev"].basic_auth("cloud"), max_retries=0)
    for key in tickets.values():
        dev.transition_issue(key, "In Progress")
    now = datetime.now(timezone.utc) + timedelta(minutes=3)
    report = services.sync_engine(clock=lambda: now).run()
    assert report.exit_code == 0, report.failures

    promised = set()
    for ticket, key in tickets.items():
        escalation = services.store.escalations.by_key(key)
        expected = next_update_after(services.profile_for(escalation.profile), escalation.severity,
                                     escalation.tier, escalation.opened_at, now)
        assert expected is not None
        promised.add((escalation.severity, expected))
        line = next(line for line in services.messages.render(
            "in_progress", sandbox.zendesk_state.ticket(ticket).get("locale") or "en-US",
            subject="-", next_update=expected).splitlines() if "update you again" in line)
        assert line in bridge_comments(sandbox, ticket)[-1]
    assert {severity for severity, _ in promised} == {"emergency", "normal"}
    assert len({when for _, when in promised}) == 2  # an hour for the emergencies, longer for the others


def test_a_ticket_escalated_hours_after_it_opened_is_promised_an_update_a_period_after_the_acknowledgement(
        sandbox, services):
    """The acknowledgement is a public update: the next one it promises is an hour after it
    (the emergency cadence), never an hour after the ticket opened, which for a ticket
    escalated three hours late would be a time already past."""
    emergency = next(t for t in sandbox.zendesk_state.tickets.values() if "[Emergency]" in t["subject"])
    opened = services.helpdesk.get_ticket(str(emergency["id"])).created
    later = opened + timedelta(hours=3)
    escalator = services.escalator()
    escalator.clock = lambda: later
    result = escalator.escalate(EscalationRequest(ticket=str(emergency["id"]), actor=ACTOR))

    assert result.severity == "emergency"
    promised = datetime.fromisoformat(result.next_update_due)
    assert later < promised <= later + timedelta(hours=1)
    # What the customer was told says the same time.
    acknowledgement = bridge_comments(sandbox, emergency["id"])[-1]
    assert promised.strftime("%-I:%M") in acknowledgement
