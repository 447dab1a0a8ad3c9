"""JIRA emulator routes for work on issues and the things around it: worklogs, votes, attachments,
``PUT /issue/{key}/assignee``, ``editmeta``, assignable / view-issue user searches, saved filters,
components and ``DELETE /version/{id}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint, Response, request

from bridge.sandbox.jira_http import Call, Routes, int_arg, json_response, multi_arg, read_body
from bridge.sandbox.jira_records import INVALID_PAYLOAD, JiraError
from bridge.sandbox.jira_render import user_json
from bridge.sandbox.jira_render_work import (
    attachment_json, component_settings_json, editmeta_json, filter_json, votes_json, worklog_json,
)

if TYPE_CHECKING:
    from bridge.sandbox.jira_state import JiraState

#: Jira refuses multipart uploads without this header (XSRF protection).
XSRF_HEADER = "X-Atlassian-Token"


def work_routes(state: "JiraState") -> Blueprint:
    """The blueprint of these routes for ``state``."""
    routes = Routes("jira_work", state)
    endpoint, cloud = routes.endpoint, routes.cloud

    # -- worklogs ------------------------------------------------------------------------------
    @endpoint("issue/<key>/worklog")
    def worklogs(call: Call, key: str):
        record = state.visible_issue(key, call.user)
        logs = [worklog_json(w, record, call.view) for w in record.worklogs]
        start, size = int_arg("startAt", 0), int_arg("maxResults", 5000)
        return json_response({"startAt": start, "maxResults": size, "total": len(logs),
                              "worklogs": logs[start:start + size]})

    @endpoint("issue/<key>/worklog", methods=("POST",))
    def add_worklog(call: Call, key: str):
        record = state.visible_issue(key, call.user)
        worklog = state.add_worklog(record, read_body(), call.user)
        return json_response(worklog_json(worklog, record, call.view), 201)

    @endpoint("issue/<key>/worklog/<worklog_id>")
    def get_worklog(call: Call, key: str, worklog_id: str):
        record = state.visible_issue(key, call.user)
        return json_response(worklog_json(state.find_worklog(record, worklog_id), record, call.view))

    @endpoint("issue/<key>/worklog/<worklog_id>", methods=("PUT",))
    def update_worklog(call: Call, key: str, worklog_id: str):
        record = state.visible_issue(key, call.user)
        worklog = state.find_worklog(record, worklog_id)
        state.update_worklog(record, worklog, read_body(), call.user)
        return json_response(worklog_json(worklog, record, call.view))

    @endpoint("issue/<key>/worklog/<worklog_id>", methods=("DELETE",))
    def delete_worklog(call: Call, key: str, worklog_id: str):
        record = state.visible_issue(key, call.user)
        state.delete_worklog(record, state.find_worklog(record, worklog_id), call.user)
        return Response(status=204)

    # -- votes, assignee, editmeta -------------------------------------------------------------
    @endpoint("issue/<key>/votes")
    def votes(call: Call, key: str):
        return json_response(votes_json(state.visible_issue(key, call.user), call.view, with_voters=True))

    @endpoint("issue/<key>/votes", methods=("POST", "DELETE"))
    def vote(call: Call, key: str):
        state.vote(state.visible_issue(key, call.user), call.user, add=request.method == "POST")
        return Response(status=204)

    @endpoint("issue/<key>/assignee", methods=("PUT",))
    def assign(call: Call, key: str):
        record = state.editable_issue(key, call.user, "assign issues")
        body = read_body()
        if not isinstance(body, dict):
            raise JiraError(400, [INVALID_PAYLOAD])
        ref = body.get("accountId") if cloud else body.get("name")
        if ref == "-1":  # "automatic": the project's default assignee, its lead
            target = state.users[state.projects[record.project_id].lead]
        elif ref is None:
            target = None
        else:
            target = state.user_by(account_id=ref) if cloud else state.user_by(name=ref)
            if target is None:
                raise JiraError(400, [], {"assignee": f"User '{ref}' does not exist."})
        state.assign(record, target, call.user)
        return Response(status=204)

    @endpoint("issue/<key>/editmeta")
    def editmeta(call: Call, key: str):
        state.editable_issue(key, call.user)
        return json_response(editmeta_json(call.view))

    # -- attachments ---------------------------------------------------------------------------
    @endpoint("issue/<key>/attachments", methods=("POST",))
    def add_attachments(call: Call, key: str):
        if request.headers.get(XSRF_HEADER, "").lower() != "no-check":
            raise JiraError(403, ["XSRF check failed"])
        record = state.visible_issue(key, call.user)
        uploads = request.files.getlist("file")
        if not uploads:
            raise JiraError(400, ["No file was provided in the 'file' form field."])
        created = [state.add_attachment(record, u.filename or "attachment", u.read(), u.mimetype, call.user)
                   for u in uploads]
        return json_response([attachment_json(a, call.view) for a in created])

    @endpoint("attachment/meta")
    def attachment_meta(call: Call):
        return json_response({"enabled": True, "uploadLimit": 10485760})

    @endpoint("attachment/<attachment_id>")
    def get_attachment(call: Call, attachment_id: str):
        return json_response(attachment_json(state.find_attachment(attachment_id, call.user)[1], call.view))

    @endpoint("attachment/<attachment_id>", methods=("DELETE",))
    def delete_attachment(call: Call, attachment_id: str):
        state.delete_attachment(attachment_id, call.user)
        return Response(status=204)

    @endpoint("<attachment_id>/<path:filename>", prefix="/secure/attachment/", versions=("2",))
    def attachment_content(call: Call, attachment_id: str, filename: str):
        found = state.find_attachment(attachment_id, call.user)[1]
        return Response(found.content, mimetype=found.mime_type)

    # -- user searches -------------------------------------------------------------------------
    def user_page(users: list, call: Call) -> Response:
        start, size = int_arg("startAt", 0), int_arg("maxResults", 50)
        return json_response([user_json(u, call.view, full=True) for u in users[start:start + size]])

    def matching(text: str | None, project_keys: list[str]) -> list:
        found = state.search_users(text) if text else list(state.users.values())
        return [u for u in found if u.active and all(k in u.edit for k in project_keys)]

    def projects_from_args(call: Call) -> list[str]:
        keys = multi_arg("projectKeys") or multi_arg("project") or multi_arg("projectKey")
        issue_key = request.args.get("issueKey")
        if issue_key:
            keys.append(state.projects[state.visible_issue(issue_key, call.user).project_id].key)
        if not keys:
            raise JiraError(400, ["The parameters 'project' or 'issueKey' are required."])
        for key in keys:
            project = state.project(key)
            if project is None or project.key not in call.user.browse:
                raise JiraError(404, [f"No project could be found with key '{key}'."])
        return [state.project(k).key for k in keys]

    @endpoint("user/assignable/<any(search,multiProjectSearch):kind>")
    def assignable_users(call: Call, kind: str):
        text = request.args.get("query") or request.args.get("username")
        return user_page(matching(text, projects_from_args(call)), call)

    @endpoint("user/viewissue/search")
    def view_issue_users(call: Call):
        keys = projects_from_args(call)
        text = request.args.get("query") if cloud else request.args.get("username")
        found = state.search_users(text) if text else list(state.users.values())
        return user_page([u for u in found if all(k in u.browse for k in keys)], call)

    @endpoint("user/", methods=("DELETE",))
    def delete_user_slash(call: Call):
        ref = request.args.get("accountId" if cloud else "username")
        target = (state.user_by(account_id=ref) if cloud else state.user_by(name=ref)) if ref else None
        if target is None:
            raise JiraError(404, [f"The user named '{ref}' does not exist"])
        state.delete_user(target, call.user)
        return Response(status=204)

    # -- filters ---------------------------------------------------------------------------------
    @endpoint("filter", methods=("POST",))
    def create_filter(call: Call):
        return json_response(filter_json(state.save_filter(read_body(), call.user), call.view))

    @endpoint("filter/favourite")
    def favourite_filters(call: Call):
        return json_response([filter_json(f, call.view) for f in state.filters.values()
                              if call.user.key in f.favourite_of])

    @endpoint("filter/my")
    def my_filters(call: Call):
        return json_response([filter_json(f, call.view) for f in state.filters.values() if f.owner == call.user.key])

    @endpoint("filter/<filter_id>")
    def get_filter(call: Call, filter_id: str):
        return json_response(filter_json(state.find_filter(filter_id, call.user), call.view))

    @endpoint("filter/<filter_id>", methods=("PUT",))
    def update_filter(call: Call, filter_id: str):
        found = state.save_filter(read_body(), call.user, existing=state.find_filter(filter_id, call.user))
        return json_response(filter_json(found, call.view))

    @endpoint("filter/<filter_id>", methods=("DELETE",))
    def delete_filter(call: Call, filter_id: str):
        state.delete_filter(state.find_filter(filter_id, call.user), call.user)
        return Response(status=204)

    # -- components, versions ---------------------------------------------------------------------
    @endpoint("component", methods=("POST",))
    def create_component(call: Call):
        component_id, _ = state.save_component(read_body(), call.user)
        return json_response(component_settings_json(component_id, call.view), 201)

    @endpoint("component/<component_id>")
    def get_component(call: Call, component_id: str):
        state.component_project(component_id, call.user)
        return json_response(component_settings_json(component_id, call.view))

    @endpoint("component/<component_id>", methods=("PUT",))
    def update_component(call: Call, component_id: str):
        state.save_component(read_body(), call.user, component_id)
        return json_response(component_settings_json(component_id, call.view))

    @endpoint("component/<component_id>", methods=("DELETE",))
    def delete_component(call: Call, component_id: str):
        state.delete_component(component_id, call.user)
        return Response(status=204)

    @endpoint("component/<component_id>/relatedIssueCounts")
    def component_issue_count(call: Call, component_id: str):
        state.component_project(component_id, call.user)
        count = sum(1 for r in state.issues.values() if component_id in r.fields.get("components", []))
        return json_response({"self": f"{call.view.rest}/component/{component_id}", "issueCount": count})

    @endpoint("version/<version_id>", methods=("DELETE",))
    def delete_version(call: Call, version_id: str):
        version = state.versions.get(version_id)
        if version is None or state.projects[version.project_id].key not in call.user.browse:
            raise JiraError(404, [f"Could not find version for id '{version_id}'"])
        state.delete_version(version, call.user)
        return Response(status=204)

    return routes.blueprint
