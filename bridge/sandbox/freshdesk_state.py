"""The Freshdesk emulator's state: companies, contacts, agents, groups, tickets and their
conversations, with Freshdesk's validation rules and the demo seed (see
:mod:`bridge.sandbox.freshdesk` for the API that serves it)."""

from __future__ import annotations

import copy
import html
import itertools
import json
import re
import threading
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable

from flask import Response

from bridge.sandbox.outgoing_webhooks import FreshdeskHooks

#: The demo account's API key (the integration agent's) and a second agent's key.
DEMO_CREDENTIALS = {"api_key": "sandbox-freshdesk-api-key-91c2", "email": "bridge@example.com"}
#: The API key of a demo *contact* (a customer): agent endpoints refuse it with 403.
DEMO_CONTACT_API_KEY = "sandbox-freshdesk-contact-key-3e7a"

OPEN, PENDING, RESOLVED, CLOSED = 2, 3, 4, 5
STATUSES = (OPEN, PENDING, RESOLVED, CLOSED)
PRIORITIES = (1, 2, 3, 4)  # Low, Medium, High, Urgent
#: Conversation sources: a reply (e-mail) and a note.
SOURCE_REPLY, SOURCE_NOTE = 0, 2
#: ``include=conversations`` returns at most this many, oldest first.
INCLUDED_CONVERSATIONS = 10
PER_PAGE_DEFAULT, PER_PAGE_MAX = 30, 100
#: Freshdesk Growth plan: 200 calls per minute (the knobs decide when 429 comes).
DEFAULT_RATE_TOTAL = 200

INVALID_CREDENTIALS = {"code": "invalid_credentials", "message": "You have to be logged in to perform this action."}
ACCESS_DENIED = {"code": "access_denied", "message": "You are not authorized to perform this action."}

TICKET_UPDATE_FIELDS = frozenset({
    "status", "priority", "tags", "custom_fields", "subject", "description", "type", "group_id",
    "responder_id", "due_by", "fr_due_by", "source", "company_id", "product_id",
})
TICKET_CREATE_FIELDS = TICKET_UPDATE_FIELDS | {"email", "requester_id", "name", "cc_emails"}


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def format_time(moment: datetime) -> str:
    """Freshdesk's timestamps: UTC, seconds, ``Z``."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def text_to_html(text: str) -> str:
    """The HTML body Freshdesk stores for a plain-text body."""
    return "<div>" + html.escape(text).replace("\n", "<br>") + "</div>"


def html_to_text(markup: str) -> str:
    """``body_text``: the body without markup."""
    text = re.sub(r"(?i)<br\s*/?>", "\n", markup)
    text = re.sub(r"(?i)</(p|div)\s*>", "\n", text)
    text = re.sub(r"<[^>]+>", "", text)
    return html.unescape(text).strip()


class FreshdeskError(Exception):
    """An answer in Freshdesk's error shape."""

    def __init__(self, status: int, body: dict | None = None, headers: dict | None = None) -> None:
        super().__init__(f"{status}: {body}")
        self.status, self.body, self.headers = status, body, headers or {}

    def response(self) -> Response:
        text = "" if self.body is None else json.dumps(self.body)
        response = Response(text, status=self.status, mimetype="application/json")
        response.headers.update(self.headers)
        return response


def validation_failed(*errors: tuple[str, str, str]) -> FreshdeskError:
    """400 Validation failed, one ``{"field","message","code"}`` per problem."""
    return FreshdeskError(400, {"description": "Validation failed",
                                "errors": [{"field": f, "message": m, "code": c} for f, m, c in errors]})


def unexpected_fields(names: Iterable[str]) -> list[tuple[str, str, str]]:
    """Freshdesk's error for each field a request may not carry, in the order given."""
    return [(name, "Unexpected/invalid field in request", "invalid_field") for name in names]


def not_found() -> FreshdeskError:
    return FreshdeskError(404, None)


