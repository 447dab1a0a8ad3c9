"""JIRA emulator routes about the site: server info, fields, issue types, priorities, statuses,
resolutions, link types, projects, versions and users."""

from __future__ import annotations

from typing import Callable, Iterable, TypeVar

from flask import Blueprint, Response, request

from bridge.sandbox.jira_catalog import (
    ISSUE_TYPES,
    LINK_TYPES,
    PRIORITIES,
    RESOLUTIONS,
    STATUS_CATEGORIES,
    STATUSES,
)
from bridge.sandbox.jira_http import (
    Call,
    Routes,
    int_arg,
    json_response,
    multi_arg,
    read_body,
)
from bridge.sandbox.jira_records import JiraError
from bridge.sandbox.jira_render import (
    field_list_json,
    issuetype_json,
    link_type_json,
    priority_json,
    project_json,
    resolution_json,
    server_info_json,
    status_category_json,
    status_json,
    user_json,
    version_json,
)
from bridge.sandbox.jira_state import JiraState

T = TypeVar("T")


def one_of(items: Iterable[T], matches: Callable[[T], bool], missing: str) -> T:
    """The first of a catalogue's ``items`` that ``matches``; 404 with Jira's ``missing`` message otherwise."""
    found = next((item for item in items if matches(item)), None)
    if found is None:
        raise JiraError(404, [missing])
    return found


