"""JIRA emulator routes for issues and what hangs off them: changelog, transitions, comments,
issue links, remote links, watchers and properties."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from bridge.sandbox.jira_http import (
    Call,
    Routes,
    int_arg,
    json_response,
    multi_arg,
    read_body,
)
from bridge.sandbox.jira_records import INVALID_PAYLOAD, JiraError
from bridge.sandbox.jira_render import (
    changegroup_json,
    comment_json,
    issue_json,
    link_json,
    remote_link_json,
    select_fields,
    transition_json,
    visible_comments,
    watchers_json,
)
from bridge.sandbox.jira_render_work import editmeta_json, rendered, rendered_fields
from bridge.sandbox.jira_state import JiraState


def issue_routes(state: JiraState) -> Blueprint:
    """The blueprint of these routes for ``state``."""
    routes = Routes("jira_issues", state)
    endpoint, cloud = routes.endpoint, routes.cloud

    # -- issues ---------------------------------------------------------------------------------
    @endpoint("issue", methods=("POST",))
    def create_issue(call: Call):
        record = state.create_issue(read_body(), call.user, adf=call.adf)
        return json_response({"id": str(record.id), "key": record.key,
                               "self": f"{call.view.rest}/issue/{record.id}"}, 201)

    @endpoint("issue/bulk", methods=("POST",))
    def create_issues(call: Call):
        payload = read_body()
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
        return json_response({"issues": created, "errors": errors}, 201 if created or not updates else 400)

    @endpoint("issue/<key>")
    def get_issue(call: Call, key: str):
        record = state.visible_issue(key, call.user)
        fields, expand = select_fields(multi_arg("fields"), "*all"), multi_arg("expand")
        data = issue_json(record, call.view, fields=fields, expand=expand, properties=multi_arg("properties"))
        if "renderedFields" in expand:
            data["renderedFields"] = rendered_fields(record, call.view, fields)
        if "editmeta" in expand:
            data["editmeta"] = editmeta_json(call.view)
        return json_response(data)

    @endpoint("issue/<key>", methods=("PUT",))
    def edit_issue(call: Call, key: str):
        record = state.editable_issue(key, call.user)
        state.edit_issue(record, read_body(), call.user, adf=call.adf)
        if request.args.get("returnIssue", "").lower() == "true":
            return json_response(issue_json(record, call.view, fields=select_fields(None, "*all"),
                                             expand=multi_arg("expand")))
        return Response(status=204)

    @endpoint("issue/<key>", methods=("DELETE",))
    def delete_issue(call: Call, key: str):
        record = state.editable_issue(key, call.user, "delete issues")
        state.delete_issue(record, call.user)
        return Response(status=204)

    @endpoint("issue/<key>/changelog")
    def changelog(call: Call, key: str):
        record = state.visible_issue(key, call.user)
        start, size = int_arg("startAt", 0), int_arg("maxResults", 100)
        page = record.changelog[start:start + size]
        return json_response({
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
        with_fields = "transitions.fields" in multi_arg("expand")
        return json_response({"expand": "transitions", "transitions": [
            transition_json(t, call.view, with_fields=with_fields) for t in available]})

    @endpoint("issue/<key>/transitions", methods=("POST",))
    def do_transition(call: Call, key: str):
        record = state.visible_issue(key, call.user)
        state.transition(record, read_body(), call.user, adf=call.adf)
        return Response(status=204)

    def with_rendered_body(data: dict, comment) -> dict:
        """``expand=renderedBody``: the comment's HTML beside its body."""
        if "renderedBody" in multi_arg("expand"):
            data["renderedBody"] = rendered(comment.body)
        return data

    # -- comments -------------------------------------------------------------------------------
    @endpoint("issue/<key>/comment")
    def comments(call: Call, key: str):
        record = state.visible_issue(key, call.user)
        listed = visible_comments(record, call.view)
        if request.args.get("orderBy", "created").lstrip("+") == "-created":
            listed = list(reversed(listed))
        start, size = int_arg("startAt", 0), int_arg("maxResults", 5000)
        expand_properties = "properties" in multi_arg("expand")
        return json_response({"startAt": start, "maxResults": size, "total": len(listed), "comments": [
            with_rendered_body(comment_json(c, record, call.view, expand_properties=expand_properties), c)
            for c in listed[start:start + size]]})

    @endpoint("issue/<key>/comment", methods=("POST",))
    def add_comment(call: Call, key: str):
        record = state.visible_issue(key, call.user)
        comment = state.add_comment(record, read_body(), call.user, adf=call.adf)
        return json_response(with_rendered_body(comment_json(
            comment, record, call.view, expand_properties="properties" in multi_arg("expand")), comment), 201)

    @endpoint("issue/<key>/comment/<comment_id>")
    def get_comment(call: Call, key: str, comment_id: str):
        record = state.visible_issue(key, call.user)
        comment = state.find_comment(record, comment_id, call.user)
        return json_response(with_rendered_body(comment_json(
            comment, record, call.view, expand_properties="properties" in multi_arg("expand")), comment))

    @endpoint("issue/<key>/comment/<comment_id>", methods=("PUT",))
    def update_comment(call: Call, key: str, comment_id: str):
        record = state.visible_issue(key, call.user)
        comment = state.find_comment(record, comment_id, call.user)
        state.update_comment(record, comment, read_body(), call.user, adf=call.adf)
        return json_response(with_rendered_body(comment_json(
            comment, record, call.view, expand_properties="properties" in multi_arg("expand")), comment))

    @endpoint("issue/<key>/comment/<comment_id>", methods=("DELETE",))
    def delete_comment(call: Call, key: str, comment_id: str):
        record = state.visible_issue(key, call.user)
        state.delete_comment(record, state.find_comment(record, comment_id, call.user), call.user)
        return Response(status=204)

    # -- links ------------------------------------------------------------------------------------
    @endpoint("issueLink", methods=("POST",))
    def create_link(call: Call):
        link = state.create_link(read_body(), call.user, adf=call.adf)
        return Response(status=201, headers={"Location": f"{call.view.rest}/issueLink/{link.id}"})

    @endpoint("issueLink/<link_id>")
    def get_link(call: Call, link_id: str):
        link = state.links.get(link_id)
        if link is None or state.projects[state.issues[link.outward_id].project_id].key not in call.user.browse:
            raise JiraError(404, [f"No issue link with id '{link_id}' exists."])
        return json_response(link_json(link, call.view))

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
            return json_response(remote_link_json(found, record, call.view))
        return json_response([remote_link_json(l, record, call.view) for l in record.remote_links])

    @endpoint("issue/<key>/remotelink", methods=("POST",))
    def upsert_remote_link(call: Call, key: str):
        record = state.visible_issue(key, call.user)
        link, created = state.upsert_remote_link(record, read_body(), call.user)
        return json_response({"id": link.id, "self": f"{call.view.rest}/issue/{record.key}/remotelink/{link.id}"},
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
        return json_response(remote_link_json(find_remote_link(record, link_id), record, call.view))

    @endpoint("issue/<key>/remotelink/<link_id>", methods=("PUT",))
    def update_remote_link(call: Call, key: str, link_id: str):
        record = state.visible_issue(key, call.user)
        state.update_remote_link(record, find_remote_link(record, link_id), read_body(), call.user)
        return Response(status=204)

    @endpoint("issue/<key>/remotelink/<link_id>", methods=("DELETE",))
    def delete_remote_link(call: Call, key: str, link_id: str):
        record = state.visible_issue(key, call.user)
        state.delete_remote_link(record, find_remote_link(record, link_id), call.user)
        return Response(status=204)

    # -- watchers, properties -------------------------------------------------------------------
    @endpoint("issue/<key>/watchers")
    def watchers(call: Call, key: str):
        return json_response(watchers_json(state.visible_issue(key, call.user), call.view))

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
        state.add_watcher(record, watcher_target(call, read_body(required=False)), call.user)
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
        return json_response({"keys": [{"key": k, "self": f"{call.view.rest}/issue/{record.id}/properties/{k}"}
                                         for k in record.properties]})

    @endpoint("issue/<key>/properties/<property_key>")
    def get_property(call: Call, key: str, property_key: str):
        record = state.visible_issue(key, call.user)
        if property_key not in record.properties:
            raise JiraError(404, [f"The property with key '{property_key}' does not exist."])
        return json_response({"key": property_key, "value": record.properties[property_key]})

    @endpoint("issue/<key>/properties/<property_key>", methods=("PUT",))
    def set_property(call: Call, key: str, property_key: str):
        record = state.visible_issue(key, call.user)
        raw = request.get_data(cache=True)
        if len(raw) > 32768:
            raise JiraError(400, ["The property value is too large: the limit is 32768 bytes."])
        created = state.set_property(record, property_key, read_body(), call.user)
        return Response(status=201 if created else 200)

    @endpoint("issue/<key>/properties/<property_key>", methods=("DELETE",))
    def delete_property(call: Call, key: str, property_key: str):
        record = state.visible_issue(key, call.user)
        state.delete_property(record, property_key, call.user)
        return Response(status=204)

    return routes.blueprint