class FreshdeskState:
    """The help desk's data in memory; every method takes ``lock``."""

    def __init__(self, *, base_url: str = "", clock: Callable[[], datetime] | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.clock: Callable[[], datetime] = clock or _utcnow
        self.lock = threading.RLock()
        #: Automation-rule webhooks sent on every ticket change (outgoing_webhooks).
        self.hooks = FreshdeskHooks()
        self.reset()

    def reset(self) -> None:
        """Forget every record and webhook subscription."""
        with self.lock:
            self.hooks.reset()
            self.agents: dict[int, dict] = {}
            self.contacts: dict[int, dict] = {}
            self.companies: dict[int, dict] = {}
            self.groups: dict[int, dict] = {}
            self.tickets: dict[int, dict] = {}
            self.conversations: dict[int, list[dict]] = {}
            #: Custom ticket field names (``cf_…``) the account defines.
            self.custom_field_names: list[str] = []
            #: API key -> (kind, id): ("agent", agent id) or ("contact", contact id).
            self.api_keys: dict[str, tuple[str, int]] = {}
            #: E-mails Freshdesk sent to requesters (public replies): dicts with to, body.
            self.outbox: list[dict] = []
            #: The help desk's time zone (a Rails zone name, as Freshdesk keeps it): every
            #: contact without a zone of its own has this one.
            self.time_zone = "UTC"
            self._ids = itertools.count(1)
            self._ticket_ids = itertools.count(1)
            self._conversation_ids = itertools.count(5000)

    def now(self) -> datetime:
        return self.clock().astimezone(timezone.utc).replace(microsecond=0)

    # -- set-up --------------------------------------------------------------------------
    def add_company(self, name: str) -> dict:
        with self.lock:
            company: dict[str, Any] = {"id": next(self._ids), "name": name}
            self.companies[company["id"]] = company
            return copy.deepcopy(company)

    def add_contact(self, name: str, email: str, *, company_id: int | None = None,
                    language: str = "en", phone: str | None = None, time_zone: str | None = None) -> dict:
        """A contact as "View a Contact" shows it. ``time_zone`` is a Rails zone name
        ("Chennai"), as Freshdesk keeps it; without one the help desk's own
        (:attr:`time_zone`), as Freshdesk gives every contact "the time zone of the domain"."""
        with self.lock:
            now = format_time(self.now())
            contact: dict[str, Any] = {
                "active": True, "address": None, "company_id": company_id, "view_all_tickets": False,
                "description": None, "email": email, "id": next(self._ids), "job_title": None,
                "language": language, "mobile": None, "name": name, "phone": phone,
                "time_zone": time_zone or self.time_zone, "twitter_id": None, "facebook_id": None,
                "unique_external_id": None, "other_emails": [], "other_companies": [], "custom_fields": {},
                "tags": [], "avatar": None, "created_at": now, "updated_at": now}
            self.contacts[contact["id"]] = contact
            return copy.deepcopy(contact)

    def add_agent(self, name: str, email: str, *, api_key: str | None = None) -> dict:
        with self.lock:
            agent_id = next(self._ids)
            now = format_time(self.now())
            agent = {"id": agent_id, "available": True, "occasional": False, "signature": None,
                     "ticket_scope": 1, "created_at": now, "updated_at": now,
                     "contact": {"active": True, "email": email, "name": name, "language": "en",
                                 "job_title": None, "mobile": None, "phone": None, "time_zone": self.time_zone}}
            self.agents[agent_id] = agent
            if api_key:
                self.api_keys[api_key] = ("agent", agent_id)
            return copy.deepcopy(agent)

    def add_group(self, name: str, agent_ids: list[int]) -> dict:
        with self.lock:
            group: dict[str, Any] = {"id": next(self._ids), "name": name, "description": None, "agent_ids": list(agent_ids)}
            self.groups[group["id"]] = group
            return copy.deepcopy(group)

    # -- tickets -------------------------------------------------------------------------
    def _bump(self, ticket: dict, moment: datetime | None = None) -> None:
        moment = moment or self.now()
        previous = datetime.fromisoformat(ticket["updated_at"].replace("Z", "+00:00")) if ticket.get("updated_at") else None
        if previous is not None and moment <= previous:
            moment = previous + timedelta(seconds=1)  # every write moves updated_at
        ticket["updated_at"] = format_time(moment)
        self.hooks.ticket_changed(ticket, created=previous is None)

    def _validate(self, spec: dict, allowed: frozenset[str]) -> dict:
        errors = unexpected_fields(key for key in spec if key not in allowed)
        if "status" in spec and spec["status"] not in STATUSES:
            errors.append(("status", "It should be one of these values: '2,3,4,5'", "invalid_value"))
        if "priority" in spec and spec["priority"] not in PRIORITIES:
            errors.append(("priority", "It should be one of these values: '1,2,3,4'", "invalid_value"))
        if "tags" in spec and (not isinstance(spec["tags"], list)
                               or not all(isinstance(t, str) for t in spec["tags"])):
            errors.append(("tags", "It should be a/an Array", "datatype_mismatch"))
        if "custom_fields" in spec:
            fields = spec["custom_fields"]
            if not isinstance(fields, dict):
                errors.append(("custom_fields", "It should be a/an key/value pair", "datatype_mismatch"))
            else:
                errors += unexpected_fields(name for name in fields if name not in self.custom_field_names)
        if errors:
            raise validation_failed(*errors)
        return spec

    def create_ticket(self, spec: dict, *, at: datetime | None = None) -> dict:
        with self.lock:
            self._validate(spec, TICKET_CREATE_FIELDS)
            missing = [(f, "It should not be blank as this is a mandatory field", "missing_field")
                       for f in ("subject", "description", "status", "priority") if f not in spec]
            if "email" not in spec and "requester_id" not in spec:
                missing.append(("requester_id", "Please fill at least 1 of requester_id, phone, email, "
                                "twitter_id, facebook_id, unique_external_id fields", "missing_field"))
            if missing:
                raise validation_failed(*missing)
            requester_id = spec.get("requester_id")
            if requester_id is None:
                found = [c for c in self.contacts.values() if c["email"].lower() == str(spec["email"]).lower()]
                requester_id = found[0]["id"] if found else self.add_contact(
                    str(spec.get("name") or spec["email"]), str(spec["email"]))["id"]
            elif requester_id not in self.contacts:
                raise validation_failed(("requester_id", "There is no contact matching the given requester_id",
                                         "invalid_value"))
            moment = at or self.now()
            ticket_id = next(self._ticket_ids)
            description = str(spec["description"])
            ticket = {
                "id": ticket_id, "subject": str(spec["subject"]), "description": description,
                "description_text": html_to_text(description), "status": spec["status"],
                "priority": spec["priority"], "source": spec.get("source", 2), "type": spec.get("type"),
                "requester_id": requester_id, "responder_id": spec.get("responder_id"),
                "group_id": spec.get("group_id"),
                "company_id": spec.get("company_id", self.contacts[requester_id].get("company_id")),
                "product_id": None, "email_config_id": None, "cc_emails": [], "fwd_emails": [],
                "reply_cc_emails": [], "to_emails": None, "spam": False, "is_escalated": False,
                "fr_escalated": False, "association_type": None,
                "tags": list(spec.get("tags") or []),
                "custom_fields": {name: None for name in self.custom_field_names},
                "created_at": format_time(moment), "updated_at": None,
                "due_by": format_time(moment + timedelta(days=3)),
                "fr_due_by": format_time(moment + timedelta(days=1)), "attachments": [],
            }
            ticket["custom_fields"].update(spec.get("custom_fields") or {})
            self._bump(ticket, moment)
            self.tickets[ticket_id] = ticket
            self.conversations[ticket_id] = []
            return copy.deepcopy(ticket)

    def update_ticket(self, ticket_id: int, spec: dict) -> dict:
        with self.lock:
            ticket = self.tickets.get(ticket_id)
            if ticket is None:
                raise not_found()
            self._validate(spec, TICKET_UPDATE_FIELDS)
            for key, value in spec.items():
                if key == "custom_fields":
                    ticket["custom_fields"].update(value)
                elif key == "tags":
                    ticket["tags"] = list(dict.fromkeys(value))  # the list replaces the old one
                elif key == "description":
                    ticket["description"], ticket["description_text"] = value, html_to_text(value)
                else:
                    ticket[key] = value
            self._bump(ticket)
            return copy.deepcopy(ticket)

    def add_conversation(self, ticket_id: int, body: str, *, user_id: int, private: bool,
                         incoming: bool = False, source: int = SOURCE_NOTE, at: datetime | None = None) -> dict:
        with self.lock:
            ticket = self.tickets.get(ticket_id)
            if ticket is None:
                raise not_found()
            if not isinstance(body, str) or not body.strip():
                raise validation_failed(("body", "It should not be blank as this is a mandatory field",
                                         "missing_field"))
            moment = at or self.now()
            markup = body if body.lstrip().startswith("<") else text_to_html(body)
            requester = self.contacts.get(ticket["requester_id"]) or {}
            conversation = {
                "id": next(self._conversation_ids), "body": markup, "body_text": html_to_text(markup),
                "incoming": incoming, "private": private, "user_id": user_id,
                "support_email": None if private else "support@example.com",
                "source": source, "category": 2 if source == SOURCE_NOTE else 3,
                "ticket_id": ticket_id,
                "to_emails": [] if private or incoming else [requester.get("email")],
                "from_email": requester.get("email") if incoming else (None if private else "support@example.com"),
                "cc_emails": [], "bcc_emails": None, "attachments": [],
                "created_at": format_time(moment), "updated_at": format_time(moment),
            }
            self.conversations[ticket_id].append(conversation)
            if source == SOURCE_REPLY and not incoming and not private:
                self.outbox.append({"to": requester.get("email"), "ticket_id": ticket_id,
                                    "body_text": conversation["body_text"]})
            self._bump(ticket, moment)
            return copy.deepcopy(conversation)

    # -- accessors for tests -----------------------------------------------------------------
    def ticket(self, ticket_id: int) -> dict:
        with self.lock:
            return copy.deepcopy(self.tickets[ticket_id])

    def conversations_of(self, ticket_id: int) -> list[dict]:
        with self.lock:
            return copy.deepcopy(self.conversations[ticket_id])

    def agent_by_email(self, email: str) -> dict:
        with self.lock:
            for agent in self.agents.values():
                if agent["contact"]["email"].lower() == email.lower():
                    return copy.deepcopy(agent)
        raise KeyError(email)

    # -- the demo help desk ------------------------------------------------------------------
    def seed_demo(self) -> None:
        """The demo account. Ticket 1 has customer PII and a private note with a Sentry link;
        ticket 2 is an ``[Emergency]``; ticket 3 is resolved."""
        with self.lock:
            self.reset()
            now = self.now()
            self.custom_field_names = ["cf_category", "cf_impacted_device_id", "cf_operating_system", "cf_jira_key"]
            bridge = self.add_agent("Bridge Integration", DEMO_CREDENTIALS["email"], api_key=DEMO_CREDENTIALS["api_key"])
            erin = self.add_agent("Erin Escalation", "erin@example.com")
            frank = self.add_agent("Frank Frontline", "frank@example.com")
            self.add_group("Escalations", [bridge["id"], erin["id"]])
            self.add_group("Support", [bridge["id"], frank["id"]])
            acme = self.add_company("Acme Corp")
            initech = self.add_company("Initech")
            alice = self.add_contact("Alice Adams", "alice.adams@acme.example", company_id=acme["id"],
                                     phone="+1 415 555 0100", time_zone="Pacific Time (US & Canada)")
            bob = self.add_contact("Bob Brown", "bob.brown@acme.example", company_id=acme["id"])
            ian = self.add_contact("Ian Ito", "ian.ito@initech.example", company_id=initech["id"])
            self.api_keys[DEMO_CONTACT_API_KEY] = ("contact", alice["id"])

            def ticket(subject: str, requester: dict, description: str, days_ago: float, *,
                       priority: int, status: int = OPEN, tags=(), fields: dict | None = None,
                       conversation=()) -> dict:
                start = now - timedelta(days=days_ago)
                created = self.create_ticket({
                    "subject": subject, "description": text_to_html(description), "status": status,
                    "priority": priority, "requester_id": requester["id"], "tags": list(tags),
                    "custom_fields": fields or {}, "source": 1,
                }, at=start)
                for step, (who, body, private, incoming) in enumerate(conversation, start=1):
                    self.add_conversation(created["id"], text_to_html(body), user_id=who["id"], private=private,
                                          incoming=incoming, source=SOURCE_NOTE if private else SOURCE_REPLY,
                                          at=start + timedelta(hours=2 * step))
                return created

            ticket("Export to CSV crashes the app", alice,
                   "Hi, every time I click Export > CSV in the reports view the desktop app closes without any "
                   "message. Please call me back on +1 415 555 0100 or write to alice.adams@acme.example.",
                   3, priority=3, tags=["csv", "crash"],
                   fields={"cf_category": "Bug", "cf_impacted_device_id": "WS-4471-ACME",
                           "cf_operating_system": "Windows 11"},
                   conversation=[
                       (frank, "Hi Alice, thanks for reporting this. Which version are you on?", False, False),
                       (alice, "Version 5.2.1 on Windows 11. My colleague bob.brown@acme.example sees it too.",
                        False, True),
                       (erin, "Internal: this matches Sentry https://acme.sentry.io/issues/4505/ (BACKEND-1A2), "
                              "NoneType in the CSV writer. Escalating.", True, False),
                   ])
            ticket("[Emergency] Payments failing for all users", bob,
                   "Since 09:40 UTC no customer can pay: every checkout ends with 'payment declined'.",
                   0.1, priority=4, tags=["payments", "emergency"], fields={"cf_category": "Incident"},
                   conversation=[(erin, "Hi Bob, we are on it and will update you within the hour.", False, False)])
            ticket("How do I reset my password?", ian, "I forgot my password and the reset e-mail never arrives.",
                   10, priority=1, status=RESOLVED, tags=["password"], fields={"cf_category": "Question"},
                   conversation=[(frank, "I have re-sent the reset link; please check your spam folder.", False, False)])
            self.outbox.clear()  # the seeded history was "sent" before the demo began


# -- the Flask app ---------------------------------------------------------------------------
