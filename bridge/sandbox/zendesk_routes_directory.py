"""Zendesk emulator routes for the account's directory: users, organisations (and their
tickets), groups, group memberships, ticket fields and custom statuses."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, request

from bridge.sandbox.zendesk_format import DEFAULT_CUSTOM_STATUSES

if TYPE_CHECKING:
    from bridge.sandbox.zendesk_app import ZendeskApi


def register(app: Flask, z: ZendeskApi) -> None:
    """Add these routes to ``app``."""
    state = z.state

    # -- users, organizations, groups, fields ------------------------------------------------------
    @app.get("/api/v2/users/me.json")
    def me():
        return z.respond({"user": z.user_json(z.current_user())})

    @app.get("/api/v2/users/<int:user_id>.json")
    def show_user(user_id: int):
        z.agent()
        with state.lock:
            return z.respond({"user": z.user_json(z.lookup(state.users, user_id))})

    @app.get("/api/v2/users/show_many.json")
    def show_many_users():
        z.agent()
        with state.lock:
            wanted = z.id_list(request.args.get("ids"))
            return z.respond({"users": [z.user_json(state.users[i]) for i in wanted if i in state.users]})

    @app.get("/api/v2/users.json")
    def list_users():
        z.agent()
        with state.lock:
            roles = request.args.getlist("role[]") or request.args.getlist("role")
            users = (u for u in state.users.values() if not roles or u["role"] in roles)
            return z.respond(z.paged_by_id(users, z.user_json, "users", "users.json"))

    @app.get("/api/v2/users/<int:user_id>/group_memberships.json")
    def user_memberships(user_id: int):
        z.agent()
        with state.lock:
            z.lookup(state.users, user_id)
            memberships = (m for m in state.group_memberships.values() if m["user_id"] == user_id)
            return z.respond(z.paged_by_id(memberships, lambda m: z.with_url(m, f"group_memberships/{m['id']}.json"),
                                           "group_memberships", f"users/{user_id}/group_memberships.json"))

    @app.get("/api/v2/organizations/<int:org_id>.json")
    def show_organization(org_id: int):
        z.agent()
        with state.lock:
            return z.respond({"organization": z.org_json(z.lookup(state.organizations, org_id))})

    @app.get("/api/v2/organizations/<int:org_id>/tickets.json")
    def organization_tickets(org_id: int):
        z.agent()
        with state.lock:
            z.lookup(state.organizations, org_id)
            tickets = (t for t in state.tickets.values() if t["organization_id"] == org_id)
            return z.respond(z.paged_by_id(tickets, z.ticket_json, "tickets", f"organizations/{org_id}/tickets.json"))

    @app.get("/api/v2/organizations.json")
    def list_organizations():
        z.agent()
        with state.lock:
            return z.respond(z.paged_by_id(state.organizations.values(), z.org_json, "organizations",
                                           "organizations.json"))

    @app.get("/api/v2/groups.json")
    def list_groups():
        z.agent()
        with state.lock:
            return z.respond(z.paged_by_id(state.groups.values(), z.group_json, "groups", "groups.json"))

    @app.get("/api/v2/groups/<int:group_id>.json")
    def show_group(group_id: int):
        z.agent()
        with state.lock:
            return z.respond({"group": z.group_json(z.lookup(state.groups, group_id))})

    @app.get("/api/v2/ticket_fields.json")
    def list_ticket_fields():
        z.agent()
        with state.lock:
            fields = sorted(state.ticket_fields.values(), key=lambda f: f["position"])
            return z.respond({"ticket_fields": [z.with_url(f, f"ticket_fields/{f['id']}.json") for f in fields],
                              "next_page": None, "previous_page": None, "count": len(fields)})

    @app.get("/api/v2/custom_statuses.json")
    def list_custom_statuses():
        z.agent()
        return z.respond({"custom_statuses": [custom_status_json(z, category, status_id)
                                              for category, status_id in DEFAULT_CUSTOM_STATUSES.items()]})


def custom_status_json(z: "ZendeskApi", category: str, status_id: int) -> dict:
    """One of the account's default custom statuses, as ``/custom_statuses`` lists it."""
    label = {"hold": "On-hold"}.get(category, category.capitalize())
    return {"id": status_id, "url": z.api(f"custom_statuses/{status_id}.json"), "status_category": category,
            "agent_label": label, "raw_agent_label": label, "end_user_label": label,
            "raw_end_user_label": label, "description": "", "raw_description": "",
            "end_user_description": "", "raw_end_user_description": "", "active": True, "default": True,
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}
