"""Freshdesk API v2 as a :class:`~bridge.connectors.base.Helpdesk`.

Authentication is HTTP Basic with the API key as the user name and ``X`` as the password.

Reading: ``GET /api/v2/tickets/{id}?include=conversations,requester,company`` returns the
ticket with its first ten conversations; a longer thread is read whole from ``GET
/api/v2/tickets/{id}/conversations`` (``per_page=100``, following ``Link: rel="next"``).
The ticket's description is the first comment (the customer's). Statuses 2 Open,
3 Pending, 4 Resolved, 5 Closed normalise to open, pending, solved, closed (custom
statuses above 5 read as ``hold``); priorities 1–4 to low, normal, high, urgent. Custom
fields keep Freshdesk's names (``cf_category``).

The requester's time zone: ``include=requester`` embeds only the requester's email, id,
mobile, name and phone, so :meth:`FreshdeskHelpdesk.get_ticket_for_escalation` also reads the
contact (``GET /api/v2/contacts/{requester_id}``) and maps its ``time_zone``, a Rails zone
name ("Chennai"), to an IANA zone (:mod:`bridge.connectors.rails_zones`). Only an escalation
keeps the zone, so sync's reads (``get_ticket``) stay one request per ticket.

Writing: a public comment is a reply (``POST …/reply``, e-mailed to the requester), an
internal one a private note (``POST …/notes {"private": true}``). Status, priority-free
field changes and tags go through ``PUT /api/v2/tickets/{id}``; Freshdesk's ``tags``
*replaces* the list, so the connector reads the ticket, merges, and writes the whole list.

Markers: Freshdesk cannot add a note and change tags in one call. A write with a comment is
therefore three steps: (1) status and custom fields (``PUT``), so a failure here has sent
nothing; (2) the reply or note, its tag changes appended as an invisible marker run
(:mod:`bridge.connectors.markers`); (3) the merged tags (``PUT``). ``get_ticket`` returns the ticket's tags plus the
tags the marker runs in the conversation add (and later runs remove), so a run that died
after step 2 still sees its marker and does not send the message again; step 3 makes the
tags visible in Freshdesk's own views. A write without a comment changes the tags with one
``PUT``, unless it removes a tag a marker run carries: that removal travels in a private
note's marker run, or the next read would bring the tag back.

Concurrency: Freshdesk has no conditional update. ``Ticket.version`` is ``updated_at``;
with ``if_version`` the connector re-reads the ticket and raises :class:`Conflict` when it
moved. A change landing between that read and the write goes undetected (one round trip);
the marker re-read of the next run still prevents a repeated message.

Rate limits: 429 with ``Retry-After`` is retried by the shared session (``bridge.connectors.http``).
"""

from __future__ import annotations

import html
import re
from dataclasses import replace
from datetime import datetime
from typing import Any

import requests

from bridge.connectors import markers
from bridge.connectors.base import Conflict, Helpdesk, TicketWrite
from bridge.connectors.http import answer_shape, api_json, build_session, excerpt, response_secrets, scrub, send
from bridge.connectors.rails_zones import iana_zone
from bridge.errors import CredentialsRefused, InvalidValue, ServiceRejected, UnknownTicket, shown
from bridge.models import Comment, Ticket

SERVICE = "Freshdesk"

OPEN, PENDING, RESOLVED, CLOSED = 2, 3, 4, 5
STATUS_NAMES = {OPEN: "open", PENDING: "pending", RESOLVED: "solved", CLOSED: "closed"}
STATUS_CODES = {"new": OPEN, "open": OPEN, "pending": PENDING, "hold": PENDING, "solved": RESOLVED,
                "closed": CLOSED}
