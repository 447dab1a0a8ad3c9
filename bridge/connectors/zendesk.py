"""Zendesk Support API v2 as a :class:`~bridge.connectors.base.Helpdesk`.

Reads a ticket with its requester and organization side-loaded (one request) and the
conversation with cursor pagination; writes a comment, status, tags and fields in one
``PUT /api/v2/tickets/{id}.json`` (Zendesk takes one comment per call), with
``safe_update`` when the caller passes the version it read, so a marker tag and the message
it marks land together or not at all.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

import requests

from bridge.connectors.base import Conflict, Helpdesk, TicketWrite
from bridge.connectors.http import build_session, send
from bridge.errors import InvalidValue, UnknownTicket
from bridge.models import Comment, Ticket

SERVICE = "Zendesk"


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class ZendeskHelpdesk(Helpdesk):
    """Zendesk over a requests session with a configurable base URL."""

    kind = "zendesk"
    service = SERVICE

    def __init__(self, base_url: str, *, email: str, token: str, gate,
                 session: requests.Session | None = None, timeout: float = 30.0, retries: int = 3) -> None:
        super().__init__(gate)
        self.base_url = base_url.rstrip("/")
        self._session = session or build_session(timeout=timeout, retries=retries)
        # Zendesk API tokens authenticate as "{email}/token" with the token as password.
        self._session.auth = (f"{email}/token", token)

    # -- reading ---------------------------------------------------------------------
    def validate_ticket_id(self, ticket_id: str) -> str:
        text = str(ticket_id).strip().lstrip("#")
        if not text.isdigit() or len(text) > 18:
            raise InvalidValue(f"{ticket_id!r} is not a Zendesk ticket id", hint="Zendesk ticket ids are whole numbers, e.g. 1234")
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
        body = response.json()
        raw = body["ticket"]
        users = {u["id"]: u for u in body.get("users", [])}
        orgs = {o["id"]: o for o in body.get("organizations", [])}
        comments, comment_users = self._comments(ticket_id)
        users.update(comment_users)
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
        )

    def _comments(self, ticket_id: str) -> tuple[list[dict], dict]:
        """The whole conversation, following Zendesk's cursor pagination."""
        url = f"{self.base_url}/api/v2/tickets/{ticket_id}/comments.json"
        params: dict | None = {"include": "users", "page[size]": 100}
        comments: list[dict] = []
        users: dict = {}
        while url:
            body = send(self._session, SERVICE, "GET", url, params=params,
                        what=f"reading the conversation of ticket {ticket_id}").json()
            comments.extend(body.get("comments", []))
            users.update({u["id"]: u for u in body.get("users", [])})
            meta = body.get("meta") or {}
            url = (body.get("links") or {}).get("next") if meta.get("has_more") else None
            params = None  # the next link carries its own query
        return comments, users

    def user_groups(self, user: str) -> list[str]:
        found = self._get("/api/v2/users/search.json", what=f"looking up agent {user}", query=f"email:{user}").json()
        users = found.get("users") or []
        if not users:
            return []
        memberships = self._get(f"/api/v2/users/{users[0]['id']}/group_memberships.json",
                                what=f"reading the groups of {user}").json().get("group_memberships", [])
        group_ids = {m["group_id"] for m in memberships}
        groups = self._get("/api/v2/groups.json", what="reading groups").json().get("groups", [])
        return sorted(g["name"] for g in groups if g["id"] in group_ids)

    def check(self) -> str:
        me = self._get("/api/v2/users/me.json", what="checking credentials").json().get("user") or {}
        if not me.get("id"):
            # Zendesk answers an anonymous user rather than 401 to some bad credentials.
            from bridge.errors import CredentialsRefused
            raise CredentialsRefused(SERVICE, "the credentials were not accepted (anonymous user)")
        return me.get("email") or str(me["id"])

    # -- writing ---------------------------------------------------------------------
    def _apply(self, ticket_id: str, change: TicketWrite) -> None:
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
        response = send(self._session, SERVICE, "PUT", f"{self.base_url}/api/v2/tickets/{quote(ticket_id)}.json",
                        json={"ticket": ticket}, allow=(409, 404), what=f"updating ticket {ticket_id}")
        if response.status_code == 409:
            raise Conflict(f"ticket {ticket_id} changed since it was read")
        if response.status_code == 404:
            raise UnknownTicket(ticket_id, SERVICE)


def _field_id(key: str) -> int | str:
    return int(key) if str(key).isdigit() else key
