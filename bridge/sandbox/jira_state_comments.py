"""Comments, issue links, remote links, watchers and properties of the JIRA emulator.

:class:`CommentsAndLinks` is mixed into :class:`~bridge.sandbox.jira_state.JiraState`.
"""

from __future__ import annotations

import copy
import hashlib
from datetime import datetime
from typing import Any

from bridge.sandbox.jira_adf import (
    adf_to_text,
)
from bridge.sandbox.jira_catalog import (
    GROUPS,
    LINK_TYPES,
    ROLES,
    JiraUser,
    ProjectConfig,
)
from bridge.sandbox.jira_records import (
    INVALID_PAYLOAD,
    LINK_TYPE_BY_ID,
    CommentRecord,
    FieldProblem,
    IssueRecord,
    JiraError,
    LinkRecord,
    RemoteLinkRecord,
    link_item,
    ref_text,
)


class CommentsAndLinks:
    """Writes around an issue that are not its fields (needs the JiraState attributes)."""

    # -- comments --------------------------------------------------------------------------
    def validate_comment(self, payload: Any, user: JiraUser, project: ProjectConfig, *, adf: bool) -> dict:
        """Check a comment body, visibility and properties; returns the normalised comment."""
        if not isinstance(payload, dict) or "body" not in payload:
            raise JiraError(400, [], {"comment": "Comment body can not be empty!"})
        try:
            body = self.rich_text(payload["body"], adf=adf, field_id="comment")
        except FieldProblem as problem:
            raise JiraError(400, [], {"comment": str(problem)}) from None
        assert body is not None
        if not adf_to_text(body).strip() and not body.get("content"):
            raise JiraError(400, [], {"comment": "Comment body can not be empty!"})
        visibility = payload.get("visibility")
        if visibility is not None:
            visibility = self._check_visibility(visibility, user)
        properties = payload.get("properties") or []
        if not isinstance(properties, list) or not all(
                isinstance(p, dict) and isinstance(p.get("key"), str) and "value" in p for p in properties):
            raise JiraError(400, [INVALID_PAYLOAD])
        return {"body": body, "visibility": visibility, "properties": {p["key"]: p["value"] for p in properties}}

    def _check_visibility(self, visibility: Any, user: JiraUser) -> dict:
        if not isinstance(visibility, dict) or visibility.get("type") not in ("role", "group"):
            raise JiraError(400, [], {"commentLevel": "Visibility type must be 'role' or 'group'."})
        value = visibility.get("value") or visibility.get("identifier")
        if not isinstance(value, str):
            raise JiraError(400, [], {"commentLevel": "Visibility value must be the name of a role or group."})
        if visibility["type"] == "role":
            if value not in ROLES:
                raise JiraError(400, [], {"commentLevel": f"Role with name '{value}' does not exist."})
            if value not in user.roles:
                raise JiraError(400, [], {"commentLevel": f"You are currently not a member of the project role: {value}."})
            result = {"type": "role", "value": value}
            if self.mode == "cloud":
                result["identifier"] = value
            return result
        if value not in GROUPS:
            raise JiraError(400, [], {"commentLevel": f"Group: '{value}' does not exist."})
        if value not in user.groups:
            raise JiraError(400, [], {"commentLevel": f"You are currently not a member of the group: {value}."})
        result = {"type": "group", "value": value}
        if self.mode == "cloud":
            result["identifier"] = hashlib.md5(value.encode()).hexdigest()
        return result

    def add_comment(self, record: IssueRecord, payload: Any, user: JiraUser, *, adf: bool) -> CommentRecord:
        with self.lock:
            project = self.projects[record.project_id]
            self.require_edit(project, user, "add comments")
            comment = self.validate_comment(payload, user, project, adf=adf)
            now = self.now()
            created = self._add_comment_record(record, comment, user, now)
            record.updated = now
            self._touched(record)
            return created

    def _add_comment_record(self, record: IssueRecord, comment: dict, user: JiraUser, now: datetime) -> CommentRecord:
        created = CommentRecord(str(self._next_id("comment")), user.key, comment["body"], now, now, user.key,
                                comment["visibility"], comment["properties"])
        record.comments.append(created)
        self.webhooks.comment_event("comment_created", record, created)
        return created

    def comment_visible(self, comment: CommentRecord, user: JiraUser) -> bool:
        """Restricted comments are hidden from users outside the role or group."""
        if comment.visibility is None:
            return True
        if comment.visibility["type"] == "role":
            return comment.visibility["value"] in user.roles
        return comment.visibility["value"] in user.groups

    def find_comment(self, record: IssueRecord, comment_id: str, user: JiraUser) -> CommentRecord:
        for comment in record.comments:
            if comment.id == comment_id and self.comment_visible(comment, user):
                return comment
        raise JiraError(404, [f"Can not find a comment for the id: {comment_id}."])

    def update_comment(self, record: IssueRecord, comment: CommentRecord, payload: Any, user: JiraUser,
                       *, adf: bool) -> None:
        with self.lock:
            project = self.projects[record.project_id]
            self.require_edit(project, user, "edit comments")
            if not isinstance(payload, dict):
                raise JiraError(400, [INVALID_PAYLOAD])
            merged = {"body": payload.get("body", None), "visibility": payload.get("visibility", comment.visibility),
                      "properties": payload.get("properties", [])}
            if merged["body"] is None:
                # Jira requires the body on update; keep the stored one for a visibility-only change.
                merged["body"] = comment.body if adf else adf_to_text(comment.body)
            checked = self.validate_comment(merged, user, project, adf=adf)
            now = self.now()
            comment.body, comment.visibility = checked["body"], checked["visibility"]
            comment.properties.update(checked["properties"])
            comment.updated, comment.update_author = now, user.key
            record.updated = now
            self._touched(record)
            self.webhooks.comment_event("comment_updated", record, comment)

    def delete_comment(self, record: IssueRecord, comment: CommentRecord, user: JiraUser) -> None:
        with self.lock:
            self.require_edit(self.projects[record.project_id], user, "delete comments")
            record.comments.remove(comment)
            record.updated = self.now()
            self._touched(record)
            self.webhooks.comment_event("comment_deleted", record, comment)

    # -- links -----------------------------------------------------------------------------
    def link_type(self, ref: Any) -> Any:
        if not isinstance(ref, dict):
            return None
        return next((t for t in LINK_TYPES if str(ref.get("id")) == t.id or ref.get("name") == t.name), None)

    def create_link(self, payload: Any, user: JiraUser, *, adf: bool) -> LinkRecord:
        """``POST /issueLink``: ``outwardIssue`` <outward verb> ``inwardIssue`` (e.g. "blocks")."""
        with self.lock:
            if not isinstance(payload, dict):
                raise JiraError(400, [INVALID_PAYLOAD])
            link_type = self.link_type(payload.get("type"))
            if link_type is None:
                raise JiraError(404, ["No issue link type with name '%s' found." % ref_text(payload.get("type"))])
            refs = {}
            for side in ("inwardIssue", "outwardIssue"):
                ref = payload.get(side)
                key = ref.get("key") or ref.get("id") if isinstance(ref, dict) else None
                if key is None:
                    raise JiraError(400, [], {side: f"'{side}' is required."})
                record = self.issue_record(str(key))
                if record is None or self.projects[record.project_id].key not in user.browse:
                    raise JiraError(404, ["Issue Does Not Exist"])
                refs[side] = record
            inward, outward = refs["inwardIssue"], refs["outwardIssue"]
            self.require_edit(self.projects[outward.project_id], user, "link issues")
            if inward.id == outward.id:
                raise JiraError(400, ["You cannot link an issue to itself."])
            comment = None
            if payload.get("comment") is not None:
                comment = self.validate_comment(payload["comment"], user, self.projects[outward.project_id], adf=adf)
            now = self.now()
            existing = next((l for l in self.links.values() if (l.type_id, l.outward_id, l.inward_id)
                             == (link_type.id, outward.id, inward.id)), None)
            # A duplicate request "succeeds" without a second link, as Jira's does.
            link = existing or LinkRecord(str(self._next_id("link")), link_type.id, outward.id, inward.id)
            if existing is None:
                self.links[link.id] = link
                self._log(outward, user, now, [link_item(link_type.outward, inward, added=True)])
                self._log(inward, user, now, [link_item(link_type.inward, outward, added=True)])
                self.webhooks.link_event("issuelink_created", link)
            if comment is not None:
                self._add_comment_record(outward, comment, user, now)
            for record in (outward, inward):
                record.updated = now
                self._touched(record)
            return link

    def delete_link(self, link_id: str, user: JiraUser) -> None:
        with self.lock:
            link = self.links.get(link_id)
            if link is None:
                raise JiraError(404, [f"No issue link with id '{link_id}' exists."])
            outward, inward = self.issues[link.outward_id], self.issues[link.inward_id]
            if self.projects[outward.project_id].key not in user.browse:
                raise JiraError(404, [f"No issue link with id '{link_id}' exists."])
            self.require_edit(self.projects[outward.project_id], user, "link issues")
            link_type = LINK_TYPE_BY_ID[link.type_id]
            del self.links[link_id]
            self.webhooks.link_event("issuelink_deleted", link)
            now = self.now()
            self._log(outward, user, now, [link_item(link_type.outward, inward, added=False)])
            self._log(inward, user, now, [link_item(link_type.inward, outward, added=False)])
            for record in (outward, inward):
                record.updated = now
                self._touched(record)

    def links_of(self, record: IssueRecord) -> list[LinkRecord]:
        return [l for l in self.links.values() if record.id in (l.inward_id, l.outward_id)]

    # -- remote links ----------------------------------------------------------------------
    def upsert_remote_link(self, record: IssueRecord, payload: Any, user: JiraUser) -> tuple[RemoteLinkRecord, bool]:
        """``POST /issue/{key}/remotelink``; a known ``globalId`` updates instead of adding."""
        with self.lock:
            self.require_edit(self.projects[record.project_id], user, "link issues")
            data = self._check_remote_link(payload)
            now = self.now()
            existing = None
            if data["global_id"] is not None:
                existing = next((r for r in record.remote_links if r.global_id == data["global_id"]), None)
            if existing is not None:
                existing.object, existing.application = data["object"], data["application"]
                existing.relationship = data["relationship"]
                link, created = existing, False
            else:
                link = RemoteLinkRecord(self._next_id("remotelink"), data["object"], data["global_id"],
                                        data["application"], data["relationship"])
                record.remote_links.append(link)
                created = True
                self._log(record, user, now, [{
                    "field": "RemoteIssueLink", "fieldtype": "jira", "from": None, "fromString": None,
                    "to": str(link.id), "toString": f"This issue links to \"{link.object['title']}\""}])
            record.updated = now
            self._touched(record)
            return link, created

    def update_remote_link(self, record: IssueRecord, link: RemoteLinkRecord, payload: Any, user: JiraUser) -> None:
        with self.lock:
            self.require_edit(self.projects[record.project_id], user, "link issues")
            data = self._check_remote_link(payload)
            link.object, link.application, link.relationship = data["object"], data["application"], data["relationship"]
            if data["global_id"] is not None:
                link.global_id = data["global_id"]
            record.updated = self.now()
            self._touched(record)

    def delete_remote_link(self, record: IssueRecord, link: RemoteLinkRecord, user: JiraUser) -> None:
        with self.lock:
            self.require_edit(self.projects[record.project_id], user, "link issues")
            record.remote_links.remove(link)
            now = self.now()
            self._log(record, user, now, [{
                "field": "RemoteIssueLink", "fieldtype": "jira", "from": str(link.id),
                "fromString": f"This issue links to \"{link.object['title']}\"", "to": None, "toString": None}])
            record.updated = now
            self._touched(record)

    @staticmethod
    def _check_remote_link(payload: Any) -> dict:
        if not isinstance(payload, dict):
            raise JiraError(400, [INVALID_PAYLOAD])
        obj = payload.get("object")
        if not isinstance(obj, dict):
            raise JiraError(400, [], {"object": "'object' is required."})
        errors = {}
        for key in ("url", "title"):
            if not isinstance(obj.get(key), str) or not obj.get(key):
                errors[key] = f"'{key}' is required."
        global_id = payload.get("globalId")
        application = payload.get("application")
        relationship = payload.get("relationship")
        if global_id is not None and not isinstance(global_id, str):
            errors["globalId"] = "'globalId' must be a string."
        if application is not None and not isinstance(application, dict):
            errors["application"] = "'application' must be an object."
        if relationship is not None and not isinstance(relationship, str):
            errors["relationship"] = "'relationship' must be a string."
        if errors:
            raise JiraError(400, [], errors)
        return {"object": copy.deepcopy(obj), "global_id": global_id,
                "application": copy.deepcopy(application), "relationship": relationship}

    # -- watchers, properties ----------------------------------------------------------------
    def add_watcher(self, record: IssueRecord, target: JiraUser, user: JiraUser) -> None:
        with self.lock:
            if target.key != user.key:
                self.require_edit(self.projects[record.project_id], user, "manage watchers")
            if self.projects[record.project_id].key not in target.browse:
                raise JiraError(400, [f"The user \"{target.name}\" does not have permission to view this issue. "
                                      "This user will not be added to the watch list."])
            if target.key not in record.watchers:
                record.watchers.append(target.key)
            # Watching changes no field: ``updated`` stays, as in Jira.

    def remove_watcher(self, record: IssueRecord, target: JiraUser, user: JiraUser) -> None:
        with self.lock:
            if target.key != user.key:
                self.require_edit(self.projects[record.project_id], user, "manage watchers")
            if target.key in record.watchers:
                record.watchers.remove(target.key)

    def set_property(self, record: IssueRecord, key: str, value: Any, user: JiraUser) -> bool:
        """Returns True when the property is new (201), False when replaced (200)."""
        with self.lock:
            self.require_edit(self.projects[record.project_id], user, "edit issues")
            if not key or len(key) > 255:
                raise JiraError(400, ["The property key cannot be longer than 255 characters."])
            created = key not in record.properties
            record.properties[key] = copy.deepcopy(value)
            self._touched(record)
            return created

    def delete_property(self, record: IssueRecord, key: str, user: JiraUser) -> None:
        with self.lock:
            self.require_edit(self.projects[record.project_id], user, "edit issues")
            if key not in record.properties:
                raise JiraError(404, [f"The property with key '{key}' does not exist."])
            del record.properties[key]
            self._touched(record)
