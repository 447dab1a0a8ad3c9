"""Zendesk triggers in the emulator: which ticket updates fire them, and the webhook bodies
their ``notification_webhook`` actions send.

A trigger (``POST /api/v2/triggers.json``) has ``conditions`` (``all`` must all hold, and at
least one of ``any`` when ``any`` is not empty) and ``actions``. The emulator evaluates the
conditions Zendesk offers that a ticket-escalation setup uses (:data:`CONDITION_FIELDS`),
after every ticket create and update, in trigger ``position`` order, and supports the
``notification_webhook`` action, whose value is ``[webhook_id, json_body_template]``.
Conditions or actions outside that set are refused with a 422 naming them, rather than
silently never firing.

Templates use Zendesk's placeholders (``{{ticket.id}}``, ``{{ticket.status}}``,
``{{ticket.latest_comment.value}}``, ``{{ticket.ticket_field_<id>}}``, ...; see
:func:`placeholder_values`). A value is escaped for a JSON string, so a subject with quotes
still gives a valid JSON body; an unknown placeholder renders empty, as in Liquid.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from bridge.sandbox.zendesk_format import PRIORITIES, STATUSES, ZendeskError

#: Condition fields the emulator evaluates -> the operators it accepts for each.
_ORDERED = ("is", "is_not", "less_than", "greater_than", "changed", "not_changed", "value",
            "not_value", "value_previous", "not_value_previous")
_PLAIN = ("is", "is_not", "changed", "not_changed", "value", "not_value", "value_previous",
          "not_value_previous")
CONDITION_FIELDS: dict[str, tuple[str, ...]] = {
    "update_type": ("is",),
    "status": _ORDERED,
    "priority": _ORDERED,
    "type": _PLAIN,
    "assignee_id": _PLAIN,
    "group_id": _PLAIN,
    "organization_id": _PLAIN,
    "requester_id": _PLAIN,
    "current_tags": ("includes", "not_includes"),
    "comment_is_public": ("is",),
    "role": ("is", "is_not"),
    "subject_includes_word": ("includes", "not_includes", "is", "is_not"),
}
_CUSTOM_FIELD = re.compile(r"^custom_fields_(\d+)$")
_PLACEHOLDER = re.compile(r"\{\{\s*([a-zA-Z0-9_.]+)\s*\}\}")


@dataclass
class UpdateContext:
    """What one recorded ticket change looks like to a trigger.

    ``changes`` maps a changed property to its previous value (``None`` when it was
    unset); ``created`` tells a new ticket from an update; ``comment`` is the comment the
    update added (None when it added none); ``actor`` the user who made the change.
    """

    ticket: dict
    changes: dict[str, Any]
    created: bool
    comment: dict | None
    actor: dict | None


def trigger_invalid(detail: str) -> ZendeskError:
    """A 422 in Zendesk's RecordInvalid shape for a trigger that cannot be saved."""
    return ZendeskError(422, {"error": "RecordInvalid", "description": "Record validation errors",
                              "details": {"base": [{"description": detail, "error": "InvalidValue"}]}})


def validate_trigger(spec: dict, webhook_ids: set[str]) -> dict:
    """Check a ``{"trigger": ...}`` body's inner object; the normalised trigger fields."""
    title = spec.get("title")
    if not isinstance(title, str) or not title.strip():
        raise trigger_invalid("Title: cannot be blank")
    conditions = spec.get("conditions") or {}
    if not isinstance(conditions, dict):
        raise trigger_invalid("Conditions: must be an object with all and any")
    normalised: dict[str, list[dict]] = {}
    for group in ("all", "any"):
        entries = conditions.get(group) or []
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise trigger_invalid(f"Conditions: {group} must be a list of {{field, operator, value}}")
        for entry in entries:
            field, operator = entry.get("field"), entry.get("operator")
            allowed = CONDITION_FIELDS.get(field) or (_PLAIN if _CUSTOM_FIELD.match(str(field)) else None)
            if allowed is None:
                raise trigger_invalid(f"Conditions: the sandbox does not evaluate the condition {field!r}")
            if operator not in allowed:
                raise trigger_invalid(f"Conditions: {operator!r} is not an operator of {field!r}")
        normalised[group] = [dict(e) for e in entries]
    if not normalised["all"] and not normalised["any"]:
        raise trigger_invalid("Conditions: a trigger needs at least one condition")
    actions = spec.get("actions")
    if not isinstance(actions, list) or not actions:
        raise trigger_invalid("Actions: a trigger needs at least one action")
    for action in actions:
        if not isinstance(action, dict) or action.get("field") != "notification_webhook":
            raise trigger_invalid("Actions: the sandbox supports only notification_webhook actions")
        value = action.get("value")
        if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
            raise trigger_invalid("Actions: notification_webhook takes [webhook_id, body]")
        if value[0] not in webhook_ids:
            raise trigger_invalid(f"Actions: webhook {value[0]} does not exist")
    return {"title": title.strip(), "active": bool(spec.get("active", True)), "conditions": normalised,
            "actions": [dict(a) for a in actions], "description": spec.get("description"),
            "position": spec.get("position")}


