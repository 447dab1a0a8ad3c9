"""In-memory state of an emulated JIRA site and every write it accepts.

:class:`JiraState` holds users, projects, versions and issues (stored by numeric id, so a
key may change later), and applies writes the way Jira does: validation with Jira's error
messages (collected per field into :class:`JiraError`), a changelog entry for every field
change with author and time, ``updated`` moved by edits, comments and links, and the
workflow with resolutions. One ``RLock`` guards everything; HTTP handlers hold it for the
whole request.

Search reads a separate index (:meth:`JiraState.search_ids`) that lags behind writes by
``search_lag_s`` seconds when that knob is set — Jira Cloud's search is eventually
consistent — unless an issue's id is passed in ``reconcileIssues``.
"""

from __future__ import annotations

import copy
import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, Iterable
from zoneinfo import ZoneInfo

from bridge.sandbox import jql
from bridge.sandbox.jira_adf import ADF_REQUIRED, adf_to_text, is_adf_document, text_to_adf
from bridge.sandbox.jira_search import JiraJqlSchema, default_order, document
from bridge.sandbox.jira_catalog import (
    CUSTOM_FIELDS, DEFAULT_PRIORITY, DEFAULT_RESOLUTION, DONE, GROUPS, ISSUE_TYPES, LINK_TYPES,
    PRIORITIES, RESOLUTIONS, ROLES, SETTABLE_FIELDS, STATUS_CATEGORIES, STATUSES, TO_DO, TRANSITIONS,
    CustomField, JiraUser, ProjectConfig, Transition, account_id_for, demo_users,
)

ISSUE_NOT_FOUND = "Issue does not exist or you do not have permission to see it."
INVALID_PAYLOAD = "Invalid request payload. Refer to the REST API documentation and try again."


class JiraError(Exception):
    """An answer with Jira's error body ``{"errorMessages": [...], "errors": {...}}``."""

    def __init__(self, status: int, messages: Iterable[str] = (), errors: dict[str, str] | None = None) -> None:
        self.status = status
        self.messages = list(messages)
        self.errors = dict(errors or {})
        super().__init__(f"{status}: {self.messages or self.errors}")

    def body(self) -> dict:
        return {"errorMessages": self.messages, "errors": self.errors}


def _cannot_set(field_id: str) -> str:
    return f"Field '{field_id}' cannot be set. It is not on the appropriate screen, or unknown."


# -- records -----------------------------------------------------------------------------

@dataclass
class VersionRecord:
    id: str
    project_id: str
    name: str
    description: str | None = None
    released: bool = False
    archived: bool = False
    release_date: date | None = None
    start_date: date | None = None


@dataclass
class CommentRecord:
    id: str
    author: str  # user key
    body: dict  # ADF
    created: datetime
    updated: datetime
    update_author: str
    visibility: dict | None = None
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass
class RemoteLinkRecord:
    id: int
    object: dict
    global_id: str | None = None
    application: dict | None = None
    relationship: str | None = None


@dataclass
class LinkRecord:
    id: str
    type_id: str
    outward_id: int  # the "from" issue: "<outward> <type.outward> <inward>", e.g. "A blocks B"
    inward_id: int


@dataclass
class ChangeGroup:
    id: str
    author: str
    created: datetime
    items: list[dict]


@dataclass
class IssueRecord:
    """One issue. ``fields`` holds internal values (ids, ADF, datetimes), not JSON."""

    id: int
    project_id: str
    number: int
    key: str
    fields: dict[str, Any]
    created: datetime
    updated: datetime
    comments: list[CommentRecord] = field(default_factory=list)
    changelog: list[ChangeGroup] = field(default_factory=list)
    remote_links: list[RemoteLinkRecord] = field(default_factory=list)
    watchers: list[str] = field(default_factory=list)  # user keys
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass
class _IndexEntry:
    """What search sees of an issue: a copy taken when it was (eventually) indexed."""

    record: IssueRecord
    doc: dict[str, Any]


def _copy_for_index(record: IssueRecord) -> IssueRecord:
    return copy.deepcopy(record)


# -- state -------------------------------------------------------------------------------

