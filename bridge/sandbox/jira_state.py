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
import secrets
import threading
from collections import OrderedDict
from datetime import date, datetime, timedelta
from typing import Any, Callable, Iterable
from zoneinfo import ZoneInfo

from bridge.sandbox.jira_catalog import (
    JiraUser,
    ProjectConfig,
    account_id_for,
    demo_users,
)
from bridge.sandbox.jira_records import (
    FilterRecord,
    INVALID_PAYLOAD,
    ISSUE_NOT_FOUND,
    IndexEntry,
    IssueRecord,
    JiraError,
    LinkRecord,
    VersionRecord,
    copy_for_index,
    utcnow,
)
from bridge.sandbox.jira_state_admin import DEFAULT_PROPERTIES, SiteAdministration
from bridge.sandbox.jira_state_comments import CommentsAndLinks
from bridge.sandbox.jira_state_index import SearchIndex
from bridge.sandbox.jira_state_issues import IssueWrites
from bridge.sandbox.jira_state_work import IssueWork
from bridge.sandbox.jira_webhooks import WebhookHub

# -- state -------------------------------------------------------------------------------

class JiraState(IssueWrites, CommentsAndLinks, SearchIndex, SiteAdministration, IssueWork):
    """The whole emulated JIRA site, in memory. Thread-safe through ``lock``."""

    def __init__(self, mode: str = "cloud", *, base_url: str = "",
                 clock: Callable[[], datetime] | None = None) -> None:
        if mode not in ("cloud", "server"):
            raise ValueError("mode must be 'cloud' or 'server'")
        self.mode = mode
        self.base_url = base_url
        self.clock: Callable[[], datetime] = clock or utcnow
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
        self._index: dict[int, IndexEntry] = {}
        self._pending: list[tuple[datetime, int, IssueRecord | None]] = []
        self._write_seq = 0
        # Ordered results of recent queries; any write clears it (see _touched).
        self._search_cache: OrderedDict[tuple, list[IssueRecord]] = OrderedDict()
        # Site administration (jira_state_admin): groups beyond the users' own, properties.
        self.extra_groups: set[str] = set()
        self.removed_groups: set[str] = set()
        self.app_properties: dict[str, tuple[str, str]] = dict(DEFAULT_PROPERTIES)
        self.sessions: dict[str, str] = {}  # JSESSIONID -> user key (cookie-based auth)
        # Project role members set through the API: (project id, role id) -> (user names, groups).
        self.role_actors: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
        self.boards: dict[int, dict] = {}  # Agile boards and sprints (jira_routes_agile)
        self.sprints: dict[int, dict] = {}
        # Saved filters and component settings beyond their names (jira_state_work).
        self.filters: dict[str, FilterRecord] = {}
        self.component_details: dict[str, dict] = {}
        if not hasattr(self, "webhooks"):
            # Kept across reset(): registrations are cleared, the delivery thread stays.
            self.webhooks = WebhookHub(self)

    def reset(self, *, seed: bool = True) -> None:
        """Forget every issue, user and setting (and re-seed): a fresh site on a running server.

        Building the HTTP app costs far more than a state, so test fixtures keep one server
        per mode and reset its state between tests. The mode and base URL stay.
        """
        with self.lock:
            self.__init__(self.mode, base_url=self.base_url)  # type: ignore[misc]
            self.webhooks.reset()  # the same hub (and delivery thread), no registrations
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
                    entry.record = copy_for_index(entry.record)
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

    def start_session(self, user: JiraUser) -> str:
        """A cookie session for ``user`` (``POST /rest/auth/1/session``); answers the JSESSIONID."""
        with self.lock:
            token = secrets.token_hex(16)
            self.sessions[token] = user.key
            return token

    def session_user(self, token: str | None) -> JiraUser | None:
        key = self.sessions.get(token or "")
        return self.users.get(key) if key else None

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
            self.webhooks.version_event("jira:version_created", version)
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
            was_released = version.released
            version.__dict__.update(trial.__dict__)
            if version.released != was_released:
                self.webhooks.version_event(
                    "jira:version_released" if version.released else "jira:version_unreleased", version)
            else:
                self.webhooks.version_event("jira:version_updated", version)
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
