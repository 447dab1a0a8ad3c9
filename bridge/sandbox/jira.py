"""The JIRA emulator: Jira Cloud or Data Center REST on loopback, for tests, demo and benchmarks.

One instance emulates one deployment (``JiraState(mode="cloud" | "server")``):

* **Cloud** — ``serverInfo.deploymentType = "Cloud"``, users by ``accountId``, REST v2
  (plain-text bodies) and v3 (Atlassian Document Format bodies; a plain string answers 400
  as Cloud does), ``GET/POST /rest/api/{2,3}/search/jql`` paged by ``nextPageToken`` without
  ``total``, and the removed ``/search`` answering 410 (CHANGE-2046).
* **Data Center** — ``deploymentType = "Server"``, users by ``name``/``key``, REST v2 only,
  ``/search`` paged by ``startAt``/``maxResults`` with ``total``; ``search/jql`` is 404.

Authentication as the real services: Cloud takes e-mail + API token (basic auth); Data
Center username + password (basic) or a personal access token (``Authorization: Bearer``).
Bad credentials answer 401, a user without the project permission 403, and an issue the
user may not see 404 — all with Jira's ``{"errorMessages": [...], "errors": {...}}`` body.

The unmodified ``jira`` library drives both modes (see ``tests/integration/
test_sandbox_jira.py``). The shared harness (:mod:`bridge.sandbox.server`) adds latency,
rate limits with Jira's headers, faults, counters and the request journal; JIRA-only
settings are under ``PATCH /__sandbox__/jira`` (``{"search_lag_s": 2}``: searches miss
writes younger than that unless their ids are in ``reconcileIssues``).

State, rendering and search live in ``jira_state``, ``jira_render``, ``jira_search`` and
``jql``; this module is the HTTP surface only.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from flask import Flask, Response, request

from bridge.sandbox import jql
from bridge.sandbox.jira_catalog import (
    DEMO_LOGINS, ISSUE_TYPES, LINK_TYPES, PRIORITIES, RESOLUTIONS,
    STATUS_CATEGORIES, STATUSES, DemoLogin, JiraUser,
)
from bridge.sandbox.jira_render import (
    View, comment_json, field_list_json, field_name, field_schema, issue_json, issuetype_json, link_json, link_type_json,
    priority_json, project_json, remote_link_json, resolution_json, select_fields,
    server_info_json, status_category_json, status_json, transition_json, user_json,
    version_json, visible_comments, watchers_json, changegroup_json,
)
from bridge.sandbox.jira_state import INVALID_PAYLOAD, JiraError, JiraState
from bridge.sandbox.server import ADMIN_PREFIX, Knobs, ServiceThread, Vendor, install

__all__ = [
    "JiraState", "JiraError", "JIRA_VENDOR", "DEMO_CREDENTIALS", "DEMO_LOGINS", "DemoLogin",
    "create_app", "start",
]

#: The integration user the bridge runs as, flat, for configuration and fixtures:
#: Cloud logs in with ``email`` + ``api_token``; Data Center with ``username`` +
#: ``password`` or ``pat`` (bearer). Every seeded user is in :data:`DEMO_LOGINS`.
DEMO_CREDENTIALS: dict[str, str] = {
    "username": DEMO_LOGINS["bridge"].username,
    "email": DEMO_LOGINS["bridge"].email,
    "password": DEMO_LOGINS["bridge"].password,
    "api_token": DEMO_LOGINS["bridge"].api_token,
    "pat": DEMO_LOGINS["bridge"].pat,
    "account_id": DEMO_LOGINS["bridge"].account_id,
}

NOT_AUTHENTICATED = "You are not authenticated. Authentication required to perform this operation."
SEARCH_REMOVED = ("The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
                  "A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046")
UNBOUNDED_JQL = "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."
#: Cloud ``search/jql`` page sizes: large pages only when just ids/keys are asked for.
CLOUD_MAX_PAGE_IDS_ONLY = 5000
CLOUD_MAX_PAGE = 100
SERVER_MAX_PAGE = 1000


# -- the vendor's shared behaviour (error body, rate-limit headers) ----------------------------

def _json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(data, separators=(",", ":")), status=status,
                    mimetype="application/json", headers=headers)


def _error_response(status: int, message: str) -> Response:
    return _json_response({"errorMessages": [message], "errors": {}}, status)


def _cloud_rate_headers(limit: int, remaining: int, reset_epoch: float) -> dict[str, str]:
    reset = datetime.fromtimestamp(reset_epoch, timezone.utc).isoformat(timespec="milliseconds")
    headers = {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": reset.replace("+00:00", "Z"),
    }
    if remaining <= 0:
        # Cloud names the limit that was hit; an API-token caller meets the burst limit.
        headers["RateLimit-Reason"] = "jira-burst-based"
    if limit and remaining < 0.2 * limit:
        headers["X-RateLimit-NearLimit"] = "true"
    return headers


#: Jira Cloud: error body and rate-limit headers.
JIRA_VENDOR = Vendor(name="jira", error_response=_error_response, rate_limit_headers=_cloud_rate_headers)


def _server_vendor(knobs: Knobs) -> Vendor:
    """Data Center: a token bucket per user, announced with interval and fill rate."""
    def headers(limit: int, remaining: int, reset_epoch: float) -> dict[str, str]:
        interval = knobs.rate_window_s or knobs.retry_after_s or 1
        return {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Interval-Seconds": str(int(interval) if float(interval).is_integer() else interval),
            "X-RateLimit-FillRate": str(limit),
        }
    return Vendor(name="jira-server", error_response=_error_response, rate_limit_headers=headers)


# -- per-request context -------------------------------------------------------------------

@dataclass(frozen=True)
class Call:
    """The authenticated caller of one request and how answers are rendered for them."""

    user: JiraUser
    view: View

    @property
    def adf(self) -> bool:
        return self.view.adf


def _base_url() -> str:
    return request.host_url.rstrip("/")


def _authenticate(state: JiraState) -> JiraUser | None:
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "basic":
        try:
            login, _, secret = base64.b64decode(credentials.strip()).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return state.authenticate_basic(login, secret)
    if scheme.lower() == "bearer":
        return state.authenticate_bearer(credentials.strip())
    return None


def _unauthorized(state: JiraState) -> Response:
    response = _error_response(401, NOT_AUTHENTICATED)
    if state.mode == "server":
        response.headers["X-Seraph-LoginReason"] = "AUTHENTICATED_FAILED" if request.headers.get(
            "Authorization") else "AUTHENTICATION_DENIED"
    else:
        response.headers["WWW-Authenticate"] = 'Basic realm="protected-area"'
    return response


def _body(*, required: bool = True) -> Any:
    raw = request.get_data(cache=True)
    if not raw.strip():
        if required:
            raise JiraError(400, [INVALID_PAYLOAD])
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise JiraError(400, [INVALID_PAYLOAD]) from None


def _multi(name: str) -> list[str]:
    """A list parameter: repeated (``fields=a&fields=b``) or comma separated (``fields=a,b``)."""
    return [part.strip() for value in request.args.getlist(name) for part in value.split(",") if part.strip()]


def _int_arg(name: str, default: int, source: dict | None = None) -> int:
    raw = (source or {}).get(name) if source is not None else request.args.get(name)
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool):
        raise JiraError(400, [f"The value '{raw}' is not valid for the parameter '{name}'."])
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise JiraError(400, [f"The value '{raw}' is not valid for the parameter '{name}'."]) from None
    if value < 0:
        raise JiraError(400, [f"The value '{raw}' is not valid for the parameter '{name}'."])
    return value


# -- the app ---------------------------------------------------------------------------------

def create_app(state: JiraState, knobs: Knobs | None = None) -> Flask:
    """A Flask app serving ``state`` as Jira Cloud or Data Center, with the sandbox harness."""
    app = Flask(f"sandbox-jira-{state.mode}")
    knobs = knobs or Knobs()
    install(app, JIRA_VENDOR if state.mode == "cloud" else _server_vendor(knobs), knobs)
    cloud = state.mode == "cloud"
    api_versions = ("2", "3", "latest") if cloud else ("2", "latest")

    def endpoint(rule: str, methods: tuple[str, ...] = ("GET",), *, auth: bool = True,
                 versions: tuple[str, ...] | None = None, prefix: str = "/rest/api/<api>/"):
        """Register a REST endpoint under every supported API version, authenticated and locked."""
        def decorate(handler: Callable[..., Response]) -> Callable[..., Response]:
            @functools.wraps(handler)
            def wrapper(api: str = "2", **kwargs: Any) -> Response:
                if api not in (versions or api_versions):
                    return _error_response(404, "null for uri: " + request.url)
                presented = bool(request.headers.get("Authorization"))
                user = _authenticate(state) if presented else None
                # Wrong credentials are refused even where anonymous access is allowed.
                if user is None and (auth or presented):
                    return _unauthorized(state)
                view = View(state, _base_url(), "3" if api == "3" else "2", user)
                try:
                    with state.lock:
                        return handler(Call(user, view) if user else view, **kwargs)
                except JiraError as exc:
                    return _json_response(exc.body(), exc.status)
            app.add_url_rule(prefix + rule, f"{handler.__name__}", wrapper, methods=list(methods))
            return wrapper
        return decorate

    # -- about the site -------------------------------------------------------------------
    @endpoint("serverInfo", auth=False)
    def server_info(call):
        view = call.view if isinstance(call, Call) else call
        return _json_response(server_info_json(view))

    @endpoint("myself")
    def myself(call: Call):
        return _json_response(user_json(call.user, call.view, full=True))

    @endpoint("session", prefix="/rest/auth/1/", versions=("2",))
    def session(call: Call):
        return _json_response({"self": f"{call.view.base_url}/rest/api/2/user?username={call.user.name}",
                               "name": call.user.name, "loginInfo": {"loginCount": 1, "failedLoginCount": 0}})

    @endpoint("listApplicationlinks", prefix="/rest/applinks/latest/", versions=("2",))
    def application_links(call: Call):
        # No application links are configured (the library asks before add_remote_link).
        return _json_response([])

    @endpoint("field")
    def fields(call: Call):
        return _json_response(field_list_json(call.view))

    @endpoint("issuetype")
    def issue_types(call: Call):
        return _json_response([issuetype_json(t, call.view) for t in ISSUE_TYPES])

    @endpoint("issuetype/<type_id>")
    def issue_type(call: Call, type_id: str):
        found = next((t for t in ISSUE_TYPES if t.id == type_id), None)
        if found is None:
            raise JiraError(404, ["The issue type does not exist."])
        return _json_response(issuetype_json(found, call.view))

    @endpoint("priority")
    def priorities(call: Call):
        return _json_response([priority_json(p, call.view) for p in PRIORITIES])

    @endpoint("priority/<priority_id>")
    def priority(call: Call, priority_id: str):
        found = next((p for p in PRIORITIES if p.id == priority_id), None)
        if found is None:
            raise JiraError(404, [f"The priority with ID '{priority_id}' does not exist."])
        return _json_response(priority_json(found, call.view))

    @endpoint("status")
    def statuses(call: Call):
        return _json_response([status_json(s, call.view) for s in STATUSES])

    @endpoint("status/<id_or_name>")
    def status(call: Call, id_or_name: str):
        found = next((s for s in STATUSES if id_or_name in (s.id, s.name)), None)
        if found is None:
            raise JiraError(404, [f"The status with ID or name '{id_or_name}' does not exist."])
        return _json_response(status_json(found, call.view))

    @endpoint("statuscategory")
    def status_categories(call: Call):
        return _json_response([status_category_json(c.id, call.view) for c in STATUS_CATEGORIES])

    @endpoint("resolution")
    def resolutions(call: Call):
        return _json_response([resolution_json(r, call.view) for r in RESOLUTIONS])

    @endpoint("resolution/<resolution_id>")
    def resolution(call: Call, resolution_id: str):
        found = next((r for r in RESOLUTIONS if r.id == resolution_id), None)
        if found is None:
            raise JiraError(404, [f"The resolution with ID '{resolution_id}' does not exist."])
        return _json_response(resolution_json(found, call.view))

    @endpoint("issueLinkType")
    def link_types(call: Call):
        return _json_response({"issueLinkTypes": [link_type_json(t, call.view) for t in LINK_TYPES]})

    @endpoint("issueLinkType/<type_id>")
    def link_type(call: Call, type_id: str):
        found = next((t for t in LINK_TYPES if t.id == type_id), None)
        if found is None:
            raise JiraError(404, [f"No issue link type with id '{type_id}' exists."])
        return _json_response(link_type_json(found, call.view))

    # -- projects, versions, users ------------------------------------------------------------
    def visible_project(call: Call, key: str):
        project = state.project(key)
        if project is None or project.key not in call.user.browse:
            raise JiraError(404, [f"No project could be found with key '{key}'."])
        return project

    @endpoint("project")
    def projects(call: Call):
        return _json_response([project_json(p, call.view) for p in state.visible_projects(call.user)])

    @endpoint("project/<key>")
    def project(call: Call, key: str):
        return _json_response(project_json(visible_project(call, key), call.view, full=True))

    @endpoint("project/<key>/versions")
    def project_versions(call: Call, key: str):
        found = visible_project(call, key)
        return _json_response([version_json(v, call.view) for v in state.versions.values()
                               if v.project_id == found.id])

    @endpoint("project/<key>/components")
    def project_components(call: Call, key: str):
        found = visible_project(call, key)
        return _json_response([{"self": f"{call.view.rest}/component/{cid}", "id": cid, "name": name,
                                "project": found.key, "projectId": int(found.id)}
                               for cid, name in found.components.items()])

    @endpoint("version", methods=("POST",))
    def create_version(call: Call):
        version = state.create_version(_body(), call.user)
        return _json_response(version_json(version, call.view), 201)

    def visible_version(call: Call, version_id: str):
        version = state.versions.get(version_id)
        if version is None or state.projects[version.project_id].key not in call.user.browse:
            raise JiraError(404, [f"Could not find version for id '{version_id}'"])
        return version

    @endpoint("version/<version_id>")
    def get_version(call: Call, version_id: str):
        return _json_response(version_json(visible_version(call, version_id), call.view))

    @endpoint("version/<version_id>", methods=("PUT",))
    def update_version(call: Call, version_id: str):
        version = visible_version(call, version_id)
        state.update_version(version, _body(), call.user)
        return _json_response(version_json(version, call.view))

    @endpoint("user")
    def get_user(call: Call):
        if cloud:
            found = state.user_by(account_id=request.args.get("accountId", ""))
        else:
            found = state.user_by(name=request.args.get("username", "")) or state.users.get(request.args.get("key", ""))
        if found is None:
            raise JiraError(404, ["Specified user does not exist or you do not have required permissions"]
                            if cloud else [f"The user named '{request.args.get('username')}' does not exist"])
        return _json_response(user_json(found, call.view, full=True))

    @endpoint("user/search")
    def search_users(call: Call):
        text = request.args.get("query") if cloud else request.args.get("username")
        if cloud and not text and request.args.get("accountId"):
            found = [u for u in state.users.values() if u.account_id == request.args["accountId"]]
        elif not text:
            raise JiraError(400, ["The query parameter 'query' is required." if cloud
                                  else "The username query parameter was not provided"])
        else:
            found = state.search_users(text)
        start, size = _int_arg("startAt", 0), _int_arg("maxResults", 50)
        return _json_response([user_json(u, call.view, full=True) for u in found[start:start + size]])

    # -- issues ---------------------------------------------------------------------------------
    @endpoint("issue", methods=("POST",))
    def create_issue(call: Call):
        record = state.create_issue(_body(), call.user, adf=call.adf)
        return _json_response({"id": str(record.id), "key": record.key,
                               "self": f"{call.view.rest}/issue/{record.id}"}, 201)

    @endpoint("issue/bulk", methods=("POST",))
    def create_issues(call: Call):
        payload = _body()
        updates = payload.get("issueUpdates") if isinstance(payload, dict) else None
        if not isinstance(updates, list):
            raise JiraError(400, [INVALID_PAYLOAD])
        if len(updates) > 50:
            raise JiraError(400, ["Bulk create is limited to 50 issues per request."])
        created, errors = [], []
        for index, update in enumerate(updates):
            try:
                record = state.create_issue(update, call.user, adf=call.adf)
            except JiraError as exc:
                errors.append({"status": exc.status, "elementErrors": exc.body(), "failedElementNumber": index})
            else:
                created.append({"id": str(record.id), "key": record.key,
                                "self": f"{call.view.rest}/issue/{record.id}"})
        return _json_response({"issues": created, "errors": errors}, 201 if created or not updates else 400)

    @endpoint("issue/<key>")
    def get_issue(call: Call, key: str):
        record = state.visible_issue(key, call.user)
        return _json_response(issue_json(record, call.view, fields=select_fields(_multi("fields"), "*all"),
                                         expand=_multi("expand"), properties=_multi("properties")))

    @endpoint("issue/<key>", methods=("PUT",))
    def edit_issue(call: Call, key: str):
        record = state.editable_issue(key, call.user)
        state.edit_issue(record, _body(), call.user, adf=call.adf)
        if request.args.get("returnIssue", "").lower() == "true":
            return _json_response(issue_json(record, call.view, fields=select_fields(None, "*all"),
                                             expand=_multi("expand")))
        return Response(status=204)

    @endpoint("issue/<key>", methods=("DELETE",))
    def delete_issue(call: Call, key: str):
        record = state.editable_issue(key, call.user, "delete issues")
        state.delete_issue(record, call.user)
        return Response(status=204)

    @endpoint("issue/<key>/changelog")
    def changelog(call: Call, key: str):
        record = state.visible_issue(key, call.user)
        start, size = _int_arg("startAt", 0), _int_arg("maxResults", 100)
        page = record.changelog[start:start + size]
        return _json_response({
            "self": f"{call.view.rest}/issue/{record.key}/changelog?maxResults={size}&startAt={start}",
            "maxResults": size, "startAt": start, "total": len(record.changelog),
            "isLast": start + size >= len(record.changelog),
            "values": [changegroup_json(g, call.view) for g in page]})

    @endpoint("issue/<key>/transitions")
    def transitions(call: Call, key: str):
        record = state.visible_issue(key, call.user)
        available = state.transitions_for(record)
        wanted = request.args.get("transitionId")
        if wanted:
            available = [t for t in available if t.id == wanted]
        with_fields = "transitions.fields" in _multi("expand")
        return _json_response({"expand": "transitions", "transitions": [
            transition_json(t, call.view, with_fields=with_fields) for t in available]})

    @endpoint("issue/<key>/transitions", methods=("POST",))
    def do_transition(call: Call, key: str):
        record = state.visible_issue(key, call.user)
        state.transition(record, _body(), call.user, adf=call.adf)
        return Response(status=204)

    # -- comments -------------------------------------------------------------------------------
    @endpoint("issue/<key>/comment")
    def comments(call: Call, key: str):
        record = state.visible_issue(key, call.user)
        listed = visible_comments(record, call.view)
        if request.args.get("orderBy", "created").lstrip("+") == "-created":
            listed = list(reversed(listed))
        start, size = _int_arg("startAt", 0), _int_arg("maxResults", 5000)
        expand_properties = "properties" in _multi("expand")
        return _json_response({"startAt": start, "maxResults": size, "total": len(listed), "comments": [
            comment_json(c, record, call.view, expand_properties=expand_properties)
            for c in listed[start:start + size]]})

    @endpoint("issue/<key>/comment", methods=("POST",))
    def add_comment(call: Call, key: str):
        record = state.visible_issue(key, call.user)
        comment = state.add_comment(record, _body(), call.user, adf=call.adf)
        return _json_response(comment_json(comment, record, call.view,
                                           expand_properties="properties" in _multi("expand")), 201)

    @endpoint("issue/<key>/comment/<comment_id>")
    def get_comment(call: Call, key: str, comment_id: str):
        record = state.visible_issue(key, call.user)
        comment = state.find_comment(record, comment_id, call.user)
        return _json_response(comment_json(comment, record, call.view,
                                           expand_properties="properties" in _multi("expand")))

    @endpoint("issue/<key>/comment/<comment_id>", methods=("PUT",))
    def update_comment(call: Call, key: str, comment_id: str):
        record = state.visible_issue(key, call.user)
        comment = state.find_comment(record, comment_id, call.user)
        state.update_comment(record, comment, _body(), call.user, adf=call.adf)
        return _json_response(comment_json(comment, record, call.view,
                                           expand_properties="properties" in _multi("expand")))

    @endpoint("issue/<key>/comment/<comment_id>", methods=("DELETE",))
    def delete_comment(call: Call, key: str, comment_id: str):
        record = state.visible_issue(key, call.user)
        state.delete_comment(record, state.find_comment(record, comment_id, call.user), call.user)
        return Response(status=204)

    # -- links ------------------------------------------------------------------------------------
    @endpoint("issueLink", methods=("POST",))
    def create_link(call: Call):
        link = state.create_link(_body(), call.user, adf=call.adf)
        return Response(status=201, headers={"Location": f"{call.view.rest}/issueLink/{link.id}"})

    @endpoint("issueLink/<link_id>")
    def get_link(call: Call, link_id: str):
        link = state.links.get(link_id)
        if link is None or state.projects[state.issues[link.outward_id].project_id].key not in call.user.browse:
            raise JiraError(404, [f"No issue link with id '{link_id}' exists."])
        return _json_response(link_json(link, call.view))

    @endpoint("issueLink/<link_id>", methods=("DELETE",))
    def delete_link(call: Call, link_id: str):
        state.delete_link(link_id, call.user)
        return Response(status=204)

    @endpoint("issue/<key>/remotelink")
    def remote_links(call: Call, key: str):
        record = state.visible_issue(key, call.user)
        global_id = request.args.get("globalId")
        if global_id is not None:
            found = next((l for l in record.remote_links if l.global_id == global_id), None)
            if found is None:
                raise JiraError(404, [f"No remote link with global id '{global_id}' exists for this issue."])
            return _json_response(remote_link_json(found, record, call.view))
        return _json_response([remote_link_json(l, record, call.view) for l in record.remote_links])

    @endpoint("issue/<key>/remotelink", methods=("POST",))
    def upsert_remote_link(call: Call, key: str):
        record = state.visible_issue(key, call.user)
        link, created = state.upsert_remote_link(record, _body(), call.user)
        return _json_response({"id": link.id, "self": f"{call.view.rest}/issue/{record.key}/remotelink/{link.id}"},
                              201 if created else 200)

    @endpoint("issue/<key>/remotelink", methods=("DELETE",))
    def delete_remote_link_by_global_id(call: Call, key: str):
        record = state.visible_issue(key, call.user)
        global_id = request.args.get("globalId")
        if not global_id:
            raise JiraError(400, ["The 'globalId' query parameter is required."])
        found = next((l for l in record.remote_links if l.global_id == global_id), None)
        if found is None:
            raise JiraError(404, [f"No remote link with global id '{global_id}' exists for this issue."])
        state.delete_remote_link(record, found, call.user)
        return Response(status=204)

    def find_remote_link(record, link_id: str):
        found = next((l for l in record.remote_links if str(l.id) == link_id), None)
        if found is None:
            raise JiraError(404, [f"No remote link with id '{link_id}' exists for this issue."])
        return found

    @endpoint("issue/<key>/remotelink/<link_id>")
    def remote_link(call: Call, key: str, link_id: str):
        record = state.visible_issue(key, call.user)
        return _json_response(remote_link_json(find_remote_link(record, link_id), record, call.view))

    @endpoint("issue/<key>/remotelink/<link_id>", methods=("PUT",))
    def update_remote_link(call: Call, key: str, link_id: str):
        record = state.visible_issue(key, call.user)
        state.update_remote_link(record, find_remote_link(record, link_id), _body(), call.user)
        return Response(status=204)

    @endpoint("issue/<key>/remotelink/<link_id>", methods=("DELETE",))
    def delete_remote_link(call: Call, key: str, link_id: str):
        record = state.visible_issue(key, call.user)
        state.delete_remote_link(record, find_remote_link(record, link_id), call.user)
        return Response(status=204)

    # -- watchers, properties -------------------------------------------------------------------
    @endpoint("issue/<key>/watchers")
    def watchers(call: Call, key: str):
        return _json_response(watchers_json(state.visible_issue(key, call.user), call.view))

    def watcher_target(call: Call, ref: Any):
        if ref is None:
            return call.user
        if not isinstance(ref, str):
            raise JiraError(400, [INVALID_PAYLOAD])
        found = state.user_by(account_id=ref) if cloud else state.user_by(name=ref)
        if found is None:
            raise JiraError(404, [f"The user \"{ref}\" does not exist."])
        return found

    @endpoint("issue/<key>/watchers", methods=("POST",))
    def add_watcher(call: Call, key: str):
        record = state.visible_issue(key, call.user)
        state.add_watcher(record, watcher_target(call, _body(required=False)), call.user)
        return Response(status=204)

    @endpoint("issue/<key>/watchers", methods=("DELETE",))
    def remove_watcher(call: Call, key: str):
        record = state.visible_issue(key, call.user)
        param = "accountId" if cloud else "username"
        ref = request.args.get(param)
        if not ref:
            raise JiraError(400, [f"The '{param}' query parameter is required."])
        state.remove_watcher(record, watcher_target(call, ref), call.user)
        return Response(status=204)

    @endpoint("issue/<key>/properties")
    def properties(call: Call, key: str):
        record = state.visible_issue(key, call.user)
        return _json_response({"keys": [{"key": k, "self": f"{call.view.rest}/issue/{record.id}/properties/{k}"}
                                         for k in record.properties]})

    @endpoint("issue/<key>/properties/<property_key>")
    def get_property(call: Call, key: str, property_key: str):
        record = state.visible_issue(key, call.user)
        if property_key not in record.properties:
            raise JiraError(404, [f"The property with key '{property_key}' does not exist."])
        return _json_response({"key": property_key, "value": record.properties[property_key]})

    @endpoint("issue/<key>/properties/<property_key>", methods=("PUT",))
    def set_property(call: Call, key: str, property_key: str):
        record = state.visible_issue(key, call.user)
        raw = request.get_data(cache=True)
        if len(raw) > 32768:
            raise JiraError(400, ["The property value is too large: the limit is 32768 bytes."])
        created = state.set_property(record, property_key, _body(), call.user)
        return Response(status=201 if created else 200)

    @endpoint("issue/<key>/properties/<property_key>", methods=("DELETE",))
    def delete_property(call: Call, key: str, property_key: str):
        record = state.visible_issue(key, call.user)
        state.delete_property(record, property_key, call.user)
        return Response(status=204)

    # -- search -----------------------------------------------------------------------------------
    def search_params() -> dict[str, Any]:
        """Search parameters from the query string (GET) or the JSON body (POST)."""
        if request.method == "POST":
            body = _body()
            if not isinstance(body, dict):
                raise JiraError(400, [INVALID_PAYLOAD])
            params = dict(body)
            for name in ("fields", "properties", "reconcileIssues"):
                value = params.get(name)
                if isinstance(value, str):
                    params[name] = [v for v in value.split(",") if v]
                elif value is not None and not isinstance(value, list):
                    raise JiraError(400, [INVALID_PAYLOAD])
            expand = params.get("expand")
            if isinstance(expand, list):
                params["expand"] = expand
            elif isinstance(expand, str):
                params["expand"] = [e for e in expand.split(",") if e]
            elif expand is not None:
                raise JiraError(400, [INVALID_PAYLOAD])
            return params
        return {
            "jql": request.args.get("jql"), "fields": _multi("fields") if "fields" in request.args else None,
            "expand": _multi("expand"), "properties": _multi("properties"),
            "reconcileIssues": _multi("reconcileIssues"), "nextPageToken": request.args.get("nextPageToken"),
            "maxResults": request.args.get("maxResults"), "startAt": request.args.get("startAt"),
            "validateQuery": request.args.get("validateQuery"),
        }

    def run_search(call: Call, params: dict, *, strict: bool = True):
        jql_text = params.get("jql") or ""
        if not isinstance(jql_text, str):
            raise JiraError(400, [INVALID_PAYLOAD])
        try:
            reconcile = [int(i) for i in params.get("reconcileIssues") or []]
        except (TypeError, ValueError):
            raise JiraError(400, [INVALID_PAYLOAD]) from None
        if len(reconcile) > 50:
            raise JiraError(400, ["The number of issues to reconcile is limited to 50."])
        try:
            if cloud and jql.parse(jql_text).where is None:
                raise JiraError(400, [UNBOUNDED_JQL])
            return state.search(jql_text, call.user, strict=strict, reconcile=reconcile)
        except jql.JqlError as exc:
            raise JiraError(400, [str(exc)]) from None

    def page_token(jql_text: str, offset: int) -> str:
        digest = hashlib.sha1(jql_text.encode()).hexdigest()[:12]
        return base64.urlsafe_b64encode(f"{offset}:{digest}".encode()).decode().rstrip("=")

    def token_offset(token: str, jql_text: str) -> int:
        try:
            offset, digest = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode().split(":")
            if digest == hashlib.sha1(jql_text.encode()).hexdigest()[:12]:
                return int(offset)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            pass
        raise JiraError(400, ["The provided next page token is invalid or expired."])

    def names_and_schema(payload: dict, fields: list[str], expand: list[str]) -> None:
        if "names" in expand:
            payload["names"] = {f: field_name(f) for f in fields}
        if "schema" in expand:
            payload["schema"] = {f: field_schema(f) for f in fields if field_schema(f) is not None}

    @endpoint("search/jql", methods=("GET", "POST"), versions=("2", "3", "latest") if cloud else ("none",))
    def search_jql(call: Call):
        params = search_params()
        fields = select_fields(params.get("fields"), "")  # only ids unless fields are asked for
        id_only = not fields
        limit = CLOUD_MAX_PAGE_IDS_ONLY if id_only else CLOUD_MAX_PAGE
        size = min(_int_arg("maxResults", 50, params), limit)
        jql_text = params.get("jql") or ""
        offset = token_offset(params["nextPageToken"], jql_text) if params.get("nextPageToken") else 0
        records, _ = run_search(call, params)
        page = records[offset:offset + size]
        expand = params.get("expand") or []
        issues = [({"id": str(r.id)} if id_only and not expand else
                   issue_json(r, call.view, fields=fields, expand=expand, properties=params.get("properties") or []))
                  for r in page]
        payload: dict[str, Any] = {"issues": issues}
        names_and_schema(payload, fields, expand)
        if offset + size < len(records):
            payload["nextPageToken"] = page_token(jql_text, offset + size)
            payload["isLast"] = False
        else:
            payload["isLast"] = True
        return _json_response(payload)

    @endpoint("search", methods=("GET", "POST"))
    def search(call: Call):
        if cloud:
            raise JiraError(410, [SEARCH_REMOVED])
        params = search_params()
        # Data Center's validateQuery defaults to strict; "warn"/"false" turn value errors into warnings.
        validate = params.get("validateQuery")
        strict = validate is None or str(validate).lower() not in ("false", "warn", "none")
        start = _int_arg("startAt", 0, params)
        size = min(_int_arg("maxResults", 50, params), SERVER_MAX_PAGE)
        fields = select_fields(params.get("fields"), "*navigable")
        expand = params.get("expand") or []
        records, warnings = run_search(call, params, strict=strict)
        payload: dict[str, Any] = {
            "expand": "schema,names", "startAt": start, "maxResults": size, "total": len(records),
            "issues": [issue_json(r, call.view, fields=fields, expand=expand,
                                  properties=params.get("properties") or []) for r in records[start:start + size]],
        }
        if warnings:
            payload["warningMessages"] = list(warnings)
        names_and_schema(payload, fields, expand)
        return _json_response(payload)

    # -- JIRA-only sandbox settings ----------------------------------------------------------------
    @app.get(f"{ADMIN_PREFIX}/jira")
    def get_settings():
        return _json_response({"search_lag_s": state.search_lag_s, "mode": state.mode})

    @app.patch(f"{ADMIN_PREFIX}/jira")
    def set_settings():
        try:
            values = json.loads(request.get_data() or b"{}")
        except ValueError:
            return _json_response({"error": "body must be JSON"}, 400)
        if not isinstance(values, dict) or set(values) - {"search_lag_s"}:
            return _json_response({"error": "only search_lag_s can be set"}, 400)
        lag = values.get("search_lag_s", state.search_lag_s)
        if isinstance(lag, bool) or not isinstance(lag, (int, float)) or lag < 0:
            return _json_response({"error": "search_lag_s must be a number >= 0"}, 400)
        state.search_lag_s = float(lag)
        return _json_response({"search_lag_s": state.search_lag_s, "mode": state.mode})

    return app


def start(mode: str = "cloud", port: int = 0, seed: bool = True) -> tuple[ServiceThread, JiraState]:
    """Start an emulator on 127.0.0.1 (``port=0``: a free port), seeded with the demo world."""
    state = JiraState(mode)
    if seed:
        state.seed_demo()
    service = ServiceThread(create_app(state), port=port).start()
    state.base_url = service.url
    return service, state
