"""Zendesk emulator routes for search (tickets, users, organisations) and the incremental
ticket export. The query language is parsed by :mod:`zendesk_search`; here each term is
matched against the stored records."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode

from flask import Flask, request

from bridge.sandbox import zendesk_search
from bridge.sandbox.zendesk_format import (
    EXPORT_QUIET_PERIOD,
    PRIORITIES,
    STATUSES,
    bad_request,
    decode_cursor,
    encode_cursor,
    parse_time,
)

if TYPE_CHECKING:
    from bridge.sandbox.zendesk_app import ZendeskApi


def register(app: Flask, z: ZendeskApi) -> None:
    """Add these routes to ``app``."""
    state = z.state

    # -- incremental export ------------------------------------------------------------------------
    @app.get("/api/v2/incremental/tickets/cursor.json")
    def incremental_tickets():
        z.agent()
        with state.lock:
            now = state.now()
            horizon = now - EXPORT_QUIET_PERIOD if state.export_skips_last_minute else None
            cursor_arg = request.args.get("cursor")
            if cursor_arg:
                position = decode_cursor(cursor_arg)
                after_seq, start_time = int(position.get("seq", 0)), int(position.get("t", 0))
            else:
                raw = request.args.get("start_time")
                if raw is None:
                    raise bad_request("InvalidValue", "start_time or cursor is required")
                try:
                    start_time = int(raw)
                except ValueError:
                    raise bad_request("InvalidValue", "start_time must be a Unix epoch time") from None
                if horizon is not None and start_time > horizon.timestamp():
                    raise bad_request("InvalidValue",
                                      "Too recent start_time. Use a start_time older than one minute.")
                after_seq = 0
            try:
                per_page = min(int(request.args.get("per_page", "1000")), 1000)
            except ValueError:
                raise bad_request("InvalidValue", "per_page must be an integer") from None
            candidates = sorted(
                (t for t in state.tickets.values()
                 if t["_seq"] > after_seq and t["generated_timestamp"] >= start_time
                 and (horizon is None or parse_time(t["updated_at"]) <= horizon)),
                key=lambda t: t["_seq"],
            )
            page = candidates[:per_page]
            end_of_stream = len(candidates) <= per_page
            last_seq = page[-1]["_seq"] if page else after_seq
            after = encode_cursor({"seq": last_seq, "t": start_time})
            before = encode_cursor({"seq": page[0]["_seq"] - 1, "t": start_time}) if page else None
            # The next page keeps the caller's page size (and side-loads), as Zendesk's URLs do.
            kept = {k: v for k, v in request.args.items() if k in ("per_page", "include")}

            def page_url(cursor: str) -> str:
                return f"{z.api('incremental/tickets/cursor.json')}?{urlencode(dict(kept, cursor=cursor))}"

            body = {
                "tickets": [z.ticket_json(t) for t in page],
                "after_cursor": after,
                "after_url": page_url(after),
                "before_cursor": before,
                "before_url": page_url(before) if before else None,
                "end_of_stream": end_of_stream,
            }
            z.sideload(body, page)
            return z.respond(body)

    # -- search ----------------------------------------------------------------------------------
    def ticket_term(ticket: dict, term: zendesk_search.Term) -> bool | None:
        field, op, value = term.field, term.op, term.value
        lowered = value.lower()
        if field is None:
            texts = [ticket["subject"]] + [c["body"] for c in state._comments.get(ticket["id"], [])]
            return zendesk_search.text_matches(value, texts)
        if field == "status":
            return zendesk_search.compare_ordered(ticket["status"], op, lowered, STATUSES)
        if field == "priority":
            return zendesk_search.compare_ordered(ticket["priority"], op, lowered, PRIORITIES)
        if field in ("tags", "tag"):
            return lowered in ticket["tags"]
        if field in ("ticket_type", "tickettype"):
            return (ticket["type"] or "") == lowered
        if field == "external_id":
            return ticket["external_id"] == value
        if field == "subject":
            return zendesk_search.text_matches(value, [ticket["subject"]])
        if field == "description":
            return zendesk_search.text_matches(value, [ticket["description"]])
        if field in ("created", "updated", "solved"):
            stamp = ticket["created_at"] if field == "created" else ticket["updated_at"]
            return zendesk_search.compare_dates(parse_time(stamp), op, value)
        if field in ("organization", "requester", "assignee", "submitter", "group"):
            return reference_matches(ticket, field, lowered)
        if field.startswith("custom_field_"):
            try:
                field_id = int(field.removeprefix("custom_field_"))
            except ValueError:
                return False
            return any(f["id"] == field_id and str(f["value"] or "").lower() == lowered
                       for f in ticket["custom_fields"])
        if field == "fieldvalue":
            return any(str(f["value"] or "").lower() == lowered for f in ticket["custom_fields"])
        return False

    def reference_matches(ticket: dict, field: str, wanted: str) -> bool:
        if field == "organization":
            org = state.organizations.get(ticket["organization_id"] or 0)
            if wanted == "none":
                return org is None
            return org is not None and (str(org["id"]) == wanted or org["name"].lower() == wanted)
        if field == "group":
            group = state.groups.get(ticket["group_id"] or 0)
            if wanted == "none":
                return group is None
            return group is not None and (str(group["id"]) == wanted or group["name"].lower() == wanted)
        user = state.users.get(ticket[f"{field}_id"] or 0)
        if wanted == "none":
            return user is None
        return user is not None and wanted in (str(user["id"]), user["email"].lower(), user["name"].lower())

    def user_term(user: dict, term: zendesk_search.Term) -> bool | None:
        if term.field is None:
            return zendesk_search.text_matches(term.value, [user["name"], user["email"]])
        if term.field == "email":
            return user["email"].lower() == term.value.lower()
        if term.field == "role":
            return user["role"] == term.value.lower()
        if term.field == "name":
            return zendesk_search.text_matches(term.value, [user["name"]])
        if term.field == "external_id":
            return user["external_id"] == term.value
        if term.field == "organization":
            org = state.organizations.get(user["organization_id"] or 0)
            return org is not None and term.value.lower() in (str(org["id"]), org["name"].lower())
        return None if term.field in ("status", "priority", "tags", "tag") else False

    def org_term(org: dict, term: zendesk_search.Term) -> bool | None:
        if term.field is None:
            return zendesk_search.text_matches(term.value, [org["name"]])
        if term.field == "name":
            return org["name"].lower() == term.value.lower()
        if term.field in ("tags", "tag"):
            return term.value.lower() in org["tags"]
        return None if term.field in ("status", "priority") else False

    @app.get("/api/v2/search.json")
    def search():
        z.agent()
        query = request.args.get("query")
        if query is None or not query.strip():
            raise bad_request("InvalidValue", "query is required")
        terms = zendesk_search.parse_query(query)
        types = zendesk_search.result_types(terms) or {"ticket", "user", "organization"}
        with state.lock:
            results: list[dict] = []
            if "ticket" in types:
                results += [dict(z.ticket_json(t), result_type="ticket") for t in state.tickets.values()
                            if zendesk_search.matches(terms, lambda term, t=t: ticket_term(t, term))]
            if "user" in types:
                results += [dict(z.user_json(u), result_type="user") for u in state.users.values()
                            if zendesk_search.matches(terms, lambda term, u=u: user_term(u, term))]
            if "organization" in types:
                results += [dict(z.org_json(o), result_type="organization") for o in state.organizations.values()
                            if zendesk_search.matches(terms, lambda term, o=o: org_term(o, term))]
            sort_by = request.args.get("sort_by", "updated_at")
            descending = request.args.get("sort_order", "desc") != "asc"
            if sort_by == "priority":
                results.sort(key=lambda r: (PRIORITIES.index(r["priority"]) if r.get("priority") in PRIORITIES
                                            else -1, r["id"]), reverse=descending)
            elif sort_by == "status":
                results.sort(key=lambda r: (STATUSES.index(r["status"]) if r.get("status") in STATUSES
                                            else -1, r["id"]), reverse=descending)
            else:
                field = "created_at" if sort_by == "created_at" else "updated_at"
                results.sort(key=lambda r: (r.get(field) or "", r["id"]), reverse=descending)
            extra = {k: v for k, v in request.args.items() if k in ("query", "sort_by", "sort_order")}
            body = z.offset_page(results, lambda r: r, "results", "search.json", extra)
            body["facets"] = None
            return z.respond(body)


    @app.get("/api/v2/users/search.json")
    def search_users():
        z.agent()
        query = request.args.get("query")
        external_id = request.args.get("external_id")
        with state.lock:
            if external_id is not None:
                users = [u for u in state.users.values() if u["external_id"] == external_id]
            elif query:
                terms = zendesk_search.parse_query(query)
                users = [u for u in state.users.values()
                         if zendesk_search.matches(terms, lambda term, u=u: user_term(u, term))]
            else:
                raise bad_request("InvalidValue", "query or external_id is required")
            users.sort(key=lambda u: u["id"])
            return z.respond(z.offset_page(users, z.user_json, "users", "users/search.json",
                                           {"query": query} if query else {"external_id": external_id}))
