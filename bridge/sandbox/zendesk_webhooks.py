"""Outgoing webhooks of the Zendesk emulator: registrations, triggers, payloads and signatures.

Zendesk sends a ticket's changes to a webhook (``POST /api/v2/webhooks``) in one of two ways,
and the emulator does both after every recorded ticket change (a create, a comment, a
status, tag, field, assignment change...):

* **Event-subscribed** webhooks list ``zen:event-type:ticket.*`` types in ``subscriptions``
  and receive ``{"type", "id" (one per event), "account_id", "time", "subject",
  "zendesk_event_version", "detail" (the ticket: ids as strings, status and priority in
  upper case), "event" (what changed)}``; one audit can give several events (a comment and
  a status change), each its own delivery.
* **Trigger-connected** webhooks subscribe to ``conditional_ticket_events``; a trigger whose
  conditions hold (:mod:`zendesk_triggers`) sends the JSON body its ``notification_webhook``
  action defines, placeholders filled in.

Every webhook has a signing secret (``GET /api/v2/webhooks/{id}/signing_secret``); each
request carries ``X-Zendesk-Webhook-Signature`` = base64(HMAC-SHA256(secret, timestamp +
body)) with ``X-Zendesk-Webhook-Signature-Timestamp`` (signed when sent, so a retry is
signed anew), ``X-Zendesk-Webhook-Id`` and ``X-Zendesk-Webhook-Invocation-Id`` (one per
invocation, the same on its retries and duplicates). Sending, retries and the unreliability
knobs (duplicate, delay, reorder, drop) are the shared background dispatcher's; tests turn
them through ``/__sandbox__/webhooks`` (:mod:`zendesk_routes_webhooks`) or
``state.webhooks.dispatcher``.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import itertools
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from bridge.sandbox.webhook_delivery import Delivery, Dispatcher
from bridge.sandbox.zendesk_format import ZendeskError, format_time, not_found
from bridge.sandbox.zendesk_triggers import UpdateContext, fires, placeholder_values, render, validate_trigger

if TYPE_CHECKING:
    from bridge.sandbox.zendesk_state import ZendeskState

EVENT_PREFIX = "zen:event-type:ticket."
#: The subscription of webhooks that triggers (and automations) call.
CONDITIONAL = "conditional_ticket_events"
#: Audit ``Change`` field -> the event type Zendesk sends for it.
CHANGE_EVENTS = {
    "status": "status_changed", "priority": "priority_changed", "type": "type_changed",
    "assignee_id": "agent_assignment_changed", "group_id": "group_assignment_changed",
    "organization_id": "organization_changed", "requester_id": "requester_changed",
    "subject": "subject_changed", "external_id": "external_id_changed", "tags": "tags_changed",
    "custom_status_id": "custom_status_changed",
}
#: Every ticket event type a webhook may subscribe to.
EVENT_TYPES = frozenset(EVENT_PREFIX + name for name in (
    "created", "comment_added", "custom_field_changed", *CHANGE_EVENTS.values()))
ZENDESK_EVENT_VERSION = "2022-11-06"
#: The emulated account's id (``account_id`` in event payloads).
ACCOUNT_ID = 9242270
SIGNATURE_HEADER = "X-Zendesk-Webhook-Signature"
TIMESTAMP_HEADER = "X-Zendesk-Webhook-Signature-Timestamp"
#: Zendesk retries a failed request up to 3 times.
MAX_RETRIES = 3


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Zendesk-Webhook-Signature`` value for ``timestamp`` and ``body``."""
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("utf-8") + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


@dataclass(frozen=True)
class ZendeskDelivery(Delivery):
    """One invocation of one webhook (``identifier`` is the invocation id), Zendesk's headers."""

    def headers(self) -> dict[str, str]:
        # Called when the request leaves (each retry too): the timestamp is the sending time.
        timestamp = format_time(datetime.now(timezone.utc))
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "Zendesk Webhook",
                   "X-Zendesk-Webhook-Id": str(self.webhook_id),
                   "X-Zendesk-Webhook-Invocation-Id": self.identifier, TIMESTAMP_HEADER: timestamp}
        if self.secret:
            headers[SIGNATURE_HEADER] = sign(self.secret, timestamp, self.body)
        return headers


