"""An emulated PagerDuty Events API v2 endpoint and a generic paging-webhook receiver.

``POST /v2/enqueue`` behaves as PagerDuty documents it (developer.pagerduty.com, "Send an
Alert Event" and the Events API v2 overview):

* the body is one JSON object: ``routing_key`` (the 32-character integration key),
  ``event_action`` (``trigger`` | ``acknowledge`` | ``resolve``), an optional ``dedup_key``
  (at most 255 characters; required for acknowledge and resolve), and for a trigger a
  ``payload`` with ``summary`` (at most 1024 characters), ``source`` and ``severity``
  (``critical`` | ``error`` | ``warning`` | ``info``), optionally ``timestamp``,
  ``component``, ``group``, ``class`` and ``custom_details`` (an object); ``links`` and
  ``images`` are lists of objects;
* 202 ``{"status": "success", "message": "Event processed", "dedup_key": ...}`` when
  accepted; a trigger without ``dedup_key`` gets a generated one (so it always opens a new
  alert);
* 400 ``{"status": "invalid event", "message": "Event object is invalid", "errors": [...]}``
  for a malformed event; 429 (through the shared knobs) when throttled;
* de-duplication: a trigger whose ``dedup_key`` names an open (triggered or acknowledged)
  alert of the same routing key is added to that alert's log and opens nothing new; once
  the alert is resolved, the next trigger with that key opens a new alert. Acknowledge and
  resolve for a key with no open alert are accepted and dropped.

``POST /webhook/<name>`` is a generic receiver for ``[pager] kind = "webhook"``: it records
the JSON body and the ``Idempotency-Key`` header and answers 200; it de-duplicates nothing,
as an arbitrary webhook endpoint would not.

Tests read :class:`PagerState` (alerts, accepted events, webhook deliveries) and the shared
request journal (``service.knobs.received()``).
"""

from __future__ import annotations

import copy
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from flask import Flask, Response, jsonify, request

from bridge.sandbox.server import Knobs, ServiceThread, Vendor, install

#: The sandbox's integration key (32 characters, like PagerDuty's).
DEMO_CREDENTIALS = {"routing_key": "R0123456789abcdef0123456789abcde"}

EVENT_ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")
ROUTING_KEY_LENGTH = 32
DEDUP_KEY_LIMIT = 255
SUMMARY_LIMIT = 1024
#: "Events API payloads are limited to 512 KB".
BODY_LIMIT = 512 * 1024


@dataclass
class Alert:
    """One PagerDuty alert: opened by a trigger, grouping every later event of its key."""

    dedup_key: str
    routing_key: str
    status: str  # triggered | acknowledged | resolved
    summary: str
    severity: str
    source: str
    custom_details: dict[str, Any]
    opened_at: datetime
    #: Every accepted event applied to this alert, the opening trigger first.
    log: list[dict[str, Any]] = field(default_factory=list)

    @property
    def open(self) -> bool:
        return self.status != "resolved"


@dataclass
class WebhookDelivery:
    """One request the generic webhook receiver accepted."""

    name: str
    body: Any
    idempotency_key: str | None
    received_at: datetime


class PagerState:
    """What the emulated PagerDuty holds: alerts by dedup key, accepted events, webhooks."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.alerts: list[Alert] = []
        self.events: list[dict[str, Any]] = []
        self.webhooks: list[WebhookDelivery] = []

    def reset(self) -> None:
        with self.lock:
            self.alerts.clear()
            self.events.clear()
            self.webhooks.clear()

    def open_alert(self, dedup_key: str, routing_key: str) -> Alert | None:
        """The open alert of ``dedup_key`` under ``routing_key``, if any."""
        for alert in reversed(self.alerts):
            if alert.dedup_key == dedup_key and alert.routing_key == routing_key and alert.open:
                return alert
        return None

    def alerts_for(self, dedup_key: str) -> list[Alert]:
        """Every alert (open or resolved) ever opened with ``dedup_key``, oldest first."""
        with self.lock:
            return [copy.deepcopy(a) for a in self.alerts if a.dedup_key == dedup_key]

    def apply(self, event: dict[str, Any]) -> str:
        """Apply an already validated event; returns its dedup key."""
        with self.lock:
            action = event["event_action"]
            routing_key = event["routing_key"]
            key = event.get("dedup_key") or uuid.uuid4().hex
            self.events.append(copy.deepcopy(event))
            alert = self.open_alert(key, routing_key)
            if action == "trigger":
                if alert is None:
                    payload = event["payload"]
                    alert = Alert(
                        dedup_key=key, routing_key=routing_key, status="triggered",
                        summary=payload["summary"], severity=payload["severity"],
                        source=payload["source"],
                        custom_details=copy.deepcopy(payload.get("custom_details") or {}),
                        opened_at=datetime.now(timezone.utc),
                    )
                    self.alerts.append(alert)
                alert.log.append(copy.deepcopy(event))
            elif alert is not None:
                # acknowledge / resolve apply to the open alert; without one they are dropped.
                alert.status = "acknowledged" if action == "acknowledge" else "resolved"
                alert.log.append(copy.deepcopy(event))
            return key


def validate_event(body: Any) -> list[str]:
    """PagerDuty's complaints about an event body; empty when it is valid."""
    if not isinstance(body, dict):
        return ["Event object must be a JSON object"]
    errors: list[str] = []
    routing_key = body.get("routing_key")
    if not isinstance(routing_key, str) or not routing_key:
        errors.append("'routing_key' is missing or blank")
    elif len(routing_key) != ROUTING_KEY_LENGTH:
        errors.append(f"Length of 'routing_key' is incorrect (should be {ROUTING_KEY_LENGTH} characters)")
    action = body.get("event_action")
    if action not in EVENT_ACTIONS:
        errors.append("'event_action' is missing or invalid (should be one of: trigger, acknowledge, resolve)")
    dedup_key = body.get("dedup_key")
    if dedup_key is not None:
        if not isinstance(dedup_key, str) or not dedup_key:
            errors.append("'dedup_key' must be a non-blank string")
        elif len(dedup_key) > DEDUP_KEY_LIMIT:
            errors.append(f"Length of 'dedup_key' is too long (maximum is {DEDUP_KEY_LIMIT} characters)")
    elif action in ("acknowledge", "resolve"):
        errors.append("'dedup_key' is missing or blank")
    if action == "trigger":
        errors.extend(_payload_errors(body.get("payload")))
    for name in ("links", "images"):
        value = body.get(name)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, dict) for v in value)):
            errors.append(f"'{name}' must be a list of objects")
    return errors


