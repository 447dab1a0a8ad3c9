"""An emulation of the Zendesk Support (Ticketing) API v2 on loopback.

It answers the requests the bridge's Zendesk connector sends, the way Zendesk does
(https://developer.zendesk.com/api-reference/ticketing/): same paths, JSON shapes, error
bodies, pagination (cursor ``page[size]``/``page[after]`` with ``meta``/``links``, and the
older ``page``/``per_page`` with ``next_page``), authentication (``email/token:API_TOKEN``
basic auth, OAuth bearer tokens; end-users are refused agent endpoints), and the behaviour
that matters for a sync tool:

* ``PUT /api/v2/tickets/{id}.json`` takes one comment (``public: false`` is an internal
  note), status, priority, ``tags`` (replaces), ``additional_tags`` / ``remove_tags``,
  ``custom_fields`` in one call; ``safe_update`` + ``updated_stamp`` answers 409 when the
  ticket changed since it was read; a closed ticket answers 422; ``updated_at`` moves on
  every write.
* ``PUT /api/v2/tickets/update_many.json`` runs as a job (``/api/v2/job_statuses/{id}``),
  always as a safe update. The job is applied before the answer leaves, so it is
  ``completed`` by the time anyone asks.
* ``POST /api/v2/tickets.json`` honours ``Idempotency-Key`` (kept 2 h; ``x-idempotency-
  lookup: hit|miss``; the same key with another body answers 400).
* The incremental export (``/api/v2/incremental/tickets/cursor.json``) leaves out tickets
  changed in the last minute, as Zendesk does (``ZendeskState.export_skips_last_minute``).
* Search (``/api/v2/search.json``) understands the query subset in :mod:`zendesk_search`.

State lives in :class:`ZendeskState` (in memory, one RLock); :meth:`ZendeskState.seed_demo`
builds the demo help desk the demo and the tests use. :func:`create_app` wraps it in a
Flask app with the shared knobs (:mod:`bridge.sandbox.server`) installed.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import html
import itertools
import json
import math
import re
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable
from urllib.parse import urlencode

from flask import Flask, Response, request

from bridge.sandbox import zendesk_search
from bridge.sandbox.server import Knobs, ServiceThread, Vendor, install

#: Credentials of the demo integration user (an admin). ``token`` is the account's API
#: token (basic auth ``bridge@example.com/token:<token>``); ``oauth_token`` a bearer token.
DEMO_CREDENTIALS = {
    "email": "bridge@example.com",
    "token": "sandbox-zendesk-api-token-7f3a",
    "oauth_token": "sandbox-zendesk-oauth-2b91",
}
#: An OAuth token that authenticates as a demo *end-user* (a customer), who may not use
#: agent endpoints: tests use it to see Zendesk's 403.
DEMO_END_USER_OAUTH_TOKEN = "sandbox-zendesk-enduser-oauth-5c0d"

STATUSES = zendesk_search.STATUS_ORDER
PRIORITIES = zendesk_search.PRIORITY_ORDER
TICKET_TYPES = ("problem", "incident", "question", "task")
#: Most tickets ``update_many`` takes in one call.
UPDATE_MANY_LIMIT = 100
#: How long Zendesk remembers an ``Idempotency-Key``.
IDEMPOTENCY_TTL = timedelta(hours=2)
#: The incremental export never returns tickets changed more recently than this.
EXPORT_QUIET_PERIOD = timedelta(minutes=1)
#: Ticket field ids of the demo account (custom fields).
FIELD_CATEGORY, FIELD_DEVICE, FIELD_OS, FIELD_JIRA_KEY = 360001, 360002, 360003, 360004

FORBIDDEN_BODY = {
    "error": "Forbidden",
    "description": "You do not have access to this page. Please contact the account owner "
                   "of this help desk for further help.",
}
NOT_FOUND_BODY = {"error": "RecordNotFound", "description": "Not found"}
CONFLICT_BODY = {
    "error": "UpdateConflict",
    "description": "Safe Update prevented the update due to outdated ticket data. "
                   "Please fetch the latest ticket data and try again.",
}
RATE_LIMITED_TEXT = "Number of allowed API requests per minute exceeded"


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def format_time(moment: datetime) -> str:
    """Zendesk's timestamp format: UTC, seconds, ``Z`` (``2026-11-23T10:00:00Z``)."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str) -> datetime:
    """Read a Zendesk timestamp (or any ISO 8601 one with a zone)."""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment


class ZendeskError(Exception):
    """An answer in Zendesk's error shape, raised anywhere inside a request."""

    def __init__(self, status: int, body: dict | str, headers: dict | None = None) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body
        self.headers = headers or {}

    def response(self) -> Response:
        if isinstance(self.body, str):
            response = Response(self.body, status=self.status, mimetype="text/plain")
        else:
            response = Response(json.dumps(self.body), status=self.status, mimetype="application/json")
        response.headers.update(self.headers)
        return response


def invalid(field: str, description: str, error: str = "InvalidValue") -> ZendeskError:
    """A 422 RecordInvalid naming one field, as Zendesk reports validation errors."""
    return ZendeskError(422, {
        "error": "RecordInvalid",
        "description": "Record validation errors",
        "details": {field: [{"description": description, "error": error}]},
    })


def bad_request(error: str, description: str) -> ZendeskError:
    return ZendeskError(400, {"error": error, "description": description})


def not_found() -> ZendeskError:
    return ZendeskError(404, dict(NOT_FOUND_BODY))


