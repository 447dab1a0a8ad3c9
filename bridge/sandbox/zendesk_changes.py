"""Checking and applying the fields of a ticket create or update, as Zendesk does.

:func:`validate_changes` checks every field of a ``{"ticket": ...}`` body before anything
is applied (a 422 ``RecordInvalid`` names the first bad field, and nothing changes);
:func:`apply_changes` then applies them and returns the audit's ``Change`` events.
:func:`creation_events` and :func:`comment_event` write the other audit events the way
Zendesk does: a new ticket's audit has one ``Create`` event per property set, and scalar
values (ids included) are strings, as Zendesk sends them.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from bridge.sandbox.zendesk_format import (
    DEFAULT_CUSTOM_STATUSES,
    PRIORITIES,
    STATUSES,
    TICKET_TYPES,
    ZendeskError,
    invalid,
    normalise_tags,
)

#: Properties a new ticket's audit reports with a ``Create`` event, in Zendesk's order.
CREATED_PROPERTIES = ("subject", "requester_id", "status", "custom_status_id", "priority", "type",
                      "assignee_id", "group_id", "organization_id", "tags")

if TYPE_CHECKING:
    from bridge.sandbox.zendesk_state import ZendeskState


def validate_changes(state: "ZendeskState", spec: dict, *, creating: bool = False,
                     ticket: dict | None = None) -> dict:
    """Check every field of an update (or create) before anything is applied."""
    changes: dict[str, Any] = {}
    if "status" in spec:
        status = spec["status"]
        if status not in STATUSES:
            raise invalid("status", f"Status: {status} is not a valid value")
        if ticket is not None and status == "new" and ticket["status"] != "new":
            raise invalid("status", "Status: new is not valid for tickets that are not new")
        changes["status"] = status
    if "custom_status_id" in spec and spec["custom_status_id"] is not None:
        category = next((c for c, i in DEFAULT_CUSTOM_STATUSES.items() if i == spec["custom_status_id"]), None)
        if category is None:
            raise invalid("custom_status_id", f"Custom status: {spec['custom_status_id']} is not a valid value")
        changes.setdefault("status", category)
    if "priority" in spec:
        if spec["priority"] is not None and spec["priority"] not in PRIORITIES:
            raise invalid("priority", f"Priority: {spec['priority']} is not a valid value")
        changes["priority"] = spec["priority"]
    if "type" in spec:
        if spec["type"] is not None and spec["type"] not in TICKET_TYPES:
            raise invalid("type", f"Type: {spec['type']} is not a valid value")
        changes["type"] = spec["type"]
    for key in ("subject", "external_id"):
        if key in spec:
            if spec[key] is not None and not isinstance(spec[key], (str, int)):
                raise invalid(key, f"{key.capitalize()}: is invalid")
            changes[key] = None if spec[key] is None else str(spec[key])
    for key, table in (("assignee_id", state.users), ("group_id", state.groups),
                       ("organization_id", state.organizations)):
        if key in spec and spec[key] is not None:
            if spec[key] not in table:
                raise invalid(key.removesuffix("_id"), f"{key.removesuffix('_id').capitalize()}: is invalid")
            if key == "assignee_id" and state.users[spec[key]]["role"] == "end-user":
                raise invalid("assignee", "Assignee: is not an agent")
        if key in spec:
            changes[key] = spec[key]
    for key in ("tags", "additional_tags", "remove_tags"):
        if key in spec:
            value = spec[key]
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list):
                raise invalid(key, f"{key}: must be a list of tags")
            changes[key] = normalise_tags(value)
    if "custom_fields" in spec or "fields" in spec:
        entries = spec.get("custom_fields", spec.get("fields"))
        if not isinstance(entries, list) or not all(isinstance(e, dict) and "id" in e for e in entries):
            raise invalid("custom_fields", "Custom fields: must be a list of {id, value}")
        for entry in entries:
            field = state.ticket_fields.get(entry["id"])
            if field is None or not field["removable"]:
                continue  # Zendesk ignores values for fields it does not know
            value = entry.get("value")
            allowed = [o["value"] for o in field["custom_field_options"]]
            if field["type"] == "tagger" and value not in (None, "") and value not in allowed:
                raise invalid("base", f"{field['title']}: {value} is not a valid value")
        changes["custom_fields"] = entries
    return changes


def apply_changes(ticket: dict, changes: dict) -> list[dict]:
    """Apply validated changes; returns the audit's Change events."""
    events: list[dict] = []

    def change(field: str, value: Any) -> None:
        previous = ticket.get(field)
        if previous != value:
            events.append({"type": "Change", "field_name": field, "value": event_value(value),
                           "previous_value": event_value(previous)})
            ticket[field] = value

    for key in ("status", "priority", "type", "external_id", "assignee_id", "group_id",
                "organization_id"):
        if key in changes:
            change(key, changes[key])
    if "status" in changes:
        change("custom_status_id", DEFAULT_CUSTOM_STATUSES.get(ticket["status"], ticket.get("custom_status_id")))
    if "subject" in changes:
        change("subject", changes["subject"] or "")
        ticket["raw_subject"] = ticket["subject"]
    tags = list(ticket["tags"])
    if "tags" in changes:
        tags = list(changes["tags"])
    for tag in changes.get("additional_tags", []):
        if tag not in tags:
            tags.append(tag)
    tags = [t for t in tags if t not in changes.get("remove_tags", [])]
    if tags != ticket["tags"]:
        events.append({"type": "Change", "field_name": "tags", "value": tags,
                       "previous_value": ticket["tags"]})
        ticket["tags"] = tags
    if "custom_fields" in changes:
        current = {f["id"]: f for f in ticket["custom_fields"]}
        for entry in changes["custom_fields"]:
            if entry["id"] in current and current[entry["id"]]["value"] != entry.get("value"):
                events.append({"type": "Change", "field_name": str(entry["id"]),
                               "value": event_value(entry.get("value")),
                               "previous_value": event_value(current[entry["id"]]["value"])})
                current[entry["id"]]["value"] = entry.get("value")
    return events


def event_value(value: Any) -> Any:
    """A property's value as audit events carry it: scalars as strings, lists as they are."""
    if value is None or isinstance(value, (str, list)):
        return value
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def creation_events(ticket: dict) -> list[dict]:
    """The ``Create`` events of a new ticket's audit: one per property that has a value."""
    events = [{"type": "Create", "field_name": name, "value": event_value(ticket[name])}
              for name in CREATED_PROPERTIES if ticket.get(name) not in (None, "", [])]
    events += [{"type": "Create", "field_name": str(field["id"]), "value": event_value(field["value"])}
               for field in ticket["custom_fields"] if field["value"] not in (None, "")]
    return events


def comment_event(comment: dict) -> dict:
    """The ``Comment`` event of the audit that added ``comment``."""
    return {"type": "Comment", **{key: comment[key] for key in (
        "id", "author_id", "body", "html_body", "plain_body", "public", "attachments", "audit_id")}}


def job_failure(index: int, exc: ZendeskError) -> dict:
    """A job's result entry for an item Zendesk refused."""
    body = exc.body if isinstance(exc.body, dict) else {"error": str(exc.body)}
    return {"index": index, "success": False, "error": body.get("error"),
            "details": body.get("description") or json.dumps(body.get("details"))}
