"""Checking and applying the fields of a ticket create or update, as Zendesk does.

:func:`validate_changes` checks every field of a ``{"ticket": ...}`` body before anything
is applied (a 422 ``RecordInvalid`` names the first bad field, and nothing changes);
:func:`apply_changes` then applies them and returns the audit's ``Change`` events.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bridge.sandbox.zendesk_format import PRIORITIES, STATUSES, TICKET_TYPES, invalid, normalise_tags

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
            events.append({"type": "Change", "field_name": field, "value": value,
                           "previous_value": previous})
            ticket[field] = value

    for key in ("status", "priority", "type", "external_id", "assignee_id", "group_id",
                "organization_id"):
        if key in changes:
            change(key, changes[key])
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
                               "value": entry.get("value"),
                               "previous_value": current[entry["id"]]["value"]})
                current[entry["id"]]["value"] = entry.get("value")
    return events