def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class JiraState:
    """The whole emulated JIRA site, in memory. Thread-safe through ``lock``."""

    def __init__(self, mode: str = "cloud", *, base_url: str = "",
                 clock: Callable[[], datetime] | None = None) -> None:
        if mode not in ("cloud", "server"):
            raise ValueError("mode must be 'cloud' or 'server'")
        self.mode = mode
        self.base_url = base_url
        self.clock: Callable[[], datetime] = clock or _utcnow
        self.lock = threading.RLock()
        self._search_lag_s = 0.0
        self.users: dict[str, JiraUser] = {}  # by key
        self.projects: dict[str, ProjectConfig] = {}  # by id
        self.versions: dict[str, VersionRecord] = {}
        self.issues: dict[int, IssueRecord] = {}
        self.links: dict[str, LinkRecord] = {}
        self._keys: dict[str, int] = {}  # every key an issue ever had -> id
        self._project_counters: dict[str, int] = {}
        self._ids: dict[str, int] = {}
        # Search index: id -> entry; pending writes wait there until search_lag_s passed.
        self._index: dict[int, _IndexEntry] = {}
        self._pending: list[tuple[datetime, int, IssueRecord | None]] = []
        self._write_seq = 0
        # Ordered results of recent queries; any write clears it (see _touched).
        self._search_cache: OrderedDict[tuple, list[IssueRecord]] = OrderedDict()

    def reset(self, *, seed: bool = True) -> None:
        """Forget every issue, user and setting (and re-seed): a fresh site on a running server.

        Building the HTTP app costs far more than a state, so test fixtures keep one server
        per mode and reset its state between tests. The mode and base URL stay.
        """
        with self.lock:
            self.__init__(self.mode, base_url=self.base_url)  # type: ignore[misc]
            if seed:
                self.seed_demo()

    @property
    def search_lag_s(self) -> float:
        """Seconds a write takes to reach search results (0 = at once, the default)."""
        return self._search_lag_s

    @search_lag_s.setter
    def search_lag_s(self, value: float) -> None:
        with self.lock:
            if value > 0 and self._search_lag_s <= 0:
                # From now on search must not see writes at once: freeze what it sees.
                for entry in self._index.values():
                    entry.record = _copy_for_index(entry.record)
                    entry.doc = {}
            self._search_lag_s = float(value)
            self._search_cache.clear()

    # -- ids -------------------------------------------------------------------------------
    def _next_id(self, kind: str, start: int = 10000) -> int:
        value = self._ids.get(kind, start - 1) + 1
        self._ids[kind] = value
        return value

    def now(self) -> datetime:
        """The emulator's clock, truncated to milliseconds as Jira stores times."""
        current = self.clock()
        return current.replace(microsecond=current.microsecond // 1000 * 1000)

    # -- users -----------------------------------------------------------------------------
    def add_user(self, name: str, display_name: str, email: str, *, time_zone: str = "UTC",
                 password: str | None = None, api_token: str | None = None, pat: str | None = None,
                 groups: Iterable[str] = ("jira-software-users",), roles: Iterable[str] = ("Users",),
                 browse: Iterable[str] = (), edit: Iterable[str] = ()) -> JiraUser:
        """Add a user; ``browse``/``edit`` are project keys they may see / change."""
        with self.lock:
            number = 10000 + len(self.users)
            while f"JIRAUSER{number}" in self.users:
                number += 1
            user = JiraUser(
                name=name, key=f"JIRAUSER{number}",
                account_id=account_id_for(name), display_name=display_name, email=email,
                time_zone=time_zone, password=password, api_token=api_token, pat=pat,
                groups=tuple(groups), roles=tuple(roles), browse=frozenset(browse), edit=frozenset(edit))
            self.users[user.key] = user
            return user

    def user_by(self, *, name: str | None = None, account_id: str | None = None,
                email: str | None = None) -> JiraUser | None:
        for user in self.users.values():
            if ((name is not None and user.name == name) or (account_id is not None and user.account_id == account_id)
                    or (email is not None and user.email.lower() == email.lower())):
                return user
        return None

    def authenticate_basic(self, login: str, secret: str) -> JiraUser | None:
        """Cloud: e-mail + API token. Data Center: username + password."""
        for user in self.users.values():
            if self.mode == "cloud":
                if user.email.lower() == login.lower() and user.api_token and secret == user.api_token:
                    return user
            elif user.name == login and user.password and secret == user.password:
                return user
        return None

    def authenticate_bearer(self, token: str) -> JiraUser | None:
        """Data Center personal access tokens (Cloud has none for REST with API tokens)."""
        if self.mode != "server":
            return None
        return next((u for u in self.users.values() if u.pat and u.pat == token), None)

    def user_tz(self, user: JiraUser | None) -> ZoneInfo:
        return ZoneInfo(user.time_zone if user else "UTC")

    def find_user_ref(self, ref: Any) -> JiraUser | None:
        """A user from a field value: Cloud ``{"accountId"}``, Data Center ``{"name"}``/``{"key"}``."""
        if not isinstance(ref, dict):
            return None
        if self.mode == "cloud" and isinstance(ref.get("accountId"), str):
            return self.user_by(account_id=ref["accountId"])
        if self.mode == "server":
            if isinstance(ref.get("name"), str):
                return self.user_by(name=ref["name"])
            if isinstance(ref.get("key"), str):
                return self.users.get(ref["key"])
        return None

    def search_users(self, text: str) -> list[JiraUser]:
        text = text.lower()
        found = []
        for user in self.users.values():
            words = [user.name, user.email, user.display_name, *user.display_name.split()]
            if self.mode == "cloud":
                words = [user.email, user.display_name, *user.display_name.split(), user.account_id]
            if any(w.lower().startswith(text) for w in words):
                found.append(user)
        return found

    # -- configuration ---------------------------------------------------------------------
    def seed_demo(self) -> None:
        """Install the demo world: users, projects SUP and OPS, components, versions."""
        with self.lock:
            for user in demo_users():
                self.users[user.key] = user
            bridge = self.user_by(name="bridge")
            assert bridge is not None
            sup = self.add_project("SUP", "Support Escalations", ("10004", "10002", "10003"), lead=bridge.key,
                                   description="Bugs escalated from customer support.")
            for name in ("Mobile", "Web", "API"):
                sup.components[str(self._next_id("component"))] = name
            self.add_project("OPS", "Operations", ("10002",), lead=bridge.key,
                             description="Operational tasks.")
            today = self.now().date()
            self.add_version(sup.id, "2.3.1", released=True, release_date=today - timedelta(days=14))
            self.add_version(sup.id, "2.4.0")

    def add_project(self, key: str, name: str, issue_types: Iterable[str], *, lead: str,
                    description: str = "") -> ProjectConfig:
        with self.lock:
            project = ProjectConfig(str(self._next_id("project")), key, name, description, tuple(issue_types), lead)
            self.projects[project.id] = project
            self._project_counters[project.id] = 0
            return project

    def add_version(self, project_id: str, name: str, *, released: bool = False,
                    release_date: date | None = None, description: str | None = None) -> VersionRecord:
        with self.lock:
            version = VersionRecord(str(self._next_id("version")), project_id, name, description,
                                    released, False, release_date)
            self.versions[version.id] = version
            self._invalidate_search()
            return version

    def project(self, key_or_id: str) -> ProjectConfig | None:
        with self.lock:
            if key_or_id in self.projects:
                return self.projects[key_or_id]
            return next((p for p in self.projects.values() if p.key.lower() == str(key_or_id).lower()), None)

    def project_by_key(self, key: str) -> ProjectConfig:
        project = self.project(key)
        if project is None:
            raise KeyError(key)
        return project

    # -- lookups ---------------------------------------------------------------------------
    def _inspect_view(self):
        from bridge.sandbox.jira_render import View
        # The emulator's own view: every comment, UTC dates, REST v2 shapes (plain text).
        return View(self, self.base_url, "2", None)

    def issue(self, key_or_id: str | int) -> dict:
        """An issue as ``GET /rest/api/2/issue/{key}?expand=changelog&properties=*all`` shows it.

        For tests: all fields (plain-text description), the changelog, every comment
        (restricted ones too) and the issue properties. Raises KeyError for an unknown issue.
        """
        from bridge.sandbox.jira_render import issue_json, select_fields
        with self.lock:
            record = self.issue_record(key_or_id)
            if record is None:
                raise KeyError(key_or_id)
            return issue_json(record, self._inspect_view(), fields=select_fields(None, "*all"),
                              expand=("changelog",), properties=("*all",))

    def all_issues(self) -> list[dict]:
        """Every issue (as :meth:`issue` renders it), oldest first."""
        with self.lock:
            return [self.issue(i) for i in sorted(self.issues)]

    def comments(self, key_or_id: str | int) -> list[dict]:
        """An issue's comments as REST v2 renders them (plain-text ``body``), with properties."""
        from bridge.sandbox.jira_render import comment_json
        with self.lock:
            record = self.issue_record(key_or_id)
            if record is None:
                raise KeyError(key_or_id)
            view = self._inspect_view()
            return [comment_json(c, record, view, expand_properties=True) for c in record.comments]

    def remote_links(self, key_or_id: str | int) -> list[dict]:
        """An issue's remote links as ``GET .../remotelink`` lists them."""
        from bridge.sandbox.jira_render import remote_link_json
        with self.lock:
            record = self.issue_record(key_or_id)
            if record is None:
                raise KeyError(key_or_id)
            return [remote_link_json(link, record, self._inspect_view()) for link in record.remote_links]

    def watcher_names(self, key_or_id: str | int) -> list[str]:
        """Usernames watching an issue."""
        with self.lock:
            record = self.issue_record(key_or_id)
            if record is None:
                raise KeyError(key_or_id)
            return [self.users[k].name for k in record.watchers]

    def issue_record(self, key_or_id: str | int) -> IssueRecord | None:
        text = str(key_or_id)
        if text.isdigit():
            return self.issues.get(int(text))
        issue_id = self._keys.get(text.upper())
        return self.issues.get(issue_id) if issue_id is not None else None

    def visible_issue(self, key_or_id: str, user: JiraUser) -> IssueRecord:
        """The issue if ``user`` may browse it, else Jira's 404 (which hides existence)."""
        record = self.issue_record(key_or_id)
        if record is None or self.projects[record.project_id].key not in user.browse:
            raise JiraError(404, [ISSUE_NOT_FOUND])
        return record

    def editable_issue(self, key_or_id: str, user: JiraUser, action: str = "edit issues") -> IssueRecord:
        record = self.visible_issue(key_or_id, user)
        self.require_edit(self.projects[record.project_id], user, action)
        return record

    @staticmethod
    def require_edit(project: ProjectConfig, user: JiraUser, action: str) -> None:
        if project.key not in user.edit:
            raise JiraError(403, [f"You do not have permission to {action} in this project."])

    def visible_projects(self, user: JiraUser) -> list[ProjectConfig]:
        return [p for p in self.projects.values() if p.key in user.browse]

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
                errors["project"] = _cannot_set("project")
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
            items = self._diff(record.fields, values)
            record.fields = values
            for comment in comments:
                self._add_comment_record(record, comment, user, now)
            if items:
                self._log(record, user, now, items)
            if items or comments:
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
                errors[field_id] = _cannot_set(field_id)
                continue
            try:
                values[field_id] = self._field_value(field_id, value, project, adf=adf)
            except _FieldProblem as problem:
                errors[field_id] = str(problem)

    def _field_value(self, field_id: str, value: Any, project: ProjectConfig, *, adf: bool) -> Any:
        """Validate one field's JSON value; return its internal form or raise _FieldProblem."""
        if field_id == "summary":
            if not isinstance(value, str) or not value.strip():
                raise _FieldProblem("You must specify a summary of the issue.")
            if "\n" in value or "\r" in value:
                raise _FieldProblem("The summary is invalid because it contains newline characters.")
            if len(value) > 255:
                raise _FieldProblem("Summary must be less than 255 characters.")
            return value
        if field_id == "description":
            return self.rich_text(value, adf=adf, field_id="description", allow_none=True)
        if field_id == "priority":
            if value is None:
                return None
            if not isinstance(value, dict):
                raise _FieldProblem("Could not find valid 'id' or 'name' in priority object.")
            for priority in PRIORITIES:
                if str(value.get("id")) == priority.id or value.get("name") == priority.name:
                    return priority.id
            if "id" in value:
                raise _FieldProblem(f"Invalid priority id '{value['id']}'")
            raise _FieldProblem(f"Priority name '{value.get('name')}' is not valid")
        if field_id == "labels":
            if value is None:
                return []
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise _FieldProblem("Operation value must be an array of strings")
            for label in value:
                self._check_label(label)
            return list(dict.fromkeys(value))
        if field_id == "components":
            return [self._component_id(ref, project) for ref in _list_of_refs(value, "component")]
        if field_id in ("fixVersions", "versions"):
            return [self._version_id(ref, project) for ref in _list_of_refs(value, "version")]
        if field_id in ("assignee", "reporter"):
            if value is None:
                return None
            user = self.find_user_ref(value)
            if user is None:
                if self.mode == "cloud":
                    raise _FieldProblem("Specified user does not exist or you do not have required permissions")
                raise _FieldProblem(f"User '{value.get('name') if isinstance(value, dict) else value}' does not exist.")
            return user.key
        custom = _CUSTOM.get(field_id)
        if custom is not None:
            return _custom_value(custom, value)
        raise _FieldProblem(_cannot_set(field_id))

    @staticmethod
    def _check_label(label: str) -> None:
        if not label or any(c.isspace() for c in label):
            raise _FieldProblem(f"The label '{label}' contains spaces which is invalid.")
        if len(label) > 255:
            raise _FieldProblem("The label exceeds the maximum length of 255 characters.")

    def _component_id(self, ref: dict, project: ProjectConfig) -> str:
        for component_id, name in project.components.items():
            if str(ref.get("id")) == component_id or ref.get("name") == name:
                return component_id
        if "id" in ref:
            raise _FieldProblem(f"Component id '{ref['id']}' is not valid")
        raise _FieldProblem(f"Component name '{ref.get('name')}' is not valid")

    def _version_id(self, ref: dict, project: ProjectConfig) -> str:
        for version in self.versions.values():
            if version.project_id == project.id and (str(ref.get("id")) == version.id or ref.get("name") == version.name):
                return version.id
        if "id" in ref:
            raise _FieldProblem(f"Version id '{ref['id']}' is not valid")
        raise _FieldProblem(f"Version name '{ref.get('name')}' is not valid")

    def rich_text(self, value: Any, *, adf: bool, field_id: str, allow_none: bool = False) -> dict | None:
        """A description or comment body as stored (ADF), from v3 ADF or v2 plain text."""
        if value is None and allow_none:
            return None
        if adf:
            if not is_adf_document(value):
                raise _FieldProblem(ADF_REQUIRED)
            return copy.deepcopy(value)
        if not isinstance(value, str):
            raise _FieldProblem("Operation value must be a string")
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
                errors[field_id] = _cannot_set(field_id)
                continue
            try:
                for operation in operations:
                    verb, arg = next(iter(operation.items()))
                    if verb == "set":
                        values[field_id] = self._field_value(field_id, arg, project, adf=adf)
                    elif verb in ("add", "remove") and field_id in ("labels", "components", "fixVersions", "versions"):
                        if field_id == "labels":
                            if not isinstance(arg, str):
                                raise _FieldProblem("Operation value must be a string")
                            if verb == "add":
                                self._check_label(arg)
                            item = arg
                        elif field_id == "components":
                            item = self._component_id(_one_ref(arg, "component"), project)
                        else:
                            item = self._version_id(_one_ref(arg, "version"), project)
                        current = values[field_id]
                        if verb == "add" and item not in current:
                            current.append(item)
                        elif verb == "remove" and item in current:
                            current.remove(item)
                    else:
                        raise _FieldProblem(f"Field '{field_id}' does not support operation '{verb}'")
            except _FieldProblem as problem:
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
                              "from": None, "fromString": _custom_text(old), "to": None, "toString": _custom_text(new)})
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
                return value, _ISSUETYPE[value].name
            if field_id == "priority":
                return value, _PRIORITY[value].name
            if field_id == "status":
                return value, _STATUS[value].name
            if field_id == "resolution":
                return value, _RESOLUTION[value].name
            user = self.users[value]
            return (user.account_id if self.mode == "cloud" else user.name), user.display_name
        old_id, old_text = describe(old)
        new_id, new_text = describe(new)
        if field_id == "labels" and old_text is None and new_text is None:
            old_text = new_text = ""
        return {"field": field_id, "fieldtype": "jira", "fieldId": field_id, "from": old_id,
                "fromString": old_text, "to": new_id, "toString": new_text}

    def _log(self, record: IssueRecord, user: JiraUser, when: datetime, items: list[dict]) -> None:
        record.changelog.append(ChangeGroup(str(self._next_id("changegroup")), user.key, when, items))

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
                    errors[field_id] = _cannot_set(field_id)
                    continue
                resolution = _find_resolution(value)
                if resolution is None:
                    errors[field_id] = "Could not find valid 'id' or 'name' in resolution object."
                else:
                    values["resolution"] = resolution
            comments: list[dict] = []
            self._apply_updates(values, update, project, adf=adf, errors=errors, comments=comments, user=user)
            if errors:
                raise JiraError(400, [], errors)
            now = self.now()
            old_category = _STATUS[values["status"]].category
            values["status"] = chosen.to
            if chosen.to == DONE:
                values["resolution"] = values["resolution"] or DEFAULT_RESOLUTION
                values["resolutiondate"] = now
            else:
                # Leaving Done clears the resolution, as Jira's "Reopen" post-function does.
                values["resolution"] = None
                values["resolutiondate"] = None
            if _STATUS[chosen.to].category != old_category:
                values["statuscategorychangedate"] = now
            items = self._diff(record.fields, values)
            record.fields = values
            for comment in comments:
                self._add_comment_record(record, comment, user, now)
            if items:
                self._log(record, user, now, items)
            record.updated = now
            self._touched(record)

    # -- comments --------------------------------------------------------------------------
    def validate_comment(self, payload: Any, user: JiraUser, project: ProjectConfig, *, adf: bool) -> dict:
        """Check a comment body, visibility and properties; returns the normalised comment."""
        if not isinstance(payload, dict) or "body" not in payload:
            raise JiraError(400, [], {"comment": "Comment body can not be empty!"})
        try:
            body = self.rich_text(payload["body"], adf=adf, field_id="comment")
        except _FieldProblem as problem:
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

    def delete_comment(self, record: IssueRecord, comment: CommentRecord, user: JiraUser) -> None:
        with self.lock:
            self.require_edit(self.projects[record.project_id], user, "delete comments")
            record.comments.remove(comment)
            record.updated = self.now()
            self._touched(record)

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
                raise JiraError(404, ["No issue link type with name '%s' found." % _ref_text(payload.get("type"))])
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
                self._log(outward, user, now, [_link_item(link_type.outward, inward, added=True)])
                self._log(inward, user, now, [_link_item(link_type.inward, outward, added=True)])
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
            link_type = _LINK_TYPE[link.type_id]
            del self.links[link_id]
            now = self.now()
            self._log(outward, user, now, [_link_item(link_type.outward, inward, added=False)])
            self._log(inward, user, now, [_link_item(link_type.inward, outward, added=False)])
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

    # -- versions --------------------------------------------------------------------------
    def create_version(self, payload: Any, user: JiraUser) -> VersionRecord:
        with self.lock:
            if not isinstance(payload, dict):
                raise JiraError(400, [INVALID_PAYLOAD])
            ref = payload.get("projectId") if payload.get("projectId") is not None else payload.get("project")
            if ref is None:
                raise JiraError(400, [], {"project": "Project must be specified to create a version."})
            project = self.project(str(ref))
            if project is None or project.key not in user.browse:
                raise JiraError(404, [f"No project could be found with key '{ref}'."])
            self.require_edit(project, user, "administer versions")
            name = payload.get("name")
            if not isinstance(name, str) or not name.strip():
                raise JiraError(400, [], {"name": "You must specify a valid version name"})
            if any(v.project_id == project.id and v.name.lower() == name.lower() for v in self.versions.values()):
                raise JiraError(400, [], {"name": "A version with this name already exists in this project."})
            version = VersionRecord(str(self._next_id("version")), project.id, name)
            self._apply_version_fields(version, payload)
            self.versions[version.id] = version
            return version

    def update_version(self, version: VersionRecord, payload: Any, user: JiraUser) -> None:
        with self.lock:
            if not isinstance(payload, dict):
                raise JiraError(400, [INVALID_PAYLOAD])
            self.require_edit(self.projects[version.project_id], user, "administer versions")
            name = payload.get("name", version.name)
            if not isinstance(name, str) or not name.strip():
                raise JiraError(400, [], {"name": "You must specify a valid version name"})
            if any(v.id != version.id and v.project_id == version.project_id and v.name.lower() == name.lower()
                   for v in self.versions.values()):
                raise JiraError(400, [], {"name": "A version with this name already exists in this project."})
            trial = copy.copy(version)
            trial.name = name
            self._apply_version_fields(trial, payload)
            version.__dict__.update(trial.__dict__)
            # Fix versions are rendered from the version record, so issues show the release
            # at once; search documents carry version ids only, nothing to re-index.
            self._invalidate_search()

    @staticmethod
    def _apply_version_fields(version: VersionRecord, payload: dict) -> None:
        errors = {}
        for flag in ("released", "archived"):
            if flag in payload:
                if not isinstance(payload[flag], bool):
                    errors[flag] = f"'{flag}' must be true or false."
                else:
                    setattr(version, flag, payload[flag])
        if "description" in payload:
            if payload["description"] is not None and not isinstance(payload["description"], str):
                errors["description"] = "'description' must be a string."
            else:
                version.description = payload["description"]
        for key, attr in (("releaseDate", "release_date"), ("startDate", "start_date")):
            if key in payload:
                value = payload[key]
                if value is None:
                    setattr(version, attr, None)
                    continue
                try:
                    setattr(version, attr, date.fromisoformat(value))
                except (TypeError, ValueError):
                    errors[key] = "Please enter the date in the following format: yyyy-MM-dd"
        if errors:
            raise JiraError(400, [], errors)

    def delete_issue(self, record: IssueRecord, user: JiraUser) -> None:
        """``DELETE /issue/{key}``: the issue, its links and its search entry go."""
        with self.lock:
            self.require_edit(self.projects[record.project_id], user, "delete issues")
            for link in self.links_of(record):
                other = self.issues[link.inward_id if link.outward_id == record.id else link.outward_id]
                del self.links[link.id]
                other.updated = self.now()
                self._touched(other)
            del self.issues[record.id]
            self._index.pop(record.id, None)
            self._pending = [p for p in self._pending if p[1] != record.id]
            self._write_seq += 1
            self._search_cache.clear()

    # -- search ----------------------------------------------------------------------------
    def _touched(self, record: IssueRecord) -> None:
        """Record a write for the search index (now, or after the lag when one is set)."""
        self._write_seq += 1
        self._search_cache.clear()
        if self.search_lag_s > 0:
            self._pending.append((self.clock(), record.id, _copy_for_index(record)))
        else:
            self._index[record.id] = _IndexEntry(record, {})

    def _invalidate_search(self) -> None:
        self._write_seq += 1
        self._search_cache.clear()
        for entry in self._index.values():
            entry.doc = {}

    def _catch_up_index(self) -> None:
        if self.search_lag_s <= 0:
            # Lag switched off: everything pending is visible now.
            for _, issue_id, _ in self._pending:
                if issue_id in self.issues:
                    self._index[issue_id] = _IndexEntry(self.issues[issue_id], {})
            self._pending.clear()
            return
        cutoff = self.clock() - timedelta(seconds=self.search_lag_s)
        keep = []
        for written, issue_id, snapshot in self._pending:
            if written <= cutoff:
                if issue_id in self.issues:
                    self._index[issue_id] = _IndexEntry(snapshot or self.issues[issue_id], {})
            else:
                keep.append((written, issue_id, snapshot))
        self._pending = keep

    def index_entry(self, issue_id: int) -> _IndexEntry | None:
        return self._index.get(issue_id)

    def search(self, jql_text: str, user: JiraUser, *, strict: bool = True,
               reconcile: Iterable[int] = ()) -> tuple[list[IssueRecord], tuple[str, ...]]:
        """All issues ``user`` may see that match, in order, as search sees them (maybe stale).

        The list may be shared with later calls: callers slice it, never change it.
        """
        with self.lock:
            self._catch_up_index()
            tz = self.user_tz(user)
            reconcile = {int(i) for i in reconcile}
            query = jql.parse(jql_text)
            ctx = jql.EvalContext(now=self.clock(), tz=tz, user=user.key)
            compiled = jql.compile_query(query, JiraJqlSchema(self, user), ctx, strict=strict)
            cache_key = (jql_text, user.key, str(tz), strict, self._write_seq)
            cacheable = not reconcile and not _uses_now(query) and self.search_lag_s <= 0
            if cacheable and cache_key in self._search_cache:
                self._search_cache.move_to_end(cache_key)
                return self._search_cache[cache_key], compiled.warnings
            visible = {p.id for p in self.visible_projects(user)}
            predicate = compiled.predicate
            matched = []
            # One pass over the index; documents are built once per indexed version.
            for issue_id, entry in self._index.items():
                if entry.record.project_id not in visible or issue_id in reconcile:
                    continue
                doc = entry.doc
                if not doc:
                    doc = entry.doc = document(self, entry.record)
                if predicate(doc):
                    matched.append(doc)
            for issue_id in reconcile:
                record = self.issues.get(issue_id)
                if record is not None and record.project_id in visible:
                    doc = document(self, record)
                    if predicate(doc):
                        matched.append(doc)
            ordered = compiled.sort(matched, default_order())
            records = [d["@record"] for d in ordered]
            if cacheable:
                self._search_cache[cache_key] = records
                while len(self._search_cache) > 64:
                    self._search_cache.popitem(last=False)
            return records, compiled.warnings


