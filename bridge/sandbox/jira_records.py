"""Records of an emulated JIRA site and the validation helpers every write shares.

Plain dataclasses (issues by numeric id, comments, links, remote links, versions, changelog
groups), :class:`JiraError` (Jira's ``{"errorMessages": [...], "errors": {...}}`` answer),
and the per-field checks whose messages are Jira's own.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, Iterable

from bridge.sandbox.jira_catalog import (
    CUSTOM_FIELDS,
    ISSUE_TYPES,
    LINK_TYPES,
    PRIORITIES,
    RESOLUTIONS,
    STATUS_CATEGORIES,
    STATUSES,
    CustomField,
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


def cannot_set(field_id: str) -> str:
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
    worklogs: list["WorklogRecord"] = field(default_factory=list)
    voters: list[str] = field(default_factory=list)  # user keys
    attachments: list["AttachmentRecord"] = field(default_factory=list)
    #: Remaining estimate in seconds (None = never estimated); worklogs move it as Jira's "auto".
    remaining_s: int | None = None


@dataclass
class WorklogRecord:
    id: str
    author: str
    comment: str
    started: datetime
    created: datetime
    updated: datetime
    seconds: int


@dataclass
class AttachmentRecord:
    id: str
    filename: str
    author: str
    created: datetime
    content: bytes
    mime_type: str


@dataclass
class FilterRecord:
    """A saved search (``/filter``)."""

    id: str
    owner: str
    name: str
    jql: str
    description: str | None = None
    favourite_of: set[str] = field(default_factory=set)  # user keys


@dataclass
class IndexEntry:
    """What search sees of an issue: a copy taken when it was (eventually) indexed."""

    record: IssueRecord
    doc: dict[str, Any]


def copy_for_index(record: IssueRecord) -> IssueRecord:
    return copy.deepcopy(record)



def utcnow() -> datetime:
    return datetime.now(timezone.utc)


# -- helpers -----------------------------------------------------------------------------

class FieldProblem(Exception):
    """One field's value is invalid; the message is Jira's text for that field."""


STATUS_BY_ID = {s.id: s for s in STATUSES}
STATUS_CATEGORY_BY_ID = {c.id: c for c in STATUS_CATEGORIES}
PRIORITY_BY_ID = {p.id: p for p in PRIORITIES}
RESOLUTION_BY_ID = {r.id: r for r in RESOLUTIONS}
ISSUETYPE_BY_ID = {t.id: t for t in ISSUE_TYPES}
LINK_TYPE_BY_ID = {t.id: t for t in LINK_TYPES}
CUSTOM_BY_ID = {c.id: c for c in CUSTOM_FIELDS}


def find_resolution(ref: Any) -> str | None:
    if not isinstance(ref, dict):
        return None
    return next((r.id for r in RESOLUTIONS if str(ref.get("id")) == r.id or ref.get("name") == r.name), None)


def list_of_refs(value: Any, what: str) -> list[dict]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise FieldProblem(f"Operation value must be an array of {what} objects")
    return value


def one_ref(value: Any, what: str) -> dict:
    if not isinstance(value, dict):
        raise FieldProblem(f"Operation value must be a {what} object")
    return value


def custom_value(custom: CustomField, value: Any) -> Any:
    if value is None:
        return None
    if custom.kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise FieldProblem("Operation value must be a number")
        return float(value)
    if not isinstance(value, str):
        raise FieldProblem("Operation value must be a string")
    if len(value) > 255:
        raise FieldProblem("The entered text is too long. It exceeds the allowed limit of 255 characters.")
    return value


def custom_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    return str(value)


def link_item(verb: str, other: IssueRecord, *, added: bool) -> dict:
    text = f"This issue {verb} {other.key}"
    if added:
        return {"field": "Link", "fieldtype": "jira", "from": None, "fromString": None, "to": other.key, "toString": text}
    return {"field": "Link", "fieldtype": "jira", "from": other.key, "fromString": text, "to": None, "toString": None}


def ref_text(ref: Any) -> str:
    if isinstance(ref, dict):
        return str(ref.get("name") or ref.get("id"))
    return str(ref)
