"""Site administration of the JIRA emulator: projects, users, groups, application properties.

:class:`SiteAdministration` is mixed into :class:`~bridge.sandbox.jira_state.JiraState`. It is
what a client library's own integration suite needs to set itself up (pycontribs/jira's
creates and deletes its projects, users and groups). Only members of ``jira-administrators``
may administer, as in Jira; every message is Jira's own.
"""

from __future__ import annotations

import re
from typing import Any

from bridge.sandbox.jira_catalog import ISSUE_TYPES, JiraUser, ProjectConfig
from bridge.sandbox.jira_records import INVALID_PAYLOAD, JiraError

ADMINISTRATORS = "jira-administrators"
NOT_ADMIN = "You are not authorized to perform this operation. Please log in."
PROJECT_KEY = re.compile(r"^[A-Z][A-Z0-9_]{1,9}$")
#: Application properties a fresh site answers (key -> (value, type)).
DEFAULT_PROPERTIES = {
    "jira.title": ("Sandbox JIRA", "string"),
    "jira.lf.favicon.hires.url": ("/jira-favicon-hires.png", "string"),
    "jira.lf.favicon.url": ("/favicon.ico", "string"),
    "jira.lf.text.headingcolour": ("#172b4d", "colour"),
    "jira.option.voting": ("true", "boolean"),
    "jira.option.watching": ("true", "boolean"),
    "jira.option.allowattachments": ("true", "boolean"),
    "jira.option.timetracking": ("true", "boolean"),
}


