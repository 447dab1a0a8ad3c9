"""An emulation of the Freshdesk API v2 (tickets, conversations, contacts, agents, groups) on loopback.

It follows Freshdesk's published API reference (https://developers.freshdesk.com/api/),
not the bridge's convenience:

* Basic auth with the API key as user name and any password (``apikey:X``); a bad key
  answers 401 ``{"code":"invalid_credentials",…}``, an agent without the right 403
  ``{"code":"access_denied",…}``.
* ``GET /api/v2/tickets/{id}`` with ``include=conversations`` (the first ten, oldest first),
  ``requester``, ``company``; ``GET /api/v2/tickets/{id}/conversations`` pages with
  ``page`` / ``per_page`` (default 30, at most 100) and a ``Link: <…>; rel="next"`` header.
* ``GET /api/v2/contacts/{id}`` ("View a Contact"): the whole contact, its ``time_zone`` a
  Rails (ActiveSupport) zone name such as ``"Chennai"``, the help desk's own zone unless the
  contact has one. The ticket's ``include=requester`` carries no time zone.
* ``POST /api/v2/tickets/{id}/reply {"body"}`` adds a public reply (e-mailed to the
  requester: recorded in :attr:`FreshdeskState.outbox`), ``POST …/notes {"body",
  "private"}`` a note, private unless ``private: false``.
* ``PUT /api/v2/tickets/{id}`` changes ``status`` (2 Open, 3 Pending, 4 Resolved,
  5 Closed), ``priority`` (1 Low … 4 Urgent), ``tags`` (the list *replaces* the old one),
  ``custom_fields`` (``{"cf_name": value}``; an unknown name is a validation error).
  ``updated_at`` moves on every write.
* Validation errors answer 400 ``{"description":"Validation failed","errors":[{"field",
  "message","code"}]}``; an unknown ticket 404 with an empty body.
* Every answer carries ``X-RateLimit-Total``, ``X-RateLimit-Remaining`` and
  ``X-RateLimit-Used-CurrentRequest``; over the budget (the shared knobs), 429 with
  ``Retry-After``.

State lives in :class:`FreshdeskState`; :meth:`FreshdeskState.seed_demo` builds the demo
help desk (a ticket with customer PII and an agent's private note with a Sentry link, an
``[Emergency]`` ticket, a resolved one).
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
from typing import Any

from flask import Flask, Response, request

from bridge.sandbox.server import Knobs, ServiceThread, Vendor, install, start_emulator
from bridge.sandbox.freshdesk_state import (ACCESS_DENIED, CLOSED, DEFAULT_RATE_TOTAL, DEMO_CONTACT_API_KEY,
                                           DEMO_CREDENTIALS, INCLUDED_CONVERSATIONS, INVALID_CREDENTIALS, OPEN,
                                           PENDING, PER_PAGE_DEFAULT, PER_PAGE_MAX, RESOLVED, SOURCE_NOTE,
                                           SOURCE_REPLY, FreshdeskError, FreshdeskState, format_time, not_found,
                                           unexpected_fields, validation_failed)
from bridge.sandbox.webhook_delivery import add_delivery_controls

__all__ = ["CLOSED", "DEMO_CONTACT_API_KEY", "DEMO_CREDENTIALS", "OPEN", "PENDING", "RESOLVED", "SOURCE_NOTE",
           "SOURCE_REPLY", "FreshdeskError", "FreshdeskState", "create_app", "format_time", "start"]


def _error_response(status: int, message: str) -> Response:
    """Freshdesk's error bodies for the shared harness (knob faults, unknown routes)."""
    if status == 401:
        return FreshdeskError(401, dict(INVALID_CREDENTIALS)).response()
    if status == 403:
        return FreshdeskError(403, dict(ACCESS_DENIED)).response()
    if status == 404:
        return FreshdeskError(404, None).response()
    if status == 405:
        return FreshdeskError(405, {"code": "method_not_allowed", "message": message}).response()
    if status == 429:
        return FreshdeskError(429, {"code": "rate_limit_exceeded",
                                    "message": "You have exceeded the limit of requests per minute"}).response()
    return FreshdeskError(status, {"code": "internal_error" if status >= 500 else "invalid_value",
                                   "message": message}).response()


def _rate_limit_headers(limit: int, remaining: int, reset_epoch: float) -> dict[str, str]:
    return {"X-RateLimit-Total": str(limit or DEFAULT_RATE_TOTAL), "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Used-CurrentRequest": "1"}


