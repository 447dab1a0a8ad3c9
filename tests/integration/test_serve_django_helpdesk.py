"""End to end with the real django-helpdesk 2.6.1 sending its webhooks to `bridge serve` and
the JIRA emulator sending its own: a JIRA transition reaches the customer's e-mail with no
`bridge sync`, told once; a customer's e-mailed follow-up reaches the Bug redacted with no
`bridge sync`; django-helpdesk's unsigned deliveries are accepted only on the URL that
carries the secret."""

from __future__ import annotations

import os
import socket

import requests

from bridge.config import load_config
from bridge.escalation import EscalationRequest
from bridge.sandbox.jira import DEMO_LOGINS
from bridge.service.registration import register_sandbox
from bridge.service.server import Serving
from bridge.services import Services
from bridge.sync.items import CURSOR_SINCE
from tests.conftest import ACTOR
from tests.fixtures.django_helpdesk import customer_reply, django_helpdesk_sending_webhooks, email_text
from tests.fixtures.serve import SECRETS, inbox_settled, wait_until

CUSTOMER = "alice.adams@acme.example"
SECRET = SECRETS["BRIDGE_WEBHOOKS_DJANGO_HELPDESK_SECRET"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_jira_transition_reaches_the_django_helpdesk_customer_by_email_without_sync(sandbox, tmp_path):
    from jira import JIRA

    port = free_port()
    serve_url = f"http://127.0.0.1:{port}"
    jira_secrets = register_sandbox(sandbox, serve_url)
    with django_helpdesk_sending_webhooks(tmp_path / "dh", f"{serve_url}/hooks/django-helpdesk/{SECRET}") as dh:
        env = {**sandbox.env(), "BRIDGE_HELPDESK_KIND": "django-helpdesk", "BRIDGE_HELPDESK_URL": dh.url,
               "BRIDGE_HELPDESK_TOKEN": dh.token, "BRIDGE_STORE_URL": f"sqlite:///{tmp_path / 'bridge.db'}",
               "BRIDGE_BRIDGE_ACTOR": ACTOR, "PATH": os.environ.get("PATH", ""),
               "BRIDGE_WEBHOOKS_JIRA_SECRET": jira_secrets["BRIDGE_WEBHOOKS_JIRA_SECRET"],
               "BRIDGE_WEBHOOKS_DJANGO_HELPDESK_SECRET": SECRET}
        env.pop("BRIDGE_HELPDESK_USER", None)
        services = Services(load_config(None, env=env))
        running = Serving(services, host="127.0.0.1", port=port, workers=2).start()
        try:
            ticket = str(dh.create_ticket("Export to CSV crashes the app", submitter_email=CUSTOMER)["id"])
            # django-helpdesk told bridge serve about the new ticket itself.
            wait_until(lambda: any(i.source == "django-helpdesk" for i in services.store.inbox.items()),
                       what="django-helpdesk's new-ticket webhook")
            key = services.escalator().escalate(EscalationRequest(ticket=ticket, actor=ACTOR)).jira_key
            wait_until(lambda: inbox_settled(services.store))
            sent_before = len(dh.emails(ticket_id=ticket, to=CUSTOMER))

            dev = JIRA(server=sandbox.jira.url, basic_auth=DEMO_LOGINS["dev"].basic_auth("cloud"), max_retries=0)
            dev.transition_issue(key, "In Progress")
            wait_until(lambda: any("working on a fix" in email_text(m)
                                   for m in dh.emails(ticket_id=ticket, to=CUSTOMER)[sent_before:]),
                       what="the customer's e-mail", timeout=60)
            # The bridge's own follow-up rings django-helpdesk's webhook too: nothing more is said.
            wait_until(lambda: inbox_settled(services.store))
            wrong = requests.post(f"{serve_url}/hooks/django-helpdesk/not-the-secret",
                                  json={"ticket": {"id": int(ticket)}, "queue_slug": dh.queue_slug}, timeout=10)
        finally:
            running.stop(grace=10)
        told = [m for m in dh.emails(ticket_id=ticket, to=CUSTOMER)[sent_before:] if "working on a fix" in email_text(m)]
    assert len(told) == 1
    assert wrong.status_code == 404
    sources = {i.source for i in services.store.inbox.items()}
    assert sources == {"jira", "django-helpdesk"}
    assert all(i.state == "done" for i in services.store.inbox.items())


def serving_django_helpdesk(sandbox, tmp_path, dh, port: int) -> tuple[Services, object]:
    """`bridge serve` on ``port`` reading ``dh`` and the sandbox's JIRA, as the operator configures it."""
    env = {**sandbox.env(), "BRIDGE_HELPDESK_KIND": "django-helpdesk", "BRIDGE_HELPDESK_URL": dh.url,
           "BRIDGE_HELPDESK_TOKEN": dh.token, "BRIDGE_STORE_URL": f"sqlite:///{tmp_path / 'bridge.db'}",
           "BRIDGE_BRIDGE_ACTOR": ACTOR, "PATH": os.environ.get("PATH", ""),
           "BRIDGE_WEBHOOKS_DJANGO_HELPDESK_SECRET": SECRET}
    env.pop("BRIDGE_HELPDESK_USER", None)
    services = Services(load_config(None, env=env))
    return services, Serving(services, host="127.0.0.1", port=port, workers=2).start()


def test_a_django_helpdesk_customers_emailed_follow_up_reaches_the_bug_redacted_without_sync(sandbox, tmp_path):
    # The customer writes by e-mail, a reply to django-helpdesk's own "(Opened)" e-mail:
    # django-helpdesk 2.6.1's public ticket page cannot take a submitter's comment (its form
    # posts to the staff-only update view, which sends an anonymous visitor to the log-in
    # page), so e-mail is the channel a real customer has. django-helpdesk's own mail
    # processing makes the follow-up and rings bridge serve with its follow-up webhook.
    port = free_port()
    serve_url = f"http://127.0.0.1:{port}"
    with django_helpdesk_sending_webhooks(tmp_path / "dh", f"{serve_url}/hooks/django-helpdesk/{SECRET}") as dh:
        services, running = serving_django_helpdesk(sandbox, tmp_path, dh, port)
        try:
            ticket = str(dh.create_ticket("Export to CSV crashes the app", submitter_email=CUSTOMER)["id"])
            key = services.escalator().escalate(EscalationRequest(ticket=ticket, actor=ACTOR)).jira_key
            wait_until(lambda: inbox_settled(services.store))
            opened = dh.emails(ticket_id=ticket, to=CUSTOMER)[0]

            dh.receive_email(customer_reply(
                opened, ticket, "Still crashing on 4.2.1. Reach me at bob.baker@acme.example or +1 415 555 0199."))
            followup = [f for f in dh.ticket(ticket)["followup_set"] if "Still crashing" in (f["comment"] or "")]

            mirrored = wait_until(lambda: [c["body"] for c in sandbox.jira_state.comments(key)
                                           if "Still crashing on 4.2.1" in c["body"]],
                                  what="the customer's follow-up on the Bug", timeout=60)
            wait_until(lambda: inbox_settled(services.store))
        finally:
            running.stop(grace=10)
    # django-helpdesk made the follow-up itself, from the customer (no user) and public.
    assert len(followup) == 1 and followup[0]["user"] is None and followup[0]["public"]
    assert len(mirrored) == 1
    assert "bob.baker@acme.example" not in mirrored[0] and "415 555 0199" not in mirrored[0]
    assert "[email redacted]" in mirrored[0] and "[phone redacted]" in mirrored[0]
    assert {i.source for i in services.store.inbox.items()} == {"django-helpdesk"}
    assert all(i.state == "done" for i in services.store.inbox.items())
    # `bridge sync` writes its JIRA high-water mark on every run: none ran.
    assert services.store.cursors.get(CURSOR_SINCE) is None
