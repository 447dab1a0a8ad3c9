"""Zendesk emulator routes for tickets, their comments and ``update_many`` jobs."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import TYPE_CHECKING

from flask import Flask, request

from bridge.sandbox.zendesk_format import UPDATE_MANY_LIMIT, bad_request, not_found

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
            tickets = sorted(state.tickets.values(), key=lambda t: t["id"])
            extra = {k: v for k, v in request.args.items() if k in ("sort", "include")}
            return z.respond(z.paged(tickets, lambda t: [t["id"]], z.ticket_json, "tickets", "tickets.json", extra))

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
            body = {"tickets": [z.ticket_json(t) for t in tickets]}
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
        if len(updates) > UPDATE_MANY_LIMIT:
            raise bad_request("TooManyValues", f"Too many tickets: update_many takes at most "
                                               f"{UPDATE_MANY_LIMIT} tickets per request")
        job = state.run_update_many(updates, user["id"])
        # The job already ran; the answer shows it the way Zendesk first reports a job.
        queued = dict(job, status="queued", progress=None, message=None, results=None,
                      url=z.api(f"job_statuses/{job['id']}.json"))
        return z.respond({"job_status": queued})

    @app.get("/api/v2/job_statuses/<job_id>.json")
    def show_job(job_id: str):
        z.agent()
        with state.lock:
            job = state.jobs.get(job_id)
            if job is None:
                raise not_found()
            return z.respond({"job_status": dict(copy.deepcopy(job), url=z.api(f"job_statuses/{job_id}.json"))})

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