FRESHDESK_VENDOR = Vendor(name="freshdesk", error_response=_error_response, rate_limit_headers=_rate_limit_headers)


def create_app(state: FreshdeskState, knobs: Knobs | None = None) -> Flask:
    """A Flask app serving ``state`` as Freshdesk's API v2, with the shared knobs."""
    app = Flask("bridge.sandbox.freshdesk")
    app.json.sort_keys = False
    knobs = knobs or Knobs()
    install(app, FRESHDESK_VENDOR, knobs)

    @app.errorhandler(FreshdeskError)
    def _freshdesk_error(exc: FreshdeskError) -> Response:
        return exc.response()

    @app.after_request
    def _rate_headers(response: Response) -> Response:
        # Freshdesk sends its rate-limit headers on every answer, limited or not.
        if not request.path.startswith("/__sandbox__"):
            used = knobs.counts()["total"]
            total = knobs.rate_limit or DEFAULT_RATE_TOTAL
            response.headers.setdefault("X-RateLimit-Total", str(total))
            response.headers.setdefault("X-RateLimit-Remaining", str(max(0, total - used)))
            response.headers.setdefault("X-RateLimit-Used-CurrentRequest", "1")
        return response

    def respond(body: Any, status: int = 200, headers: dict | None = None) -> Response:
        response = Response(json.dumps(body), status=status, mimetype="application/json")
        if headers:
            response.headers.update(headers)
        return response

    def caller() -> tuple[str, int]:
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            raise FreshdeskError(401, dict(INVALID_CREDENTIALS))
        try:
            key = base64.b64decode(credentials.strip()).decode().partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            key = ""
        with state.lock:
            found = state.api_keys.get(key)
        if found is None:
            raise FreshdeskError(401, dict(INVALID_CREDENTIALS))
        return found

    def agent() -> int:
        kind, ident = caller()
        if kind != "agent":
            raise FreshdeskError(403, dict(ACCESS_DENIED))
        return ident

    def json_body(allowed: set[str] | None = None) -> dict:
        """The request's JSON object; 400 when it is not one, or names a field outside ``allowed``."""
        if request.mimetype != "application/json":
            raise FreshdeskError(415, {"code": "invalid_content_type",
                                       "message": "Content-Type header should have application/json"})
        try:
            data = json.loads(request.get_data(cache=True) or b"")
        except ValueError:
            raise validation_failed(("", "Request body has invalid json format", "invalid_json")) from None
        if not isinstance(data, dict):
            raise validation_failed(("", "Request body has invalid json format", "invalid_json"))
        if allowed is not None and set(data) - allowed:
            raise validation_failed(*unexpected_fields(sorted(set(data) - allowed)))
        return data

    def lookup(ticket_id: int) -> dict:
        ticket = state.tickets.get(ticket_id)
        if ticket is None:
            raise not_found()
        return ticket

    # -- tickets ------------------------------------------------------------------------
    @app.get("/api/v2/tickets/<int:ticket_id>")
    def view_ticket(ticket_id: int):
        agent()
        includes = {p.strip() for p in request.args.get("include", "").split(",") if p.strip()}
        unknown = includes - {"conversations", "requester", "company", "stats"}
        if unknown:
            raise validation_failed(("include", "It should be one of these values: "
                                     "'conversations,requester,company,stats'", "invalid_value"))
        with state.lock:
            body = copy.deepcopy(lookup(ticket_id))
            if "conversations" in includes:
                body["conversations"] = copy.deepcopy(state.conversations[ticket_id][:INCLUDED_CONVERSATIONS])
            if "requester" in includes:
                contact = state.contacts.get(body["requester_id"]) or {}
                body["requester"] = {k: contact.get(k) for k in ("id", "name", "email", "mobile", "phone")}
            if "company" in includes and body.get("company_id"):
                body["company"] = copy.deepcopy(state.companies.get(body["company_id"]))
            if "stats" in includes:
                body["stats"] = {"agent_responded_at": None, "requester_responded_at": None,
                                 "first_responded_at": None, "status_updated_at": body["updated_at"],
                                 "reopened_at": None, "resolved_at": None, "closed_at": None, "pending_since": None}
        return respond(body)

    @app.post("/api/v2/tickets")
    def create_ticket():
        agent()
        return respond(state.create_ticket(json_body()), 201)

    @app.put("/api/v2/tickets/<int:ticket_id>")
    def update_ticket(ticket_id: int):
        agent()
        return respond(state.update_ticket(ticket_id, json_body()))

    @app.get("/api/v2/tickets/<int:ticket_id>/conversations")
    def list_conversations(ticket_id: int):
        agent()
        try:
            page = int(request.args.get("page", "1"))
            per_page = int(request.args.get("per_page", str(PER_PAGE_DEFAULT)))
        except ValueError:
            raise validation_failed(("page", "It should be a/an Positive Integer", "datatype_mismatch")) from None
        if page < 1 or not 1 <= per_page <= PER_PAGE_MAX:
            raise validation_failed(("per_page", f"It should be a Positive Integer less than or equal to {PER_PAGE_MAX}",
                                     "invalid_value"))
        with state.lock:
            lookup(ticket_id)
            items = state.conversations[ticket_id]
            chunk = copy.deepcopy(items[(page - 1) * per_page: page * per_page])
            more = page * per_page < len(items)
        headers = {}
        if more:
            base = state.base_url or request.host_url.rstrip("/")
            headers["Link"] = f'<{base}/api/v2/tickets/{ticket_id}/conversations?page={page + 1}&per_page={per_page}>; rel="next"'
        return respond(chunk, headers=headers)

    @app.post("/api/v2/tickets/<int:ticket_id>/reply")
    def reply(ticket_id: int):
        agent_id = agent()
        data = json_body(allowed={"body", "from_email", "user_id", "cc_emails", "bcc_emails"})
        conversation = state.add_conversation(ticket_id, data.get("body") or "",
                                              user_id=data.get("user_id", agent_id), private=False,
                                              source=SOURCE_REPLY)
        keys = ("body", "body_text", "id", "user_id", "from_email", "cc_emails", "bcc_emails", "ticket_id",
                "attachments", "created_at", "updated_at")
        answer = {k: conversation[k] for k in keys}
        answer["replied_to"] = conversation["to_emails"]
        return respond(answer, 201)

    @app.post("/api/v2/tickets/<int:ticket_id>/notes")
    def note(ticket_id: int):
        agent_id = agent()
        data = json_body(allowed={"body", "private", "incoming", "notify_emails", "user_id"})
        private = data.get("private", True)
        if not isinstance(private, bool):
            raise validation_failed(("private", "It should be a/an Boolean", "datatype_mismatch"))
        conversation = state.add_conversation(ticket_id, data.get("body") or "",
                                              user_id=data.get("user_id", agent_id), private=private,
                                              incoming=bool(data.get("incoming", False)))
        keys = ("body", "body_text", "id", "incoming", "private", "user_id", "support_email", "ticket_id",
                "attachments", "created_at", "updated_at")
        answer = {k: conversation[k] for k in keys}
        answer["notify_emails"] = list(data.get("notify_emails") or [])
        return respond(answer, 201)

    # -- contacts -----------------------------------------------------------------------------
    @app.get("/api/v2/contacts/<int:contact_id>")
    def view_contact(contact_id: int):
        agent()
        with state.lock:
            contact = state.contacts.get(contact_id)
            if contact is None:
                raise not_found()
            return respond(copy.deepcopy(contact))

    # -- agents and groups -------------------------------------------------------------------
    @app.get("/api/v2/agents/me")
    def me():
        agent_id = agent()
        with state.lock:
            return respond(copy.deepcopy(state.agents[agent_id]))

    @app.get("/api/v2/agents")
    def list_agents():
        agent()
        email = request.args.get("email")
        with state.lock:
            agents = [copy.deepcopy(a) for a in state.agents.values()
                      if email is None or a["contact"]["email"].lower() == email.lower()]
        return respond(agents)

    @app.get("/api/v2/groups")
    def list_groups():
        agent()
        with state.lock:
            return respond([copy.deepcopy(g) for g in state.groups.values()])

    add_delivery_controls(app, state.hooks.dispatcher)
    return app


def start(port: int = 0, seed: bool = True, knobs: Knobs | None = None) -> tuple[ServiceThread, FreshdeskState]:
    """Serve a (demo-seeded) Freshdesk on 127.0.0.1:``port`` from a daemon thread."""
    return start_emulator(FreshdeskState(), create_app, port=port, seed=seed, knobs=knobs)
