"""Zendesk webhooks, in both shapes Zendesk sends.

Signed with the webhook's signing secret: ``X-Zendesk-Webhook-Signature`` is
base64(HMAC-SHA256(timestamp + body)) with the timestamp in
``X-Zendesk-Webhook-Signature-Timestamp`` (ISO 8601); a timestamp outside the replay
window is refused, so a captured delivery cannot be replayed later.

- **Event-subscribed** webhooks: ``{"type": "zen:event-type:ticket.…", "id": <delivery>,
  "detail": {"id": <ticket id>, …}, "event": {…}}``.
- **Trigger-connected** webhooks: the JSON body the trigger defines; the README gives one
  with ``"ticket_id": "{{ticket.id}}"``. Such a body has no signed delivery id (the
  ``X-Zendesk-Webhook-Invocation-Id`` header is not covered by the signature), so the inbox
  key is a digest of the signed timestamp and body (a redelivery carries the same pair).
"""

from __future__ import annotations

import base64
from datetime import datetime

from bridge.service.webhooks import (Delivery, Refused, WebhookRequest, body_digest, constant_time_equal,
                                     event_name, hmac_sha256, identifier, json_body)

SOURCE = "zendesk"
SIGNATURE_HEADER = "X-Zendesk-Webhook-Signature"
TIMESTAMP_HEADER = "X-Zendesk-Webhook-Signature-Timestamp"
INVOCATION_HEADER = "X-Zendesk-Webhook-Invocation-Id"
EVENT_PREFIX = "zen:event-type:ticket."


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header value Zendesk sends for ``timestamp`` and ``body``."""
    return base64.b64encode(hmac_sha256(secret, timestamp.encode() + body)).decode()


def _epoch(timestamp: str) -> float | None:
    try:
        parsed = datetime.fromisoformat(timestamp.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.timestamp() if parsed.tzinfo is not None else None


def verify(request: WebhookRequest, secret: str, *, now: float, window: int) -> None:
    given = request.header(SIGNATURE_HEADER)
    timestamp = request.header(TIMESTAMP_HEADER)
    if not given or not timestamp:
        raise Refused(401, "unsigned", f"{SIGNATURE_HEADER} or {TIMESTAMP_HEADER} is missing")
    if not constant_time_equal(given.strip(), sign(secret, timestamp, request.body)):
        raise Refused(401, "bad_signature", f"{SIGNATURE_HEADER} does not match the timestamp and body")
    # Checked after the signature, so the answer does not tell a forger about our clock.
    at = _epoch(timestamp)
    if at is None or abs(now - at) > window:
        raise Refused(403, "stale", f"{TIMESTAMP_HEADER} is outside the {window} s replay window")


def parse(request: WebhookRequest) -> Delivery | None:
    data = json_body(request.body)
    kind = data.get("type")
    if isinstance(kind, str) and kind.startswith("zen:event-type:"):
        if not kind.startswith(EVENT_PREFIX):
            return None  # user, organization... events: nothing the bridge follows
        event_name(kind.removeprefix(EVENT_PREFIX), "type")
        detail = data.get("detail")
        if not isinstance(detail, dict):
            raise Refused(400, "malformed", "detail is missing")
        ticket = identifier(detail.get("id"), "detail.id")
        delivery_id = identifier(data.get("id"), "id")
        subject = {"ticket": ticket, "created": kind == EVENT_PREFIX + "created"}
        change = data.get("event") if isinstance(data.get("event"), dict) else {}
        if kind == EVENT_PREFIX + "tags_changed" and isinstance(change.get("tags_added"), list):
            # Only a hint of where to look (the worker reads the ticket to see the tag): it
            # spares a read after each of the bridge's own tag changes.
            subject["tags_added"] = [t for t in change["tags_added"] if isinstance(t, str) and len(t) <= 80][:50]
        return Delivery(SOURCE, delivery_id, kind.removeprefix("zen:event-type:"), subject)
    if "ticket_id" in data:
        ticket = identifier(data.get("ticket_id"), "ticket_id")
        # Keyed by what was signed: the invocation id header is not, so a captured delivery
        # sent again inside the replay window with a fresh id is still the same delivery.
        timestamp = (request.header(TIMESTAMP_HEADER) or "").encode()
        event = event_name(data["event"], "event") if isinstance(data.get("event"), str) else "trigger"
        return Delivery(SOURCE, body_digest(timestamp, request.body), f"trigger:{event}",
                        {"ticket": ticket, "created": event == "created"}, label=request.header(INVOCATION_HEADER))
    raise Refused(400, "malformed", "neither an event-subscribed body (type, detail.id) nor a trigger body (ticket_id)")
