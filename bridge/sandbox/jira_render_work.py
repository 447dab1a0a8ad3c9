"""JSON shapes for work on issues in the JIRA emulator: worklogs, votes, attachments, time tracking,
saved filters, components with their settings, ``editmeta`` and the ``renderedFields`` /
``renderedBody`` expands (Jira's wiki renderer reduced to escaped paragraphs).
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from bridge.sandbox.jira_adf import adf_to_text
from bridge.sandbox.jira_render import (
    View, field_name, field_schema, jira_time, user_json,
)
from bridge.sandbox.jira_state_work import format_duration

if TYPE_CHECKING:
    from bridge.sandbox.jira_records import (
        AttachmentRecord, CommentRecord, FilterRecord, IssueRecord, WorklogRecord,
    )

#: What ``editmeta`` offers (Jira lists the fields on the issue's edit screen).
EDITABLE = {
    "summary": ["set"], "description": ["set"], "labels": ["add", "set", "remove"],
    "components": ["add", "set", "remove"], "fixVersions": ["set", "add", "remove"],
    "versions": ["set", "add", "remove"], "priority": ["set"], "assignee": ["set"],
    "issuelinks": ["add"], "comment": ["add", "edit", "remove"], "attachment": [],
    "issuetype": [], "reporter": ["set"],
}


def worklog_json(worklog: "WorklogRecord", record: "IssueRecord", view: View) -> dict[str, Any]:
    author = user_json(view.state.users[worklog.author], view) if worklog.author in view.state.users else None
    return {"self": f"{view.rest}/issue/{record.id}/worklog/{worklog.id}", "author": author,
            "updateAuthor": author, "comment": worklog.comment,
            "created": jira_time(worklog.created, view.tz), "updated": jira_time(worklog.updated, view.tz),
            "started": jira_time(worklog.started, view.tz), "timeSpent": format_duration(worklog.seconds),
            "timeSpentSeconds": worklog.seconds, "id": worklog.id, "issueId": str(record.id)}


def attachment_json(attachment: "AttachmentRecord", view: View) -> dict[str, Any]:
    users = view.state.users
    return {"self": f"{view.rest}/attachment/{attachment.id}", "id": attachment.id,
            "filename": attachment.filename,
            "author": user_json(users[attachment.author], view) if attachment.author in users else None,
            "created": jira_time(attachment.created, view.tz), "size": len(attachment.content),
            "mimeType": attachment.mime_type,
            "content": f"{view.base_url}/secure/attachment/{attachment.id}/{attachment.filename}"}


def votes_json(record: "IssueRecord", view: View, *, with_voters: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {"self": f"{view.rest}/issue/{record.key}/votes", "votes": len(record.voters),
                            "hasVoted": view.user is not None and view.user.key in record.voters}
    if with_voters:
        data["voters"] = [user_json(view.state.users[k], view) for k in record.voters if k in view.state.users]
    return data


def work_field(record: "IssueRecord", field_id: str, view: View) -> Any:
    """The ``timetracking``, ``worklog``, ``votes`` and ``attachment`` fields of an issue."""
    if field_id == "votes":
        return votes_json(record, view)
    if field_id == "attachment":
        return [attachment_json(a, view) for a in record.attachments]
    if field_id == "worklog":
        logs = [worklog_json(w, record, view) for w in record.worklogs]
        return {"startAt": 0, "maxResults": 20, "total": len(logs), "worklogs": logs[:20]}
    data: dict[str, Any] = {}
    if record.remaining_s is not None:
        data.update(remainingEstimate=format_duration(record.remaining_s),
                    remainingEstimateSeconds=record.remaining_s)
    spent = sum(w.seconds for w in record.worklogs)
    if spent:
        data.update(timeSpent=format_duration(spent), timeSpentSeconds=spent)
    return data


def filter_json(found: "FilterRecord", view: View) -> dict[str, Any]:
    users = view.state.users
    data: dict[str, Any] = {
        "self": f"{view.rest}/filter/{found.id}", "id": found.id, "name": found.name,
        "owner": user_json(users[found.owner], view) if found.owner in users else None,
        "jql": found.jql, "viewUrl": f"{view.base_url}/issues/?filter={found.id}",
        "searchUrl": f"{view.rest}/search?jql={found.jql}",
        "favourite": view.user is not None and view.user.key in found.favourite_of,
        "sharePermissions": [], "subscriptions": {"size": 0, "items": [], "max-results": 0,
                                                  "start-index": 0, "end-index": 0},
    }
    if found.description:
        data["description"] = found.description
    return data


def component_settings_json(component_id: str, view: View) -> dict[str, Any]:
    """A component as ``GET /component/{id}`` answers it."""
    state = view.state
    project = next(p for p in state.projects.values() if component_id in p.components)
    details = state.component_details.get(component_id, {})
    data: dict[str, Any] = {
        "self": f"{view.rest}/component/{component_id}", "id": component_id,
        "name": project.components[component_id], "assigneeType": details.get("assigneeType", "PROJECT_DEFAULT"),
        "realAssigneeType": details.get("assigneeType", "PROJECT_DEFAULT"),
        "isAssigneeTypeValid": bool(details.get("isAssigneeTypeValid", False)),
        "project": project.key, "projectId": int(project.id),
    }
    if details.get("description") is not None:
        data["description"] = details["description"]
    lead_ref = details.get("leadAccountId") or details.get("leadUserName")
    lead = state.user_by(account_id=lead_ref) or state.user_by(name=lead_ref) if lead_ref else None
    if lead is not None:
        data["lead"] = user_json(lead, view)
        data["leadUserName"] = lead.name
    return data


def editmeta_json(view: View) -> dict[str, Any]:
    return {"fields": {name: {"required": name == "summary", "schema": field_schema(name),
                              "name": field_name(name), "key": name, "operations": operations}
                       for name, operations in EDITABLE.items()}}


def rendered(text_or_adf: Any) -> str | None:
    """Jira's rendered HTML of a wiki-markup text, reduced to escaped paragraphs."""
    if text_or_adf is None:
        return None
    text = adf_to_text(text_or_adf) if isinstance(text_or_adf, dict) else str(text_or_adf)
    return "".join(f"<p>{html.escape(part)}</p>" for part in text.split("\n\n") if part) or ""


def rendered_fields(record: "IssueRecord", view: View, fields: list[str]) -> dict[str, Any]:
    """``expand=renderedFields``: HTML for text fields, Jira's relative dates for the rest."""
    data: dict[str, Any] = {}
    for field_id in fields:
        if field_id == "description":
            data[field_id] = rendered(record.fields.get("description"))
        elif field_id == "comment":
            comments = [comment_rendered(c, record, view) for c in record.comments]
            data[field_id] = {"comments": comments, "maxResults": len(comments), "total": len(comments),
                              "startAt": 0}
        elif field_id in ("created", "updated"):
            data[field_id] = jira_time(getattr(record, field_id), view.tz)
        else:
            data[field_id] = None
    return data


def comment_rendered(comment: "CommentRecord", record: "IssueRecord", view: View) -> dict[str, Any]:
    return {"self": f"{view.rest}/issue/{record.id}/comment/{comment.id}", "id": comment.id,
            "body": rendered(comment.body)}
