"""How django-helpdesk 2.6.1 really behaves, against the bridge: a review's findings.

Every test runs the real django-helpdesk test site (``tests/django_helpdesk_site``); where
django-helpdesk does something only its own code paths do (its ``escalate_tickets`` cron
command, a date it stored), the test runs that code in the site's own Django process
(:func:`run_in_site`) rather than imitating it.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

from bridge.escalation import EscalationRequest
from tests.conftest import ACTOR
from tests.fixtures.django_helpdesk import (  # noqa: F401
    ROOT,
    DjangoHelpdeskServer,
    customer_reply,
    django_helpdesk,
    django_helpdesk_server,
)
from tests.integration.test_django_helpdesk_flow import (  # noqa: F401
    CUSTOMER,
    dh_services,
    services_for,
)


def run_in_site(server: DjangoHelpdeskServer, code: str) -> str:
    """Run ``code`` with django-helpdesk's models loaded, on the server's own database."""
    script = ("import os, django\n"
              "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'tests.django_helpdesk_site.settings')\n"
              "django.setup()\n" + textwrap.dedent(code))
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=server.env, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_django_helpdesks_own_escalation_followup_is_not_mirrored_to_jira_as_the_customer(
        sandbox, dh_services, django_helpdesk: DjangoHelpdeskServer):  # noqa: F811
    # django-helpdesk's `escalate_tickets` cron command writes a *public* follow-up with no
    # user and no e-mail Message-ID ("Ticket escalated after 1 days"). django-helpdesk itself
    # counts such a follow-up as not from the submitter (FollowUp.is_from_submitter); only a
    # follow-up carrying the e-mail's message_id came in from the customer.
    ticket = str(django_helpdesk.create_ticket("Export to CSV crashes the app", submitter_email=CUSTOMER,
                                               priority=3)["id"])
    key = dh_services.escalator().escalate(EscalationRequest(ticket=ticket, actor=ACTOR)).jira_key
    run_in_site(django_helpdesk, f"""
        from datetime import timedelta
        from django.core.management import call_command
        from django.utils import timezone
        from helpdesk.models import Queue, Ticket
        Ticket.objects.filter(id={ticket}).update(created=timezone.now() - timedelta(days=3))
        Queue.objects.filter(slug="{django_helpdesk.queue_slug}").update(escalate_days=1)
        try:
            call_command("escalate_tickets", queues=["{django_helpdesk.queue_slug}"])
        finally:
            Queue.objects.filter(slug="{django_helpdesk.queue_slug}").update(escalate_days=None)
    """)
    escalated = [f for f in django_helpdesk.ticket(ticket)["followup_set"]
                 if "escalated after" in (f["comment"] or "")]
    assert len(escalated) == 1 and escalated[0]["public"] and escalated[0]["user"] is None

    report = dh_services.sync_engine().run()
    assert report.exit_code == 0, report.failures
    bodies = [c["body"] for c in sandbox.jira_state.comments(key)]
    assert not [b for b in bodies if "escalated after" in b], bodies
    helpdesk = dh_services.helpdesk
    comment = next(c for c in helpdesk.get_ticket(ticket).comments if "escalated after" in c.body)
    assert not comment.by_customer and comment.author_email is None


def test_a_customer_email_in_the_same_second_as_the_last_processed_followup_still_reaches_jira(
        sandbox, dh_services, django_helpdesk: DjangoHelpdeskServer):  # noqa: F811
    # django-helpdesk lists follow-ups by their `date` (FollowUp.Meta.ordering) and its API
    # writes a date with no fraction when the microseconds are 0 ("…T10:00:00Z", DRF's
    # isoformat) but "…T10:00:00.400000Z" otherwise: as text, the later one sorts first.
    # (A server with a TIME_ZONE that has summer time shows the same hour twice in autumn,
    # with two offsets: the text order breaks there for a whole hour.)
    ticket = str(django_helpdesk.create_ticket("Export to CSV crashes the app", submitter_email=CUSTOMER)["id"])
    key = dh_services.escalator().escalate(EscalationRequest(ticket=ticket, actor=ACTOR)).jira_key
    assert dh_services.sync_engine().run().exit_code == 0
    cursor = dh_services.store.links.get("django-helpdesk", ticket).last_comment_id
    assert cursor is not None

    opened = django_helpdesk.emails(ticket_id=ticket, to=CUSTOMER)[0]
    django_helpdesk.receive_email(customer_reply(opened, ticket, "Still crashing on 4.2.1 after the update."))
    reply = next(f for f in django_helpdesk.ticket(ticket)["followup_set"] if "Still crashing" in (f["comment"] or ""))
    assert int(cursor) < reply["id"]
    # The last processed follow-up was stored on a whole second, the customer's e-mail came
    # 0.4 s later: the state django-helpdesk holds, its own order (by date) right.
    run_in_site(django_helpdesk, f"""
        from datetime import timedelta
        from helpdesk.models import FollowUp
        cursor = FollowUp.objects.get(id={cursor})
        whole = cursor.date.replace(microsecond=0)
        FollowUp.objects.filter(id={cursor}).update(date=whole)
        FollowUp.objects.filter(id={reply["id"]}).update(date=whole + timedelta(milliseconds=400))
    """)
    listed = [f["id"] for f in django_helpdesk.ticket(ticket)["followup_set"]]
    assert listed.index(int(cursor)) < listed.index(reply["id"])  # django-helpdesk's own order

    assert dh_services.sync_engine().run().exit_code == 0
    bodies = [c["body"] for c in sandbox.jira_state.comments(key)]
    assert [b for b in bodies if "Still crashing on 4.2.1" in b], bodies


def test_a_django_helpdesk_delivery_whose_ticket_id_is_no_ticket_id_is_refused_at_the_door(
        sandbox, django_helpdesk: DjangoHelpdeskServer, tmp_path):  # noqa: F811
    # django-helpdesk's webhooks carry its TicketSerializer, whose id is the ticket's integer
    # primary key. A body naming anything else can never be worked: it is malformed (400,
    # as for a missing id), not a delivery to keep and fail on in the worker later.
    from bridge.config import load_config
    from bridge.services import Services
    from tests.fixtures.serve import SECRETS, post_django_helpdesk, serving

    ticket = django_helpdesk.create_ticket("Export to CSV crashes the app", submitter_email=CUSTOMER)
    env = {**sandbox.env(), "BRIDGE_HELPDESK_KIND": "django-helpdesk", "BRIDGE_HELPDESK_URL": django_helpdesk.url,
           "BRIDGE_HELPDESK_TOKEN": django_helpdesk.token, "BRIDGE_STORE_URL": f"sqlite:///{tmp_path / 'bridge.db'}",
           "BRIDGE_BRIDGE_ACTOR": ACTOR, **SECRETS}
    env.pop("BRIDGE_HELPDESK_USER", None)
    services = Services(load_config(None, env=env))
    with serving(services, workers=0) as running:
        answers = {bad: post_django_helpdesk(running.url, {"ticket": {**ticket, "id": bad}, "queue_slug": "BR"}).status_code
                   for bad in ("abc", "0", "-3", "1.5", "BR-x")}
        good = post_django_helpdesk(running.url, {"ticket": {**ticket, "id": str(ticket["id"])}, "queue_slug": "BR",
                                                  "followup_id": 1})
    assert answers == dict.fromkeys(answers, 400), answers
    assert good.status_code == 202
    [item] = services.store.inbox.items()
    assert services.store.inbox.subject(item)["ticket"] == str(ticket["id"])
