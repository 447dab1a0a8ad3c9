"""Deliver customers' e-mails to the test django-helpdesk the way its ``get_email`` command does.

``python -m tests.django_helpdesk_site.mail_in MAIL_DIR`` (settings from the environment,
see ``settings``) points the seeded queue at the local mailbox ``MAIL_DIR`` — what an
operator sets on the queue's admin page (``email_box_type`` "local", e-mail submission
allowed) — and runs django-helpdesk's own ``process_email``: a reply whose subject carries
``[BR-12]`` becomes a public follow-up with no user, and django-helpdesk rings its
follow-up webhooks (``HELPDESK_FOLLOWUP_WEBHOOK_URLS``) itself. Exits 1, naming the files,
when a message was left unprocessed.

Why e-mail and not the public ticket page: in django-helpdesk 2.6.1 the public page's
"Update This Ticket" form posts to the staff-only ``tickets/<id>/update/`` view
(``MustBeStaffMixin``), so an anonymous submitter is sent to the log-in page and nothing
is saved (upstream django-helpdesk issue #1332); e-mail is the customer's working channel.
"""

from __future__ import annotations

import os
import sys


def main(mail_dir: str) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.django_helpdesk_site.settings")
    import django

    django.setup()
    from helpdesk.email import process_email
    from helpdesk.models import Queue

    from tests.django_helpdesk_site.build import QUEUE_SLUG

    Queue.objects.filter(slug=QUEUE_SLUG).update(
        email_box_type="local", email_box_local_dir=mail_dir, allow_email_submission=True,
        email_box_interval=0, email_box_last_check=None)
    process_email(quiet=True)
    left = sorted(os.listdir(mail_dir))
    if left:
        print(f"django-helpdesk left these e-mails unprocessed in {mail_dir}: {', '.join(left)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
