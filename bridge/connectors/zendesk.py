"""Zendesk Support API v2 as a :class:`~bridge.connectors.base.Helpdesk`.

Reads a ticket with its requester and organization side-loaded (one request) and the
conversation with cursor pagination; writes a comment, status, tags and fields in one
``PUT /api/v2/tickets/{id}.json`` (Zendesk takes one comment per call), with
``safe_update`` when the caller passes the version it read, so a marker tag and the message
it marks land together or not at all. A sync round's writes go as ``update_many`` jobs of a
hundred tickets, submitted several at a time, whose statuses are then read together
(``job_statuses/show_many``) until every job has finished.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from urllib.parse import quote

import requests

from bridge.connectors.base import Conflict, Helpdesk, TicketWrite
from bridge.connectors.http import answer_shape, api_json, build_session, send
from bridge.errors import BridgeError, InvalidValue, shown, ServiceRejected, ServiceUnreachable, UnknownTicket
from bridge.in_flight import in_flight, read_tickets
from bridge.policy.profiles import known_zone
from bridge.models import Comment, Ticket

SERVICE = "Zendesk"
#: Zendesk's limit for show_many and update_many.
MANY_LIMIT = 100
#: How long a bulk update job may take before the run gives up on it (the next run's
#: marker check finds out whether it landed).
JOB_TIMEOUT_S = 120.0
#: The first look at a round's jobs (statuses, or the tickets themselves), then doubling.
FIRST_LOOK_S = 0.05


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class ZendeskHelpdesk(Helpdesk):
    """Zendesk over a requests session with a configurable base URL."""

    kind = "zendesk"
    service = SERVICE
    bulk_size = MANY_LIMIT

    def __init__(self, base_url: str, *, email: str, token: str, gate,
                 session: requests.Session | None = None, timeout: float = 30.0, retries: int = 3,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(gate)
        self.base_url = base_url.rstrip("/")
        self._session = session or build_session(timeout=timeout, retries=retries)
        # Zendesk API tokens authenticate as "{email}/token" with the token as password.
        self._session.auth = (f"{email}/token", token)
        self._sleep = sleep
        #: Whether the last round's jobs had all finished by the first look: then the next
        #: round reads its tickets instead of polling first (see :meth:`_confirmed_by_reading`).
        self._jobs_keep_up = False
        self._me: int | None = None  # the bridge's own user id, once read (:meth:`_own_user_id`)
        self._me_lock = threading.Lock()

    # -- reading ---------------------------------------------------------------------
    def validate_ticket_id(self, ticket_id: str) -> str:
        text = str(ticket_id).strip().lstrip("#")
        # ASCII digits only: str.isdigit() also accepts "²" and other digits int() refuses.
        if not (text.isascii() and text.isdigit()) or len(text) > 18:
            raise InvalidValue(f"{shown(ticket_id)} is not a Zendesk ticket id",
                               hint="Zendesk ticket ids are whole numbers, e.g. 1234")
        return str(int(text))

    def ticket_url(self, ticket_id: str) -> str:
        return f"{self.base_url}/agent/tickets/{ticket_id}"

    def _get(self, path: str, *, what: str, allow=(), **params) -> requests.Response:
        return send(self._session, SERVICE, "GET", f"{self.base_url}{path}", what=what, allow=allow, params=params or None)

    def get_ticket(self, ticket_id: str) -> Ticket:
        ticket_id = self.validate_ticket_id(ticket_id)
        response = self._get(f"/api/v2/tickets/{ticket_id}.json", what=f"reading ticket {ticket_id}",
                             allow=(404,), include="users,organizations")
        if response.status_code == 404:
            raise UnknownTicket(ticket_id, SERVICE)
        body = api_json(SERVICE, response)
        with answer_shape(SERVICE, response):
            users = {u["id"]: u for u in body.get("users", [])}
            orgs = {o["id"]: o for o in body.get("organizations", [])}
            raw = body["ticket"]
        comments, comment_users = self._comments(ticket_id)
        users.update(comment_users)
        with answer_shape(SERVICE, response):
            return self._to_ticket(raw, users, orgs, comments)

    def read_many(self, ticket_ids: list[str], *, people: bool = True) -> dict[str, Ticket]:
        """Up to 100 tickets a request (``show_many``), without their conversations; with
        their requesters and organisations sideloaded unless ``people`` is False (a page's
        hundred customers can weigh as much as its hundred tickets).

        Without ``people`` — the read back after the bridge's own writes — each ticket's
        last audit is sideloaded instead, so the ticket says whether anyone changed it after
        the bridge (:attr:`Ticket.last_change_by_bridge`): its version then already holds,
        say, a customer's reply written in between, and is not the bridge's own."""
        found: dict[str, Ticket] = {}
        ids = [self.validate_ticket_id(t) for t in ticket_ids]
        sideloads = {"include": "users,organizations" if people else "last_audits"}
        for start in range(0, len(ids), MANY_LIMIT):
            chunk = ids[start:start + MANY_LIMIT]
            response = self._get("/api/v2/tickets/show_many.json", what=f"reading {len(chunk)} tickets",
                                 ids=",".join(chunk), **sideloads)
            body = api_json(SERVICE, response, object_hook=None if people else _audit_author_only)
            with answer_shape(SERVICE, response):
                users = {u["id"]: u for u in body.get("users", [])}
                orgs = {o["id"]: o for o in body.get("organizations", [])}
                last = {a["ticket_id"]: a for a in body.get("last_audits", [])}
                for raw in body.get("tickets", []):
                    ticket = self._to_ticket(raw, users, orgs, [])
                    if not people:
                        audit = last.get(raw["id"])
                        by_bridge = None if audit is None else audit.get("author_id") == self._own_user_id()
                        ticket = replace(ticket, last_change_by_bridge=by_bridge)
                    found[ticket.id] = ticket
        return found

    def _own_user_id(self) -> int:
        """The id of the user the bridge acts as (read once: ``users/me``; the bulk reads of
        one round run on several threads, and only the first of them asks)."""
        with self._me_lock:
            if self._me is None:
                response = self._get("/api/v2/users/me.json", what="reading the bridge's own user")
                with answer_shape(SERVICE, response):
                    self._me = int(api_json(SERVICE, response)["user"]["id"])
            return self._me

    def _to_ticket(self, raw: dict, users: dict, orgs: dict, comments: list[dict]) -> Ticket:
        ticket_id = str(raw["id"])
        requester = users.get(raw.get("requester_id")) or {}
        org = orgs.get(raw.get("organization_id")) or {}
        return Ticket(
            id=ticket_id,
            helpdesk=self.kind,
            subject=raw.get("subject") or raw.get("raw_subject") or "",
            description=raw.get("description") or "",
            status=raw.get("status") or "new",
            priority=raw.get("priority"),
            requester=requester.get("name"),
            requester_email=requester.get("email"),
            organization=org.get("name"),
            tags=tuple(raw.get("tags") or ()),
            custom_fields={str(f["id"]): f.get("value") for f in raw.get("custom_fields") or []},
            comments=tuple(
                Comment(
                    id=str(c["id"]),
                    body=c.get("plain_body") or c.get("body") or "",
                    public=bool(c.get("public")),
                    author=(users.get(c.get("author_id")) or {}).get("name") or str(c.get("author_id")),
                    author_email=(users.get(c.get("author_id")) or {}).get("email"),
                    created=_parse_time(c.get("created_at")),
                    by_customer=c.get("author_id") == raw.get("requester_id")
                    or (users.get(c.get("author_id")) or {}).get("role") == "end-user",
                )
                for c in comments
            ),
            url=self.ticket_url(ticket_id),
            locale=requester.get("locale"),
            created=_parse_time(raw.get("created_at")),
            updated=_parse_time(raw.get("updated_at")),
            version=raw.get("updated_at"),
            # Zendesk: a suspended user stays "active" (not deleted) but may not act.
            requester_active=(bool(requester.get("active")) and not requester.get("suspended"))
            if requester else None,
            requester_role=requester.get("role"),
            requester_tags=tuple(requester.get("tags") or ()),
            requester_fields=dict(requester.get("user_fields") or {}),
            organization_tags=tuple(org.get("tags") or ()),
            requester_time_zone=known_zone(requester.get("iana_time_zone")),
        )

    def _comments(self, ticket_id: str) -> tuple[list[dict], dict]:
        """The whole conversation, following Zendesk's cursor pagination."""
        url = f"{self.base_url}/api/v2/tickets/{ticket_id}/comments.json"
        params: dict | None = {"include": "users", "page[size]": 100}
        comments: list[dict] = []
        users: dict = {}
        while url:
            response = send(self._session, SERVICE, "GET", url, params=params,
                            what=f"reading the conversation of ticket {ticket_id}")
            body = api_json(SERVICE, response)
            with answer_shape(SERVICE, response):
                comments.extend(dict(c) for c in body.get("comments", []))
                users.update({u["id"]: u for u in body.get("users", [])})
                meta = body.get("meta") or {}
                url = (body.get("links") or {}).get("next") if meta.get("has_more") else None
            params = None  # the next link carries its own query
        return comments, users

    def changed_ticket_ids(self, cursor: str) -> tuple[list[str] | None, str | None]:
        """Zendesk's cursor-based incremental ticket export (it leaves out the last minute,
        which the next call returns)."""
        versions, after = self.changed_tickets(cursor)
        return list(versions), after

    def changed_tickets(self, cursor: str) -> tuple[dict[str, str | None], str | None]:
        """The export's tickets with the version each had when exported (``updated_at``; a
        later change lists the ticket again)."""
        url = f"{self.base_url}/api/v2/incremental/tickets/cursor.json"
        params = {"cursor": cursor.removeprefix("cursor:")} if cursor.startswith("cursor:") else {"start_time": cursor}
        versions: dict[str, str | None] = {}
        after = None
        while True:
            response = send(self._session, SERVICE, "GET", url, params=params, what="listing changed tickets")
            body = api_json(SERVICE, response)
            with answer_shape(SERVICE, response):
                for t in body.get("tickets", []):
                    versions.pop(str(t["id"]), None)  # the last listing of a ticket is its newest
                    versions[str(t["id"])] = t.get("updated_at")
            after = body.get("after_cursor") or after
            if body.get("end_of_stream") or not body.get("after_cursor"):
                break
            params = {"cursor": body["after_cursor"]}
        return versions, (f"cursor:{after}" if after else cursor)

    def user_groups(self, user: str) -> list[str]:
        response = self._get("/api/v2/users/search.json", what=f"looking up agent {user}", query=f"email:{user}")
        with answer_shape(SERVICE, response):
            users = api_json(SERVICE, response).get("users") or []
            if not users:
                return []
            user_id = users[0]["id"]
        response = self._get(f"/api/v2/users/{user_id}/group_memberships.json", what=f"reading the groups of {user}")
        with answer_shape(SERVICE, response):
            group_ids = {m["group_id"] for m in api_json(SERVICE, response).get("group_memberships", [])}
        response = self._get("/api/v2/groups.json", what="reading groups")
        with answer_shape(SERVICE, response):
            return sorted(g["name"] for g in api_json(SERVICE, response).get("groups", []) if g["id"] in group_ids)

    def check(self) -> str:
        response = self._get("/api/v2/users/me.json", what="checking credentials")
        with answer_shape(SERVICE, response):
            me = dict(api_json(SERVICE, response).get("user") or {})
        if not me.get("id"):
            # Zendesk answers an anonymous user rather than 401 to some bad credentials.
            from bridge.errors import CredentialsRefused
            raise CredentialsRefused(SERVICE, "the credentials were not accepted (anonymous user)")
        return me.get("email") or str(me["id"])

    # -- writing ---------------------------------------------------------------------
    def _apply_many(self, changes: list[tuple[str, TicketWrite]],
                    limit: int = 1) -> dict[str, Exception | Ticket | None]:
        """``update_many`` jobs of up to 100 tickets each (each ticket with its own change,
        applied by Zendesk as a safe update), ``limit`` submitted together; then the status
        of every job of the round in one request (``job_statuses/show_many``) until all have
        finished, for the result of each ticket — or, while Zendesk keeps up, the tickets
        read back instead (:meth:`_confirmed_by_reading`)."""
        chunks = [changes[start:start + MANY_LIMIT] for start in range(0, len(changes), MANY_LIMIT)]
        results: dict[str, Exception | Ticket | None] = {}
        waiting: dict[str, list[tuple[str, TicketWrite]]] = {}
        for chunk, job in zip(chunks, in_flight(self._submit_job, chunks, limit)):
            if isinstance(job, BridgeError):
                # Not accepted (or maybe accepted: the caller's marker check on the next
                # run decides); every ticket of the chunk reports it.
                results.update({ticket_id: job for ticket_id, _ in chunk})
            elif isinstance(job, BaseException):
                raise job  # not a service's answer: a defect
            else:
                waiting[job["id"]] = chunk
        if waiting and self._jobs_keep_up:
            results.update(self._confirmed_by_reading(waiting, limit))
        for job_id, outcome in self._wait_for_jobs(list(waiting)).items():
            chunk = waiting[job_id]
            if isinstance(outcome, BridgeError):
                results.update({ticket_id: outcome for ticket_id, _ in chunk})
                continue
            by_id = {str(r.get("id")): r for r in outcome.get("results") or []}
            for ticket_id, _ in chunk:
                results[ticket_id] = _ticket_result(job_id, ticket_id, by_id.get(ticket_id))
        return results

    def _submit_job(self, chunk: list[tuple[str, TicketWrite]]) -> dict:
        payload = [{"id": int(ticket_id), **_ticket_body(change)} for ticket_id, change in chunk]
        response = send(self._session, SERVICE, "PUT", f"{self.base_url}/api/v2/tickets/update_many.json",
                        json={"tickets": payload}, what=f"updating {len(chunk)} tickets")
        with answer_shape(SERVICE, response):
            job = dict(api_json(SERVICE, response)["job_status"])
            if not job.get("id"):
                raise KeyError("id")
        return job

    def _confirmed_by_reading(self, waiting: dict[str, list[tuple[str, TicketWrite]]],
                              limit: int) -> dict[str, Ticket]:
        """Read back the tickets of the jobs whose every change adds a tag (a marked write)
        and take each ticket that shows its change off ``waiting``: Zendesk applies a
        ticket's tags, comment and status in one update, so a ticket showing its change's
        tags went through, and the read gives its version after the write, which the caller
        would read for anyway. Used while Zendesk finishes jobs by the first look (else
        polling first costs fewer requests); a job with tickets not shown yet is polled as
        usual, for those tickets only (a job half done keeps what the read gave)."""
        marked = {job_id: chunk for job_id, chunk in waiting.items() if all(c.add_tags for _, c in chunk)}
        if not marked:
            return {}
        self._sleep(FIRST_LOOK_S)
        try:
            after = read_tickets(self, [t for chunk in marked.values() for t, _ in chunk], limit, people=False)
        except BridgeError:
            return {}  # the statuses say it instead
        confirmed: dict[str, Ticket] = {}
        for job_id, chunk in marked.items():
            unseen = []
            for ticket_id, change in chunk:
                if _shows(after.get(ticket_id), change):
                    confirmed[ticket_id] = after[ticket_id]
                else:
                    unseen.append((ticket_id, change))
            if unseen:
                waiting[job_id] = unseen
                self._jobs_keep_up = False
            else:
                del waiting[job_id]
        return confirmed

    def _wait_for_jobs(self, job_ids: list[str]) -> dict[str, dict | BridgeError]:
        """Poll the jobs until each has finished (Zendesk runs bulk updates asynchronously),
        a hundred job statuses a request; per job its final status or the error that ends
        the wait for it (a job still running at the deadline may yet be applied)."""
        finished: dict[str, dict | BridgeError] = {}
        pending = list(job_ids)
        deadline = time.monotonic() + JOB_TIMEOUT_S
        pause = FIRST_LOOK_S
        first = True
        while pending:
            if time.monotonic() > deadline:
                for job_id in pending:
                    finished[job_id] = ServiceUnreachable(
                        SERVICE, f"bulk update job {job_id} did not finish in {JOB_TIMEOUT_S:.0f} s", maybe_applied=True)
                break
            self._sleep(pause)
            pause = min(pause * 2, 2.0)
            statuses: dict[str, dict] = {}
            for start in range(0, len(pending), MANY_LIMIT):
                ids = pending[start:start + MANY_LIMIT]
                try:
                    response = self._get("/api/v2/job_statuses/show_many.json",
                                         what=f"reading {len(ids)} bulk update job(s)", ids=",".join(ids))
                except BridgeError as exc:
                    finished.update({job_id: exc for job_id in ids})
                    continue
                with answer_shape(SERVICE, response):
                    statuses.update((str(j["id"]), dict(j)) for j in api_json(SERVICE, response)["job_statuses"])
            still = []
            for job_id in pending:
                if job_id in finished:
                    continue
                job = statuses.get(job_id)
                if job is None:
                    # Zendesk keeps a job's status for a day; a job it does not know now
                    # cannot be followed (the marker check on the next run decides).
                    finished[job_id] = ServiceRejected(SERVICE, 404, f"bulk update job {job_id} is unknown to Zendesk")
                elif job.get("status") == "completed":
                    finished[job_id] = job
                elif job.get("status") in ("failed", "killed"):
                    finished[job_id] = ServiceRejected(SERVICE, 500, f"bulk update job {job_id} {job['status']}: "
                                                                     f"{job.get('message')}")
                else:
                    still.append(job_id)
            if first:
                self._jobs_keep_up, first = not still, False
            pending = still
        return finished

    def _apply(self, ticket_id: str, change: TicketWrite) -> Ticket | None:
        ticket = _ticket_body(change)
        response = send(self._session, SERVICE, "PUT", f"{self.base_url}/api/v2/tickets/{quote(ticket_id)}.json",
                        json={"ticket": ticket}, allow=(409, 404), what=f"updating ticket {ticket_id}")
        if response.status_code == 409:
            raise Conflict(f"ticket {ticket_id} changed since it was read")
        if response.status_code == 404:
            raise UnknownTicket(ticket_id, SERVICE)
        # Zendesk answers the updated ticket: its updated_at is the version after this write.
        try:
            raw = response.json().get("ticket")
            return self._to_ticket(raw, {}, {}, []) if isinstance(raw, dict) and raw.get("updated_at") else None
        except (ValueError, KeyError, TypeError, AttributeError):
            return None  # the write landed; only its new version is unknown (a read finds it)