class SiteAdministration:
    """Projects, users and groups as an administrator changes them (needs the JiraState attributes)."""

    def require_admin(self, user: JiraUser) -> None:
        if ADMINISTRATORS not in user.groups:
            raise JiraError(403, [NOT_ADMIN])

    # -- projects --------------------------------------------------------------------------
    def create_project(self, payload: Any, user: JiraUser) -> ProjectConfig:
        """``POST /project``: every standard issue type; every user may browse it, all but viewers edit."""
        with self.lock:
            self.require_admin(user)
            if not isinstance(payload, dict):
                raise JiraError(400, [INVALID_PAYLOAD])
            errors: dict[str, str] = {}
            key, name = payload.get("key"), payload.get("name")
            if not isinstance(key, str) or not PROJECT_KEY.match(key):
                errors["projectKey"] = ("Project keys must start with an uppercase letter, followed by one or more "
                                        "uppercase alphanumeric characters.")
            elif self.project(key) is not None:
                errors["projectKey"] = f"Project '{self.project(key).name}' uses this project key."
            if not isinstance(name, str) or not name.strip():
                errors["projectName"] = "You must specify a valid project name."
            elif any(p.name.lower() == name.lower() for p in self.projects.values()):
                errors["projectName"] = "A project with that name already exists."
            lead_ref = payload.get("leadAccountId") if self.mode == "cloud" else payload.get("lead")
            lead = user
            if lead_ref is not None:
                lead = self.user_by(account_id=str(lead_ref)) or self.user_by(name=str(lead_ref))
            if lead is None:
                errors["projectLead"] = "The user you have specified as project lead does not exist."
            if errors:
                raise JiraError(400, [], errors)
            types = tuple(t.id for t in ISSUE_TYPES)
            project = self.add_project(key, name.strip(), types, lead=lead.key,
                                       description=str(payload.get("description") or ""))
            for member in self.users.values():
                member.browse = member.browse | {key}
                if member.edit:  # read-only users (no project to edit) stay read-only
                    member.edit = member.edit | {key}
            return project

    def delete_project(self, project: ProjectConfig, user: JiraUser) -> None:
        """``DELETE /project/{key}``: the project, its issues, links and versions."""
        with self.lock:
            self.require_admin(user)
            for record in [r for r in self.issues.values() if r.project_id == project.id]:
                for link in self.links_of(record):
                    self.links.pop(link.id, None)
                del self.issues[record.id]
                self._index.pop(record.id, None)
            self._pending = [p for p in self._pending if p[1] in self.issues]
            for version_id in [v.id for v in self.versions.values() if v.project_id == project.id]:
                del self.versions[version_id]
            del self.projects[project.id]
            for member in self.users.values():
                member.browse = member.browse - {project.key}
                member.edit = member.edit - {project.key}
            self._invalidate_search()

    # -- users and groups ----------------------------------------------------------------
    def create_user(self, payload: Any, user: JiraUser) -> JiraUser:
        with self.lock:
            self.require_admin(user)
            if not isinstance(payload, dict):
                raise JiraError(400, [INVALID_PAYLOAD])
            name = payload.get("name") or payload.get("emailAddress")
            email = payload.get("emailAddress")
            errors = {}
            if not isinstance(name, str) or not name.strip():
                errors["username"] = "You must specify a username."
            elif self.user_by(name=name) is not None:
                errors["username"] = "A user with that username already exists."
            if not isinstance(email, str) or "@" not in email:
                errors["email"] = "You must specify a valid email address."
            if errors:
                raise JiraError(400, [], errors)
            return self.add_user(name, str(payload.get("displayName") or name), email,
                                 password=payload.get("password") or None, browse=(), edit=())

    def delete_user(self, target: JiraUser, user: JiraUser) -> None:
        with self.lock:
            self.require_admin(user)
            if target.key == user.key:
                raise JiraError(400, ["You cannot delete the currently logged in user."])
            del self.users[target.key]

    def all_groups(self) -> list[str]:
        names = set(self.extra_groups)
        for member in self.users.values():
            names.update(member.groups)
        return sorted(names - self.removed_groups, key=str.lower)

    def create_group(self, name: Any, user: JiraUser) -> str:
        with self.lock:
            self.require_admin(user)
            if not isinstance(name, str) or not name.strip():
                raise JiraError(400, [], {"name": "You must specify a group name."})
            if name in self.all_groups():
                raise JiraError(400, ["A group or user with this name already exists."])
            self.removed_groups.discard(name)
            self.extra_groups.add(name)
            return name

    def delete_group(self, name: str, user: JiraUser) -> None:
        with self.lock:
            self.require_admin(user)
            if name not in self.all_groups():
                raise JiraError(404, [f"The group '{name}' does not exist."])
            if name == ADMINISTRATORS:
                raise JiraError(400, ["You cannot delete a group that grants you system administration privileges."])
            self.extra_groups.discard(name)
            self.removed_groups.add(name)
            for member in self.users.values():
                member.groups = tuple(g for g in member.groups if g != name)

    def group_members(self, name: str) -> list[JiraUser]:
        if name not in self.all_groups():
            raise JiraError(404, [f"The group '{name}' does not exist."])
        return [u for u in self.users.values() if name in u.groups]

    def add_to_group(self, name: str, target: JiraUser, user: JiraUser) -> None:
        with self.lock:
            self.require_admin(user)
            if name not in self.all_groups():
                raise JiraError(404, [f"The group '{name}' does not exist."])
            if name in target.groups:
                raise JiraError(400, [f"Cannot add user. '{target.name}' is already a member of '{name}'"])
            target.groups = (*target.groups, name)

    def remove_from_group(self, name: str, target: JiraUser, user: JiraUser) -> None:
        with self.lock:
            self.require_admin(user)
            if name not in target.groups:
                raise JiraError(404, [f"The user '{target.name}' is not a member of the group '{name}'."])
            target.groups = tuple(g for g in target.groups if g != name)

    # -- application properties ------------------------------------------------------------
    def application_property(self, key: str) -> tuple[str, str]:
        if key not in self.app_properties:
            raise JiraError(404, [f"Property '{key}' does not exist."])
        return self.app_properties[key]

    def set_application_property(self, key: str, value: Any, user: JiraUser) -> None:
        with self.lock:
            self.require_admin(user)
            if key not in self.app_properties:
                raise JiraError(404, [f"Property '{key}' does not exist."])
            if not isinstance(value, str):
                raise JiraError(400, [INVALID_PAYLOAD])
            self.app_properties[key] = (value, self.app_properties[key][1])
