"""Outgoing webhooks of the JIRA emulator: registrations, Jira's payload shapes, and the admin API.

Registrations are Jira's admin webhooks (Data Center ``/rest/webhooks/1.0/webhook``, the same
path Cloud keeps for admin webhooks): ``name``, ``url``, ``events``, ``filters`` (a JQL under
``issue-related-events-section`` that issue and comment events must match), ``excludeBody``
(POST with an empty body) and a ``secret`` (signs with ``X-Hub-Signature``; never answered
back). Only Jira administrators may manage them, as in Jira. ``${issue.key}``, ``${issue.id}``,
``${project.key}`` and ``${project.id}`` in a URL are filled in per event.

On every change the state calls the :class:`WebhookHub`, which renders Jira's payload once
(``timestamp`` in ms, ``webhookEvent``, and ``issue`` + ``changelog`` / ``comment`` + ``issue``
/ ``version`` / ``issueLink``) and hands one :class:`JiraDelivery` per matching registration to
the shared :class:`~bridge.sandbox.webhook_delivery.Dispatcher`, which sends from its own thread.
Each :class:`JiraDelivery` carries Jira's headers: ``X-Hub-Signature: sha256=<hex
HMAC-SHA256(secret, raw body)>`` with a registration secret (Jira Data Center 10 and Cloud
admin webhooks), ``X-Atlassian-Webhook-Identifier`` (the same on every retry and duplicate)
and ``X-Atlassian-Webhook-Retry: N`` on the N-th retry only.

The HTTP side (the registration API and the test controls) is in
:mod:`bridge.sandbox.jira_routes_webhooks`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from bridge.sandbox import jql
from bridge.sandbox.jira_catalog import JiraUser
from bridge.sandbox.jira_records import LINK_TYPE_BY_ID, JiraError
from bridge.sandbox.jira_render import (
    View, comment_json, issue_json, select_fields, user_json, version_json,
)
from bridge.sandbox.jira_search import JiraJqlSchema, document
from bridge.sandbox.webhook_delivery import Delivery, Dispatcher

if TYPE_CHECKING:
    from bridge.sandbox.jira_records import CommentRecord, IssueRecord, LinkRecord, VersionRecord
    from bridge.sandbox.jira_state import JiraState

#: Events a registration may subscribe to (the ones the emulator fires).
EVENTS = (
    "jira:issue_created", "jira:issue_updated", "jira:issue_deleted",
    "comment_created", "comment_updated", "comment_deleted",
    "jira:version_created", "jira:version_updated", "jira:version_released", "jira:version_unreleased",
    "jira:version_deleted", "issuelink_created", "issuelink_deleted",
)
ISSUE_FILTER = "issue-related-events-section"
#: Fields of the issue inside comment events (Cloud sends this short form there).
COMMENT_ISSUE_FIELDS = ["summary", "issuetype", "project", "assignee", "priority", "status"]
#: ``webhookEvent`` -> ``issue_event_type_name`` for issue events.
ISSUE_EVENT_TYPES = {"jira:issue_created": "issue_created", "jira:issue_updated": "issue_generic",
                     "jira:issue_deleted": "issue_deleted"}
USER_AGENT = "Atlassian Webhook HTTP Client"


def signature(secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature`` value Jira sends for ``body`` signed with ``secret``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class JiraDelivery(Delivery):
    """One event for one registration, with Jira's headers."""

    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json; charset=UTF-8", "User-Agent": USER_AGENT,
                   "X-Atlassian-Webhook-Identifier": self.identifier}
        if self.attempt:
            headers["X-Atlassian-Webhook-Retry"] = str(self.attempt)
        if self.secret:
            headers["X-Hub-Signature"] = signature(self.secret, self.body)
        return headers


@dataclass
class Registration:
    """One admin webhook."""

    id: int
    name: str
    url: str
    events: list[str]
    jql_filter: str
    exclude_body: bool
    secret: str | None
    enabled: bool
    owner: str  # user key of whoever registered it (filters are run as them)
    updated_ms: int


