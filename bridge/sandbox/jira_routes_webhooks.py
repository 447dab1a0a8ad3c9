"""HTTP side of the JIRA emulator's outgoing webhooks.

* ``GET|POST /rest/webhooks/1.0/webhook`` and ``GET|PUT|DELETE /rest/webhooks/1.0/webhook/{id}``
  — Jira's admin webhook registrations (administrators only; 403 for anyone else).
* ``/__sandbox__/webhooks`` — the delivery test controls shared by every emulator
  (:func:`bridge.sandbox.webhook_delivery.add_delivery_controls`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint, Response

from bridge.sandbox.jira_http import Call, Routes, json_response, read_body
from bridge.sandbox.jira_records import JiraError
from bridge.sandbox.jira_webhooks import Registration
from bridge.sandbox.webhook_delivery import add_delivery_controls

if TYPE_CHECKING:
    from bridge.sandbox.jira_state import JiraState

NOT_ADMIN = "You are not authorized to perform this operation. Please log in."


def webhook_routes(state: "JiraState") -> Blueprint:
    """``/rest/webhooks/1.0/webhook[/{id}]`` (admins only) and ``/__sandbox__/webhooks``."""
    routes = Routes("jira_webhooks", state)
    hub = state.webhooks
    admin = dict(prefix="/rest/webhooks/1.0/", versions=("2",))

    def require_admin(call: Call) -> None:
        if "jira-administrators" not in call.user.groups:
            raise JiraError(403, [NOT_ADMIN])

    def find(webhook_id: int) -> Registration:
        found = hub.registrations.get(webhook_id)
        if found is None:
            raise JiraError(404, [f"Webhook with id {webhook_id} does not exist."])
        return found

    @routes.endpoint("webhook", methods=("GET",), **admin)
    def list_webhooks(call: Call):
        require_admin(call)
        return json_response([hub.as_json(r, call.view.base_url) for r in hub.registrations.values()])

    @routes.endpoint("webhook", methods=("POST",), **admin)
    def create_webhook(call: Call):
        require_admin(call)
        registration = hub.register(read_body(), call.user)
        return json_response(hub.as_json(registration, call.view.base_url), 201)

    @routes.endpoint("webhook/<int:webhook_id>", methods=("GET",), **admin)
    def get_webhook(call: Call, webhook_id: int):
        require_admin(call)
        return json_response(hub.as_json(find(webhook_id), call.view.base_url))

    @routes.endpoint("webhook/<int:webhook_id>", methods=("PUT",), **admin)
    def update_webhook(call: Call, webhook_id: int):
        require_admin(call)
        registration = hub.register(read_body(), call.user, existing=find(webhook_id))
        return json_response(hub.as_json(registration, call.view.base_url))

    @routes.endpoint("webhook/<int:webhook_id>", methods=("DELETE",), **admin)
    def delete_webhook(call: Call, webhook_id: int):
        require_admin(call)
        hub.registrations.pop(find(webhook_id).id)
        return Response(status=204)

    add_delivery_controls(routes.blueprint, hub.dispatcher)
    return routes.blueprint
