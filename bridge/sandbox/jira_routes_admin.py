"""JIRA emulator routes for site administration and project configuration.

Projects (create, delete, roles, the schemes a project uses, statuses per issue type), Jira 9's
``issue/createmeta/{project}/issuetypes[/{id}]``, users and groups, application properties,
``statuscategory/{id}`` and ``mypermissions``: what a client library's integration suite
calls to set itself up and look around. Writes need ``jira-administrators``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, request

from bridge.sandbox.jira_catalog import ISSUE_TYPES, ROLES, STATUS_CATEGORIES, STATUSES, JiraUser
from bridge.sandbox.jira_http import Call, Routes, int_arg, json_response, read_body
from bridge.sandbox.jira_records import JiraError
from bridge.sandbox.jira_render import (
    View, field_name, field_schema, issuetype_json, status_category_json, status_json, user_json,
)

if TYPE_CHECKING:
    from bridge.sandbox.jira_state import JiraState

#: The one scheme of each kind every project uses (Jira's default names and ids).
SCHEMES = {
    "permissionscheme": {"id": 0, "name": "Default Permission Scheme",
                         "description": "This is the default Permission Scheme."},
    "notificationscheme": {"id": 10000, "name": "Default Notification Scheme", "description": ""},
    "issuesecuritylevelscheme": {"id": 10000, "name": "Default", "description": "The default security scheme."},
    "priorityscheme": {"id": 1, "name": "Default priority scheme", "description": "", "defaultScheme": True},
    "workflowscheme": {"id": 10000, "name": "Default Workflow Scheme", "description": "", "defaultWorkflow": "jira"},
}
TEMPLATES = ("Basic software development", "Kanban software development", "Process management",
             "Project management", "Scrum software development", "Task management")
#: Jira's permission keys ``mypermissions`` reports; plain users hold the project ones.
ADMIN_ONLY = {"ADMINISTER", "SYSTEM_ADMIN", "ADMINISTER_PROJECTS", "DELETE_ISSUES", "DELETE_ALL_COMMENTS",
              "DELETE_ALL_ATTACHMENTS", "DELETE_ALL_WORKLOGS", "EDIT_ALL_COMMENTS", "EDIT_ALL_WORKLOGS",
              "BULK_CHANGE", "MANAGE_GROUP_FILTER_SUBSCRIPTIONS", "CREATE_SHARED_OBJECTS", "MODIFY_REPORTER",
              "SET_ISSUE_SECURITY", "VIEW_VOTERS_AND_WATCHERS", "MANAGE_SPRINTS_PERMISSION"}
PERMISSIONS = (
    "ADD_COMMENTS", "ADMINISTER", "ADMINISTER_PROJECTS", "ASSIGNABLE_USER", "ASSIGN_ISSUES", "BROWSE_PROJECTS",
    "BULK_CHANGE", "CLOSE_ISSUES", "CREATE_ATTACHMENTS", "CREATE_ISSUES", "CREATE_SHARED_OBJECTS",
    "DELETE_ALL_ATTACHMENTS", "DELETE_ALL_COMMENTS", "DELETE_ALL_WORKLOGS", "DELETE_ISSUES",
    "DELETE_OWN_ATTACHMENTS", "DELETE_OWN_COMMENTS", "DELETE_OWN_WORKLOGS", "EDIT_ALL_COMMENTS",
    "EDIT_ALL_WORKLOGS", "EDIT_ISSUES", "EDIT_OWN_COMMENTS", "EDIT_OWN_WORKLOGS", "LINK_ISSUES",
    "MANAGE_GROUP_FILTER_SUBSCRIPTIONS", "MANAGE_SPRINTS_PERMISSION", "MANAGE_WATCHERS", "MODIFY_REPORTER",
    "MOVE_ISSUES", "RESOLVE_ISSUES", "SCHEDULE_ISSUES", "SET_ISSUE_SECURITY", "SYSTEM_ADMIN",
    "TRANSITION_ISSUES", "USER_PICKER", "VIEW_DEV_TOOLS", "VIEW_READONLY_WORKFLOW", "VIEW_VOTERS_AND_WATCHERS",
    "WORK_ON_ISSUES", "VIEW_WORKFLOW_READONLY", "BROWSE", "CREATE_ISSUE", "PROJECT_ADMIN", "COMMENT_ISSUE",
)
CREATE_FIELDS = ("summary", "issuetype", "project", "description", "priority", "labels", "components",
                 "fixVersions", "assignee", "reporter")


def admin_routes(state: "JiraState") -> Blueprint:
    """The blueprint of these routes for ``state``."""
    routes = Routes("jira_admin", state)
    endpoint, cloud = routes.endpoint, routes.cloud

    def project_of(call: Call, key: str):
        project = state.project(key)
        if project is None or project.key not in call.user.browse:
            raise JiraError(404, [f"No project could be found with key '{key}'."])
        return project

    def scheme_json(kind: str, view: View) -> dict[str, Any]:
        scheme = SCHEMES[kind]
        return {"self": f"{view.rest}/{kind}/{scheme['id']}", **scheme}

    def user_named(ref: str | None) -> JiraUser:
        found = (state.user_by(account_id=ref) if cloud else state.user_by(name=ref)) if ref else None
        if found is None:
            raise JiraError(404, [f"The user named '{ref}' does not exist"])
        return found

    def group_json(name: str, view: View, *, expand_users: bool) -> dict[str, Any]:
        data: dict[str, Any] = {"name": name, "self": f"{view.rest}/group?groupname={name}"}
        if expand_users:
            members = state.group_members(name)
            data["users"] = {"size": len(members), "items": [user_json(u, view) for u in members],
                             "max-results": 50, "start-index": 0, "end-index": max(0, len(members) - 1)}
            data["expand"] = "users"
        return data

    # -- schemes, categories, templates ---------------------------------------------------
    @endpoint("permissionscheme")
    def permission_schemes(call: Call):
        return json_response({"permissionSchemes": [scheme_json("permissionscheme", call.view)]})

    @endpoint("issuesecurityschemes")
    def issue_security_schemes(call: Call):
        return json_response({"issueSecuritySchemes": [scheme_json("issuesecuritylevelscheme", call.view)]})

    @endpoint("notificationscheme")
    def notification_schemes(call: Call):
        scheme = scheme_json("notificationscheme", call.view)
        return json_response({"startAt": 0, "maxResults": 50, "total": 1, "isLast": True, "values": [scheme]})

    @endpoint("projectCategory")
    def project_categories(call: Call):
        return json_response([{"self": f"{call.view.rest}/projectCategory/10000", "id": "10000",
                               "name": "Default", "description": "Projects of the sandbox."}])

    @endpoint("templates", prefix="/rest/project-templates/latest/", versions=("2",))
    def project_templates(call: Call):
        return json_response({"projectTemplatesGroupedByType": [{"projectTemplates": [
            {"name": name, "projectTemplateModuleCompleteKey": f"com.pyxis.greenhopper.jira:{index}",
             "projectTypeKey": "software"} for index, name in enumerate(TEMPLATES)]}]})

    # -- projects ---------------------------------------------------------------------------
    @endpoint("project", methods=("POST",))
    def create_project(call: Call):
        project = state.create_project(read_body(), call.user)
        return json_response({"self": f"{call.view.rest}/project/{project.id}", "id": int(project.id),
                              "key": project.key}, 201)

    @endpoint("project/<key>", methods=("DELETE",))
    def delete_project(call: Call, key: str):
        state.delete_project(project_of(call, key), call.user)
        return Response(status=204)

    @endpoint("project/<key>/<any(permissionscheme,notificationscheme,issuesecuritylevelscheme,"
              "priorityscheme,workflowscheme):kind>")
    def project_scheme(call: Call, key: str, kind: str):
        project = project_of(call, key)
        if kind == "issuesecuritylevelscheme":
            # Jira: a project without an explicitly associated security scheme answers 404.
            raise JiraError(404, ["No issue security scheme is associated with this project."])
        data = scheme_json(kind, call.view)
        if kind == "workflowscheme":
            data["name"] = f"{project.key}: Software Simplified Workflow Scheme"
        return json_response(data)

    @endpoint("project/<key>/role")
    def project_roles(call: Call, key: str):
        project = project_of(call, key)
        return json_response({name: f"{call.view.rest}/project/{project.id}/role/{rid}"
                              for name, rid in ROLES.items()})

    def role_of(call: Call, key: str, role_id: str):
        project = project_of(call, key)
        name = next((n for n, rid in ROLES.items() if rid == role_id), None)
        if name is None:
            raise JiraError(404, ["Can not retrieve a role actor for a null project role."])
        return project, name

    def current_actors(project, name: str, role_id: str) -> tuple[list[str], list[str]]:
        if (project.id, role_id) in state.role_actors:
            return state.role_actors[(project.id, role_id)]
        users = [u.name for u in state.users.values() if name in u.roles and project.key in u.browse]
        return users, (["jira-administrators"] if name == "Administrators" else [])

    @endpoint("project/<key>/role/<role_id>", methods=("PUT", "POST"))
    def set_role_actors(call: Call, key: str, role_id: str):
        """PUT replaces the role's members (``categorisedActors``); POST adds ``user`` / ``group``."""
        project, name = role_of(call, key, role_id)
        state.require_admin(call.user)
        body = read_body()
        if not isinstance(body, dict):
            raise JiraError(400, ["Invalid request payload. Refer to the REST API documentation and try again."])
        if request.method == "PUT":
            actors = body.get("categorisedActors") or {}
            users, groups = list(actors.get("atlassian-user-role-actor") or []), list(
                actors.get("atlassian-group-role-actor") or [])
        else:
            users, groups = (list(x) for x in current_actors(project, name, role_id))
            users += [u for u in body.get("user") or [] if u not in users]
            groups += [g for g in body.get("group") or [] if g not in groups]
        for user_name in users:
            if state.user_by(name=user_name) is None and state.user_by(account_id=user_name) is None:
                raise JiraError(400, [f"We can't find '{user_name}' in any accessible user directory."])
        for group in groups:
            if group not in state.all_groups():
                raise JiraError(400, [f"We can't find '{group}' in any accessible user directory."])
        state.role_actors[(project.id, role_id)] = (users, groups)
        return role_json(call, key, role_id)

    @endpoint("project/<key>/role/<role_id>")
    def project_role(call: Call, key: str, role_id: str):
        return role_json(call, key, role_id)

    def role_json(call: Call, key: str, role_id: str) -> Response:
        project, name = role_of(call, key, role_id)
        user_names, groups = current_actors(project, name, role_id)
        actors = []
        for user_name in user_names:
            user = state.user_by(name=user_name) or state.user_by(account_id=user_name)
            if user is not None:
                actors.append({"id": int(user.key.removeprefix("JIRAUSER") or 0), "displayName": user.display_name,
                               "type": "atlassian-user-role-actor", "name": user.name})
        actors += [{"id": 10000 + index, "displayName": group, "type": "atlassian-group-role-actor", "name": group}
                   for index, group in enumerate(groups)]
        return json_response({"self": f"{call.view.rest}/project/{project.id}/role/{role_id}", "name": name,
                              "id": int(role_id), "description": f"{name} of the project", "actors": actors})

    @endpoint("project/<key>/statuses")
    def project_statuses(call: Call, key: str):
        project = project_of(call, key)
        return json_response([{**issuetype_json(t, call.view), "statuses": [status_json(s, call.view)
                                                                           for s in STATUSES]}
                              for t in ISSUE_TYPES if t.id in project.issue_types])

    @endpoint("issue/createmeta/<key>/issuetypes")
    def createmeta_issuetypes(call: Call, key: str):
        project = project_of(call, key)
        types = [issuetype_json(t, call.view) for t in ISSUE_TYPES if t.id in project.issue_types]
        return paged(types)

    @endpoint("issue/createmeta/<key>/issuetypes/<type_id>")
    def createmeta_fields(call: Call, key: str, type_id: str):
        project = project_of(call, key)
        if type_id not in project.issue_types:
            raise JiraError(404, ["Issue type with id '%s' does not exist." % type_id])
        return paged([{"required": name in ("summary", "issuetype", "project"), "schema": field_schema(name),
                       "name": field_name(name), "fieldId": name, "key": name, "hasDefaultValue": False,
                       "operations": ["set"]} for name in CREATE_FIELDS])

    def paged(values: list) -> Response:
        start, size = int_arg("startAt", 0), int_arg("maxResults", 50)
        return json_response({"maxResults": size, "startAt": start, "total": len(values),
                              "isLast": start + size >= len(values), "values": values[start:start + size]})

    # -- users and groups -----------------------------------------------------------------
    @endpoint("user", methods=("POST",))
    def create_user(call: Call):
        return json_response(user_json(state.create_user(read_body(), call.user), call.view, full=True), 201)

    @endpoint("user", methods=("DELETE",))
    def delete_user(call: Call):
        ref = request.args.get("accountId" if cloud else "username") or request.args.get("key")
        state.delete_user(user_named(ref), call.user)
        return Response(status=204)

    @endpoint("groups/picker")
    def group_picker(call: Call):
        text = (request.args.get("query") or "").lower()
        size = int_arg("maxResults", 20)
        names = [n for n in state.all_groups() if text in n.lower()]
        return json_response({"header": f"Showing {min(size, len(names))} of {len(names)} matching groups",
                              "total": len(names), "groups": [{"name": n, "html": n, "labels": []}
                                                              for n in names[:size]]})

    @endpoint("group")
    def get_group(call: Call):
        name = request.args.get("groupname") or ""
        state.group_members(name)  # 404 for a group that does not exist
        return json_response(group_json(name, call.view, expand_users="users" in request.args.get("expand", "")))

    @endpoint("group/member")
    def group_member_page(call: Call):
        members = state.group_members(request.args.get("groupname") or "")
        return paged([user_json(u, call.view, full=True) for u in members])

    @endpoint("group", methods=("POST",))
    def create_group(call: Call):
        body = read_body()
        name = state.create_group(body.get("name") if isinstance(body, dict) else None, call.user)
        return json_response(group_json(name, call.view, expand_users=False), 201)

    @endpoint("group", methods=("DELETE",))
    def delete_group(call: Call):
        state.delete_group(request.args.get("groupname") or "", call.user)
        return Response(status=200)

    @endpoint("group/user", methods=("POST",))
    def add_group_member(call: Call):
        body = read_body()
        ref = (body.get("accountId") if cloud else body.get("name")) if isinstance(body, dict) else None
        name = request.args.get("groupname") or ""
        state.add_to_group(name, user_named(ref), call.user)
        return json_response(group_json(name, call.view, expand_users=True), 201)

    @endpoint("group/user", methods=("DELETE",))
    def remove_group_member(call: Call):
        ref = request.args.get("accountId" if cloud else "username")
        state.remove_from_group(request.args.get("groupname") or "", user_named(ref), call.user)
        return Response(status=200)

    # -- site settings --------------------------------------------------------------------
    def property_json(key: str) -> dict[str, Any]:
        value, kind = state.application_property(key)
        return {"id": key, "key": key, "value": value, "name": key, "desc": "", "type": kind,
                "defaultValue": value}

    @endpoint("application-properties")
    def application_properties(call: Call):
        key = request.args.get("key")
        if key:
            return json_response(property_json(key))
        return json_response([property_json(k) for k in state.app_properties])

    @endpoint("application-properties/<path:key>", methods=("PUT",))
    def set_application_property(call: Call, key: str):
        body = read_body()
        state.set_application_property(key, body.get("value") if isinstance(body, dict) else None, call.user)
        return json_response(property_json(key))

    @endpoint("statuscategory/<ref>")
    def status_category(call: Call, ref: str):
        found = next((c for c in STATUS_CATEGORIES if ref in (str(c.id), c.key)), None)
        if found is None:
            raise JiraError(404, [f"The status category with ID or key '{ref}' does not exist."])
        return json_response(status_category_json(found.id, call.view))

    @endpoint("mypermissions")
    def my_permissions(call: Call):
        admin = "jira-administrators" in call.user.groups
        return json_response({"permissions": {
            key: {"id": str(index), "key": key, "name": key.replace("_", " ").title(), "type": "PROJECT",
                  "description": "", "havePermission": admin or key not in ADMIN_ONLY}
            for index, key in enumerate(PERMISSIONS)}})

    return routes.blueprint
