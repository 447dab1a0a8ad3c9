"""django-helpdesk 2.6.1 webhooks.

django-helpdesk POSTs ``{"ticket": <TicketSerializer>, "queue_slug": …}`` on a new ticket
and the same plus ``"followup_id"`` on a follow-up, unsigned, with a 3 s time-out, to the
URLs in ``HELPDESK_NEW_TICKET_WEBHOOK_URLS`` / ``HELPDESK_FOLLOWUP_WEBHOOK_URLS``. The only
proof of origin is the secret in our URL, ``/hooks/django-helpdesk/<secret>``; the body is
believed for nothing but the ticket id, which must be what django-helpdesk sends there (the
ticket's integer primary key): anything else is refused as malformed, never kept to fail
in the worker, and the id is kept in the connector's canonical form ("12", as the store
links it). The inbox key is a digest of the body (which holds the follow-up list, so a new
follow-up is a new key).
"""

from __future__ import annotations

from bridge.service.webhooks import (Delivery, Refused, WebhookRequest, body_digest, constant_time_equal,
                                     identifier, json_body)

SOURCE = "django-helpdesk"


def verify_path(given: str, secret: str) -> None:
    """The secret path segment; a wrong one answers like an unknown path (404)."""
    if not constant_time_equal(given, secret):
        raise Refused(404, "bad_signature", "unknown webhook URL")


def verify(request: WebhookRequest, secret: str, *, now: float, window: int) -> None:
    """Nothing in the request itself is signed; see :func:`verify_path`."""


def parse(request: WebhookRequest) -> Delivery | None:
    """The ticket named by django-helpdesk's new-ticket or follow-up webhook body."""
    data = json_body(request.body)
    ticket = data.get("ticket")
    if not isinstance(ticket, dict):
        raise Refused(400, "malformed", "ticket is missing")
    ticket_id = _ticket_id(ticket.get("id"))
    created = "followup_id" not in data
    return Delivery(SOURCE, body_digest(request.body), "ticket.created" if created else "followup.created",
                    {"ticket": ticket_id, "created": created})


def _ticket_id(value) -> str:
    """``ticket.id`` as django-helpdesk sends it (a positive integer; digits in a string are
    taken too) in canonical form, or :class:`Refused` 400."""
    text = identifier(value, "ticket.id")
    # re-checked as ASCII digits: str.isalnum() also takes "abc" and other scripts' digits.
    if not (text.isascii() and text.isdigit()) or int(text) == 0 or len(text) > 18:
        raise Refused(400, "malformed", "ticket.id is not a django-helpdesk ticket id")
    return str(int(text))
