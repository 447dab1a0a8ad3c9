"""What the board tells a manager is true: the timeline's "Customer saw" lane, the standings
against ``bridge sla`` at the same moment, and the SLA report's numbers against the store.

Every check goes through real HTTP against the board served on loopback."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

from tests.board.test_pages import escalate_through_form


def _timeline(html: str) -> list[str]:
    """The timeline's items as plain text, one per entry."""
    found = re.search(r'<ol class="timeline" id="timeline">(.*?)</ol>', html, re.DOTALL)
    assert found, "the escalation page has no timeline"
    items = re.findall(r"<li[^>]*>(.*?)</li>", found.group(1), re.DOTALL)
    return [" ".join(re.sub(r"<[^>]+>", " ", item).split()) for item in items]


def test_an_undelivered_customer_message_is_not_shown_as_seen_by_the_customer(board, sandbox):
    session = board.signed_in()
    path = escalate_through_form(board, session)
    [escalation] = board.services.store.escalations.list()
    outbox = board.services.store.outbox
    # A periodic update the helpdesk refused, and an announcement still under way.
    outbox.claim("test:update", target="zendesk:101", kind="StatusUpdate", escalation_id=escalation.id)
    outbox.failed("test:update", "the helpdesk answered 503")
    outbox.claim("test:announce", target="zendesk:101", kind="Announce", escalation_id=escalation.id)

    items = _timeline(session.get(f"{board.url}{path}", timeout=10).text)
    update = [i for i in items if "Periodic status update" in i]
    announced = [i for i in items if "Status announced" in i]
    assert update and announced, items
    assert not any("Customer saw" in i for i in (*update, *announced)), (update, announced)
    # The acknowledgement that did go out is still in the customer's lane.
    assert any("Customer saw: Acknowledgement" in i for i in items), items


def _intent(board, ticket: str, *, hours_ago: float):
    """An escalation stuck before its Bug exists (JIRA was down), opened ``hours_ago``."""
    svc = board.services
    [made] = svc.store.escalations.list()
    escalation, claimed = svc.store.escalations.record_intent(
        label=f"bridge-test-{ticket}", origin_helpdesk=made.origin_helpdesk, origin_ticket_id=ticket,
        severity=made.severity, priority=made.priority, profile=made.profile, escalated_by="test",
        opened_at=datetime.now(UTC) - timedelta(hours=hours_ago), tier=made.tier,
        organization=made.organization)
    assert claimed and escalation.state == "intent" and escalation.jira_key is None
    return escalation


def test_a_breached_escalation_without_its_bug_yet_has_the_standing_bridge_sla_gives_it(board, sandbox):
    session = board.signed_in()
    escalate_through_form(board, session)
    stuck = _intent(board, "999001", hours_ago=24 * 30)
    expected = {tuple(t["ticket"] for t in r["tickets"]): r["standing"] for r in board.services.sla_rows(None)}
    assert expected[("999001",)] == "breached"  # what `bridge sla` says

    board.standings.refresh()
    page = session.get(f"{board.url}/", timeout=10).text
    rows = re.findall(r'<tr class="standing-([a-z-]+)">\s*<td><a href="/escalations/(\d+)"', page)
    assert rows, page
    # Breached first, as the board's caption promises, and with the standing bridge sla gives.
    assert rows[0] == ("breached", str(stuck.id)), rows
    breached = session.get(f"{board.url}/", params={"standing": "breached"}, timeout=10).text
    assert f'href="/escalations/{stuck.id}"' in breached
    own = session.get(f"{board.url}/escalations/{stuck.id}", timeout=10).text
    assert 'badge badge-breached">breached<' in own, re.findall(r'badge badge-[^<]*<', own)


def _attainment(session, board) -> list[dict]:
    text = session.get(f"{board.url}/report/attainment.csv", timeout=10).text
    return list(csv.DictReader(io.StringIO(text)))


def test_a_first_response_not_made_yet_is_not_counted_as_met(board, sandbox):
    session = board.signed_in()
    escalate_through_form(board, session)
    _intent(board, "999002", hours_ago=0.01)  # no acknowledgement sent, nothing due yet
    board.standings.refresh()
    clocks = [r["sla"] for r in board.services.sla_rows(None) if r["sla"]]
    made = sum(1 for c in clocks if c["first_response_at"] and not c["first_response_breached"])
    rows = _attainment(session, board)
    assert sum(int(r["first_response_met"]) for r in rows) == made, rows


def test_the_reports_open_count_this_week_is_the_boards(board, sandbox):
    session = board.signed_in()
    escalate_through_form(board, session)
    _intent(board, "999003", hours_ago=2)
    board.standings.refresh()
    total = int(re.search(r'<p class="count" id="count">(\d+) open', session.get(f"{board.url}/", timeout=10).text)[1])
    text = session.get(f"{board.url}/report/open.csv", timeout=10).text
    rows = list(csv.DictReader(io.StringIO(text)))
    last = max(r["week_ending"] for r in rows)
    assert sum(int(r["open"]) for r in rows if r["week_ending"] == last) == total == 2