# -- cursors ---------------------------------------------------------------------------
def encode_cursor(payload: dict) -> str:
    """An opaque cursor (Zendesk's are opaque base64 strings too)."""
    raw = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict:
    """Read a cursor made by :func:`encode_cursor`; anything else is a 400."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise bad_request("InvalidPaginationParameter", "cursor is invalid") from None
    if not isinstance(payload, dict):
        raise bad_request("InvalidPaginationParameter", "cursor is invalid")
    return payload


# -- text helpers ------------------------------------------------------------------------
def body_to_html(body: str) -> str:
    """The ``html_body`` Zendesk renders from a plain-text comment body."""
    paragraphs = [p for p in re.split(r"\n\s*\n", body.strip()) if p.strip()] or [""]
    inner = "".join(
        f'<p dir="auto">{html.escape(p).replace(chr(10), "<br>")}</p>' for p in paragraphs
    )
    return f'<div class="zd-comment" dir="auto">{inner}</div>'


def html_to_text(markup: str) -> str:
    """Plain text of an ``html_body`` (for ``body`` / ``plain_body``)."""
    text = re.sub(r"(?i)<br\s*/?>", "\n", markup)
    text = re.sub(r"(?i)</p\s*>", "\n\n", text)
    text = re.sub(r"<[^>]+>", "", text)
    return html.unescape(text).strip()


def normalise_tags(values: Iterable[Any]) -> list[str]:
    """Zendesk tags: lower-case, one word each (spaces split), no duplicates, order kept."""
    seen: list[str] = []
    for value in values:
        for tag in str(value).lower().split():
            if tag not in seen:
                seen.append(tag)
    return seen


class ZendeskState:
    """The help desk's data, in memory. Every method takes ``lock``; safe across threads.

    ``base_url`` is the emulator's own address (used in ``url`` fields); ``clock`` gives
    "now" (tests pass a fixed clock). Python accessors (``ticket``, ``comments``, ``user``,
    ...) return copies for tests to inspect.
    """

    def __init__(self, *, base_url: str = "", clock: Callable[[], datetime] | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.clock: Callable[[], datetime] = clock or _utcnow
        self.lock = threading.RLock()
        #: Zendesk's incremental export leaves out the most recent minute; tests switch it off.
        self.export_skips_last_minute = True
        self.reset()

    # -- set-up ----------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget everything (users, tickets, tokens, jobs, idempotency keys)."""
        with self.lock:
            self.users: dict[int, dict] = {}
            self.organizations: dict[int, dict] = {}
            self.groups: dict[int, dict] = {}
            self.group_memberships: dict[int, dict] = {}
            self.ticket_fields: dict[int, dict] = {}
            self.tickets: dict[int, dict] = {}
            self._comments: dict[int, list[dict]] = {}
            self.jobs: dict[str, dict] = {}
            self._idempotency: dict[str, dict] = {}
            #: Account API tokens (any active user may authenticate with one).
            self.api_tokens: set[str] = set()
            #: OAuth access token -> user id.
            self.oauth_tokens: dict[str, int] = {}
            self._ticket_ids = itertools.count(101)
            self._user_ids = itertools.count(1001)
            self._comment_ids = itertools.count(5001)
            self._audit_ids = itertools.count(9001)
            self._org_ids = itertools.count(201)
            self._group_ids = itertools.count(301)
            self._membership_ids = itertools.count(401)
            #: A global write counter; the export cursor follows it so no write is missed
            #: even when several land in the same second.
            self._write_seq = 0

    def now(self) -> datetime:
        return self.clock().astimezone(timezone.utc).replace(microsecond=0)

    def add_organization(self, name: str, *, tags: Iterable[str] = (), fields: dict | None = None,
                         domains: Iterable[str] = ()) -> dict:
        with self.lock:
            org_id = next(self._org_ids)
            now = format_time(self.now())
            self.organizations[org_id] = {
                "id": org_id, "name": name, "tags": normalise_tags(tags),
                "organization_fields": dict(fields or {}), "domain_names": list(domains),
                "details": "", "notes": "", "group_id": None, "shared_tickets": False,
                "shared_comments": False, "external_id": None,
                "created_at": now, "updated_at": now,
            }
            return copy.deepcopy(self.organizations[org_id])

    def add_group(self, name: str, *, description: str = "") -> dict:
        with self.lock:
            group_id = next(self._group_ids)
            now = format_time(self.now())
            self.groups[group_id] = {
                "id": group_id, "name": name, "description": description, "default": not self.groups,
                "deleted": False, "is_public": True, "created_at": now, "updated_at": now,
            }
            return copy.deepcopy(self.groups[group_id])

    def add_user(self, name: str, email: str, *, role: str = "end-user", locale: str = "en-US",
                 organization_id: int | None = None, groups: Iterable[int] = (),
                 time_zone: str = "UTC", phone: str | None = None) -> dict:
        if role not in ("end-user", "agent", "admin"):
            raise ValueError(f"unknown role {role!r}")
        with self.lock:
            user_id = next(self._user_ids)
            now = format_time(self.now())
            group_ids = list(groups)
            self.users[user_id] = {
                "id": user_id, "name": name, "email": email, "role": role, "locale": locale,
                "locale_id": {"en-US": 1, "de": 8}.get(locale, 1), "time_zone": time_zone,
                "organization_id": organization_id,
                "default_group_id": group_ids[0] if group_ids else None,
                "active": True, "verified": True, "suspended": False, "shared": False,
                "phone": phone, "tags": [], "user_fields": {}, "external_id": None,
                "role_type": None, "moderator": role != "end-user",
                "ticket_restriction": "requested" if role == "end-user" else None,
                "only_private_comments": False, "restricted_agent": False,
                "signature": None, "details": "", "notes": "", "photo": None,
                "created_at": now, "updated_at": now,
            }
            for index, group_id in enumerate(group_ids):
                membership_id = next(self._membership_ids)
                self.group_memberships[membership_id] = {
                    "id": membership_id, "user_id": user_id, "group_id": group_id,
                    "default": index == 0, "created_at": now, "updated_at": now,
                }
            return copy.deepcopy(self.users[user_id])

    def add_ticket_field(self, field_id: int, title: str, field_type: str = "text", *,
                         options: Iterable[tuple[str, str]] = (), removable: bool = True) -> dict:
        with self.lock:
            now = format_time(self.now())
            self.ticket_fields[field_id] = {
                "id": field_id, "type": field_type, "title": title, "raw_title": title,
                "description": "", "raw_description": "", "position": len(self.ticket_fields),
                "active": True, "required": False, "collapsed_for_agents": False,
                "regexp_for_validation": None, "title_in_portal": title, "raw_title_in_portal": title,
                "visible_in_portal": False, "editable_in_portal": False, "required_in_portal": False,
                "tag": None, "removable": removable, "key": None, "agent_description": None,
                "created_at": now, "updated_at": now,
                "custom_field_options": [
                    {"id": field_id * 100 + n, "name": name, "raw_name": name, "value": value,
                     "default": False}
                    for n, (name, value) in enumerate(options, start=1)
                ],
            }
            return copy.deepcopy(self.ticket_fields[field_id])

    def _custom_field_ids(self) -> list[int]:
        return sorted(f["id"] for f in self.ticket_fields.values() if f["removable"])

    # -- tickets and comments ----------------------------------------------------------------
    def _bump(self, ticket: dict, at: datetime | None = None) -> None:
        """Record a write: ``updated_at`` strictly later than before, next export position."""
        moment = at or self.now()
        previous = parse_time(ticket["updated_at"]) if ticket.get("updated_at") else None
        if previous is not None and moment <= previous:
            moment = previous + timedelta(seconds=1)
        ticket["updated_at"] = format_time(moment)
        ticket["generated_timestamp"] = int(moment.timestamp())
        self._write_seq += 1
        ticket["_seq"] = self._write_seq

    def _make_comment(self, ticket_id: int, spec: dict, author_id: int, at: datetime,
                      channel: str = "api") -> dict:
        if "html_body" in spec and spec["html_body"]:
            html_body = str(spec["html_body"])
            body = html_to_text(html_body)
        else:
            body = str(spec.get("body") or "")
            html_body = body_to_html(body)
        public = spec.get("public", True)
        return {
            "id": next(self._comment_ids), "type": "Comment", "author_id": author_id,
            "body": body, "html_body": html_body, "plain_body": body,
            "public": bool(public), "attachments": [], "audit_id": next(self._audit_ids),
            "via": {"channel": channel, "source": {"from": {}, "to": {}, "rel": None}},
            "metadata": {"system": {"client": "sandbox"}, "custom": {}},
            "created_at": format_time(at),
        }

    def create_ticket(self, spec: dict, submitter_id: int, *, at: datetime | None = None,
                      channel: str = "api") -> tuple[dict, dict]:
        """Create a ticket from a ``{"ticket": ...}`` body's inner object.

        Returns (ticket record, audit). Raises :class:`ZendeskError` (422) on invalid input.
        """
        with self.lock:
            comment = spec.get("comment")
            if not isinstance(comment, dict) or not (comment.get("body") or comment.get("html_body")):
                raise invalid("description", "Description: cannot be blank", "BlankValue")
            requester_id = self._resolve_requester(spec, submitter_id)
            requester = self.users[requester_id]
            fields = self._validated_changes(spec, creating=True)
            moment = at or self.now()
            ticket_id = next(self._ticket_ids)
            subject = str(spec.get("subject") or "")
            first = self._make_comment(ticket_id, comment, int(comment.get("author_id") or requester_id),
                                       moment, channel)
            ticket: dict[str, Any] = {
                "id": ticket_id, "external_id": None,
                "via": {"channel": channel, "source": {"from": {}, "to": {}, "rel": None}},
                "created_at": format_time(moment), "updated_at": None,
                "type": None, "subject": subject, "raw_subject": subject,
                "description": first["body"], "priority": None, "status": "new",
                "recipient": None, "requester_id": requester_id, "submitter_id": submitter_id,
                "assignee_id": None, "organization_id": requester.get("organization_id"),
                "group_id": None, "collaborator_ids": [], "follower_ids": [], "email_cc_ids": [],
                "forum_topic_id": None, "problem_id": None, "has_incidents": False,
                "is_public": first["public"], "due_at": None, "tags": [],
                "custom_fields": [{"id": fid, "value": None} for fid in self._custom_field_ids()],
                "satisfaction_rating": None, "sharing_agreement_ids": [], "followup_ids": [],
                "ticket_form_id": None, "brand_id": None, "allow_channelback": False,
                "allow_attachments": True, "from_messaging_channel": False,
            }
            events = self._apply_fields(ticket, fields)
            if fields.get("status") is None and ticket["assignee_id"] is not None:
                ticket["status"] = "open"  # Zendesk opens a ticket that is created assigned
            self._bump(ticket, moment)
            self.tickets[ticket_id] = ticket
            self._comments[ticket_id] = [first]
            events.insert(0, {"type": "Comment", "id": first["id"], "public": first["public"],
                              "body": first["body"], "author_id": first["author_id"]})
            return ticket, self._audit(ticket, submitter_id, events, moment, first["audit_id"])

    def _resolve_requester(self, spec: dict, submitter_id: int) -> int:
        if spec.get("requester_id") is not None:
            requester_id = spec["requester_id"]
            if not isinstance(requester_id, int) or requester_id not in self.users:
                raise invalid("requester", "Requester: is invalid")
            return requester_id
        requester = spec.get("requester")
        if isinstance(requester, dict) and requester.get("email"):
            for user in self.users.values():
                if user["email"].lower() == str(requester["email"]).lower():
                    return user["id"]
            return self.add_user(str(requester.get("name") or requester["email"]),
                                 str(requester["email"]), locale=str(requester.get("locale") or "en-US"))["id"]
        return submitter_id

    def _validated_changes(self, spec: dict, *, creating: bool = False,
                           ticket: dict | None = None) -> dict:
        """Check every field of an update (or create) before anything is applied."""
        changes: dict[str, Any] = {}
        if "status" in spec:
            status = spec["status"]
            if status not in STATUSES:
                raise invalid("status", f"Status: {status} is not a valid value")
            if ticket is not None and status == "new" and ticket["status"] != "new":
                raise invalid("status", "Status: new is not valid for tickets that are not new")
            changes["status"] = status
        if "priority" in spec:
            if spec["priority"] is not None and spec["priority"] not in PRIORITIES:
                raise invalid("priority", f"Priority: {spec['priority']} is not a valid value")
            changes["priority"] = spec["priority"]
        if "type" in spec:
            if spec["type"] is not None and spec["type"] not in TICKET_TYPES:
                raise invalid("type", f"Type: {spec['type']} is not a valid value")
            changes["type"] = spec["type"]
        for key in ("subject", "external_id"):
            if key in spec:
                if spec[key] is not None and not isinstance(spec[key], (str, int)):
                    raise invalid(key, f"{key.capitalize()}: is invalid")
                changes[key] = None if spec[key] is None else str(spec[key])
        for key, table in (("assignee_id", self.users), ("group_id", self.groups),
                           ("organization_id", self.organizations)):
            if key in spec and spec[key] is not None:
                if spec[key] not in table:
                    raise invalid(key.removesuffix("_id"), f"{key.removesuffix('_id').capitalize()}: is invalid")
                if key == "assignee_id" and self.users[spec[key]]["role"] == "end-user":
                    raise invalid("assignee", "Assignee: is not an agent")
            if key in spec:
                changes[key] = spec[key]
        for key in ("tags", "additional_tags", "remove_tags"):
            if key in spec:
                value = spec[key]
                if isinstance(value, str):
                    value = [value]
                if not isinstance(value, list):
                    raise invalid(key, f"{key}: must be a list of tags")
                changes[key] = normalise_tags(value)
        if "custom_fields" in spec or "fields" in spec:
            entries = spec.get("custom_fields", spec.get("fields"))
            if not isinstance(entries, list) or not all(isinstance(e, dict) and "id" in e for e in entries):
                raise invalid("custom_fields", "Custom fields: must be a list of {id, value}")
            for entry in entries:
                field = self.ticket_fields.get(entry["id"])
                if field is None or not field["removable"]:
                    continue  # Zendesk ignores values for fields it does not know
                value = entry.get("value")
                allowed = [o["value"] for o in field["custom_field_options"]]
                if field["type"] == "tagger" and value not in (None, "") and value not in allowed:
                    raise invalid("base", f"{field['title']}: {value} is not a valid value")
            changes["custom_fields"] = entries
        return changes

    def _apply_fields(self, ticket: dict, changes: dict) -> list[dict]:
        """Apply validated changes; returns the audit's Change events."""
        events: list[dict] = []

        def change(field: str, value: Any) -> None:
            previous = ticket.get(field)
            if previous != value:
                events.append({"type": "Change", "field_name": field, "value": value,
                               "previous_value": previous})
                ticket[field] = value

        for key in ("status", "priority", "type", "external_id", "assignee_id", "group_id",
                    "organization_id"):
            if key in changes:
                change(key, changes[key])
        if "subject" in changes:
            change("subject", changes["subject"] or "")
            ticket["raw_subject"] = ticket["subject"]
        tags = list(ticket["tags"])
        if "tags" in changes:
            tags = list(changes["tags"])
        for tag in changes.get("additional_tags", []):
            if tag not in tags:
                tags.append(tag)
        tags = [t for t in tags if t not in changes.get("remove_tags", [])]
        if tags != ticket["tags"]:
            events.append({"type": "Change", "field_name": "tags", "value": tags,
                           "previous_value": ticket["tags"]})
            ticket["tags"] = tags
        if "custom_fields" in changes:
            current = {f["id"]: f for f in ticket["custom_fields"]}
            for entry in changes["custom_fields"]:
                if entry["id"] in current and current[entry["id"]]["value"] != entry.get("value"):
                    events.append({"type": "Change", "field_name": str(entry["id"]),
                                   "value": entry.get("value"),
                                   "previous_value": current[entry["id"]]["value"]})
                    current[entry["id"]]["value"] = entry.get("value")
        return events

    def _audit(self, ticket: dict, author_id: int, events: list[dict], at: datetime,
               audit_id: int | None = None) -> dict:
        audit_id = audit_id or next(self._audit_ids)
        return {
            "id": audit_id, "ticket_id": ticket["id"], "created_at": format_time(at),
            "author_id": author_id, "metadata": {"system": {}, "custom": {}},
            "via": {"channel": "api", "source": {"from": {}, "to": {}, "rel": None}},
            "events": [dict(e, id=next(self._audit_ids)) for e in events],
        }

    def update_ticket(self, ticket_id: int, spec: dict, actor_id: int, *,
                      safe: bool | None = None) -> tuple[dict, dict]:
        """Apply one ``PUT /tickets/{id}`` body (the inner ``ticket`` object).

        ``safe`` forces (True) the safe-update check when ``updated_stamp`` is given, as
        ``update_many`` jobs do; None follows the body's ``safe_update``.
        Raises :class:`ZendeskError` (404, 409, 422) before changing anything.
        """
        with self.lock:
            ticket = self.tickets.get(ticket_id)
            if ticket is None:
                raise not_found()
            if ticket["status"] == "closed":
                raise invalid("status", "Status: closed prevents ticket update")
            wants_safe = bool(spec.get("safe_update")) if safe is None else safe
            stamp = spec.get("updated_stamp")
            if wants_safe:
                if stamp is None and safe is None:
                    raise invalid("updated_stamp", "Updated stamp: is required for a safe update",
                                  "BlankValue")
                if stamp is not None and not self._stamp_matches(ticket, stamp):
                    raise ZendeskError(409, dict(CONFLICT_BODY))
            changes = self._validated_changes(spec, ticket=ticket)
            comment_spec = spec.get("comment")
            if comment_spec is not None:
                if not isinstance(comment_spec, dict) or not (comment_spec.get("body") or comment_spec.get("html_body")):
                    raise invalid("comment", "Comment: cannot be blank", "BlankValue")
                author_id = comment_spec.get("author_id", actor_id)
                if author_id not in self.users:
                    raise invalid("comment", "Comment: author is invalid")
            moment = self.now()
            events = self._apply_fields(ticket, changes)
            audit_id = None
            if comment_spec is not None:
                comment = self._make_comment(ticket_id, comment_spec, comment_spec.get("author_id", actor_id), moment)
                self._comments[ticket_id].append(comment)
                audit_id = comment["audit_id"]
                events.insert(0, {"type": "Comment", "id": comment["id"], "public": comment["public"],
                                  "body": comment["body"], "author_id": comment["author_id"]})
            self._bump(ticket, moment)
            return ticket, self._audit(ticket, actor_id, events, moment, audit_id)

    @staticmethod
    def _stamp_matches(ticket: dict, stamp: Any) -> bool:
        try:
            return parse_time(str(stamp)) == parse_time(ticket["updated_at"])
        except ValueError:
            return False

    # -- jobs ------------------------------------------------------------------------------
    def run_update_many(self, updates: list[tuple[int, dict]], actor_id: int) -> dict:
        """Run an ``update_many`` job now; returns the job status record (completed)."""
        with self.lock:
            job_id = uuid.uuid4().hex
            results = []
            for index, (ticket_id, spec) in enumerate(updates):
                try:
                    self.update_ticket(ticket_id, spec, actor_id, safe=True)
                except ZendeskError as exc:
                    body = exc.body if isinstance(exc.body, dict) else {"error": str(exc.body)}
                    results.append({"index": index, "id": ticket_id, "success": False,
                                    "error": body.get("error"),
                                    "details": body.get("description") or json.dumps(body.get("details"))})
                else:
                    results.append({"index": index, "id": ticket_id, "action": "update",
                                    "success": True, "status": "Updated"})
            self.jobs[job_id] = {
                "id": job_id, "job_type": "bulk_update", "total": len(updates),
                "progress": len(updates), "status": "completed", "message": "Completed at "
                + format_time(self.now()), "results": results,
            }
            return copy.deepcopy(self.jobs[job_id])

    # -- idempotency -------------------------------------------------------------------------
    def idempotent_lookup(self, key: str, fingerprint: str) -> dict | None:
        """The stored answer for ``key``; None on a miss; 400 when the body differs."""
        with self.lock:
            now = self.now()
            for stale in [k for k, v in self._idempotency.items() if v["expires"] <= now]:
                del self._idempotency[stale]
            entry = self._idempotency.get(key)
            if entry is None:
                return None
            if entry["fingerprint"] != fingerprint:
                raise bad_request("IdempotentRequestError",
                                  "Request parameters do not match the original request")
            return entry

    def idempotent_store(self, key: str, fingerprint: str, status: int, body: dict, headers: dict) -> None:
        with self.lock:
            self._idempotency[key] = {"fingerprint": fingerprint, "status": status, "body": body,
                                      "headers": headers, "expires": self.now() + IDEMPOTENCY_TTL}

    # -- accessors for tests -------------------------------------------------------------------
    def ticket(self, ticket_id: int) -> dict:
        """A copy of the stored ticket (KeyError when unknown)."""
        with self.lock:
            return {k: v for k, v in copy.deepcopy(self.tickets[ticket_id]).items() if not k.startswith("_")}

    def comments(self, ticket_id: int) -> list[dict]:
        """Copies of a ticket's comments, oldest first."""
        with self.lock:
            return copy.deepcopy(self._comments[ticket_id])

    def user(self, user_id: int) -> dict:
        with self.lock:
            return copy.deepcopy(self.users[user_id])

    def user_by_email(self, email: str) -> dict:
        with self.lock:
            for user in self.users.values():
                if user["email"].lower() == email.lower():
                    return copy.deepcopy(user)
        raise KeyError(email)

    def group_by_name(self, name: str) -> dict:
        with self.lock:
            for group in self.groups.values():
                if group["name"] == name:
                    return copy.deepcopy(group)
        raise KeyError(name)

    def organization_by_name(self, name: str) -> dict:
        with self.lock:
            for org in self.organizations.values():
                if org["name"] == name:
                    return copy.deepcopy(org)
        raise KeyError(name)

    def set_updated(self, ticket_id: int, moment: datetime) -> None:
        """Move a ticket's last change to ``moment`` (tests of the export's quiet minute)."""
        with self.lock:
            ticket = self.tickets[ticket_id]
            ticket["updated_at"] = format_time(moment)
            ticket["generated_timestamp"] = int(moment.timestamp())
            self._write_seq += 1
            ticket["_seq"] = self._write_seq

    # -- the demo help desk ---------------------------------------------------------------------
    def seed_demo(self) -> None:
        """Build the demo account: agents, customers, organizations, fields and tickets.

        Ids are stable (tickets from 101, users from 1001) so the demo story and tests can
        name them. Ticket 101's conversation carries customer PII and an agent's internal
        note with a Sentry link, which the bridge must never echo to the customer.
        """
        with self.lock:
            self.reset()
            now = self.now()
            self.api_tokens.add(DEMO_CREDENTIALS["token"])
            acme = self.add_organization("Acme Corp", tags=["premium"], domains=["acme.example"],
                                         fields={"support_tier": "premium", "region": "us"})
            globex = self.add_organization("Globex", tags=["standard"], domains=["globex.example"],
                                           fields={"support_tier": "standard", "region": "eu"})
            initech = self.add_organization("Initech", domains=["initech.example"],
                                            fields={"support_tier": "basic", "region": "us"})
            support = self.add_group("Support", description="Front-line support")
            escalations = self.add_group("Escalations", description="Escalation managers")
            bridge = self.add_user("Bridge Integration", "bridge@example.com", role="admin",
                                   groups=[support["id"], escalations["id"]])
            erin = self.add_user("Erin Escalation", "erin@example.com", role="agent",
                                 groups=[escalations["id"]], time_zone="America/New_York")
            frank = self.add_user("Frank Frontline", "frank@example.com", role="agent",
                                  groups=[support["id"]], time_zone="America/Los_Angeles")
            alice = self.add_user("Alice Adams", "alice.adams@acme.example", locale="en-US",
                                  organization_id=acme["id"], phone="+1 415 555 0100")
            bob = self.add_user("Bob Brown", "bob.brown@acme.example", locale="en-US",
                                organization_id=acme["id"])
            jana = self.add_user("Jana Schmidt", "jana.schmidt@globex.example", locale="de",
                                 organization_id=globex["id"], time_zone="Europe/Berlin")
            ian = self.add_user("Ian Ito", "ian.ito@initech.example", locale="en-US",
                                organization_id=initech["id"])
            self.oauth_tokens[DEMO_CREDENTIALS["oauth_token"]] = bridge["id"]
            self.oauth_tokens[DEMO_END_USER_OAUTH_TOKEN] = alice["id"]

            for field_id, title, kind in (
                (360000101, "Subject", "subject"), (360000102, "Description", "description"),
                (360000103, "Status", "status"), (360000104, "Type", "tickettype"),
                (360000105, "Priority", "priority"), (360000106, "Group", "group"),
                (360000107, "Assignee", "assignee"),
            ):
                self.add_ticket_field(field_id, title, kind, removable=False)
            self.add_ticket_field(FIELD_CATEGORY, "Category", "tagger", options=[
                ("Bug", "category_bug"), ("Question", "category_question"),
                ("Incident", "category_incident"), ("Feature request", "category_feature_request"),
            ])
            self.add_ticket_field(FIELD_DEVICE, "Impacted device ID")
            self.add_ticket_field(FIELD_OS, "Operating system")
            self.add_ticket_field(FIELD_JIRA_KEY, "JIRA key")

            def ticket(subject: str, requester: dict, conversation: list[tuple[dict, str, bool]],
                       opened_days_ago: float, **fields: Any) -> dict:
                start = now - timedelta(days=opened_days_ago)
                author, body, public = conversation[0]
                created, _ = self.create_ticket(
                    {"subject": subject, "requester_id": requester["id"],
                     "comment": {"body": body, "public": public, "author_id": author["id"]}, **fields},
                    requester["id"], at=start, channel="email")
                for step, (author, body, public) in enumerate(conversation[1:], start=1):
                    moment = start + timedelta(hours=2 * step)
                    comment = self._make_comment(created["id"], {"body": body, "public": public},
                                                 author["id"], moment, "web")
                    self._comments[created["id"]].append(comment)
                    self._bump(created, moment)
                return created

            ticket(
                "Export to CSV crashes the app", alice,
                [
                    (alice, "Hi, every time I click Export > CSV in the reports view the desktop app "
                            "closes without any message. Please call me back on +1 415 555 0100 or "
                            "write to alice.adams@acme.example.", True),
                    (frank, "Hi Alice, thanks for reporting this. Which version of the app are you "
                            "on, and does it happen with every report?", True),
                    (alice, "Version 5.2.1 on Windows 11, every report. Our Munich office "
                            "(Tel. +49 89 1234567-0, buero.muenchen@acme.example) sees it too; "
                            "my colleague bob.brown@acme.example can reproduce it.", True),
                    (erin, "Internal: this matches Sentry https://acme.sentry.io/issues/4505/ "
                           "(BACKEND-1A2), NoneType in the CSV writer. Escalating to engineering.",
                     False),
                ],
                opened_days_ago=3, priority="high", type="problem", assignee_id=frank["id"],
                group_id=support["id"], tags=["csv", "crash", "desktop_app"],
                custom_fields=[{"id": FIELD_CATEGORY, "value": "category_bug"},
                               {"id": FIELD_DEVICE, "value": "WS-4471-ACME"},
                               {"id": FIELD_OS, "value": "Windows 11"}],
            )
            ticket(
                "[Emergency] Payments failing for all users", bob,
                [
                    (bob, "Since 09:40 UTC no customer can pay: every checkout ends with "
                          "'payment declined'. This is costing us revenue, please treat as an "
                          "emergency.", True),
                    (erin, "Hi Bob, we are on it and will update you within the hour.", True),
                ],
                opened_days_ago=0.1, priority="urgent", type="incident", assignee_id=erin["id"],
                group_id=escalations["id"], tags=["payments", "emergency"],
                custom_fields=[{"id": FIELD_CATEGORY, "value": "category_incident"}],
            )
            solved = ticket(
                "How do I reset my password?", ian,
                [
                    (ian, "I forgot my password and the reset e-mail never arrives.", True),
                    (frank, "Hi Ian, I have re-sent the reset link; please check your spam "
                            "folder too.", True),
                    (ian, "Got it, thanks!", True),
                ],
                opened_days_ago=10, priority="low", type="question", assignee_id=frank["id"],
                group_id=support["id"], tags=["password"],
                custom_fields=[{"id": FIELD_CATEGORY, "value": "category_question"}],
            )
            solved["status"] = "solved"
            self._bump(solved, now - timedelta(days=9))
            ticket(
                "Synchronisation schlägt nach dem Update fehl", jana,
                [
                    (jana, "Hallo, seit dem Update auf 5.2 bricht die Synchronisation mit "
                           "\"Fehler 0x80070005\" ab. Sie erreichen mich unter +49 30 1234567 "
                           "oder jana.schmidt@globex.example.", True),
                    (frank, "Hallo Frau Schmidt, danke für die Meldung. Tritt der Fehler auf "
                            "allen Geräten auf?", True),
                ],
                opened_days_ago=1, priority="normal", type="problem", assignee_id=frank["id"],
                group_id=support["id"], tags=["sync", "windows"],
                custom_fields=[{"id": FIELD_CATEGORY, "value": "category_bug"},
                               {"id": FIELD_OS, "value": "Windows 10"}],
            )
            ticket(
                "Dashboard loads slowly in Safari", alice,
                [(alice, "The dashboard takes about 20 seconds to load in Safari 17.", True)],
                opened_days_ago=0.5, priority="normal", tags=["performance"],
            )


