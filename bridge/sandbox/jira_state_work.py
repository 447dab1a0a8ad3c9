"""Work on issues in the JIRA emulator: worklogs, votes, attachments, assignment; saved filters;
project components; deleting versions.

:class:`IssueWork` is mixed into :class:`~bridge.sandbox.jira_state.JiraState`. Worklogs move
the remaining estimate as Jira's ``adjustEstimate=auto`` does (down by the time logged, never
below zero; back up when a worklog shrinks or goes).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from bridge.sandbox.jira_catalog import JiraUser, ProjectConfig
from bridge.sandbox.jira_records import (
    INVALID_PAYLOAD, AttachmentRecord, FilterRecord, IssueRecord, JiraError, VersionRecord, WorklogRecord,
)

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([wdhm])")
#: Jira's default time tracking: 8-hour days, 5-day weeks.
UNIT_SECONDS = {"w": 5 * 8 * 3600, "d": 8 * 3600, "h": 3600, "m": 60}


def parse_duration(text: Any) -> int:
    """Seconds in a Jira duration such as ``"1d 2h"``; raises ValueError if it is not one."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(text)
    parts = _DURATION_PART.findall(text)
    if not parts or _DURATION_PART.sub("", text).strip():
        raise ValueError(text)
    return int(sum(float(n) * UNIT_SECONDS[u] for n, u in parts))


