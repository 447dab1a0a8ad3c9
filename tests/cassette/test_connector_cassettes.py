"""Connector-level scenarios replayed from vcrpy cassettes (``cassettes/*.yaml``).

Each test drives one client — Zendesk, Freshdesk, django-helpdesk, JIRA, Sentry — through
a short read-and-write scenario and asserts on the typed models it returns. Normally the
answers come from the cassette (record mode ``none``: an unexpected request fails the
test); with ``BRIDGE_RECORD=1`` the same scenario runs against a live target and is
recorded, scrubbed (see :mod:`tests.fixtures.cassettes`). Re-record with::

    python -m tests.cassettes_record
"""

from __future__ import annotations

from typing import Iterator

import pytest
import requests

from bridge.connectors.base import TicketWrite
from bridge.connectors.django_helpdesk import DjangoHelpdesk
from bridge.connectors.freshdesk import FreshdeskHelpdesk
from bridge.connectors.jira import JiraTracker
from bridge.connectors.zendesk import ZendeskHelpdesk
from bridge.errors import UnknownTicket
from bridge.sandbox import freshdesk as freshdesk_emulator
from bridge.sandbox import jira as jira_emulator
from bridge.sandbox import sentry as sentry_emulator
from bridge.sandbox import zendesk as zendesk_emulator
from tests.contract.helpdesk_contract import contract_gate
from tests.fixtures.cassettes import Target, cassette, live_target, recording, replay_target

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def world() -> Iterator[object]:
    """The sandbox to record against (none on replay)."""
    if not recording():
        yield None
        return
    from bridge.sandbox.world import start_sandbox

    with start_sandbox(0) as sandbox:
        yield sandbox


def _target(service: str, world, *, url_of, user: str, token: str, extra: dict[str, str]) -> Target:
    if recording():
        return live_target(service, sandbox_url=url_of(world), user=user, token=token, extra=extra)
    return replay_target(service, user=user, extra=extra)


def test_zendesk_reads_writes_and_reports_unknown_tickets(world):
    creds = zendesk_emulator.DEMO_CREDENTIALS
    target = _target("zendesk", world, url_of=lambda w: w.zendesk.url, user=creds["email"], token=creds["token"],
                     extra={"ticket": "101", "agent": "erin@example.com"})
    hd = ZendeskHelpdesk(target.url, email=target.user, token=target.token, gate=contract_gate(), retries=0)
    ticket_id = target.extra["ticket"]
    with cassette("zendesk_connector", target.scrubber):
        before = hd.get_ticket(ticket_id)
        groups = hd.user_groups(target.extra["agent"])
        hd.write(ticket_id, TicketWrite(comment="Escalated to engineering as SUP-1.", public=False,
                                        add_tags=("jira_sup-1",), if_version=before.version))
        after = hd.get_ticket(ticket_id)
        with pytest.raises(UnknownTicket):
            hd.get_ticket("99999999")
    assert before.comments and before.comments[0].by_customer
    assert groups  # the escalation manager is in at least one group
    assert "jira_sup-1" in after.tags and "jira_sup-1" not in before.tags
    assert (after.comments[-1].body, after.comments[-1].public) == ("Escalated to engineering as SUP-1.", False)


def test_freshdesk_reads_writes_and_reports_unknown_tickets(world):
    creds = freshdesk_emulator.DEMO_CREDENTIALS
    target = _target("freshdesk", world, url_of=lambda w: w.freshdesk.url, user="", token=creds["api_key"],
                     extra={"ticket": "1", "agent": "erin@example.com"})
    hd = FreshdeskHelpdesk(target.url, api_key=target.token, gate=contract_gate(), retries=0)
    ticket_id = target.extra["ticket"]
    with cassette("freshdesk_connector", target.scrubber):
        me = hd.check()
        before = hd.get_ticket(ticket_id)
        groups = hd.user_groups(target.extra["agent"])
        hd.write(ticket_id, TicketWrite(comment="We have passed this to engineering.", public=True,
                                        add_tags=("bridge_acknowledged",), if_version=before.version))
        after = hd.get_ticket(ticket_id)
        with pytest.raises(UnknownTicket):
            hd.get_ticket("99999999")
    assert me
    assert before.comments[0].by_customer and groups
    assert "bridge_acknowledged" in after.tags and set(before.tags) <= set(after.tags)
    assert (after.comments[-1].body, after.comments[-1].public) == ("We have passed this to engineering.", True)