PRIORITY_NAMES = {1: "low", 2: "normal", 3: "high", 4: "urgent"}
#: ``include=conversations`` returns at most this many; a full page means "read the list".
INCLUDED_CONVERSATIONS = 10
PAGE_SIZE = 100
#: The private note that carries tag removals when a write has no comment.
TAGS_NOTE = "Tags changed by the bridge: {ops}"


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def html_to_text(markup: str) -> str:
    """Plain text of a Freshdesk HTML body (when ``body_text`` is missing)."""
    text = re.sub(r"(?i)<br\s*/?>", "\n", markup)
    text = re.sub(r"(?i)</(p|div)\s*>", "\n", text)
    return html.unescape(re.sub(r"<[^>]+>", "", text)).strip()


def text_to_html(text: str) -> str:
    """An HTML body for plain ``text``: escaped, line breaks kept."""
    return "<div>" + html.escape(text).replace("\n", "<br>") + "</div>"


def freshdesk_errors(response: requests.Response) -> str:
    """Freshdesk's validation errors as one line: ``field: message (code); …``, without our
    credentials; a body that is not JSON (a proxy's page) only as a scrubbed excerpt."""
    secrets = response_secrets(response)
    try:
        body = response.json()
    except ValueError:
        return excerpt(response.content, secrets) or scrub(response.reason, secrets)
    if isinstance(body, dict):
        parts = [f"{e.get('field')}: {e.get('message')} ({e.get('code')})"
                 for e in body.get("errors") or [] if isinstance(e, dict)]
        head = body.get("description") or body.get("message") or ""
        return scrub("; ".join([head] + parts if head else parts), secrets)[:500]
    return scrub(str(body), secrets)[:300]