def _uses_now(query: jql.Query) -> bool:
    """Whether a query's meaning moves with the clock (relative dates, now(), ...)."""
    def operand_uses_now(operand: Any) -> bool:
        if isinstance(operand, jql.Function):
            return True
        if isinstance(operand, jql.ListOperand):
            return any(operand_uses_now(o) for o in operand.items)
        if isinstance(operand, jql.Value):
            text = operand.text.strip()
            return bool(text) and (text[0] in "+-" or text[-1:] in ("w", "d", "h", "m"))
        return False

    return any(isinstance(node, jql.Clause) and operand_uses_now(node.operand) for node in jql.walk(query.where))


# -- helpers -----------------------------------------------------------------------------

class _FieldProblem(Exception):
    """One field's value is invalid; the message is Jira's text for that field."""


_STATUS = {s.id: s for s in STATUSES}
_STATUS_CATEGORY = {c.id: c for c in STATUS_CATEGORIES}
_PRIORITY = {p.id: p for p in PRIORITIES}
_RESOLUTION = {r.id: r for r in RESOLUTIONS}
_ISSUETYPE = {t.id: t for t in ISSUE_TYPES}
_LINK_TYPE = {t.id: t for t in LINK_TYPES}
_CUSTOM = {c.id: c for c in CUSTOM_FIELDS}


