"""The fixed configuration of an emulated JIRA site: users, projects, workflow, fields.

Everything here is what a Jira administrator sets up once: the demo world that
``JiraState.seed_demo`` installs (project ``SUP`` "Support Escalations" and ``OPS``), the
issue types, priorities (ids 1..5 as in Jira), statuses and their categories, the workflow
To Do → In Progress → In QA → Done (with "Reopen" back to To Do), resolutions, link types,
the custom fields and the users with their credentials. Ids follow Jira's own defaults where
Jira has well-known ones.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


# -- users -------------------------------------------------------------------------------

@dataclass
class JiraUser:
    """A user as both deployments know them: Cloud by ``account_id``, Data Center by ``name``/``key``."""

    name: str
    key: str
    account_id: str
    display_name: str
    email: str
    time_zone: str
    password: str | None = None
    api_token: str | None = None
    pat: str | None = None
    groups: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    #: Project keys the user may browse, and those where they may create, edit and comment.
    browse: frozenset[str] = frozenset()
    edit: frozenset[str] = frozenset()
    active: bool = True
    locale: str = "en_US"


def account_id_for(name: str) -> str:
    """A Cloud-looking account id (24 hex digits), stable for a name."""
    return hashlib.sha1(f"sandbox-user:{name}".encode()).hexdigest()[:24]


@dataclass(frozen=True)
class DemoLogin:
    """Credentials of one seeded user (the same in every emulator instance)."""

    username: str  # Data Center basic auth
    email: str  # Cloud basic auth
    password: str  # Data Center basic auth
    api_token: str  # Cloud basic auth (email + token)
    pat: str  # Data Center personal access token (Authorization: Bearer)

    @property
    def account_id(self) -> str:
        return account_id_for(self.username)

    def basic_auth(self, mode: str) -> tuple[str, str]:
        """The ``basic_auth`` tuple for the ``jira`` library in ``mode`` ("cloud" or "server")."""
        return (self.email, self.api_token) if mode == "cloud" else (self.username, self.password)


def _login(name: str, email: str) -> DemoLogin:
    return DemoLogin(name, email, f"{name}-sandbox-password", f"{name}-sandbox-api-token", f"{name}-sandbox-pat")


#: The seeded users' credentials, by username. ``bridge`` is the integration user the
#: bridge runs as; ``dev`` a developer in Europe/Berlin; ``manager`` the escalation manager;
#: ``viewer`` a valid user who may browse SUP but change nothing (403 on writes).
DEMO_LOGINS: dict[str, DemoLogin] = {
    "bridge": _login("bridge", "bridge@example.com"),
    "dev": _login("dev", "dev@example.com"),
    "manager": _login("manager", "escalations@example.com"),
    "viewer": _login("viewer", "viewer@example.com"),
}

_DEMO_PROFILES = {
    # name: (display name, time zone, groups, roles, browse, edit)
    "bridge": ("Escalation Bridge", "UTC", ("jira-software-users", "jira-administrators"),
               ("Administrators", "Developers"), {"SUP", "OPS"}, {"SUP", "OPS"}),
    "dev": ("Dana Developer", "Europe/Berlin", ("jira-software-users", "developers"),
            ("Developers",), {"SUP", "OPS"}, {"SUP", "OPS"}),
    "manager": ("Erin Escalation Manager", "America/New_York", ("jira-software-users",),
                ("Users",), {"SUP"}, {"SUP"}),
    "viewer": ("Val Viewer", "UTC", ("jira-software-users",), ("Users",), {"SUP"}, set()),
}


def demo_users() -> list[JiraUser]:
    users = []
    for index, (name, login) in enumerate(DEMO_LOGINS.items()):
        display, tz, groups, roles, browse, edit = _DEMO_PROFILES[name]
        users.append(JiraUser(
            name=name, key=f"JIRAUSER{10000 + index}", account_id=login.account_id,
            display_name=display, email=login.email, time_zone=tz, password=login.password,
            api_token=login.api_token, pat=login.pat, groups=groups, roles=roles,
            browse=frozenset(browse), edit=frozenset(edit)))
    return users


GROUPS = ("jira-administrators", "jira-software-users", "developers")
ROLES = {"Administrators": "10002", "Developers": "10001", "Users": "10000"}


# -- issue configuration --------------------------------------------------------------------

@dataclass(frozen=True)
class IssueType:
    id: str
    name: str
    description: str
    subtask: bool = False
    hierarchy_level: int = 0


ISSUE_TYPES = (
    IssueType("10004", "Bug", "A problem or error."),
    IssueType("10002", "Task", "A small, distinct piece of work."),
    IssueType("10003", "Sub-task", "A small piece of work that's part of a larger task.", True, -1),
)


@dataclass(frozen=True)
class Priority:
    id: str
    name: str
    color: str
    description: str


PRIORITIES = (
    Priority("1", "Highest", "#d04437", "This problem will block progress."),
    Priority("2", "High", "#f15C75", "Serious problem that could block progress."),
    Priority("3", "Medium", "#f79232", "Has the potential to affect progress."),
    Priority("4", "Low", "#707070", "Minor problem or easily worked around."),
    Priority("5", "Lowest", "#999999", "Trivial problem with little or no impact on progress."),
)
DEFAULT_PRIORITY = "3"


@dataclass(frozen=True)
class StatusCategory:
    id: int
    key: str
    name: str
    color: str


STATUS_CATEGORIES = (
    StatusCategory(1, "undefined", "No Category", "medium-gray"),
    StatusCategory(2, "new", "To Do", "blue-gray"),
    StatusCategory(4, "indeterminate", "In Progress", "yellow"),
    StatusCategory(3, "done", "Done", "green"),
)


@dataclass(frozen=True)
class Status:
    id: str
    name: str
    category: int
    description: str


TO_DO, IN_PROGRESS, IN_QA, DONE = "10000", "3", "10001", "10002"
STATUSES = (
    Status(TO_DO, "To Do", 2, "The issue is open and ready for the assignee to start work on it."),
    Status(IN_PROGRESS, "In Progress", 4, "This issue is being actively worked on at the moment by the assignee."),
    Status(IN_QA, "In QA", 4, "The fix is being verified."),
    Status(DONE, "Done", 3, "Work on this issue is complete."),
)


@dataclass(frozen=True)
class Transition:
    id: str
    name: str
    to: str
    sources: frozenset[str]
    #: Fields the transition screen accepts.
    screen: tuple[str, ...] = ()


TRANSITIONS = (
    Transition("11", "Reopen", TO_DO, frozenset({IN_PROGRESS, IN_QA, DONE})),
    Transition("21", "In Progress", IN_PROGRESS, frozenset({TO_DO, IN_QA})),
    Transition("31", "In QA", IN_QA, frozenset({IN_PROGRESS})),
    Transition("41", "Done", DONE, frozenset({TO_DO, IN_PROGRESS, IN_QA}), screen=("resolution",)),
)


@dataclass(frozen=True)
class Resolution:
    id: str
    name: str
    description: str


RESOLUTIONS = (
    Resolution("1", "Fixed", "A fix for this issue is checked into the tree and tested."),
    Resolution("2", "Won't Fix", "The problem described is an issue which will never be fixed."),
    Resolution("3", "Duplicate", "The problem is a duplicate of an existing issue."),
    Resolution("5", "Cannot Reproduce", "All attempts at reproducing this issue failed."),
    Resolution("10000", "Done", "Work has been completed on this issue."),
)
DEFAULT_RESOLUTION = "10000"


@dataclass(frozen=True)
class LinkType:
    id: str
    name: str
    inward: str
    outward: str


LINK_TYPES = (
    LinkType("10000", "Blocks", "is blocked by", "blocks"),
    LinkType("10001", "Cloners", "is cloned by", "clones"),
    LinkType("10002", "Duplicate", "is duplicated by", "duplicates"),
    LinkType("10003", "Relates", "relates to", "relates to"),
)


@dataclass(frozen=True)
class CustomField:
    id: str  # "customfield_10100"
    number: int
    name: str
    kind: str  # "number" | "string"

    @property
    def schema_custom(self) -> str:
        kind = "float" if self.kind == "number" else "textfield"
        return f"com.atlassian.jira.plugin.system.customfieldtypes:{kind}"


CUSTOM_FIELDS = (
    CustomField("customfield_10100", 10100, "Affected customers", "number"),
    CustomField("customfield_10101", 10101, "Helpdesk category", "string"),
    CustomField("customfield_10102", 10102, "Impacted device ID", "string"),
    CustomField("customfield_10103", 10103, "Operating system", "string"),
    CustomField("customfield_10104", 10104, "Customer tier", "string"),
)


@dataclass(frozen=True)
class SystemField:
    id: str
    name: str
    schema: dict | None
    clause_names: tuple[str, ...]
    orderable: bool = True
    navigable: bool = True
    searchable: bool = True


def _schema(type_: str, system: str, items: str | None = None) -> dict:
    schema = {"type": type_, "system": system}
    if items:
        schema["items"] = items
    return schema


SYSTEM_FIELDS = (
    SystemField("summary", "Summary", _schema("string", "summary"), ("summary",)),
    SystemField("description", "Description", _schema("string", "description"), ("description",)),
    SystemField("issuetype", "Issue Type", _schema("issuetype", "issuetype"), ("issuetype", "type")),
    SystemField("project", "Project", _schema("project", "project"), ("project",)),
    SystemField("priority", "Priority", _schema("priority", "priority"), ("priority",)),
    SystemField("labels", "Labels", _schema("array", "labels", "string"), ("labels",)),
    SystemField("components", "Components", _schema("array", "components", "component"), ("component",)),
    SystemField("fixVersions", "Fix versions", _schema("array", "fixVersions", "version"), ("fixVersion",)),
    SystemField("versions", "Affects versions", _schema("array", "versions", "version"), ("affectedVersion",)),
    SystemField("status", "Status", _schema("status", "status"), ("status",), orderable=False),
    SystemField("resolution", "Resolution", _schema("resolution", "resolution"), ("resolution",)),
    SystemField("resolutiondate", "Resolved", _schema("datetime", "resolutiondate"),
                ("resolutiondate", "resolved"), orderable=False),
    SystemField("created", "Created", _schema("datetime", "created"), ("created", "createdDate"), orderable=False),
    SystemField("updated", "Updated", _schema("datetime", "updated"), ("updated", "updatedDate"), orderable=False),
    SystemField("statuscategorychangedate", "Status Category Changed",
                _schema("datetime", "statuscategorychangedate"), ("statusCategoryChangedDate",), orderable=False),
    SystemField("assignee", "Assignee", _schema("user", "assignee"), ("assignee",)),
    SystemField("reporter", "Reporter", _schema("user", "reporter"), ("reporter",)),
    SystemField("creator", "Creator", _schema("user", "creator"), ("creator",), orderable=False),
    SystemField("issuelinks", "Linked Issues", _schema("array", "issuelinks", "issuelinks"),
                ("issueLink",), searchable=True),
    SystemField("comment", "Comment", _schema("comments-page", "comment"), ("comment",), navigable=False),
    SystemField("watches", "Watchers", _schema("watches", "watches"), ("watchers",), orderable=False),
    SystemField("timetracking", "Time tracking", _schema("timetracking", "timetracking"), ("timetracking",),
                navigable=False, searchable=False),
    SystemField("worklog", "Log Work", _schema("array", "worklog", "worklog"), ("worklog",),
                navigable=False, searchable=False),
    SystemField("votes", "Votes", _schema("votes", "votes"), ("votes",), orderable=False),
    SystemField("attachment", "Attachment", _schema("array", "attachment", "attachment"), ("attachments",),
                orderable=False),
    SystemField("issuekey", "Key", None, ("id", "issue", "issuekey", "key"), orderable=False),
    SystemField("statusCategory", "Status Category", _schema("statusCategory", "statusCategory"),
                ("statusCategory",), orderable=False),
)

#: Fields an issue's JSON can carry, in the order Jira lists them.
ISSUE_FIELD_IDS = tuple(f.id for f in SYSTEM_FIELDS if f.id not in ("issuekey", "statusCategory")) + tuple(
    c.id for c in CUSTOM_FIELDS)
#: Fields ``*navigable`` selects (Jira leaves comments out).
NAVIGABLE_FIELD_IDS = tuple(f for f in ISSUE_FIELD_IDS if f != "comment")
#: Fields ``PUT /issue`` and ``POST /issue`` accept (others answer "cannot be set").
SETTABLE_FIELDS = frozenset({
    "summary", "description", "issuetype", "project", "priority", "labels", "components",
    "fixVersions", "versions", "assignee", "reporter",
}) | {c.id for c in CUSTOM_FIELDS}


@dataclass
class ProjectConfig:
    id: str
    key: str
    name: str
    description: str
    issue_types: tuple[str, ...]
    lead: str
    components: dict[str, str] = field(default_factory=dict)  # id -> name