def _payload_errors(payload: Any) -> list[str]:
    if not isinstance(payload, dict):
        return ["'payload' is missing or is not an object"]
    errors: list[str] = []
    summary = payload.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        errors.append("'payload.summary' is missing or blank")
    elif len(summary) > SUMMARY_LIMIT:
        errors.append(f"Length of 'payload.summary' is too long (maximum is {SUMMARY_LIMIT} characters)")
    source = payload.get("source")
    if not isinstance(source, str) or not source.strip():
        errors.append("'payload.source' is missing or blank")
    if payload.get("severity") not in SEVERITIES:
        errors.append("'payload.severity' is missing or invalid (should be one of: critical, error, warning, info)")
    details = payload.get("custom_details")
    if details is not None and not isinstance(details, dict):
        errors.append("'payload.custom_details' must be an object")
    timestamp = payload.get("timestamp")
    if timestamp is not None:
        try:
            datetime.fromisoformat(str(timestamp).replace("Z", "+00:00"))
        except ValueError:
            errors.append("'payload.timestamp' is not a valid ISO 8601 timestamp")
    return errors


def _error_response(status: int, message: str) -> Response:
    """PagerDuty-shaped error bodies for the shared harness (knob faults, unknown routes)."""
    if status == 400:
        body: dict[str, Any] = {"status": "invalid event", "message": "Event object is invalid", "errors": [message]}
    elif status == 429:
        body = {"status": "throttle event",
                "message": "Requests for this service are arriving too quickly. Please retry later."}
    else:
        body = {"status": "error", "message": message}
    response = jsonify(body)
    response.status_code = status
    return response


PAGERDUTY_VENDOR = Vendor(name="pagerduty", error_response=_error_response,
                          # The Events API sends no rate-limit headers, only 429.
                          rate_limit_headers=lambda limit, remaining, reset: {})


def create_app(state: PagerState, knobs: Knobs | None = None) -> Flask:
    """A Flask app serving the Events API v2 enqueue endpoint and the webhook receiver."""
    app = Flask("bridge.sandbox.pager")
    app.json.sort_keys = False
    install(app, PAGERDUTY_VENDOR, knobs or Knobs())

    def invalid(errors: list[str]) -> Response:
        response = jsonify({"status": "invalid event", "message": "Event object is invalid", "errors": errors})
        response.status_code = 400
        return response

    @app.post("/v2/enqueue")
    def enqueue():
        if (request.content_length or 0) > BODY_LIMIT:
            return invalid(["Event object is too large (maximum is 512 KB)"])
        body = request.get_json(force=True, silent=True)
        if body is None:
            return invalid(["Could not parse the request body as JSON"])
        errors = validate_event(body)
        if errors:
            return invalid(errors)
        key = state.apply(body)
        response = jsonify({"status": "success", "message": "Event processed", "dedup_key": key})
        response.status_code = 202
        return response

    @app.post("/webhook/<name>")
    def webhook(name: str):
        body = request.get_json(force=True, silent=True)
        if body is None:
            return jsonify({"error": "expected a JSON body"}), 400
        with state.lock:
            state.webhooks.append(WebhookDelivery(
                name=name, body=copy.deepcopy(body),
                idempotency_key=request.headers.get("Idempotency-Key"),
                received_at=datetime.now(timezone.utc),
            ))
        return jsonify({"ok": True})

    return app


def start(port: int = 0, knobs: Knobs | None = None) -> tuple[ServiceThread, PagerState]:
    """Serve the emulated pager endpoints on 127.0.0.1:``port`` from a daemon thread."""
    state = PagerState()
    service = ServiceThread(create_app(state, knobs), port=port)
    return service.start(), state