def format_duration(seconds: int) -> str:
    """Jira's rendering of a duration: ``"1d 2h"``, ``"0m"`` for nothing."""
    parts = []
    for unit in ("w", "d", "h", "m"):
        count, seconds = divmod(seconds, UNIT_SECONDS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return " ".join(parts) or "0m"


class IssueWork:
    """Worklogs, votes, attachments, assignment, filters, components (needs the JiraState attributes)."""

    # -- worklogs ----------------------------------------------------------------------------
    def _worklog_values(self, payload: Any, *, partial: bool) -> tuple[int | None, str | None, datetime | None]:
        if not isinstance(payload, dict):
            raise JiraError(400, [INVALID_PAYLOAD])
        seconds = None
        if payload.get("timeSpentSeconds") is not None:
            try:
                seconds = int(payload["timeSpentSeconds"])
            except (TypeError, ValueError):
                raise JiraError(400, [], {"timeLogged": "Invalid time duration entered."}) from None
        elif payload.get("timeSpent") is not None:
            try:
                seconds = parse_duration(payload["timeSpent"])
            except ValueError:
                raise JiraError(400, [], {"timeLogged": "Invalid time duration entered."}) from None
        if seconds is None and not partial:
            raise JiraError(400, [], {"timeLogged": "You must indicate the time spent working."})
        if seconds is not None and seconds <= 0:
            raise JiraError(400, [], {"timeLogged": "Time Spent must be greater than 0."})
        started = None
        if payload.get("started"):
            try:
                started = datetime.strptime(payload["started"], "%Y-%m-%dT%H:%M:%S.%f%z")
            except (TypeError, ValueError):
                raise JiraError(400, [], {"started": "Invalid start date."}) from None
        comment = payload.get("comment")
        if comment is not None and not isinstance(comment, str):
            raise JiraError(400, [INVALID_PAYLOAD])
        return seconds, comment, started

    def add_worklog(self, record: IssueRecord, payload: Any, user: JiraUser) -> WorklogRecord:
        with self.lock:
            self.require_edit(self.projects[record.project_id], user, "log work")
            seconds, comment, started = self._worklog_values(payload, partial=False)
            now = self.now()
            worklog = WorklogRecord(str(self._next_id("worklog")), user.key, comment or "", started or now,
                                    now, now, seconds)
            record.worklogs.append(worklog)
            record.remaining_s = max(0, (record.remaining_s or 0) - seconds)
            record.updated = now
            self._touched(record)
            return worklog

    def find_worklog(self, record: IssueRecord, worklog_id: str) -> WorklogRecord:
        found = next((w for w in record.worklogs if w.id == worklog_id), None)
        if found is None:
            raise JiraError(404, ["Cannot find worklog with id: " + worklog_id])
        return found

    def update_worklog(self, record: IssueRecord, worklog: WorklogRecord, payload: Any, user: JiraUser) -> None:
        with self.lock:
            self.require_edit(self.projects[record.project_id], user, "edit worklogs")
            seconds, comment, started = self._worklog_values(payload, partial=True)
            if seconds is not None:
                record.remaining_s = max(0, (record.remaining_s or 0) + worklog.seconds - seconds)
                worklog.seconds = seconds
            if comment is not None:
                worklog.comment = comment
            if started is not None:
                worklog.started = started
            worklog.updated = record.updated = self.now()
            self._touched(record)

    def delete_worklog(self, record: IssueRecord, worklog: WorklogRecord, user: JiraUser) -> None:
        with self.lock:
            self.require_edit(self.projects[record.project_id], user, "delete worklogs")
            record.worklogs.remove(worklog)
            record.remaining_s = (record.remaining_s or 0) + worklog.seconds
            record.updated = self.now()
            self._touched(record)

    # -- votes, assignment, attachments -------------------------------------------------------
    def vote(self, record: IssueRecord, user: JiraUser, *, add: bool) -> None:
        with self.lock:
            if add and user.key == record.fields.get("reporter"):
                raise JiraError(404, ["You cannot vote for an issue you have reported."])
            if add and user.key not in record.voters:
                record.voters.append(user.key)
            elif not add and user.key in record.voters:
                record.voters.remove(user.key)

    def assign(self, record: IssueRecord, target: JiraUser | None, user: JiraUser) -> None:
        """``PUT /issue/{key}/assignee``: one changelog entry, like an edit of the field."""
        ref = None if target is None else ({"accountId": target.account_id} if self.mode == "cloud"
                                           else {"name": target.name})
        self.edit_issue(record, {"fields": {"assignee": ref}}, user, adf=False)

    def add_attachment(self, record: IssueRecord, filename: str, content: bytes, mime_type: str,
                       user: JiraUser) -> AttachmentRecord:
        with self.lock:
            self.require_edit(self.projects[record.project_id], user, "create attachments")
            now = self.now()
            attachment = AttachmentRecord(str(self._next_id("attachment")), filename, user.key, now, content,
                                          mime_type or "application/octet-stream")
            record.attachments.append(attachment)
            record.updated = now
            self._touched(record)
            return attachment

    def find_attachment(self, attachment_id: str, user: JiraUser) -> tuple[IssueRecord, AttachmentRecord]:
        for record in self.issues.values():
            for attachment in record.attachments:
                if attachment.id == attachment_id and self.projects[record.project_id].key in user.browse:
                    return record, attachment
        raise JiraError(404, [f"The attachment with id '{attachment_id}' does not exist"])

    def delete_attachment(self, attachment_id: str, user: JiraUser) -> None:
        with self.lock:
            record, attachment = self.find_attachment(attachment_id, user)
            self.require_edit(self.projects[record.project_id], user, "delete attachments")
            record.attachments.remove(attachment)
            self._touched(record)

    # -- filters ----------------------------------------------------------------------------
    def save_filter(self, payload: Any, user: JiraUser, existing: FilterRecord | None = None) -> FilterRecord:
        with self.lock:
            if not isinstance(payload, dict):
                raise JiraError(400, [INVALID_PAYLOAD])
            name = payload.get("name", existing.name if existing else None)
            jql_text = payload.get("jql", existing.jql if existing else "")
            if not isinstance(name, str) or not name.strip():
                raise JiraError(400, [], {"filterName": "You must specify a name to save this filter as."})
            if any(f.name == name and f.owner == user.key and f is not existing for f in self.filters.values()):
                raise JiraError(400, [], {"filterName": "Filter with same name already exists."})
            if not isinstance(jql_text, str):
                raise JiraError(400, [INVALID_PAYLOAD])
            self.search(jql_text, user)  # Jira refuses to save a query it cannot run
            found = existing or FilterRecord(str(self._next_id("filter")), user.key, name, jql_text)
            found.name, found.jql = name, jql_text
            if "description" in payload or existing is None:
                found.description = payload.get("description") or None
            favourite = payload.get("favourite")
            if favourite is True:
                found.favourite_of.add(user.key)
            elif favourite is False:
                found.favourite_of.discard(user.key)
            self.filters[found.id] = found
            return found

    def find_filter(self, filter_id: str, user: JiraUser) -> FilterRecord:
        found = self.filters.get(filter_id)
        if found is None:
            raise JiraError(400, ["The selected filter is not available to you, perhaps it has been deleted "
                                  "or had its permissions changed."])
        return found

    def delete_filter(self, found: FilterRecord, user: JiraUser) -> None:
        with self.lock:
            if found.owner != user.key:
                raise JiraError(400, ["You do not have permission to delete this filter."])
            del self.filters[found.id]

    # -- components, versions --------------------------------------------------------------
    def save_component(self, payload: Any, user: JiraUser, component_id: str | None = None) -> tuple[str, ProjectConfig]:
        with self.lock:
            if not isinstance(payload, dict):
                raise JiraError(400, [INVALID_PAYLOAD])
            if component_id is None:
                project = self.project(str(payload.get("project") or payload.get("projectId") or ""))
                if project is None or project.key not in user.browse:
                    raise JiraError(404, [f"No project could be found with key '{payload.get('project')}'."])
            else:
                project = self.component_project(component_id, user)
            self.require_edit(project, user, "administer components")
            name = payload.get("name", project.components.get(component_id or ""))
            if not isinstance(name, str) or not name.strip():
                raise JiraError(400, [], {"name": "The component name specified is invalid - cannot be empty."})
            if any(n.lower() == name.lower() and cid != component_id for cid, n in project.components.items()):
                raise JiraError(400, [], {"name": "A component with the name " + name + " already exists in this project."})
            component_id = component_id or str(self._next_id("component"))
            project.components[component_id] = name
            details = self.component_details.setdefault(component_id, {})
            for key in ("description", "assigneeType", "isAssigneeTypeValid", "leadUserName", "leadAccountId"):
                if key in payload:
                    details[key] = payload[key]
            self._invalidate_search()
            return component_id, project

    def component_project(self, component_id: str, user: JiraUser) -> ProjectConfig:
        for project in self.projects.values():
            if component_id in project.components and project.key in user.browse:
                return project
        raise JiraError(404, [f"The component with id {component_id} does not exist."])

    def delete_component(self, component_id: str, user: JiraUser) -> None:
        with self.lock:
            project = self.component_project(component_id, user)
            self.require_edit(project, user, "administer components")
            del project.components[component_id]
            self.component_details.pop(component_id, None)
            for record in self.issues.values():
                if component_id in record.fields.get("components", []):
                    record.fields["components"] = [c for c in record.fields["components"] if c != component_id]
                    self._touched(record)

    def delete_version(self, version: VersionRecord, user: JiraUser) -> None:
        """``DELETE /version/{id}``: issues lose it from fix and affects versions."""
        with self.lock:
            self.require_edit(self.projects[version.project_id], user, "administer versions")
            del self.versions[version.id]
            for record in self.issues.values():
                for field_id in ("fixVersions", "versions"):
                    if version.id in record.fields.get(field_id, []):
                        record.fields[field_id] = [v for v in record.fields[field_id] if v != version.id]
                        self._touched(record)
            self._invalidate_search()
            self.webhooks.version_event("jira:version_deleted", version)
