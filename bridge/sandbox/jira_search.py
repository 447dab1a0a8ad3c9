"""How JQL sees the emulator's issues: the field schema and one search document per issue.

:func:`document` flattens an issue into the values JQL compares (ids as tokens, lowercased
labels, datetimes, text), computed once per indexed version of the issue.
:class:`JiraJqlSchema` tells :mod:`bridge.sandbox.jql` which fields exist, which names and
ids their values may be written as, and which values exist *for the searching user* —
``project = OPS`` from a user who cannot browse OPS fails as "does not exist", as in Jira.
"""

from __future__ import annotations

import operator
import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable

from bridge.sandbox import jql
from bridge.sandbox.jira_adf import adf_to_text
from bridge.sandbox.jira_catalog import (
    CUSTOM_FIELDS, ISSUE_TYPES, PRIORITIES, RESOLUTIONS, STATUS_CATEGORIES, STATUSES, JiraUser,
)
from bridge.sandbox.jira_records import STATUS_BY_ID

if TYPE_CHECKING:
    from bridge.sandbox.jira_records import IssueRecord
    from bridge.sandbox.jira_state import JiraState

_PRIORITY_RANK = {p.id: len(PRIORITIES) - i for i, p in enumerate(PRIORITIES)}  # Highest ranks highest
_STATUS_ORDER = {s.id: i for i, s in enumerate(STATUSES)}
_KEY = re.compile(r"([A-Za-z][A-Za-z0-9_]*)-(\d+)")


@lru_cache(maxsize=4096)
def _one(token: str) -> frozenset[str]:
    """The one-element set of ``token``, shared by every document that holds it.

    Ids of projects, types, statuses and users repeat across issues; sharing their sets
    keeps 100,000 documents from holding a million small objects the garbage collector
    walks again and again (rebuilding 10,000 documents took 7x longer with them).
    """
    return frozenset((token,))


def document(state: "JiraState", record: "IssueRecord") -> dict[str, Any]:
    """The search document of one issue (values as JQL compares them)."""
    f = record.fields
    project = state.projects[record.project_id]
    status = STATUS_BY_ID[f["status"]]
    description = adf_to_text(f["description"]) if f.get("description") else ""
    comments = " ".join(adf_to_text(c.body) for c in record.comments)
    doc: dict[str, Any] = {
        "@record": record,
        "id": record.id,
        "key": (project.key.lower(), record.number),
        "project": _one(project.id),
        "issuetype": _one(f["issuetype"]),
        "status": _one(f["status"]),
        "statuscategory": _one(str(status.category)),
        "priority": _one(f["priority"]) if f.get("priority") else frozenset(),
        "resolution": _one(f["resolution"]) if f.get("resolution") else frozenset(),
        "labels": frozenset(label.lower() for label in f["labels"]),
        "fixversion": frozenset(f["fixVersions"]),
        "affectedversion": frozenset(f["versions"]),
        "component": frozenset(f["components"]),
        "assignee": _one(f["assignee"]) if f.get("assignee") else frozenset(),
        "reporter": _one(f["reporter"]) if f.get("reporter") else frozenset(),
        "creator": _one(f["creator"]) if f.get("creator") else frozenset(),
        "created": record.created,
        "updated": record.updated,
        "resolved": f.get("resolutiondate"),
        "summary": f["summary"],
        "description": description,
        "comment": comments,
        "text": " ".join(filter(None, [f["summary"], description, comments] + [
            f[c.id] for c in CUSTOM_FIELDS if c.kind == "string" and f.get(c.id)])),
        # Sort keys
        "@summary": f["summary"].lower(),
        "@status": _STATUS_ORDER[f["status"]],
        "@priority": _PRIORITY_RANK.get(f.get("priority") or "", None),
        "@project": project.key.lower(),
        "@issuetype": f["issuetype"],
    }
    for custom in CUSTOM_FIELDS:
        value = f.get(custom.id)
        doc[custom.id] = value.lower() if isinstance(value, str) else value
        doc["@" + custom.id] = value
    return doc