def fires(trigger: dict, update: UpdateContext) -> bool:
    """Whether ``trigger``'s conditions hold for ``update``."""
    conditions = trigger["conditions"]
    if not all(_holds(c, update) for c in conditions["all"]):
        return False
    return not conditions["any"] or any(_holds(c, update) for c in conditions["any"])


def _holds(condition: dict, update: UpdateContext) -> bool:
    field, operator, wanted = condition["field"], condition["operator"], condition.get("value")
    ticket = update.ticket
    if field == "update_type":
        return (str(wanted).lower() == "create") == update.created
    if field == "comment_is_public":
        flag = str(wanted).lower()
        if flag == "not_relevant":
            return True
        # "false" means "a private comment was added": an update without a comment is neither.
        return update.comment is not None and update.comment["public"] == (flag in ("true", "requester_can_see_comment"))
    if field == "role":
        role = "end_user" if (update.actor or {}).get("role") == "end-user" else "agent"
        return (role == str(wanted)) == (operator == "is")
    if field == "current_tags":
        wanted_tags = str(wanted or "").lower().split()
        present = any(tag in ticket["tags"] for tag in wanted_tags)
        return present if operator == "includes" else not present
    if field == "subject_includes_word":
        words = str(wanted or "").lower().split()
        found = any(word in ticket["subject"].lower().split() for word in words)
        return found == (operator in ("includes", "is"))
    key = field
    current: Any = ticket.get(field)
    match = _CUSTOM_FIELD.match(field)
    if match:
        key = match.group(1)
        current = next((f["value"] for f in ticket["custom_fields"] if str(f["id"]) == key), None)
    changed = key in update.changes or update.created
    previous = update.changes.get(key) if key in update.changes else (None if update.created else current)
    if operator == "changed":
        return changed
    if operator == "not_changed":
        return not changed
    if operator in ("value", "not_value"):
        return (changed and _same(current, wanted)) == (operator == "value")
    if operator in ("value_previous", "not_value_previous"):
        return (changed and _same(previous, wanted)) == (operator == "value_previous")
    if operator in ("less_than", "greater_than"):
        order = STATUSES if field == "status" else PRIORITIES
        if current not in order or wanted not in order:
            return False
        return (order.index(current) < order.index(wanted)) if operator == "less_than" \
            else (order.index(current) > order.index(wanted))
    return _same(current, wanted) == (operator == "is")


def _same(value: Any, wanted: Any) -> bool:
    return ("" if value is None else str(value)).lower() == ("" if wanted is None else str(wanted)).lower()


def placeholder_values(ticket: dict, *, users: dict, organizations: dict, groups: dict,
                       comments: list[dict], actor: dict | None, ticket_url: str) -> dict[str, str]:
    """The placeholders a template may use, as Zendesk renders them (plain text)."""
    def person(user_id: int | None, prefix: str) -> dict[str, str]:
        user = users.get(user_id or 0) or {}
        return {f"{prefix}.id": str(user.get("id") or ""), f"{prefix}.name": user.get("name") or "",
                f"{prefix}.email": user.get("email") or "",
                f"{prefix}.first_name": (user.get("name") or "").split(" ")[0]}

    public = [c for c in comments if c["public"]]
    values = {
        "ticket.id": str(ticket["id"]), "ticket.title": ticket["subject"],
        "ticket.description": ticket["description"],
        "ticket.status": ticket["status"].capitalize(), "ticket.priority": (ticket["priority"] or "").capitalize(),
        "ticket.ticket_type": (ticket["type"] or "").capitalize(), "ticket.tags": " ".join(ticket["tags"]),
        "ticket.external_id": ticket["external_id"] or "", "ticket.via": ticket["via"]["channel"],
        "ticket.url": ticket_url, "ticket.link": ticket_url,
        "ticket.created_at": ticket["created_at"], "ticket.updated_at": ticket["updated_at"],
        "ticket.organization.name": (organizations.get(ticket["organization_id"] or 0) or {}).get("name", ""),
        "ticket.group.name": (groups.get(ticket["group_id"] or 0) or {}).get("name", ""),
        "ticket.latest_comment.value": comments[-1]["body"] if comments else "",
        "ticket.latest_public_comment.value": public[-1]["body"] if public else "",
        **person(ticket["requester_id"], "ticket.requester"),
        **person(ticket["assignee_id"], "ticket.assignee"),
        **person((actor or {}).get("id"), "current_user"),
    }
    for field in ticket["custom_fields"]:
        values[f"ticket.ticket_field_{field['id']}"] = "" if field["value"] is None else str(field["value"])
    return values


def render(template: str, values: dict[str, str]) -> str:
    """``template`` with each placeholder replaced, escaped for a JSON string."""
    return _PLACEHOLDER.sub(lambda m: json.dumps(values.get(m.group(1), ""))[1:-1], template)