def _shows(ticket: Ticket | None, change: TicketWrite) -> bool:
    """Whether ``ticket`` as read shows ``change``'s tags (added, and removed ones gone)."""
    return ticket is not None and all(t in ticket.tags for t in change.add_tags) \
        and not any(t in ticket.tags for t in change.remove_tags)


def _ticket_result(job_id: str, ticket_id: str, outcome: dict | None) -> Exception | None:
    """One ticket's result in a completed ``update_many`` job: None when applied."""
    if outcome is None:
        return ServiceRejected(SERVICE, 200, f"job {job_id} reported nothing for ticket {ticket_id}")
    if outcome.get("success"):
        return None
    if outcome.get("error") == "UpdateConflict":
        return Conflict(f"ticket {ticket_id} changed since it was read")
    return ServiceRejected(SERVICE, 422, f"ticket {ticket_id}: {outcome.get('error')}: "
                                         f"{outcome.get('details') or ''}".strip())


def _ticket_body(change: TicketWrite) -> dict:
    """The ``ticket`` object of an update for one change.

    A marker tag and the message it marks travel in this one object, so they land together.
    """
    ticket: dict = {}
    if change.comment is not None:
        ticket["comment"] = {"body": change.comment, "public": change.public}
    if change.status:
        ticket["status"] = change.status
    if change.add_tags:
        ticket["additional_tags"] = list(change.add_tags)
    if change.remove_tags:
        ticket["remove_tags"] = list(change.remove_tags)
    if change.fields:
        ticket["custom_fields"] = [{"id": _field_id(k), "value": v} for k, v in change.fields.items()]
    if change.if_version:
        ticket["safe_update"] = True
        ticket["updated_stamp"] = change.if_version
    return ticket


def _field_id(key: str) -> int | str:
    return int(key) if str(key).isdigit() else key


def _audit_author_only(obj: dict) -> dict:
    """A parsed object, an audit cut down to its ticket and author: a read back wants only
    who changed each ticket last, and a page of last audits (events, the comment three
    times over, notifications) would be most of the answer's memory, in every page in
    flight at once."""
    if "events" in obj and "author_id" in obj and "ticket_id" in obj:
        return {"ticket_id": obj["ticket_id"], "author_id": obj["author_id"]}
    return obj
