"""An emulation of Sentry on loopback: the org-scoped issue API and event ingestion.

Two faces, one state:

* **The public API** the bridge's Sentry connector calls (bearer-token auth), following
  Sentry's OpenAPI document (``specs/sentry-api.json``) and documented behaviour:
  ``GET /api/0/organizations/{org}/issues/`` (default query ``is:unresolved``, default
  ``statsPeriod`` 14 days, ``Link`` header pagination with ``cursor="0:100:0"``),
  ``GET|PUT .../issues/{id}/`` (an id or a short id), ``.../issues/{id}/events/``,
  ``.../events/latest|oldest|recommended|{event_id}/``, ``.../shortids/{short_id}/``,
  ``.../projects/``. Errors are DRF-style ``{"detail": ...}`` bodies; rate-limit headers
  are ``X-Sentry-Rate-Limit-*``.
* **Ingestion** for the real ``sentry-sdk``: a DSN from :meth:`SentryState.dsn` makes the
  SDK post envelopes to ``/api/{project_id}/envelope/`` (``/store/`` for old SDKs). Events
  are grouped into issues by fingerprint (:mod:`bridge.sandbox.sentry_ingest`); an event
  for a resolved issue reopens it as a regression.

:meth:`SentryState.seed_demo` builds org ``acme`` with projects ``backend`` (id 1) and
``web`` (id 2) and a few issues, among them 4505 / ``BACKEND-1A2``, the one the Zendesk
demo ticket's internal note names.
"""

from __future__ import annotations

import copy
import json
import math
import re
import threading
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Callable
from urllib.parse import urlencode, urlsplit

from flask import Flask, Response, request

from bridge.sandbox import sentry_ingest
from bridge.sandbox.outgoing_webhooks import SentryHooks
from bridge.sandbox.server import Knobs, ServiceThread, Vendor, install

#: The demo organisation's API token (all scopes) and slug.
DEMO_CREDENTIALS = {"token": "sntrys_sandbox_acme_4f1c9e", "org": "acme"}
#: A token with read scopes only: ``PUT`` on issues answers 403 with it.
DEMO_READ_ONLY_TOKEN = "sntrys_sandbox_readonly_77a2"
#: Public DSN keys of the demo projects.
DEMO_PUBLIC_KEYS = {"backend": "5f0c1b2a9d8e4f3a8b7c6d5e4f3a2b1c", "web": "0a1b2c3d4e5f46a7b8c9d0e1f2a3b4c5"}

READ_SCOPES = frozenset({"org:read", "project:read", "event:read"})
ALL_SCOPES = READ_SCOPES | {"event:write", "event:admin", "project:write"}
#: The issue list's page size limit.
MAX_LIMIT = 100
#: Issues younger than this report substatus "new", later "ongoing" (Sentry's rule).
NEW_ISSUE_PERIOD = timedelta(days=7)
DEFAULT_STATS_PERIOD = "14d"
GROUPING_CONFIG = {"id": "newstyle:2023-01-11", "enhancements": "eJybzDRxY3J-bm5-npWVZQkAKO8FWA"}

NOT_FOUND = "The requested resource does not exist"
NO_PERMISSION = "You do not have permission to perform this action."
SUBSTATUS_FOR_STATUS = {
    "unresolved": {"ongoing", "regressed", "escalating", "new"},
    "ignored": {"archived_until_escalating", "archived_until_condition_met", "archived_forever"},
    "resolved": set(),
}
IS_VALUES = ("unresolved", "resolved", "ignored", "archived", "regressed", "new", "ongoing",
             "escalating", "assigned", "unassigned", "bookmarked", "unlinked", "linked", "for_review")


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def format_time(moment: datetime) -> str:
    """Sentry's timestamps: ``2026-11-23T10:00:00.123456Z``."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class SentryError(Exception):
    """An answer in Sentry's error shape, raised anywhere inside a request."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body if not isinstance(body, str) else {"detail": body}

    def response(self) -> Response:
        return Response(json.dumps(self.body), status=self.status, mimetype="application/json")


