"""django-helpdesk (2.6.x) REST API as a :class:`~bridge.connectors.base.Helpdesk`.

The API lives under ``/api/`` (``tickets``, ``followups``) and answers only ``is_staff``
users. The bridge authenticates with a DRF token (``Authorization: Token …``): basic auth
works too, but django-helpdesk re-hashes the password (PBKDF2) on every request, about
360 ms each.

Reading: ``GET /api/tickets/{id}/`` returns the ticket with its whole ``followup_set``
(``/api/followups/?ticket=`` ignores the filter, so it is not used). The first follow-up
("Ticket Opened") holds the customer's description and is the first comment; later ones
are the customer's when they came in by e-mail (they carry its ``message_id``), as
django-helpdesk's ``FollowUp.is_from_submitter`` decides (a follow-up with no user may be
its own, e.g. ``escalate_tickets``' "Ticket escalated after N days"). Statuses are
1 Open, 2 Reopened, 3 Resolved, 4 Closed, 5 Duplicate, normalised to open, open, solved,
closed, closed; an open ticket ``on_hold`` reads as ``hold``. Custom fields appear as
``custom_<name>`` and are returned under ``<name>``. The API exposes no creation time, so
``created`` is the date of the first follow-up.

Writing: a comment is a follow-up (``POST /api/followups/``); ``public: false`` (the
default) is an internal note, ``public: true`` e-mails the submitter. A status change
travels on a follow-up's ``new_status`` so django-helpdesk writes its audit entry and sends
the resolution e-mail as it does for its own agents. The bridge never sends ``title`` on a
follow-up: django-helpdesk renames the ticket to it. Follow-up text is rendered as a Django
template with the ticket in its context (``{{ ticket.submitter_email }}`` would be filled
in), so ``{{``, ``{%``, ``{#`` (and ``%}``, which django-helpdesk rewrites itself) are broken up with an invisible WORD JOINER before
sending (and the joiner removed again when reading). ``hold`` / ``pending`` set ``on_hold``
(django-helpdesk has no waiting state); custom fields are set with ``PATCH
/api/tickets/{id}/``.

Tags and markers: django-helpdesk tickets have no tags. The tag changes of a write travel
inside the follow-up's text as an invisible marker run (:mod:`bridge.connectors.markers`),
so the marker and the message it marks are one write; ``get_ticket`` replays the runs of
all follow-ups into ``Ticket.tags``. A write with tags but no comment adds a short internal
note carrying them.

Concurrency: django-helpdesk has no conditional update. ``Ticket.version`` is a digest of
the ticket as the API shows it (status, fields, follow-ups); with ``if_version`` the
connector re-reads the ticket and raises :class:`Conflict` when the digest moved. A change
landing between that read and the write is not detected: the window is one round trip, and
for the bridge's own messages the marker re-read on the next run still prevents a repeat.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import Any

import requests

from bridge.connectors import markers
from bridge.connectors.base import Conflict, Helpdesk, TicketWrite
from bridge.connectors.http import answer_shape, api_json, build_session, send
from bridge.errors import CredentialsRefused, InvalidValue, ServiceRejected, UnknownTicket, shown
from bridge.models import Comment, Ticket

SERVICE = "django-helpdesk"

OPEN, REOPENED, RESOLVED, CLOSED, DUPLICATE = 1, 2, 3, 4, 5
STATUS_NAMES = {OPEN: "open", REOPENED: "open", RESOLVED: "solved", CLOSED: "closed", DUPLICATE: "closed"}
#: django-helpdesk priorities 1 Critical … 5 Very Low, in the names the mappings use.
PRIORITY_NAMES = {1: "urgent", 2: "high", 3: "normal", 4: "low", 5: "low"}

_WORD_JOINER = "\u2060"
# Openers ({{ {% {#) start Django template syntax; django-helpdesk also rewrites every %}
# itself (wrapping {% … %} in verbatim), so a lone %} in our text would break its template.
_TEMPLATE_SYNTAX = re.compile(r"(?<=\{)(?=[{%#])|(?<=%)(?=\})")
_NEUTRALISED = re.compile(r"(?<=\{)" + _WORD_JOINER + r"(?=[{%#])|(?<=%)" + _WORD_JOINER + r"(?=\})")
#: The internal note that carries tag changes when a write has no comment.
TAGS_NOTE = "Tags changed by the bridge: {ops}"


def neutralise_template(text: str) -> str:
    """``text`` with every ``{{``, ``{%``, ``{#`` and ``%}`` broken up so Django renders it as written."""
    return _TEMPLATE_SYNTAX.sub(_WORD_JOINER, text)


def restore_template(text: str) -> str:
    """The inverse of :func:`neutralise_template`."""
    return _NEUTRALISED.sub("", text)


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _conversation_order(followup: dict) -> tuple[float, int]:
    """django-helpdesk's own order (by ``date``, then id): by the time, not the date's text.

    Its API writes "…T10:00:00Z" for a date on a whole second and "…T10:00:00.4Z" otherwise,
    and a server's local offset changes with summer time, so the text sorts wrong; sync finds
    new customer messages by their place after the last processed one."""
    when = _parse_time(followup.get("date"))
    # A timestamp, so a date without an offset (a server with USE_TZ = False) sorts too; one
    # without a date sorts first, as its empty text did.
    return (when.timestamp() if when else float("-inf"), int(followup["id"]))


def _version(raw: dict) -> str:
    canonical = json.dumps(raw, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


class DjangoHelpdesk(Helpdesk):
    """django-helpdesk over a requests session with a configurable base URL and a DRF token."""

    kind = "django-helpdesk"
    service = SERVICE

    def __init__(self, base_url: str, *, token: str, gate, session: requests.Session | None = None,
                 timeout: float = 30.0, retries: int = 3) -> None:
        super().__init__(gate)
        self.base_url = base_url.rstrip("/")
        self._session = session or build_session(timeout=timeout, retries=retries)
        self._session.headers["Authorization"] = f"Token {token}"
        self._last: requests.Response | None = None  # the last ticket read, for error messages

    # -- reading ---------------------------------------------------------------------
    def validate_ticket_id(self, ticket_id: str) -> str:
        text = str(ticket_id).strip().lstrip("#")
        # Accept the queue-prefixed form django-helpdesk prints in e-mails ("BR-12").
        # re.ASCII: \d would also take other scripts' digits ("٣"), which int() reads.
        match = re.fullmatch(r"(?:[A-Za-z0-9_-]+-)?(\d{1,18})", text, re.ASCII)
        if not match or int(match.group(1)) == 0:
            raise InvalidValue(f"{shown(ticket_id)} is not a django-helpdesk ticket id",
                               hint="django-helpdesk ticket ids are whole numbers, e.g. 12 (or QUEUE-12)")
        return str(int(match.group(1)))

    def ticket_url(self, ticket_id: str) -> str:
        return f"{self.base_url}/tickets/{ticket_id}/"

    def _raw_ticket(self, ticket_id: str) -> dict:
        response = send(self._session, SERVICE, "GET", f"{self.base_url}/api/tickets/{ticket_id}/",
                        what=f"reading ticket {ticket_id}", allow=(404,))
        if response.status_code == 404:
            raise UnknownTicket(ticket_id, SERVICE)
        self._last = response
        return api_json(SERVICE, response, require=("id",))

    def get_ticket(self, ticket_id: str) -> Ticket:
        ticket_id = self.validate_ticket_id(ticket_id)
        raw = self._raw_ticket(ticket_id)
        with answer_shape(SERVICE, self._last):
            return self._to_ticket(ticket_id, raw)

    def _to_ticket(self, ticket_id: str, raw: dict) -> Ticket:
        followups = sorted(raw.get("followup_set") or [], key=_conversation_order)
        tags: tuple[str, ...] = ()
        comments: list[Comment] = []
        submitter = raw.get("submitter_email") or None
        description = raw.get("description") or ""
        for index, followup in enumerate(followups):
            text, ops = markers.split(followup.get("comment") or "")
            # The first follow-up ("Ticket Opened") carries the customer's description,
            # whoever filed it. After it, django-helpdesk's own rule (FollowUp.is_from_submitter):
            # a follow-up that came in by e-mail carries its Message-ID. "No user" is not
            # enough: its escalate_tickets command writes public follow-ups with no user.
            by_customer = index == 0 or bool(followup.get("message_id"))
            if not by_customer and followup.get("user") is not None:
                # A customer's e-mail quotes the bridge's replies, marker runs and all (or
                # pastes one), and a user-less system follow-up is not ours either: only a
                # staff follow-up (the bridge writes as one) carries the bridge's tag changes.
                tags = markers.apply_tag_ops(tags, ops)
            text = restore_template(text)
            if not text.strip():
                continue  # a status change or a tags-only write: no conversation entry
            comments.append(Comment(
                id=str(followup["id"]),
                body=text,
                public=bool(followup.get("public")),
                author=(submitter or "customer") if by_customer else f"user {followup.get('user')}",
                author_email=submitter if by_customer else None,
                created=_parse_time(followup.get("date")),
                by_customer=by_customer,
            ))
        status = STATUS_NAMES.get(int(raw.get("status") or OPEN), "open")
        if status == "open" and raw.get("on_hold"):
            status = "hold"
        custom = {key.removeprefix("custom_"): (value if value != "" else None)
                  for key, value in raw.items() if key.startswith("custom_")}
        return Ticket(
            id=ticket_id,
            helpdesk=self.kind,
            subject=raw.get("title") or "",
            description=description,
            status=status,
            priority=PRIORITY_NAMES.get(raw.get("priority")),
            requester=submitter,
            requester_email=submitter,
            organization=None,  # django-helpdesk has no organizations
            tags=tags,
            custom_fields=custom,
            comments=tuple(comments),
            url=self.ticket_url(ticket_id),
            locale=None,
            created=_parse_time(followups[0].get("date")) if followups else None,
            updated=_parse_time(followups[-1].get("date")) if followups else None,
            version=_version(raw),
        )

    def user_groups(self, user: str) -> list[str]:
        # The API exposes no users or groups: restrict escalation with allowed_actors instead.
        return []

    def check(self) -> str:
        response = send(self._session, SERVICE, "GET", f"{self.base_url}/api/tickets/",
                        params={"page_size": 1}, what="checking credentials")
        if "results" not in api_json(SERVICE, response):
            raise CredentialsRefused(SERVICE, "the API did not answer as django-helpdesk's does")
        return "token user (staff)"

    # -- writing ---------------------------------------------------------------------
    def _apply(self, ticket_id: str, change: TicketWrite) -> None:
        ticket_id = self.validate_ticket_id(ticket_id)
        raw = self._raw_ticket(ticket_id)
        with answer_shape(SERVICE, self._last):
            version = _version(raw)
            current = int(raw.get("status") or OPEN)
        if change.if_version is not None and version != change.if_version:
            raise Conflict(f"ticket {ticket_id} changed since it was read")

        patch: dict[str, Any] = {}
        for name, value in change.fields.items():
            key = f"custom_{name}"
            if key not in raw:
                raise InvalidValue(f"django-helpdesk has no custom field {name!r}",
                                   hint="create it under Admin → Custom fields, or fix the mapping")
            patch[key] = "" if value is None else value
        new_status: int | None = None
        if change.status is not None:
            wanted = change.status
            if wanted not in ("new", "open", "pending", "hold", "solved", "closed"):
                raise InvalidValue(f"{wanted!r} is not a ticket status")
            hold = wanted in ("pending", "hold")
            if bool(raw.get("on_hold")) != hold:
                patch["on_hold"] = hold
            if wanted == "solved":
                new_status = RESOLVED
            elif wanted == "closed":
                new_status = CLOSED
            elif current not in (OPEN, REOPENED):
                new_status = REOPENED  # opening a resolved or closed ticket is a reopen
        if new_status == current:
            new_status = None
        if patch:
            # Fields first: if this fails nothing was said; the follow-up below carries the
            # marker, so it goes last.
            self._send_json("PATCH", f"/api/tickets/{ticket_id}/", patch, what=f"updating ticket {ticket_id}")

        ops = markers.tag_ops(change.add_tags, change.remove_tags)
        comment = change.comment
        public = change.public
        if comment is None and ops:
            comment, public = TAGS_NOTE.format(ops=" ".join(ops)), False
        if comment is None and new_status is None:
            return
        body: dict[str, Any] = {
            "ticket": int(ticket_id),
            "comment": neutralise_template(comment or "") + markers.encode(ops),
            "public": public,
        }
        if new_status is not None:
            body["new_status"] = new_status
        self._send_json("POST", "/api/followups/", body, what=f"adding a follow-up to ticket {ticket_id}")

    def _send_json(self, method: str, path: str, body: dict, *, what: str) -> dict:
        response = send(self._session, SERVICE, method, f"{self.base_url}{path}", json=body,
                        what=what, allow=(400, 404))
        if response.status_code == 404:
            raise UnknownTicket(str(body.get("ticket") or path.rstrip("/").rsplit("/", 1)[-1]), SERVICE)
        if response.status_code == 400:
            # DRF's validation errors: {"field": ["message", ...]}.
            try:
                errors = response.json()
            except ValueError:
                errors = {}
            detail = "; ".join(f"{k}: {' '.join(map(str, v)) if isinstance(v, list) else v}"
                               for k, v in errors.items()) if isinstance(errors, dict) else str(errors)
            raise ServiceRejected(SERVICE, 400, f"{what}: {detail or 'validation failed'}")
        return api_json(SERVICE, response) if response.content else {}
