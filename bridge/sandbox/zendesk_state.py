"""The Zendesk emulator's data: users, organisations, groups, fields, tickets, comments, jobs.

:class:`ZendeskState` holds it in memory behind one RLock and implements Zendesk's rules
for creating and updating tickets (validation in :mod:`zendesk_changes`), with an audit per
change that its listeners (the outgoing webhooks, :mod:`zendesk_webhooks`) hear about, bulk
jobs run in the background (:mod:`zendesk_jobs`) and ``Idempotency-Key`` replays.
:mod:`zendesk_app` serves it over HTTP; :meth:`ZendeskState.seed_demo` builds the demo help
desk (:mod:`zendesk_demo`).
"""

from __future__ import annotations

import copy
import itertools
import threading
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable

from bridge.sandbox import zendesk_demo
from bridge.sandbox.zendesk_changes import (
    apply_changes,
    comment_event,
    creation_events,
    job_failure,
    validate_changes,
)
from bridge.sandbox.zendesk_jobs import JobRunner
from bridge.sandbox.zendesk_webhooks import WebhookHub
from bridge.sandbox.zendesk_format import (
    CONFLICT_BODY,
    DEFAULT_CUSTOM_STATUSES,
    IDEMPOTENCY_TTL,
    ZendeskError,
    bad_request,
    body_to_html,
    format_time,
    html_to_text,
    invalid,
    normalise_tags,
    not_found,
    parse_time,
    plain_copy,
    utcnow,
)