# -- the Flask app ---------------------------------------------------------------------------
def _error_response(status: int, message: str) -> Response:
    """Zendesk's error bodies for the shared harness (knob faults, unknown routes)."""
    if status == 401:
        body: dict | str = {"error": "Couldn't authenticate you"}
    elif status == 403:
        body = dict(FORBIDDEN_BODY)
    elif status == 404:
        body = dict(NOT_FOUND_BODY)
    elif status == 429:
        body = RATE_LIMITED_TEXT  # Zendesk answers 429 in text/plain
    elif status == 405:
        body = {"error": "InvalidEndpoint", "description": "Not found"}
    elif status >= 500:
        body = {"error": "ServiceUnavailable" if status == 503 else "InternalError",
                "description": message}
    else:
        body = {"error": "InvalidValue", "description": message}
    return ZendeskError(status, body).response()


def _rate_limit_headers(limit: int, remaining: int, reset_epoch: float) -> dict[str, str]:
    """Zendesk's account rate-limit headers (``ratelimit-reset`` is seconds from now)."""
    reset_in = max(0, math.ceil(reset_epoch - time.time()))
    return {
        "X-Rate-Limit": str(limit), "X-Rate-Limit-Remaining": str(remaining),
        "ratelimit-limit": str(limit), "ratelimit-remaining": str(remaining),
        "ratelimit-reset": str(reset_in),
    }


