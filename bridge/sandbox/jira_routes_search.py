"""JIRA emulator search routes: Data Center's ``/search`` (``startAt``/``total``) and Cloud's
``/search/jql`` (``nextPageToken``, no ``total``; the old ``/search`` answers 410, CHANGE-2046).
Long JQL comes by POST on both."""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

from flask import Blueprint, request

from bridge.sandbox import jql
from bridge.sandbox.jira_http import (
    CLOUD_MAX_PAGE,
    CLOUD_MAX_PAGE_IDS_ONLY,
    SEARCH_REMOVED,
    SERVER_MAX_PAGE,
    UNBOUNDED_JQL,
    Call,
    Routes,
    int_arg,
    json_response,
    multi_arg,
    read_body,
)
from bridge.sandbox.jira_records import INVALID_PAYLOAD, JiraError
from bridge.sandbox.jira_render import (
    field_name,
    field_schema,
    issue_json,
    select_fields,
)
from bridge.sandbox.jira_state import JiraState


#: Data Center's default Tomcat ``maxHttpHeaderSize`` (8 KB) bounds a GET's request line.
SERVER_MAX_REQUEST_LINE = 8192

def search_routes(state: JiraState) -> Blueprint:
    """The blueprint of these routes for ``state``."""
    routes = Routes("jira_search_routes", state)
    endpoint, cloud = routes.endpoint, routes.cloud

    # -- search -----------------------------------------------------------------------------------
    def search_params() -> dict[str, Any]:
        """Search parameters from the query string (GET) or the JSON body (POST)."""
        if request.method == "POST":
            body = read_body()
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
            "jql": request.args.get("jql"), "fields": multi_arg("fields") if "fields" in request.args else None,
            "expand": multi_arg("expand"), "properties": multi_arg("properties"),
            "reconcileIssues": multi_arg("reconcileIssues"), "nextPageToken": request.args.get("nextPageToken"),
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
        size = min(int_arg("maxResults", 50, params), limit)
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
        return json_response(payload)

    @endpoint("search", methods=("GET", "POST"))
    def search(call: Call):
        if cloud:
            raise JiraError(410, [SEARCH_REMOVED])
        if request.method == "GET" and len(request.full_path) > SERVER_MAX_REQUEST_LINE:
            # Tomcat in front of Data Center refuses request lines past its header buffer;
            # long JQL has to come by POST.
            raise JiraError(414, ["Request-URI Too Long"])
        params = search_params()
        # Data Center's validateQuery defaults to strict; "warn"/"false" turn value errors into warnings.
        validate = params.get("validateQuery")
        strict = validate is None or str(validate).lower() not in ("false", "warn", "none")
        start = int_arg("startAt", 0, params)
        size = min(int_arg("maxResults", 50, params), SERVER_MAX_PAGE)
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
        return json_response(payload)

    return routes.blueprint
