"""Sentry integration webhooks.

``Sentry-Hook-Signature`` is the hex HMAC-SHA256 of the raw body with the integration's
client secret; ``Sentry-Hook-Resource`` names the resource (``issue`` is the one used);
``Request-ID`` names the delivery but is not signed, so it only labels the log line: the
inbox key is a digest of the signed body. Sentry wants an answer within 1 s, which the inbox
gives: nothing is fetched before answering.
"""

from __future__ import annotations

from bridge.service.webhooks import (Delivery, Refused, WebhookRequest, body_digest, hmac_sha256, identifier,
                                     json_body, require_body_signature)

SOURCE = "sentry"
SIGNATURE_HEADER = "Sentry-Hook-Signature"
RESOURCE_HEADER = "Sentry-Hook-Resource"
TIMESTAMP_HEADER = "Sentry-Hook-Timestamp"
REQUEST_ID_HEADER = "Request-ID"
#: Issue actions that can matter to a Bug: a related issue resolved, or back (regressed).
ACTIONS = {"resolved", "unresolved", "regressed", "ignored", "archived"}


def sign(secret: str, body: bytes) -> str:
    """The signature header value Sentry sends for ``body``."""
    return hmac_sha256(secret, body).hex()


def verify(request: WebhookRequest, secret: str, *, now: float, window: int) -> None:
    # Neither Sentry's timestamp nor its Request-ID is covered by the signature, so neither
    # proves anything: a replay of a captured body is caught by the body's digest (parse).
    require_body_signature(request, SIGNATURE_HEADER, sign(secret, request.body))


def parse(request: WebhookRequest) -> Delivery | None:
    data = json_body(request.body)
    if (request.header(RESOURCE_HEADER) or "").strip() != "issue":
        return None
    action = data.get("action")
    if not isinstance(action, str):
        raise Refused(400, "malformed", "action is missing")
    if action not in ACTIONS:
        return None
    issue = (data.get("data") or {}).get("issue") if isinstance(data.get("data"), dict) else None
    if not isinstance(issue, dict):
        raise Refused(400, "malformed", "data.issue is missing")
    return Delivery(SOURCE, body_digest(request.body), f"issue.{action}",
                    {"sentry_issue_id": identifier(issue.get("id"), "data.issue.id")},
                    label=request.header(REQUEST_ID_HEADER))