def parse_period(text: str) -> timedelta:
    """``14d``, ``24h``, ``90m``, ``30s``, ``2w`` -> a timedelta (ValueError otherwise)."""
    match = re.fullmatch(r"(\d+)([smhdw])", text.strip())
    if not match:
        raise ValueError(text)
    number, unit = int(match.group(1)), match.group(2)
    return timedelta(**{{"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[unit]: number})


def parse_cursor(text: str) -> tuple[int, int, bool]:
    """Sentry's ``value:offset:is_prev`` cursor (raises ValueError)."""
    parts = text.split(":")
    if len(parts) != 3:
        raise ValueError(text)
    value, offset, is_prev = int(parts[0]), int(parts[1]), int(parts[2])
    if offset < 0 or is_prev not in (0, 1):
        raise ValueError(text)
    return value, offset, bool(is_prev)


class SentryState:
    """Organisation, projects, issues (groups) and events, in memory; thread-safe.

    ``base_url`` is the emulator's own address (permalinks, DSNs, ``Link`` headers);
    ``clock`` gives "now".
    """

    def __init__(self, *, base_url: str = "", clock: Callable[[], datetime] | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.clock: Callable[[], datetime] = clock or _utcnow
        self.lock = threading.RLock()
        #: The integration's issue webhooks (outgoing_webhooks).
        self.hooks = SentryHooks()
        self.reset()

    def reset(self) -> None:
        """Forget everything but keep the organisation."""
        with self.lock:
            self.org = {"id": "1", "slug": "acme", "name": "Acme"}
            self.projects: dict[str, dict] = {}
            self.issues: dict[int, dict] = {}
            self.events: dict[str, dict] = {}
            #: API token -> its scopes.
            self.tokens: dict[str, frozenset[str]] = {}
            self._next_issue_id = 4501
            self._by_hash: dict[tuple[str, str], int] = {}

    def now(self) -> datetime:
        return self.clock().astimezone(timezone.utc)

    # -- set-up ------------------------------------------------------------------------------
    def add_project(self, project_id: str, slug: str, name: str, *, platform: str = "python",
                    public_key: str | None = None) -> dict:
        with self.lock:
            project = {
                "id": str(project_id), "slug": slug, "name": name, "platform": platform,
                "public_key": public_key or uuid.uuid4().hex, "date_created": self.now() - timedelta(days=400),
                "next_short": 1,
            }
            self.projects[project["id"]] = project
            return copy.deepcopy(project)

    def project_by_slug(self, slug: str) -> dict:
        with self.lock:
            for project in self.projects.values():
                if project["slug"] == slug:
                    return project
        raise KeyError(slug)

    def dsn(self, project_slug: str) -> str:
        """The DSN an SDK uses to send events of ``project_slug`` to this emulator."""
        if not self.base_url:
            raise RuntimeError("the Sentry emulator is not served yet (base_url is empty)")
        project = self.project_by_slug(project_slug)
        netloc = urlsplit(self.base_url).netloc
        return f"http://{project['public_key']}@{netloc}/{project['id']}"

    # -- ingestion -------------------------------------------------------------------------------
    def ingest_event(self, project_id: str, event: dict, *, received: datetime | None = None) -> str:
        """Store one event and group it into an issue; returns the event id.

        A repeated event id is dropped, as Sentry drops duplicates.
        """
        with self.lock:
            project = self.projects[str(project_id)]
            now = received or self.now()
            event_id = str(event.get("event_id") or uuid.uuid4().hex).replace("-", "").lower()
            if event_id in self.events:
                return event_id
            moment = sentry_ingest.parse_timestamp(event.get("timestamp"), now)
            fingerprint = sentry_ingest.group_hash(event)
            summary = sentry_ingest.summarise(event)
            level = sentry_ingest.normalise_level(event.get("level"))
            user = event.get("user") if isinstance(event.get("user"), dict) else None
            issue_id = self._by_hash.get((project["id"], fingerprint))
            if issue_id is None:
                issue_id = self._next_issue_id
                self._next_issue_id += 1
                short = project["next_short"]
                project["next_short"] += 1
                unhandled = any(
                    isinstance(v.get("mechanism"), dict) and v["mechanism"].get("handled") is False
                    for v in sentry_ingest.exceptions_of(event)
                )
                self.issues[issue_id] = {
                    "id": issue_id, "project_id": project["id"], "short": short, "hash": fingerprint,
                    "title": summary.title, "culprit": summary.culprit, "type": summary.type,
                    "metadata": summary.metadata, "level": level, "status": "unresolved",
                    "substatus": "new", "status_details": {}, "first_seen": moment, "last_seen": moment,
                    "times_seen": 0, "users": set(), "platform": event.get("platform") or project["platform"],
                    "logger": event.get("logger"), "priority": {"fatal": "high", "error": "high",
                                                                 "warning": "medium"}.get(level, "low"),
                    "is_unhandled": unhandled, "event_ids": [], "assigned_to": None,
                    "is_bookmarked": False, "has_seen": False, "is_subscribed": False, "is_public": False,
                    "first_release": event.get("release"), "last_release": event.get("release"),
                    "activity": [],
                }
                self._by_hash[(project["id"], fingerprint)] = issue_id
            issue = self.issues[issue_id]
            issue["times_seen"] += 1
            issue["first_seen"] = min(issue["first_seen"], moment)
            issue["last_seen"] = max(issue["last_seen"], moment)
            if event.get("release"):
                issue["last_release"] = event["release"]
            key = sentry_ingest.user_key(user)
            if key:
                issue["users"].add(key)
            if issue["status"] == "resolved":
                # A new event for a resolved issue is a regression: Sentry reopens it.
                issue.update(status="unresolved", substatus="regressed", status_details={})
                issue["activity"].append({"type": "set_regression", "dateCreated": format_time(now)})
            issue["event_ids"].append(event_id)
            self.events[event_id] = {
                "event_id": event_id, "project_id": project["id"], "issue_id": issue_id,
                "timestamp": moment, "received": now, "level": level, "summary": summary,
                "message": sentry_ingest.message_of(event) or summary.title,
                "platform": event.get("platform") or project["platform"],
                "user": copy.deepcopy(user), "tags": self._event_tags(event, level),
                "environment": event.get("environment"), "release": event.get("release"),
                "sdk": copy.deepcopy(event.get("sdk")) if isinstance(event.get("sdk"), dict) else None,
                "contexts": copy.deepcopy(event.get("contexts")) if isinstance(event.get("contexts"), dict) else {},
                "exception": sentry_ingest.exceptions_of(event), "hash": fingerprint,
                "size": len(json.dumps(event, default=str)),
            }
            return event_id

    @staticmethod
    def _event_tags(event: dict, level: str) -> list[tuple[str, str]]:
        tags = dict(sentry_ingest.normalise_tags(event.get("tags")))
        tags.setdefault("level", level)
        for key in ("environment", "release", "server_name", "transaction"):
            if event.get(key):
                tags.setdefault(key, str(event[key]))
        values = sentry_ingest.exceptions_of(event)
        if values and isinstance(values[-1].get("mechanism"), dict):
            mechanism = values[-1]["mechanism"]
            tags.setdefault("handled", "yes" if mechanism.get("handled", True) else "no")
            if mechanism.get("type"):
                tags.setdefault("mechanism", str(mechanism["type"]))
        return sorted(tags.items())

    # -- changes through the API -----------------------------------------------------------------
    def update_issue(self, issue_id: int, changes: dict) -> dict:
        """Apply a ``PUT .../issues/{id}/`` body; raises :class:`SentryError` (400) first."""
        with self.lock:
            issue = self.issues[issue_id]
            status = changes.get("status")
            substatus = changes.get("substatus", "")
            details = changes.get("statusDetails") or {}
            if not isinstance(details, dict):
                raise SentryError(400, {"statusDetails": ["Expected a dictionary of items."]})
            if status is not None and status not in ("resolved", "unresolved", "ignored",
                                                     "resolvedInNextRelease", "muted"):
                raise SentryError(400, {"status": [f'"{status}" is not a valid choice.']})
            if substatus not in ("", None) and substatus not in set().union(*SUBSTATUS_FOR_STATUS.values()):
                raise SentryError(400, {"substatus": [f'"{substatus}" is not a valid choice.']})
            if status is None and substatus:
                status = "ignored" if substatus.startswith("archived") else "unresolved"
            if "priority" in changes and changes["priority"] not in ("low", "medium", "high"):
                raise SentryError(400, {"priority": [f'"{changes["priority"]}" is not a valid choice.']})
            new_status = {"resolvedInNextRelease": "resolved", "muted": "ignored"}.get(status, status)
            if new_status is not None and substatus and substatus not in SUBSTATUS_FOR_STATUS[new_status]:
                raise SentryError(400, {"detail": "The substatus is not valid for the status."})
            now = self.now()
            if new_status == "resolved":
                resolved: dict[str, Any] = {}
                if status == "resolvedInNextRelease" or details.get("inNextRelease"):
                    resolved["inNextRelease"] = True
                elif details.get("inRelease"):
                    resolved["inRelease"] = str(details["inRelease"])
                elif isinstance(details.get("inCommit"), dict):
                    resolved["inCommit"] = str(details["inCommit"].get("commit", ""))
                issue.update(status="resolved", substatus=None, status_details=resolved)
                issue["activity"].append({"type": "set_resolved", "dateCreated": format_time(now)})
            elif new_status == "unresolved":
                issue.update(status="unresolved", substatus=substatus or "ongoing", status_details={})
                issue["activity"].append({"type": "set_unresolved", "dateCreated": format_time(now)})
            elif new_status == "ignored":
                ignored: dict[str, Any] = {}
                for key in ("ignoreCount", "ignoreWindow", "ignoreUserCount", "ignoreUserWindow"):
                    if isinstance(details.get(key), int):
                        ignored[key] = details[key]
                if isinstance(details.get("ignoreDuration"), int):
                    ignored["ignoreUntil"] = format_time(now + timedelta(minutes=details["ignoreDuration"]))
                default = "archived_until_condition_met" if ignored else "archived_until_escalating"
                issue.update(status="ignored", substatus=substatus or default, status_details=ignored)
                issue["activity"].append({"type": "set_ignored", "dateCreated": format_time(now)})
            if "priority" in changes:
                issue["priority"] = changes["priority"]
            for flag, key in (("hasSeen", "has_seen"), ("isBookmarked", "is_bookmarked"),
                              ("isSubscribed", "is_subscribed"), ("isPublic", "is_public")):
                if flag in changes:
                    issue[key] = bool(changes[flag])
            if "assignedTo" in changes:
                issue["assigned_to"] = self._assignee(changes["assignedTo"])
            self.hooks.issue_changed(issue, new_status)
            return issue

    @staticmethod
    def _assignee(value: Any) -> dict | None:
        if value in (None, ""):
            return None
        text = str(value)
        kind, _, ident = text.partition(":") if text.startswith(("user:", "team:")) else ("user", "", text)
        return {"type": kind, "id": ident, "name": ident}

    # -- lookups for tests and the app --------------------------------------------------------------
    def issue(self, issue_id: int | str) -> dict:
        """A copy of the stored issue record (KeyError when unknown)."""
        with self.lock:
            return copy.deepcopy(self.issues[int(issue_id)])

    def issue_by_short_id(self, short_id: str) -> dict:
        with self.lock:
            found = self._find_short_id(short_id)
            if found is None:
                raise KeyError(short_id)
            return copy.deepcopy(found)

    def _find_short_id(self, short_id: str) -> dict | None:
        try:
            slug, number = sentry_ingest.parse_short_id(short_id)
        except ValueError:
            return None
        for issue in self.issues.values():
            if issue["short"] == number and self.projects[issue["project_id"]]["slug"] == slug:
                return issue
        return None

    def short_id(self, issue: dict) -> str:
        return sentry_ingest.format_short_id(self.projects[issue["project_id"]]["slug"], issue["short"])

    def events_of(self, issue_id: int) -> list[dict]:
        """The issue's events, oldest first."""
        with self.lock:
            return [copy.deepcopy(self.events[e]) for e in self.issues[issue_id]["event_ids"]]

    # -- the demo organisation ---------------------------------------------------------------------
    def seed_demo(self) -> None:
        """Org ``acme``, projects ``backend`` (1) and ``web`` (2), issues 4501-4506."""
        with self.lock:
            self.reset()
            self.tokens[DEMO_CREDENTIALS["token"]] = ALL_SCOPES
            self.tokens[DEMO_READ_ONLY_TOKEN] = READ_SCOPES
            backend = self.add_project("1", "backend", "Backend", platform="python",
                                       public_key=DEMO_PUBLIC_KEYS["backend"])
            web = self.add_project("2", "web", "Web", platform="javascript",
                                   public_key=DEMO_PUBLIC_KEYS["web"])
            now = self.now()

            def issue(project: dict, issue_id: int, short: int, exc_type: str, value: str, module: str,
                      function: str, filename: str, *, events: int, users: int, first_days: float,
                      last_hours: float, level: str = "error", handled: bool = False) -> None:
                self._next_issue_id = issue_id
                self.projects[project["id"]]["next_short"] = short
                first = now - timedelta(days=first_days)
                last = now - timedelta(hours=last_hours)
                step = (last - first) / max(1, events - 1)
                for n in range(events):
                    self.ingest_event(project["id"], {
                        "event_id": uuid.UUID(int=issue_id * 1000 + n).hex,
                        "timestamp": (first + step * n).timestamp(), "level": level,
                        "platform": project["platform"], "environment": "production",
                        "release": "backend@5.2.1" if project["slug"] == "backend" else "web@5.2.1",
                        "user": {"id": f"u{n % users}", "email": f"user{n % users}@customers.example"},
                        "sdk": {"name": "sentry.python" if project["platform"] == "python"
                                else "sentry.javascript.react", "version": "2.19.0"},
                        "exception": {"values": [{
                            "type": exc_type, "value": value, "module": None,
                            "mechanism": {"type": "generic", "handled": handled},
                            "stacktrace": {"frames": [
                                {"filename": "framework/handler.py", "module": "framework.handler",
                                 "function": "dispatch", "lineno": 88, "in_app": False},
                                {"filename": filename, "module": module, "function": function,
                                 "lineno": 42, "in_app": True},
                            ]},
                        }]},
                    }, received=first + step * n)

            issue(backend, 4501, 1344, "OperationalError", "could not connect to server: Connection refused",
                  "app.db", "connect", "app/db.py", events=4, users=2, first_days=12, last_hours=200)
            self.update_issue(4501, {"status": "resolved"})
            issue(web, 4502, 111, "TypeError", "Cannot read properties of undefined (reading 'total')",
                  "app/components/Cart", "renderTotal", "app/components/Cart.tsx",
                  events=9, users=6, first_days=6, last_hours=5)
            issue(backend, 4503, 1345, "KeyError", "'currency'", "payments.gateway", "charge",
                  "payments/gateway.py", events=25, users=18, first_days=0.2, last_hours=0.1,
                  level="fatal")
            issue(web, 4504, 112, "ChunkLoadError", "Loading chunk 42 failed.", "webpack/runtime",
                  "loadChunk", "webpack/runtime.js", events=3, users=3, first_days=9, last_hours=150,
                  level="warning", handled=True)
            self.update_issue(4504, {"status": "ignored"})
            issue(backend, 4505, 1346, "AttributeError", "'NoneType' object has no attribute 'write'",
                  "reports.export_csv", "write_rows", "reports/export_csv.py",
                  events=12, users=5, first_days=4, last_hours=3)
            issue(backend, 4506, 1347, "TimeoutError", "sync job exceeded 30s", "sync.worker", "run",
                  "sync/worker.py", events=2, users=1, first_days=2, last_hours=30, level="warning",
                  handled=True)


# -- the Flask app ---------------------------------------------------------------------------------
def _error_response(status: int, message: str) -> Response:
    """Sentry's ``{"detail": ...}`` bodies for the shared harness."""
    detail = {401: "Authentication credentials were not provided.", 403: NO_PERMISSION,
              404: NOT_FOUND}.get(status, message)
    if status == 429:
        detail = f"You are attempting to use this endpoint too frequently. {message}"
    return SentryError(status, {"detail": detail}).response()


def _rate_limit_headers(limit: int, remaining: int, reset_epoch: float) -> dict[str, str]:
    """Sentry's per-caller rate-limit headers (``-Reset`` is an epoch second)."""
    return {
        "X-Sentry-Rate-Limit-Limit": str(limit),
        "X-Sentry-Rate-Limit-Remaining": str(remaining),
        "X-Sentry-Rate-Limit-Reset": str(math.ceil(reset_epoch)),
        "X-Sentry-Rate-Limit-ConcurrentLimit": "25",
        "X-Sentry-Rate-Limit-ConcurrentRemaining": "24",
    }


SENTRY_VENDOR = Vendor(name="sentry", error_response=_error_response, rate_limit_headers=_rate_limit_headers)


def create_app(state: SentryState, knobs: Knobs | None = None) -> Flask:
    """A Flask app serving ``state`` as Sentry's API and ingestion endpoints, with the knobs."""
    app = Flask("bridge.sandbox.sentry")
    install(app, SENTRY_VENDOR, knobs or Knobs())

    @app.errorhandler(SentryError)
    def _sentry_error(exc: SentryError) -> Response:
        return exc.response()

    def base() -> str:
        return state.base_url or request.host_url.rstrip("/")

    def respond(body: Any, status: int = 200, headers: dict | None = None) -> Response:
        response = Response(json.dumps(body), status=status, mimetype="application/json")
        if headers:
            response.headers.update(headers)
        return response

    # -- auth ---------------------------------------------------------------------------------
    def authorise(org: str, scope: str = "event:read") -> None:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if not header:
            raise SentryError(401, "Authentication credentials were not provided.")
        if scheme.lower() != "bearer":
            raise SentryError(401, "Invalid authentication header.")
        with state.lock:
            scopes = state.tokens.get(token.strip())
            if scopes is None:
                raise SentryError(401, "Invalid token")
            if org not in (state.org["slug"], state.org["id"]):
                raise SentryError(404, NOT_FOUND)
            if scope not in scopes:
                raise SentryError(403, NO_PERMISSION)

    # -- serialisers ---------------------------------------------------------------------------
    def project_ref(project: dict) -> dict:
        return {"id": project["id"], "name": project["name"], "slug": project["slug"],
                "platform": project["platform"]}

    def status_details(issue: dict) -> dict:
        return copy.deepcopy(issue["status_details"])

    def substatus(issue: dict) -> str | None:
        if issue["substatus"] == "new" and state.now() - issue["first_seen"] > NEW_ISSUE_PERIOD:
            return "ongoing"
        return issue["substatus"]

    def hourly_stats(issue: dict) -> list[list[float]]:
        end = state.now().replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        buckets = [end - timedelta(hours=h) for h in range(24, 0, -1)]
        counts = [0] * 24
        for event_id in issue["event_ids"]:
            moment = state.events[event_id]["timestamp"]
            for index, start in enumerate(buckets):
                if start <= moment < start + timedelta(hours=1):
                    counts[index] += 1
                    break
        return [[float(int(b.timestamp())), float(c)] for b, c in zip(buckets, counts)]

    def issue_json(issue: dict, *, detail: bool = False) -> dict:
        project = state.projects[issue["project_id"]]
        org = state.org["slug"]
        body: dict[str, Any] = {
            "id": str(issue["id"]), "shareId": None, "shortId": state.short_id(issue),
            "title": issue["title"], "culprit": issue["culprit"],
            "permalink": f"{base()}/organizations/{org}/issues/{issue['id']}/",
            "logger": issue["logger"], "level": issue["level"], "status": issue["status"],
            "statusDetails": status_details(issue), "substatus": substatus(issue),
            "isPublic": issue["is_public"], "platform": issue["platform"], "priority": issue["priority"],
            "priorityLockedAt": None, "seerFixabilityScore": None, "seerAutofixLastTriggered": None,
            "seerExplorerAutofixLastTriggered": None, "project": project_ref(project),
            "type": issue["type"], "issueType": "error" if issue["type"] == "error" else "default",
            "issueCategory": "error", "metadata": copy.deepcopy(issue["metadata"]), "numComments": 0,
            "assignedTo": copy.deepcopy(issue["assigned_to"]), "isBookmarked": issue["is_bookmarked"],
            "isSubscribed": issue["is_subscribed"], "subscriptionDetails": None,
            "hasSeen": issue["has_seen"], "annotations": [], "isUnhandled": issue["is_unhandled"],
            "count": str(issue["times_seen"]), "userCount": len(issue["users"]),
            "firstSeen": format_time(issue["first_seen"]), "lastSeen": format_time(issue["last_seen"]),
            "derivedData": {"blocker": "", "progress": "", "status": "", "viewCount": 0,
                            "hasOpenFixPr": False, "isAssigned": issue["assigned_to"] is not None,
                            "hasRootCause": False, "lastCompletedAutofixStep": "", "lastProgressedAt": None},
            "stats": {"24h": hourly_stats(issue)},
        }
        if detail:
            body.update({
                "firstRelease": {"version": issue["first_release"]} if issue["first_release"] else None,
                "lastRelease": {"version": issue["last_release"]} if issue["last_release"] else None,
                "tags": [], "activity": copy.deepcopy(issue["activity"]), "seenBy": [],
                "userReportCount": 0, "participants": [], "inbox": None, "owners": None,
                "pluginActions": [], "pluginContexts": [], "pluginIssues": [],
                "integrationIssues": [], "sentryAppIssues": [], "latestEventHasAttachments": False,
            })
        else:
            # The list schema makes these required (the detail schema lets them be null).
            body.update({
                "lifetime": {"count": str(issue["times_seen"]), "userCount": len(issue["users"]),
                             "firstSeen": format_time(issue["first_seen"]),
                             "lastSeen": format_time(issue["last_seen"]), "stats": None},
                "filtered": None, "sessionCount": 0,
                "inbox": {"reason": 0, "reason_details": None, "date_added": format_time(issue["first_seen"])},
                "owners": {"type": "ownershipRule", "owner": f"team:{project['id']}",
                           "date_added": format_time(issue["first_seen"])},
                "integrationIssues": [], "sentryAppIssues": [], "latestEventHasAttachments": False,
                "matchingEventId": None, "matchingEventEnvironment": None,
            })
        return body

    def event_tags(event: dict) -> list[dict]:
        return [{"key": k, "value": v, "query": f'{k}:"{v}"'} for k, v in event["tags"]]

    def event_summary(event: dict) -> dict:
        summary: sentry_ingest.Summary = event["summary"]
        return {
            "id": event["event_id"], "event.type": summary.type, "groupID": str(event["issue_id"]),
            "eventID": event["event_id"], "projectID": event["project_id"], "message": event["message"],
            "title": summary.title, "location": summary.location, "culprit": summary.culprit,
            "user": user_json(event["user"]), "tags": event_tags(event), "platform": event["platform"],
            "dateCreated": format_time(event["timestamp"]), "crashFile": None,
            "metadata": copy.deepcopy(summary.metadata),
        }

    def user_json(user: dict | None) -> dict | None:
        if not user:
            return None
        return {"id": user.get("id"), "email": user.get("email"), "username": user.get("username"),
                "ip_address": user.get("ip_address"), "name": user.get("name"),
                "geo": user.get("geo") if isinstance(user.get("geo"), dict) else None,
                "data": user.get("data") if isinstance(user.get("data"), dict) else None}

    def event_json(event: dict) -> dict:
        summary: sentry_ingest.Summary = event["summary"]
        siblings = state.issues[event["issue_id"]]["event_ids"]
        position = siblings.index(event["event_id"])
        sdk = event["sdk"] or {}
        entries = []
        if event["exception"]:
            entries.append({"type": "exception", "data": {"values": copy.deepcopy(event["exception"]),
                                                          "hasSystemFrames": True, "excOmitted": None}})
        else:
            entries.append({"type": "message", "data": {"formatted": event["message"]}})
        return {
            "id": event["event_id"], "groupID": str(event["issue_id"]), "eventID": event["event_id"],
            "projectID": event["project_id"], "message": event["message"], "title": summary.title,
            "location": summary.location, "user": user_json(event["user"]), "tags": event_tags(event),
            "platform": event["platform"] or "other", "dateReceived": format_time(event["received"]),
            "contexts": copy.deepcopy(event["contexts"]), "size": event["size"], "entries": entries,
            "dist": None, "sdk": {"name": sdk.get("name"), "version": sdk.get("version")} if sdk else None,
            "context": {}, "packages": {}, "type": summary.type, "metadata": copy.deepcopy(summary.metadata),
            "errors": [], "occurrence": None, "_meta": {}, "crashFile": None, "culprit": summary.culprit,
            "dateCreated": format_time(event["timestamp"]), "fingerprints": [event["hash"]],
            "groupingConfig": dict(GROUPING_CONFIG),
            "release": {"version": event["release"]} if event["release"] else None,
            "userReport": None, "sdkUpdates": [], "resolvedWith": [],
            "nextEventID": siblings[position + 1] if position + 1 < len(siblings) else None,
            "previousEventID": siblings[position - 1] if position > 0 else None,
        }

    # -- pagination -----------------------------------------------------------------------------
    def page(items: list, limit_default: int = 100) -> tuple[list, dict]:
        """Slice ``items`` by ``limit``/``cursor``; returns the page and the Link header."""
        try:
            limit = int(request.args.get("limit", str(limit_default)))
        except ValueError:
            raise SentryError(400, {"detail": "Invalid limit parameter."}) from None
        if limit < 1:
            raise SentryError(400, {"detail": "Invalid limit parameter."})
        limit = min(limit, MAX_LIMIT)
        cursor = request.args.get("cursor")
        offset = 0
        if cursor:
            try:
                _, offset, _ = parse_cursor(cursor)
            except ValueError:
                raise SentryError(400, {"detail": "Invalid cursor parameter."}) from None
        chunk = items[offset:offset + limit]
        params = [(k, v) for k, v in request.args.items(multi=True) if k != "cursor"]

        def url(value: str) -> str:
            # Sentry leaves the cursor's colons unescaped in its Link URLs.
            return f"{base()}{request.path}?{urlencode(params + [('cursor', value)], safe=':')}"

        prev_cursor = f"0:{max(0, offset - limit)}:1"
        next_cursor = f"0:{offset + limit}:0"
        has_prev = "true" if offset > 0 else "false"
        has_next = "true" if offset + limit < len(items) else "false"
        link = (f'<{url(prev_cursor)}>; rel="previous"; results="{has_prev}"; cursor="{prev_cursor}", '
                f'<{url(next_cursor)}>; rel="next"; results="{has_next}"; cursor="{next_cursor}"')
        return chunk, {"Link": link}

    # -- issues ---------------------------------------------------------------------------------
    def find_issue(issue_ref: str) -> dict:
        with state.lock:
            if issue_ref.isdigit():
                issue = state.issues.get(int(issue_ref))
            else:
                issue = state._find_short_id(issue_ref)
            if issue is None:
                raise SentryError(404, NOT_FOUND)
            return issue

    def issue_matches(issue: dict, query: str) -> bool:
        for negated, key, value in _query_terms(query):
            if key is None:
                hit = value.lower() in f"{issue['title']} {issue['culprit']}".lower()
            elif key == "is":
                hit = _is_filter(issue, value, substatus(issue))
            elif key in ("issue", "issue.id"):
                hit = value.upper() == state.short_id(issue) or value == str(issue["id"])
            elif key == "level":
                hit = issue["level"] == value.lower()
            elif key in ("assigned", "assigned_to"):
                hit = issue["assigned_to"] is not None and value in (issue["assigned_to"]["id"], "me")
            elif key == "title":
                hit = value.lower() in issue["title"].lower()
            else:  # any other key is a tag of one of the issue's events
                hit = any((key, value) in state.events[e]["tags"] for e in issue["event_ids"])
            if hit == negated:
                return False
        return True

    @app.get("/api/0/organizations/<org>/issues/")
    def list_issues(org: str):
        authorise(org)
        with state.lock:
            wanted_projects = request.args.getlist("project")
            project_ids: set[str] | None = None
            if wanted_projects and "-1" not in wanted_projects:
                project_ids = set()
                for ref in wanted_projects:
                    match = next((p for p in state.projects.values() if ref in (p["id"], p["slug"])), None)
                    if match is None:
                        raise SentryError(403, NO_PERMISSION)
                    project_ids.add(match["id"])
            query = request.args.get("query", "is:unresolved")
            for negated, key, value in _query_terms(query):
                if key == "is" and value.lower() not in IS_VALUES:
                    raise SentryError(400, {"detail": f'Invalid value for "is" search, valid values are '
                                                      f'{sorted(IS_VALUES)}'})
            if request.args.get("shortIdLookup") == "1":
                direct = state._find_short_id(query.strip())
                if direct is not None:
                    chunk, headers = page([direct])
                    return respond([issue_json(i) for i in chunk], headers=headers)
            since = _period_start(state.now())
            until = None
            if request.args.get("end"):
                until = _parse_query_time(request.args["end"])
            candidates = [
                i for i in state.issues.values()
                if (project_ids is None or i["project_id"] in project_ids)
                and i["last_seen"] >= since and (until is None or i["first_seen"] <= until)
                and issue_matches(i, query)
            ]
            sort = request.args.get("sort", "date")
            sort_key: Callable[[dict], Any] = {
                "new": lambda i: (i["first_seen"], i["id"]),
                "freq": lambda i: (i["times_seen"], i["id"]),
                "user": lambda i: (len(i["users"]), i["id"]),
            }.get(sort, lambda i: (i["last_seen"], i["id"]))
            candidates.sort(key=sort_key, reverse=True)
            chunk, headers = page(candidates)
            headers["X-Hits"] = str(len(candidates))
            return respond([issue_json(i) for i in chunk], headers=headers)

    @app.get("/api/0/organizations/<org>/issues/<issue_ref>/")
    def show_issue(org: str, issue_ref: str):
        authorise(org)
        with state.lock:
            return respond(issue_json(find_issue(issue_ref), detail=True))

    @app.put("/api/0/organizations/<org>/issues/<issue_ref>/")
    def update_issue(org: str, issue_ref: str):
        authorise(org, "event:write")
        try:
            changes = json.loads(request.get_data(cache=True) or b"{}")
        except ValueError as exc:
            raise SentryError(400, {"detail": f"JSON parse error - {exc}"}) from None
        if not isinstance(changes, dict):
            raise SentryError(400, {"non_field_errors": ["Invalid data. Expected a dictionary."]})
        with state.lock:
            issue = state.update_issue(find_issue(issue_ref)["id"], changes)
            return respond(issue_json(issue, detail=True))

    @app.get("/api/0/organizations/<org>/issues/<issue_ref>/events/")
    def list_events(org: str, issue_ref: str):
        authorise(org)
        with state.lock:
            issue = find_issue(issue_ref)
            events = [state.events[e] for e in reversed(issue["event_ids"])]  # newest first
            chunk, headers = page(events)
            full = request.args.get("full", "false").lower() in ("1", "true")
            # ``full`` adds the whole event to each summary (the schema keeps the summary's keys).
            return respond([dict(event_summary(e), **event_json(e)) if full else event_summary(e)
                            for e in chunk], headers=headers)

    @app.get("/api/0/organizations/<org>/issues/<issue_ref>/events/<event_ref>/")
    def show_event(org: str, issue_ref: str, event_ref: str):
        authorise(org)
        with state.lock:
            issue = find_issue(issue_ref)
            ids = issue["event_ids"]
            if event_ref in ("latest", "recommended"):
                event_id = max(ids, key=lambda e: (state.events[e]["timestamp"], ids.index(e)))
            elif event_ref == "oldest":
                event_id = min(ids, key=lambda e: (state.events[e]["timestamp"], ids.index(e)))
            else:
                event_id = event_ref.replace("-", "").lower()
                if event_id not in ids:
                    raise SentryError(404, {"detail": "Event not found"})
            return respond(event_json(state.events[event_id]))

    @app.get("/api/0/organizations/<org>/shortids/<short_id>/")
    def resolve_short_id(org: str, short_id: str):
        authorise(org)
        with state.lock:
            issue = state._find_short_id(short_id)
            if issue is None:
                raise SentryError(404, {"detail": "Short ID not found"})
            project = state.projects[issue["project_id"]]
            return respond({"organizationSlug": state.org["slug"], "projectSlug": project["slug"],
                            "groupId": str(issue["id"]), "group": issue_json(issue, detail=True),
                            "shortId": state.short_id(issue)})

    @app.get("/api/0/organizations/<org>/projects/")
    def list_projects(org: str):
        authorise(org, "project:read")
        with state.lock:
            projects = sorted(state.projects.values(), key=lambda p: p["slug"])
            chunk, headers = page(projects)
            return respond([_project_json(p, state) for p in chunk], headers=headers)

    @app.get("/api/0/organizations/<org>/")
    def show_organization(org: str):
        authorise(org, "org:read")
        return respond({"id": state.org["id"], "slug": state.org["slug"], "name": state.org["name"],
                        "status": {"id": "active", "name": "active"}, "isEarlyAdopter": False,
                        "require2FA": False, "avatar": {"avatarType": "letter_avatar", "avatarUuid": None},
                        "links": {"organizationUrl": base(), "regionUrl": base()},
                        "dateCreated": format_time(state.now() - timedelta(days=700)), "features": []})

    # -- ingestion ---------------------------------------------------------------------------------
    def ingest_project(project_id: str, envelope_header: dict | None = None) -> dict:
        auth = sentry_ingest.parse_auth_header(request.headers.get("X-Sentry-Auth"))
        if not auth and request.headers.get("Authorization", "").lower().startswith("sentry "):
            auth = sentry_ingest.parse_auth_header(request.headers["Authorization"])
        key = auth.get("sentry_key") or request.args.get("sentry_key")
        if not key and envelope_header and envelope_header.get("dsn"):
            key = urlsplit(str(envelope_header["dsn"])).username
        if not key:
            raise SentryError(401, "missing authorization information")
        with state.lock:
            project = state.projects.get(project_id)
            if project is None or project["public_key"] != key:
                raise SentryError(403, "event submission rejected with_reason: ProjectId")
            return project

    def raw_body() -> bytes:
        try:
            return sentry_ingest.decode_body(request.get_data(cache=True),
                                             request.headers.get("Content-Encoding"))
        except sentry_ingest.IngestError as exc:
            raise SentryError(400, str(exc)) from None

    @app.post("/api/<project_id>/envelope/")
    def ingest_envelope(project_id: str):
        data = raw_body()
        try:
            header, items = sentry_ingest.parse_envelope(data)
        except sentry_ingest.IngestError as exc:
            ingest_project(project_id)  # an unauthenticated caller learns nothing about the body
            raise SentryError(400, f"invalid envelope: {exc}") from None
        project = ingest_project(project_id, header)
        event_id = header.get("event_id")
        for item in items:
            if item.type in ("event", "error"):
                try:
                    event = item.json()
                except sentry_ingest.IngestError as exc:
                    raise SentryError(400, str(exc)) from None
                if not isinstance(event, dict):
                    raise SentryError(400, "the event item is not a JSON object")
                event.setdefault("event_id", event_id)
                event_id = state.ingest_event(project["id"], event)
            # Transactions, sessions, client reports, attachments: accepted, not kept.
        return respond({"id": event_id} if event_id else {})

    @app.post("/api/<project_id>/store/")
    def ingest_store(project_id: str):
        project = ingest_project(project_id)
        try:
            event = sentry_ingest.parse_store_body(raw_body())
        except sentry_ingest.IngestError as exc:
            raise SentryError(400, str(exc)) from None
        return respond({"id": state.ingest_event(project["id"], event)})

    return app


def _project_json(project: dict, state: SentryState) -> dict:
    return {
        "id": project["id"], "slug": project["slug"], "name": project["name"],
        "platform": project["platform"], "dateCreated": format_time(project["date_created"]),
        "isBookmarked": False, "isMember": True, "features": ["alert-filters", "minidump"],
        "firstEvent": (format_time(min(i["first_seen"] for i in state.issues.values()
                                       if i["project_id"] == project["id"]))
                       if any(i["project_id"] == project["id"] for i in state.issues.values()) else None),
        "firstTransactionEvent": False, "access": sorted(ALL_SCOPES), "hasAccess": True,
        "hasFeedbacks": False, "hasFlags": False, "hasMinifiedStackTrace": False, "hasMonitors": False,
        "hasNewFeedbacks": False, "hasProfiles": False, "hasReplays": False, "hasSessions": False,
        "hasInsightsHttp": False, "hasInsightsDb": False, "hasInsightsAssets": False,
        "hasInsightsAppStart": False, "hasInsightsScreenLoad": False, "hasInsightsVitals": False,
        "hasInsightsCaches": False, "hasInsightsQueues": False, "hasInsightsAgentMonitoring": False,
        "hasInsightsMCP": False, "hasLogs": False, "hasTraceMetrics": False,
        "team": {"id": "1", "name": "Engineering", "slug": "engineering"},
        "teams": [{"id": "1", "name": "Engineering", "slug": "engineering"}],
        "platforms": [project["platform"]], "hasUserReports": False, "environments": ["production"],
        "latestRelease": None, "latestDeploys": None, "options": {},
        "avatar": {"avatarType": "letter_avatar", "avatarUuid": None},
    }


_QUERY_TERM = re.compile(r'(!)?(?:([A-Za-z_][\w.]*):("[^"]*"|\S+)|("[^"]*"|\S+))')


def _query_terms(query: str) -> list[tuple[bool, str | None, str]]:
    """Sentry search syntax: ``is:unresolved !is:ignored level:error "free text"``."""
    terms = []
    for match in _QUERY_TERM.finditer(query or ""):
        negated = bool(match.group(1))
        if match.group(2):
            value = match.group(3)
            terms.append((negated, match.group(2).lower(), value.strip('"')))
        else:
            terms.append((negated, None, match.group(4).strip('"')))
    return terms


def _is_filter(issue: dict, value: str, substatus: str | None) -> bool:
    value = value.lower()
    if value in ("unresolved", "resolved", "ignored"):
        return issue["status"] == value
    if value == "archived":
        return issue["status"] == "ignored"
    if value in ("regressed", "new", "ongoing", "escalating"):
        return issue["status"] == "unresolved" and substatus == value
    if value == "assigned":
        return issue["assigned_to"] is not None
    if value == "unassigned":
        return issue["assigned_to"] is None
    if value == "bookmarked":
        return issue["is_bookmarked"]
    if value == "for_review":
        return issue["status"] == "unresolved" and substatus in ("new", "regressed")
    return value == "unlinked"  # no issue is linked to an external tracker here


def _parse_query_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SentryError(400, {"detail": "Error parsing start or end datetime"}) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _period_start(now: datetime) -> datetime:
    """The earliest ``lastSeen`` the issue list shows (``statsPeriod`` / ``start``)."""
    if request.args.get("start"):
        return _parse_query_time(request.args["start"])
    period = request.args.get("statsPeriod") or DEFAULT_STATS_PERIOD
    try:
        return now - parse_period(period)
    except ValueError:
        raise SentryError(400, {"detail": f"Invalid statsPeriod: {period!r}"}) from None


def start(port: int = 0, seed: bool = True, knobs: Knobs | None = None) -> tuple[ServiceThread, SentryState]:
    """Serve a (demo-seeded) Sentry on 127.0.0.1:``port`` from a daemon thread."""
    state = SentryState()
    if seed:
        state.seed_demo()
    service = ServiceThread(create_app(state, knobs), port=port)
    state.base_url = service.url
    return service.start(), state
