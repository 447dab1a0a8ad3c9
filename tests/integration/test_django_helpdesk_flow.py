"""The whole escalation against a real django-helpdesk server, into the JIRA sandbox.

The bridge is built exactly as the CLI builds it (``Services`` from environment settings,
``BRIDGE_HELPDESK_KIND=django-helpdesk``). The assertions read what django-helpdesk holds
and the e-mails it really wrote (its file e-mail backend), and what the JIRA emulator holds.
"""

from __future__ import annotations

import os
import re

import pytest

from bridge.config import load_config
from bridge.connectors import markers
from bridge.escalation import ACK_TAG, EscalationRequest
from bridge.services import Services
from tests.conftest import ACTOR
from tests.fixtures.django_helpdesk import (  # noqa: F401
    DjangoHelpdeskServer,
    django_helpdesk,
    django_helpdesk_server,
    email_text,
)

CUSTOMER = "alice.adams@acme.example"
DESCRIPTION = ("Hi, every time I click Export > CSV in the reports view the desktop app closes. "
               "Please call me back on +1 415 555 0100 or write to alice.adams@acme.example.")
SENTRY_NOTE = ("Internal: this matches Sentry https://acme.sentry.io/issues/4505/ (BACKEND-1A2), "
               "NoneType in the CSV writer.")
PII = ("+1 415 555 0100", "415 555 0100", "alice.adams@acme.example", "bob.brown@acme.example")


@pytest.fixture
def escalated_ticket(django_helpdesk: DjangoHelpdeskServer) -> str:  # noqa: F811
    ticket = django_helpdesk.create_ticket("Export to CSV crashes the app", description=DESCRIPTION,
                                           submitter_email=CUSTOMER, priority=2)
    django_helpdesk.add_followup(ticket["id"], "Hi Alice, which version are you on? My colleague "
                                 "bob.brown@acme.example asked too.", public=True)
    django_helpdesk.add_followup(ticket["id"], SENTRY_NOTE, public=False)
    return str(ticket["id"])


def services_for(sandbox, server: DjangoHelpdeskServer, store_file) -> Services:
    """The bridge as the CLI builds it: JIRA and Sentry from the sandbox, django-helpdesk."""
    env = {
        **sandbox.env(),
        "BRIDGE_HELPDESK_KIND": "django-helpdesk",
        "BRIDGE_HELPDESK_URL": server.url,
        "BRIDGE_HELPDESK_TOKEN": server.token,
        "BRIDGE_STORE_URL": f"sqlite:///{store_file}",
        "BRIDGE_BRIDGE_ACTOR": ACTOR,
        "PATH": os.environ.get("PATH", ""),
    }
    env.pop("BRIDGE_HELPDESK_USER", None)
    return Services(load_config(None, env=env))


@pytest.fixture
def dh_services(sandbox, django_helpdesk: DjangoHelpdeskServer, tmp_path) -> Services:  # noqa: F811
    return services_for(sandbox, django_helpdesk, tmp_path / "bridge.db")


def _followups_by_bridge(server: DjangoHelpdeskServer, ticket: str, *, after: int) -> list[dict]:
    return [f for f in server.ticket(ticket)["followup_set"] if f["id"] > after]


def test_escalate_from_django_helpdesk_makes_one_redacted_bug_and_one_acknowledgement_email(
        sandbox, dh_services, django_helpdesk: DjangoHelpdeskServer, escalated_ticket: str):  # noqa: F811
    ticket = escalated_ticket
    last_before = max(f["id"] for f in django_helpdesk.ticket(ticket)["followup_set"])
    emails_before = len(django_helpdesk.emails(ticket_id=ticket))

    result = dh_services.escalator().escalate(EscalationRequest(ticket=ticket, actor=ACTOR))

    # JIRA: exactly one Bug, labelled for this ticket, customer data redacted.
    label = f"bridge-django-helpdesk-{ticket}"
    bugs = [i for i in sandbox.jira_state.all_issues() if label in i["fields"].get("labels", [])]
    assert len(bugs) == 1 and bugs[0]["key"] == result.jira_key and result.created
    assert bugs[0]["fields"]["issuetype"]["name"] == "Bug"
    assert bugs[0]["fields"]["priority"]["name"] == "High"  # django-helpdesk priority 2 → high
    description = bugs[0]["fields"]["description"]
    assert f"/tickets/{ticket}/" in description
    for token in PII:
        assert token not in description
    links = sandbox.jira_state.remote_links(result.jira_key)
    assert [link["object"]["url"] for link in links] == [f"{django_helpdesk.url}/tickets/{ticket}/"]

    # django-helpdesk: one internal note naming the Bug, one public acknowledgement.
    new = _followups_by_bridge(django_helpdesk, ticket, after=last_before)
    notes = [f for f in new if not f["public"]]
    acks = [f for f in new if f["public"]]
    assert len(notes) == 1 and result.jira_key in notes[0]["comment"]
    assert len(acks) == 1 and "handed it to our engineering team" in acks[0]["comment"]
    assert markers.split(acks[0]["comment"])[1] == [f"+{ACK_TAG}"]
    assert all(f.get("title") in (None, "Export to CSV crashes the app", "Comment") for f in new)
    assert django_helpdesk.ticket(ticket)["title"] == "Export to CSV crashes the app"

    # The e-mails django-helpdesk wrote: exactly one, the acknowledgement, to the customer.
    emails = django_helpdesk.emails(ticket_id=ticket)[emails_before:]
    assert [str(m["To"]) for m in emails] == [CUSTOMER]
    text = email_text(emails[0])
    assert "handed it to our engineering team" in text
    assert result.jira_key not in text and "Escalated to JIRA" not in text
    for message in django_helpdesk.emails(ticket_id=ticket):
        body = email_text(message)
        assert "sentry" not in body.lower() and "4505" not in body and "BACKEND-1A2" not in body
        assert "Internal:" not in body

    # A second run finds everything done: no follow-up, no e-mail, no second Bug.
    again = dh_services.escalator().escalate(EscalationRequest(ticket=ticket, actor=ACTOR))
    assert (again.jira_key, again.created) == (result.jira_key, False)
    assert len(_followups_by_bridge(django_helpdesk, ticket, after=last_before)) == 2
    assert len(django_helpdesk.emails(ticket_id=ticket)) == emails_before + 1
    assert len([i for i in sandbox.jira_state.all_issues() if label in i["fields"].get("labels", [])]) == 1


