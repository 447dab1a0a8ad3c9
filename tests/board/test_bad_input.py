"""Input that is the caller's mistake gets a 4xx that says so, never a 500, over loopback HTTP:
non-ASCII CSRF tokens, escalation ids beyond the store's INTEGER, NUL characters in filters
and account names, and a bad escalation request at the confirm step."""

from __future__ import annotations

import pytest

from tests.board.conftest import ADMIN, MANAGER, add_account, csrf_of

#: Beyond 2**63 - 1, the largest INTEGER SQLite and PostgreSQL hold (SQLite raised
#: OverflowError on the comparison).
HUGE = str(2**63)


def test_a_non_ascii_csrf_token_is_refused_and_audited(board):
    # compare_digest raised TypeError on a non-ASCII str: a 500 instead of the 403.
    session = board.client()
    session.get(f"{board.url}/login", timeout=10)
    refused = session.post(f"{board.url}/login", data={"username": MANAGER, "password": "x", "csrf_token": "é"},
                           timeout=10)
    assert refused.status_code == 403
    signed = board.signed_in()
    form = signed.post(f"{board.url}/escalations/new", data={"ticket": "101", "csrf_token": "ключ"}, timeout=10)
    assert form.status_code == 403
    denied = [a for a in board.services.store.audit.entries() if a.action == "csrf" and a.result == "denied"]
    assert len(denied) == 2


@pytest.mark.parametrize(("path", "status"), [
    (f"/escalations/{HUGE}", 404),
    ("/escalations/0", 404),
    (f"/board/version?escalation={HUGE}", 400),
    ("/board/version?escalation=0", 400),
    ("/board/version?escalation=nope", 400),
])
def test_an_escalation_id_the_store_cannot_hold_is_no_escalation(board, path, status):
    assert board.signed_in().get(f"{board.url}{path}", timeout=10).status_code == status


def test_the_biggest_id_the_store_holds_is_still_looked_up(board):
    session = board.signed_in()
    assert session.get(f"{board.url}/escalations/{2**63 - 1}", timeout=10).status_code == 404
    assert session.get(f"{board.url}/board/version?escalation={2**63 - 1}", timeout=10).status_code == 200


@pytest.mark.parametrize("wanted", [HUGE, "-1", "0"])
def test_retrying_an_id_the_store_cannot_hold_is_a_400(board, wanted):
    session = board.signed_in()
    token = csrf_of(session.get(f"{board.url}/failures", timeout=10).text)
    retried = session.post(f"{board.url}/failures/retry", data={"escalation": wanted, "csrf_token": token},
                           timeout=30)
    assert retried.status_code == 400 and "name the escalation to retry" in retried.text


@pytest.mark.parametrize("query", ["q=%00", "severity=a%00b", "tier=%00", "organization=Acme%00",
                                   "standing=breached%00"])
def test_a_nul_in_a_filter_is_a_400_that_names_the_filter(board, query):
    # (On PostgreSQL it was a 500; see test_board_postgres.py. SQLite answers the same 400.)
    page = board.signed_in().get(f"{board.url}/?{query}", timeout=10)
    assert page.status_code == 400 and "NUL" in page.text
    assert f"the {query.split('=')[0]} filter" in page.text


def test_an_account_name_with_a_nul_is_refused_by_the_admin_form(board):
    added = add_account(board, board.signed_in(ADMIN), "eve\x00")
    assert added.status_code == 400 and "NUL" in added.text
    assert board.services.store.users.by_name("eve") is None


def _plan_and_confirm(board, **form):
    session = board.signed_in()
    token = csrf_of(session.get(f"{board.url}/escalations/new", timeout=10).text)
    data = {"csrf_token": token, **form}
    plan = session.post(f"{board.url}/escalations/new", data=data, timeout=60)
    done = session.post(f"{board.url}/escalations/new/confirm", data=data, allow_redirects=False, timeout=60)
    return plan, done


def test_an_unknown_ticket_is_the_callers_error_at_confirm_as_at_the_plan(board):
    # Confirm answered 502 ("a service failed") for the same UsageError the plan calls a 400.
    plan, done = _plan_and_confirm(board, ticket="424242")
    assert (plan.status_code, done.status_code) == (400, 400)
    assert "Not escalated" in done.text
    failed = [a for a in board.services.store.audit.entries() if a.action == "escalate"]
    assert [(a.target, a.result) for a in failed] == [("ticket:424242", "failed")]


def test_a_service_failing_at_confirm_is_still_a_502(board, sandbox):
    knobs = sandbox.jira.knobs
    with knobs.lock:  # every JIRA write refused from here on: creating the Bug fails
        knobs.fail_next, knobs.fail_status, knobs.fail_methods = 1000, 401, ["POST", "PUT"]
    _, done = _plan_and_confirm(board, ticket="101")
    assert done.status_code == 502 and "Not escalated" in done.text
    assert [a.result for a in board.services.store.audit.entries() if a.action == "escalate"] == ["failed"]
