"""JSON the JIRA emulator answers with, shaped per deployment (Cloud / Data Center) and API version.

Everything a response contains is built here from the state's records through a
:class:`View`: who is asking (their time zone formats dates, their roles decide which
restricted comments they see), which base URL the request came in on (``self`` URLs point
back at it, so the ``jira`` library's ``PUT self`` then ``GET self`` works), and which REST
version (v3 renders rich text as ADF, v2 as plain text). Cloud users carry ``accountId``;
Data Center users ``name`` and ``key``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Iterable
from urllib.parse import quote as urlquote
from zoneinfo import ZoneInfo

from bridge.sandbox.jira_adf import adf_to_text
from bridge.sandbox.jira_catalog import (
    CUSTOM_FIELDS, ISSUE_FIELD_IDS, NAVIGABLE_FIELD_IDS, RESOLUTIONS, SYSTEM_FIELDS, CustomField, IssueType,
    JiraUser, LinkType, Priority, ProjectConfig, Resolution, Status, Transition,
)
from bridge.sandbox.jira_records import (
    CUSTOM_BY_ID, ISSUETYPE_BY_ID, LINK_TYPE_BY_ID, PRIORITY_BY_ID, RESOLUTION_BY_ID, STATUS_BY_ID,
    STATUS_CATEGORY_BY_ID,
)

if TYPE_CHECKING:
    from bridge.sandbox.jira_records import (
        CommentRecord, IssueRecord, LinkRecord, RemoteLinkRecord, VersionRecord,
    )
    from bridge.sandbox.jira_state import JiraState

ISSUE_EXPAND = "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations"


@dataclass(frozen=True)
class View:
    """Who sees a response, through which URL and REST version."""

    state: "JiraState"
    base_url: str
    api: str = "2"
    #: None is the emulator's own view (tests): every comment, UTC dates.
    user: JiraUser | None = None

    @property
    def rest(self) -> str:
        return f"{self.base_url}/rest/api/{self.api}"

    @property
    def adf(self) -> bool:
        return self.api == "3"

    @property
    def cloud(self) -> bool:
        return self.state.mode == "cloud"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.user.time_zone if self.user else "UTC")


def jira_time(value: datetime | None, tz: ZoneInfo | None = None) -> str | None:
    """Jira's timestamp format, ``2021-01-17T12:34:00.000+0000``, in the viewer's zone."""
    if value is None:
        return None
    local = value.astimezone(tz) if tz else value
    return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 1000:03d}" + local.strftime("%z")


def _avatars(view: View, kind: str, avatar_id: int) -> dict[str, str]:
    base = f"{view.base_url}/secure/{kind}avatar?avatarId={avatar_id}"
    return {"48x48": base, "24x24": f"{base}&size=small", "16x16": f"{base}&size=xsmall",
            "32x32": f"{base}&size=medium"}


# -- users -------------------------------------------------------------------------------

def user_json(user: JiraUser, view: View, *, full: bool = False) -> dict[str, Any]:
    """A user as ``UserDetails`` (``full=False``: authors, watchers) or ``User`` (myself, search)."""
    if view.cloud:
        data: dict[str, Any] = {
            "self": f"{view.rest}/user?accountId={user.account_id}",
            "accountId": user.account_id, "accountType": "atlassian",
            "emailAddress": user.email, "avatarUrls": _avatars(view, "user", 10122),
            "displayName": user.display_name, "active": user.active, "timeZone": user.time_zone,
        }
    else:
        data = {
            "self": f"{view.rest}/user?username={urlquote(user.name)}",
            "name": user.name, "key": user.key, "emailAddress": user.email,
            "avatarUrls": _avatars(view, "user", 10122), "displayName": user.display_name,
            "active": user.active, "timeZone": user.time_zone,
        }
    if full:
        data["locale"] = user.locale
        groups = [{"name": g, "self": f"{view.rest}/group?groupname={g}"} for g in user.groups]
        data["groups"] = {"size": len(groups), "items": groups}
        data["applicationRoles"] = {"size": 1, "items": []}
        data["expand"] = "groups,applicationRoles"
    return data


# -- configuration objects ---------------------------------------------------------------

def issuetype_json(issuetype: IssueType, view: View) -> dict[str, Any]:
    data = {
        "self": f"{view.rest}/issuetype/{issuetype.id}", "id": issuetype.id,
        "description": issuetype.description,
        "iconUrl": f"{view.base_url}/secure/viewavatar?size=medium&avatarId=10303&avatarType=issuetype",
        "name": issuetype.name, "subtask": issuetype.subtask, "avatarId": 10303,
    }
    if view.cloud:
        data["hierarchyLevel"] = issuetype.hierarchy_level
    return data


def priority_json(priority: Priority, view: View) -> dict[str, Any]:
    return {
        "self": f"{view.rest}/priority/{priority.id}", "statusColor": priority.color,
        "description": priority.description,
        "iconUrl": f"{view.base_url}/images/icons/priorities/{priority.name.lower()}.svg",
        "name": priority.name, "id": priority.id,
    }


def status_category_json(category_id: int, view: View) -> dict[str, Any]:
    category = STATUS_CATEGORY_BY_ID[category_id]
    return {"self": f"{view.rest}/statuscategory/{category.id}", "id": category.id, "key": category.key,
            "colorName": category.color, "name": category.name}


def status_json(status: Status, view: View) -> dict[str, Any]:
    return {
        "self": f"{view.rest}/status/{status.id}", "description": status.description,
        "iconUrl": f"{view.base_url}/images/icons/statuses/generic.png", "name": status.name,
        "id": status.id, "statusCategory": status_category_json(status.category, view),
    }


def resolution_json(resolution: Resolution, view: View) -> dict[str, Any]:
    return {"self": f"{view.rest}/resolution/{resolution.id}", "id": resolution.id,
            "description": resolution.description, "name": resolution.name}


def link_type_json(link_type: LinkType, view: View) -> dict[str, Any]:
    return {"id": link_type.id, "name": link_type.name, "inward": link_type.inward,
            "outward": link_type.outward, "self": f"{view.rest}/issueLinkType/{link_type.id}"}


def version_json(version: "VersionRecord", view: View) -> dict[str, Any]:
    data: dict[str, Any] = {
        "self": f"{view.rest}/version/{version.id}", "id": version.id, "name": version.name,
        "archived": version.archived, "released": version.released, "projectId": int(version.project_id),
    }
    if version.description is not None:
        data["description"] = version.description
    if version.start_date is not None:
        data["startDate"] = version.start_date.isoformat()
        data["userStartDate"] = _user_date(version.start_date)
    if version.release_date is not None:
        data["releaseDate"] = version.release_date.isoformat()
        data["userReleaseDate"] = _user_date(version.release_date)
        if not version.released:
            data["overdue"] = version.release_date < view.state.now().date()
    return data


def _user_date(value: date) -> str:
    return value.strftime("%d/%b/%y")


def component_json(component_id: str, name: str, project: ProjectConfig, view: View) -> dict[str, Any]:
    return {"self": f"{view.rest}/component/{component_id}", "id": component_id, "name": name}


def project_json(project: ProjectConfig, view: View, *, full: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "self": f"{view.rest}/project/{project.id}", "id": project.id, "key": project.key,
        "name": project.name, "avatarUrls": _avatars(view, "project", 10324), "projectTypeKey": "software",
    }
    if view.cloud:
        data["simplified"] = False
    if not full:
        return data
    lead = view.state.users[project.lead]
    data.update({
        "expand": "description,lead,issueTypes,url,projectKeys,permissions,insight",
        "description": project.description,
        "lead": user_json(lead, view),
        "components": [{**component_json(cid, name, project, view), "project": project.key,
                        "projectId": int(project.id), "isAssigneeTypeValid": False, "assigneeType": "PROJECT_DEFAULT",
                        "realAssigneeType": "PROJECT_DEFAULT"}
                       for cid, name in project.components.items()],
        "issueTypes": [issuetype_json(ISSUETYPE_BY_ID[t], view) for t in project.issue_types],
        "assigneeType": "UNASSIGNED",
        "versions": [version_json(v, view) for v in view.state.versions.values() if v.project_id == project.id],
        "roles": {},
    })
    if view.cloud:
        data.update({"style": "classic", "isPrivate": False, "properties": {}})
    return data


def field_list_json(view: View) -> list[dict[str, Any]]:
    fields = []
    for f in SYSTEM_FIELDS:
        data: dict[str, Any] = {
            "id": f.id, "name": f.name, "custom": False, "orderable": f.orderable,
            "navigable": f.navigable, "searchable": f.searchable, "clauseNames": list(f.clause_names),
        }
        if view.cloud:
            data["key"] = f.id
        if f.schema is not None:
            data["schema"] = f.schema
        fields.append(data)
    for c in CUSTOM_FIELDS:
        data = {
            "id": c.id, "name": c.name, "custom": True, "orderable": True, "navigable": True, "searchable": True,
            "clauseNames": [f"cf[{c.number}]", c.name],
            "schema": {"type": c.kind, "custom": c.schema_custom, "customId": c.number},
        }
        if view.cloud:
            data["key"] = c.id
        fields.append(data)
    return fields


def server_info_json(view: View) -> dict[str, Any]:
    now = view.state.now()
    if view.cloud:
        return {
            "baseUrl": view.base_url, "displayUrl": view.base_url, "version": "1001.0.0-SNAPSHOT",
            "versionNumbers": [1001, 0, 0], "deploymentType": "Cloud", "buildNumber": 100285,
            "buildDate": "2025-06-02T00:00:00.000+0000", "serverTime": jira_time(now, view.tz),
            "scmInfo": "6b7a5e0ac24a2e1b6e4b2b7f6b0f2b5e1f4b7c3d", "serverTitle": "Sandbox JIRA",
            "defaultLocale": {"locale": "en_US"}, "serverTimeZone": "Etc/UTC",
        }
    return {
        "baseUrl": view.base_url, "version": "9.12.15", "versionNumbers": [9, 12, 15],
        "deploymentType": "Server", "buildNumber": 9120015, "buildDate": "2024-10-01T00:00:00.000+0000",
        "serverTime": jira_time(now, view.tz), "scmInfo": "0a5a0e2a6a3b6f3e1c2d4b5a6f7e8d9c0b1a2f3e",
        "serverTitle": "Sandbox JIRA", "defaultLocale": {"locale": "en_US"},
    }


# -- issues ------------------------------------------------------------------------------

def select_fields(requested: Iterable[str] | None, default: str) -> list[str]:
    """Which fields to render for a ``fields`` parameter (``*all``, ``*navigable``, ids, ``-id``)."""
    names = [n.strip() for item in (requested or []) for n in str(item).split(",") if n.strip()]
    if not names:
        names = [default] if default else []
    chosen: list[str] = []
    excluded = set()
    for name in names:
        if name == "*all":
            chosen.extend(ISSUE_FIELD_IDS)
        elif name == "*navigable":
            chosen.extend(NAVIGABLE_FIELD_IDS)
        elif name.startswith("-"):
            excluded.add(name[1:])
        elif name in ISSUE_FIELD_IDS:
            chosen.append(name)
        # Jira silently ignores names that are not fields (including "key" and "id").
    return [f for f in dict.fromkeys(chosen) if f not in excluded]


def issue_json(record: "IssueRecord", view: View, *, fields: list[str], expand: Iterable[str] = (),
               properties: Iterable[str] = ()) -> dict[str, Any]:
    """An issue as ``GET /issue`` and search return it, with only the ``fields`` asked for."""
    expand = set(expand)
    data: dict[str, Any] = {"expand": ISSUE_EXPAND, "id": str(record.id),
                            "self": f"{view.rest}/issue/{record.id}", "key": record.key}
    if fields:
        data["fields"] = {f: field_value(record, f, view) for f in fields}
    if "names" in expand:
        data["names"] = {f: field_name(f) for f in fields}
    if "schema" in expand:
        data["schema"] = {f: field_schema(f) for f in fields if field_schema(f) is not None}
    if "changelog" in expand:
        histories = [changegroup_json(g, view) for g in record.changelog]
        data["changelog"] = {"startAt": 0, "maxResults": len(histories), "total": len(histories),
                             "histories": histories}
    if "transitions" in expand:
        data["transitions"] = [transition_json(t, view) for t in view.state.transitions_for(record)]
    props = list(properties)
    if props:
        wanted = record.properties.keys() if "*all" in props else [p for p in props if p in record.properties]
        data["properties"] = {k: record.properties[k] for k in wanted}
    return data


def field_name(field_id: str) -> str:
    custom = CUSTOM_BY_ID.get(field_id)
    if custom:
        return custom.name
    return next((f.name for f in SYSTEM_FIELDS if f.id == field_id), field_id)


def field_schema(field_id: str) -> dict | None:
    custom = CUSTOM_BY_ID.get(field_id)
    if custom:
        return {"type": custom.kind, "custom": custom.schema_custom, "customId": custom.number}
    return next((f.schema for f in SYSTEM_FIELDS if f.id == field_id), None)


def field_value(record: "IssueRecord", field_id: str, view: View) -> Any:
    """One field of an issue as JSON."""
    state = view.state
    f = record.fields
    if field_id == "summary":
        return f["summary"]
    if field_id == "description":
        return rich_text(f["description"], view)
    if field_id == "issuetype":
        return issuetype_json(ISSUETYPE_BY_ID[f["issuetype"]], view)
    if field_id == "project":
        return project_json(state.projects[record.project_id], view)
    if field_id == "priority":
        return priority_json(PRIORITY_BY_ID[f["priority"]], view) if f.get("priority") else None
    if field_id == "labels":
        return list(f["labels"])
    if field_id == "components":
        project = state.projects[record.project_id]
        return [component_json(c, project.components[c], project, view) for c in f["components"]]
    if field_id in ("fixVersions", "versions"):
        return [version_json(state.versions[v], view) for v in f[field_id]]
    if field_id == "status":
        return status_json(STATUS_BY_ID[f["status"]], view)
    if field_id == "resolution":
        return resolution_json(RESOLUTION_BY_ID[f["resolution"]], view) if f.get("resolution") else None
    if field_id in ("resolutiondate", "statuscategorychangedate"):
        return jira_time(f.get(field_id), view.tz)
    if field_id == "created":
        return jira_time(record.created, view.tz)
    if field_id == "updated":
        return jira_time(record.updated, view.tz)
    if field_id in ("assignee", "reporter", "creator"):
        return user_json(state.users[f[field_id]], view) if f.get(field_id) else None
    if field_id == "issuelinks":
        return [issue_link_json(link, record, view) for link in state.links_of(record)]
    if field_id == "comment":
        comments = visible_comments(record, view)
        return {"comments": [comment_json(c, record, view) for c in comments], "self": f"{view.rest}/issue/{record.id}/comment",
                "maxResults": len(comments), "total": len(comments), "startAt": 0}
    if field_id == "watches":
        return watches_json(record, view)
    if field_id in ("timetracking", "worklog", "votes", "attachment"):
        from bridge.sandbox.jira_render_work import work_field  # renders the issue's work records
        return work_field(record, field_id, view)
    if field_id in CUSTOM_BY_ID:
        value = f.get(field_id)
        if isinstance(value, float) and value.is_integer():
            # Jira renders a number field holding 2 as 2.0; keep the float.
            return value
        return value
    return None


def rich_text(adf: dict | None, view: View) -> Any:
    if adf is None:
        return None
    return adf if view.adf else adf_to_text(adf)


def _issue_ref(record: "IssueRecord", view: View) -> dict[str, Any]:
    f = record.fields
    return {
        "id": str(record.id), "key": record.key, "self": f"{view.rest}/issue/{record.id}",
        "fields": {
            "summary": f["summary"], "status": status_json(STATUS_BY_ID[f["status"]], view),
            "priority": priority_json(PRIORITY_BY_ID[f["priority"]], view) if f.get("priority") else None,
            "issuetype": issuetype_json(ISSUETYPE_BY_ID[f["issuetype"]], view),
        },
    }


def issue_link_json(link: "LinkRecord", record: "IssueRecord", view: View) -> dict[str, Any]:
    """A link as listed on ``record``: the *other* issue, under the side that names the verb.

    On the "from" (outward) issue the other one appears as ``outwardIssue`` ("this issue
    blocks X"); on the other issue as ``inwardIssue`` ("this issue is blocked by Y").
    """
    data: dict[str, Any] = {"id": link.id, "self": f"{view.rest}/issueLink/{link.id}",
                            "type": link_type_json(LINK_TYPE_BY_ID[link.type_id], view)}
    if link.outward_id == record.id:
        data["outwardIssue"] = _issue_ref(view.state.issues[link.inward_id], view)
    else:
        data["inwardIssue"] = _issue_ref(view.state.issues[link.outward_id], view)
    return data


def link_json(link: "LinkRecord", view: View) -> dict[str, Any]:
    """``GET /issueLink/{id}``: both ends, as they were given when the link was created."""
    return {"id": link.id, "self": f"{view.rest}/issueLink/{link.id}",
            "type": link_type_json(LINK_TYPE_BY_ID[link.type_id], view),
            "inwardIssue": _issue_ref(view.state.issues[link.inward_id], view),
            "outwardIssue": _issue_ref(view.state.issues[link.outward_id], view)}


def visible_comments(record: "IssueRecord", view: View) -> list["CommentRecord"]:
    if view.user is None:
        return list(record.comments)
    return [c for c in record.comments if view.state.comment_visible(c, view.user)]


def comment_json(comment: "CommentRecord", record: "IssueRecord", view: View, *,
                 expand_properties: bool = False) -> dict[str, Any]:
    state = view.state
    data: dict[str, Any] = {
        "self": f"{view.rest}/issue/{record.id}/comment/{comment.id}", "id": comment.id,
        "author": user_json(state.users[comment.author], view),
        "body": rich_text(comment.body, view),
        "updateAuthor": user_json(state.users[comment.update_author], view),
        "created": jira_time(comment.created, view.tz), "updated": jira_time(comment.updated, view.tz),
    }
    if comment.visibility is not None:
        data["visibility"] = dict(comment.visibility)
    if view.cloud:
        internal = (comment.properties.get("sd.public.comment") or {}).get("internal") is True
        data["jsdPublic"] = not internal
    if expand_properties:
        data["properties"] = [{"key": k, "value": v} for k, v in comment.properties.items()]
    return data


def remote_link_json(link: "RemoteLinkRecord", record: "IssueRecord", view: View) -> dict[str, Any]:
    data: dict[str, Any] = {"id": link.id, "self": f"{view.rest}/issue/{record.key}/remotelink/{link.id}"}
    if link.global_id is not None:
        data["globalId"] = link.global_id
    data["application"] = dict(link.application or {})
    if link.relationship is not None:
        data["relationship"] = link.relationship
    data["object"] = dict(link.object)
    return data


def watches_json(record: "IssueRecord", view: View) -> dict[str, Any]:
    return {"self": f"{view.rest}/issue/{record.key}/watchers", "watchCount": len(record.watchers),
            "isWatching": view.user is not None and view.user.key in record.watchers}


def watchers_json(record: "IssueRecord", view: View) -> dict[str, Any]:
    data = watches_json(record, view)
    data["watchers"] = [user_json(view.state.users[k], view) for k in record.watchers]
    return data


def changegroup_json(group: Any, view: View) -> dict[str, Any]:
    # The spec types from/to/fromString/toString as non-nullable strings: an empty side is
    # left out rather than sent as null.
    return {"id": group.id, "author": user_json(view.state.users[group.author], view),
            "created": jira_time(group.created, view.tz),
            "items": [{k: v for k, v in item.items() if v is not None} for item in group.items]}


def transition_json(transition: Transition, view: View, *, with_fields: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": transition.id, "name": transition.name, "to": status_json(STATUS_BY_ID[transition.to], view),
        "hasScreen": bool(transition.screen), "isGlobal": False, "isInitial": False, "isAvailable": True,
        "isConditional": False, "isLooped": False,
    }
    if with_fields:
        data["fields"] = {}
        if "resolution" in transition.screen:
            data["fields"]["resolution"] = {
                "required": False, "schema": {"type": "resolution", "system": "resolution"},
                "name": "Resolution", "key": "resolution", "hasDefaultValue": True, "operations": ["set"],
                "allowedValues": [resolution_json(r, view) for r in RESOLUTIONS],
            }
    return data


def custom_field(field_id: str) -> CustomField | None:
    return CUSTOM_BY_ID.get(field_id)