def _find_resolution(ref: Any) -> str | None:
    if not isinstance(ref, dict):
        return None
    return next((r.id for r in RESOLUTIONS if str(ref.get("id")) == r.id or ref.get("name") == r.name), None)


def _list_of_refs(value: Any, what: str) -> list[dict]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise _FieldProblem(f"Operation value must be an array of {what} objects")
    return value


def _one_ref(value: Any, what: str) -> dict:
    if not isinstance(value, dict):
        raise _FieldProblem(f"Operation value must be a {what} object")
    return value


def _custom_value(custom: CustomField, value: Any) -> Any:
    if value is None:
        return None
    if custom.kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _FieldProblem("Operation value must be a number")
        return float(value)
    if not isinstance(value, str):
        raise _FieldProblem("Operation value must be a string")
    if len(value) > 255:
        raise _FieldProblem("The entered text is too long. It exceeds the allowed limit of 255 characters.")
    return value


def _custom_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    return str(value)


def _link_item(verb: str, other: IssueRecord, *, added: bool) -> dict:
    text = f"This issue {verb} {other.key}"
    if added:
        return {"field": "Link", "fieldtype": "jira", "from": None, "fromString": None, "to": other.key, "toString": text}
    return {"field": "Link", "fieldtype": "jira", "from": other.key, "fromString": text, "to": None, "toString": None}


def _ref_text(ref: Any) -> str:
    if isinstance(ref, dict):
        return str(ref.get("name") or ref.get("id"))
    return str(ref)
