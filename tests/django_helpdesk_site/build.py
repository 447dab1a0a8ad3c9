"""Migrate and seed the template database the test servers copy.

``python -m tests.django_helpdesk_site.build DB_FILE`` migrates a fresh SQLite file and
adds what the tests need, then prints one JSON line with the seeded names:

* a staff user ``bridge`` (``is_staff``: django-helpdesk's API refuses anyone else) with a
  DRF token — token auth, because basic auth re-hashes the password on every request;
* a queue ``BR`` ("Bridge") with its own sender address;
* the custom fields the default mappings read (``category``, ``device_id``,
  ``operating_system``) and ``jira_key`` where the bridge may write the JIRA key back.

The token is random per build; it never leaves the test run (cassettes scrub it).
"""

from __future__ import annotations

import json
import os
import secrets
import sys

CUSTOM_FIELDS = (
    ("category", "Category", "varchar"),
    ("device_id", "Impacted device ID", "varchar"),
    ("operating_system", "Operating system", "varchar"),
    ("jira_key", "JIRA key", "varchar"),
)
STAFF_USERNAME = "bridge"
STAFF_EMAIL = "bridge@example.com"
QUEUE_SLUG = "BR"


def build(db_file: str) -> dict:
    os.environ["BRIDGE_DH_DB"] = db_file
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.django_helpdesk_site.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from helpdesk.models import CustomField, Queue
    from rest_framework.authtoken.models import Token

    call_command("migrate", verbosity=0, interactive=False)
    user = get_user_model().objects.create_user(
        STAFF_USERNAME, STAFF_EMAIL, secrets.token_urlsafe(16), is_staff=True,
        first_name="Bridge", last_name="Integration",
    )
    token = Token.objects.create(user=user)
    queue = Queue.objects.create(title="Bridge", slug=QUEUE_SLUG, email_address="support@example.com",
                                 allow_public_submission=False, allow_email_submission=False)
    for ordering, (name, label, data_type) in enumerate(CUSTOM_FIELDS):
        CustomField.objects.create(name=name, label=label, data_type=data_type, max_length=200,
                                   ordering=ordering, staff_only=True)
    return {"token": token.key, "queue_id": queue.id, "queue_slug": queue.slug,
            "user_id": user.id, "username": STAFF_USERNAME, "email": STAFF_EMAIL}


if __name__ == "__main__":
    print(json.dumps(build(sys.argv[1])))
