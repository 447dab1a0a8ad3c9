"""Verifying and reading vendors' webhooks: one module per source, all pure.

Each source module offers ``verify(request, secret, *, now, window)`` (raises
:class:`Refused` when the vendor's signature, timestamp or shared secret is wrong) and
``parse(request)`` (returns the :class:`Delivery` — what to look at, never the data to act
on — or ``None`` for an event the bridge has no use for; raises :class:`Refused` for a
malformed body). Nothing here touches the network, the store or the clock.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SOURCES", "Delivery", "Refused", "WebhookRequest", "body_digest", "constant_time_equal", "event_name",
           "identifier", "json_body", "module_for"]

#: The sources, in the order `bridge doctor` lists them; each is a module of this package.
SOURCES = ("jira", "zendesk", "sentry", "freshdesk", "django-helpdesk")


@dataclass(frozen=True)
class WebhookRequest:
    """What a verifier may look at: the headers (case-insensitive) and the raw body."""

    headers: Mapping[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return None


@dataclass(frozen=True)
class Delivery:
    """An accepted delivery: which source, its id (for dedupe), the event, and the pointer.

    ``subject`` holds identifiers only (``jira_issue_id``, ``jira_key``, ``ticket``,
    ``sentry_issue_id``, ``version``...): no text of the body, so neither customer data nor
    anything forged reaches the store or the customer through it.
    """

    source: str
    delivery_id: str
    event: str
    subject: dict[str, Any] = field(default_factory=dict)
    #: The vendor's own id for the delivery when it is not signed (Sentry's ``Request-ID``,
    #: Zendesk's invocation id): for the log only. Anyone can send a fresh one with a
    #: captured body, so it never keys the inbox.
    label: str | None = None


class Refused(Exception):
    """A delivery refused with ``status``; ``outcome`` labels it in the metrics."""

    def __init__(self, status: int, outcome: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.outcome = outcome
        self.message = message


def constant_time_equal(given: str | bytes | None, expected: str | bytes) -> bool:
    """Compare a presented secret or signature with the expected one without a timing leak."""
    if given is None:
        return False
    a = given.encode() if isinstance(given, str) else given
    b = expected.encode() if isinstance(expected, str) else expected
    return hmac.compare_digest(a, b)


def body_digest(*parts: bytes) -> str:
    """A delivery id for sources that send none: SHA-256 of what was signed."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return "sha256:" + digest.hexdigest()


def json_body(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or :class:`Refused` 400.

    Nesting deeper than the interpreter's recursion limit (``[[[…]]]`` well under the size
    limit) is refused like any other malformed body: a 500 would have the vendor retry a
    body that can never be read."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise Refused(400, "malformed", "the body is not JSON") from None
    except RecursionError:
        raise Refused(400, "malformed", "the body's JSON is nested too deeply") from None
    if not isinstance(data, dict):
        raise Refused(400, "malformed", "the body is not a JSON object")
    return data


def identifier(value: Any, what: str) -> str:
    """An id from the body as text: digits or a short token, or :class:`Refused` 400."""
    if isinstance(value, bool) or value is None:
        raise Refused(400, "malformed", f"{what} is missing")
    text = str(value).strip()
    if not text or len(text) > 64 or not all(c.isalnum() or c in "-_." for c in text):
        raise Refused(400, "malformed", f"{what} is not an identifier")
    return text


#: What an event name may hold: a vendor's names are short ASCII words (``ticket.created``,
#: ``trigger:escalate``). Anything else — a lone surrogate that the store cannot encode, a
#: control character that would forge a log line — is refused rather than stored.
_EVENT_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,40}")


def event_name(value: str, what: str) -> str:
    """An event name from the body, or :class:`Refused` 400 (see :data:`_EVENT_NAME`)."""
    if not _EVENT_NAME.fullmatch(value):
        raise Refused(400, "malformed", f"{what} is not an event name (letters, digits, '_.:-', at most 40)")
    return value


def hmac_sha256(secret: str, message: bytes) -> bytes:
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()


def require_body_signature(request: WebhookRequest, header: str, expected: str) -> None:
    """Refuse (401) a request whose ``header`` is missing or differs from ``expected``, the hex
    signature of its body (compared in constant time, whatever the hex digits' case)."""
    given = request.header(header)
    if not given:
        raise Refused(401, "unsigned", f"{header} is missing")
    if not constant_time_equal(given.strip().lower(), expected):
        raise Refused(401, "bad_signature", f"{header} does not match the body")


def module_for(source: str):
    """The module that verifies and parses ``source`` (one of :data:`SOURCES`)."""
    import importlib

    if source not in SOURCES:
        raise KeyError(source)
    return importlib.import_module(f"{__name__}.{source.replace('-', '_')}")