def webhook_error(status: int, code: str, detail: str, pointer: str | None = None) -> ZendeskError:
    """An error in the webhooks API's shape (``{"errors": [{code, title, detail, source}]}``)."""
    error: dict[str, Any] = {"code": code, "title": code, "detail": detail}
    if pointer:
        error["source"] = {"pointer": pointer}
    return ZendeskError(status, {"errors": [error]})


def new_webhook_id() -> str:
    """An id shaped like Zendesk's webhook ids (26 characters, ULID alphabet)."""
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    return "01" + "".join(secrets.choice(alphabet) for _ in range(24))


class WebhookHub:
    """The account's webhooks and triggers, and the listener that turns changes into deliveries."""

    def __init__(self, state: "ZendeskState") -> None:
        self.state = state
        self.dispatcher = Dispatcher("sandbox-zendesk-webhooks")
        self.reset()
        state.listeners.append(self.on_change)

    def reset(self) -> None:
        """Forget every webhook, trigger and queued delivery; delivery knobs back to defaults."""
        self.webhooks: dict[str, dict] = {}
        self.triggers: dict[int, dict] = {}
        self._trigger_ids = itertools.count(360001)
        self._invocations = itertools.count(8350001)
        self.reset_deliveries()

    def reset_deliveries(self) -> None:
        """Forget queued deliveries and the delivery log; knobs back to Zendesk's defaults."""
        self.dispatcher.reset()
        self.dispatcher.set_knobs({"max_retries": MAX_RETRIES})

    # -- webhooks ---------------------------------------------------------------------------
    def create_webhook(self, spec: dict, actor_id: int) -> dict:
        """Register a webhook from a ``{"webhook": ...}`` body's inner object (400 if invalid)."""
        fields = self._validated_webhook(spec)
        given = spec.get("signing_secret")  # Zendesk lets the creator choose the secret
        secret = given.get("secret") if isinstance(given, dict) else None
        now = format_time(self.state.now())
        webhook = {"id": new_webhook_id(), **fields, "created_at": now, "created_by": str(actor_id),
                   "updated_at": now, "updated_by": str(actor_id),
                   "_secret": secret if isinstance(secret, str) and secret else secrets.token_urlsafe(32)}
        self.webhooks[webhook["id"]] = webhook
        return webhook

    def update_webhook(self, webhook_id: str, spec: dict, actor_id: int) -> dict:
        """Change a webhook (``PUT`` / ``PATCH``): the given fields replace the stored ones."""
        webhook = self.webhook(webhook_id)
        fields = self._validated_webhook({**{k: v for k, v in webhook.items() if not k.startswith("_")}, **spec})
        webhook.update(fields, updated_at=format_time(self.state.now()), updated_by=str(actor_id))
        return webhook

    def webhook(self, webhook_id: str) -> dict:
        """The stored webhook; 404 in the webhooks API's shape when there is none."""
        webhook = self.webhooks.get(webhook_id)
        if webhook is None:
            raise webhook_error(404, "RecordNotFound", f"Webhook {webhook_id} not found")
        return webhook

    def reset_secret(self, webhook_id: str) -> str:
        """A new signing secret for ``webhook_id`` (the old one stops working at once)."""
        webhook = self.webhook(webhook_id)
        webhook["_secret"] = secrets.token_urlsafe(32)
        return webhook["_secret"]

    @staticmethod
    def _validated_webhook(spec: dict) -> dict:
        name, endpoint = spec.get("name"), spec.get("endpoint")
        if not isinstance(name, str) or not name.strip():
            raise webhook_error(400, "InvalidValue", "name is required", "/webhook/name")
        parts = urlsplit(endpoint) if isinstance(endpoint, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            raise webhook_error(400, "InvalidValue", "endpoint must be an http(s) URL", "/webhook/endpoint")
        if spec.get("http_method", "POST") != "POST" or spec.get("request_format", "json") != "json":
            raise webhook_error(400, "InvalidValue", "the sandbox sends webhooks as POST with a json body",
                                "/webhook/http_method")
        status = spec.get("status", "active")
        if status not in ("active", "inactive"):
            raise webhook_error(400, "InvalidValue", "status must be active or inactive", "/webhook/status")
        subscriptions = spec.get("subscriptions")
        if not isinstance(subscriptions, list) or not subscriptions:
            raise webhook_error(400, "InvalidValue", "subscriptions must list at least one event type",
                                "/webhook/subscriptions")
        unknown = [s for s in subscriptions if s != CONDITIONAL and s not in EVENT_TYPES]
        if unknown:
            raise webhook_error(400, "InvalidValue", f"unknown subscription {unknown[0]}", "/webhook/subscriptions")
        return {"name": name.strip(), "endpoint": endpoint, "http_method": "POST", "request_format": "json",
                "status": status, "subscriptions": list(dict.fromkeys(subscriptions)),
                "description": spec.get("description") or ""}

    # -- triggers ---------------------------------------------------------------------------
    def create_trigger(self, spec: dict) -> dict:
        """Save a trigger from a ``{"trigger": ...}`` body's inner object (422 if invalid)."""
        fields = validate_trigger(spec, set(self.webhooks))
        trigger_id = next(self._trigger_ids)
        now = format_time(self.state.now())
        trigger = {"id": trigger_id, **fields, "position": fields["position"] or len(self.triggers) + 1,
                   "created_at": now, "updated_at": now}
        self.triggers[trigger_id] = trigger
        return trigger

    def update_trigger(self, trigger_id: int, spec: dict) -> dict:
        """Replace the given fields of a trigger (422 if the result is invalid)."""
        trigger = self.trigger(trigger_id)
        fields = validate_trigger({**trigger, **spec}, set(self.webhooks))
        trigger.update(fields, position=fields["position"] or trigger["position"],
                       updated_at=format_time(self.state.now()))
        return trigger

    def trigger(self, trigger_id: int) -> dict:
        """The stored trigger; 404 RecordNotFound when there is none."""
        trigger = self.triggers.get(trigger_id)
        if trigger is None:
            raise not_found()
        return trigger

    # -- from ticket changes to deliveries -----------------------------------------------------
    def on_change(self, ticket: dict, audit: dict) -> None:
        """The state's listener: queue the deliveries one recorded change causes (from
        copies: the state hands over its live records)."""
        if not any(w["status"] == "active" for w in self.webhooks.values()):
            return
        ticket, audit = copy.deepcopy(ticket), copy.deepcopy(audit)
        state = self.state
        actor = state.users.get(audit["author_id"])
        comment = next((e for e in audit["events"] if e["type"] == "Comment"), None)
        update = UpdateContext(
            ticket=ticket, created=any(e["type"] == "Create" for e in audit["events"]), comment=comment, actor=actor,
            changes={e["field_name"]: e["previous_value"] for e in audit["events"] if e["type"] == "Change"})
        for event_type, event in self._events(update, audit):
            self._send_event(event_type, event, ticket, actor)
        self._run_triggers(update)

    def _events(self, update: UpdateContext, audit: dict) -> list[tuple[str, dict]]:
        if update.created:
            events = [("created", {})]
        else:
            events = [("comment_added", {"comment": self._comment(update.comment)})] if update.comment else []
            for change in (e for e in audit["events"] if e["type"] == "Change"):
                events.append(self._change_event(change))
        sequence = uuid.uuid4().hex.upper()
        return [(EVENT_PREFIX + name, dict(event, meta={"sequence": {"id": sequence, "position": n,
                                                                     "total": len(events)}}))
                for n, (name, event) in enumerate(events, start=1)]

    def _comment(self, event: dict) -> dict:
        author = self.state.users.get(event["author_id"]) or {}
        return {"id": str(event["id"]), "body": event["body"], "is_public": event["public"],
                "author": {"id": str(event["author_id"]), "name": author.get("name"),
                           "is_staff": author.get("role") in ("agent", "admin")}}

    def _change_event(self, change: dict) -> tuple[str, dict]:
        field, current, previous = change["field_name"], change["value"], change["previous_value"]
        if field == "tags":
            return "tags_changed", {"tags_added": [t for t in current if t not in (previous or [])],
                                    "tags_removed": [t for t in (previous or []) if t not in current]}
        if field in CHANGE_EVENTS:
            if field in ("status", "priority", "type"):
                current, previous = (v.upper() if isinstance(v, str) else v for v in (current, previous))
            return CHANGE_EVENTS[field], {"current": current, "previous": previous}
        definition = self.state.ticket_fields.get(int(field)) if field.isdigit() else None
        return "custom_field_changed", {
            "current": current, "previous": previous,
            "custom_field": {"id": field, "title": (definition or {}).get("title"),
                             "type": (definition or {}).get("type")}}

    def _detail(self, ticket: dict, actor: dict | None) -> dict:
        def text(value: Any) -> str | None:
            return None if value is None else str(value)

        return {
            "actor_id": text((actor or {}).get("id")), "assignee_id": text(ticket["assignee_id"]),
            "brand_id": text(ticket["brand_id"]), "created_at": ticket["created_at"],
            "custom_status": text(ticket.get("custom_status_id")), "description": ticket["description"],
            "external_id": text(ticket["external_id"]), "form_id": text(ticket["ticket_form_id"]),
            "group_id": text(ticket["group_id"]), "id": str(ticket["id"]), "is_public": ticket["is_public"],
            "organization_id": text(ticket["organization_id"]),
            "priority": ticket["priority"].upper() if ticket["priority"] else None,
            "requester_id": text(ticket["requester_id"]), "status": ticket["status"].upper(),
            "subject": ticket["subject"], "submitter_id": text(ticket["submitter_id"]),
            "tags": list(ticket["tags"]), "type": ticket["type"].upper() if ticket["type"] else None,
            "updated_at": ticket["updated_at"], "via": {"channel": ticket["via"]["channel"]},
        }

    def _send_event(self, event_type: str, event: dict, ticket: dict, actor: dict | None) -> None:
        targets = [w for w in self.webhooks.values() if w["status"] == "active" and event_type in w["subscriptions"]]
        if not targets:
            return
        payload = {
            "type": event_type, "account_id": ACCOUNT_ID, "id": str(uuid.uuid4()),
            "time": datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z"),
            "zendesk_event_version": ZENDESK_EVENT_VERSION, "subject": f"zen:ticket:{ticket['id']}",
            "detail": self._detail(ticket, actor), "event": event,
        }
        body = json.dumps(payload).encode("utf-8")
        for webhook in targets:
            self._submit(webhook, event_type, body)

    def _run_triggers(self, update: UpdateContext) -> None:
        state = self.state
        active = sorted((t for t in self.triggers.values() if t["active"]), key=lambda t: (t["position"], t["id"]))
        values: dict[str, str] | None = None
        for trigger in active:
            if not fires(trigger, update):
                continue
            for action in trigger["actions"]:
                webhook_id, template = action["value"]
                webhook = self.webhooks.get(webhook_id)
                if webhook is None or webhook["status"] != "active" or CONDITIONAL not in webhook["subscriptions"]:
                    continue
                if values is None:
                    ticket_id = update.ticket["id"]
                    values = placeholder_values(
                        update.ticket, users=state.users, organizations=state.organizations, groups=state.groups,
                        comments=state.comments(ticket_id), actor=update.actor,
                        ticket_url=f"{state.base_url}/agent/tickets/{ticket_id}")
                self._submit(webhook, f"trigger:{trigger['id']}", render(template, values).encode("utf-8"))

    def _submit(self, webhook: dict, event: str, body: bytes) -> None:
        self.dispatcher.submit(ZendeskDelivery(
            identifier=str(next(self._invocations)), webhook_id=webhook["id"], event=event,
            url=webhook["endpoint"], body=body, secret=webhook["_secret"]))

    # -- what the API shows ---------------------------------------------------------------------
    @staticmethod
    def webhook_json(webhook: dict) -> dict:
        """A webhook as the API shows it (never its secret)."""
        return {k: copy.deepcopy(v) for k, v in webhook.items() if not k.startswith("_")}
