"""The board's pages over loopback HTTP: escalate through the form, see it on the board
and its timeline, follow a JIRA change, filters, failures and the SLA report."""

from __future__ import annotations

import csv
import io
import re

import pytest
from jira import JIRA

from bridge.sandbox.jira import DEMO_LOGINS
from tests.board.conftest import ADMIN, MANAGER, VIEWER, csrf_of

XSS = '<script>window.pwned=1</script> {{ 7*7 }} <img src=x onerror="window.pwned=1">'


def escalate_through_form(board, session, ticket: str = "101", **fields) -> str:
    """Dry run, then confirm; returns the escalation page's path."""
    form = session.get(f"{board.url}/escalations/new", timeout=10)
    token = csrf_of(form.text)
    before = len(board.services.store.escalations.list())
    plan = session.post(f"{board.url}/escalations/new", data={"ticket": ticket, "csrf_token": token, **fields}, timeout=60)
    assert plan.status_code == 200, plan.text
    assert 'id="confirm-button"' in plan.text
    assert len(board.services.store.escalations.list()) == before  # the dry run wrote nothing
    done = session.post(f"{board.url}/escalations/new/confirm", data={"ticket": ticket, "csrf_token": token, **fields},
                        allow_redirects=False, timeout=60)
    assert done.status_code == 303, done.text
    return done.headers["Location"]


def test_a_manager_escalates_through_the_form_and_sees_it_on_the_board(board, sandbox):
    session = board.signed_in()
    path = escalate_through_form(board, session)
    [escalation] = board.services.store.escalations.list()
    assert path == f"/escalations/{escalation.id}" and escalation.escalated_by == MANAGER
    assert escalation.label in sandbox.jira_state.issue(escalation.jira_key)["fields"]["labels"]

    page = session.get(f"{board.url}{path}", timeout=10)
    assert page.status_code == 200 and escalation.jira_key in page.text
    assert "Customer saw: Acknowledgement" in page.text and "Internal: " in page.text

    board.standings.refresh()
    listing = session.get(f"{board.url}/", timeout=10)
    assert escalation.jira_key in listing.text and "zendesk #101" in listing.text
    audit = [(a.actor, a.action, a.result) for a in board.services.store.audit.entries()]
    assert (f"board:{MANAGER}", "escalate", "ok") in audit


def test_a_jira_change_reaches_the_escalation_page(board, sandbox):
    session = board.signed_in()
    path = escalate_through_form(board, session)
    [escalation] = board.services.store.escalations.list()
    version_url = f"{board.url}/board/version?escalation={escalation.id}"
    before = session.get(version_url, timeout=10).json()["version"]

    dev = JIRA(server=sandbox.jira.url, basic_auth=DEMO_LOGINS["dev"].basic_auth("cloud"), max_retries=0)
    dev.transition_issue(escalation.jira_key, "In Progress")
    sandbox.zendesk_state.export_skips_last_minute = False
    report = board.services.sync_engine().run()
    assert report.exit_code == 0, report.failures

    assert session.get(version_url, timeout=10).json()["version"] != before  # what the page's script polls
    page = session.get(f"{board.url}{path}", timeout=10)
    assert "Customer saw: Status announced" in page.text and "in_progress" in page.text


def test_ticket_text_renders_as_inert_text(board, sandbox):
    alice = sandbox.zendesk_state.user_by_email("alice.adams@acme.example")
    created, _ = sandbox.zendesk_state.create_ticket(
        {"subject": f"Crash {XSS}", "requester_id": alice["id"], "comment": {"body": f"It breaks: {XSS}"}},
        alice["id"])
    session = board.signed_in()
    token = csrf_of(session.get(f"{board.url}/escalations/new", timeout=10).text)
    plan = session.post(f"{board.url}/escalations/new", data={"ticket": str(created["id"]), "csrf_token": token}, timeout=60)
    assert plan.status_code == 200
    pages = [plan.text]
    path = escalate_through_form(board, session, str(created["id"]))
    board.standings.refresh()
    for url in (path, "/", "/failures", "/report"):
        pages.append(session.get(f"{board.url}{url}", timeout=10).text)
    assert "&lt;script&gt;" in plan.text and "{{ 7*7 }}" in plan.text  # shown, as text
    for html in pages:
        assert "<script>window.pwned" not in html and "onerror=\"window" not in html
        assert not re.search(r"<img[^>]*onerror", html)
        assert "Crash  49" not in html


def test_filters_and_search_narrow_the_board(board, sandbox):
    session = board.signed_in()
    escalate_through_form(board, session, "101")
    board.standings.refresh()
    [escalation] = board.services.store.escalations.list()
    for query, shown in (({"q": "101"}, True), ({"q": escalation.jira_key}, True), ({"q": "999"}, False),
                         ({"severity": escalation.severity}, True), ({"severity": "nonexistent"}, False),
                         ({"standing": "breached"}, False)):
        page = session.get(f"{board.url}/", params=query, timeout=10)
        assert page.status_code == 200
        assert (escalation.jira_key in page.text) == shown, query