def test_django_helpdesk_reads_writes_and_reports_unknown_tickets(request):
    if recording():
        server = request.getfixturevalue("django_helpdesk")
        target = live_target("django-helpdesk", sandbox_url=server.url, user="", token=server.token,
                             extra={"queue": str(server.queue_id)})
    else:
        target = replay_target("django-helpdesk", user="", extra={"queue": "1"})
    hd = DjangoHelpdesk(target.url, token=target.token, gate=contract_gate(), retries=0)
    with cassette("django_helpdesk_connector", target.scrubber):
        # The ticket is made inside the cassette, so a replay knows its id.
        created = requests.post(f"{target.url}/api/tickets/", timeout=30,
                                headers={"Authorization": f"Token {target.token}"},
                                json={"queue": int(target.extra["queue"]), "title": "Export to CSV crashes the app",
                                      "description": "The app closes when I export a report to CSV.",
                                      "submitter_email": "alice.adams@acme.example", "priority": 2}).json()
        ticket_id = str(created["id"])
        before = hd.get_ticket(ticket_id)
        hd.write(ticket_id, TicketWrite(comment="Internal: {{ ticket.submitter_email }} stays literal.",
                                        public=False, add_tags=("jira_sup-1",), if_version=before.version))
        hd.write(ticket_id, TicketWrite(comment="Fixed in 5.3.", public=True, status="solved"))
        after = hd.get_ticket(ticket_id)
        with pytest.raises(UnknownTicket):
            hd.get_ticket("99999999")
    if recording():
        server.created.append(int(ticket_id))
    assert before.status == "open" and before.priority == "high" and before.comments[0].by_customer
    assert after.status == "solved" and after.tags == ("jira_sup-1",)
    assert [c.body for c in after.comments[1:]] == ["Internal: {{ ticket.submitter_email }} stays literal.",
                                                    "Fixed in 5.3."]


def test_jira_creates_reads_and_comments(world):
    creds = jira_emulator.DEMO_CREDENTIALS
    target = _target("jira", world, url_of=lambda w: w.jira.url, user=creds["email"], token=creds["api_token"],
                     extra={"project": "SUP"})
    tracker = JiraTracker(target.url, user=target.user, token=target.token, retries=0)
    with cassette("jira_connector", target.scrubber):
        who = tracker.check()
        bug = tracker.create_issue({"project": {"key": target.extra["project"]}, "issuetype": {"name": "Bug"},
                                    "summary": "Export to CSV crashes the app", "description": "Recorded scenario.",
                                    "priority": {"name": "High"}, "labels": ["bridge-cassette-1", "bridge"]})
        tracker.add_comment(bug.key, "Reproduced on 5.2.1.", internal=True)
        again = tracker.issue(bug.key)
        comments = tracker.comments(bug.key)
    assert who
    assert again is not None and again.key == bug.key and again.issue_type == "Bug"
    assert "bridge-cassette-1" in again.labels
    assert [c.body for c in comments] == ["Reproduced on 5.2.1."]


def test_sentry_reads_issues(world):
    from bridge.connectors.sentry import SentryErrorTracker

    creds = sentry_emulator.DEMO_CREDENTIALS
    target = _target("sentry", world, url_of=lambda w: w.sentry.url, user="", token=creds["token"],
                     extra={"org": creds["org"]})
    tracker = SentryErrorTracker(target.url, org=target.extra["org"], token=target.token, retries=0)
    with cassette("sentry_connector", target.scrubber):
        org = tracker.check()
        issues = list(tracker.issues())
        first = tracker.issue(issues[0].id)
        by_short = tracker.issue_by_short_id(issues[0].short_id)
    assert org and issues
    assert first is not None and by_short is not None and first.id == by_short.id == issues[0].id