class FreshdeskHelpdesk(Helpdesk):
    """Freshdesk over a requests session with a configurable base URL."""

    kind = "freshdesk"
    service = SERVICE

    def __init__(self, base_url: str, *, api_key: str, gate, session: requests.Session | None = None,
                 timeout: float = 30.0, retries: int = 3) -> None:
        super().__init__(gate)
        self.base_url = base_url.rstrip("/")
        self._session = session or build_session(timeout=timeout, retries=retries)
        self._session.auth = (api_key, "X")
        self._last: requests.Response | None = None  # the last ticket read, for error messages

    # -- reading ---------------------------------------------------------------------
    def validate_ticket_id(self, ticket_id: str) -> str:
        text = str(ticket_id).strip().lstrip("#")
        # ASCII digits only: str.isdigit() also accepts "²" and other digits int() refuses.
        if not (text.isascii() and text.isdigit()) or len(text) > 18 or int(text) == 0:
            raise InvalidValue(f"{shown(ticket_id)} is not a Freshdesk ticket id",
                               hint="Freshdesk ticket ids are whole numbers, e.g. 1234")
        return str(int(text))

    def ticket_url(self, ticket_id: str) -> str:
        return f"{self.base_url}/a/tickets/{ticket_id}"

    def _request(self, method: str, path: str, *, what: str, ticket_id: str | None = None,
                 **kwargs) -> requests.Response:
        response = send(self._session, SERVICE, method, f"{self.base_url}{path}", what=what,
                        allow=(400, 404), **kwargs)
        if response.status_code == 404:
            if ticket_id is not None:
                raise UnknownTicket(ticket_id, SERVICE)
            raise ServiceRejected(SERVICE, 404, f"{what}: not found")
        if response.status_code == 400:
            raise ServiceRejected(SERVICE, 400, f"{what}: {freshdesk_errors(response)}")
        return response

    def _raw_ticket(self, ticket_id: str) -> dict:
        response = self._request("GET", f"/api/v2/tickets/{ticket_id}", what=f"reading ticket {ticket_id}",
                                 ticket_id=ticket_id, params={"include": "conversations,requester,company"})
        self._last = response
        return api_json(SERVICE, response, require=("id",))

    def _conversations(self, ticket_id: str, raw: dict) -> list[dict]:
        included = raw.get("conversations") or []
        if len(included) < INCLUDED_CONVERSATIONS:
            return included
        url: str | None = f"{self.base_url}/api/v2/tickets/{ticket_id}/conversations"
        params: dict | None = {"per_page": PAGE_SIZE, "page": 1}
        found: list[dict] = []
        while url:
            response = send(self._session, SERVICE, "GET", url, params=params,
                            what=f"reading the conversation of ticket {ticket_id}")
            found.extend(api_json(SERVICE, response, expect=list))
            url = (response.links.get("next") or {}).get("url")
            params = None  # the next link carries its own query
        return found

    def get_ticket(self, ticket_id: str) -> Ticket:
        return self._read(ticket_id)[1]

    def get_ticket_for_escalation(self, ticket_id: str) -> Ticket:
        """:meth:`get_ticket` with the requester's time zone, from one read of the contact:
        the ticket's ``include=requester`` does not carry it."""
        raw, ticket = self._read(ticket_id)
        return replace(ticket, requester_time_zone=self._requester_zone(ticket.id, raw.get("requester_id")))

    def _read(self, ticket_id: str) -> tuple[dict, Ticket]:
        ticket_id = self.validate_ticket_id(ticket_id)
        raw = self._raw_ticket(ticket_id)
        response = self._last
        with answer_shape(SERVICE, response):
            conversations = self._conversations(ticket_id, raw)
            return raw, self._to_ticket(ticket_id, raw, conversations)

    def _requester_zone(self, ticket_id: str, requester_id: object) -> str | None:
        """The IANA zone of the requester contact's ``time_zone``; None when Freshdesk names
        none the bridge knows, or the contact cannot be read (deleted: 404; an agent role
        without access to contacts: 403): the zone then is the profile's fallback, and the
        escalation is not refused for it."""
        text = str(requester_id)
        if not (text.isascii() and text.isdigit()):  # never let an odd id shape a URL path
            return None
        response = send(self._session, SERVICE, "GET", f"{self.base_url}/api/v2/contacts/{text}",
                        what=f"reading the requester of ticket {ticket_id}", allow=(403, 404))
        if response.status_code in (403, 404):
            return None
        return iana_zone(api_json(SERVICE, response).get("time_zone"))

    def _to_ticket(self, ticket_id: str, raw: dict, conversations: list[dict]) -> Ticket:
        requester = raw.get("requester") or {}
        requester_id = raw.get("requester_id")
        description = raw.get("description_text") or html_to_text(raw.get("description") or "")
        comments = [Comment(id=f"{ticket_id}-description", body=description, public=True,
                            author=requester.get("name") or str(requester_id), author_email=requester.get("email"),
                            created=_parse_time(raw.get("created_at")), by_customer=True)]
        marked: tuple[str, ...] = ()
        for c in _in_order(conversations):
            text, ops = markers.split(c.get("body_text") or html_to_text(c.get("body") or ""))
            by_customer = _by_customer(c, raw)
            if not by_customer:
                # A customer's reply quotes the bridge's e-mails, marker runs and all (or
                # pastes one): only an agent's entry can carry the bridge's own tag changes.
                marked = markers.apply_tag_ops(marked, ops)
            comments.append(Comment(
                id=str(c["id"]), body=text.strip(), public=not c.get("private"),
                author=(requester.get("name") if by_customer else None) or f"user {c.get('user_id')}",
                author_email=requester.get("email") if by_customer else None,
                created=_parse_time(c.get("created_at")), by_customer=by_customer,
            ))
        status_code = int(raw.get("status") or OPEN)
        return Ticket(
            id=ticket_id,
            helpdesk=self.kind,
            subject=raw.get("subject") or "",
            description=description,
            status=STATUS_NAMES.get(status_code, "hold"),
            priority=PRIORITY_NAMES.get(raw.get("priority")),
            requester=requester.get("name"),
            requester_email=requester.get("email"),
            organization=(raw.get("company") or {}).get("name"),
            tags=tuple(dict.fromkeys([*(raw.get("tags") or ()), *marked])),
            custom_fields=dict(raw.get("custom_fields") or {}),
            comments=tuple(comments),
            url=self.ticket_url(ticket_id),
            created=_parse_time(raw.get("created_at")),
            updated=_parse_time(raw.get("updated_at")),
            version=raw.get("updated_at"),
        )

    def user_groups(self, user: str) -> list[str]:
        response = self._request("GET", "/api/v2/agents", what=f"looking up agent {user}", params={"email": user})
        with answer_shape(SERVICE, response):
            agents = api_json(SERVICE, response, expect=list)
            if not agents:
                return []
            agent_id = agents[0]["id"]
        response = self._request("GET", "/api/v2/groups", what="reading groups", params={"per_page": PAGE_SIZE})
        with answer_shape(SERVICE, response):
            groups = api_json(SERVICE, response, expect=list)
            return sorted(g["name"] for g in groups if agent_id in (g.get("agent_ids") or []))

    def check(self) -> str:
        response = self._request("GET", "/api/v2/agents/me", what="checking credentials")
        me = api_json(SERVICE, response)
        with answer_shape(SERVICE, response):
            contact = dict(me.get("contact") or {})
        if not me.get("id"):
            raise CredentialsRefused(SERVICE, "the credentials were not accepted")
        return contact.get("email") or str(me["id"])

    # -- writing ---------------------------------------------------------------------
    def _apply(self, ticket_id: str, change: TicketWrite) -> None:
        ticket_id = self.validate_ticket_id(ticket_id)
        raw = self._raw_ticket(ticket_id)
        if change.if_version is not None and raw.get("updated_at") != change.if_version:
            raise Conflict(f"ticket {ticket_id} changed since it was read")
        update: dict[str, Any] = {}
        if change.status is not None:
            if change.status not in STATUS_CODES:
                raise InvalidValue(f"{change.status!r} is not a ticket status")
            if STATUS_CODES[change.status] != raw.get("status"):
                update["status"] = STATUS_CODES[change.status]
        if change.fields:
            update["custom_fields"] = dict(change.fields)
        current_tags = list(raw.get("tags") or [])
        ops = markers.tag_ops(change.add_tags, change.remove_tags)
        merged = list(markers.apply_tag_ops(current_tags, ops))
        path = f"/api/v2/tickets/{ticket_id}"
        comment, public = change.comment, change.public
        if comment is None and set(change.remove_tags) & set(self._marked_tags(ticket_id, raw)):
            # A tag a marker run carries would come back on the next read: the removal has
            # to travel in a marker run too.
            comment, public = TAGS_NOTE.format(ops=" ".join(ops)), False
        if comment is None:
            if merged != current_tags:
                update["tags"] = merged
            if update:
                self._request("PUT", path, json=update, what=f"updating ticket {ticket_id}", ticket_id=ticket_id)
            return
        if update:
            self._request("PUT", path, json=update, what=f"updating ticket {ticket_id}", ticket_id=ticket_id)
        body = text_to_html(comment + markers.encode(ops))
        if public:
            self._request("POST", f"{path}/reply", json={"body": body},
                          what=f"replying on ticket {ticket_id}", ticket_id=ticket_id)
        else:
            self._request("POST", f"{path}/notes", json={"body": body, "private": True},
                          what=f"adding a note to ticket {ticket_id}", ticket_id=ticket_id)
        if merged != current_tags:
            self._request("PUT", path, json={"tags": merged}, what=f"tagging ticket {ticket_id}",
                          ticket_id=ticket_id)

    def _marked_tags(self, ticket_id: str, raw: dict) -> tuple[str, ...]:
        marked: tuple[str, ...] = ()
        for c in _in_order(self._conversations(ticket_id, raw)):
            if not _by_customer(c, raw):  # (see _to_ticket)
                marked = markers.apply_tag_ops(marked, markers.split(c.get("body_text") or c.get("body") or "")[1])
        return marked


def _by_customer(conversation: dict, raw: dict) -> bool:
    """Whether a conversation entry came from the customer (by e-mail, or as the requester)."""
    return bool(conversation.get("incoming")) or conversation.get("user_id") == raw.get("requester_id")


def _in_order(conversations: list[dict]) -> list[dict]:
    return sorted(conversations, key=lambda c: (c.get("created_at") or "", c["id"]))
