"""The Sentry emulator's state: organisations, projects, issues grouped from events, and
the demo seed (see :mod:`bridge.sandbox.sentry` for the API that serves it)."""

from __future__ import annotations

import copy
import json
import re
import threading
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Callable
from urllib.parse import urlsplit

from flask import Response

from bridge.sandbox import sentry_ingest
from bridge.sandbox.outgoing_webhooks import SentryHooks

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
            self.hooks.reset()
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
