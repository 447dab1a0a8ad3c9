"""Outgoing webhooks of the Sentry and Freshdesk emulators, signed as each vendor signs.

- **Sentry** integration webhooks: ``POST`` of ``{"action", "installation": {"uuid"},
  "data": {"issue": {…}}, "actor": {…}}`` with ``Sentry-Hook-Resource: issue``,
  ``Sentry-Hook-Timestamp`` (seconds), ``Request-ID`` (one per delivery, the same on its
  retries) and ``Sentry-Hook-Signature`` = hex HMAC-SHA256 of the body with the
  integration's client secret; on issue resolved / unresolved / ignored.
- **Freshdesk** automation-rule webhooks: Freshdesk signs nothing; the rule sends the
  headers and the JSON body the admin wrote. The emulator's rule sends the README's body,
  ``{"freshdesk_webhook": {"ticket_id", "updated_at", "event"}}``, with the shared secret in
  ``X-Bridge-Secret``, on every ticket create and update.

Subscriptions are added with ``state.hooks.subscribe(url, secret)`` (what ``bridge sandbox
--webhooks-to`` does): neither vendor has an API for them. Resetting the state forgets them.
Sending, retries and the unreliability knobs are the shared background dispatcher's
(:mod:`bridge.sandbox.webhook_delivery`).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from bridge.sandbox.webhook_delivery import Delivery, Dispatcher

__all__ = ["FreshdeskHooks", "SentryHooks"]


@dataclass(frozen=True)
class SentryDelivery(Delivery):
    """One issue webhook; ``identifier`` is the Request-ID."""

    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "User-Agent": "sentry-integration",
                   "Sentry-Hook-Resource": "issue", "Sentry-Hook-Timestamp": str(int(time.time())),
                   "Request-ID": self.identifier}
        if self.secret:
            headers["Sentry-Hook-Signature"] = hmac.new(self.secret.encode(), self.body, hashlib.sha256).hexdigest()
        return headers


@dataclass(frozen=True)
class FreshdeskDelivery(Delivery):
    """One automation-rule webhook; the secret travels as a header, as the rule was written."""

    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "User-Agent": "Freshdesk"}
        if self.secret:
            headers["X-Bridge-Secret"] = self.secret
        return headers


class _Hooks:
    VENDOR = ""

    def __init__(self) -> None:
        self.dispatcher = Dispatcher(f"sandbox-{self.VENDOR}-webhooks")
        self.subscriptions: list[tuple[int, str, str | None]] = []
        self._ids = itertools.count(1)

    def reset(self) -> None:
        """Forget every subscription and queued delivery; delivery knobs back to defaults."""
        self.subscriptions.clear()
        self._ids = itertools.count(1)
        self.dispatcher.reset()

    def subscribe(self, url: str, secret: str | None) -> int:
        """Send to ``url`` from now on, signed with ``secret``; returns the subscription id."""
        subscription_id = next(self._ids)
        self.subscriptions.append((subscription_id, url, secret))
        return subscription_id

    def _submit(self, kind: type[Delivery], event: str, payload: dict[str, Any]) -> None:
        body = json.dumps(payload, sort_keys=True).encode()
        for subscription_id, url, secret in list(self.subscriptions):
            self.dispatcher.submit(kind(identifier=str(uuid.uuid4()), webhook_id=subscription_id, event=event,
                                        url=url, body=body, secret=secret))


class SentryHooks(_Hooks):
    """The emulated Sentry integration's webhook subscriptions."""

    VENDOR = "sentry"

    ACTIONS = {"resolved": "resolved", "unresolved": "unresolved", "ignored": "ignored"}

    def issue_changed(self, issue: dict[str, Any], status: str | None) -> None:
        action = self.ACTIONS.get(status or "")
        if action is None or not self.subscriptions:
            return
        data = {"id": str(issue["id"]), "shortId": issue.get("short_id"), "status": issue.get("status"),
                "substatus": issue.get("substatus"), "title": issue.get("title")}
        self._submit(SentryDelivery, f"issue.{action}", {
            "action": action, "installation": {"uuid": "7a485448-a9e2-4c85-8a3c-4f44175783c9"},
            "data": {"issue": data}, "actor": {"type": "user", "id": 1, "name": "Sentry"}})


class FreshdeskHooks(_Hooks):
    """The emulated Freshdesk automation rules that call a webhook."""

    VENDOR = "freshdesk"

    def ticket_changed(self, ticket: dict[str, Any], *, created: bool) -> None:
        if not self.subscriptions:
            return
        self._submit(FreshdeskDelivery, "ticket.created" if created else "ticket.updated", {
            "freshdesk_webhook": {"ticket_id": ticket["id"], "updated_at": ticket.get("updated_at"),
                                  "event": "created" if created else "updated"}})
