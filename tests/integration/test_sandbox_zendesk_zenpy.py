"""zenpy, the common Zendesk client, works unchanged against the Zendesk emulator.

zenpy is pointed at the emulator the way its own documentation allows
(``ZENPY_FORCE_NETLOC`` / ``ZENPY_FORCE_SCHEME``), with its cache off so that every call
really reaches the emulator, and with proactive rate limiting on and no time budget for
waiting: a response without ``X-Rate-Limit-Remaining`` (or with too few left) makes zenpy
raise ``RatelimitBudgetExceeded`` instead of stalling, so every operation below also checks
the rate-limit headers.

Each of the 32 operations is one test case on a freshly seeded emulator.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from typing import Callable
from urllib.parse import parse_qs

import pytest
from zenpy import Zenpy
from zenpy.lib.api_objects import Comment, Ticket
from zenpy.lib.exception import APIException, RecordNotFoundException

from bridge.sandbox.zendesk import DEFAULT_CUSTOM_STATUSES, DEMO_CREDENTIALS
from tests.fixtures.zendesk_sandbox import ZendeskSandbox, zendesk, zendesk_service  # noqa: F401


def client(zendesk: ZendeskSandbox, monkeypatch: pytest.MonkeyPatch, **options) -> Zenpy:
    monkeypatch.setenv("ZENPY_FORCE_NETLOC", zendesk.url.removeprefix("http://"))
    monkeypatch.setenv("ZENPY_FORCE_SCHEME", "http")
    settings = dict(subdomain="sandbox", email=DEMO_CREDENTIALS["email"], token=DEMO_CREDENTIALS["token"],
                    disable_cache=True, proactive_ratelimit=50, proactive_ratelimit_request_interval=60,
                    ratelimit_budget=1)
    settings.update(options)
    return Zenpy(**settings)


def wait_for(condition: Callable[[], object], timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)
    return value


# -- the operations ----------------------------------------------------------------------------
def users_me(z: Zenpy, zd: ZendeskSandbox) -> None:
    assert z.users.me().email == "bridge@example.com"


def show_ticket(z: Zenpy, zd: ZendeskSandbox) -> None:
    ticket = z.tickets(id=101)
    assert ticket.subject == "Export to CSV crashes the app"
    assert ticket.custom_status_id == DEFAULT_CUSTOM_STATUSES[ticket.status]


def list_tickets(z: Zenpy, zd: ZendeskSandbox) -> None:
    assert [t.id for t in z.tickets()] == [101, 102, 103, 104, 105]


def show_many_tickets(z: Zenpy, zd: ZendeskSandbox) -> None:
    found = z.tickets(ids=[101, 102, 999])
    assert len(found) == 2  # zenpy reads the answer's "count"
    assert [t.id for t in found] == [101, 102]


def create_with_only_a_description(z: Zenpy, zd: ZendeskSandbox) -> None:
    audit = z.tickets.create(Ticket(subject="Printer on fire", description="Smoke everywhere."))
    assert audit.ticket.id > 105 and audit.ticket.description == "Smoke everywhere."
    assert zd.state.comments(audit.ticket.id)[0]["body"] == "Smoke everywhere."
    assert zd.knobs.received("POST", "/tickets.json")  # and the create answered 201 (zenpy accepted it)


def create_with_a_comment_and_fields(z: Zenpy, zd: ZendeskSandbox) -> None:
    audit = z.tickets.create(Ticket(subject="Sync fails", comment=Comment(body="Error 0x5", public=True),
                                    priority="high", tags=["sync"]))
    stored = zd.state.ticket(audit.ticket.id)
    assert (stored["priority"], stored["tags"]) == ("high", ["sync"])


def update_status(z: Zenpy, zd: ZendeskSandbox) -> None:
    ticket = z.tickets(id=104)
    ticket.status = "pending"
    audit = z.tickets.update(ticket)
    assert audit.ticket.status == "pending"
    assert audit.ticket.custom_status_id == DEFAULT_CUSTOM_STATUSES["pending"]


def add_public_comment(z: Zenpy, zd: ZendeskSandbox) -> None:
    ticket = z.tickets(id=101)
    ticket.comment = Comment(body="We are on it.", public=True)
    z.tickets.update(ticket)
    assert zd.state.comments(101)[-1]["body"] == "We are on it." and zd.state.comments(101)[-1]["public"]


def add_internal_note(z: Zenpy, zd: ZendeskSandbox) -> None:
    ticket = z.tickets(id=101)
    ticket.comment = Comment(body="Engineering has it as BUG-7.", public=False)
    z.tickets.update(ticket)
    last = list(z.tickets.comments(101))[-1]
    assert (last.body, last.public) == ("Engineering has it as BUG-7.", False)


def list_comments(z: Zenpy, zd: ZendeskSandbox) -> None:
    comments = list(z.tickets.comments(101))
    audit_ids = {a.id for a in z.tickets.audits(ticket=101)}
    assert len(comments) == 4
    for comment in comments:
        assert comment.html_body.startswith("<div") and comment.plain_body
        assert comment.attachments == [] and comment.audit_id in audit_ids


def show_tags(z: Zenpy, zd: ZendeskSandbox) -> None:
    assert list(z.tickets.tags(101)) == ["csv", "crash", "desktop_app"]


def set_tags(z: Zenpy, zd: ZendeskSandbox) -> None:
    assert list(z.tickets.set_tags(101, ["one", "two"])) == ["one", "two"]
    assert zd.state.ticket(101)["tags"] == ["one", "two"]


def add_tags(z: Zenpy, zd: ZendeskSandbox) -> None:
    assert list(z.tickets.add_tags(101, ["escalate"])) == ["csv", "crash", "desktop_app", "escalate"]


def remove_tags(z: Zenpy, zd: ZendeskSandbox) -> None:
    assert z.tickets.delete_tags(101, ["crash"]).status_code == 204
    assert list(z.tickets.tags(101)) == ["csv", "desktop_app"]


def audits_of_a_new_ticket(z: Zenpy, zd: ZendeskSandbox) -> None:
    created = z.tickets.create(Ticket(subject="New", description="Hello", requester_id=1004)).ticket
    (audit,) = list(z.tickets.audits(ticket=created.id))
    kinds = [e["type"] for e in audit.events]
    assert kinds[0] == "Comment" and set(kinds[1:]) == {"Create"}
    created_fields = {e["field_name"]: e["value"] for e in audit.events[1:]}
    assert created_fields["requester_id"] == "1004"  # Zendesk sends ids in events as strings
    assert created_fields["status"] == "new" and created_fields["subject"] == "New"
    comment = audit.events[0]
    assert comment["audit_id"] == audit.id and comment["html_body"] and comment["attachments"] == []


def audits_of_an_update(z: Zenpy, zd: ZendeskSandbox) -> None:
    ticket = z.tickets(id=105)
    ticket.assignee_id = 1003
    z.tickets.update(ticket)
    last = list(z.tickets.audits(ticket=105))[-1]
    change = next(e for e in last.events if e["field_name"] == "assignee_id")
    assert (change["type"], change["value"], change["previous_value"]) == ("Change", "1003", None)


def all_ticket_audits(z: Zenpy, zd: ZendeskSandbox) -> None:
    audits = list(z.tickets.audits())
    assert len(audits) == sum(len(zd.state.audits(t)) for t in zd.state.tickets)
    assert [a.id for a in audits] == sorted((a.id for a in audits), reverse=True)


def show_organization(z: Zenpy, zd: ZendeskSandbox) -> None:
    assert z.organizations(id=201).name == "Acme Corp"


def list_organizations(z: Zenpy, zd: ZendeskSandbox) -> None:
    assert [o.name for o in z.organizations()] == ["Acme Corp", "Globex", "Initech"]


def organization_tickets(z: Zenpy, zd: ZendeskSandbox) -> None:
    assert [t.id for t in z.tickets.organizations(201)] == [101, 102, 105]


def search_tickets_by_property(z: Zenpy, zd: ZendeskSandbox) -> None:
    assert sorted(t.id for t in z.search(type="ticket", status="open")) == [101, 102, 104]


def search_tickets_by_text(z: Zenpy, zd: ZendeskSandbox) -> None:
    assert [t.id for t in z.search("Payments", type="ticket")] == [102]


def search_users(z: Zenpy, zd: ZendeskSandbox) -> None:
    assert [u.name for u in z.search(type="user", email="jana.schmidt@globex.example")] == ["Jana Schmidt"]


def search_organizations(z: Zenpy, zd: ZendeskSandbox) -> None:
    assert [o.id for o in z.search(type="organization", name="Globex")] == [202]


def incremental_export_keeps_its_page_size(z: Zenpy, zd: ZendeskSandbox) -> None:
    zd.state.export_skips_last_minute = False
    start = int(datetime(2020, 1, 1, tzinfo=timezone.utc).timestamp())
    assert sorted(t.id for t in z.tickets.incremental(start_time=start, per_page=2)) == [101, 102, 103, 104, 105]
    pages = zd.knobs.received("GET", "/incremental/tickets/cursor.json")
    assert len(pages) == 3  # 2 + 2 + 1: every page, the first and those from after_url, kept per_page
    assert all(parse_qs(p.query)["per_page"] == ["2"] for p in pages)


def update_many_is_a_job_queued_then_working_then_completed(z: Zenpy, zd: ZendeskSandbox) -> None:
    zd.state.job_runner.pause()
    job = z.tickets.update([Ticket(id=101, status="pending"), Ticket(id=104, status="pending")])
    assert (job.status, job.total) == ("queued", 2)
    assert z.job_status(id=job.id).status == "queued"
    zd.state.job_runner.step(1)
    working = wait_for(lambda: (s := z.job_status(id=job.id)).progress == 1 and s)
    assert (working.status, working.total) == ("working", 2)
    zd.state.job_runner.resume()
    done = wait_for(lambda: (s := z.job_status(id=job.id)).status == "completed" and s)
    assert [r.id for r in done.results if r.success] == [101, 104]
    assert zd.state.ticket(104)["status"] == "pending"


def create_many_is_a_job(z: Zenpy, zd: ZendeskSandbox) -> None:
    job = z.tickets.create([Ticket(subject="a", description="first"), Ticket(subject="b", description="second")])
    done = wait_for(lambda: (s := z.job_status(id=job.id)).status == "completed" and s)
    created = [r.id for r in done.results]
    assert [zd.state.ticket(i)["subject"] for i in created] == ["a", "b"]


def custom_statuses(z: Zenpy, zd: ZendeskSandbox) -> None:
    statuses = {s.status_category: s.id for s in z.custom_statuses()}
    assert statuses == DEFAULT_CUSTOM_STATUSES
    assert z.tickets(id=103).custom_status_id == statuses["solved"]


def a_missing_record_is_record_not_found(z: Zenpy, zd: ZendeskSandbox) -> None:
    with pytest.raises(RecordNotFoundException) as missing:
        z.tickets(id=99999)
    assert "X-Rate-Limit-Remaining" in missing.value.response.headers


def an_unknown_route_is_not_a_missing_record(z: Zenpy, zd: ZendeskSandbox) -> None:
    with pytest.raises(APIException) as unknown:
        z.tickets.metrics(101)  # an endpoint Zendesk has and the emulator does not serve
    assert not isinstance(unknown.value, RecordNotFoundException)
    assert unknown.value.response.json() == {"error": "InvalidEndpoint", "description": "Not found"}


def rate_limit_headers_on_every_answer(z: Zenpy, zd: ZendeskSandbox) -> None:
    for _ in range(5):  # proactive rate limiting with no waiting budget: any stall raises
        z.tickets(id=101)
    response = z.tickets.delete_tags(101, ["csv"])
    assert response.headers["X-Rate-Limit"] == "700"
    assert int(response.headers["X-Rate-Limit-Remaining"]) > 50


class LiftLimitWhenZenpyWaits(logging.Handler):
    """Lifts the emulator's rate limit when zenpy logs that it waits out a Retry-After, that
    is after a 429 certainly reached it and before it retries."""

    def __init__(self, knobs) -> None:
        super().__init__(logging.WARNING)
        self.knobs, self.waits = knobs, 0

    def emit(self, record: logging.LogRecord) -> None:
        if "retry-after" in record.getMessage():
            self.waits += 1
            self.knobs.update({"rate_limit": None})


def a_429_is_waited_out_and_retried(z: Zenpy, zd: ZendeskSandbox) -> None:
    # A budget of one request: the next call is answered 429 with Retry-After (the window,
    # long enough never to refill first, only stops a broken run from spinning forever).
    zd.knobs.update({"rate_limit": 1, "rate_window_s": 30, "retry_after_s": 1})
    z.users.me()
    handler = LiftLimitWhenZenpyWaits(zd.knobs)
    zenpy_log = logging.getLogger("zenpy.lib.api")
    zenpy_log.addHandler(handler)
    try:
        assert z.tickets(id=101).id == 101
    finally:
        zenpy_log.removeHandler(handler)
    assert handler.waits == 1
    assert len(zd.knobs.received("GET", "/tickets/101.json")) == 2


OPERATIONS = [
    users_me, show_ticket, list_tickets, show_many_tickets, create_with_only_a_description,
    create_with_a_comment_and_fields, update_status, add_public_comment, add_internal_note,
    list_comments, show_tags, set_tags, add_tags, remove_tags, audits_of_a_new_ticket,
    audits_of_an_update, all_ticket_audits, show_organization, list_organizations,
    organization_tickets, search_tickets_by_property, search_tickets_by_text, search_users,
    search_organizations, incremental_export_keeps_its_page_size,
    update_many_is_a_job_queued_then_working_then_completed, create_many_is_a_job, custom_statuses,
    a_missing_record_is_record_not_found, an_unknown_route_is_not_a_missing_record,
    rate_limit_headers_on_every_answer, a_429_is_waited_out_and_retried,
]


def test_the_list_holds_32_distinct_operations():
    assert len({op.__name__ for op in OPERATIONS}) == 32


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.__name__)
def test_zenpy_operation(operation, zendesk: ZendeskSandbox, monkeypatch: pytest.MonkeyPatch):
    # The 429 case is about zenpy's reactive Retry-After wait, which its proactive limiter
    # (seeing the knob budget's remaining 0) and a zero waiting budget would both forbid.
    options = ({"ratelimit_budget": None, "proactive_ratelimit": None}
               if operation is a_429_is_waited_out_and_retried else {})
    operation(client(zendesk, monkeypatch, **options), zendesk)