def site_routes(state: JiraState) -> Blueprint:
    """The blueprint of these routes for ``state``."""
    routes = Routes("jira_site", state)
    endpoint, cloud = routes.endpoint, routes.cloud

    # -- about the site -------------------------------------------------------------------
    @endpoint("serverInfo", auth=False)
    def server_info(call):
        view = call.view if isinstance(call, Call) else call
        return json_response(server_info_json(view))

    @endpoint("myself")
    def myself(call: Call):
        return json_response(user_json(call.user, call.view, full=True))

    @endpoint("session", methods=("POST",), prefix="/rest/auth/1/", versions=("2",), auth=False)
    def login(view):
        body = read_body()
        if not isinstance(body, dict) or not isinstance(body.get("username"), str):
            raise JiraError(400, ["Invalid request payload. Refer to the REST API documentation and try again."])
        user = state.authenticate_basic(body["username"], str(body.get("password") or ""))
        if user is None:
            raise JiraError(401, ["Login failed"])
        token = state.start_session(user)
        response = json_response({"session": {"name": "JSESSIONID", "value": token},
                                  "loginInfo": {"loginCount": 1, "failedLoginCount": 0}})
        response.set_cookie("JSESSIONID", token, httponly=True)
        return response

    @endpoint("websudo", methods=("DELETE",), prefix="/rest/auth/1/", versions=("2",))
    def drop_websudo(call: Call):
        # The emulator never asks for websudo; dropping it always succeeds.
        return Response(status=204)

    @endpoint("session", prefix="/rest/auth/1/", versions=("2",))
    def session(call: Call):
        return json_response({"self": f"{call.view.base_url}/rest/api/2/user?username={call.user.name}",
                               "name": call.user.name, "loginInfo": {"loginCount": 1, "failedLoginCount": 0}})

    @endpoint("listApplicationlinks", prefix="/rest/applinks/latest/", versions=("2",))
    def application_links(call: Call):
        # No application links are configured (the library asks before add_remote_link).
        return json_response([])

    @endpoint("field")
    def fields(call: Call):
        return json_response(field_list_json(call.view))

    @endpoint("issuetype")
    def issue_types(call: Call):
        return json_response([issuetype_json(t, call.view) for t in ISSUE_TYPES])

    @endpoint("issuetype/<type_id>")
    def issue_type(call: Call, type_id: str):
        found = one_of(ISSUE_TYPES, lambda t: t.id == type_id, "The issue type does not exist.")
        return json_response(issuetype_json(found, call.view))

    @endpoint("priority")
    def priorities(call: Call):
        return json_response([priority_json(p, call.view) for p in PRIORITIES])

    @endpoint("priority/<priority_id>")
    def priority(call: Call, priority_id: str):
        found = one_of(PRIORITIES, lambda p: p.id == priority_id,
                       f"The priority with ID '{priority_id}' does not exist.")
        return json_response(priority_json(found, call.view))

    @endpoint("status")
    def statuses(call: Call):
        return json_response([status_json(s, call.view) for s in STATUSES])

    @endpoint("status/<id_or_name>")
    def status(call: Call, id_or_name: str):
        found = one_of(STATUSES, lambda s: id_or_name in (s.id, s.name),
                       f"The status with ID or name '{id_or_name}' does not exist.")
        return json_response(status_json(found, call.view))

    @endpoint("statuscategory")
    def status_categories(call: Call):
        return json_response([status_category_json(c.id, call.view) for c in STATUS_CATEGORIES])

    @endpoint("resolution")
    def resolutions(call: Call):
        return json_response([resolution_json(r, call.view) for r in RESOLUTIONS])

    @endpoint("resolution/<resolution_id>")
    def resolution(call: Call, resolution_id: str):
        found = one_of(RESOLUTIONS, lambda r: r.id == resolution_id,
                       f"The resolution with ID '{resolution_id}' does not exist.")
        return json_response(resolution_json(found, call.view))

    @endpoint("issueLinkType")
    def link_types(call: Call):
        return json_response({"issueLinkTypes": [link_type_json(t, call.view) for t in LINK_TYPES]})

    @endpoint("issueLinkType/<type_id>")
    def link_type(call: Call, type_id: str):
        found = one_of(LINK_TYPES, lambda t: t.id == type_id, f"No issue link type with id '{type_id}' exists.")
        return json_response(link_type_json(found, call.view))

    # -- projects, versions, users ------------------------------------------------------------
    def visible_project(call: Call, key: str):
        project = state.project(key)
        if project is None or project.key not in call.user.browse:
            raise JiraError(404, [f"No project could be found with key '{key}'."])
        return project

    @endpoint("project")
    def projects(call: Call):
        with_keys = "projectKeys" in multi_arg("expand")
        return json_response([{**project_json(p, call.view), **({"projectKeys": [p.key]} if with_keys else {})}
                              for p in state.visible_projects(call.user)])

    @endpoint("project/<key>")
    def project(call: Call, key: str):
        found = visible_project(call, key)
        data = project_json(found, call.view, full=True)
        if "projectKeys" in multi_arg("expand"):
            data["projectKeys"] = [found.key]
        return json_response(data)

    @endpoint("project/<key>/versions")
    def project_versions(call: Call, key: str):
        found = visible_project(call, key)
        return json_response([version_json(v, call.view) for v in state.versions.values()
                               if v.project_id == found.id])

    @endpoint("project/<key>/components")
    def project_components(call: Call, key: str):
        found = visible_project(call, key)
        return json_response([{"self": f"{call.view.rest}/component/{cid}", "id": cid, "name": name,
                                "project": found.key, "projectId": int(found.id)}
                               for cid, name in found.components.items()])

    @endpoint("version", methods=("POST",))
    def create_version(call: Call):
        version = state.create_version(read_body(), call.user)
        return json_response(version_json(version, call.view), 201)

    def visible_version(call: Call, version_id: str):
        version = state.versions.get(version_id)
        if version is None or state.projects[version.project_id].key not in call.user.browse:
            raise JiraError(404, [f"Could not find version for id '{version_id}'"])
        return version

    @endpoint("version/<version_id>")
    def get_version(call: Call, version_id: str):
        return json_response(version_json(visible_version(call, version_id), call.view))

    @endpoint("version/<version_id>", methods=("PUT",))
    def update_version(call: Call, version_id: str):
        version = visible_version(call, version_id)
        state.update_version(version, read_body(), call.user)
        return json_response(version_json(version, call.view))

    @endpoint("user")
    def get_user(call: Call):
        if cloud:
            found = state.user_by(account_id=request.args.get("accountId", ""))
        else:
            found = state.user_by(name=request.args.get("username", "")) or state.users.get(request.args.get("key", ""))
        if found is None:
            raise JiraError(404, ["Specified user does not exist or you do not have required permissions"]
                            if cloud else [f"The user named '{request.args.get('username')}' does not exist"])
        return json_response(user_json(found, call.view, full=True))

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
        start, size = int_arg("startAt", 0), int_arg("maxResults", 50)
        return json_response([user_json(u, call.view, full=True) for u in found[start:start + size]])

    return routes.blueprint