def default_order() -> tuple[tuple[Callable[[dict], Any], bool], ...]:
    """Without ORDER BY Jira lists the newest keys first (``ORDER BY key DESC``)."""
    return ((lambda d: d["key"], True),)


def _tokens_resolver(candidates: Callable[[], list[tuple[str, tuple[str, ...]]]], field_name: str):
    """A resolver: literal -> ids whose id or any name equals it (case-insensitive)."""
    def resolve(literal: str) -> frozenset[str]:
        wanted = literal.lower()
        ids = frozenset(i for i, names in candidates() if wanted == i.lower() or wanted in (n.lower() for n in names))
        if not ids:
            raise jql.JqlValueError(f"The value '{literal}' does not exist for the field '{field_name}'.")
        return ids
    return resolve


class JiraJqlSchema:
    """The JQL fields of the emulator, bound to the searching user."""

    def __init__(self, state: "JiraState", user: JiraUser) -> None:
        self.state = state
        self.user = user
        self._fields: dict[str, jql.JqlField] = {}

    def jql_field(self, name: str) -> jql.JqlField | None:
        canonical = _ALIASES.get(name.lower())
        if canonical is None:
            custom = next((c for c in CUSTOM_FIELDS if name.lower() in (f"cf[{c.number}]", c.name.lower())), None)
            if custom is None:
                return None
            canonical = custom.id
        if canonical not in self._fields:
            self._fields[canonical] = self._build(canonical, name)
        return self._fields[canonical]

    # -- field definitions ---------------------------------------------------------------
    def _build(self, canonical: str, written: str) -> jql.JqlField:
        state, user = self.state, self.user
        get = _getter(canonical)
        if canonical in ("created", "updated", "resolved"):
            return jql.JqlField(canonical, "date", get, sort_key=get)
        if canonical in ("summary", "description", "comment", "text"):
            return jql.JqlField(canonical, "text", get, sort_key=_getter("@summary") if canonical == "summary" else None)
        if canonical == "key":
            return jql.JqlField("key", "key", get, resolve=self._resolve_key, sort_key=get)
        if canonical == "labels":
            return jql.JqlField("labels", "value", get)
        if canonical == "project":
            visible = lambda: [(p.id, (p.key, p.name)) for p in state.visible_projects(user)]  # noqa: E731
            return jql.JqlField("project", "value", get, resolve=_tokens_resolver(visible, written),
                                sort_key=_getter("@project"))
        if canonical == "issuetype":
            types = lambda: [(t.id, (t.name,)) for t in ISSUE_TYPES]  # noqa: E731
            return jql.JqlField("issuetype", "value", get, resolve=_tokens_resolver(types, written),
                                sort_key=_getter("@issuetype"))
        if canonical == "status":
            statuses = lambda: [(s.id, (s.name,)) for s in STATUSES]  # noqa: E731
            return jql.JqlField("status", "value", get, resolve=_tokens_resolver(statuses, written),
                                sort_key=_getter("@status"))
        if canonical == "statuscategory":
            categories = lambda: [(str(c.id), (c.name, c.key)) for c in STATUS_CATEGORIES]  # noqa: E731
            return jql.JqlField("statusCategory", "value", get, resolve=_tokens_resolver(categories, written))
        if canonical == "priority":
            priorities = lambda: [(p.id, (p.name,)) for p in PRIORITIES]  # noqa: E731
            return jql.JqlField("priority", "ordered", get, resolve=_tokens_resolver(priorities, written),
                                rank=lambda token: _PRIORITY_RANK[token], sort_key=_getter("@priority"))
        if canonical == "resolution":
            resolutions = lambda: [(r.id, (r.name,)) for r in RESOLUTIONS]  # noqa: E731
            base = _tokens_resolver(resolutions, written)

            def resolve(literal: str) -> frozenset[str]:
                # "Unresolved" is how Jira spells "no resolution" as a value.
                if literal.lower() == "unresolved":
                    return frozenset({jql.EMPTY_TOKEN})
                return base(literal)
            return jql.JqlField("resolution", "value", get, resolve=resolve)
        if canonical in ("fixversion", "affectedversion"):
            return jql.JqlField(canonical, "value", get, resolve=self._version_resolver(written),
                                functions={"releasedVersions": self._versions_fn(True),
                                           "unreleasedVersions": self._versions_fn(False)})
        if canonical == "component":
            components = lambda: [(cid, (name,)) for p in state.visible_projects(user)  # noqa: E731
                                  for cid, name in p.components.items()]
            return jql.JqlField("component", "value", get, resolve=_tokens_resolver(components, written))
        if canonical in ("assignee", "reporter", "creator"):
            return jql.JqlField(canonical, "value", get, resolve=self._user_resolver(written),
                                functions={"currentUser": lambda args, ctx: frozenset({ctx.user or ""})})
        custom = next(c for c in CUSTOM_FIELDS if c.id == canonical)
        kind = "number" if custom.kind == "number" else "text"
        return jql.JqlField(custom.id, kind, get, sort_key=_getter("@" + custom.id))

    def _resolve_key(self, literal: str) -> tuple[str, int]:
        record = self.state.issue_record(literal)
        if record is not None and self.state.projects[record.project_id].key in self.user.browse:
            return (self.state.projects[record.project_id].key.lower(), record.number)
        if literal.isdigit():
            raise jql.JqlValueError(f"An issue with key '{literal}' does not exist for field 'id'.")
        if not _KEY.fullmatch(literal):
            raise jql.JqlValueError(f"The issue key '{literal}' for field 'key' is invalid.")
        raise jql.JqlValueError(f"An issue with key '{literal}' does not exist for field 'key'.")

    def _version_resolver(self, written: str):
        def candidates() -> list[tuple[str, tuple[str, ...]]]:
            visible = {p.id for p in self.state.visible_projects(self.user)}
            return [(v.id, (v.name,)) for v in self.state.versions.values() if v.project_id in visible]
        return _tokens_resolver(candidates, written)

    def _versions_fn(self, released: bool):
        def call(args: tuple[str, ...], ctx: jql.EvalContext) -> frozenset[str]:
            projects = [p for p in self.state.visible_projects(self.user)
                        if not args or p.key.lower() in {a.lower() for a in args}]
            ids = {p.id for p in projects}
            return frozenset(v.id for v in self.state.versions.values()
                             if v.project_id in ids and v.released == released and not v.archived)
        return call

    def _user_resolver(self, written: str):
        def candidates() -> list[tuple[str, tuple[str, ...]]]:
            return [(u.key, (u.account_id, u.name, u.email, u.display_name)) for u in self.state.users.values()]
        return _tokens_resolver(candidates, written)


def _getter(name: str) -> Callable[[dict], Any]:
    # Every document carries every key (see document()), so a plain item lookup will do.
    return operator.itemgetter(name)


#: JQL names (lowercased) -> canonical field.
_ALIASES = {
    "project": "project", "key": "key", "issuekey": "key", "issue": "key", "id": "key",
    "labels": "labels", "label": "labels", "status": "status", "statuscategory": "statuscategory",
    "issuetype": "issuetype", "type": "issuetype", "resolution": "resolution",
    "fixversion": "fixversion", "affectedversion": "affectedversion", "priority": "priority",
    "created": "created", "createddate": "created", "updated": "updated", "updateddate": "updated",
    "resolved": "resolved", "resolutiondate": "resolved", "summary": "summary",
    "description": "description", "comment": "comment", "text": "text", "component": "component",
    "assignee": "assignee", "reporter": "reporter", "creator": "creator",
}
