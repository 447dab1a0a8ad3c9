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
* ``PUT /api/v2/tickets/update_many.json`` and ``POST /api/v2/tickets/create_many.json``
  answer a ``queued`` job (``/api/v2/job_statuses/{id}``) that a background worker takes
  (``working``, with ``progress``) and finishes (``completed``, one result per ticket);
  update_many is always a safe update (:mod:`zendesk_jobs`).
* Tags (``/tickets/{id}/tags.json``: show, set, add, remove) and audits
  (``/tickets/{id}/audits.json``, ``/ticket_audits.json``): a new ticket's audit has
  ``Create`` events, values (ids too) are strings as Zendesk sends them, comments carry
  ``html_body``, ``plain_body``, ``attachments`` and ``audit_id``; tickets carry
  ``custom_status_id``.
* ``X-Rate-Limit`` / ``X-Rate-Limit-Remaining`` on every answer; an unknown path answers
  404 ``InvalidEndpoint``, a missing record 404 ``RecordNotFound``.
* Outgoing webhooks: ``/api/v2/webhooks`` and ``/api/v2/triggers.json``; every ticket change
  is POSTed, signed as Zendesk signs, to event-subscribed webhooks and through matching
  triggers (:mod:`zendesk_webhooks`, :mod:`zendesk_triggers`).
* ``POST /api/v2/tickets.json`` honours ``Idempotency-Key`` (kept 2 h; ``x-idempotency-
  lookup: hit|miss``; the same key with another body answers 400).
* The incremental export (``/api/v2/incremental/tickets/cursor.json``) leaves out tickets
  changed in the last minute, as Zendesk does (``ZendeskState.export_skips_last_minute``).
* Search (``/api/v2/search.json``) understands the query subset in :mod:`zendesk_search`.

The emulator is split by what each part holds: :mod:`zendesk_format` (wire formats,
errors, cursors), :mod:`zendesk_state` (the data and Zendesk's rules),
:mod:`zendesk_changes` (validating and applying ticket fields), :mod:`zendesk_demo` (the
seeded demo help desk), :mod:`zendesk_jobs` (bulk jobs), :mod:`zendesk_webhooks` and
:mod:`zendesk_triggers` (outgoing webhooks), :mod:`zendesk_app` (the Flask app) and its
``zendesk_routes_*`` modules. This module is the entry point: it re-exports their public names and
:func:`start` serves a seeded emulator.
"""

from __future__ import annotations

from bridge.sandbox.server import Knobs, ServiceThread, start_emulator
from bridge.sandbox.zendesk_app import ZENDESK_VENDOR, ZendeskApi, create_app
from bridge.sandbox.zendesk_demo import (
    DEMO_CREDENTIALS,
    DEMO_END_USER_OAUTH_TOKEN,
    FIELD_CATEGORY,
    FIELD_DEVICE,
    FIELD_JIRA_KEY,
    FIELD_OS,
)
from bridge.sandbox.zendesk_format import (
    ACCOUNT_RATE_LIMIT,
    CONFLICT_BODY,
    DEFAULT_CUSTOM_STATUSES,
    EXPORT_QUIET_PERIOD,
    FORBIDDEN_BODY,
    IDEMPOTENCY_TTL,
    INVALID_ENDPOINT_BODY,
    NOT_FOUND_BODY,
    PRIORITIES,
    RATE_LIMITED_TEXT,
    STATUSES,
    TICKET_TYPES,
    UPDATE_MANY_LIMIT,
    ZendeskError,
    bad_request,
    body_to_html,
    decode_cursor,
    encode_cursor,
    format_time,
    html_to_text,
    invalid,
    normalise_tags,
    not_found,
    parse_time,
)
from bridge.sandbox.zendesk_state import ZendeskState
from bridge.sandbox.zendesk_webhooks import WebhookHub, sign

__all__ = [
    "ACCOUNT_RATE_LIMIT", "CONFLICT_BODY", "DEFAULT_CUSTOM_STATUSES", "DEMO_CREDENTIALS",
    "DEMO_END_USER_OAUTH_TOKEN", "EXPORT_QUIET_PERIOD", "FIELD_CATEGORY", "FIELD_DEVICE",
    "FIELD_JIRA_KEY", "FIELD_OS", "FORBIDDEN_BODY", "IDEMPOTENCY_TTL", "INVALID_ENDPOINT_BODY",
    "NOT_FOUND_BODY", "PRIORITIES", "RATE_LIMITED_TEXT", "STATUSES", "TICKET_TYPES",
    "UPDATE_MANY_LIMIT", "WebhookHub", "ZENDESK_VENDOR", "ZendeskApi", "ZendeskError",
    "ZendeskState", "bad_request", "body_to_html", "create_app", "decode_cursor",
    "encode_cursor", "format_time", "html_to_text", "invalid", "normalise_tags", "not_found",
    "parse_time", "sign", "start",
]


def start(port: int = 0, seed: bool = True, knobs: Knobs | None = None) -> tuple[ServiceThread, ZendeskState]:
    """Serve a (demo-seeded) Zendesk on 127.0.0.1:``port`` from a daemon thread."""
    return start_emulator(ZendeskState(), create_app, port=port, seed=seed, knobs=knobs)
