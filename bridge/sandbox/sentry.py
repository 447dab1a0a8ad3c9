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
from datetime import timedelta
from typing import Any, Callable
from urllib.parse import urlencode, urlsplit

from flask import Flask, Response, request

from bridge.sandbox import sentry_ingest
from bridge.sandbox.server import Knobs, ServiceThread, Vendor, install, start_emulator
from bridge.sandbox.sentry_search import _is_filter, _parse_query_time, _period_start, _query_terms
from bridge.sandbox.sentry_state import (ALL_SCOPES, DEMO_CREDENTIALS, DEMO_PUBLIC_KEYS,
                                         DEMO_READ_ONLY_TOKEN, GROUPING_CONFIG, IS_VALUES, MAX_LIMIT, NEW_ISSUE_PERIOD,
                                         NO_PERMISSION, NOT_FOUND, SentryError, SentryState, format_time,
                                         parse_cursor, parse_period)
from bridge.sandbox.webhook_delivery import add_delivery_controls

__all__ = ["DEMO_CREDENTIALS", "DEMO_PUBLIC_KEYS", "DEMO_READ_ONLY_TOKEN", "SentryError", "SentryState",
           "create_app", "format_time", "parse_cursor", "parse_period", "start"]


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

    add_delivery_controls(app, state.hooks.dispatcher)
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




def start(port: int = 0, seed: bool = True, knobs: Knobs | None = None) -> tuple[ServiceThread, SentryState]:
    """Serve a (demo-seeded) Sentry on 127.0.0.1:``port`` from a daemon thread."""
    return start_emulator(SentryState(), create_app, port=port, seed=seed, knobs=knobs)
