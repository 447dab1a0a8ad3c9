"""Zendesk's wire formats, shared by the emulator's state and its HTTP layer.

Constants of the API (statuses, limits, error bodies), the error answer
(:class:`ZendeskError` and the 400 / 404 / 422 shapes), Zendesk's timestamp format, the
opaque pagination cursors, comment bodies (plain text <-> ``html_body``) and tag
normalisation. Nothing here holds state.
"""

from __future__ import annotations

import base64
import binascii
import copy
import html
import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

from flask import Response

from bridge.sandbox import zendesk_search

STATUSES = zendesk_search.STATUS_ORDER
PRIORITIES = zendesk_search.PRIORITY_ORDER
TICKET_TYPES = ("problem", "incident", "question", "task")
#: Most tickets ``update_many`` takes in one call.
UPDATE_MANY_LIMIT = 100
#: How long Zendesk remembers an ``Idempotency-Key``.
IDEMPOTENCY_TTL = timedelta(hours=2)
#: The incremental export never returns tickets changed more recently than this.
EXPORT_QUIET_PERIOD = timedelta(minutes=1)
#: The account's default custom ticket status for each status category (every account has
#: one per category; ``custom_status_id`` follows ``status``). Closed tickets keep solved's.
DEFAULT_CUSTOM_STATUSES = {"new": 35001, "open": 35002, "pending": 35003, "hold": 35004, "solved": 35005}
#: Requests per minute the account's plan allows (Enterprise), announced in ``X-Rate-Limit``.
ACCOUNT_RATE_LIMIT = 700

FORBIDDEN_BODY = {
    "error": "Forbidden",
    "description": "You do not have access to this page. Please contact the account owner "
                   "of this help desk for further help.",
}
#: A record that does not exist (a deleted ticket, an unknown id).
NOT_FOUND_BODY = {"error": "RecordNotFound", "description": "Not found"}
#: A path Zendesk does not serve at all: a client can tell a missing feature from a missing record.
INVALID_ENDPOINT_BODY = {"error": "InvalidEndpoint", "description": "Not found"}
CONFLICT_BODY = {
    "error": "UpdateConflict",
    "description": "Safe Update prevented the update due to outdated ticket data. "
                   "Please fetch the latest ticket data and try again.",
}
RATE_LIMITED_TEXT = "Number of allowed API requests per minute exceeded"


def utcnow() -> datetime:
    """The current time, timezone-aware (the state's default clock)."""
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
        """This error as a Flask response."""
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
    """A 400 in Zendesk's ``{"error", "description"}`` shape."""
    return ZendeskError(400, {"error": error, "description": description})


def not_found() -> ZendeskError:
    """A 404 for a record that does not exist (``RecordNotFound``)."""
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


def plain_copy(value: Any) -> Any:
    """A deep copy of a JSON-shaped record (dicts, lists, strings, numbers), made for an
    answer or a listener: its dicts and lists are new, its immutable leaves are shared.
    ``copy.deepcopy`` does the same at about four times the cost (its memo and dispatch),
    which the emulator paid for every ticket of every bulk answer. Anything else in a
    record is deep-copied as before."""
    kind = type(value)
    if kind is dict:
        return {key: plain_copy(item) for key, item in value.items()}
    if kind is list:
        return [plain_copy(item) for item in value]
    if kind in (str, int, float, bool) or value is None:
        return value
    return copy.deepcopy(value)
