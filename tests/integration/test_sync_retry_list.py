"""The retry list (``sync:jira:retry``) keeps every Bug a pass failed on, whichever pass
failed and whatever other pass runs meanwhile, until a full pass has worked it.

What the list is for here: a ticket linked to a Bug without the Bug changing (linked in
the store only, as a join whose JIRA write did not land leaves it). No full pass's window
lists that Bug again, and the ticket shows no change of its own, so once a pass failed to
tell the ticket where the Bug stands, only the retry list brings the Bug back. (A change in
JIRA or on a ticket is found again anyway: the next full pass's search starts at this
one's start minus the lookback, its ticket listing where this one's ended.) The passes
here look back no further than their own start: as a real run days after the Bug's last
change sees it.

Two races, each made certain, not likely:

* a webhook's pass fails on Bug K while a full pass that read the list before is still
  running: the Zendesk emulator holds the full pass's ticket listing (its first request
  after reading the list) until the webhook's pass has finished;
* two webhooks' passes fail on two Bugs at once: the store holds the first pass's next
  transaction after it read the list to add its failure, until the second has finished.

Real HTTP against the sandbox, a real store on each backend."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from jira import JIRA
from sqlalchemy import event
from sqlmodel import Session

from bridge.config import load_config
from bridge.sandbox.jira import DEMO_LOGINS
from bridge.services import Services
from bridge.store.db import open_store
from bridge.sync.items import CURSOR_RETRY, retry_list_after
from tests.fixtures.bridge_comments import escalate_together

#: How long a held pass waits for the other one before it lets go (the test then fails on
#: what it finds, not by hanging); less than the HTTP time-out (30 s).
GIVE_UP_S = 20
IN_PROGRESS = "bridge_state_in_progress"


@pytest.fixture
def services_on(sandbox, bridge_env, store_url) -> Services:
    open_store(store_url, auto_upgrade=True).close()
    return Services(load_config(None, env={**bridge_env, "BRIDGE_STORE_URL": store_url}))


def _engine(services: Services, **kwargs):
    return services.sync_engine(lookback=timedelta(0), **kwargs)


def _told_then_joined(sandbox, services: Services, joins: dict[int, int]) -> dict[int, object]:
    """Per origin ticket: a Bug of its own, moved In Progress, told by a full pass; then the
    joined ticket linked to it in the store only. The escalation rows by joined ticket."""
    dev = JIRA(server=sandbox.jira.url, basic_auth=DEMO_LOGINS["dev"].basic_auth("cloud"), max_retries=0)
    keys = {joined: escalate_together(services, sandbox, [origin]) for origin, joined in joins.items()}
    for key in keys.values():
        dev.transition_issue(key, "In Progress")
    report = _engine(services).run()
    assert report.exit_code == 0, report.failures
    rows = {}
    for joined, key in keys.items():
        rows[joined] = services.store.escalations.by_key(key)
        services.store.links.add(rows[joined].id, "zendesk", str(joined))
    return rows


def _retry_list(store) -> list[str]:
    return json.loads(store.cursors.get(CURSOR_RETRY) or "[]")


def _told(sandbox, ticket: int) -> bool:
    return IN_PROGRESS in sandbox.zendesk_state.ticket(ticket)["tags"]


class HoldTicketListing:
    """WSGI middleware on the Zendesk emulator: the incremental export (which only a full
    pass reads) waits until ``release`` is set, or ``GIVE_UP_S`` passed."""

    def __init__(self, app) -> None:
        self.app = app
        self.held, self.release = threading.Event(), threading.Event()

    def __call__(self, environ, start_response):
        if "/incremental/tickets" in environ["PATH_INFO"] and not self.held.is_set():
            self.held.set()
            self.release.wait(GIVE_UP_S)
        return self.app(environ, start_response)


def test_a_webhooks_failure_during_a_full_pass_is_still_retried(sandbox, services_on):
    services = services_on
    row = _told_then_joined(sandbox, services, {101: 102})[102]
    zendesk = sandbox.zendesk.app
    inner = zendesk.wsgi_app
    hold = zendesk.wsgi_app = HoldTicketListing(inner)
    reports = []
    full = threading.Thread(target=lambda: reports.append(_engine(services).run()))
    try:
        full.start()
        assert hold.held.wait(GIVE_UP_S), "the full pass never listed the changed tickets"
        # The full pass has read the (empty) retry list. A webhook's pass over the Bug now
        # fails to tell the joined ticket: Zendesk refuses every write.
        sandbox.zendesk.knobs.update({"fail_next": 100, "fail_status": 500, "fail_methods": ["PUT"]})
        webhook = _engine(services, holder="inbox-worker").run(only={row.id})
        sandbox.zendesk.knobs.update({"fail_next": 0})
        assert webhook.exit_code == 1 and not _told(sandbox, 102)
        assert row.jira_issue_id in _retry_list(services.store)
    finally:
        hold.release.set()
        full.join(GIVE_UP_S * 2)
        zendesk.wsgi_app = inner
    assert reports and reports[0].exit_code == 0, reports and reports[0].failures

    assert row.jira_issue_id in _retry_list(services.store)  # the full pass kept what it had not read
    report = _engine(services).run()
    assert report.exit_code == 0, report.failures
    assert _told(sandbox, 102)  # the customer hears where the Bug stands
    assert _retry_list(services.store) == []


class HoldAfterSecondRead:
    """Store events: once the thread ``owner`` read the retry list a second time (a partial
    pass reads it when it starts and again to add its failures), it waits as soon as that
    transaction has committed (holding no lock, on either backend) until ``release`` is set
    or ``GIVE_UP_S`` passed."""

    def __init__(self, engine, owner: threading.Thread) -> None:
        self.engine, self.owner = engine, owner
        self.reads = 0
        self.held, self.release = threading.Event(), threading.Event()
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(Session, "after_commit", self._committed)

    def _statement(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if (threading.current_thread() is self.owner and statement.lstrip().upper().startswith("SELECT")
                and "sync_cursor" in statement and CURSOR_RETRY in str(parameters)):
            self.reads += 1

    def _committed(self, session) -> None:
        if threading.current_thread() is self.owner and self.reads >= 2 and not self.held.is_set():
            self.held.set()
            self.release.wait(GIVE_UP_S)

    def remove(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._statement)
        event.remove(Session, "after_commit", self._committed)


def test_two_webhooks_passes_failing_at_once_both_keep_their_bugs_on_the_retry_list(sandbox, services_on):
    services = services_on
    rows = _told_then_joined(sandbox, services, {101: 102, 104: 105})
    sandbox.zendesk.knobs.update({"fail_next": 100, "fail_status": 500, "fail_methods": ["PUT"]})
    reports: dict[int, object] = {}
    first = threading.Thread(target=lambda: reports.update(
        {102: _engine(services, holder="worker-1").run(only={rows[102].id})}))
    hold = HoldAfterSecondRead(services.store.engine, first)
    try:
        first.start()
        # Until the first pass is between reading the list and writing it (or is done).
        for _ in range(GIVE_UP_S * 50):
            if hold.held.wait(0.02) or not first.is_alive():
                break
        reports[105] = _engine(services, holder="worker-2").run(only={rows[105].id})
    finally:
        hold.release.set()
        first.join(GIVE_UP_S * 2)
        hold.remove()
    sandbox.zendesk.knobs.update({"fail_next": 0})
    assert [reports[t].exit_code for t in (102, 105)] == [1, 1], reports
    assert not _told(sandbox, 102) and not _told(sandbox, 105)

    assert sorted(_retry_list(services.store)) == sorted(rows[t].jira_issue_id for t in (102, 105))
    report = _engine(services).run()
    assert report.exit_code == 0, report.failures
    assert _told(sandbox, 102) and _told(sandbox, 105)
    assert _retry_list(services.store) == []


def test_a_full_pass_takes_out_only_the_entries_it_read(store):
    """Store level: a Bug failed on again after a full pass read the list (and perhaps
    worked it) is one more entry, which outlives that pass; the first write creates the row."""
    assert store.cursors.change(CURSOR_RETRY, lambda value: retry_list_after(value, {"7"})) == '["7"]'
    read = _retry_list(store)
    store.cursors.change(CURSOR_RETRY, lambda value: retry_list_after(value, {"7", "12"}))  # a webhook's pass
    store.cursors.change(CURSOR_RETRY, lambda value: retry_list_after(value, set(), read))  # the full pass
    assert _retry_list(store) == ["7", "12"]
    read = _retry_list(store)
    store.cursors.change(CURSOR_RETRY, lambda value: retry_list_after(value, set(), read))
    assert store.cursors.get(CURSOR_RETRY) == "[]"


def test_two_changes_of_a_cursor_at_once_each_see_the_other(store):
    """The second change waits for the first one's transaction, then starts from its value
    (the first holds for a second, long enough for a change that did not wait to show)."""
    store.cursors.set(CURSOR_RETRY, "[]")
    first_inside, second_read = threading.Event(), threading.Event()

    def first(value):
        if value is not None:  # (None: the row is there, the value made for a new row is unused)
            first_inside.set()
            second_read.wait(1.0)
        return retry_list_after(value, {"1"})

    def second(value):
        if value is not None:
            second_read.set()
        return retry_list_after(value, {"2"})

    thread = threading.Thread(target=store.cursors.change, args=(CURSOR_RETRY, first))
    thread.start()
    assert first_inside.wait(GIVE_UP_S)
    store.cursors.change(CURSOR_RETRY, second)
    thread.join(GIVE_UP_S)
    assert _retry_list(store) == ["1", "2"]