def test_failures_are_listed_and_retried(board, sandbox):
    session = board.signed_in()
    escalate_through_form(board, session)
    [escalation] = board.services.store.escalations.list()
    board.services.store.outbox.claim("test:failing-write", target="zendesk:101", kind="InternalNote",
                                      escalation_id=escalation.id)
    board.services.store.outbox.failed("test:failing-write", "the helpdesk answered 503")
    page = session.get(f"{board.url}/failures", timeout=10)
    assert "the helpdesk answered 503" in page.text and "Retry all" in page.text
    assert "Internal note on the ticket" in page.text and "InternalNote" not in page.text  # words, not class names
    viewer = board.signed_in(VIEWER)
    assert "Retry all" not in viewer.get(f"{board.url}/failures", timeout=10).text
    retried = session.post(f"{board.url}/failures/retry", data={"escalation": "all", "csrf_token": csrf_of(page.text)},
                           timeout=60)
    assert retried.status_code == 200 and "sync of 1 escalation" in retried.text
    assert any(a.action == "retry" and a.actor == f"board:{MANAGER}" for a in board.services.store.audit.entries())


def test_retry_finishes_a_joined_tickets_failed_acknowledgement_at_once(board, sandbox):
    """The acknowledgement a ticket joined with --into failed to get is sent by the manager's
    Retry (the pass it runs finishes what escalations left unfinished), once."""
    from bridge.escalation import EscalationRequest

    session = board.signed_in()
    escalate_through_form(board, session, "101")
    [escalation] = board.services.store.escalations.list()
    sandbox.zendesk.knobs.update({"fail_next": 100, "fail_status": 503, "fail_methods": ["PUT", "POST"]})
    try:
        joined = board.services.escalator().escalate(EscalationRequest(ticket="104", actor=MANAGER,
                                                                       into=escalation.jira_key))
    finally:
        sandbox.zendesk.knobs.update({"fail_next": 0, "fail_methods": []})
    assert joined.failures
    page = session.get(f"{board.url}/failures", timeout=10)
    retried = session.post(f"{board.url}/failures/retry", data={"escalation": str(escalation.id),
                                                                 "csrf_token": csrf_of(page.text)}, timeout=60)
    assert retried.status_code == 200, retried.text
    bridge_user = sandbox.zendesk_state.user_by_email("bridge@example.com")["id"]
    told = [c for c in sandbox.zendesk_state.comments(104) if c["public"] and c["author_id"] == bridge_user]
    assert len(told) == 1
    assert board.services.store.outbox.list(states=("failed",), escalation_id=escalation.id) == []


def test_the_sla_report_draws_svg_charts_with_csv_data(board):
    session = board.signed_in(VIEWER)
    escalate_through_form(board, board.signed_in(ADMIN))
    board.standings.refresh()
    page = session.get(f"{board.url}/report", timeout=10)
    assert page.status_code == 200
    for name in ("attainment", "open", "time-to-fix"):
        svg = session.get(f"{board.url}/report/{name}.svg", timeout=10)
        assert svg.headers["Content-Type"].startswith("image/svg+xml") and b"<svg" in svg.content
        assert b"<script" not in svg.content
        data = session.get(f"{board.url}/report/{name}.csv", timeout=10)
        assert data.headers["Content-Type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(data.text)))
        assert rows[0]  # a header row
    open_rows = list(csv.reader(io.StringIO(session.get(f"{board.url}/report/open.csv", timeout=10).text)))
    assert sum(int(r[2]) for r in open_rows[1:] if r) >= 1


@pytest.mark.parametrize("path", ["/escalations/999999", "/report/nope.svg"])
def test_unknown_things_are_404(board, path):
    assert board.signed_in().get(f"{board.url}{path}", timeout=10).status_code == 404


def test_a_recorded_message_is_shown_exactly_as_sent_with_its_locale(board):
    session = board.signed_in()
    path = escalate_through_form(board, session)
    [escalation] = board.services.store.escalations.list()
    body = "Hallo,\n  <b>wir</b> arbeiten an {{ fix }} & mehr."
    outbox = board.services.store.outbox
    outbox.claim("test:announce", target="zendesk:101", kind="Announce", escalation_id=escalation.id,
                 payload={"body": body, "locale": "de"})
    outbox.done("test:announce")
    page = session.get(f"{board.url}{path}", timeout=10).text
    shown = re.search(r'<pre class="message">(.*?)</pre>', page.split("Status announced", 1)[1], re.S).group(1)
    assert shown == "Hallo,\n  &lt;b&gt;wir&lt;/b&gt; arbeiten an {{ fix }} &amp; mehr."
    assert "locale de" in page.split("Status announced", 1)[1].split("</li>", 1)[0]
