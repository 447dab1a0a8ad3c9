"""Issue writes of the JIRA emulator: create, edit, changelog, workflow transitions, delete.

:class:`IssueWrites` is mixed into :class:`~bridge.sandbox.jira_state.JiraState`; it validates
everything before changing anything (Jira's per-field messages in one :class:`JiraError`),
writes one changelog group per change, and moves ``updated``.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from bridge.sandbox.jira_adf import (
    ADF_REQUIRED,
    adf_to_text,
    is_adf_document,
    text_to_adf,
)
from bridge.sandbox.jira_catalog import (
    CUSTOM_FIELDS,
    DEFAULT_PRIORITY,
    DEFAULT_RESOLUTION,
    DONE,
    ISSUE_TYPES,
    PRIORITIES,
    SETTABLE_FIELDS,
    TO_DO,
    TRANSITIONS,
    JiraUser,
    ProjectConfig,
    Transition,
)
from bridge.sandbox.jira_records import (
    CUSTOM_BY_ID,
    INVALID_PAYLOAD,
    ISSUETYPE_BY_ID,
    PRIORITY_BY_ID,
    RESOLUTION_BY_ID,
    STATUS_BY_ID,
    ChangeGroup,
    FieldProblem,
    IssueRecord,
    JiraError,
    cannot_set,
    custom_text,
    custom_value,
    find_resolution,
    list_of_refs,
    one_ref,
)


class IssueWrites:
    """Creating, editing, transitioning and deleting issues (needs the JiraState attributes)."""

    # -- writes: issues --------------------------------------------------------------------
    def create_issue(self, payload: Any, user: JiraUser, *, adf: bool) -> IssueRecord:
        """``POST /issue``: validate everything, then create (nothing half-written on error)."""
        with self.lock:
            if not isinstance(payload, dict) or not isinstance(payload.get("fields", {}), dict) \
                    or not isinstance(payload.get("update", {}), dict):
                raise JiraError(400, [INVALID_PAYLOAD])
            fields_in = dict(payload.get("fields") or {})
            errors: dict[str, str] = {}
            project_ref = fields_in.pop("project", None)
            project = self._resolve_project(project_ref, user)
            if project is None:
                errors["project"] = self._project_problem(project_ref)
            else:
                self.require_edit(project, user, "create issues")
            issuetype_ref = fields_in.pop("issuetype", None)
            issuetype = None
            if issuetype_ref is None:
                errors["issuetype"] = "Specify an issue type" if self.mode == "cloud" else "issue type is required"
            elif project is not None:
                issuetype = self._resolve_issuetype(issuetype_ref, project)
                if issuetype is None:
                    errors["issuetype"] = self._issuetype_problem(issuetype_ref)
            now = self.now()
            values: dict[str, Any] = {
                "summary": None, "description": None, "priority": DEFAULT_PRIORITY, "labels": [],
                "components": [], "fixVersions": [], "versions": [], "assignee": None,
                "reporter": user.key, "creator": user.key, "status": TO_DO, "resolution": None,
                "resolutiondate": None, "statuscategorychangedate": now,
                **{c.id: None for c in CUSTOM_FIELDS},
            }
            if issuetype is not None:
                values["issuetype"] = issuetype
            pending_comments: list[dict] = []
            if project is not None:
                self._apply_fields(values, fields_in, project, adf=adf, errors=errors)
                self._apply_updates(values, payload.get("update") or {}, project, adf=adf, errors=errors,
                                    comments=pending_comments, user=user)
            if not values.get("summary") and "summary" not in errors:
                errors["summary"] = "You must specify a summary of the issue."
            if errors:
                raise JiraError(400, [], errors)
            assert project is not None
            self._project_counters[project.id] += 1
            number = self._project_counters[project.id]
            record = IssueRecord(
                id=self._next_id("issue"), project_id=project.id, number=number,
                key=f"{project.key}-{number}", fields=values, created=now, updated=now)
            # Jira's default "auto-watch": whoever creates an issue watches it.
            record.watchers.append(user.key)
            self.issues[record.id] = record
            self._keys[record.key] = record.id
            self.webhooks.issue_event("jira:issue_created", record, user)
            for comment in pending_comments:
                self._add_comment_record(record, comment, user, now)
            self._touched(record)
            return record

    def edit_issue(self, record: IssueRecord, payload: Any, user: JiraUser, *, adf: bool) -> None:
        """``PUT /issue/{key}``: fields and update operations, one changelog entry."""
        with self.lock:
            if not isinstance(payload, dict) or not isinstance(payload.get("fields", {}), dict) \
                    or not isinstance(payload.get("update", {}), dict):
                raise JiraError(400, [INVALID_PAYLOAD])
            project = self.projects[record.project_id]
            values = copy.deepcopy(record.fields)
            errors: dict[str, str] = {}
            fields_in = dict(payload.get("fields") or {})
            if "project" in fields_in:
                errors["project"] = cannot_set("project")
                fields_in.pop("project")
            if "issuetype" in fields_in:
                issuetype_ref = fields_in.pop("issuetype")
                issuetype = self._resolve_issuetype(issuetype_ref, project)
                if issuetype is None:
                    errors["issuetype"] = self._issuetype_problem(issuetype_ref)
                else:
                    values["issuetype"] = issuetype
            comments: list[dict] = []
            self._apply_fields(values, fields_in, project, adf=adf, errors=errors)
            self._apply_updates(values, payload.get("update") or {}, project, adf=adf, errors=errors,
                                comments=comments, user=user)
            if "summary" in errors or not values.get("summary"):
                errors.setdefault("summary", "You must specify a summary of the issue.")
            if errors:
                raise JiraError(400, [], errors)
            now = self.now()
            if self._store_edit(record, values, comments, user, now):
                record.updated = now
                self._touched(record)

    def _resolve_project(self, ref: Any, user: JiraUser) -> ProjectConfig | None:
        if isinstance(ref, (str, int)):
            ref = {"key": str(ref)} if not str(ref).isdigit() else {"id": str(ref)}
        if not isinstance(ref, dict):
            return None
        project = None
        if ref.get("id") is not None:
            project = self.projects.get(str(ref["id"]))
        elif isinstance(ref.get("key"), str):
            project = self.project(ref["key"])
        if project is None or project.key not in user.browse:
            return None
        return project

    def _project_problem(self, ref: Any) -> str:
        """Jira's text for a create naming no project, or one that does not exist or is hidden."""
        if self.mode == "cloud":
            return "Specify a valid project ID or key"
        return "project is required" if ref is None else "valid project is required"

    def _issuetype_problem(self, ref: Any) -> str:
        """Jira's text for an issue type that is not in the project's scheme.

        Cloud says "Specify a valid issue type"; Data Center resolves a name to an id first,
        so an unknown *name* reads as no issue type at all ("issue type is required", which
        pycontribs/jira's own suite asserts) and an unknown *id* as "valid issue type is
        required".
        """
        if self.mode == "cloud":
            return "Specify a valid issue type"
        if isinstance(ref, dict) and ref.get("id") is not None:
            return "valid issue type is required"
        return "issue type is required"

    @staticmethod
    def _resolve_issuetype(ref: Any, project: ProjectConfig) -> str | None:
        if not isinstance(ref, dict):
            return None
        for issuetype in ISSUE_TYPES:
            if issuetype.id in project.issue_types and (
                    str(ref.get("id")) == issuetype.id or ref.get("name") == issuetype.name):
                return issuetype.id
        return None

    def _apply_fields(self, values: dict, fields_in: dict, project: ProjectConfig, *, adf: bool,
                      errors: dict[str, str]) -> None:
        for field_id, value in fields_in.items():
            if field_id not in SETTABLE_FIELDS:
                errors[field_id] = cannot_set(field_id)
                continue
            try:
                values[field_id] = self._field_value(field_id, value, project, adf=adf)
            except FieldProblem as problem:
                errors[field_id] = str(problem)

    def _field_value(self, field_id: str, value: Any, project: ProjectConfig, *, adf: bool) -> Any:
        """Validate one field's JSON value; return its internal form or raise FieldProblem."""
        if field_id == "summary":
            if not isinstance(value, str) or not value.strip():
                raise FieldProblem("You must specify a summary of the issue.")
            if "\n" in value or "\r" in value:
                raise FieldProblem("The summary is invalid because it contains newline characters.")
            if len(value) > 255:
                raise FieldProblem("Summary must be less than 255 characters.")
            return value
        if field_id == "description":
            return self.rich_text(value, adf=adf, field_id="description", allow_none=True)
        if field_id == "priority":
            if value is None:
                return None
            if not isinstance(value, dict):
                raise FieldProblem("Could not find valid 'id' or 'name' in priority object.")
            for priority in PRIORITIES:
                if str(value.get("id")) == priority.id or value.get("name") == priority.name:
                    return priority.id
            if "id" in value:
                raise FieldProblem(f"Invalid priority id '{value['id']}'")
            raise FieldProblem(f"Priority name '{value.get('name')}' is not valid")
        if field_id == "labels":
            if value is None:
                return []
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise FieldProblem("Operation value must be an array of strings")
            for label in value:
                self._check_label(label)
            return list(dict.fromkeys(value))
        if field_id == "components":
            return [self._component_id(ref, project) for ref in list_of_refs(value, "component")]
        if field_id in ("fixVersions", "versions"):
            return [self._version_id(ref, project) for ref in list_of_refs(value, "version")]
        if field_id in ("assignee", "reporter"):
            if value is None:
                return None
            user = self.find_user_ref(value)
            if user is None:
                if self.mode == "cloud":
                    raise FieldProblem("Specified user does not exist or you do not have required permissions")
                raise FieldProblem(f"User '{value.get('name') if isinstance(value, dict) else value}' does not exist.")
            return user.key
        custom = CUSTOM_BY_ID.get(field_id)
        if custom is not None:
            return custom_value(custom, value)
        raise FieldProblem(cannot_set(field_id))

    @staticmethod
    def _check_label(label: str) -> None:
        if not label or any(c.isspace() for c in label):
            raise FieldProblem(f"The label '{label}' contains spaces which is invalid.")
        if len(label) > 255:
            raise FieldProblem("The label exceeds the maximum length of 255 characters.")

    def _component_id(self, ref: dict, project: ProjectConfig) -> str:
        for component_id, name in project.components.items():
            if str(ref.get("id")) == component_id or ref.get("name") == name:
                return component_id
        if "id" in ref:
            raise FieldProblem(f"Component id '{ref['id']}' is not valid")
        raise FieldProblem(f"Component name '{ref.get('name')}' is not valid")

    def _version_id(self, ref: dict, project: ProjectConfig) -> str:
        for version in self.versions.values():
            if version.project_id == project.id and (str(ref.get("id")) == version.id or ref.get("name") == version.name):
                return version.id
        if "id" in ref:
            raise FieldProblem(f"Version id '{ref['id']}' is not valid")
        raise FieldProblem(f"Version name '{ref.get('name')}' is not valid")

    def rich_text(self, value: Any, *, adf: bool, field_id: str, allow_none: bool = False) -> dict | None:
        """A description or comment body as stored (ADF), from v3 ADF or v2 plain text."""
        if value is None and allow_none:
            return None
        if adf:
            if not is_adf_document(value):
                raise FieldProblem(ADF_REQUIRED)
            return copy.deepcopy(value)
        if not isinstance(value, str):
            raise FieldProblem("Operation value must be a string")
        return text_to_adf(value)

    def _apply_updates(self, values: dict, update: dict, project: ProjectConfig, *, adf: bool,
                       errors: dict[str, str], comments: list[dict], user: JiraUser) -> None:
        """The ``update`` verbs: set / add / remove (labels, components, versions), comment add."""
        for field_id, operations in update.items():
            if not isinstance(operations, list) or not all(isinstance(o, dict) and len(o) == 1 for o in operations):
                errors[field_id] = INVALID_PAYLOAD
                continue
            if field_id == "comment":
                for operation in operations:
                    verb, body = next(iter(operation.items()))
                    if verb != "add" or not isinstance(body, dict):
                        errors["comment"] = "Operation must be 'add' for comments"
                        continue
                    try:
                        comments.append(self.validate_comment(body, user, project, adf=adf))
                    except JiraError as exc:
                        errors.update(exc.errors or {"comment": "; ".join(exc.messages)})
                continue
            if field_id not in SETTABLE_FIELDS or field_id in ("project", "issuetype"):
                errors[field_id] = cannot_set(field_id)
                continue
            try:
                for operation in operations:
                    verb, arg = next(iter(operation.items()))
                    if verb == "set":
                        values[field_id] = self._field_value(field_id, arg, project, adf=adf)
                    elif verb in ("add", "remove") and field_id in ("labels", "components", "fixVersions", "versions"):
                        if field_id == "labels":
                            if not isinstance(arg, str):
                                raise FieldProblem("Operation value must be a string")
                            if verb == "add":
                                self._check_label(arg)
                            item = arg
                        elif field_id == "components":
                            item = self._component_id(one_ref(arg, "component"), project)
                        else:
                            item = self._version_id(one_ref(arg, "version"), project)
                        current = values[field_id]
                        if verb == "add" and item not in current:
                            current.append(item)
                        elif verb == "remove" and item in current:
                            current.remove(item)
                    else:
                        raise FieldProblem(f"Field '{field_id}' does not support operation '{verb}'")
            except FieldProblem as problem:
                errors[field_id] = str(problem)

    # -- changelog -------------------------------------------------------------------------
    def _diff(self, before: dict, after: dict) -> list[dict]:
        items: list[dict] = []
        for field_id in ("summary", "description", "issuetype", "priority", "status", "resolution",
                         "assignee", "reporter", "labels"):
            old, new = before.get(field_id), after.get(field_id)
            if old != new:
                items.append(self._change_item(field_id, old, new))
        for field_id, label in (("fixVersions", "Fix Version"), ("versions", "Version"), ("components", "Component")):
            old, new = before.get(field_id) or [], after.get(field_id) or []
            name_of = (lambda i: self.versions[i].name) if field_id != "components" else self._component_name
            for removed in [i for i in old if i not in new]:
                items.append({"field": label, "fieldtype": "jira", "fieldId": field_id, "from": removed,
                              "fromString": name_of(removed), "to": None, "toString": None})
            for added in [i for i in new if i not in old]:
                items.append({"field": label, "fieldtype": "jira", "fieldId": field_id, "from": None,
                              "fromString": None, "to": added, "toString": name_of(added)})
        for custom in CUSTOM_FIELDS:
            old, new = before.get(custom.id), after.get(custom.id)
            if old != new:
                items.append({"field": custom.name, "fieldtype": "custom", "fieldId": custom.id,
                              "from": None, "fromString": custom_text(old), "to": None, "toString": custom_text(new)})
        return items

    def _component_name(self, component_id: str) -> str:
        for project in self.projects.values():
            if component_id in project.components:
                return project.components[component_id]
        return component_id

    def _change_item(self, field_id: str, old: Any, new: Any) -> dict:
        def describe(value: Any) -> tuple[str | None, str | None]:
            if value is None:
                return None, None
            if field_id in ("summary",):
                return None, value
            if field_id == "description":
                return None, adf_to_text(value)
            if field_id == "labels":
                return None, " ".join(value) if value else None
            if field_id == "issuetype":
                return value, ISSUETYPE_BY_ID[value].name
            if field_id == "priority":
                return value, PRIORITY_BY_ID[value].name
            if field_id == "status":
                return value, STATUS_BY_ID[value].name
            if field_id == "resolution":
                return value, RESOLUTION_BY_ID[value].name
            user = self.users[value]
            return (user.account_id if self.mode == "cloud" else user.name), user.display_name
        old_id, old_text = describe(old)
        new_id, new_text = describe(new)
        if field_id == "labels" and old_text is None and new_text is None:
            old_text = new_text = ""
        return {"field": field_id, "fieldtype": "jira", "fieldId": field_id, "from": old_id,
                "fromString": old_text, "to": new_id, "toString": new_text}

    def _log(self, record: IssueRecord, user: JiraUser, when: datetime, items: list[dict]) -> None:
        group = ChangeGroup(str(self._next_id("changegroup")), user.key, when, items)
        record.changelog.append(group)
        # Every change group is one jira:issue_updated, as Jira fires it.
        self.webhooks.issue_event("jira:issue_updated", record, user, changelog=group)

    # -- transitions -----------------------------------------------------------------------
    def transitions_for(self, record: IssueRecord) -> list[Transition]:
        return [t for t in TRANSITIONS if record.fields["status"] in t.sources]

    def transition(self, record: IssueRecord, payload: Any, user: JiraUser, *, adf: bool) -> None:
        """``POST /issue/{key}/transitions``: move along the workflow, with its screen fields."""
        with self.lock:
            if not isinstance(payload, dict):
                raise JiraError(400, [INVALID_PAYLOAD])
            ref = payload.get("transition")
            transition_id = str(ref.get("id")) if isinstance(ref, dict) and ref.get("id") is not None else None
            if transition_id is None:
                raise JiraError(400, ["Missing 'transition' identifier"])
            project = self.projects[record.project_id]
            self.require_edit(project, user, "transition issues")
            chosen = next((t for t in self.transitions_for(record) if t.id == transition_id), None)
            if chosen is None:
                raise JiraError(400, [f"Transition id '{transition_id}' is not valid for this issue."])
            fields_in = payload.get("fields") or {}
            update = payload.get("update") or {}
            if not isinstance(fields_in, dict) or not isinstance(update, dict):
                raise JiraError(400, [INVALID_PAYLOAD])
            errors: dict[str, str] = {}
            values = copy.deepcopy(record.fields)
            for field_id, value in fields_in.items():
                if field_id not in chosen.screen:
                    errors[field_id] = cannot_set(field_id)
                    continue
                resolution = find_resolution(value)
                if resolution is None:
                    errors[field_id] = "Could not find valid 'id' or 'name' in resolution object."
                else:
                    values["resolution"] = resolution
            comments: list[dict] = []
            self._apply_updates(values, update, project, adf=adf, errors=errors, comments=comments, user=user)
            if errors:
                raise JiraError(400, [], errors)
            now = self.now()
            old_category = STATUS_BY_ID[values["status"]].category
            values["status"] = chosen.to
            if chosen.to == DONE:
                values["resolution"] = values["resolution"] or DEFAULT_RESOLUTION
                values["resolutiondate"] = now
            else:
                # Leaving Done clears the resolution, as Jira's "Reopen" post-function does.
                values["resolution"] = None
                values["resolutiondate"] = None
            if STATUS_BY_ID[chosen.to].category != old_category:
                values["statuscategorychangedate"] = now
            self._store_edit(record, values, comments, user, now)
            record.updated = now
            self._touched(record)

    def _store_edit(self, record: IssueRecord, values: dict, comments: list[dict], user: JiraUser,
                    now: datetime) -> bool:
        """Make ``values`` the issue's fields, add ``comments`` and log what changed as one
        change group; whether anything changed."""
        items = self._diff(record.fields, values)
        record.fields = values
        for comment in comments:
            self._add_comment_record(record, comment, user, now)
        if items:
            self._log(record, user, now, items)
        return bool(items or comments)


    def delete_issue(self, record: IssueRecord, user: JiraUser) -> None:
        """``DELETE /issue/{key}``: the issue, its links and its search entry go."""
        with self.lock:
            self.require_edit(self.projects[record.project_id], user, "delete issues")
            self.webhooks.issue_event("jira:issue_deleted", record, user)
            for link in self.links_of(record):
                other = self.issues[link.inward_id if link.outward_id == record.id else link.outward_id]
                del self.links[link.id]
                self.webhooks.link_event("issuelink_deleted", link)
                other.updated = self.now()
                self._touched(other)
            del self.issues[record.id]
            self._index.pop(record.id, None)
            self._pending = [p for p in self._pending if p[1] != record.id]
            self._write_seq += 1
            self._search_cache.clear()
