"""Zendesk emulator routes for tickets, their comments, tags and audits, and bulk jobs
(``update_many``, ``create_many``, ``job_statuses``)."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from flask import Flask, Response, request

from bridge.sandbox.zendesk_format import UPDATE_MANY_LIMIT, bad_request, decode_cursor, encode_cursor, not_found

if TYPE_CHECKING:
    from bridge.sandbox.zendesk_app import ZendeskApi


def register(app: Flask, z: ZendeskApi) -> None:
    """Add these routes to ``app``."""
    state = z.state

    # -- tickets ---------------------------------------------------------------------------------
    @app.get("/api/v2/tickets.json")
    def list_tickets():
        z.agent()
        with state.lock:
            extra = {k: v for k, v in request.args.items() if k in ("sort", "include")}
            return z.respond(z.paged_by_id(state.tickets.values(), z.ticket_json, "tickets", "tickets.json", extra))

    @app.get("/api/v2/tickets/<int:ticket_id>.json")
    def show_ticket(ticket_id: int):
        z.agent()
        with state.lock:
            ticket = z.lookup_ticket(ticket_id)
            body = {"ticket": z.ticket_json(ticket)}
            z.sideload(body, [ticket])
            return z.respond(body)

    @app.get("/api/v2/tickets/show_many.json")
    def show_many_tickets():
        z.agent()
        with state.lock:
            wanted = z.id_list(request.args.get("ids"))
            if len(wanted) > 100:
                raise bad_request("InvalidValue", "Too many ids (the limit is 100)")
            tickets = [state.tickets[i] for i in wanted if i in state.tickets]
            # One page always holds every ticket asked for (at most 100), so no next page.
            body = {"tickets": [z.ticket_json(t) for t in tickets], "next_page": None,
                    "previous_page": None, "count": len(tickets)}
            z.sideload(body, tickets)
            return z.respond(body)

    @app.post("/api/v2/tickets.json")
    def create_ticket():
        user = z.agent()
        data = z.json_body()
        key = request.headers.get("Idempotency-Key")
        fingerprint = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
        with state.lock:
            if key:
                stored = state.idempotent_lookup(key, fingerprint)
                if stored is not None:
                    return z.respond(stored["body"], stored["status"],
                                     dict(stored["headers"], **{"x-idempotency-lookup": "hit"}))
            ticket, audit = state.create_ticket(z.inner(data, "ticket"), user["id"])
            body = {"ticket": z.ticket_json(ticket), "audit": audit}
            headers = {"Location": z.api(f"tickets/{ticket['id']}.json")}
            if key:
                state.idempotent_store(key, fingerprint, 201, body, headers)
                headers["x-idempotency-lookup"] = "miss"
            return z.respond(body, 201, headers)

    @app.put("/api/v2/tickets/<int:ticket_id>.json")
    def update_ticket(ticket_id: int):
        user = z.agent()
        data = z.json_body()
        spec = z.inner(data, "ticket")
        with state.lock:
            ticket, audit = state.update_ticket(ticket_id, spec, user["id"])
            return z.respond({"ticket": z.ticket_json(ticket), "audit": audit})

    def refuse_over_limit(count: int, endpoint: str) -> None:
        if count > UPDATE_MANY_LIMIT:
            raise bad_request("TooManyValues", f"Too many tickets: {endpoint} takes at most "
                                               f"{UPDATE_MANY_LIMIT} tickets per request")

    @app.put("/api/v2/tickets/update_many.json")
    def update_many():
        user = z.agent()
        data = z.json_body()
        updates: list[tuple[int, dict]]
        if "tickets" in data:
            entries = data["tickets"]
            if not isinstance(entries, list) or not all(isinstance(e, dict) and isinstance(e.get("id"), int)
                                                        for e in entries):
                raise bad_request("InvalidValue", "tickets must be a list of objects with an id")
            updates = [(e["id"], {k: v for k, v in e.items() if k != "id"}) for e in entries]
        else:
            ids = z.id_list(request.args.get("ids"))
            if not ids:
                raise bad_request("InvalidValue", "ids or tickets is required")
            change = z.inner(data, "ticket")
            updates = [(i, copy.deepcopy(change)) for i in ids]
        refuse_over_limit(len(updates), "update_many")
        job = state.run_update_many(updates, user["id"])
        return z.respond({"job_status": dict(job, url=z.api(f"job_statuses/{job['id']}.json"))})

    @app.post("/api/v2/tickets/create_many.json")
    def create_many():
        user = z.agent()
        entries = z.json_body().get("tickets")
        if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
            raise bad_request("ParameterMissing", "param is missing or the value is empty: tickets")
        refuse_over_limit(len(entries), "create_many")
        job = state.run_create_many(entries, user["id"])
        return z.respond({"job_status": dict(job, url=z.api(f"job_statuses/{job['id']}.json"))})

    @app.get("/api/v2/job_statuses/show_many.json")
    def show_many_jobs():
        # Zendesk: a comma-separated list of job ids; ids it no longer (or never) knew are
        # left out of the answer rather than failing the request.
        z.agent()
        ids = [part.strip() for part in (request.args.get("ids") or "").split(",") if part.strip()]
        if not ids:
            raise bad_request("InvalidValue", "ids is required")
        with state.lock:
            jobs = [dict(copy.deepcopy(state.jobs[i]), url=z.api(f"job_statuses/{i}.json"))
                    for i in ids if i in state.jobs]
        return z.respond({"job_statuses": jobs})

    @app.get("/api/v2/job_statuses/<job_id>.json")
    def show_job(job_id: str):
        z.agent()
        with state.lock:
            job = copy.deepcopy(z.lookup(state.jobs, job_id))
            return z.respond({"job_status": dict(job, url=z.api(f"job_statuses/{job_id}.json"))})

    # -- comments -------------------------------------------------------------------------------
    @app.get("/api/v2/tickets/<int:ticket_id>/comments.json")
    def list_comments(ticket_id: int):
        z.agent()
        with state.lock:
            z.lookup_ticket(ticket_id)
            comments = list(state._comments[ticket_id])
            descending = request.args.get("sort_order") == "desc"
            if descending:
                comments.reverse()
            sign = -1 if descending else 1
            extra = {k: v for k, v in request.args.items() if k in ("sort_order", "include")}
            body = z.paged(comments, lambda c: [sign * c["id"]], copy.deepcopy, "comments",
                           f"tickets/{ticket_id}/comments.json", extra)
            shown = [c for c in comments if c["id"] in {x["id"] for x in body["comments"]}]
            z.sideload(body, [], shown)
            return z.respond(body)

    # -- tags -------------------------------------------------------------------------------------
    @app.get("/api/v2/tickets/<int:ticket_id>/tags.json")
    def show_tags(ticket_id: int):
        z.agent()
        with state.lock:
            return z.respond({"tags": list(z.lookup_ticket(ticket_id)["tags"])})

    def tag_write(ticket_id: int, mode: str) -> list[str]:
        user = z.agent()
        tags = z.json_body().get("tags")
        if not isinstance(tags, (list, str)) or not tags:
            raise bad_request("ParameterMissing", "param is missing or the value is empty: tags")
        with state.lock:
            z.lookup_ticket(ticket_id)
            return state.change_tags(ticket_id, mode, tags, user["id"])

    @app.post("/api/v2/tickets/<int:ticket_id>/tags.json")
    def set_tags(ticket_id: int):
        return z.respond({"tags": tag_write(ticket_id, "set")}, 201)

    @app.put("/api/v2/tickets/<int:ticket_id>/tags.json")
    def add_tags(ticket_id: int):
        return z.respond({"tags": tag_write(ticket_id, "add")})

    @app.delete("/api/v2/tickets/<int:ticket_id>/tags.json")
    def remove_tags(ticket_id: int):
        tag_write(ticket_id, "remove")
        return Response(status=204)

    # -- audits -----------------------------------------------------------------------------------
    @app.get("/api/v2/tickets/<int:ticket_id>/audits.json")
    def list_audits(ticket_id: int):
        z.agent()
        with state.lock:
            z.lookup_ticket(ticket_id)
            audits = state.audits(ticket_id)
            return z.respond(z.paged(audits, lambda a: [a["id"]], lambda a: a, "audits",
                                     f"tickets/{ticket_id}/audits.json"))

    @app.get("/api/v2/tickets/<int:ticket_id>/audits/<int:audit_id>.json")
    def show_audit(ticket_id: int, audit_id: int):
        z.agent()
        with state.lock:
            z.lookup_ticket(ticket_id)
            audit = next((a for a in state.audits(ticket_id) if a["id"] == audit_id), None)
            if audit is None:
                raise not_found()
            return z.respond({"audit": audit})

    @app.get("/api/v2/ticket_audits.json")
    def all_audits():
        """Every ticket's audits, newest first, in Zendesk's older cursor style for this
        endpoint (``cursor``/``limit`` with ``after_url`` going back in time)."""
        z.agent()
        try:
            limit = min(max(int(request.args.get("limit", "1000")), 1), 1000)
        except ValueError:
            raise bad_request("InvalidPaginationParameter", "limit must be an integer") from None
        with state.lock:
            audits = sorted((a for t in state.tickets for a in state.audits(t)), key=lambda a: -a["id"])
            cursor = request.args.get("cursor")
            if cursor:
                position = decode_cursor(cursor)
                older = position.get("older")
                audits = ([a for a in audits if a["id"] < older] if older is not None
                          else [a for a in audits if a["id"] > position.get("newer", 0)][-limit:])
            page, more = audits[:limit], len(audits) > limit

            def url(position: dict) -> str:
                return f"{z.api('ticket_audits.json')}?{urlencode({'cursor': encode_cursor(position), 'limit': limit})}"

            after = encode_cursor({"older": page[-1]["id"]}) if page and more else None
            before = encode_cursor({"newer": page[0]["id"]}) if page else None
            return z.respond({
                "audits": page, "after_cursor": after, "before_cursor": before,
                "after_url": url({"older": page[-1]["id"]}) if after else None,
                "before_url": url({"newer": page[0]["id"]}) if before else None,
            })
