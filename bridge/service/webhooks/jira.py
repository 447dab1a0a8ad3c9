"""JIRA (Cloud and Data Center) admin webhooks.

Signed with the webhook's secret: ``X-Hub-Signature: sha256=<hex HMAC-SHA256 of the raw
body>``. ``X-Atlassian-Webhook-Identifier`` is the same on every retry of one delivery, but
it is not covered by the signature: anyone holding a captured body could send it again under
a fresh identifier. So the inbox key is a digest of the signed body (a retry resends the
same body, and two events never share one: each carries its own millisecond ``timestamp``
and changelog), and the identifier only labels the log line.

Events used: issue created / updated, comment created / updated / deleted (the issue id rides along), version released (no issue: every Bug fixed in it),
issue link created / deleted (both ends).
"""

from __future__ import annotations

from bridge.service.webhooks import (Delivery, Refused, WebhookRequest, body_digest, hmac_sha256, identifier,
                                     json_body, require_body_signature)

SOURCE = "jira"
SIGNATURE_HEADER = "X-Hub-Signature"
DELIVERY_HEADER = "X-Atlassian-Webhook-Identifier"

_ISSUE_EVENTS = {"jira:issue_created", "jira:issue_updated", "comment_created", "comment_updated",
                 "comment_deleted"}
_LINK_EVENTS = {"issuelink_created", "issuelink_deleted"}
_VERSION_EVENTS = {"jira:version_released", "jira:version_unreleased", "jira:version_updated"}


def sign(secret: str, body: bytes) -> str:
    """The header value JIRA sends for ``body``."""
    return "sha256=" + hmac_sha256(secret, body).hex()


def verify(request: WebhookRequest, secret: str, *, now: float, window: int) -> None:
    """JIRA signs no timestamp: the HMAC of the body is all there is to check."""
    require_body_signature(request, SIGNATURE_HEADER, sign(secret, request.body))


def parse(request: WebhookRequest) -> Delivery | None:
    data = json_body(request.body)
    event = data.get("webhookEvent")
    if not isinstance(event, str) or not event:
        raise Refused(400, "malformed", "webhookEvent is missing")
    delivery_id = body_digest(request.body)
    label = request.header(DELIVERY_HEADER)
    if event in _ISSUE_EVENTS:
        issue = data.get("issue")
        if not isinstance(issue, dict):
            raise Refused(400, "malformed", "issue is missing")
        subject = {"jira_issue_id": identifier(issue.get("id"), "issue.id")}
        if issue.get("key") is not None:
            subject["jira_key"] = identifier(issue.get("key"), "issue.key")
        return Delivery(SOURCE, delivery_id, event, subject, label=label)
    if event in _LINK_EVENTS:
        link = data.get("issueLink")
        if not isinstance(link, dict):
            raise Refused(400, "malformed", "issueLink is missing")
        ends = [identifier(link.get(k), f"issueLink.{k}") for k in ("sourceIssueId", "destinationIssueId")]
        return Delivery(SOURCE, delivery_id, event, {"jira_issue_ids": ends}, label=label)
    if event in _VERSION_EVENTS:
        version = data.get("version")
        if not isinstance(version, dict) or not isinstance(version.get("name"), str):
            raise Refused(400, "malformed", "version.name is missing")
        return Delivery(SOURCE, delivery_id, event, {"version": version["name"][:255]}, label=label)
    return None