ZENDESK_VENDOR = Vendor(name="zendesk", error_response=_error_response,
                        rate_limit_headers=_rate_limit_headers)


def create_app(state: ZendeskState, knobs: Knobs | None = None) -> Flask:
    """A Flask app serving ``state`` as Zendesk's Support API, with the shared knobs."""
    app = Flask("bridge.sandbox.zendesk")
    app.json.sort_keys = False
    install(app, ZENDESK_VENDOR, knobs or Knobs())

    @app.errorhandler(ZendeskError)
    def _zendesk_error(exc: ZendeskError) -> Response:
        return exc.response()

    def base() -> str:
        return state.base_url or request.host_url.rstrip("/")

    def api(path: str) -> str:
        return f"{base()}/api/v2/{path}"

    def respond(body: dict, status: int = 200, headers: dict | None = None) -> Response:
        response = Response(json.dumps(body), status=status, mimetype="application/json")
        if headers:
            response.headers.update(headers)
        return response

    # -- authentication --------------------------------------------------------------------
    def current_user() -> dict:
        header = request.headers.get("Authorization", "")
        scheme, _, credentials = header.partition(" ")
        user_id: int | None = None
        with state.lock:
            if scheme.lower() == "bearer":
                user_id = state.oauth_tokens.get(credentials.strip())
            elif scheme.lower() == "basic":
                try:
                    decoded = base64.b64decode(credentials.strip()).decode()
                except (binascii.Error, UnicodeDecodeError):
                    decoded = ""
                login, _, secret = decoded.partition(":")
                if login.endswith("/token") and secret in state.api_tokens:
                    email = login[: -len("/token")].lower()
                    user_id = next((u["id"] for u in state.users.values()
                                    if u["email"].lower() == email and u["active"]), None)
            user = state.users.get(user_id) if user_id is not None else None
            if user is None:
                raise ZendeskError(401, {"error": "Couldn't authenticate you"})
            return copy.deepcopy(user)

    def agent() -> dict:
        user = current_user()
        if user["role"] == "end-user":
            raise ZendeskError(403, dict(FORBIDDEN_BODY))
        return user

    def json_body() -> dict:
        if request.mimetype != "application/json":
            raise bad_request("InvalidContentType", "Content-Type must be application/json")
        try:
            data = json.loads(request.get_data(cache=True) or b"")
        except ValueError as exc:
            raise bad_request("InvalidJSON", f"The request body is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise bad_request("InvalidJSON", "The request body must be a JSON object")
        return data

    def inner(data: dict, key: str) -> dict:
        value = data.get(key)
        if not isinstance(value, dict):
            raise bad_request("ParameterMissing", f"param is missing or the value is empty: {key}")
        return value

    # -- serialisers -------------------------------------------------------------------------
    def ticket_json(ticket: dict) -> dict:
        out = {k: copy.deepcopy(v) for k, v in ticket.items() if not k.startswith("_")}
        out["url"] = api(f"tickets/{ticket['id']}.json")
        out["fields"] = copy.deepcopy(out["custom_fields"])
        return out

    def with_url(record: dict, path: str) -> dict:
        out = copy.deepcopy(record)
        out["url"] = api(path)
        return out

    def user_json(user: dict) -> dict:
        return with_url(user, f"users/{user['id']}.json")

    def org_json(org: dict) -> dict:
        return with_url(org, f"organizations/{org['id']}.json")

    def group_json(group: dict) -> dict:
        return with_url(group, f"groups/{group['id']}.json")

    def includes() -> set[str]:
        return {part.strip() for part in request.args.get("include", "").split(",") if part.strip()}

    def sideload(body: dict, tickets: list[dict], comments: list[dict] = ()) -> None:
        wanted = includes()
        if "users" in wanted:
            ids: set[int] = set()
            for t in tickets:
                ids.update(i for i in (t.get("requester_id"), t.get("submitter_id"), t.get("assignee_id")) if i)
            ids.update(c["author_id"] for c in comments)
            body["users"] = [user_json(state.users[i]) for i in sorted(ids) if i in state.users]
        if "organizations" in wanted:
            ids = {t["organization_id"] for t in tickets if t.get("organization_id")}
            body["organizations"] = [org_json(state.organizations[i]) for i in sorted(ids)
                                     if i in state.organizations]
        if "groups" in wanted:
            ids = {t["group_id"] for t in tickets if t.get("group_id")}
            body["groups"] = [group_json(state.groups[i]) for i in sorted(ids) if i in state.groups]

    # -- pagination -----------------------------------------------------------------------------
    def page_args(default: int = 100) -> tuple[int, str | None, str | None] | None:
        """Cursor pagination arguments, or None when the caller uses offset pagination."""
        size = request.args.get("page[size]")
        after = request.args.get("page[after]")
        before = request.args.get("page[before]")
        if size is None and after is None and before is None:
            return None
        try:
            number = int(size) if size is not None else default
        except ValueError:
            raise bad_request("InvalidPaginationParameter", "page[size] must be an integer") from None
        if number < 1 or number > 100:
            raise bad_request("InvalidPaginationParameter", "page[size] must be between 1 and 100")
        return number, after, before

    def cursor_page(items: list[dict], key: Callable[[dict], list], serialise: Callable[[dict], dict],
                    name: str, path: str, cursor: tuple[int, str | None, str | None],
                    extra: dict | None = None) -> dict:
        size, after, before = cursor
        keys = [key(item) for item in items]
        if after:
            start = decode_cursor(after).get("k")
            chosen = [i for i, k in enumerate(keys) if k > start]
            window = chosen[:size]
            has_more = len(chosen) > size
        elif before:
            end = decode_cursor(before).get("k")
            chosen = [i for i, k in enumerate(keys) if k < end]
            window = chosen[-size:]
            has_more = len(chosen) > size
        else:
            window = list(range(min(size, len(items))))
            has_more = len(items) > size
        page = [items[i] for i in window]
        after_cursor = encode_cursor({"k": keys[window[-1]]}) if window else None
        before_cursor = encode_cursor({"k": keys[window[0]]}) if window else None
        params = dict(extra or {})

        def link(**cursor_arg: str) -> str | None:
            if next(iter(cursor_arg.values())) is None:
                return None
            query = dict(params, **{"page[size]": str(size)}, **cursor_arg)
            return f"{api(path)}?{urlencode(query)}"

        return {
            name: [serialise(item) for item in page],
            "meta": {"has_more": has_more, "after_cursor": after_cursor, "before_cursor": before_cursor},
            "links": {"prev": link(**{"page[before]": before_cursor}),
                      "next": link(**{"page[after]": after_cursor})},
        }

    def offset_page(items: list[dict], serialise: Callable[[dict], dict], name: str, path: str,
                    extra: dict | None = None, limit: int = 100) -> dict:
        try:
            page = int(request.args.get("page", "1"))
            per_page = int(request.args.get("per_page", "100"))
        except ValueError:
            raise bad_request("InvalidPaginationParameter", "page and per_page must be integers") from None
        if page < 1 or per_page < 1:
            raise bad_request("InvalidPaginationParameter", "page and per_page must be positive")
        per_page = min(per_page, limit)
        start = (page - 1) * per_page
        chunk = items[start:start + per_page]
        params = dict(extra or {}, per_page=str(per_page))

        def link(number: int) -> str:
            return f"{api(path)}?{urlencode(dict(params, page=str(number)))}"

        return {
            name: [serialise(item) for item in chunk],
            "next_page": link(page + 1) if start + per_page < len(items) else None,
            "previous_page": link(page - 1) if page > 1 else None,
            "count": len(items),
        }

    def paged(items: list[dict], key: Callable[[dict], list], serialise: Callable[[dict], dict],
              name: str, path: str, extra: dict | None = None) -> dict:
        cursor = page_args()
        if cursor is not None:
            return cursor_page(items, key, serialise, name, path, cursor, extra)
        return offset_page(items, serialise, name, path, extra)

    def id_list(raw: str | None) -> list[int]:
        try:
            return [int(part) for part in (raw or "").split(",") if part.strip()]
        except ValueError:
            raise bad_request("InvalidValue", "ids must be a comma-separated list of integers") from None

    def lookup_ticket(ticket_id: int) -> dict:
        ticket = state.tickets.get(ticket_id)
        if ticket is None:
            raise not_found()
        return ticket

    # -- tickets ---------------------------------------------------------------------------------
    @app.get("/api/v2/tickets.json")
    def list_tickets():
        agent()
        with state.lock:
            tickets = sorted(state.tickets.values(), key=lambda t: t["id"])
            extra = {k: v for k, v in request.args.items() if k in ("sort", "include")}
            return respond(paged(tickets, lambda t: [t["id"]], ticket_json, "tickets", "tickets.json", extra))

    @app.get("/api/v2/tickets/<int:ticket_id>.json")
    def show_ticket(ticket_id: int):
        agent()
        with state.lock:
            ticket = lookup_ticket(ticket_id)
            body = {"ticket": ticket_json(ticket)}
            sideload(body, [ticket])
            return respond(body)

    @app.get("/api/v2/tickets/show_many.json")
    def show_many_tickets():
        agent()
        with state.lock:
            wanted = id_list(request.args.get("ids"))
            if len(wanted) > 100:
                raise bad_request("InvalidValue", "Too many ids (the limit is 100)")
            tickets = [state.tickets[i] for i in wanted if i in state.tickets]
            body = {"tickets": [ticket_json(t) for t in tickets]}
            sideload(body, tickets)
            return respond(body)

    @app.post("/api/v2/tickets.json")
    def create_ticket():
        user = agent()
        data = json_body()
        key = request.headers.get("Idempotency-Key")
        fingerprint = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
        with state.lock:
            if key:
                stored = state.idempotent_lookup(key, fingerprint)
                if stored is not None:
                    return respond(stored["body"], stored["status"],
                                   dict(stored["headers"], **{"x-idempotency-lookup": "hit"}))
            ticket, audit = state.create_ticket(inner(data, "ticket"), user["id"])
            body = {"ticket": ticket_json(ticket), "audit": audit}
            headers = {"Location": api(f"tickets/{ticket['id']}.json")}
            if key:
                state.idempotent_store(key, fingerprint, 201, body, headers)
                headers["x-idempotency-lookup"] = "miss"
            return respond(body, 201, headers)

    @app.put("/api/v2/tickets/<int:ticket_id>.json")
    def update_ticket(ticket_id: int):
        user = agent()
        data = json_body()
        spec = inner(data, "ticket")
        with state.lock:
            ticket, audit = state.update_ticket(ticket_id, spec, user["id"])
            return respond({"ticket": ticket_json(ticket), "audit": audit})

    @app.put("/api/v2/tickets/update_many.json")
    def update_many():
        user = agent()
        data = json_body()
        updates: list[tuple[int, dict]]
        if "tickets" in data:
            entries = data["tickets"]
            if not isinstance(entries, list) or not all(isinstance(e, dict) and isinstance(e.get("id"), int)
                                                        for e in entries):
                raise bad_request("InvalidValue", "tickets must be a list of objects with an id")
            updates = [(e["id"], {k: v for k, v in e.items() if k != "id"}) for e in entries]
        else:
            ids = id_list(request.args.get("ids"))
            if not ids:
                raise bad_request("InvalidValue", "ids or tickets is required")
            change = inner(data, "ticket")
            updates = [(i, copy.deepcopy(change)) for i in ids]
        if len(updates) > UPDATE_MANY_LIMIT:
            raise bad_request("TooManyValues", f"Too many tickets: update_many takes at most "
                                               f"{UPDATE_MANY_LIMIT} tickets per request")
        job = state.run_update_many(updates, user["id"])
        # The job already ran; the answer shows it the way Zendesk first reports a job.
        queued = dict(job, status="queued", progress=None, message=None, results=None,
                      url=api(f"job_statuses/{job['id']}.json"))
        return respond({"job_status": queued})

    @app.get("/api/v2/job_statuses/<job_id>.json")
    def show_job(job_id: str):
        agent()
        with state.lock:
            job = state.jobs.get(job_id)
            if job is None:
                raise not_found()
            return respond({"job_status": dict(copy.deepcopy(job), url=api(f"job_statuses/{job_id}.json"))})

    # -- comments -------------------------------------------------------------------------------
    @app.get("/api/v2/tickets/<int:ticket_id>/comments.json")
    def list_comments(ticket_id: int):
        agent()
        with state.lock:
            lookup_ticket(ticket_id)
            comments = list(state._comments[ticket_id])
            descending = request.args.get("sort_order") == "desc"
            if descending:
                comments.reverse()
            sign = -1 if descending else 1
            extra = {k: v for k, v in request.args.items() if k in ("sort_order", "include")}
            body = paged(comments, lambda c: [sign * c["id"]], copy.deepcopy, "comments",
                         f"tickets/{ticket_id}/comments.json", extra)
            shown = [c for c in comments if c["id"] in {x["id"] for x in body["comments"]}]
            sideload(body, [], shown)
            return respond(body)

    # -- incremental export ------------------------------------------------------------------------
    @app.get("/api/v2/incremental/tickets/cursor.json")
    def incremental_tickets():
        agent()
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
            body = {
                "tickets": [ticket_json(t) for t in page],
                "after_cursor": after,
                "after_url": f"{api('incremental/tickets/cursor.json')}?{urlencode({'cursor': after})}",
                "before_cursor": before,
                "before_url": (f"{api('incremental/tickets/cursor.json')}?{urlencode({'cursor': before})}"
                               if before else None),
                "end_of_stream": end_of_stream,
            }
            sideload(body, page)
            return respond(body)

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
        agent()
        query = request.args.get("query")
        if query is None or not query.strip():
            raise bad_request("InvalidValue", "query is required")
        terms = zendesk_search.parse_query(query)
        types = zendesk_search.result_types(terms) or {"ticket", "user", "organization"}
        with state.lock:
            results: list[dict] = []
            if "ticket" in types:
                results += [dict(ticket_json(t), result_type="ticket") for t in state.tickets.values()
                            if zendesk_search.matches(terms, lambda term, t=t: ticket_term(t, term))]
            if "user" in types:
                results += [dict(user_json(u), result_type="user") for u in state.users.values()
                            if zendesk_search.matches(terms, lambda term, u=u: user_term(u, term))]
            if "organization" in types:
                results += [dict(org_json(o), result_type="organization") for o in state.organizations.values()
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
            body = offset_page(results, lambda r: r, "results", "search.json", extra)
            body["facets"] = None
            return respond(body)

    # -- users, organizations, groups, fields ------------------------------------------------------
    @app.get("/api/v2/users/me.json")
    def me():
        return respond({"user": user_json(current_user())})

    @app.get("/api/v2/users/<int:user_id>.json")
    def show_user(user_id: int):
        agent()
        with state.lock:
            user = state.users.get(user_id)
            if user is None:
                raise not_found()
            return respond({"user": user_json(user)})

    @app.get("/api/v2/users/show_many.json")
    def show_many_users():
        agent()
        with state.lock:
            wanted = id_list(request.args.get("ids"))
            return respond({"users": [user_json(state.users[i]) for i in wanted if i in state.users]})

    @app.get("/api/v2/users.json")
    def list_users():
        agent()
        with state.lock:
            roles = request.args.getlist("role[]") or request.args.getlist("role")
            users = sorted((u for u in state.users.values() if not roles or u["role"] in roles),
                           key=lambda u: u["id"])
            return respond(paged(users, lambda u: [u["id"]], user_json, "users", "users.json"))

    @app.get("/api/v2/users/search.json")
    def search_users():
        agent()
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
            return respond(offset_page(users, user_json, "users", "users/search.json",
                                       {"query": query} if query else {"external_id": external_id}))

    @app.get("/api/v2/users/<int:user_id>/group_memberships.json")
    def user_memberships(user_id: int):
        agent()
        with state.lock:
            if user_id not in state.users:
                raise not_found()
            memberships = sorted((m for m in state.group_memberships.values() if m["user_id"] == user_id),
                                 key=lambda m: m["id"])
            return respond(paged(memberships, lambda m: [m["id"]],
                                 lambda m: with_url(m, f"group_memberships/{m['id']}.json"),
                                 "group_memberships", f"users/{user_id}/group_memberships.json"))

    @app.get("/api/v2/organizations/<int:org_id>.json")
    def show_organization(org_id: int):
        agent()
        with state.lock:
            org = state.organizations.get(org_id)
            if org is None:
                raise not_found()
            return respond({"organization": org_json(org)})

    @app.get("/api/v2/organizations.json")
    def list_organizations():
        agent()
        with state.lock:
            orgs = sorted(state.organizations.values(), key=lambda o: o["id"])
            return respond(paged(orgs, lambda o: [o["id"]], org_json, "organizations", "organizations.json"))

    @app.get("/api/v2/groups.json")
    def list_groups():
        agent()
        with state.lock:
            groups = sorted(state.groups.values(), key=lambda g: g["id"])
            return respond(paged(groups, lambda g: [g["id"]], group_json, "groups", "groups.json"))

    @app.get("/api/v2/groups/<int:group_id>.json")
    def show_group(group_id: int):
        agent()
        with state.lock:
            group = state.groups.get(group_id)
            if group is None:
                raise not_found()
            return respond({"group": group_json(group)})

    @app.get("/api/v2/ticket_fields.json")
    def list_ticket_fields():
        agent()
        with state.lock:
            fields = sorted(state.ticket_fields.values(), key=lambda f: f["position"])
            return respond({"ticket_fields": [with_url(f, f"ticket_fields/{f['id']}.json") for f in fields],
                            "next_page": None, "previous_page": None, "count": len(fields)})

    return app


def start(port: int = 0, seed: bool = True, knobs: Knobs | None = None) -> tuple[ServiceThread, ZendeskState]:
    """Serve a (demo-seeded) Zendesk on 127.0.0.1:``port`` from a daemon thread."""
    state = ZendeskState()
    if seed:
        state.seed_demo()
    service = ServiceThread(create_app(state, knobs), port=port)
    state.base_url = service.url
    return service.start(), state
