"""Paging on-call for emergencies: a generic webhook or the PagerDuty Events API v2.

Policy 000: "Using the Escalate button will move your ticket to the highest Severity Level
and an engineer will be paged." The escalation (:mod:`bridge.escalation`) decides *when* to
page and keeps it to once per escalation (store counter plus an outbox entry); this module
only knows *how* to send one page.

Safe to send twice: every page carries a ``dedup_key`` derived from the escalation's
deterministic label. PagerDuty folds a trigger whose ``dedup_key`` names an open alert
into that alert, so a page re-sent after a crash or a time-out pages nobody twice; the
webhook carries the same key as ``Idempotency-Key`` header and ``dedup_key`` field for the
receiver to do the same.

What a page holds: the JIRA key and URL, the helpdesk ticket reference, severity, tier and
the policy. Never customer PII (the caller redacts the summary) and never Sentry data (the
caller cleans the summary through the outbound gate; no Sentry field exists here).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any

import requests

from bridge.connectors.http import build_session, send
from bridge.errors import ConfigError, ServiceRejected

#: PagerDuty's Events API v2 host; ``[pager] url`` overrides it (EU service regions, a proxy,
#: the sandbox).
PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com"
#: PagerDuty's documented limits.
SUMMARY_LIMIT = 1024
DEDUP_KEY_LIMIT = 255


@dataclass(frozen=True)
class Page:
    """One page to on-call. ``summary`` must already be free of PII and Sentry references."""

    dedup_key: str
    summary: str
    #: Where the problem is, for PagerDuty's ``payload.source`` (``bridge:zendesk``).
    source: str
    details: dict[str, Any] = field(default_factory=dict)
    #: ``(url, text)`` pairs shown with the alert (the JIRA Bug).
    links: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class PageReceipt:
    """What the receiving service said: the dedup key it filed the page under."""

    dedup_key: str
    message: str = ""


class Pager(abc.ABC):
    """Sends pages. Implementations raise :class:`bridge.errors.BridgeError` on failure:
    ``ServiceUnreachable`` (exit 3; 429/5xx after retries, no connection) or
    ``ServiceRejected`` (exit 1; the service refused the event)."""

    #: ``webhook`` or ``pagerduty``, as in ``[pager] kind``.
    kind: str = ""
    #: The service name used in messages.
    service: str = ""

    @abc.abstractmethod
    def send(self, page: Page) -> PageReceipt:
        """Send ``page`` once (the session's retries aside)."""

    @abc.abstractmethod
    def describe(self) -> str:
        """Where pages go, without secrets (for ``bridge doctor`` and messages)."""


class WebhookPager(Pager):
    """POSTs a JSON body to a configured URL; any 2xx answer counts as delivered.

    Body: ``{"event": "bridge.page", "dedup_key", "severity": "critical", "summary",
    "source", "details": {...}, "links": [{"href", "text"}]}``, and the header
    ``Idempotency-Key: <dedup_key>``.
    """

    kind = "webhook"
    service = "Pager webhook"

    def __init__(self, url: str, *, session: requests.Session | None = None,
                 timeout: float = 30.0, retries: int = 3) -> None:
        self.url = url
        self._session = session or build_session(timeout=timeout, retries=retries)

    def body(self, page: Page) -> dict[str, Any]:
        """The JSON body sent for ``page``."""
        return {
            "event": "bridge.page",
            "dedup_key": page.dedup_key,
            "severity": "critical",
            "summary": page.summary[:SUMMARY_LIMIT],
            "source": page.source,
            "details": page.details,
            "links": [{"href": href, "text": text} for href, text in page.links],
        }

    def send(self, page: Page) -> PageReceipt:
        send(self._session, self.service, "POST", self.url, what="sending the page",
             json=self.body(page), headers={"Idempotency-Key": page.dedup_key})
        return PageReceipt(dedup_key=page.dedup_key, message="delivered")

    def describe(self) -> str:
        return f"webhook {_origin(self.url)}"


class PagerDutyPager(Pager):
    """PagerDuty Events API v2: ``POST {base}/v2/enqueue`` with a ``trigger`` event.

    202 ``{"status": "success", "message": "Event processed", "dedup_key": ...}`` is success;
    400 ``{"status": "invalid event", "errors": [...]}`` raises ``ServiceRejected`` with
    PagerDuty's errors; 429 is retried by the session (a throttled event was not applied),
    then raises ``ServiceUnreachable``.
    """

    kind = "pagerduty"
    service = "PagerDuty"

    def __init__(self, routing_key: str, *, base_url: str | None = None,
                 session: requests.Session | None = None, timeout: float = 30.0,
                 retries: int = 3) -> None:
        if not routing_key:
            raise ConfigError("pager.kind is pagerduty but no routing key is configured",
                              hint="set BRIDGE_PAGER_ROUTING_KEY to the Events API v2 integration key")
        self._routing_key = routing_key
        self.base_url = (base_url or PAGERDUTY_EVENTS_URL).rstrip("/")
        # A configured URL may already name the endpoint (https://events.pagerduty.com/v2/enqueue).
        self.url = self.base_url if self.base_url.endswith("/v2/enqueue") else f"{self.base_url}/v2/enqueue"
        self._session = session or build_session(timeout=timeout, retries=retries)

    def event(self, page: Page) -> dict[str, Any]:
        """The Events API v2 trigger event for ``page`` (the routing key included)."""
        event: dict[str, Any] = {
            "routing_key": self._routing_key,
            "event_action": "trigger",
            "dedup_key": page.dedup_key[:DEDUP_KEY_LIMIT],
            "payload": {
                "summary": page.summary[:SUMMARY_LIMIT],
                "source": page.source,
                "severity": "critical",
                "component": "customer escalation",
                "class": "emergency escalation",
                "custom_details": page.details,
            },
            "client": "bridge",
        }
        if page.links:
            event["links"] = [{"href": href, "text": text} for href, text in page.links]
        return event

    def send(self, page: Page) -> PageReceipt:
        response = send(self._session, self.service, "POST", self.url, what="sending the page",
                        json=self.event(page), allow=(400,))
        body = _json(response)
        if response.status_code == 400:
            errors = body.get("errors") if isinstance(body.get("errors"), list) else []
            detail = "; ".join(str(e) for e in errors) or str(body.get("message") or "invalid event")
            raise ServiceRejected(self.service, 400, f"the page was refused as an invalid event: {detail}")
        return PageReceipt(dedup_key=str(body.get("dedup_key") or page.dedup_key),
                           message=str(body.get("message") or ""))

    def describe(self) -> str:
        return f"PagerDuty Events API v2 at {_origin(self.url)}"


def build_pager(pager_config, http_config) -> Pager | None:
    """The pager ``[pager]`` configures, or ``None`` for ``kind = "none"``.

    Raises :class:`ConfigError` (exit 2) when the kind's required setting is missing.
    """
    kind = pager_config.kind
    if kind == "none":
        return None
    url = str(pager_config.url) if pager_config.url else None
    from bridge.connectors.http import build_session

    options = {"session": build_session(timeout=http_config.timeout, retries=http_config.retries,
                                        backoff=http_config.backoff, verify=http_config.verify,
                                        ca_bundle=str(http_config.ca_bundle) if http_config.ca_bundle else None)}
    if kind == "webhook":
        if not url:
            raise ConfigError("pager.kind is webhook but pager.url is not set",
                              hint="set pager.url (or BRIDGE_PAGER_URL) to the webhook's URL")
        return WebhookPager(url, **options)
    secret = pager_config.routing_key
    key = secret.get_secret_value() if secret is not None else ""
    return PagerDutyPager(key, base_url=url, **options)


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _origin(url: str) -> str:
    """Scheme and host only: a webhook URL may carry a token in its path or query."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