def test_a_run_that_died_after_the_acknowledgement_does_not_send_it_again(
        sandbox, dh_services, django_helpdesk: DjangoHelpdeskServer, escalated_ticket: str, tmp_path):  # noqa: F811
    ticket = escalated_ticket
    first = dh_services.escalator().escalate(EscalationRequest(ticket=ticket, actor=ACTOR))
    emails_after_first = len(django_helpdesk.emails(ticket_id=ticket))

    # A fresh store (the state of a run that crashed before recording anything): the markers
    # in the follow-ups are all that tells the bridge the messages went out.
    fresh = services_for(sandbox, django_helpdesk, tmp_path / "fresh.db")
    again = fresh.escalator().escalate(EscalationRequest(ticket=ticket, actor=ACTOR))

    assert again.jira_key == first.jira_key and not again.created  # found by its label
    assert len(django_helpdesk.emails(ticket_id=ticket)) == emails_after_first
    public = [f for f in django_helpdesk.ticket(ticket)["followup_set"]
              if f["public"] and re.search("engineering team", f["comment"] or "")]
    assert len(public) == 1


def test_sync_mirrors_the_bug_onto_django_helpdesk_and_its_emails(
        sandbox, dh_services, django_helpdesk: DjangoHelpdeskServer, escalated_ticket: str):  # noqa: F811
    from jira import JIRA

    from bridge.sandbox.jira import DEMO_LOGINS

    ticket = escalated_ticket
    key = dh_services.escalator().escalate(EscalationRequest(ticket=ticket, actor=ACTOR)).jira_key
    dev = JIRA(server=sandbox.jira.url, basic_auth=DEMO_LOGINS["dev"].basic_auth("cloud"), max_retries=0)

    def sync() -> None:
        report = dh_services.sync_engine().run()
        assert report.exit_code == 0, report.failures

    dev.transition_issue(key, "In Progress")
    sync()
    dev.issue(key).update(fields={"fixVersions": [{"name": "2.4.0"}]})
    dev.add_comment(key, "Root cause: NoneType in the CSV writer, see BACKEND-1A2.")
    dev.transition_issue(key, "In QA")
    dev.transition_issue(key, "Done", fields={"resolution": {"name": "Fixed"}})
    sync()
    version = next(v for v in dev.project_versions("SUP") if v.name == "2.4.0")
    version.update(released=True, releaseDate="2026-11-20")
    sync()
    emails = django_helpdesk.emails(ticket_id=ticket)
    sync()  # nothing new: nothing more is sent
    assert len(django_helpdesk.emails(ticket_id=ticket)) == len(emails)

    assert django_helpdesk.ticket(ticket)["status"] == 3  # Resolved, through a follow-up
    to_customer = [m for m in emails if str(m["To"]) == CUSTOMER]
    assert len(to_customer) == len(emails)
    texts = [email_text(m) for m in to_customer]
    assert sum("handed it to our engineering team" in t for t in texts) == 1  # one acknowledgement
    resolved = [m for m in to_customer if "(Resolved)" in str(m["Subject"])]
    assert len(resolved) == 1 and "2.4.0" in email_text(resolved[0])
    for text in texts:
        assert "sentry" not in text.lower() and "BACKEND-1A2" not in text and "4505" not in text
        assert "Root cause" not in text and "Internal:" not in text and key not in text
