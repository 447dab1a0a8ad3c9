"""Freshdesk automation-rule webhooks.

Freshdesk signs nothing. The automation rule's webhook action sends a header the operator
defines, ``X-Bridge-Secret: <BRIDGE_WEBHOOKS_FRESHDESK_SECRET>``, compared in constant
time, and a JSON body with the ticket id and its update time (the README gives it):
``{"ticket_id": {{ticket.id}}, "updated_at": "{{ticket.updated_at}}", "event": "updated"}``.
With no delivery id, the inbox key is a digest of the body.
"""

from __future__ import annotations

from bridge.service.webhooks import (Delivery, Refused, WebhookRequest, body_digest, constant_time_equal,
                                     event_name, identifier, json_body)

SOURCE = "freshdesk"
SECRET_HEADER = "X-Bridge-Secret"


def verify(request: WebhookRequest, secret: str, *, now: float, window: int) -> None:
    given = request.header(SECRET_HEADER)
    if not given:
        raise Refused(401, "unsigned", f"{SECRET_HEADER} is missing")
    if not constant_time_equal(given.strip(), secret):
        raise Refused(401, "bad_signature", f"{SECRET_HEADER} is wrong")


def parse(request: WebhookRequest) -> Delivery | None:
    data = json_body(request.body)
    # Some rules nest the fields under "freshdesk_webhook" (Freshdesk's own sample body).
    fields = data.get("freshdesk_webhook") if isinstance(data.get("freshdesk_webhook"), dict) else data
    ticket = identifier(fields.get("ticket_id"), "ticket_id")
    event = event_name(fields["event"], "event") if isinstance(fields.get("event"), str) else "updated"
    return Delivery(SOURCE, body_digest(request.body), f"ticket.{event}",
                    {"ticket": ticket, "created": event == "created"})