class WebhookHub:
    """The registrations of one emulated site and the entry point for its change events."""

    def __init__(self, state: "JiraState") -> None:
        self.state = state
        self.dispatcher = Dispatcher("sandbox-jira-webhooks")
        self.registrations: dict[int, Registration] = {}
        self._next_id = 1
        self._lock = threading.RLock()

    def reset(self) -> None:
        with self._lock:
            self.registrations.clear()
            self._next_id = 1
        self.dispatcher.reset()

    # -- registrations ------------------------------------------------------------------
    def register(self, payload: Any, user: JiraUser, existing: Registration | None = None) -> Registration:
        """Validate a registration body (Jira's field names) and store it."""
        if not isinstance(payload, dict):
            raise JiraError(400, ["Invalid request payload. Refer to the REST API documentation and try again."])
        errors: dict[str, str] = {}
        name = payload.get("name", existing.name if existing else None)
        if not isinstance(name, str) or not name.strip():
            errors["name"] = "Name must be provided."
        url = payload.get("url", existing.url if existing else None)
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            errors["url"] = "URL must be a valid absolute http or https URL."
        events = payload.get("events", existing.events if existing else [])
        if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
            errors["events"] = "Events must be a list of event names."
        else:
            unknown = [e for e in events if e not in EVENTS]
            if unknown:
                errors["events"] = f"Unknown webhook event: {unknown[0]}"
        filters = payload.get("filters", {ISSUE_FILTER: existing.jql_filter} if existing else {})
        jql_filter = ""
        if not isinstance(filters, dict):
            errors["filters"] = "Filters must be an object."
        else:
            jql_filter = filters.get(ISSUE_FILTER) or ""
            if not isinstance(jql_filter, str):
                errors["filters"] = "The JQL filter must be a string."
            elif jql_filter.strip():
                try:
                    self._compile(jql_filter, user)
                except jql.JqlError as exc:
                    errors["filters"] = str(exc)
        secret = payload.get("secret", existing.secret if existing else None)
        if secret is not None and not isinstance(secret, str):
            errors["secret"] = "The secret must be a string."
        for flag in ("excludeBody", "enabled"):
            if flag in payload and not isinstance(payload[flag], bool):
                errors[flag] = f"{flag} must be true or false."
        if errors:
            raise JiraError(400, [], errors)
        with self._lock:
            if existing is None:
                webhook_id, self._next_id = self._next_id, self._next_id + 1
            else:
                webhook_id = existing.id
            registration = Registration(
                id=webhook_id, name=name.strip(), url=url, events=list(events), jql_filter=jql_filter.strip(),
                exclude_body=payload.get("excludeBody", existing.exclude_body if existing else False),
                secret=secret or None, enabled=payload.get("enabled", existing.enabled if existing else True),
                owner=user.key, updated_ms=self._now_ms())
            self.registrations[webhook_id] = registration
            return registration

    def as_json(self, registration: Registration, base_url: str) -> dict[str, Any]:
        """Jira's answer for a registration (the secret is write-only)."""
        owner = self.state.users.get(registration.owner)
        return {
            "self": f"{base_url}/rest/webhooks/1.0/webhook/{registration.id}", "name": registration.name,
            "url": registration.url, "events": registration.events, "excludeBody": registration.exclude_body,
            "filters": {ISSUE_FILTER: registration.jql_filter}, "enabled": registration.enabled,
            "lastUpdatedUser": owner.key if owner else registration.owner,
            "lastUpdatedDisplayName": owner.display_name if owner else registration.owner,
            "lastUpdated": registration.updated_ms,
        }

    # -- events (called by the state, under its lock) -------------------------------------
    def issue_event(self, event: str, record: "IssueRecord", user: JiraUser, *,
                    changelog: Any = None) -> None:
        """``jira:issue_created`` / ``_updated`` (with the change group) / ``_deleted``."""
        targets = self._targets(event, record)
        if not targets:
            return
        view = self._view()
        payload: dict[str, Any] = {
            "timestamp": self._now_ms(), "webhookEvent": event,
            "issue_event_type_name": ISSUE_EVENT_TYPES[event], "user": user_json(user, view),
            "issue": issue_json(record, view, fields=select_fields(None, "*all")),
        }
        if changelog is not None:
            payload["changelog"] = {"id": changelog.id, "items": changelog.items}
        self._send(event, payload, targets, record)

    def comment_event(self, event: str, record: "IssueRecord", comment: "CommentRecord") -> None:
        """``comment_created`` / ``_updated`` / ``_deleted``: the comment and a short issue."""
        targets = self._targets(event, record)
        if not targets:
            return
        view = self._view()
        payload = {"timestamp": self._now_ms(), "webhookEvent": event,
                   "comment": comment_json(comment, record, view),
                   "issue": issue_json(record, view, fields=COMMENT_ISSUE_FIELDS)}
        self._send(event, payload, targets, record)

    def version_event(self, event: str, version: "VersionRecord") -> None:
        targets = self._targets(event, None)
        if targets:
            payload = {"timestamp": self._now_ms(), "webhookEvent": event,
                       "version": version_json(version, self._view())}
            self._send(event, payload, targets, None)

    def link_event(self, event: str, link: "LinkRecord") -> None:
        targets = self._targets(event, None)
        if not targets:
            return
        link_type = LINK_TYPE_BY_ID[link.type_id]
        payload = {"timestamp": self._now_ms(), "webhookEvent": event, "issueLink": {
            "id": int(link.id), "sourceIssueId": link.outward_id, "destinationIssueId": link.inward_id,
            "issueLinkType": {"id": int(link.type_id), "name": link_type.name, "outwardName": link_type.outward,
                              "inwardName": link_type.inward, "isSubTaskLinkType": False,
                              "isSystemLinkType": False},
            "systemLink": False}}
        self._send(event, payload, targets, None)

    # -- internals ----------------------------------------------------------------------
    def _targets(self, event: str, record: "IssueRecord | None") -> list[Registration]:
        with self._lock:
            candidates = [r for r in self.registrations.values() if r.enabled and event in r.events]
        if record is None:
            return candidates
        return [r for r in candidates if not r.jql_filter or self._matches(r, record)]

    def _matches(self, registration: Registration, record: "IssueRecord") -> bool:
        owner = self.state.users.get(registration.owner)
        if owner is None or self.state.projects[record.project_id].key not in owner.browse:
            return False
        try:
            return self._compile(registration.jql_filter, owner).matches(document(self.state, record))
        except jql.JqlError:
            return False  # a value the filter named is gone (e.g. a deleted version)

    def _compile(self, text: str, user: JiraUser) -> jql.CompiledQuery:
        ctx = jql.EvalContext(now=self.state.clock(), tz=self.state.user_tz(user), user=user.key)
        return jql.compile_query(text, JiraJqlSchema(self.state, user), ctx)

    def _view(self) -> View:
        return View(self.state, self.state.base_url, "2", None)

    def _now_ms(self) -> int:
        return int(self.state.clock().timestamp() * 1000)

    def _send(self, event: str, payload: dict, targets: list[Registration], record: "IssueRecord | None") -> None:
        body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        for registration in targets:
            self.dispatcher.submit(JiraDelivery(
                identifier=str(uuid.uuid4()), webhook_id=registration.id, event=event,
                url=self._url_for(registration.url, record), body=b"" if registration.exclude_body else body,
                secret=registration.secret))

    def _url_for(self, url: str, record: "IssueRecord | None") -> str:
        if record is None or "${" not in url:
            return url
        project = self.state.projects[record.project_id]
        for name, value in (("issue.key", record.key), ("issue.id", record.id),
                            ("project.key", project.key), ("project.id", project.id)):
            url = url.replace("${" + name + "}", str(value))
        return url
