"""Zendesk emulator routes for webhooks and triggers, and the test controls of their delivery.

* ``POST|GET /api/v2/webhooks``, ``GET|PUT|PATCH|DELETE /api/v2/webhooks/{id}``,
  ``GET|POST /api/v2/webhooks/{id}/signing_secret`` — Zendesk's webhooks API (admins only;
  its errors are ``{"errors": [...]}`` objects). The secret is only ever shown by
  ``signing_secret``.
* ``POST|GET /api/v2/triggers.json``, ``GET|PUT|DELETE /api/v2/triggers/{id}.json``.
* ``/__sandbox__/webhooks`` — the delivery test controls shared by every emulator
  (:func:`bridge.sandbox.webhook_delivery.add_delivery_controls`); ``DELETE`` keeps Zendesk's
  three retries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, Response, request

from bridge.sandbox.webhook_delivery import add_delivery_controls
from bridge.sandbox.zendesk_format import FORBIDDEN_BODY, ZendeskError

if TYPE_CHECKING:
    from bridge.sandbox.zendesk_app import ZendeskApi


def register(app: Flask, z: ZendeskApi) -> None:
    """Add these routes to ``app``."""
    state = z.state
    hub = state.webhooks

    def admin() -> dict:
        user = z.agent()
        if user["role"] != "admin":
            raise ZendeskError(403, dict(FORBIDDEN_BODY))
        return user

    def webhook_json(webhook: dict) -> dict:
        return hub.webhook_json(webhook)

    # -- webhooks ------------------------------------------------------------------------------
    @app.post("/api/v2/webhooks")
    @app.post("/api/v2/webhooks.json")
    def create_webhook():
        user = admin()
        spec = z.inner(z.json_body(), "webhook")
        with state.lock:
            webhook = hub.create_webhook(spec, user["id"])
            return z.respond({"webhook": webhook_json(webhook)}, 201,
                             {"Location": z.api(f"webhooks/{webhook['id']}")})

    @app.get("/api/v2/webhooks")
    @app.get("/api/v2/webhooks.json")
    def list_webhooks():
        admin()
        with state.lock:
            webhooks = sorted(hub.webhooks.values(), key=lambda w: w["created_at"] + w["id"])
            wanted = request.args.get("filter[name_contains]", "").lower()
            shown = [webhook_json(w) for w in webhooks if wanted in w["name"].lower()]
            return z.respond({"webhooks": shown,
                              "meta": {"has_more": False, "after_cursor": None, "before_cursor": None},
                              "links": {"next": None, "prev": None}})

    @app.get("/api/v2/webhooks/<webhook_id>")
    def show_webhook(webhook_id: str):
        admin()
        with state.lock:
            return z.respond({"webhook": webhook_json(hub.webhook(webhook_id))})

    @app.put("/api/v2/webhooks/<webhook_id>")
    @app.patch("/api/v2/webhooks/<webhook_id>")
    def update_webhook(webhook_id: str):
        user = admin()
        spec = z.inner(z.json_body(), "webhook")
        with state.lock:
            hub.update_webhook(webhook_id, spec, user["id"])
        return Response(status=204)

    @app.delete("/api/v2/webhooks/<webhook_id>")
    def delete_webhook(webhook_id: str):
        admin()
        with state.lock:
            hub.webhooks.pop(hub.webhook(webhook_id)["id"])
        return Response(status=204)

    def signing_secret(secret: str) -> Response:
        return z.respond({"signing_secret": {"algorithm": "SHA256", "secret": secret}})

    @app.get("/api/v2/webhooks/<webhook_id>/signing_secret")
    def show_signing_secret(webhook_id: str):
        admin()
        with state.lock:
            secret = hub.webhook(webhook_id)["_secret"]
        return signing_secret(secret)

    @app.post("/api/v2/webhooks/<webhook_id>/signing_secret")
    def reset_signing_secret(webhook_id: str):
        admin()
        with state.lock:
            secret = hub.reset_secret(webhook_id)
        return signing_secret(secret)

    # -- triggers ------------------------------------------------------------------------------
    def trigger_json(trigger: dict) -> dict:
        return z.with_url(trigger, f"triggers/{trigger['id']}.json")

    @app.post("/api/v2/triggers.json")
    def create_trigger():
        admin()
        spec = z.inner(z.json_body(), "trigger")
        with state.lock:
            trigger = hub.create_trigger(spec)
            return z.respond({"trigger": trigger_json(trigger)}, 201)

    @app.get("/api/v2/triggers.json")
    def list_triggers():
        admin()
        with state.lock:
            triggers = sorted(hub.triggers.values(), key=lambda t: (t["position"], t["id"]))
            return z.respond(z.paged(triggers, lambda t: [t["position"], t["id"]], trigger_json,
                                     "triggers", "triggers.json"))

    @app.get("/api/v2/triggers/<int:trigger_id>.json")
    def show_trigger(trigger_id: int):
        admin()
        with state.lock:
            return z.respond({"trigger": trigger_json(hub.trigger(trigger_id))})

    @app.put("/api/v2/triggers/<int:trigger_id>.json")
    def update_trigger(trigger_id: int):
        admin()
        spec = z.inner(z.json_body(), "trigger")
        with state.lock:
            return z.respond({"trigger": trigger_json(hub.update_trigger(trigger_id, spec))})

    @app.delete("/api/v2/triggers/<int:trigger_id>.json")
    def delete_trigger(trigger_id: int):
        admin()
        with state.lock:
            hub.triggers.pop(hub.trigger(trigger_id)["id"])
        return Response(status=204)

    # Zendesk's own retry count survives a reset of the deliveries.
    add_delivery_controls(app, hub.dispatcher, reset=hub.reset_deliveries)