class ZendeskState:
    """The help desk's data, in memory. Every method takes ``lock``; safe across threads.

    ``base_url`` is the emulator's own address (used in ``url`` fields); ``clock`` gives
    "now" (tests pass a fixed clock). Python accessors (``ticket``, ``comments``, ``user``,
    ...) return copies for tests to inspect.
    """

    def __init__(self, *, base_url: str = "", clock: Callable[[], datetime] | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.clock: Callable[[], datetime] = clock or utcnow
        self.lock = threading.RLock()
        #: Zendesk's incremental export leaves out the most recent minute; tests switch it off.
        self.export_skips_last_minute = True
        #: Called as ``listener(ticket, audit)`` after every recorded ticket change, under
        #: ``lock`` (outgoing webhooks listen here); a listener must not block. It is handed
        #: the live records and copies what it keeps: most changes interest no listener
        #: (no webhook is active), and copying every ticket for none cost a bulk job more
        #: than applying it.
        self.listeners: list[Callable[[dict, dict], None]] = []
        #: Runs ``update_many`` / ``create_many`` jobs in the background.
        self.job_runner = JobRunner(self)
        #: Registered webhooks and triggers; sends deliveries from its own thread.
        self.webhooks = WebhookHub(self)
        self.reset()

    # -- set-up ----------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget everything (users, tickets, tokens, jobs, idempotency keys, webhooks)."""
        with self.lock:
            self.webhooks.reset()
            self.users: dict[int, dict] = {}
            self.organizations: dict[int, dict] = {}
            self.groups: dict[int, dict] = {}
            self.group_memberships: dict[int, dict] = {}
            self.ticket_fields: dict[int, dict] = {}
            self.tickets: dict[int, dict] = {}
            self._comments: dict[int, list[dict]] = {}
            self._audits: dict[int, list[dict]] = {}
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
        """The current time, to the second (Zendesk's timestamps carry no fraction)."""
        return self.clock().astimezone(timezone.utc).replace(microsecond=0)

    def add_organization(self, name: str, *, tags: Iterable[str] = (), fields: dict | None = None,
                         domains: Iterable[str] = ()) -> dict:
        """Create an organisation; returns a copy."""
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
        """Create a group (the first one is the default); returns a copy."""
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
        """Create a user with ``role`` end-user, agent or admin, members of ``groups``; returns a copy."""
        if role not in ("end-user", "agent", "admin"):
            raise ValueError(f"unknown role {role!r}")
        with self.lock:
            user_id = next(self._user_ids)
            now = format_time(self.now())
            group_ids = list(groups)
            self.users[user_id] = {
                "id": user_id, "name": name, "email": email, "role": role, "locale": locale,
                "locale_id": {"en-US": 1, "de": 8}.get(locale, 1), "time_zone": time_zone, "iana_time_zone": time_zone,
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
        """Create a ticket field (``removable`` ones are custom fields); returns a copy."""
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
            if comment is None and isinstance(spec.get("description"), str):
                comment = {"body": spec["description"]}  # Zendesk makes it the first comment
            if not isinstance(comment, dict) or not (comment.get("body") or comment.get("html_body")):
                raise invalid("description", "Description: cannot be blank", "BlankValue")
            requester_id = self._resolve_requester(spec, submitter_id)
            requester = self.users[requester_id]
            fields = validate_changes(self, spec, creating=True)
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
                "custom_status_id": DEFAULT_CUSTOM_STATUSES["new"],
                "custom_fields": [{"id": fid, "value": None} for fid in self._custom_field_ids()],
                "satisfaction_rating": None, "sharing_agreement_ids": [], "followup_ids": [],
                "ticket_form_id": None, "brand_id": None, "allow_channelback": False,
                "allow_attachments": True, "from_messaging_channel": False,
            }
            apply_changes(ticket, fields)
            if fields.get("status") is None and ticket["assignee_id"] is not None:
                # Zendesk opens a ticket that is created assigned
                apply_changes(ticket, {"status": "open"})
            self._bump(ticket, moment)
            self.tickets[ticket_id] = ticket
            self._comments[ticket_id] = [first]
            events = [comment_event(first), *creation_events(ticket)]
            return ticket, self._audit(ticket, submitter_id, events, moment, first["audit_id"], channel)

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

    def _audit(self, ticket: dict, author_id: int, events: list[dict], at: datetime,
               audit_id: int | None = None, channel: str = "api") -> dict:
        """Record one audit of ``ticket`` (its events get ids) and tell the listeners."""
        audit_id = audit_id or next(self._audit_ids)
        audit = {
            "id": audit_id, "ticket_id": ticket["id"], "created_at": format_time(at),
            "author_id": author_id, "metadata": {"system": {}, "custom": {}},
            "via": {"channel": channel, "source": {"from": {}, "to": {}, "rel": None}},
            "events": [dict(e, id=next(self._audit_ids)) for e in events],
        }
        self._audits.setdefault(ticket["id"], []).append(audit)
        public = {k: v for k, v in ticket.items() if not k.startswith("_")}
        for listener in self.listeners:
            listener(public, audit)
        return plain_copy(audit)

    def add_comment(self, ticket_id: int, spec: dict, author_id: int, *, at: datetime | None = None,
                    channel: str = "api") -> dict:
        """Append one comment as its own audited change (the demo's conversations)."""
        with self.lock:
            ticket = self.tickets[ticket_id]
            moment = at or self.now()
            comment = self._make_comment(ticket_id, spec, author_id, moment, channel)
            self._comments[ticket_id].append(comment)
            self._bump(ticket, moment)
            self._audit(ticket, author_id, [comment_event(comment)], moment, comment["audit_id"], channel)
            return copy.deepcopy(comment)

    def change_tags(self, ticket_id: int, mode: str, tags: Any, actor_id: int) -> list[str]:
        """The tags endpoints: ``set`` replaces, ``add`` adds, ``remove`` removes; the new tags."""
        key = {"set": "tags", "add": "additional_tags", "remove": "remove_tags"}[mode]
        with self.lock:
            ticket, _ = self.update_ticket(ticket_id, {key: tags}, actor_id)
            return list(ticket["tags"])

    def last_audit(self, ticket_id: int) -> dict | None:
        """A copy of the ticket's latest audit (None before any; KeyError when unknown)."""
        with self.lock:
            if ticket_id not in self.tickets:
                raise KeyError(ticket_id)
            audits = self._audits.get(ticket_id)
            return plain_copy(audits[-1]) if audits else None  # one per ticket of a bulk answer

    def audits(self, ticket_id: int) -> list[dict]:
        """Copies of a ticket's audits, oldest first (KeyError when the ticket is unknown)."""
        with self.lock:
            if ticket_id not in self.tickets:
                raise KeyError(ticket_id)
            return copy.deepcopy(self._audits.get(ticket_id, []))

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
            changes = validate_changes(self, spec, ticket=ticket)
            comment_spec = spec.get("comment")
            if comment_spec is not None:
                if not isinstance(comment_spec, dict) or not (comment_spec.get("body") or comment_spec.get("html_body")):
                    raise invalid("comment", "Comment: cannot be blank", "BlankValue")
                author_id = comment_spec.get("author_id", actor_id)
                if author_id not in self.users:
                    raise invalid("comment", "Comment: author is invalid")
            moment = self.now()
            events = apply_changes(ticket, changes)
            audit_id = None
            if comment_spec is not None:
                comment = self._make_comment(ticket_id, comment_spec, comment_spec.get("author_id", actor_id), moment)
                self._comments[ticket_id].append(comment)
                audit_id = comment["audit_id"]
                events.insert(0, comment_event(comment))
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
        """Queue an ``update_many`` job (each update a safe update); returns its ``queued`` status."""
        def update(ticket_id: int, spec: dict) -> Callable[[int], dict]:
            def run(index: int) -> dict:
                try:
                    self.update_ticket(ticket_id, spec, actor_id, safe=True)
                except ZendeskError as exc:
                    return dict(job_failure(index, exc), id=ticket_id)
                return {"index": index, "id": ticket_id, "action": "update", "success": True,
                        "status": "Updated"}
            return run

        return self.job_runner.submit("bulk_update", [update(t, spec) for t, spec in updates])

    def run_create_many(self, specs: list[dict], submitter_id: int) -> dict:
        """Queue a ``create_many`` job; returns its ``queued`` status."""
        def create(spec: dict) -> Callable[[int], dict]:
            def run(index: int) -> dict:
                try:
                    ticket, _ = self.create_ticket(spec, submitter_id)
                except ZendeskError as exc:
                    return job_failure(index, exc)
                return {"index": index, "id": ticket["id"], "action": "create", "success": True,
                        "status": "Created"}
            return run

        return self.job_runner.submit("bulk_create", [create(spec) for spec in specs])

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
        """Remember the answer to a create under ``key`` for two hours."""
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
        """A copy of the stored user (KeyError when unknown)."""
        with self.lock:
            return copy.deepcopy(self.users[user_id])

    def user_by_email(self, email: str) -> dict:
        """A copy of the user with this e-mail address (KeyError when none)."""
        return self._copy_of_first(self.users, lambda u: u["email"].lower() == email.lower(), email)

    def group_by_name(self, name: str) -> dict:
        """A copy of the group with this name (KeyError when none)."""
        return self._copy_of_first(self.groups, lambda g: g["name"] == name, name)

    def organization_by_name(self, name: str) -> dict:
        """A copy of the organisation with this name (KeyError when none)."""
        return self._copy_of_first(self.organizations, lambda o: o["name"] == name, name)

    def _copy_of_first(self, records: dict, matches: Callable[[dict], bool], wanted: str) -> dict:
        with self.lock:
            for record in records.values():
                if matches(record):
                    return copy.deepcopy(record)
        raise KeyError(wanted)

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
        """Forget everything and build the demo help desk (see :func:`zendesk_demo.seed`)."""
        zendesk_demo.seed(self)
